"""Inputs beyond what the arithmetic can hold get a typed error naming the field, never an
internal error: a quantity or budget beyond the decimal context, a window off the calendar or
beyond the booking horizon, a ttl whose expiry is no date."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orders.domain.quote import BOOKING_HORIZON
from tests.orders.support import BAP, T_EXAMPLE, encode, search_body, sign
from tests.orders.test_lifecycle import Harness, h

pytestmark = pytest.mark.anyio
__all__ = ["h"]
ITEM = "pe-charging-01"


def init_message(measure: dict[str, str], start: str | None = None) -> dict[str, Any]:
    order: dict[str, Any] = {
        "items": [{"id": ITEM, "quantity": {"selected": {"measure": measure}}}]
    }
    if start is not None:
        stops = [{"type": "start", "time": {"timestamp": start}}]
        order["fulfillments"] = [{"id": "pe-charging", "stops": stops}]
    return {"order": order}


@pytest.mark.parametrize("unit", ["kWh", "min", "INR"])
async def test_a_quantity_beyond_the_decimal_context_is_out_of_range(h: Harness, unit: str) -> None:
    answer = await h.send("init", init_message({"value": "1e999999", "unit": unit}))
    assert answer["error"]["code"] == "30000"
    assert "out of range" in answer["error"]["message"]
    assert answer["error"]["paths"].endswith("measure.value")


@pytest.mark.parametrize(
    ("start", "says"),
    [
        ("9999-12-31T23:59:59Z", "at most 366 days ahead"),
        ((T_EXAMPLE + BOOKING_HORIZON + timedelta(minutes=1)).isoformat(), "at most 366 days"),
        ("0001-01-01T00:00:00Z", "starts in the past"),
    ],
)
async def test_a_window_off_the_calendar_or_beyond_the_horizon_is_refused(
    h: Harness, start: str, says: str
) -> None:
    answer = await h.send("init", init_message({"value": "4", "unit": "kWh"}, start))
    assert answer["error"]["code"] == "30000"
    assert says in answer["error"]["message"]
    assert answer["error"]["paths"] == "message.order.fulfillments[0].stops"


async def test_a_window_just_inside_the_horizon_is_booked(h: Harness) -> None:
    start = (T_EXAMPLE + BOOKING_HORIZON - timedelta(hours=1)).isoformat()
    answer = await h.send("init", init_message({"value": "4", "unit": "kWh"}, start))
    assert "error" not in answer, answer["error"]


async def test_a_ttl_whose_expiry_is_no_date_is_nacked_as_invalid(h: Harness) -> None:
    body = encode(search_body(T_EXAMPLE, "http://bap.test", ttl="P99999999D"))
    reply = await h.bpp.receive("search", body, sign(body, BAP, T_EXAMPLE))
    assert reply.status_code == 400
    assert (reply.body["error"]["code"], reply.body["error"]["paths"]) == ("30000", "context.ttl")
