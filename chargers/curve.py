"""A vehicle's charging curve, as pure functions of the time since plug-in.

Model: the car takes a constant power ``plateau_w = min(plan.max_power_w, cap_w)`` until its state
of charge reaches :data:`TAPER_START_PCT`; above it the power falls linearly with the state of
charge to ``end_w`` at 100 %. Charging stops once ``plan.energy_wh`` is delivered (the car is then
idle but plugged in, power 0) and never before. ``end_w`` is :data:`TAPER_END_FRACTION` of the
plateau, but not below :data:`ONBOARD_FLOOR_W`: a car charging at AC wallbox power barely tapers.

With power linear in the delivered energy ``x`` above the taper start, ``dx/dt = P0 - m·x``, so
``x(t) = (P0/m)·(1 - exp(-m·t))`` and the time to deliver ``x`` is ``ln(P0 / (P0 - m·x)) / m``:
closed forms, no integration error. The register moves by exactly ``plan.energy_wh`` between
plug-in and plug-out (the final value is the integer itself, not a sum of floats).

Battery size and starting state of charge are assumptions; the delivered energy is the fact. When
the energy does not fit in the battery from ``soc_start_pct``, the car is assumed to arrive emptier
(and, if even an empty battery is too small, to have a battery of exactly that energy).

Units: time offsets in seconds since plug-in, energy in Wh, power in W, state of charge in %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chargegrid.errors import ChargegridError
from chargegrid.events import Reason
from chargegrid.plans import PlannedSession

TAPER_START_PCT = 80.0
TAPER_END_FRACTION = 0.1
ONBOARD_FLOOR_W = 7_400.0
_S_PER_H = 3600.0


class InfeasiblePlan(ChargegridError):
    """The planned energy cannot be delivered within the plug-in window at the allowed power."""

    reason = Reason.energy_exceeds_outlet

    def __init__(self, plan: PlannedSession, needed_s: float) -> None:
        self.plan = plan
        self.needed_s = needed_s
        super().__init__(
            f"{plan.ref}: {plan.energy_wh} Wh needs {needed_s:.0f} s at up to "
            f"{plan.max_power_w:.0f} W but the car is plugged in for {plan.duration_s:.0f} s"
        )


@dataclass(frozen=True, slots=True)
class ChargeCurve:
    """Power and delivered energy of one planned session, by seconds since plug-in."""

    energy_wh: int
    duration_s: float
    battery_wh: float
    soc_start_pct: float
    plateau_w: float
    end_w: float
    meter_start_wh: int = 0

    @property
    def taper_start_wh(self) -> float:
        """Energy delivered when the state of charge reaches the taper start (>= 0)."""
        return max(0.0, (TAPER_START_PCT - self.soc_start_pct) / 100.0 * self.battery_wh)

    @property
    def _slope_w_per_wh(self) -> float:
        """How much power falls per Wh delivered above the taper start (W/Wh)."""
        taper_span_wh = (100.0 - TAPER_START_PCT) / 100.0 * self.battery_wh
        return (self.plateau_w - self.end_w) / taper_span_wh

    @property
    def _taper_entry_w(self) -> float:
        """Power at the moment the curve is first in the taper (lower if it starts above 80 %)."""
        already_wh = max(0.0, (self.soc_start_pct - TAPER_START_PCT) / 100.0 * self.battery_wh)
        return self.plateau_w - self._slope_w_per_wh * already_wh

    @property
    def done_s(self) -> float:
        """Seconds from plug-in until the planned energy is delivered."""
        return _seconds_to_deliver(self, float(self.energy_wh))

    def delivered_wh(self, t_s: float) -> float:
        """Energy delivered ``t_s`` seconds after plug-in, in [0, energy_wh]; exact at the end."""
        if t_s <= 0:
            return 0.0
        if t_s >= self.done_s:
            return float(self.energy_wh)
        return min(_free_delivery_wh(self, t_s), float(self.energy_wh))

    def register_wh(self, t_s: float) -> float:
        """The meter register (Wh) ``t_s`` seconds after plug-in."""
        return self.meter_start_wh + self.delivered_wh(t_s)

    @property
    def meter_stop_wh(self) -> int:
        return self.meter_start_wh + self.energy_wh

    def power_w(self, t_s: float) -> float:
        """Power drawn ``t_s`` seconds after plug-in (0 outside charging)."""
        if t_s < 0 or t_s >= self.done_s or self.energy_wh == 0:
            return 0.0
        return _power_at_energy_w(self, self.delivered_wh(t_s))

    def soc_pct(self, t_s: float) -> float:
        """Vehicle state of charge ``t_s`` seconds after plug-in."""
        soc = self.soc_start_pct + self.delivered_wh(t_s) / self.battery_wh * 100.0
        return min(100.0, soc)


def _power_at_energy_w(curve: ChargeCurve, delivered_wh: float) -> float:
    over_wh = delivered_wh - curve.taper_start_wh
    if over_wh <= 0:
        return curve.plateau_w
    return max(curve.end_w, curve._taper_entry_w - curve._slope_w_per_wh * over_wh)


def _free_delivery_wh(curve: ChargeCurve, t_s: float) -> float:
    """Energy delivered by ``t_s`` if charging never stopped at the target (closed form)."""
    plateau_s = curve.taper_start_wh / curve.plateau_w * _S_PER_H
    if t_s <= plateau_s:
        return curve.plateau_w * t_s / _S_PER_H
    slope = curve._slope_w_per_wh / _S_PER_H  # 1/s
    tail_s = t_s - plateau_s
    entry_w = curve._taper_entry_w
    if slope == 0:
        return curve.taper_start_wh + entry_w * tail_s / _S_PER_H
    return curve.taper_start_wh + entry_w / (slope * _S_PER_H) * -math.expm1(-slope * tail_s)


def _seconds_to_deliver(curve: ChargeCurve, energy_wh: float) -> float:
    """Inverse of :func:`_free_delivery_wh`."""
    plateau_wh = curve.taper_start_wh
    if energy_wh <= plateau_wh:
        return energy_wh / curve.plateau_w * _S_PER_H
    plateau_s = plateau_wh / curve.plateau_w * _S_PER_H
    slope = curve._slope_w_per_wh / _S_PER_H
    over_wh = energy_wh - plateau_wh
    entry_w = curve._taper_entry_w
    if slope == 0:
        return plateau_s + over_wh / entry_w * _S_PER_H
    remaining_w = entry_w - slope * _S_PER_H * over_wh
    return plateau_s - math.log1p(-(entry_w - remaining_w) / entry_w) / slope


def _battery(plan: PlannedSession) -> tuple[float, float]:
    """(battery_wh, soc_start_pct) adjusted so the planned energy fits in the battery."""
    room_wh = (100.0 - plan.soc_start_pct) / 100.0 * plan.battery_wh
    if plan.energy_wh <= room_wh:
        return plan.battery_wh, plan.soc_start_pct
    if plan.energy_wh <= plan.battery_wh:
        return plan.battery_wh, 100.0 * (1.0 - plan.energy_wh / plan.battery_wh)
    return float(plan.energy_wh), 0.0


def build_curve(
    plan: PlannedSession, *, cap_w: float | None = None, meter_start_wh: int = 0
) -> ChargeCurve:
    """The curve of ``plan``, power limited to ``cap_w`` too; no feasibility check."""
    if cap_w is not None and not cap_w > 0:
        msg = f"{plan.ref}: power cap must be positive, not {cap_w}"
        raise ValueError(msg)
    plateau_w = plan.max_power_w if cap_w is None else min(plan.max_power_w, cap_w)
    battery_wh, soc_start = _battery(plan)
    end_w = min(plateau_w, max(TAPER_END_FRACTION * plateau_w, ONBOARD_FLOOR_W))
    return ChargeCurve(
        energy_wh=plan.energy_wh,
        duration_s=plan.duration_s,
        battery_wh=battery_wh,
        soc_start_pct=soc_start,
        plateau_w=plateau_w,
        end_w=end_w,
        meter_start_wh=meter_start_wh,
    )


def feasible(plan: PlannedSession, *, cap_w: float | None = None) -> bool:
    """Whether the planned energy can be delivered between plug-in and plug-out."""
    return build_curve(plan, cap_w=cap_w).done_s <= plan.duration_s


def charge_curve(
    plan: PlannedSession, *, cap_w: float | None = None, meter_start_wh: int = 0
) -> ChargeCurve:
    """The curve of ``plan``; raises :class:`InfeasiblePlan` when it cannot deliver in time."""
    curve = build_curve(plan, cap_w=cap_w, meter_start_wh=meter_start_wh)
    if curve.done_s > plan.duration_s:
        raise InfeasiblePlan(plan, curve.done_s)
    return curve
