"""The BAP client's callback receiver: only callbacks signed by the BPP they name get in."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from orders.bap import Bap, BapConfig, BapError, parse_quantity
from tests.orders.support import BAP, BPP_ID, BPP_KEYS, DOMAIN, T_EXAMPLE, StaticDirectory, frozen

pytestmark = pytest.mark.anyio
DIRECTORY = StaticDirectory.of((BPP_KEYS, "BPP"), (BAP, "BAP"))


def bap() -> Bap:
    config = BapConfig(bap_id=BAP.subscriber_id, bpp_id=BPP_ID, bpp_uri="http://bpp.test")
    return Bap(config, BAP, DIRECTORY, frozen(), httpx.AsyncClient())


def on_status(bap_id: str = BAP.subscriber_id) -> bytes:
    ctx: dict[str, Any] = {
        "domain": DOMAIN,
        "action": "on_status",
        "version": "1.1.0",
        "bap_id": bap_id,
        "bap_uri": "http://127.0.0.1:1",
        "bpp_id": BPP_ID,
        "transaction_id": "t-1",
        "message_id": "m-1",
        "timestamp": T_EXAMPLE.isoformat(),
    }
    return orjson.dumps({"context": ctx, "message": {}})


async def post(client: Bap, body: bytes, signer: Any) -> httpx.Response:
    headers = {"Authorization": signer.authorization_at(body, T_EXAMPLE, 60)} if signer else {}
    transport = httpx.ASGITransport(app=client.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://bap") as http:
        return await http.post("/on_status", content=body, headers=headers)


async def test_a_callback_signed_by_its_bpp_is_accepted() -> None:
    client = bap()
    response = await post(client, on_status(), BPP_KEYS)
    assert response.json() == {"message": {"ack": {"status": "ACK"}}}
    assert [cb.action for cb in client.inbox] == ["on_status"]
    found = await client.wait_for(action="on_status", transaction_id="t-1", timeout_s=1)
    assert found.context["message_id"] == "m-1"


@pytest.mark.parametrize(
    ("body", "signer", "status"),
    [
        (on_status(), None, 401),  # unsigned
        (on_status(), BAP, 401),  # signed by a registered key that is not the named BPP
        (on_status("someone-else"), BPP_KEYS, 400),  # not addressed to us
    ],
)
async def test_other_callbacks_are_refused_and_never_seen(
    body: bytes, signer: Any, status: int
) -> None:
    client = bap()
    response = await post(client, body, signer)
    assert response.status_code == status
    assert response.json()["message"]["ack"]["status"] == "NACK"
    assert client.inbox == [] and len(client.refused) == 1
    with pytest.raises(BapError, match="no on_status"):
        await client.wait_for(action="on_status", timeout_s=0.05)


def test_quantities_are_a_number_and_a_unit() -> None:
    assert parse_quantity("4 kWh") == ("4", "kWh")
    for bad in ("4kWh", "four kWh", ""):
        with pytest.raises(BapError):
            parse_quantity(bad)
