"""The order aggregate's state machine, terms of service, cancellation fees and refunds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orders.domain.orders import (
    Collector,
    Confirmation,
    Order,
    OrderState,
    PaymentMethod,
    TermsAcceptance,
    TermsNotAccepted,
    TermsOfService,
    draft,
)
from orders.domain.quote import Mode, QuoteRequest, quote
from orders.errors import ActionNotApplicable, CancellationNotPossible, UpdateNotPossible
from tests.orders.support import PRICER, T_EXAMPLE, catalog

TERMS = TermsOfService(id="tos", version="3", url="http://x/tos/3")
ACCEPT = TermsAcceptance(terms_id="tos", version="3", accepted_at=T_EXAMPLE)


def new_order(start_in_s: float = 0.0, kwh: int = 4) -> Order:
    start = T_EXAMPLE + timedelta(seconds=start_in_s) if start_in_s else None
    q = quote(
        catalog(), QuoteRequest("pe-charging-01", Mode.energy, kwh * 1000, start), PRICER, T_EXAMPLE
    )
    return draft(
        order_id="o-1",
        transaction_id="t-1",
        bap_id="bap",
        bap_uri="http://bap",
        q=q,
        unit_price_minor_per_kwh=800,
        terms=TERMS,
        methods=(PaymentMethod.card, PaymentMethod.upi),
        collected_by=Collector.bpp,
        free_cancellation_before=timedelta(minutes=30),
        late_fee_bp=1000,
        charging_fee_bp=3000,
        now=T_EXAMPLE,
    )


def paid(order: Order, at_s: float = 0.0) -> Order:
    return order.confirm(ACCEPT, T_EXAMPLE + timedelta(seconds=at_s), payment_reference="pay-1")


def test_draft_asks_the_quoted_total_as_payment() -> None:
    order = new_order()
    assert order.state == OrderState.draft
    assert order.payment.amount_minor == order.quote.total_minor == 3776  # 32 + 18 % tax


def test_confirm_without_accepting_the_terms_is_a_business_error() -> None:
    with pytest.raises(TermsNotAccepted) as err:
        new_order().confirm(None, T_EXAMPLE)
    assert err.value.code == "40000"
    assert "tos v3" in str(err.value)


def test_confirm_with_an_older_terms_version_is_refused() -> None:
    old = TermsAcceptance(terms_id="tos", version="2", accepted_at=T_EXAMPLE)
    with pytest.raises(TermsNotAccepted):
        new_order().confirm(old, T_EXAMPLE)


def test_acceptance_is_recorded_on_the_confirmed_order() -> None:
    order = paid(new_order())
    assert order.acceptance == ACCEPT
    assert order.state == OrderState.confirmed
    assert order.confirmation == Confirmation.instant
    assert order.version == 2


def test_future_window_is_an_advance_confirmation_and_approval_needs_pending() -> None:
    assert paid(new_order(start_in_s=3600)).confirmation == Confirmation.advance
    pending = new_order().confirm(ACCEPT, T_EXAMPLE, needs_approval=True)
    assert pending.state == OrderState.pending
    assert pending.approve(T_EXAMPLE).state == OrderState.confirmed
    with pytest.raises(ActionNotApplicable):
        pending.start("1", T_EXAMPLE)


def test_cancel_is_free_until_the_cutoff_then_charges_the_late_fee() -> None:
    order = paid(new_order(start_in_s=3600))  # window in 1 h, free until 30 min before
    free = order.cancel("changed plans", T_EXAMPLE + timedelta(minutes=29))
    assert free.settlement is not None
    assert (free.settlement.fee_minor, free.settlement.refund_minor) == (0, 3776)
    late = order.cancel(None, T_EXAMPLE + timedelta(minutes=31))
    assert late.settlement is not None
    assert (late.settlement.fee_minor, late.settlement.refund_minor) == (378, 3398)


def test_cancel_after_charging_started_charges_the_percentage() -> None:
    active = paid(new_order()).start("7", T_EXAMPLE)
    done = active.cancel(None, T_EXAMPLE)
    assert done.settlement is not None
    assert done.settlement.fee_minor == 1133  # 30 % of 37.76
    assert done.state == OrderState.cancelled


def test_no_cancellation_after_completion() -> None:
    completed = paid(new_order()).start("7", T_EXAMPLE).stop(3000, 2832, T_EXAMPLE)
    with pytest.raises(CancellationNotPossible) as err:
        completed.cancel(None, T_EXAMPLE)
    assert err.value.code == "50001"


def test_stop_bills_what_was_delivered_and_refunds_the_rest() -> None:
    completed = paid(new_order()).start("7", T_EXAMPLE).stop(3000, 2832, T_EXAMPLE)
    assert completed.settlement is not None
    assert completed.settlement.refund_minor == 3776 - 2832
    assert completed.delivered_wh == 3000


def test_window_and_quantity_are_fixed_once_charging_started() -> None:
    active = paid(new_order()).start("7", T_EXAMPLE)
    with pytest.raises(UpdateNotPossible):
        active.modify(T_EXAMPLE, None, Mode.energy, 1000, active.quote, T_EXAMPLE)


def test_an_expired_quote_cannot_be_confirmed() -> None:
    with pytest.raises(Exception, match="expired"):
        new_order().confirm(ACCEPT, T_EXAMPLE + timedelta(hours=1))


def test_order_round_trips_through_json() -> None:
    order = paid(new_order())
    assert Order.model_validate_json(order.model_dump_json()) == order
