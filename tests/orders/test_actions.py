"""search and select through the whole pipeline: wire criteria, quote modes, business errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orders.domain.catalog import Catalog
from tests.orders.support import (
    ALL_FREE,
    BAP,
    BPP_ID,
    DOMAIN,
    T_EXAMPLE,
    RecordingBap,
    catalog,
    encode,
    frozen,
    make_bpp,
    search_body,
    sign,
)

pytestmark = pytest.mark.anyio
BAP_URI = "http://bap.test"


def select_body(measure: dict[str, str], item: str = "pe-charging-01", **order: Any) -> bytes:
    ctx = {
        "domain": DOMAIN,
        "action": "select",
        "version": "1.1.0",
        "bap_id": BAP.subscriber_id,
        "bap_uri": BAP_URI,
        "bpp_id": BPP_ID,
        "bpp_uri": "https://example-bpp.com",
        "transaction_id": "t-1",
        "message_id": "m-1",
        "timestamp": T_EXAMPLE.isoformat(),
    }
    body = {
        "provider": {"id": "example_provider_id"},
        "items": [{"id": item, "quantity": {"selected": {"measure": measure}}}],
        **order,
    }
    return encode({"context": ctx, "message": {"order": body}})


async def answer(
    tmp_path: Path, action: str, body: bytes, cat: Catalog | None = None
) -> dict[str, Any]:
    bap = RecordingBap()
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), bap.client(), cat=cat)
    async with bpp.running():
        reply = await bpp.receive(action, body, sign(body, BAP, T_EXAMPLE))
        assert reply.acked, reply.body
        await bpp.idle()
    [cb] = bap.received
    return cb.json


async def test_select_by_minutes_prices_the_energy_the_connector_can_deliver(
    tmp_path: Path,
) -> None:
    doc = await answer(tmp_path, "select", select_body({"value": "30", "unit": "min"}))
    order = doc["message"]["order"]
    assert order["items"][0]["quantity"]["selected"]["measure"]["unit"] == "min"
    energy = order["quote"]["breakup"][0]["item"]["quantity"]["selected"]["measure"]
    assert energy == {"value": "15", "unit": "kWh"}  # 30 min at 30 kW
    assert order["quote"]["price"]["value"] == "141.60"  # 15 x 8 = 120 + 18 % = 141.60


async def test_select_by_money_stays_within_the_budget(tmp_path: Path) -> None:
    doc = await answer(tmp_path, "select", select_body({"value": "100", "unit": "INR"}))
    order = doc["message"]["order"]
    assert order["items"][0]["quantity"]["selected"]["measure"] == {
        "type": "CONSTANT",
        "value": "100.00",
        "unit": "INR",
    }
    assert Decimal(order["quote"]["price"]["value"]) <= 100
    assert Decimal(order["quote"]["price"]["value"]) > Decimal("99.9")


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        (select_body({"value": "4", "unit": "kWh"}, item="nope"), "30004", "no connector"),
        (select_body({"value": "4", "unit": "kWh"}, provider={"id": "rival"}), "30001", "rival"),
        (
            select_body({"value": "4", "unit": "kWh"}, fulfillments=[{"id": "cp-far"}]),
            "30008",
            "cp-far",
        ),
        (select_body({"value": "4", "unit": "gallons"}), "30000", "gallons"),
        (select_body({"value": "1.001", "unit": "INR"}), "30000", "decimals"),
        (
            select_body(
                {"value": "4", "unit": "kWh"}, item="cp-s2-02", provider={"id": "other_operator"}
            ),
            "40002",
            "occupied",
        ),
        (
            select_body(
                {"value": "90", "unit": "kWh"},
                fulfillments=[
                    {
                        "id": "pe-charging",
                        "stops": [
                            {"type": "start", "time": {"timestamp": "2023-07-16T05:00:00Z"}},
                            {"type": "finish", "time": {"timestamp": "2023-07-16T06:00:00Z"}},
                        ],
                    }
                ],
            ),
            "40002",
            "cannot be delivered",
        ),
    ],
)
async def test_select_business_errors_come_back_in_on_select(
    tmp_path: Path, body: bytes, code: str, needle: str
) -> None:
    doc = await answer(tmp_path, "select", body)
    assert doc["error"]["code"] == code
    assert needle in doc["error"]["message"]
    assert "message" not in doc  # core v1.1.1: an on_select message must hold an order


async def test_occupied_connector_error_names_free_alternatives(tmp_path: Path) -> None:
    statuses = {**ALL_FREE, ("cp-s2", 1): "Available", ("cp-s2", 2): "Charging"}
    body = select_body(
        {"value": "4", "unit": "kWh"}, item="cp-s2-02", provider={"id": "other_operator"}
    )
    doc = await answer(tmp_path, "select", body, catalog(statuses))
    assert doc["error"]["message"].endswith("alternatives: cp-s2-01")


async def test_search_along_a_route_with_a_corridor_tag(tmp_path: Path) -> None:
    doc = search_body(T_EXAMPLE, BAP_URI)
    doc["message"]["intent"]["fulfillment"] = {
        "stops": [
            {"type": "start", "location": {"gps": "12.43,77.20"}},
            {"type": "end", "location": {"gps": "12.43,77.45"}},
        ],
        "tags": [{"list": [{"descriptor": {"code": "route-corridor"}, "value": "500m"}]}],
    }
    out = await answer(tmp_path, "search", encode(doc))
    items = [i["id"] for p in out["message"]["catalog"]["providers"] for i in p["items"]]
    assert items == ["pe-charging-01", "pe-charging-02"]


async def test_search_by_operator_power_and_level(tmp_path: Path) -> None:
    doc = search_body(T_EXAMPLE, BAP_URI)
    intent = doc["message"]["intent"]
    intent["provider"] = {"id": "example_provider_id"}
    intent["fulfillment"] = {
        "tags": [
            {
                "list": [
                    {"descriptor": {"code": "power-rating"}, "value": "40 kW"},
                    {"descriptor": {"code": "charger-level"}, "value": "DCFC"},
                ]
            }
        ]
    }
    out = await answer(tmp_path, "search", encode(doc))
    items = [i["id"] for p in out["message"]["catalog"]["providers"] for i in p["items"]]
    assert items == ["cp-far-01"]


async def test_search_with_an_unreadable_criterion_is_answered_with_an_error(
    tmp_path: Path,
) -> None:
    doc = search_body(T_EXAMPLE, BAP_URI)
    doc["message"]["intent"]["fulfillment"]["tags"][0]["list"].append(
        {"descriptor": {"code": "power-rating"}, "value": "very fast"}
    )
    out = await answer(tmp_path, "search", encode(doc))
    assert out["error"]["code"] == "30000"
    assert "power-rating" in out["error"]["message"]


async def test_select_must_name_this_bpp(tmp_path: Path) -> None:
    body = select_body({"value": "4", "unit": "kWh"}).replace(BPP_ID.encode(), b"rival-bpp.com")
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), RecordingBap().client())
    reply = await bpp.receive("select", body, sign(body, BAP, T_EXAMPLE))
    assert (reply.status_code, reply.body["error"]["paths"]) == (400, "context.bpp_id")
