"""Order events: one JSON record per order state change, keyed by order id, on ``order_events``.

They are written to the store's ``order_events`` table in the SAME transaction as the state change
(:func:`orders.repo.save_order`) and relayed to the event log afterwards by
:class:`orders.repo.EventRelay`; ``seq`` is the outbox sequence number, unique and increasing, so a
consumer (and the relay itself, after a crash) can tell a record it has already seen.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

from orders.domain.orders import Order, OrderState


class OrderEventKind(StrEnum):
    drafted = "drafted"
    confirmed = "confirmed"
    pending = "pending"
    approved = "approved"
    modified = "modified"
    moved = "moved"  # to another connector (its charger faulted before charging)
    interrupted = "interrupted"  # its charger faulted while charging
    started = "started"
    completed = "completed"
    cancelled = "cancelled"


class OrderEvent(BaseModel):
    """What changed on an order. Money in integer minor units of ``currency``; energy in Wh."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    order_id: str
    kind: OrderEventKind
    state: OrderState
    version: int
    at: AwareDatetime
    bap_id: str
    item_id: str
    charger_id: str
    connector_id: int
    quote_total_minor: int
    currency: str
    delivered_wh: int
    billed_minor: int | None = None
    fee_minor: int | None = None
    refund_minor: int | None = None

    @classmethod
    def of(cls, order: Order, kind: OrderEventKind, seq: int) -> OrderEvent:
        s = order.settlement
        return cls(
            seq=seq,
            order_id=order.id,
            kind=kind,
            state=order.state,
            version=order.version,
            at=order.updated_at,
            bap_id=order.bap_id,
            item_id=order.item_id,
            charger_id=order.charger_id,
            connector_id=order.connector_id,
            quote_total_minor=order.quote.total_minor,
            currency=order.quote.currency,
            delivered_wh=order.delivered_wh,
            billed_minor=s.billed_minor if s else None,
            fee_minor=s.fee_minor if s else None,
            refund_minor=s.refund_minor if s else None,
        )
