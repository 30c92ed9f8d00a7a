"""Advance orders hold their connector (OCPP ReserveNow); cancelling releases it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chargers.commands import ReserveStatus, ocpp_time
from orders import repo
from orders.domain.orders import OrderState
from tests.orders.support import BAP, T_EXAMPLE
from tests.orders.test_lifecycle import Harness, h
from tests.orders.test_lifecycle_conformance import ACCEPTANCE

pytestmark = pytest.mark.anyio
__all__ = ["h"]
START = T_EXAMPLE + timedelta(hours=2)  # the window of an advance order


def window(start: Any = START) -> dict[str, Any]:
    stops = [{"type": "start", "time": {"timestamp": start.isoformat()}}]
    return {"fulfillments": [{"id": "pe-charging", "stops": stops}]}


def reservation_tags(doc: dict[str, Any]) -> dict[str, str] | None:
    for group in doc["message"]["order"].get("tags", []):
        if group["descriptor"]["code"] == "reservation":
            return {t["descriptor"]["code"]: t["value"] for t in group["list"]}
    return None


async def test_advance_order_reserves_and_cancel_releases(h: Harness) -> None:
    order_id = await h.order({"value": "4", "unit": "kWh"}, **window())
    order = repo.order_by_id(h.store, BAP.subscriber_id, order_id)
    assert order.reservation_id is not None
    expiry = ocpp_time(START + timedelta(minutes=15))
    assert h.commands.calls == [("reserve", "pe-charging", "1", order.id_tag, expiry)]
    assert h.commands.reservations == {order.reservation_id: ("pe-charging", 1, order.id_tag)}
    status = await h.send("status", {"order_id": order_id})
    assert reservation_tags(status) == {
        "status": "Accepted",
        "reservation-id": str(order.reservation_id),
    }
    cancelled = await h.send("cancel", {"order_id": order_id, "cancellation_reason_id": "2"})
    assert "error" not in cancelled
    assert h.commands.calls[-1] == ("unreserve", "pe-charging", str(order.reservation_id))
    assert h.commands.reservations == {}


async def test_reservation_ids_are_never_reused(h: Harness) -> None:
    first = await h.order({"value": "4", "unit": "kWh"}, tx="t-1", **window())
    second = await h.order({"value": "4", "unit": "kWh"}, tx="t-2", **window())
    ids = {repo.order_by_id(h.store, BAP.subscriber_id, o).reservation_id for o in (first, second)}
    assert len(ids) == 2 and None not in ids


@pytest.mark.parametrize("answer", [ReserveStatus.occupied, ReserveStatus.faulted])
async def test_a_charger_refusing_the_reservation_fails_the_confirmation(
    h: Harness, answer: ReserveStatus
) -> None:
    h.commands.reserve_answer = answer
    items = [
        {
            "id": "pe-charging-01",
            "quantity": {"selected": {"measure": {"value": "4", "unit": "kWh"}}},
        }
    ]
    await h.send("select", {"order": {"items": items, **window()}})
    await h.send("init", {"order": {"items": [{"id": "pe-charging-01"}]}})
    confirm = {"order": {"items": [{"id": "pe-charging-01"}], "tags": [ACCEPTANCE]}}
    answer_doc = await h.send("confirm", confirm)
    assert answer_doc["error"]["code"] == "30008"
    assert answer.value in answer_doc["error"]["message"]
    order = repo.order_of_transaction(h.store, BAP.subscriber_id, "t-1")
    assert order is not None and order.state == OrderState.draft  # confirm can be tried again


async def test_a_charger_without_reservations_confirms_without_a_hold(h: Harness) -> None:
    h.commands.reserve_answer = ReserveStatus.unsupported
    order_id = await h.order({"value": "4", "unit": "kWh"}, **window())
    status = await h.send("status", {"order_id": order_id})
    assert reservation_tags(status) == {"status": "Unsupported"}
    await h.send("cancel", {"order_id": order_id})
    assert [c[0] for c in h.commands.calls] == ["reserve"]  # nothing to release


async def test_an_offline_charger_confirms_without_a_hold(h: Harness) -> None:
    h.commands.offline.add("pe-charging")
    order_id = await h.order({"value": "4", "unit": "kWh"}, **window())
    assert reservation_tags(await h.send("status", {"order_id": order_id})) == {"status": "Offline"}


async def test_an_instant_order_reserves_nothing(h: Harness) -> None:
    order_id = await h.order({"value": "4", "unit": "kWh"})
    assert h.commands.calls == []
    assert reservation_tags(await h.send("status", {"order_id": order_id})) is None


async def test_moving_the_window_moves_the_hold_under_the_same_id(h: Harness) -> None:
    order_id = await h.order({"value": "4", "unit": "kWh"}, **window())
    held = repo.order_by_id(h.store, BAP.subscriber_id, order_id).reservation_id
    later = START + timedelta(hours=1)
    stops = [{"type": "start", "time": {"timestamp": later.isoformat()}}]
    moved = await h.send(
        "update",
        {
            "update_target": "order.fulfillments[0].stops",
            "order": {"id": order_id, "fulfillments": [{"id": "pe-charging", "stops": stops}]},
        },
    )
    assert "error" not in moved, moved["error"]
    assert reservation_tags(moved) == {"status": "Accepted", "reservation-id": str(held)}
    expiry = ocpp_time(later + timedelta(minutes=15))
    assert h.commands.calls[-1][0] == "reserve" and h.commands.calls[-1][4] == expiry
    assert list(h.commands.reservations) == [held]  # replaced, not a second hold
