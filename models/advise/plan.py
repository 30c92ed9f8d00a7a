"""Charging plans over price slots: exact cheapest, cheapest single window, availability-aware.

All three take :class:`~models.advise.slots.Slots` (the stay cut into price intervals), the
energy the driver needs (kWh, > 0) and the connector's power (kW, > 0, delivered at that power
whenever the plan charges). Time inside a plan is counted in hours after arrival (floats), so
nothing is lost to µs rounding; :meth:`Plan.intervals_us` gives UTC µs for display.

* :func:`cheapest_plan` is exact: minimising ``Σ price_i · e_i`` with ``0 ≤ e_i ≤ kW · hours_i``
  and ``Σ e_i = kWh`` is a fractional knapsack, solved optimally by filling slots in increasing
  price order, the last one partly (charging from its start). Ties go to the earlier slot.
  Negative prices are simply the cheapest slots: they are filled first.
* :func:`cheapest_window` is the best single uninterrupted run of ``kWh / kW`` hours. Its cost
  is piecewise linear in the start time, so the optimum is at a start where the run begins or
  ends on a slot boundary (or at the ends of the stay); every such start is evaluated.
* :func:`availability_plan` takes ``p_i``, the probability that the connector is free in slot
  ``i`` (e.g. from an occupancy forecast). Energy is only delivered, and paid, when the
  connector is free, so it minimises the *expected* cost ``Σ p_i · price_i · x_i`` subject to the
  *expected* energy ``Σ p_i · x_i`` reaching the need, ``0 ≤ x_i ≤ kW · hours_i``. With
  ``y_i = p_i · x_i`` this is again a fractional knapsack (capacity ``p_i · kW · hours_i``), so it
  is exact too. The plan books more than the need when slots may be taken.

A request that cannot be met raises :class:`InfeasibleRequestError`, which says how much can be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chargegrid.tariffs import CURRENCY_EXPONENT
from models.advise.slots import US_PER_H, AdviceInputError, Slots

EPS_KWH = 1e-9


class InfeasibleRequestError(AdviceInputError):
    """More energy is asked for than the connector can deliver in the stay."""

    def __init__(self, need_kwh: float, possible_kwh: float, detail: str) -> None:
        self.need_kwh = need_kwh
        self.possible_kwh = possible_kwh
        super().__init__(
            f"cannot deliver {need_kwh:.3f} kWh: {detail}; at most {possible_kwh:.3f} kWh is "
            "possible"
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """Energy per slot: ``energy_kwh[i]`` delivered at full power from the start of slot ``i``
    (a window plan charges one uninterrupted run instead: ``window_h``). ``expected_kwh`` is the
    energy expected to be delivered (= ``energy_kwh`` unless availability-aware)."""

    kind: str  # exact | window | available | immediate
    slots: Slots
    power_kw: float
    energy_kwh: npt.NDArray[np.float64]
    expected_kwh: npt.NDArray[np.float64]
    window_h: tuple[float, float] | None = None  # (start, end) hours after arrival

    @property
    def cost_micro_minor(self) -> float:
        """Expected energy cost, µminor (Σ expected kWh × slot price)."""
        return float(np.dot(self.expected_kwh, self.slots.price))

    @property
    def cost(self) -> float:
        """Expected energy cost in major units of the currency (net of tax)."""
        return self.cost_micro_minor / 1e6 / 10 ** CURRENCY_EXPONENT[self.slots.currency]

    @property
    def total_kwh(self) -> float:
        return float(self.energy_kwh.sum())

    def intervals_h(self) -> list[tuple[float, float]]:
        """Charging runs (start, end) in hours after arrival, adjacent runs merged."""
        if self.window_h is not None:
            return [self.window_h]
        offsets = _offsets_h(self.slots)
        runs: list[tuple[float, float]] = []
        for i in np.nonzero(self.energy_kwh > EPS_KWH)[0]:
            start = float(offsets[i])
            end = start + float(self.energy_kwh[i]) / self.power_kw
            if runs and abs(runs[-1][1] - start) < 1e-9:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((start, end))
        return runs

    def intervals_us(self) -> list[tuple[int, int]]:
        """Charging runs in UTC µs (rounded to the µs)."""
        base = self.slots.arrival_us
        runs = self.intervals_h()
        return [(base + round(a * US_PER_H), base + round(b * US_PER_H)) for a, b in runs]


def _offsets_h(slots: Slots) -> npt.NDArray[np.float64]:
    """Slot starts in hours after arrival, plus the departure (n + 1 values)."""
    edges = np.append(slots.start_us, slots.end_us[-1]) - slots.arrival_us
    return edges.astype(np.float64) / US_PER_H


def check_request(slots: Slots, energy_kwh: float, power_kw: float) -> None:
    """Refuse a non-positive or non-finite need or power, and a need above ``kW × stay``."""
    for name, value in (("energy need (kWh)", energy_kwh), ("power (kW)", power_kw)):
        if not np.isfinite(value) or value <= 0:
            msg = f"{name} must be a positive number, not {value}"
            raise AdviceInputError(msg)
    stay_h = float(slots.hours.sum())
    possible = power_kw * stay_h
    if energy_kwh > possible * (1 + 1e-12) + EPS_KWH:
        detail = f"{power_kw:g} kW for {stay_h:.3f} h"
        raise InfeasibleRequestError(energy_kwh, possible, detail)


def fill_cheapest(
    objective: npt.NDArray[np.float64], capacity: npt.NDArray[np.float64], need: float
) -> npt.NDArray[np.float64]:
    """Fractional knapsack: amounts per slot, cheapest objective first (ties: earlier slot),
    summing to ``need`` (the caller has checked ``need <= capacity.sum()``)."""
    amounts = np.zeros(len(objective))
    remaining = need
    for i in np.argsort(objective, kind="stable"):
        if remaining <= 0:
            break
        take = min(float(capacity[i]), remaining)
        amounts[i] = take
        remaining -= take
    return amounts


def cheapest_plan(
    slots: Slots, energy_kwh: float, power_kw: float, *, carbon_price_per_kg: float = 0.0
) -> Plan:
    """The exact cheapest plan (see the module docstring). ``carbon_price_per_kg`` (µminor per
    kg CO₂) adds the slots' carbon intensity to the objective when they carry one."""
    check_request(slots, energy_kwh, power_kw)
    capacity = power_kw * slots.hours
    energy = fill_cheapest(slots.objective(carbon_price_per_kg), capacity, energy_kwh)
    return Plan("exact", slots, power_kw, energy, energy)


