"""Connector reservations of advance orders over the charger-command interface.

ReserveNow when an advance order is confirmed (or moved), CancelReservation when it is cancelled
or moved away. Reservation ids come from the order store (never reused).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from chargers.commands import ChargerCommands, ChargerOffline, ReserveStatus
from orders import repo
from orders.domain.orders import Order
from orders.errors import FulfillmentUnavailable
from orders.store import OrderStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reservations:
    store: OrderStore
    commands: ChargerCommands | None
    grace: timedelta  # a reservation lapses this long after the window starts (or at its end)

    async def reserve(self, order: Order, *, replacing: int | None = None) -> Order:
        """Hold the connector for an advance order (OCPP ReserveNow). A charger that refuses
        (occupied, faulted, …) fails the confirmation; one without the reservation feature, or
        offline now, leaves the order confirmed without a hold, and the order says so."""
        if self.commands is None:
            return order.holding(None, "Unsupported")
        expires_at = order.window_start + self.grace
        if order.window_end is not None:
            expires_at = min(expires_at, order.window_end)
        # ReserveNow with an existing id replaces that reservation (OCPP 1.6 and 2.0.1)
        reservation_id = (
            replacing
            if replacing is not None
            else await asyncio.to_thread(
                repo.new_reservation_id, self.store, order.id, order.charger_id
            )
        )
        try:
            status = await self.commands.reserve(
                order.charger_id, order.connector_id, order.id_tag, expires_at, reservation_id
            )
        except ChargerOffline:
            return order.holding(None, "Offline")
        if status == ReserveStatus.accepted:
            return order.holding(reservation_id, status.value)
        if status == ReserveStatus.unsupported:
            return order.holding(None, status.value)
        msg = (
            f"charger {order.charger_id} cannot reserve connector {order.connector_id} "
            f"for the window: {status.value}"
        )
        raise FulfillmentUnavailable(msg)

    async def release(self, order: Order) -> None:
        """Release the order's reservation (OCPP CancelReservation); an unreachable charger lets
        it lapse at its expiry instead."""
        if self.commands is None or order.reservation_id is None:
            return
        try:
            released = await self.commands.cancel_reservation(
                order.charger_id, order.reservation_id
            )
        except ChargerOffline:
            released = False
        if not released:
            log.warning(
                "reservation %s on %s not released; it lapses at its expiry",
                order.reservation_id,
                order.charger_id,
            )
