"""Beckn core v1.1.0 (UEI EV-charging) ↔ the order aggregate: init … support.

Conventions beyond the UEI guide's examples (which carry no terms acceptance):

* ``init``'s ``on_init`` lists the terms of service as the order tag group ``terms-of-service``
  (``terms-id``, ``terms-version``, ``url``) and the accepted payment methods as the payment tag
  group ``payment-methods``;
* ``confirm`` must carry the order tag group ``terms-acceptance`` with ``terms-id`` and
  ``terms-version`` (and optionally ``accepted-at``, default the request's timestamp);
* ``update`` with ``update_target`` naming ``fulfillments[0].state`` and state code
  ``start-charging`` / ``end-charging`` (or ``stop-charging``) starts / stops charging; a target
  naming ``quantity`` or ``stops`` re-quotes with the new ``items[0].quantity.selected`` and/or
  fulfilment stops;
* settled money (billed, cancellation fee, refund) is the order tag group ``settlement``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from orders import models_v1 as wire
from orders.beckn_v1 import _selected, _window, plain, to_major
from orders.domain.orders import (
    Collector,
    Order,
    OrderState,
    PaymentStatus,
    TermsAcceptance,
)
from orders.domain.quote import Mode, QuoteRequest
from orders.errors import InvalidRequest, ItemNotFound

STATE_CODE = {
    OrderState.draft: "order-draft",
    OrderState.pending: "order-pending",
    OrderState.confirmed: "order-confirmed",
    OrderState.active: "charging-started",
    OrderState.completed: "charging-ended",
    OrderState.cancelled: "order-cancelled",
}
ORDER_STATUS = {  # core v1.1.0 enum; the fulfillment state code tells them apart
    OrderState.draft: "ACTIVE",
    OrderState.pending: "ACTIVE",
    OrderState.confirmed: "ACTIVE",
    OrderState.active: "ACTIVE",
    OrderState.completed: "COMPLETE",
    OrderState.cancelled: "CANCELLED",
}
START_CODES = {"start-charging", "charging-start"}
STOP_CODES = {"end-charging", "stop-charging", "charging-end"}


# -- requests ----------------------------------------------------------------------------------


def init_request(order: wire.Order, selection: QuoteRequest | None, currency: str) -> QuoteRequest:
    """What ``init`` orders: its own item/quantity/window, or the transaction's last ``select``."""
    item = order.items[0] if order.items else None
    if item is None or not item.id:
        msg = "init names no item"
        raise ItemNotFound(msg, paths="message.order.items[0].id")
    fulfillment = order.fulfillments[0] if order.fulfillments else None
    start, end = _window(fulfillment.stops or [] if fulfillment else [])
    has_quantity = item.quantity is not None and item.quantity.selected is not None
    if has_quantity:
        mode, amount = _selected(item, currency)
    elif selection is not None and selection.item_id == item.id:
        mode, amount = selection.mode, selection.amount
        start, end = start or selection.start, end or selection.end
    else:
        msg = f"no quantity for {item.id}: select it first or send items[0].quantity.selected"
        raise InvalidRequest(msg, paths="message.order.items[0].quantity.selected")
    return QuoteRequest(item.id, mode, amount, start, end)


def modified_request(order: Order, update: wire.Order, currency: str) -> QuoteRequest:
    """The order's request with the window and/or quantity an ``update`` sends."""
    item = update.items[0] if update.items else None
    mode, amount = order.mode, order.amount
    if item is not None and item.quantity is not None and item.quantity.selected is not None:
        mode, amount = _selected(item, currency)
    fulfillment = update.fulfillments[0] if update.fulfillments else None
    start, end = _window(fulfillment.stops or [] if fulfillment else [])
    return QuoteRequest(
        order.item_id, mode, amount, start or order.window_start, end or order.window_end
    )


def _tags(groups: list[wire.TagGroup] | None, code: str) -> dict[str, str] | None:
    for group in groups or []:
        if group.descriptor is not None and (group.descriptor.code or "").lower() == code:
            return {
                (t.descriptor.code or "").lower(): t.value
                for t in group.tags or []
                if t.descriptor is not None and t.value is not None
            }
    return None


def acceptance(order: wire.Order, at: datetime) -> TermsAcceptance | None:
    """The driver's acceptance of the terms of service, if the order carries one."""
    tags = _tags(order.tags, "terms-acceptance")
    if tags is None or "terms-id" not in tags or "terms-version" not in tags:
        return None
    when = at
    if "accepted-at" in tags:
        try:
            when = datetime.fromisoformat(tags["accepted-at"])
        except ValueError as exc:
            msg = "accepted-at must be an ISO 8601 time with offset"
            raise InvalidRequest(msg, paths="message.order.tags") from exc
        if when.tzinfo is None:
            msg = "accepted-at needs a UTC offset"
            raise InvalidRequest(msg, paths="message.order.tags")
    return TermsAcceptance(
        terms_id=tags["terms-id"], version=tags["terms-version"], accepted_at=when
    )