def immediate_plan(slots: Slots, energy_kwh: float, power_kw: float) -> Plan:
    """Charging at full power from arrival until the need is met (the usual behaviour)."""
    check_request(slots, energy_kwh, power_kw)
    duration_h = energy_kwh / power_kw
    energy = _window_energy(slots, power_kw, 0.0, duration_h)
    return Plan("immediate", slots, power_kw, energy, energy, (0.0, duration_h))


def cheapest_window(
    slots: Slots, energy_kwh: float, power_kw: float, *, carbon_price_per_kg: float = 0.0
) -> Plan:
    """The cheapest single uninterrupted run (see the module docstring); ties: earliest."""
    check_request(slots, energy_kwh, power_kw)
    starts = window_starts(slots, energy_kwh / power_kw)
    costs = window_costs(slots, starts, energy_kwh / power_kw, carbon_price_per_kg)
    best = float(starts[int(np.argmin(costs))])
    duration_h = energy_kwh / power_kw
    energy = _window_energy(slots, power_kw, best, best + duration_h)
    return Plan("window", slots, power_kw, energy, energy, (best, best + duration_h))


def window_starts(slots: Slots, duration_h: float) -> npt.NDArray[np.float64]:
    """Every start (hours after arrival) where a run of ``duration_h`` may be optimal, sorted."""
    edges = _offsets_h(slots)
    latest = max(float(edges[-1]) - duration_h, 0.0)
    candidates = np.concatenate([edges, edges - duration_h, [0.0, latest]])
    inside = candidates[(candidates >= 0.0) & (candidates <= latest)]
    return np.unique(inside)


def window_costs(
    slots: Slots,
    starts_h: npt.NDArray[np.float64],
    duration_h: float,
    carbon_price_per_kg: float = 0.0,
) -> npt.NDArray[np.float64]:
    """Objective (µminor per kW of power) of runs of ``duration_h`` from each start."""
    edges = _offsets_h(slots)
    objective = slots.objective(carbon_price_per_kg)
    cumulative = np.concatenate([[0.0], np.cumsum(objective * np.diff(edges))])

    def integral(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        i = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(objective) - 1)
        return np.asarray(cumulative[i] + objective[i] * (t - edges[i]), np.float64)

    return integral(starts_h + duration_h) - integral(starts_h)


def _window_energy(
    slots: Slots, power_kw: float, start_h: float, end_h: float
) -> npt.NDArray[np.float64]:
    edges = _offsets_h(slots)
    overlap = np.clip(np.minimum(edges[1:], end_h) - np.maximum(edges[:-1], start_h), 0.0, None)
    return np.asarray(power_kw * overlap, np.float64)


def availability_plan(
    slots: Slots,
    energy_kwh: float,
    power_kw: float,
    free_probability: npt.ArrayLike,
    *,
    carbon_price_per_kg: float = 0.0,
) -> Plan:
    """The cheapest plan in expectation when slot ``i``'s connector is free with probability
    ``free_probability[i]`` (see the module docstring)."""
    check_request(slots, energy_kwh, power_kw)
    p = np.asarray(free_probability, np.float64)
    if p.shape != (len(slots),) or not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        msg = f"free probability needs one value in [0, 1] per slot ({len(slots)} slots)"
        raise AdviceInputError(msg)
    capacity = p * power_kw * slots.hours
    possible = float(capacity.sum())
    if energy_kwh > possible + EPS_KWH:
        detail = "the connector is expected to be taken for too much of the stay"
        raise InfeasibleRequestError(energy_kwh, possible, detail)
    expected = fill_cheapest(slots.objective(carbon_price_per_kg), capacity, energy_kwh)
    booked = np.divide(expected, p, out=np.zeros_like(expected), where=p > 0)
    return Plan("available", slots, power_kw, booked, expected)
