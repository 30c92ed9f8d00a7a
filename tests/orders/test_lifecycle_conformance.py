"""The UEI guide's order lifecycle (init … rating), re-signed, against one BPP over real servers.

The guide's requests are sent in order within its transaction, each with a fresh ``message_id``
(the guide reuses one for every request; two ``update``s with the same id would be a duplicate)
and our test BAP's ``bap_uri``. Two additions the guide lacks: ``confirm`` carries the order tag
group ``terms-acceptance`` (without it confirm is a business error, tested too), and requests
naming the order use the id our ``on_confirm`` assigned. Every callback is signed by the BPP and
validates against the core v1.1.0 JSON schemas; its content is checked against the guide's
``on_*`` example.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargegrid.clock import FrozenClock
from chargegrid.eventlog import EventLog
from chargegrid.events import Topic
from chargers.commands import FakeChargerCommands
from orders.api import create_app
from orders.handlers import OrderPolicy, build_router
from orders.repo import EventRelay
from orders.store import OrderStore
from tests.orders.openapi import validate_openapi
from tests.orders.support import (
    BAP,
    BPP_KEYS,
    PRICER,
    Received,
    RecordingBap,
    catalog,
    encode,
    make_bpp,
    serve,
    sign,
)
from tests.orders.test_conformance import example, validate

pytestmark = [pytest.mark.anyio, pytest.mark.shared]
ACCEPTANCE = {
    "descriptor": {"code": "terms-acceptance"},
    "list": [
        {"descriptor": {"code": "terms-id"}, "value": "chargegrid-tos"},
        {"descriptor": {"code": "terms-version"}, "value": "1"},
    ],
}


class FixedMeter:
    def __init__(self, wh: int) -> None:
        self.wh = wh

    def delivered_wh(self, charger_id: str, transaction_id: str | None) -> int | None:
        return self.wh


@dataclass
class Network:
    """A BAP and a BPP server, and the BPP's collaborators."""

    beckn_dir: Path
    clock: FrozenClock
    bap: RecordingBap
    bap_url: str
    bpp_url: str
    store: OrderStore
    commands: FakeChargerCommands
    log: EventLog
    sent: int = 0

    async def send(self, doc: dict[str, Any]) -> Received:
        """POST ``doc`` (fresh message id, our BAP, the clock's time); the callback it caused."""
        doc = copy.deepcopy(doc)
        self.sent += 1
        ctx = doc["context"]
        ctx["bap_uri"] = f"{self.bap_url}/beckn"
        ctx["message_id"] = f"m-{self.sent}"
        ctx["timestamp"] = self.clock.now().isoformat()
        ctx.pop("ttl", None)
        before = len(self.bap.received)
        body = encode(doc)
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{self.bpp_url}/{ctx['action']}",
                content=body,
                headers=sign(body, BAP, self.clock.now()),
            )
        assert response.json() == {"message": {"ack": {"status": "ACK"}}}, response.text
        for _ in range(500):
            if len(self.bap.received) > before:
                break
            await asyncio.sleep(0.01)
        callback = self.bap.received[before]
        callback.verify_signature(BPP_KEYS, self.clock.now())
        assert callback.json["context"]["message_id"] == ctx["message_id"]
        assert callback.json["context"]["transaction_id"] == ctx["transaction_id"]
        name = callback.json["context"]["action"]
        schema = self.beckn_dir / "spec/v1.1/jsonschema-core-v1.1.0" / f"{name}.json"
        if schema.exists() and "error" not in callback.json:
            validate(self.beckn_dir, name, callback.json)
        validate_openapi(self.beckn_dir, callback.json)
        return callback

    def guide(self, name: str) -> dict[str, Any]:
        return example(self.beckn_dir, name)


