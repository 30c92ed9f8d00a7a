"""The simulator's step plan: what a simulated charger sends, and when."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from chargegrid.plans import PlannedSession
from chargers.curve import charge_curve
from chargers.simulator import SessionRun, StepKind, session_steps

T0 = datetime(2017, 11, 30, 21, 1, tzinfo=UTC)


def run_for(energy_wh: int, minutes: float, power_w: float = 7_000.0) -> SessionRun:
    plan = PlannedSession(
        ref="t:1",
        charger_id="CP",
        connector_id=1,
        id_tag="T",
        plug_in=T0,
        plug_out=T0 + timedelta(minutes=minutes),
        energy_wh=energy_wh,
        max_power_w=power_w,
    )
    return SessionRun(plan=plan, curve=charge_curve(plan))


@pytest.mark.parametrize(
    ("energy_wh", "interval_s"),
    [
        (5_250, 300),  # full after exactly 45 min at 7 kW: on a sample instant
        (5_251, 300),  # full just after a sample instant
        (3_500, 60),  # full after exactly 30 min, one-minute samples
    ],
)
def test_one_reading_per_instant_and_one_full_step(energy_wh: int, interval_s: float) -> None:
    run = run_for(energy_wh, minutes=120)
    steps = session_steps(run, interval_s, iter(range(10_000)))
    per_instant = Counter(s.at for s in steps if s.kind in (StepKind.sample, StepKind.full))
    assert max(per_instant.values()) == 1
    full = [s for s in steps if s.kind is StepKind.full]
    assert len(full) == 1
    assert full[0].t_s == pytest.approx(run.curve.done_s)


def test_no_full_step_when_charging_lasts_until_the_plug_out() -> None:
    run = run_for(7_000, minutes=60)  # 7 kWh at 7 kW: full exactly as the car leaves
    assert run.curve.done_s == pytest.approx(run.plan.duration_s)
    steps = session_steps(run, 300, iter(range(10_000)))
    assert [s for s in steps if s.kind is StepKind.full] == []
    assert steps[-1].kind is StepKind.plug_out
