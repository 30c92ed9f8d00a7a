"""Quotes (``select``): by energy, by minutes, or by money (a budget), now or for a window.

Prices come from a :class:`Pricer`. The billing kernel (``pipeline/kernels/billing.py``) has not
landed yet, so :class:`FlatRatePricer` (one energy rate plus a tax in basis points) stands in; a
kernel-backed pricer only has to implement the same protocol.

Units: energy Wh, power W, time s, money integer minor units of ``currency``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from orders.domain.catalog import Availability, Catalog, Offer
from orders.errors import InvalidRequest, ItemNotFound, QuantityUnavailable

QUOTE_VALIDITY = timedelta(minutes=15)
BOOKING_HORIZON = timedelta(days=366)  # how far ahead a charging window may lie
PAST_START_TOLERANCE = timedelta(days=1)  # a window that began earlier is refused


class Mode(StrEnum):
    energy = "energy"  # charge this many Wh
    duration = "duration"  # charge for this many seconds
    budget = "budget"  # charge until this much money is spent; bill delivered, refund the rest


class LineKind(StrEnum):
    energy = "energy"
    fee = "fee"
    tax = "tax"


@dataclass(frozen=True)
class QuoteLine:
    kind: LineKind
    title: str
    amount_minor: int
    energy_wh: int | None = None


class Pricer(Protocol):
    @property
    def currency(self) -> str:
        """ISO 4217 code of every amount this pricer returns."""
        ...

    def unit_price_minor_per_kwh(self, offer: Offer, at: datetime) -> int:
        """Indicative energy price shown in the catalog."""
        ...

    def lines(self, offer: Offer, energy_wh: int, start: datetime) -> list[QuoteLine]:
        """Breakup of delivering ``energy_wh`` on ``offer`` starting at ``start``."""
        ...


@dataclass(frozen=True)
class FlatRatePricer:
    """One energy rate for every connector and hour, plus a proportional tax."""

    currency: str
    price_minor_per_kwh: int
    tax_bp: int = 0  # basis points of the energy cost

    def unit_price_minor_per_kwh(self, offer: Offer, at: datetime) -> int:
        return self.price_minor_per_kwh

    def lines(self, offer: Offer, energy_wh: int, start: datetime) -> list[QuoteLine]:
        energy_minor = _round_div(energy_wh * self.price_minor_per_kwh, 1000)
        out = [QuoteLine(LineKind.energy, "charging session cost", energy_minor, energy_wh)]
        if self.tax_bp:
            out.append(
                QuoteLine(LineKind.tax, "tax", _round_div(energy_minor * self.tax_bp, 10_000))
            )
        return out


def _round_div(numerator: int, denominator: int) -> int:
    """Round half up of a non-negative ratio of integers."""
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class QuoteRequest:
    item_id: str
    mode: Mode
    amount: int  # Wh, s or minor units, per ``mode``
    start: datetime | None = None  # None: now
    end: datetime | None = None


@dataclass(frozen=True)
class Quote:
    offer: Offer
    mode: Mode
    requested: int  # the request's amount (Wh, s or minor units)
    energy_wh: int  # energy priced (requested, or expected from minutes/budget)
    lines: tuple[QuoteLine, ...]
    currency: str
    start: datetime
    end: datetime | None
    valid_until: datetime

    @property
    def total_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)


def quote(catalog: Catalog, request: QuoteRequest, pricer: Pricer, now: datetime) -> Quote:
    """Price ``request``; raises :class:`ItemNotFound` / :class:`QuantityUnavailable`."""
    offer = catalog.offers.get(request.item_id)
    if offer is None:
        msg = f"no connector {request.item_id!r} in our catalog"
        raise ItemNotFound(msg)
    if request.amount <= 0:
        msg = "the selected quantity must be positive"
        raise InvalidRequest(msg, paths="message.order.items[0].quantity.selected.measure.value")
    start = request.start or now
    _check_horizon(start, request.end, now)
    if request.end is not None and request.end <= start:
        msg = "the charging window ends before it starts"
        raise InvalidRequest(msg, paths="message.order.fulfillments[0].stops")
    _check_available(catalog, offer, immediate=request.start is None or request.start <= now)
    energy_wh = _energy_for(request, offer, pricer, start)
    _check_fits(offer, energy_wh, start, request.end)
    lines = tuple(pricer.lines(offer, energy_wh, start))
    return Quote(
        offer,
        request.mode,
        request.amount,
        energy_wh,
        lines,
        pricer.currency,
        start,
        request.end,
        now + QUOTE_VALIDITY,
    )


def _check_horizon(start: datetime, end: datetime | None, now: datetime) -> None:
    """The window lies between yesterday and ``BOOKING_HORIZON`` ahead (anything else is a typo
    or garbage, and its arithmetic could leave the calendar)."""
    path = "message.order.fulfillments[0].stops"
    if start < now - PAST_START_TOLERANCE:
        msg = "the charging window starts in the past"
        raise InvalidRequest(msg, paths=path)
    if max(start, end or start) > now + BOOKING_HORIZON:
        msg = f"charging can be booked at most {BOOKING_HORIZON.days} days ahead"
        raise InvalidRequest(msg, paths=path)


def _energy_for(request: QuoteRequest, offer: Offer, pricer: Pricer, start: datetime) -> int:
    if request.mode == Mode.energy:
        return request.amount
    if request.mode == Mode.duration:
        return int(offer.max_power_w * request.amount / 3600)
    return _energy_within_budget(offer, request.amount, pricer, start)


def _energy_within_budget(offer: Offer, budget_minor: int, pricer: Pricer, start: datetime) -> int:
    """The most Wh whose total price stays within ``budget_minor`` (bisection, price monotone)."""

    def total(wh: int) -> int:
        return sum(line.amount_minor for line in pricer.lines(offer, wh, start))

    lo, hi = 0, 1
    while total(hi) <= budget_minor and hi < 10**12:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if total(mid) <= budget_minor else (lo, mid)
    if lo == 0:
        msg = f"a budget of {budget_minor} minor units buys no energy"
        raise QuantityUnavailable(msg)
    return lo


def _check_available(catalog: Catalog, offer: Offer, *, immediate: bool) -> None:
    """An unavailable connector (or one occupied now, for an immediate charge) is refused, naming
    compatible free connectors at the same site."""
    blocked = offer.availability == Availability.unavailable or (
        immediate and offer.availability == Availability.occupied
    )
    if not blocked:
        return
    alternatives = [
        o.item_id
        for o in catalog.offers.values()
        if o.site == offer.site
        and o.item_id != offer.item_id
        and o.connector_type == offer.connector_type
        and o.availability == Availability.available
    ]
    tail = f"; alternatives: {', '.join(alternatives)}" if alternatives else ""
    msg = f"connector {offer.item_id} is {offer.availability.value.lower()}{tail}"
    raise QuantityUnavailable(msg)


def _check_fits(offer: Offer, energy_wh: int, start: datetime, end: datetime | None) -> None:
    if end is None:
        return
    deliverable_wh = offer.max_power_w * (end - start).total_seconds() / 3600
    if energy_wh > deliverable_wh:
        msg = (
            f"{energy_wh} Wh cannot be delivered by a {offer.max_power_w:.0f} W connector "
            f"between {start.isoformat()} and {end.isoformat()}"
        )
        raise QuantityUnavailable(msg)
