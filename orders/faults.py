"""Charger faults after confirmation: move the order to another connector, or cancel and refund.

:meth:`FaultWatch.check` (run by the BPP's timers) looks at every booked (pending/confirmed)
order whose connector the live snapshot shows ``Faulted``/``Unavailable``. It picks the best
compatible free connector (same connector type and current) preferring the same station, then
the nearest, then the most powerful; moves the order there without re-quoting (the driver keeps
the agreed price), releases the old reservation and makes a new one for an advance order, and
tells the BAP in an unsolicited ``on_update``. With no alternative the
order is cancelled by us with a full refund and the BAP hears an unsolicited ``on_cancel``. A
charging order whose charger fails is reported once (an unsolicited ``on_status`` with the
``interruption`` tag group); the driver decides whether to stop.

Each order is handled under its transaction's lock (:meth:`Bpp.serialised`), so a driver's request
for the same order waits; the order change, its event and the callback commit together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from orders import notify, orders_v1, repo
from orders.domain.catalog import Availability, Catalog, Offer
from orders.domain.geo import distance_m
from orders.domain.orders import Confirmation, Order, OrderState
from orders.errors import FulfillmentUnavailable
from orders.events import OrderEventKind
from orders.protocol import Bpp, Outcome, ms
from orders.reservations import Reservations

log = logging.getLogger(__name__)
BOOKED = (OrderState.pending.value, OrderState.confirmed.value)


class Remedy(StrEnum):
    moved = "moved"
    cancelled = "cancelled"
    interrupted = "interrupted"  # charging: reported once in an unsolicited on_status


def alternative(cat: Catalog, order: Order) -> Offer | None:
    """The best free connector compatible with ``order``'s, or None."""
    booked = cat.offers.get(order.item_id)
    if booked is None:
        return None
    here = (booked.site.lat, booked.site.lon)
    candidates = [
        o
        for o in cat.offers.values()
        if o.item_id != order.item_id
        and o.availability == Availability.available
        and (o.connector_type, o.current) == (booked.connector_type, booked.current)
    ]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda o: (
            o.site.station_id != booked.site.station_id,
            distance_m(here, (o.site.lat, o.site.lon)),
            -o.max_power_w,
            o.item_id,
        ),
    )


def watched_orders(bpp: Bpp) -> list[Order]:
    """Booked and charging orders."""
    with bpp.store.reading() as db:
        rows = db.execute(
            "SELECT doc FROM orders WHERE state IN (?, ?, ?) ORDER BY id",
            (*BOOKED, OrderState.active.value),
        ).fetchall()
    return [Order.model_validate_json(r[0]) for r in rows]


@dataclass
class FaultWatch:
    """Finds booked orders on failed connectors and remedies them (see the module doc)."""

    catalog: Callable[[], Catalog]
    reservations: Reservations

    async def check(self, bpp: Bpp) -> list[tuple[str, Remedy]]:
        """One pass; returns (order id, what was done) for every order it touched."""
        cat = self.catalog()
        done: list[tuple[str, Remedy]] = []
        for order in await asyncio.to_thread(watched_orders, bpp):
            offer = cat.offers.get(order.item_id)
            if offer is None or offer.availability != Availability.unavailable:
                continue
            async with bpp.serialised(order.bap_id, order.transaction_id):
                remedy = await self._remedy(bpp, cat, order.bap_id, order.id)
            if remedy is not None:
                done.append((order.id, remedy))
        if done:
            bpp.wake()
        return done

    async def _remedy(self, bpp: Bpp, cat: Catalog, bap_id: str, order_id: str) -> Remedy | None:
        order = await asyncio.to_thread(repo.order_by_id, bpp.store, bap_id, order_id)
        failed = cat.offers.get(order.item_id)
        if failed is None or failed.availability != Availability.unavailable:
            return None  # changed while we waited for the lock
        now = bpp.clock.now()
        if order.state == OrderState.active:
            if order.interrupted_at is not None:
                return None  # reported already
            await self._tell(bpp, order.interrupt(now), "status", OrderEventKind.interrupted)
            return Remedy.interrupted
        if order.state.value not in BOOKED:
            return None
        await self.reservations.release(order)  # moved or cancelled, the old hold goes
        target = alternative(cat, order)
        if target is not None:
            moved: Order | None = order.move(
                target.item_id, target.charger_id, target.connector_id, now
            )
            assert moved is not None
            if (moved.state, moved.confirmation) == (OrderState.confirmed, Confirmation.advance):
                moved = await self._reserve_or_none(moved)
            if moved is not None:
                await self._tell(bpp, moved, "update", OrderEventKind.moved)
                return Remedy.moved
        reason = f"charger {order.charger_id} is out of order and no compatible connector is free"
        cancelled = order.cancel_by_operator(reason, now)
        await self._tell(bpp, cancelled, "cancel", OrderEventKind.cancelled)
        return Remedy.cancelled

    async def _reserve_or_none(self, moved: Order) -> Order | None:
        try:
            return await self.reservations.reserve(moved)
        except FulfillmentUnavailable as exc:  # the new charger refused too: cancel instead
            log.warning("re-reserving order %s failed: %s", moved.id, exc)
            return None

    async def _tell(self, bpp: Bpp, order: Order, action: str, kind: OrderEventKind) -> None:
        ctx = notify.order_context(bpp, order, action)
        callback = bpp.callback(ctx, Outcome(message=orders_v1.order_message(order)))
        await asyncio.to_thread(
            bpp.store.enqueue,
            callback,
            now_ms=ms(bpp.clock.now()),
            persist=repo.saving((order, kind)),
        )
