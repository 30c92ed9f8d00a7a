"""The BPP's background timers: unsolicited on_status while charging, SLA escalation of tickets.

The timers tick every few wall milliseconds here; the BPP's clock is frozen and moved by hand, so
what is written (callback times, ``escalated_ms``) is exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from orders.domain.support import ticket_status
from orders.timers import Timers
from tests.orders.support import T_EXAMPLE
from tests.orders.test_lifecycle import Harness, h

pytestmark = pytest.mark.anyio
__all__ = ["h"]  # the harness fixture


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    msg = "condition not reached in time"
    raise AssertionError(msg)


async def test_status_arrives_unsolicited_while_charging_and_stops_after(h: Harness) -> None:
    order_id = await h.order({"value": "4", "unit": "kWh"})
    await h.update(order_id, "start-charging")
    h.meter.wh = 2_500
    sent = {cb.json["context"]["message_id"] for cb in h.bap.received}
    timers = Timers(h.meter, status_every_s=0.02, escalate_every_s=3600)

    def unsolicited() -> list[dict[str, object]]:
        return [
            cb.json
            for cb in h.bap.received
            if cb.path == "on_status" and cb.json["context"]["message_id"] not in sent
        ]

    async with timers.running(h.bpp):
        await until(lambda: len(unsolicited()) >= 2)  # periodic, not once
        await h.update(order_id, "stop-charging")
        stopped = len(unsolicited())
        await asyncio.sleep(0.1)  # five more ticks
    first = unsolicited()[0]
    ctx = first["context"]
    assert isinstance(ctx, dict) and ctx["transaction_id"] == "t-1"
    order = first["message"]["order"]  # type: ignore[index]
    details = {t["descriptor"]["code"]: t["value"] for t in order["tags"][-1]["list"]}
    assert (order["id"], details["energy-delivered"]) == (order_id, "2.5kWh")
    assert len(unsolicited()) - stopped <= 1  # at most one tick was in flight when it stopped


async def test_an_unanswered_ticket_is_escalated_by_the_timer(h: Harness) -> None:
    phone = await h.send("support", {"support": {"ref_id": "t-1", "callback_phone": "+911234"}})
    ticket_id = phone["message"]["support"]["url"].rsplit("/", 1)[1]
    timers = Timers(h.meter, status_every_s=3600, escalate_every_s=0.02)

    def status() -> str:
        with h.store.reading() as db:
            return ticket_status(db, ticket_id)[0]

    async with timers.running(h.bpp):
        await asyncio.sleep(0.1)
        assert status() == "open"  # within its 1 h SLA
        h.clock.advance(61 * 60)
        await until(lambda: status() == "escalated")
    with h.store.reading() as db:
        assert ticket_status(db, ticket_id)[1] == T_EXAMPLE + timedelta(minutes=61)
