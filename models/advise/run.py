"""``chargegrid advise plan``: parse a request, make every plan, print them with their bills."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from chargegrid.tariffs import PriceSeries, Tariff, from_us, load_tariff
from models.advise.billing import bill_plan, bill_total
from models.advise.plan import (
    Plan,
    availability_plan,
    cheapest_plan,
    cheapest_window,
    immediate_plan,
)
from models.advise.slots import (
    US_PER_H,
    AdviceInputError,
    Slots,
    load_prices,
    per_slot,
    refine,
    tariff_slots,
)


@dataclass(frozen=True, slots=True)
class Request:
    """A driver's stay (tz-aware), energy need (kWh) and the connector's power (kW)."""

    arrival: datetime
    departure: datetime
    energy_kwh: float
    power_kw: float


def parse_moment(text: str, what: str) -> datetime:
    """ISO 8601 with an offset (``2019-03-31T01:30+01:00``, ``...Z``); naive is refused."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        msg = f"{what}: {text!r} is not an ISO 8601 date-time"
        raise AdviceInputError(msg) from None
    if moment.tzinfo is None:
        msg = f"{what}: {text!r} has no UTC offset (add e.g. +01:00 or Z)"
        raise AdviceInputError(msg)
    return moment


def parse_probabilities(text: str) -> list[float]:
    """``"0.9,0.8,1"`` → floats (range checked by the plan)."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        msg = f"--free: {text!r} is not a comma-separated list of probabilities"
        raise AdviceInputError(msg) from None


def hourly_free(slots: Slots, free: list[float]) -> tuple[Slots, np.ndarray]:
    """Slots cut at each hour after arrival, with ``free[h]`` for hour ``h`` of the stay."""
    bounds = slots.arrival_us + np.arange(len(free) + 1, dtype=np.int64) * US_PER_H
    fine = refine(slots, bounds)
    what = f"free probability (one per hour of the stay: give {int(np.ceil(fine.hours.sum()))})"
    return fine, per_slot(fine, bounds[:-1], bounds[1:], free, what=what)


def make_plans(
    request: Request,
    tariff: Tariff,
    prices: PriceSeries | None = None,
    free: list[float] | None = None,
) -> list[Plan]:
    """Immediate, exact, window and (with ``free``) availability-aware plans."""
    slots = tariff_slots(tariff, request.arrival, request.departure, prices)
    kwh, kw = request.energy_kwh, request.power_kw
    plans = [immediate_plan(slots, kwh, kw), cheapest_plan(slots, kwh, kw)]
    plans.append(cheapest_window(slots, kwh, kw))
    if free is not None:
        fine, probability = hourly_free(slots, free)
        plans.append(availability_plan(fine, kwh, kw, probability))
    return plans


def plan_report(
    request: Request,
    tariff: Tariff,
    prices: PriceSeries | None = None,
    free: list[float] | None = None,
) -> str:
    """Each plan's charging runs (tariff-local time), energy cost, saving, and kernel bill."""
    plans = make_plans(request, tariff, prices, free)
    zone = tariff.zone
    base = plans[0].cost
    cur = tariff.currency
    lines = [
        f"{request.energy_kwh:g} kWh at {request.power_kw:g} kW, "
        f"{request.arrival.astimezone(zone):%Y-%m-%d %H:%M %Z} → "
        f"{request.departure.astimezone(zone):%Y-%m-%d %H:%M %Z}, tariff {tariff.id}",
        "",
        f"{'plan':<10} {'energy ' + cur:>11} {'saving %':>9} {'bill ' + cur:>10}  charging runs",
    ]
    for plan in plans:
        bill = bill_total(bill_plan(plan, tariff, prices)) if plan.kind != "available" else None
        saving = 100.0 * (base - plan.cost) / abs(base) if base else 0.0
        runs = ", ".join(
            f"{from_us(a).astimezone(zone):%d %H:%M}–{from_us(b).astimezone(zone):%H:%M}"
            for a, b in plan.intervals_us()
        )
        bill_text = "–" if bill is None else f"{bill:,.2f}"
        lines.append(f"{plan.kind:<10} {plan.cost:>11,.4f} {saving:>9.2f} {bill_text:>10}  {runs}")
    if free is not None:
        booked = plans[-1].total_kwh
        lines.append(
            f"\navailable: energy cost and runs are expected values; {booked:.2f} kWh booked so "
            f"that {request.energy_kwh:g} kWh are expected (connector free with the given "
            "probabilities)"
        )
    lines.append("bill: the billing kernel's total for the plan (fees, per-minute prices, taxes)")
    return "\n".join(lines)


def plan_command(
    arrival: str,
    departure: str,
    energy_kwh: float,
    power_kw: float,
    tariff_path: Path,
    price_paths: list[Path],
    free: str | None = None,
) -> str:
    """Everything ``chargegrid advise plan`` does after parsing its options."""
    request = Request(
        parse_moment(arrival, "--arrival"),
        parse_moment(departure, "--departure"),
        energy_kwh,
        power_kw,
    )
    tariff = load_tariff(tariff_path)
    probabilities = parse_probabilities(free) if free is not None else None
    return plan_report(request, tariff, load_prices(price_paths), probabilities)
