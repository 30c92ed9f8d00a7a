"""Suggested cheaper start times for a Beckn quote window.

:func:`suggest_starts` answers "when could this driver start instead, and what would it save?"
for a quote: the driver offers a window (earliest start, latest end), an energy need and the
connector's power. The answer lists up to ``count`` uninterrupted charging runs inside the
window, cheapest first, each cheaper than starting at the window's start by at least
``min_saving_pct`` percent of the energy cost, and no two overlapping (so they are real
alternatives, not the same run shifted by a minute). Prices are the tariff's energy prices
(day-ahead plus margin for a dynamic tariff, which needs ``prices``); per-minute connected fees
and taxes do not depend on the start and are left to the quote.

Example (the lead wires this into ``orders`` when building ``on_select``/``on_init``)::

    for s in suggest_starts(tariff, window_start, window_end, 20.0, 7.4, prices=series):
        offer(s.start, s.end, s.saving_pct)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from chargegrid.tariffs import CURRENCY_EXPONENT, PriceSeries, Tariff, from_us
from models.advise.plan import check_request, window_costs, window_starts
from models.advise.slots import US_PER_H, tariff_slots


@dataclass(frozen=True, slots=True)
class SuggestedStart:
    """One alternative run: start and end (UTC), its energy cost (major units, net of tax)
    and the saving against starting at the window's start (major units and % of that cost)."""

    start: datetime
    end: datetime
    energy_cost: float
    saving: float
    saving_pct: float


def suggest_starts(
    tariff: Tariff,
    window_start: datetime,
    window_end: datetime,
    energy_kwh: float,
    power_kw: float,
    *,
    prices: PriceSeries | None = None,
    count: int = 3,
    min_saving_pct: float = 1.0,
) -> list[SuggestedStart]:
    """Up to ``count`` cheaper, non-overlapping start times (see the module docstring).

    Raises :class:`~models.advise.plan.InfeasibleRequestError` when the need does not fit the
    window at ``power_kw`` and :class:`~models.advise.slots.AdviceInputError` (or a
    :class:`~chargegrid.tariffs.TariffError` for missing prices) for unusable input. An empty
    list means starting at once is already (about) the cheapest.
    """
    slots = tariff_slots(tariff, window_start, window_end, prices)
    check_request(slots, energy_kwh, power_kw)
    duration_h = energy_kwh / power_kw
    starts = window_starts(slots, duration_h)
    costs = window_costs(slots, starts, duration_h) * power_kw
    now_cost = float(window_costs(slots, np.array([0.0]), duration_h)[0]) * power_kw
    scale = 1e6 * 10 ** CURRENCY_EXPONENT[tariff.currency]
    chosen: list[SuggestedStart] = []
    taken: list[float] = []
    for i in np.argsort(costs, kind="stable"):
        start_h = float(starts[i])
        saving = now_cost - float(costs[i])
        pct = 100.0 * saving / abs(now_cost) if now_cost else (100.0 if saving > 0 else 0.0)
        if len(chosen) == count or saving <= 0 or pct < min_saving_pct:
            break
        if any(abs(start_h - other) < duration_h for other in taken):
            continue
        taken.append(start_h)
        begin_us = slots.arrival_us + round(start_h * US_PER_H)
        chosen.append(
            SuggestedStart(
                start=from_us(begin_us),
                end=from_us(begin_us + round(duration_h * US_PER_H)),
                energy_cost=float(costs[i]) / scale,
                saving=saving / scale,
                saving_pct=pct,
            )
        )
    return chosen
