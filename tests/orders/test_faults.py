"""A charger failing after confirmation: the order moves to the best compatible free connector
(unsolicited on_update), or is cancelled by us with a full refund (unsolicited on_cancel)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chargers.commands import FakeChargerCommands
from orders import repo
from orders.domain.catalog import Catalog
from orders.domain.orders import OrderState
from orders.events import OrderEventKind
from orders.faults import FaultWatch, Remedy
from orders.handlers import OrderPolicy, build_router
from orders.reservations import Reservations
from orders.store import OrderStore
from orders.timers import Timers
from tests.orders.support import (
    ALL_FREE,
    BAP,
    PRICER,
    T_EXAMPLE,
    RecordingBap,
    catalog,
    frozen,
    make_bpp,
)
from tests.orders.test_lifecycle import Harness, Meter
from tests.orders.test_timers import until

pytestmark = pytest.mark.anyio


class Estate:
    """A catalog whose live statuses the test changes."""

    def __init__(self) -> None:
        self.cat = catalog()

    def set(self, **changes: str) -> None:
        statuses = dict(ALL_FREE)
        for key, status in changes.items():
            charger, connector = key.rsplit("_", 1)
            statuses[(charger.replace("_", "-"), int(connector))] = status
        self.cat = catalog(statuses)

    def current(self) -> Catalog:
        return self.cat


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Harness, Estate, FaultWatch]]:
    clock = frozen()
    store = OrderStore(tmp_path / "o.sqlite")
    commands, meter, estate = FakeChargerCommands(), Meter(), Estate()
    router = build_router(
        estate.current,
        PRICER,
        clock,
        corridor_m=2000.0,
        store=store,
        commands=commands,
        policy=OrderPolicy(dashboard_url="http://dash.test"),
        meter=meter,
    )
    bap = RecordingBap()
    bpp = make_bpp(tmp_path / "o.sqlite", clock, bap.client(), route=router)
    bpp.store = store
    watch = FaultWatch(estate.current, Reservations(store, commands, timedelta(minutes=15)))
    async with bpp.running():
        yield Harness(bpp, bap, clock, commands, meter, store), estate, watch


def later_window() -> dict[str, Any]:
    start = (T_EXAMPLE + timedelta(hours=2)).isoformat()
    stops = [{"type": "start", "time": {"timestamp": start}}]
    return {"fulfillments": [{"id": "pe-charging", "stops": stops}]}


async def test_a_faulted_connector_moves_the_order_to_the_nearest_compatible_one(
    world: tuple[Harness, Estate, FaultWatch],
) -> None:
    h, estate, watch = world
    order_id = await h.order({"value": "4", "unit": "kWh"})
    before = len(h.bap.received)
    assert await watch.check(h.bpp) == []  # nothing wrong yet
    estate.set(pe_charging_1="Faulted")
    # the same station's other connector is Type2 AC; cp-s2-02 is busy; cp-far is 30 km away
    assert await watch.check(h.bpp) == [(order_id, Remedy.moved)]
    await h.bpp.idle()
    [note] = h.bap.received[before:]
    assert note.path == "on_update"
    assert note.json["context"]["transaction_id"] == "t-1"
    assert note.json["message"]["order"]["items"][0]["id"] == "cp-s2-01"
    order = repo.order_by_id(h.store, BAP.subscriber_id, order_id)
    assert (order.charger_id, order.connector_id, order.state) == ("cp-s2", 1, OrderState.confirmed)
    assert [e.kind for e in repo.order_events(h.store)][-1] == OrderEventKind.moved
    assert await watch.check(h.bpp) == []  # once: the new connector is fine
    assert "error" not in await h.update(order_id, "start-charging")
    assert h.commands.calls[-1][:3] == ("start", "cp-s2", "1")


async def test_with_no_compatible_connector_free_the_order_is_cancelled_and_refunded(
    world: tuple[Harness, Estate, FaultWatch],
) -> None:
    h, estate, watch = world
    order_id = await h.order({"value": "4", "unit": "kWh"})
    paid = repo.order_by_id(h.store, BAP.subscriber_id, order_id).paid_minor
    estate.set(pe_charging_1="Faulted", cp_s2_1="Unavailable", cp_far_1="Charging")
    before = len(h.bap.received)
    assert await watch.check(h.bpp) == [(order_id, Remedy.cancelled)]
    await h.bpp.idle()
    [note] = h.bap.received[before:]
    assert note.path == "on_cancel"
    order = repo.order_by_id(h.store, BAP.subscriber_id, order_id)
    assert order.state == OrderState.cancelled
    assert order.settlement is not None
    assert (order.settlement.fee_minor, order.settlement.refund_minor) == (0, paid)
    assert paid > 0
    assert "out of order" in (order.cancel_reason or "")


async def test_an_advance_order_moves_its_reservation(
    world: tuple[Harness, Estate, FaultWatch],
) -> None:
    h, estate, watch = world
    order_id = await h.order({"value": "4", "unit": "kWh"}, **later_window())
    old = repo.order_by_id(h.store, BAP.subscriber_id, order_id).reservation_id
    estate.set(pe_charging_1="Unavailable")
    assert await watch.check(h.bpp) == [(order_id, Remedy.moved)]
    moved = repo.order_by_id(h.store, BAP.subscriber_id, order_id)
    assert moved.reservation_id not in (None, old)
    assert [c[:3] for c in h.commands.calls] == [
        ("reserve", "pe-charging", "1"),
        ("unreserve", "pe-charging", str(old)),
        ("reserve", "cp-s2", "1"),
    ]
    assert set(h.commands.reservations) == {moved.reservation_id}


async def test_an_interrupted_charge_is_reported_once(
    world: tuple[Harness, Estate, FaultWatch],
) -> None:
    h, estate, watch = world
    order_id = await h.order({"value": "4", "unit": "kWh"})
    await h.update(order_id, "start-charging")
    before = len(h.bap.received)
    estate.set(pe_charging_1="Faulted")
    assert await watch.check(h.bpp) == [(order_id, Remedy.interrupted)]
    assert await watch.check(h.bpp) == []  # once
    await h.bpp.idle()
    [note] = h.bap.received[before:]
    assert note.path == "on_status"
    groups = {g["descriptor"]["code"] for g in note.json["message"]["order"]["tags"]}
    assert "interruption" in groups
    order = repo.order_by_id(h.store, BAP.subscriber_id, order_id)
    assert (order.state, order.charger_id) == (OrderState.active, "pe-charging")  # not moved
    assert [e.kind for e in repo.order_events(h.store)][-1] == OrderEventKind.interrupted
    end = await h.update(order_id, "end-charging")  # the driver stops; billed as usual
    assert "error" not in end


async def test_the_timer_runs_the_fault_watch(world: tuple[Harness, Estate, FaultWatch]) -> None:
    h, estate, watch = world
    order_id = await h.order({"value": "4", "unit": "kWh"})
    estate.set(pe_charging_1="Faulted")
    timers = Timers(
        h.meter, status_every_s=3600, escalate_every_s=3600, faults=watch, fault_every_s=0.02
    )
    async with timers.running(h.bpp):
        await until(lambda: any(cb.path == "on_update" for cb in h.bap.received))
    assert repo.order_by_id(h.store, BAP.subscriber_id, order_id).charger_id == "cp-s2"
