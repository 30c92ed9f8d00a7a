"""The order aggregate: terms, confirmation, charging, completion, cancellation and refunds.

State machine (every transition is a method returning a NEW order; an illegal one raises a
:class:`~orders.errors.BecknError` subclass carrying its BECKN-005 code)::

    draft ──confirm(acceptance)──▶ confirmed ──start──▶ active ──stop──▶ completed
      │            └─(operator approval)─▶ pending ──approve──▶ confirmed
      └────────────── cancel (draft, pending, confirmed, active) ──▶ cancelled

A booked (pending/confirmed) order whose charger faults is ``move``d to another connector, or
cancelled by us (``cancel_by_operator``: no fee, full refund) when none fits.

``confirmed`` is *instant* (the window starts now) or *advance* (a reservation for a future
window); ``pending`` is a provisional confirmation the operator still has to approve.

Pure domain: times are passed in (tz-aware UTC), money is integer minor units of ``currency``,
energy Wh, durations s. Models are pydantic so the store can persist them as JSON, never dicts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from orders.domain.quote import Mode, Quote
from orders.errors import (
    ActionNotApplicable,
    BusinessError,
    CancellationNotPossible,
    QuoteUnavailable,
    UpdateNotPossible,
)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderState(StrEnum):
    draft = "draft"  # priced and terms offered (init)
    pending = "pending"  # provisionally confirmed, awaiting operator approval
    confirmed = "confirmed"  # terms accepted; instant or advance (reserved window)
    active = "active"  # charging
    completed = "completed"
    cancelled = "cancelled"


class Confirmation(StrEnum):
    instant = "instant"
    advance = "advance"
    provisional = "provisional"


class PaymentMethod(StrEnum):
    card = "card"
    upi = "upi"
    subscription = "subscription"


class Collector(StrEnum):
    bpp = "BPP"
    bap = "BAP"


class PaymentStatus(StrEnum):
    not_paid = "NOT-PAID"
    paid = "PAID"


class TermsOfService(Frozen):
    """A versioned terms-of-service document the driver must accept before confirming."""

    id: str
    version: str
    url: str


class TermsAcceptance(Frozen):
    terms_id: str
    version: str
    accepted_at: AwareDatetime


class CancellationTerms(Frozen):
    """Free until ``free_until``; then ``late_fee_bp`` of the quote until charging starts;
    ``charging_fee_bp`` once charging started; no cancellation after completion."""

    free_until: AwareDatetime
    late_fee_bp: int = Field(ge=0, le=10_000)
    charging_fee_bp: int = Field(ge=0, le=10_000)


class PaymentTerms(Frozen):
    methods: tuple[PaymentMethod, ...]
    collected_by: Collector
    amount_minor: int = Field(ge=0)
    currency: str
    status: PaymentStatus = PaymentStatus.not_paid
    reference: str | None = None


class QuoteLine(Frozen):
    title: str
    amount_minor: int
    energy_wh: int | None = None


class PricedQuote(Frozen):
    """A quote frozen into the order (the catalog may change; the order keeps its price)."""

    energy_wh: int = Field(ge=0)
    lines: tuple[QuoteLine, ...]
    currency: str
    valid_until: AwareDatetime
    unit_price_minor_per_kwh: int

    @property
    def total_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    @classmethod
    def of(cls, q: Quote, unit_price_minor_per_kwh: int) -> PricedQuote:
        return cls(
            energy_wh=q.energy_wh,
            lines=tuple(
                QuoteLine(title=x.title, amount_minor=x.amount_minor, energy_wh=x.energy_wh)
                for x in q.lines
            ),
            currency=q.currency,
            valid_until=q.valid_until,
            unit_price_minor_per_kwh=unit_price_minor_per_kwh,
        )


class Settlement(Frozen):
    """Money when an order ends: what is billed, the cancellation fee, what is refunded."""

    billed_minor: int
    fee_minor: int
    refund_minor: int
    metered: bool = True  # False: no meter reading yet, billed on the quote (billing reconciles)


class Order(Frozen):
    id: str
    transaction_id: str
    bap_id: str
    bap_uri: str
    provider_id: str
    item_id: str
    charger_id: str
    connector_id: int
    mode: Mode
    amount: int  # Wh, s or minor units, per mode
    window_start: AwareDatetime
    window_end: AwareDatetime | None
    quote: PricedQuote
    payment: PaymentTerms
    cancellation: CancellationTerms
    terms: TermsOfService
    state: OrderState = OrderState.draft
    confirmation: Confirmation | None = None
    acceptance: TermsAcceptance | None = None
    id_tag: str
    charging_transaction_id: str | None = None
    delivered_wh: int = 0
    settlement: Settlement | None = None
    cancel_reason: str | None = None
    interrupted_at: AwareDatetime | None = None  # the charger failed while charging
    reservation_id: int | None = None  # OCPP reservation holding the connector (advance orders)
    reservation_status: str | None = None  # the charger's answer to ReserveNow
    version: int = 1
    updated_at: AwareDatetime

    def _next(self, now: datetime, **changes: object) -> Order:
        return self.model_copy(update={**changes, "version": self.version + 1, "updated_at": now})

    # -- confirmation --------------------------------------------------------------------------

    def confirm(
        self,
        acceptance: TermsAcceptance | None,
        now: datetime,
        *,
        needs_approval: bool = False,
        payment_reference: str | None = None,
    ) -> Order:
        """Accept the terms and confirm: instant (window has begun), advance, or provisional."""
        if self.state != OrderState.draft:
            msg = f"order {self.id} is {self.state}, only a draft can be confirmed"
            raise ActionNotApplicable(msg)
        if acceptance is None:
            msg = (
                f"terms of service {self.terms.id} v{self.terms.version} not accepted "
                "(order tag 'terms-acceptance')"
            )
            raise TermsNotAccepted(msg, paths="message.order.tags")
        if (acceptance.terms_id, acceptance.version) != (self.terms.id, self.terms.version):
            msg = (
                f"accepted terms {acceptance.terms_id} v{acceptance.version} are not the current "
                f"{self.terms.id} v{self.terms.version}"
            )
            raise TermsNotAccepted(msg, paths="message.order.tags")
        if now > self.quote.valid_until:
            msg = f"the quote expired at {self.quote.valid_until.isoformat()}; select again"
            raise QuoteUnavailable(msg)
        kind = (
            Confirmation.provisional
            if needs_approval
            else Confirmation.instant
            if self.window_start <= now
            else Confirmation.advance
        )
        payment = self.payment
        if payment_reference is not None:
            payment = payment.model_copy(
                update={"status": PaymentStatus.paid, "reference": payment_reference}
            )
        state = OrderState.pending if needs_approval else OrderState.confirmed
        return self._next(
            now, state=state, confirmation=kind, acceptance=acceptance, payment=payment
        )

    def holding(self, reservation_id: int | None, status: str) -> Order:
        """Part of an advance confirmation: the charger's answer to ReserveNow (the id only when
        it accepted). Not a transition of its own: the version stays."""
        self._require(OrderState.confirmed, "reserved")
        return self.model_copy(
            update={"reservation_id": reservation_id, "reservation_status": status}
        )

    def approve(self, now: datetime) -> Order:
        """The operator approves a provisional order."""
        self._require(OrderState.pending, "approved")
        kind = Confirmation.instant if self.window_start <= now else Confirmation.advance
        return self._next(now, state=OrderState.confirmed, confirmation=kind)

    # -- charging ------------------------------------------------------------------------------

    def start(self, charging_transaction_id: str | None, now: datetime) -> Order:
        self._require(OrderState.confirmed, "started")
        return self._next(
            now, state=OrderState.active, charging_transaction_id=charging_transaction_id
        )

    def interrupt(self, now: datetime) -> Order:
        """The charger failed mid-session (reported once; the driver decides to stop or wait)."""
        self._require(OrderState.active, "interrupted")
        return self._next(now, interrupted_at=now)

    def stop(
        self, delivered_wh: int, billed_minor: int, now: datetime, *, metered: bool = True
    ) -> Order:
        """Charging ended: bill what was delivered, refund the rest of what was paid."""
        self._require(OrderState.active, "stopped")
        return self._next(
            now,
            state=OrderState.completed,
            delivered_wh=delivered_wh,
            settlement=Settlement(
                billed_minor=billed_minor,
                fee_minor=0,
                refund_minor=max(0, self.paid_minor - billed_minor),
                metered=metered,
            ),
        )

    def modify(
        self,
        window_start: datetime,
        window_end: datetime | None,
        mode: Mode,
        amount: int,
        quote: PricedQuote,
        now: datetime,
    ) -> Order:
        """A new window or quantity, re-quoted; allowed before charging starts."""
        if self.state not in (OrderState.draft, OrderState.pending, OrderState.confirmed):
            msg = f"order {self.id} is {self.state}; its window and quantity are fixed"
            raise UpdateNotPossible(msg)
        payment = self.payment.model_copy(update={"amount_minor": quote.total_minor})
        return self._next(
            now,
            window_start=window_start,
            window_end=window_end,
            mode=mode,
            amount=amount,
            quote=quote,
            payment=payment,
        )

    def move(self, item_id: str, charger_id: str, connector_id: int, now: datetime) -> Order:
        """Another connector for a booked order whose charger failed before charging started.
        The quote stands (the driver pays what was agreed); a reservation is made again."""
        if self.state not in (OrderState.pending, OrderState.confirmed):
            msg = f"order {self.id} is {self.state}; only a booked order can change connector"
            raise UpdateNotPossible(msg)
        return self._next(
            now,
            item_id=item_id,
            charger_id=charger_id,
            connector_id=connector_id,
            reservation_id=None,
            reservation_status=None,
        )

    # -- cancellation --------------------------------------------------------------------------

    def cancel_by_operator(self, reason: str, now: datetime) -> Order:
        """We cannot deliver (e.g. the charger failed and no other connector fits): cancelled
        with no fee, everything paid refunded."""
        if self.state in (OrderState.completed, OrderState.cancelled):
            msg = f"order {self.id} is {self.state}; it can no longer be cancelled"
            raise CancellationNotPossible(msg)
        return self._next(
            now,
            state=OrderState.cancelled,
            cancel_reason=reason,
            settlement=Settlement(billed_minor=0, fee_minor=0, refund_minor=self.paid_minor),
        )

    def cancellation_fee_minor(self, now: datetime) -> int:
        """The fee the cancellation terms charge if the order is cancelled at ``now``."""
        if self.state in (OrderState.completed, OrderState.cancelled):
            msg = f"order {self.id} is {self.state}; it can no longer be cancelled"
            raise CancellationNotPossible(msg)
        total = self.quote.total_minor
        if self.state == OrderState.active:
            return _bp(total, self.cancellation.charging_fee_bp)
        if self.state == OrderState.draft or now <= self.cancellation.free_until:
            return 0
        return _bp(total, self.cancellation.late_fee_bp)

    def cancel(self, reason: str | None, now: datetime) -> Order:
        fee = self.cancellation_fee_minor(now)
        paid = self.paid_minor
        return self._next(
            now,
            state=OrderState.cancelled,
            cancel_reason=reason,
            settlement=Settlement(billed_minor=0, fee_minor=fee, refund_minor=max(0, paid - fee)),
        )

    # -- helpers -------------------------------------------------------------------------------

    @property
    def paid_minor(self) -> int:
        return self.payment.amount_minor if self.payment.status == PaymentStatus.paid else 0

    def _require(self, state: OrderState, verb: str) -> None:
        if self.state != state:
            msg = f"order {self.id} is {self.state}; only a {state} order can be {verb}"
            raise ActionNotApplicable(msg)


class TermsNotAccepted(BusinessError):
    """Confirm without accepting the current terms of service."""


def _bp(amount_minor: int, bp: int) -> int:
    """``bp`` basis points of ``amount_minor``, rounded half up."""
    return (2 * amount_minor * bp + 10_000) // 20_000


def draft(
    *,
    order_id: str,
    transaction_id: str,
    bap_id: str,
    bap_uri: str,
    q: Quote,
    unit_price_minor_per_kwh: int,
    terms: TermsOfService,
    methods: tuple[PaymentMethod, ...],
    collected_by: Collector,
    free_cancellation_before: timedelta,
    late_fee_bp: int,
    charging_fee_bp: int,
    now: datetime,
) -> Order:
    """A new draft order for quote ``q``: payment due = the quote, cancellation free until
    ``free_cancellation_before`` the window start (but never before ``now``)."""
    priced = PricedQuote.of(q, unit_price_minor_per_kwh)
    return Order(
        id=order_id,
        transaction_id=transaction_id,
        bap_id=bap_id,
        bap_uri=bap_uri,
        provider_id=q.offer.site.operator,
        item_id=q.offer.item_id,
        charger_id=q.offer.charger_id,
        connector_id=q.offer.connector_id,
        mode=q.mode,
        amount=q.requested,
        window_start=q.start,
        window_end=q.end,
        quote=priced,
        payment=PaymentTerms(
            methods=methods,
            collected_by=collected_by,
            amount_minor=priced.total_minor,
            currency=q.currency,
        ),
        cancellation=CancellationTerms(
            free_until=max(now, q.start - free_cancellation_before),
            late_fee_bp=late_fee_bp,
            charging_fee_bp=charging_fee_bp,
        ),
        terms=terms,
        id_tag=order_id.replace("-", "")[:20],
        updated_at=now,
    )
