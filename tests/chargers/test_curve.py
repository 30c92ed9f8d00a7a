from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chargegrid.events import Reason
from chargegrid.plans import PlannedSession
from chargers.curve import (
    TAPER_START_PCT,
    InfeasiblePlan,
    build_curve,
    charge_curve,
    feasible,
)

T0 = datetime(2024, 3, 31, 0, 30, tzinfo=UTC)


def plan(
    energy_wh: int,
    hours: float,
    max_power_w: float,
    *,
    battery_wh: float = 60_000.0,
    soc_start_pct: float = 20.0,
) -> PlannedSession:
    return PlannedSession(
        ref="test:1",
        charger_id="CP1",
        connector_id=1,
        id_tag="TAG1",
        plug_in=T0,
        plug_out=T0 + timedelta(hours=hours),
        energy_wh=energy_wh,
        max_power_w=max_power_w,
        battery_wh=battery_wh,
        soc_start_pct=soc_start_pct,
    )


feasible_plans = st.builds(
    plan,
    energy_wh=st.integers(0, 150_000),
    hours=st.floats(0.0, 48.0),
    max_power_w=st.floats(1_000.0, 350_000.0),
    battery_wh=st.floats(10_000.0, 120_000.0),
    soc_start_pct=st.floats(0.0, 100.0),
).filter(feasible)


@settings(max_examples=300, deadline=None)
@given(p=feasible_plans, meter_start=st.integers(0, 10**9))
def test_register_delta_is_exactly_the_planned_energy(p: PlannedSession, meter_start: int) -> None:
    curve = charge_curve(p, meter_start_wh=meter_start)
    assert curve.register_wh(p.duration_s) - curve.register_wh(0) == p.energy_wh
    assert curve.register_wh(p.duration_s) == curve.meter_stop_wh


@settings(max_examples=200, deadline=None)
@given(p=feasible_plans, fractions=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=30))
def test_register_is_monotone_and_power_is_capped(
    p: PlannedSession, fractions: list[float]
) -> None:
    curve = charge_curve(p)
    times = sorted(f * p.duration_s for f in fractions)
    registers = [curve.register_wh(t) for t in times]
    assert registers == sorted(registers)
    assert all(0 <= curve.power_w(t) <= p.max_power_w for t in times)


@settings(max_examples=200, deadline=None)
@given(p=feasible_plans, a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0))
def test_power_only_falls_above_taper_start(p: PlannedSession, a: float, b: float) -> None:
    curve = charge_curve(p)
    t1, t2 = sorted((a * curve.done_s, b * curve.done_s))
    assume(t2 < curve.done_s)
    if curve.soc_pct(t1) > TAPER_START_PCT:
        assert curve.power_w(t2) <= curve.power_w(t1) + 1e-6
    if curve.soc_pct(t2) <= TAPER_START_PCT:
        assert curve.power_w(t2) == pytest.approx(curve.plateau_w)


def test_dc_session_tapers_above_80_percent() -> None:
    curve = charge_curve(plan(45_000, 3.0, 50_000.0, battery_wh=60_000.0, soc_start_pct=20.0))
    at_80_s = 36_000 / 50_000 * 3600  # 36 kWh to reach 80 %
    assert curve.power_w(at_80_s - 60) == pytest.approx(50_000.0)
    assert curve.power_w(at_80_s + 600) < 50_000.0
    assert curve.power_w(curve.done_s - 1) < curve.power_w(at_80_s + 600)


def test_power_is_zero_once_energy_delivered_car_stays_plugged() -> None:
    curve = charge_curve(plan(7_000, 5.0, 7_000.0))
    assert curve.done_s == pytest.approx(3600.0)
    assert curve.power_w(3599.0) == pytest.approx(7_000.0)
    assert curve.power_w(3600.0) == 0.0
    assert curve.register_wh(4 * 3600) == 7_000


def test_ac_wallbox_barely_tapers() -> None:
    curve = build_curve(plan(50_000, 10.0, 7_000.0, soc_start_pct=0.0))
    assert curve.end_w == curve.plateau_w


def test_connector_cap_limits_power() -> None:
    curve = charge_curve(plan(7_000, 2.0, 22_000.0), cap_w=3_700.0)
    assert curve.power_w(10.0) == pytest.approx(3_700.0)


def test_energy_above_outlet_is_infeasible_with_a_reason() -> None:
    p = plan(1_430_000, 5.0, 7_000.0)  # the 1,430 kWh on a 7 kW outlet trap
    assert not feasible(p)
    with pytest.raises(InfeasiblePlan) as info:
        charge_curve(p)
    assert info.value.reason is Reason.energy_exceeds_outlet
    assert "test:1" in str(info.value)


def test_energy_larger_than_battery_headroom_still_exact() -> None:
    p = plan(70_000, 20.0, 11_000.0, battery_wh=60_000.0, soc_start_pct=90.0)
    curve = charge_curve(p)
    assert curve.register_wh(p.duration_s) == 70_000
    assert curve.soc_pct(p.duration_s) == pytest.approx(100.0)


def test_zero_energy_and_zero_duration_is_feasible() -> None:
    curve = charge_curve(plan(0, 0.0, 7_000.0))
    assert curve.register_wh(0.0) == 0
    assert curve.power_w(0.0) == 0.0
