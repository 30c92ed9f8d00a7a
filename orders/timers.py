"""Background timers of a running BPP: periodic ``on_status`` while charging, ticket escalation,
and (when given a :class:`~orders.faults.FaultWatch`) the remedy of booked orders whose charger
failed.

Intervals are wall-clock seconds (how often the BAP hears from us, how often the SLA watch looks);
the times written (callback timestamps, ``escalated_ms``) come from the BPP's injected clock. A
failing pass is logged and the timer carries on at its next tick: one bad order or a busy
database must not stop the others from being reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orders import notify
from orders.domain.orders import Order
from orders.domain.support import escalate_overdue
from orders.handlers import Meter
from orders.protocol import Bpp

if TYPE_CHECKING:
    from orders.faults import FaultWatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timers:
    """What runs in the background and how often (wall seconds)."""

    meter: Meter
    status_every_s: float = 30.0
    escalate_every_s: float = 60.0
    faults: FaultWatch | None = None
    fault_every_s: float = 5.0

    def delivered_wh(self, order: Order) -> int | None:
        return self.meter.delivered_wh(order.charger_id, order.charging_transaction_id)

    def status_pass(self, bpp: Bpp) -> int:
        """Queue an unsolicited ``on_status`` for each charging order; how many."""
        return notify.status_tick(bpp, self.delivered_wh)

    def escalation_pass(self, bpp: Bpp) -> list[str]:
        """Escalate every open ticket past its SLA deadline; their ids."""
        with bpp.store.transaction() as db:
            return escalate_overdue(db, bpp.clock.now())

    @contextlib.asynccontextmanager
    async def running(self, bpp: Bpp) -> AsyncIterator[None]:
        """Both timers, for the lifetime of the context."""
        tasks = [
            asyncio.create_task(_every(self.status_every_s, lambda: self.status_pass(bpp), bpp)),
            asyncio.create_task(
                _every(self.escalate_every_s, lambda: self.escalation_pass(bpp), bpp)
            ),
        ]
        faults = self.faults
        if faults is not None:
            tasks.append(
                asyncio.create_task(_every_async(self.fault_every_s, lambda: faults.check(bpp)))
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _every(interval_s: float, job: Callable[[], object], bpp: Bpp) -> None:
    """Run ``job`` in a worker thread every ``interval_s``; wake delivery when it queued work."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            result = await asyncio.to_thread(job)
        except Exception:
            log.exception("background pass failed; trying again in %.1f s", interval_s)
            continue
        if result:
            bpp.wake()


async def _every_async(interval_s: float, job: Callable[[], Awaitable[object]]) -> None:
    """Await ``job`` every ``interval_s`` (a job that itself awaits charger commands)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await job()
        except Exception:
            log.exception("background pass failed; trying again in %.1f s", interval_s)