def payment_reference(order: wire.Order) -> str | None:
    """The payment's transaction reference when the BAP reports it PAID."""
    for payment in order.payments or []:
        if (payment.status or "").upper() == "PAID":
            ref = payment.params.transaction_id if payment.params else None
            return ref or "paid"
    return None


def ticket_request(support: wire.Support) -> tuple[str, str] | None:
    """(ticket id, driver response) when ``support`` answers a resolved ticket; None for a new
    ticket. The ``ticket`` tag group names the ticket (else ``ref_id`` does)."""
    tags = _tags(support.tags, "ticket")
    if tags is None or "driver-response" not in tags:
        return None
    ticket_id = tags.get("ticket-id") or support.ref_id
    if not ticket_id:
        msg = "a driver-response needs the ticket-id it answers"
        raise InvalidRequest(msg, paths="message.support.tags")
    return ticket_id, tags["driver-response"]


def fulfillment_code(update: wire.Order) -> str | None:
    fulfillment = update.fulfillments[0] if update.fulfillments else None
    if fulfillment is None or fulfillment.state is None or fulfillment.state.descriptor is None:
        return None
    return (fulfillment.state.descriptor.code or "").strip().lower() or None


# -- replies -----------------------------------------------------------------------------------


def _money(amount_minor: int, currency: str) -> wire.Price:
    return wire.Price(currency=currency, value=to_major(amount_minor, currency))


def _tag(code: str, value: str) -> wire.Tag:
    return wire.Tag(descriptor=wire.Descriptor(code=code, name=code), value=value)


def _group(code: str, tags: list[wire.Tag]) -> wire.TagGroup:
    return wire.TagGroup.model_validate(
        {"descriptor": wire.Descriptor(code=code, name=code), "list": tags}
    )


def _selection(order: Order) -> wire.Scalar:
    if order.mode == Mode.energy:
        return wire.Scalar(value=plain(Decimal(order.amount).scaleb(-3)), unit="kWh")
    if order.mode == Mode.duration:
        return wire.Scalar(value=plain(Decimal(order.amount) / 60), unit="min")
    return wire.Scalar(
        value=to_major(order.amount, order.quote.currency), unit=order.quote.currency
    )


def _quote(order: Order) -> wire.Quote:
    q = order.quote
    cur = q.currency
    breakup = []
    for line in q.lines:
        item = None
        if line.energy_wh is not None:
            item = wire.Item(
                quantity=wire.ItemQuantity(
                    selected=wire.QuantityValue(
                        measure=wire.Scalar(
                            value=plain(Decimal(line.energy_wh).scaleb(-3)), unit="kWh"
                        )
                    )
                )
            )
        breakup.append(
            wire.BreakupLine(title=line.title, item=item, price=_money(line.amount_minor, cur))
        )
    s = order.settlement
    if s is not None and order.state == OrderState.completed:
        breakup = [
            wire.BreakupLine(
                title="charging session cost (delivered)",
                item=wire.Item(
                    quantity=wire.ItemQuantity(
                        selected=wire.QuantityValue(
                            measure=wire.Scalar(
                                value=plain(Decimal(order.delivered_wh).scaleb(-3)), unit="kWh"
                            )
                        )
                    )
                ),
                price=_money(s.billed_minor, cur),
            )
        ]
        return wire.Quote(price=_money(s.billed_minor, cur), breakup=breakup)
    if s is not None and order.state == OrderState.cancelled:
        return wire.Quote(
            price=_money(s.fee_minor, cur),
            breakup=[wire.BreakupLine(title="cancellation fee", price=_money(s.fee_minor, cur))],
        )
    return wire.Quote(price=_money(q.total_minor, cur), breakup=breakup)


def _payment(order: Order) -> wire.Payment:
    p = order.payment
    return wire.Payment(
        collected_by=p.collected_by.value,
        type="PRE-ORDER" if p.collected_by == Collector.bpp else "ON-FULFILLMENT",
        status=p.status.value,
        params=wire.PaymentParams(
            amount=to_major(p.amount_minor, p.currency),
            currency=p.currency,
            transaction_id=p.reference,
        ),
        tags=[_group("payment-methods", [_tag("method", m.value) for m in p.methods])],
    )


