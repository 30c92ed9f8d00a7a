"""Price a plan with the billing kernel: the same code that bills the session afterwards.

A plan becomes a meter-register profile (a reading at arrival, at the start and end of each
charging run, and at departure; the kernel spreads energy linearly between readings, which is
exactly constant power inside a run) and goes through :func:`pipeline.billing.bill_sessions`, so
per-minute prices, session fees, minimums, caps and taxes are those of the final bill.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from chargegrid.tariffs import BreakupLine, PriceSeries, Tariff, from_us
from models.advise.plan import Plan
from pipeline.billing import BillingOptions, bill_sessions

# Runs can be hours apart: the kernel's gap rule only flags them, energy stays where it is.
_NO_GAP = BillingOptions(gap_s=1e12)


def plan_profile(plan: Plan) -> tuple[list[datetime], list[float]]:
    """Reading times (UTC) and cumulative Wh of ``plan`` from arrival to departure."""
    points: dict[int, float] = {plan.slots.arrival_us: 0.0}
    delivered_wh = 0.0
    for start, end in plan.intervals_us():
        points.setdefault(start, delivered_wh)
        delivered_wh += (end - start) / 3.6e9 * plan.power_kw * 1000.0
        points[end] = delivered_wh
    points.setdefault(plan.slots.departure_us, delivered_wh)
    ordered = sorted(points.items())
    return [from_us(t) for t, _ in ordered], [wh for _, wh in ordered]


def bill_plan(plan: Plan, tariff: Tariff, prices: PriceSeries | None = None) -> list[BreakupLine]:
    """The bill ``tariff`` would give for ``plan`` delivered as planned (all lines, taxes)."""
    times, energy_wh = plan_profile(plan)
    readings = pl.DataFrame(
        {"session_id": ["plan"] * len(times), "ts": times, "energy_register_wh": energy_wh}
    )
    return bill_sessions(readings, tariff, prices=prices, options=_NO_GAP).breakup("plan")


def bill_total(lines: list[BreakupLine]) -> float:
    """A bill's total in major units."""
    return float(sum(line.amount for line in lines))
