"""Unsolicited callbacks: an operator's approval of a provisional order (``on_confirm``), the
periodic ``on_status`` of every order that is charging, and the resolution of a support ticket
(``on_support``, asking the driver to confirm or reopen).

Each goes through the outbox with a new ``message_id`` in the order's transaction; an approval's
state change and its order event commit with the callback. :func:`status_tick` is meant to be run
by a timer every N seconds while the BPP runs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from orders import models_v1 as wire
from orders import orders_v1, repo
from orders.domain import support
from orders.domain.orders import Confirmation, Order, OrderState
from orders.domain.support import Ticket
from orders.events import OrderEventKind
from orders.models_v1 import Context
from orders.protocol import Bpp, Outcome, ms
from orders.reservations import Reservations
from orders.store import enqueue

if TYPE_CHECKING:
    from orders.handlers import OrderPolicy


def order_context(bpp: Bpp, order: Order, action: str) -> Context:
    return Context(
        domain=bpp.config.domain,
        action=action,
        version="1.1.0",
        bap_id=order.bap_id,
        bap_uri=order.bap_uri,
        bpp_id=bpp.config.bpp_id,
        bpp_uri=bpp.config.bpp_uri,
        transaction_id=order.transaction_id,
        message_id=str(uuid.uuid4()),
        timestamp=bpp.clock.now(),
    )


async def approve(bpp: Bpp, bap_id: str, order_id: str, *, reservations: Reservations) -> Order:
    """The operator approves a pending order: confirmed, and the BAP hears it (``on_confirm``).

    An order whose window is still ahead becomes an advance order and holds its connector like
    any advance confirmation (OCPP ReserveNow through ``reservations``; cancelling releases it).
    A charger refusing the hold fails the approval (:class:`FulfillmentUnavailable`): the order
    stays pending and nothing is sent. Runs under the transaction's lock, so a cancel from the
    BAP is applied before or after it, never in between."""
    pending = await asyncio.to_thread(repo.order_by_id, bpp.store, bap_id, order_id)
    async with bpp.serialised(bap_id, pending.transaction_id):
        current = await asyncio.to_thread(repo.order_by_id, bpp.store, bap_id, order_id)
        order = current.approve(bpp.clock.now())
        if order.confirmation == Confirmation.advance:
            order = await reservations.reserve(order)
        ctx = order_context(bpp, order, "confirm")
        callback = bpp.callback(ctx, Outcome(message=orders_v1.order_message(order)))
        try:
            await asyncio.to_thread(
                bpp.store.enqueue,
                callback,
                now_ms=ms(bpp.clock.now()),
                persist=repo.saving((order, OrderEventKind.approved)),
            )
        except BaseException:  # not approved after all (changed elsewhere): drop the hold
            await reservations.release(order)
            raise
    bpp.wake()
    return order


def active_orders(bpp: Bpp) -> list[Order]:
    with bpp.store.reading() as db:
        rows = db.execute(
            "SELECT doc FROM orders WHERE state = ?", (OrderState.active.value,)
        ).fetchall()
    return [Order.model_validate_json(r[0]) for r in rows]


def status_tick(bpp: Bpp, delivered_wh: Callable[[Order], int | None]) -> int:
    """Queue an unsolicited ``on_status`` for every charging order (with the energy delivered so
    far when the meter knows it); returns how many."""
    count = 0
    for order in active_orders(bpp):
        wh = delivered_wh(order)
        current = order if wh is None else order.model_copy(update={"delivered_wh": wh})
        ctx = order_context(bpp, current, "status")
        message = orders_v1.order_message(current)
        bpp.store.enqueue(bpp.callback(ctx, Outcome(message=message)), now_ms=ms(bpp.clock.now()))
        count += 1
    return count


def resolve_ticket(bpp: Bpp, ticket_id: str, resolution: str, policy: OrderPolicy) -> Ticket:
    """The operator resolves a ticket: stored, and the BAP hears it in an unsolicited
    ``on_support`` committed in the same transaction (core ``Support`` has no status field, so
    the callback itself says "resolved"; its ``url`` names the ticket, whose page shows the
    resolution). Tickets from before ``bap_uri`` was kept are resolved without a callback."""
    now = bpp.clock.now()
    with bpp.store.transaction() as db:
        ticket = support.resolve_ticket(db, ticket_id, resolution, now)
        if ticket.transaction_id is None or ticket.bap_uri is None:
            return ticket
        ctx = Context(
            domain=bpp.config.domain,
            action="support",
            version="1.1.0",
            bap_id=ticket.bap_id,
            bap_uri=ticket.bap_uri,
            bpp_id=bpp.config.bpp_id,
            bpp_uri=bpp.config.bpp_uri,
            transaction_id=ticket.transaction_id,
            message_id=str(uuid.uuid4()),
            timestamp=now,
        )
        message = wire.OnSupportMessage(
            support=wire.Support(
                ref_id=ticket.ref_id,
                phone=policy.support_phone,
                email=policy.support_email,
                url=f"{policy.dashboard_url.rstrip('/')}/support/{ticket.id}",
            )
        )
        enqueue(db, bpp.callback(ctx, Outcome(message=message)), ms(now))
    bpp.wake()
    return ticket