@pytest.fixture
async def net(tmp_path: Path, beckn_dir: Path) -> AsyncIterator[Network]:
    doc = example(beckn_dir, "03_select.json")
    clock = FrozenClock(datetime.fromisoformat(doc["context"]["timestamp"]))
    store = OrderStore(tmp_path / "o.sqlite")
    commands = FakeChargerCommands()
    fixed = catalog()
    ids = iter(f"order-{i}" for i in range(1, 100))
    router = build_router(
        lambda: fixed,
        PRICER,
        clock,
        corridor_m=2000.0,
        store=store,
        commands=commands,
        policy=OrderPolicy(new_id=lambda: next(ids), dashboard_url="http://dash.test"),
        meter=FixedMeter(3_500),
    )
    bap = RecordingBap()
    with EventLog(tmp_path / "events.sqlite") as log:
        relay = EventRelay(store, log, lambda: 0)
        with serve(bap.app()) as bap_url:
            bpp = make_bpp(tmp_path / "o.sqlite", clock, httpx.AsyncClient(), route=router)
            bpp.store = store
            bpp.relay = relay.relay
            with serve(create_app(bpp)) as bpp_url:
                yield Network(beckn_dir, clock, bap, bap_url, bpp_url, store, commands, log)


def with_charger(doc: dict[str, Any]) -> dict[str, Any]:
    """The guide's fulfillment id ``"1"`` is its own charger; ours is ``pe-charging``."""
    for f in doc["message"]["order"].get("fulfillments", []):
        f["id"] = "pe-charging"
    return doc


async def confirmed(net: Network, transaction_id: str | None = None) -> str:
    """select → init → confirm (with acceptance); the order id."""
    docs = [
        with_charger(net.guide(n)) for n in ("03_select.json", "05_init.json", "07_confirm.json")
    ]
    docs[2]["message"]["order"]["tags"] = [ACCEPTANCE]
    for doc in docs:
        if transaction_id:
            doc["context"]["transaction_id"] = transaction_id
    for doc in docs[:2]:
        await net.send(doc)
    on_confirm = await net.send(docs[2])
    order_id: str = on_confirm.json["message"]["order"]["id"]
    return order_id


def order_of(cb: Received) -> dict[str, Any]:
    assert "error" not in cb.json, cb.json.get("error")
    order: dict[str, Any] = cb.json["message"]["order"]
    return order


def state_code(order: dict[str, Any]) -> str:
    code: str = order["fulfillments"][0]["state"]["descriptor"]["code"]
    return code


async def test_init_answers_the_quote_payment_and_cancellation_terms(net: Network) -> None:
    await net.send(with_charger(net.guide("03_select.json")))
    order = order_of(await net.send(with_charger(net.guide("05_init.json"))))
    guide = net.guide("06_on_init.json")["message"]["order"]
    assert set(order) >= set(guide) - {"billing"}
    assert "id" not in order  # the id is assigned on confirm
    assert order["items"][0]["quantity"]["selected"]["measure"]["value"] == "4"  # from select
    assert order["quote"]["price"] == {"currency": "INR", "value": "37.76"}
    assert order["payments"][0]["params"]["amount"] == "37.76"
    assert order["payments"][0]["status"] == "NOT-PAID"
    fees = [t["cancellation_fee"]["percentage"] for t in order["cancellation_terms"]]
    assert fees == ["0%", "10%", "30%"]
    terms = {t["descriptor"]["code"]: t["value"] for t in order["tags"][0]["list"]}
    assert (terms["terms-id"], terms["terms-version"]) == ("chargegrid-tos", "1")


async def test_confirm_without_terms_acceptance_is_a_business_error(net: Network) -> None:
    for name in ("03_select.json", "05_init.json"):
        await net.send(with_charger(net.guide(name)))
    cb = await net.send(with_charger(net.guide("07_confirm.json")))
    assert cb.json["error"]["code"] == "40000"
    assert "not accepted" in cb.json["error"]["message"]