def _percent(bp: int) -> str:
    return f"{plain(Decimal(bp) / 100)}%"


def _cancellation_terms(order: Order) -> list[wire.CancellationTerm]:
    c = order.cancellation
    ref = wire.MediaFile(mimetype="text/html", url=order.terms.url)
    return [
        wire.CancellationTerm(
            cancel_by=wire.Time(timestamp=c.free_until),
            cancellation_fee=wire.Fee(percentage="0%"),
            external_ref=ref,
        ),
        wire.CancellationTerm(
            fulfillment_state=wire.State(descriptor=wire.Descriptor(code="order-confirmed")),
            cancellation_fee=wire.Fee(percentage=_percent(c.late_fee_bp)),
            external_ref=ref,
        ),
        wire.CancellationTerm(
            fulfillment_state=wire.State(descriptor=wire.Descriptor(code="charging-start")),
            cancellation_fee=wire.Fee(percentage=_percent(c.charging_fee_bp)),
            external_ref=ref,
        ),
    ]


def _order_tags(order: Order) -> list[wire.TagGroup]:
    t = order.terms
    groups = [
        _group(
            "terms-of-service",
            [_tag("terms-id", t.id), _tag("terms-version", t.version), _tag("url", t.url)],
        )
    ]
    if order.acceptance is not None:
        a = order.acceptance
        groups.append(
            _group(
                "terms-acceptance",
                [
                    _tag("terms-id", a.terms_id),
                    _tag("terms-version", a.version),
                    _tag("accepted-at", a.accepted_at.isoformat()),
                ],
            )
        )
    if order.reservation_status is not None:
        held = [_tag("status", order.reservation_status)]
        if order.reservation_id is not None:
            held.append(_tag("reservation-id", str(order.reservation_id)))
        groups.append(_group("reservation", held))
    if order.interrupted_at is not None and order.state == OrderState.active:
        groups.append(
            _group("interruption", [_tag("interrupted-at", order.interrupted_at.isoformat())])
        )
    if order.state == OrderState.active:
        kwh = plain(Decimal(order.delivered_wh).scaleb(-3))
        groups.append(_group("charging-details", [_tag("energy-delivered", f"{kwh}kWh")]))
    s = order.settlement
    if s is not None:
        cur = order.quote.currency
        groups.append(
            _group(
                "settlement",
                [
                    _tag("billed", str(to_major(s.billed_minor, cur))),
                    _tag("cancellation-fee", str(to_major(s.fee_minor, cur))),
                    _tag("refund", str(to_major(s.refund_minor, cur))),
                    _tag("currency", cur),
                    _tag("metered", "true" if s.metered else "false"),
                ],
            )
        )
    return groups


def order_message(order: Order, *, reveal_id: bool = True) -> wire.OrderMessage:
    """The order as every ``on_*`` that answers with an order carries it."""
    stops = [wire.Stop(type="start", time=wire.Time(timestamp=order.window_start))]
    if order.window_end is not None:
        stops.append(wire.Stop(type="end", time=wire.Time(timestamp=order.window_end)))
    if order.state in (OrderState.confirmed, OrderState.pending):
        stops[0].instructions = wire.Descriptor(
            name="Charging instructions",
            short_desc=(
                f"Go to charger {order.charger_id}, connector {order.connector_id}, "
                "and start charging from your app"
            ),
        )
    rate = to_major(order.quote.unit_price_minor_per_kwh, order.quote.currency)
    return wire.OrderMessage(
        order=wire.Order(
            id=order.id if reveal_id else None,
            status=ORDER_STATUS[order.state] if reveal_id else None,
            provider=wire.Provider(id=order.provider_id),
            items=[
                wire.Item(
                    id=order.item_id,
                    descriptor=wire.Descriptor(code="energy"),
                    price=wire.Price(currency=f"{order.quote.currency}/kWH", value=rate),
                    quantity=wire.ItemQuantity(
                        selected=wire.QuantityValue(measure=_selection(order))
                    ),
                    fulfillment_ids=[order.charger_id],
                )
            ],
            fulfillments=[
                wire.Fulfillment(
                    id=order.charger_id,
                    type="CHARGING",
                    state=wire.State(
                        descriptor=wire.Descriptor(code=STATE_CODE[order.state]),
                        updated_at=order.updated_at,
                    ),
                    stops=stops,
                )
            ],
            quote=_quote(order),
            payments=[_payment(order)],
            cancellation_terms=_cancellation_terms(order),
            tags=_order_tags(order),
        )
    )


def paid(order: Order) -> bool:
    return order.payment.status == PaymentStatus.paid