async def test_guide_lifecycle_confirm_status_start_stop_support_rating(net: Network) -> None:
    order_id = await confirmed(net)
    assert order_id == "order-1"

    status = net.guide("09_status.json")
    status["message"]["order_id"] = order_id
    order = order_of(await net.send(status))
    assert (order["id"], order["status"], state_code(order)) == (
        order_id,
        "ACTIVE",
        "order-confirmed",
    )
    assert order["payments"][0]["status"] == "PAID"
    assert order["payments"][0]["params"]["transaction_id"] == "tans1"
    accepted = {t["descriptor"]["code"]: t["value"] for t in order["tags"][1]["list"]}
    assert accepted["terms-version"] == "1"

    start = net.guide("11_update-start-charging.json")
    order = order_of(await net.send(start))
    assert state_code(order) == "charging-started"
    assert net.commands.calls[0][:3] == ("start", "pe-charging", "1")

    track = net.guide("17_track.json")
    track["context"].update(
        {k: start["context"][k] for k in ("transaction_id", "bap_id", "bpp_id", "version")}
    )
    track["message"]["order_id"] = order_id
    tracking = (await net.send(track)).json["message"]["tracking"]
    assert tracking == {
        "id": order_id,
        "url": f"http://dash.test/track/{order_id}",
        "status": "active",
    }

    end = order_of(await net.send(net.guide("13_update-end-charging.json")))
    assert state_code(end) == "charging-ended"
    assert net.commands.calls[1] == ("stop", "pe-charging", "1")
    # 3.5 kWh delivered at 8 INR + 18 % = 33.04 billed; paid 37.76 → refund 4.72
    assert end["quote"]["price"] == {"currency": "INR", "value": "33.04"}
    settled = {t["descriptor"]["code"]: t["value"] for t in end["tags"][-1]["list"]}
    assert (settled["billed"], settled["refund"]) == ("33.04", "4.72")

    support = net.guide("15_support.json")
    support["message"]["support"]["ref_id"] = order_id
    answer = (await net.send(support)).json["message"]["support"]
    assert answer["ref_id"] == order_id
    assert set(answer) >= {"phone", "email", "url"}

    categories = await net.send(net.guide("21_get_rating_categories.json"))
    assert categories.path == "beckn/rating_categories"
    assert set(net.guide("22_rating_categories.json")["message"]["rating_categories"]) <= set(
        categories.json["message"]["rating_categories"]
    )

    rating = net.guide("23_rating.json")
    rating["message"]["ratings"][0]["id"] = order_id
    on_rating = await net.send(rating)
    assert "error" not in on_rating.json
    assert on_rating.json["message"]["feedback_form"]["required"] is False


async def test_guide_cancel_after_confirmation_refunds_per_the_terms(net: Network) -> None:
    order_id = await confirmed(net)
    net.clock.advance(60)  # the window had begun at init: free cancellation ended then
    cancel = net.guide("19_cancel.json")
    cancel["message"]["order_id"] = order_id
    order = order_of(await net.send(cancel))
    guide = net.guide("20_on_cancel.json")["message"]["order"]
    assert (order["id"], order["status"]) == (order_id, guide["status"])
    assert state_code(order) == guide["fulfillments"][0]["state"]["descriptor"]["code"]
    settled = {t["descriptor"]["code"]: t["value"] for t in order["tags"][-1]["list"]}
    # past the free cutoff, before charging: 10 % late fee of 37.76
    assert (settled["cancellation-fee"], settled["refund"]) == ("3.78", "33.98")


async def test_cancel_after_completion_is_not_possible(net: Network) -> None:
    order_id = await confirmed(net)
    await net.send(net.guide("11_update-start-charging.json"))
    await net.send(net.guide("13_update-end-charging.json"))
    cancel = net.guide("19_cancel.json")
    cancel["message"]["order_id"] = order_id
    cb = await net.send(cancel)
    assert cb.json["error"]["code"] == "50001"


async def test_every_state_change_reaches_the_event_log_once(net: Network) -> None:
    await confirmed(net)
    await net.send(net.guide("11_update-start-charging.json"))
    await net.send(net.guide("13_update-end-charging.json"))
    records = net.log.read(Topic.order_events, 0, 0, 100)
    kinds = [orjson_kind(r.payload) for r in records]
    assert kinds == ["drafted", "confirmed", "started", "completed"]
    assert {r.key for r in records} == {"order-1"}


def orjson_kind(payload: bytes) -> str:
    import json

    kind: str = json.loads(payload)["kind"]
    return kind
