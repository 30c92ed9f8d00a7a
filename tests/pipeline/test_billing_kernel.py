"""Billing kernel: band splitting at boundaries, fees, caps, taxes, rounding, DST, properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit, prange

from chargegrid.tariffs import CompiledTariff, Tariff
from pipeline.kernels.billing import (
    A_CAP,
    A_CHARGING,
    A_CONNECTED,
    A_IDLE,
    A_MINIMUM,
    A_SESSION_FEE,
    T_CHARGING,
    T_CONNECTED,
    T_IDLE,
    BillArrays,
    BillBufferError,
    _gap_limit_us,
    _piece_of,
    balanced_chunks,
    bill_buffers,
    round_div,
    round_div_reference,
)
from pipeline.kernels.session_energy import Q_REORDERED, claim_chunk
from tests.pipeline.billing_support import (
    NAN,
    Reading,
    compiled_for,
    energy_by_line,
    make_tariff,
    minor_by_line,
    run,
    steady,
    tariff,
)

LONDON = ZoneInfo("Europe/London")
TWO_BANDS = [
    {
        "name": "all",
        "bands": [
            {"name": "night", "start": "00:00", "price_per_kwh": "0.10"},
            {"name": "day", "start": "07:00", "price_per_kwh": "0.30"},
        ],
    }
]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)  # type: ignore[misc, arg-type]


# -- rounding --


def test_round_div_is_half_to_even_both_signs() -> None:
    cases = {(25, 10): 2, (35, 10): 4, (-25, 10): -2, (-35, 10): -4, (26, 10): 3, (-26, 10): -3}
    for (num, den), want in cases.items():
        assert round_div(num, den) == want
        assert round_div_reference(num, den) == want


def test_energy_line_exactly_half_a_minor_unit_rounds_to_even() -> None:
    t = make_tariff(
        energy=[{"name": "a", "bands": [{"name": "x", "start": "00:00", "price_per_kwh": "0.125"}]}]
    )
    start = datetime(2024, 1, 10, 10, tzinfo=UTC)
    compiled = compiled_for(t, start, start)
    out = run(compiled, [steady(start, 60, 1000.0)])  # 1 kWh × 12.5 p
    assert minor_by_line(compiled, out) == {"x": 12}
    out = run(compiled, [steady(start, 60, 3000.0)])  # 3 kWh × 12.5 p = 37.5 p
    assert minor_by_line(compiled, out) == {"x": 38}


# -- band boundaries --


def test_band_boundary_between_readings_splits_energy_by_interpolation() -> None:
    t = make_tariff(energy=TWO_BANDS)
    start = local(2024, 1, 10, 6, 0)
    compiled = compiled_for(t, start, start)
    out = run(compiled, [steady(start, 126, 6000.0, step_min=7.0)])  # 06:00 → 08:06, no 07:00
    assert energy_by_line(compiled, out) == {"night": 6_000_000, "day": 6_600_000}
    assert minor_by_line(compiled, out) == {"night": 60, "day": 198}


def test_band_boundary_exactly_at_a_reading_puts_the_interval_before_it() -> None:
    t = make_tariff(energy=TWO_BANDS)
    start = local(2024, 1, 10, 6, 0)
    compiled = compiled_for(t, start, start)
    readings = [
        (start, 0.0, NAN),
        (local(2024, 1, 10, 7, 0), 1000.0, NAN),
        (local(2024, 1, 10, 8, 0), 3000.0, NAN),
    ]
    out = run(compiled, [readings])
    assert energy_by_line(compiled, out) == {"night": 1_000_000, "day": 2_000_000}


def test_session_crossing_midnight() -> None:
    t = tariff("uk_tou_vat")  # Tue 22:00 day, 23:00 off-peak, Wed 00:00 off-peak
    start = local(2024, 1, 9, 22, 0)
    compiled = compiled_for(t, start, start)
    out = run(compiled, [steady(start, 180, 6000.0, step_min=10.0)])
    assert energy_by_line(compiled, out) == {"day": 6_000_000, "off_peak": 12_000_000}


def test_weekend_boundary_friday_night_into_saturday() -> None:
    t = tariff("uk_tou_vat")
    start = local(2024, 1, 12, 22, 0)  # Friday
    compiled = compiled_for(t, start, start)
    out = run(compiled, [steady(start, 240, 6000.0, step_min=15.0)])
    assert energy_by_line(compiled, out) == {
        "day": 6_000_000,
        "off_peak": 6_000_000,
        "weekend": 12_000_000,
    }


def test_season_boundary_uses_each_dates_schedule() -> None:
    t = make_tariff(
        timezone="America/Los_Angeles",
        currency="USD",
        energy=[
            {
                "name": "summer",
                "season_start": "6-1",
                "season_end": "9-30",
                "bands": [{"name": "summer", "start": "00:00", "price_per_kwh": "0.05993"}],
            },
            {
                "name": "winter",
                "season_start": "10-01",
                "season_end": "5-31",
                "bands": [
                    {"name": "winter_night", "start": "00:00", "price_per_kwh": "0.05993"},
                    {"name": "winter_day", "start": "08:00", "price_per_kwh": "0.03964"},
                ],
            },
        ],
    )
    zone = ZoneInfo("America/Los_Angeles")
    start = datetime(2018, 9, 30, 23, 0, tzinfo=zone)
    compiled = compiled_for(t, start, start)
    out = run(compiled, [steady(start, 600, 1000.0, step_min=20.0)])  # → Oct 1 09:00
    assert energy_by_line(compiled, out) == {
        "summer": 1_000_000,
        "winter_night": 8_000_000,
        "winter_day": 1_000_000,
    }
    assert minor_by_line(compiled, out) == {"summer": 6, "winter_night": 48, "winter_day": 4}


def test_tariff_change_during_a_session_applies_from_local_midnight() -> None:
    t = make_tariff(
        energy=[
            {
                "name": "old",
                "valid_until": "2024-03-31",
                "bands": [{"name": "standard", "start": "00:00", "price_per_kwh": "0.30"}],
            },
            {
                "name": "new",
                "valid_from": "2024-04-01",
                "bands": [{"name": "standard", "start": "00:00", "price_per_kwh": "0.35"}],
            },
        ]
    )
    start = local(2024, 3, 31, 23, 0)
    compiled = compiled_for(t, start, start)
    out = run(compiled, [steady(start, 120, 2000.0, step_min=5.0)])
    lines = {
        (compiled.line_names[k], compiled.line_price_micro_minor_per_kwh[k]): int(out[1][0, k])
        for k in range(len(compiled.line_names))
        if out[0][0, k]
    }
    assert lines == {("standard", 30_000_000): 60, ("standard", 35_000_000): 70}


def test_23_hour_day_has_23_hours_of_bands() -> None:
    t = make_tariff(energy=TWO_BANDS)
    start, end = local(2024, 3, 31, 0, 0), local(2024, 4, 1, 0, 0)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    readings = [(start, 0.0, NAN), (end, 23_000.0, NAN)]  # 1 kW for the whole local day
    compiled = compiled_for(t, start, end)
    out = run(compiled, [readings])
    assert energy_by_line(compiled, out) == {"night": 6_000_000, "day": 17_000_000}


def test_25_hour_day_has_25_hours_of_bands() -> None:
    t = make_tariff(energy=TWO_BANDS)
    start, end = local(2024, 10, 27, 0, 0), local(2024, 10, 28, 0, 0)
    readings = [(start, 0.0, NAN), (end, 25_000.0, NAN)]
    compiled = compiled_for(t, start, end)
    out = run(compiled, [readings])
    assert energy_by_line(compiled, out) == {"night": 8_000_000, "day": 17_000_000}


# -- time, idle, fees, min/cap, tax --


def test_idle_fee_counts_from_end_of_charging_after_grace() -> None:
    t = tariff("dc_idle_fee")  # 0.575/kWh net, idle 0.10/min after 10 min, VAT 20 %
    start = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    charging = steady(start, 30, 50_000.0, step_min=1.0)  # 25 kWh in 30 min
    last_reg = charging[-1][1]
    parked = [(start + timedelta(minutes=30 + k), last_reg, NAN) for k in range(1, 26)]
    plug_out = start + timedelta(minutes=55)
    compiled = compiled_for(t, start, plug_out)
    out = run(compiled, [charging + parked], [(start, plug_out)])
    _, energy_minor, time_ms, amounts, tax, total, _, _ = out
    assert time_ms[0, T_CHARGING] == 30 * 60_000
    assert time_ms[0, T_CONNECTED] == 55 * 60_000
    assert time_ms[0, T_IDLE] == 15 * 60_000  # 25 min parked − 10 min grace
    assert int(energy_minor.sum()) == 1438  # 25 kWh × 57.5 p = 1437.5 → 1438 (half-even)
    assert amounts[0, A_IDLE] == 150
    assert int(tax[0, 0]) == round((1438 + 150) * 0.2)
    assert int(total[0]) == 1438 + 150 + int(tax[0, 0])


def test_time_prices_are_pro_rata_by_millisecond() -> None:
    t = make_tariff(price_per_minute_charging="0.05", price_per_minute_connected="0.01")
    start = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    readings = [(start, 0.0, NAN), (start + timedelta(minutes=10, seconds=30), 1000.0, NAN)]
    plug_out = start + timedelta(minutes=20)
    compiled = compiled_for(t, start, plug_out)
    out = run(compiled, [readings], [(start, plug_out)])
    assert out[3][0, A_CHARGING] == 52  # 10.5 min × 5 p = 52.5 → 52 (half-even)
    assert out[3][0, A_CONNECTED] == 20


def test_minimum_charge_tops_up_a_small_session() -> None:
    t = tariff("dundee_flat")  # 0.15/kWh, minimum 2.00
    start = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    compiled = compiled_for(t, start, start)
    out = run(compiled, [steady(start, 60, 3000.0)])  # 3 kWh = 45 p
    assert out[3][0, A_MINIMUM] == 155
    assert out[5][0] == 200


def test_cap_limits_the_net_and_tax_is_on_the_capped_net() -> None:
    t = tariff("dc_idle_fee")  # cap 100.00 net
    start = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    compiled = compiled_for(t, start, start)
    out = run(compiled, [steady(start, 240, 60_000.0, step_min=5.0)])  # 240 kWh = 138.00
    assert out[3][0, A_CAP] == 10_000 - 13_800
    assert out[4][0, 0] == 2_000
    assert out[5][0] == 12_000


def test_session_without_readings_pays_the_fee_only() -> None:
    t = tariff("uk_tou_vat")
    start = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    compiled = compiled_for(t, start, start)
    out = run(compiled, [[]], [(start, start + timedelta(minutes=5))])
    assert out[3][0, A_SESSION_FEE] == 50
    assert out[5][0] == 60  # 50 + 20 % VAT


# -- properties --

T0 = datetime(2024, 3, 29, tzinfo=UTC)  # a span over the spring-forward weekend
SPAN_S = 5 * 86_400

prices = st.decimals(min_value=-1, max_value=2, places=5)
fees = st.decimals(min_value=0, max_value=5, places=2)


@st.composite
def tariffs(draw: st.DrawFn) -> Tariff:
    n = draw(st.integers(1, 4))
    minutes = sorted(draw(st.sets(st.integers(1, 24 * 60 - 1), min_size=n - 1, max_size=n - 1)))
    starts = [0, *minutes]
    bands = [
        {
            "name": f"b{i}",
            "start": f"{m // 60:02d}:{m % 60:02d}",
            "price_per_kwh": str(draw(prices)),
        }
        for i, m in enumerate(starts)
    ]
    weekend = [{"name": "we", "start": "00:00", "price_per_kwh": str(draw(prices))}]
    minimum = draw(fees)
    maximum = draw(st.one_of(st.none(), fees.map(lambda f: f + minimum)))
    return make_tariff(
        timezone=draw(st.sampled_from(["Europe/London", "America/Los_Angeles", "Asia/Kolkata"])),
        energy=[
            {"name": "wd", "days": "weekdays", "bands": bands},
            {"name": "we", "days": "weekends", "bands": weekend},
        ],
        price_per_minute_charging=str(draw(fees) / 10),
        price_per_minute_connected=str(draw(fees) / 10),
        session_fee=str(draw(fees)),
        idle={"price_per_minute": str(draw(fees) / 10), "grace_minutes": draw(st.integers(0, 30))},
        minimum_charge=str(minimum),
        maximum_charge=None if maximum is None else str(maximum),
        taxes=[{"name": "VAT", "rate_percent": str(draw(st.decimals(0, 30, places=2)))}],
    )


register = st.one_of(
    st.floats(min_value=0, max_value=2e6, allow_nan=False),
    st.just(NAN),
)
power = st.one_of(st.floats(min_value=-1e3, max_value=3.5e5, allow_nan=False), st.just(NAN))


@st.composite
def sessions(draw: st.DrawFn) -> list[Reading]:
    """Messy readings: any order, duplicates, NaNs, steps back, resets, power only."""
    n = draw(st.integers(0, 25))
    base = draw(st.integers(0, SPAN_S - 86_400))
    offsets = draw(st.lists(st.integers(0, 86_400), min_size=n, max_size=n))
    power_only = draw(st.booleans())
    out = []
    for off in offsets:
        reg = NAN if power_only else draw(register)
        out.append((T0 + timedelta(seconds=base + off), reg, draw(power)))
    return out


@settings(max_examples=150, deadline=None)
@given(t=tariffs(), batch=st.lists(sessions(), max_size=6), rollover=st.sampled_from([0.0, 1e6]))
def test_kernel_equals_reference_to_the_minor_unit(
    t: Tariff, batch: list[list[Reading]], rollover: float
) -> None:
    compiled = compiled_for(t, T0, T0 + timedelta(seconds=SPAN_S))
    plugs = [
        (min(r[0] for r in s) - timedelta(minutes=3), max(r[0] for r in s) + timedelta(minutes=40))
        if s
        else (None, None)
        for s in batch
    ]
    got = run(compiled, batch, plugs, rollover_modulus_wh=rollover)
    want = run(compiled, batch, plugs, rollover_modulus_wh=rollover, reference=True)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=150, deadline=None)
@given(t=tariffs(), batch=st.lists(sessions(), min_size=1, max_size=6))
def test_no_bill_is_negative_and_lines_sum_to_total(t: Tariff, batch: list[list[Reading]]) -> None:
    compiled = compiled_for(t, T0, T0 + timedelta(seconds=SPAN_S))
    _, energy_minor, _, amounts, tax, total, _, _ = run(compiled, batch)
    assert (total >= 0).all()
    assert (energy_minor.sum(axis=1) + amounts.sum(axis=1) + tax.sum(axis=1) == total).all()


@st.composite
def clean_sessions(draw: st.DrawFn) -> list[Reading]:
    """Increasing times, non-decreasing registers (no glitch or reset to depend on history)."""
    n = draw(st.integers(3, 30))
    steps = draw(st.lists(st.integers(1, 7_200), min_size=n, max_size=n))
    gains = draw(st.lists(st.floats(0, 5_000), min_size=n, max_size=n))
    t = T0 + timedelta(seconds=draw(st.integers(0, SPAN_S - 86_400 * 3)))
    reg = draw(st.floats(0, 1e6))
    out = []
    for step, gain in zip(steps, gains, strict=True):
        t += timedelta(seconds=step)
        reg += gain
        out.append((t, reg, NAN))
    return out


@settings(max_examples=150, deadline=None)
@given(t=tariffs(), readings=clean_sessions(), data=st.data())
def test_energy_lines_are_additive_over_a_split(
    t: Tariff, readings: list[Reading], data: st.DataObject
) -> None:
    """bill[t0, t1] + bill[t1, t2] = bill[t0, t2]: exact in mWh per line; amounts within one
    minor unit per line (each part is rounded once)."""
    k = data.draw(st.integers(1, len(readings) - 2))
    compiled = compiled_for(t, T0, T0 + timedelta(seconds=SPAN_S))
    whole = run(compiled, [readings])
    parts = run(compiled, [readings[: k + 1], readings[k:]])
    np.testing.assert_array_equal(parts[0][0] + parts[0][1], whole[0][0])
    assert (np.abs(parts[1][0] + parts[1][1] - whole[1][0]) <= 1).all()


# -- the one-pass path (readings in time order) against the reference, serial and parallel --

STEPS = ["rise", "rise", "rise", "flat", "nan", "glitch", "reset", "wrap", "dup"]


@st.composite
def ordered_sessions(draw: st.DrawFn) -> list[Reading]:
    """Readings in time order (what chargers send): rises, flat stretches, glitches, resets,
    rollovers of a 1 MWh register, repeated times, in half the sessions missing registers;
    some start before or end after the compiled range (the general path takes those)."""
    n = draw(st.integers(0, 40))
    base = draw(st.integers(-4 * 86_400, SPAN_S + 2 * 86_400))
    offsets = sorted(draw(st.lists(st.integers(0, 86_400), min_size=n, max_size=n)))
    reg = draw(st.floats(0, 9e5))
    steps = STEPS if draw(st.booleans()) else [s for s in STEPS if s != "nan"]
    out: list[Reading] = []
    for off in offsets:
        step = draw(st.sampled_from(steps))
        at = T0 + timedelta(seconds=base + off)
        if step == "dup" and out:
            at = out[-1][0]
        if step == "rise":
            reg += draw(st.floats(0, 5_000))
        elif step == "glitch":
            reg = max(reg - draw(st.floats(0, 100)), 0.0)
        elif step == "reset":
            reg = draw(st.floats(0, 100))
        elif step == "wrap":
            reg = draw(st.floats(9.5e5, 1e6)) if reg < 9e5 else draw(st.floats(0, 5e4))
        out.append((at, NAN if step == "nan" else reg, draw(power)))
    return out


@settings(max_examples=200, deadline=None)
@given(
    t=tariffs(),
    batch=st.lists(ordered_sessions(), max_size=8),
    rollover=st.sampled_from([0.0, 1e6]),
    parallel=st.booleans(),
)
def test_one_pass_kernel_equals_reference_serial_and_parallel(
    t: Tariff, batch: list[list[Reading]], rollover: float, parallel: bool
) -> None:
    compiled = compiled_for(t, T0, T0 + timedelta(seconds=SPAN_S))
    plugs = [
        (s[0][0] - timedelta(minutes=1), s[-1][0] + timedelta(minutes=25)) if s else (None, None)
        for s in batch
    ]
    kw: dict[str, Any] = {"rollover_modulus_wh": rollover, "gap_s": 600.0}
    got = run(compiled, batch, plugs, parallel=parallel, **kw)
    want = run(compiled, batch, plugs, reference=True, **kw)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_many_sessions_in_parallel_chunks_equal_one_thread() -> None:
    t = make_tariff(energy=TWO_BANDS, taxes=[{"name": "VAT", "rate_percent": "20"}])
    start = datetime(2024, 1, 10, 5, tzinfo=UTC)
    compiled = compiled_for(t, start, start + timedelta(days=3))
    batch = [steady(start + timedelta(minutes=7 * k), 30 + k % 200, 7000.0) for k in range(300)]
    batch[5] = list(reversed(batch[5]))  # one out of order: the general path inside a chunk
    serial = run(compiled, batch, parallel=False)
    threaded = run(compiled, batch, parallel=True)
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
    assert serial[7][5] & Q_REORDERED


# -- regular sessions (times rising, registers never falling): the block pass's shortcut --


@st.composite
def regular_sessions(draw: st.DrawFn) -> list[Reading]:
    """Strictly rising times (in half the sessions on whole minutes, so readings fall exactly
    on band boundaries), registers that never fall once rounded to mWh (flat stretches, rises
    below a mWh, steps back below the rounding); some start before or end after the compiled
    range."""
    n = draw(st.integers(1, 40))
    on_minutes = draw(st.booleans())
    unit = 60 if on_minutes else 1
    offset = draw(st.integers(-2 * 86_400, SPAN_S + 86_400))
    t = T0 + timedelta(seconds=offset - offset % unit)
    reg = draw(st.floats(0, 1e6))
    gain = st.one_of(
        st.floats(0, 5_000), st.just(0.0), st.sampled_from([0.0004, 0.0005, 0.0006, -0.0002])
    )
    out: list[Reading] = []
    for _ in range(n):
        out.append((t, reg, draw(power)))
        t += timedelta(seconds=unit * draw(st.integers(1, 7_200 // unit)))
        reg = max(reg + draw(gain), 0.0)
    return out


@settings(max_examples=120, deadline=None)
@given(
    t=tariffs(),
    batch=st.lists(st.one_of(regular_sessions(), ordered_sessions()), max_size=8),
    parallel=st.booleans(),
)
def test_regular_sessions_equal_reference_serial_and_parallel(
    t: Tariff, batch: list[list[Reading]], parallel: bool
) -> None:
    compiled = compiled_for(t, T0, T0 + timedelta(seconds=SPAN_S))
    plugs = [
        (s[0][0] - timedelta(minutes=2), s[-1][0] + timedelta(minutes=45)) if s else (None, None)
        for s in batch
    ]
    got = run(compiled, batch, plugs, parallel=parallel, gap_s=1_800.0)
    want = run(compiled, batch, plugs, reference=True, gap_s=1_800.0)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_blocks_of_mixed_sessions_equal_reference() -> None:
    """More sessions than one block, regular ones among out-of-order, flat, single-reading
    and empty ones, in time order (the band hint carries across blocks) and shuffled."""
    t = tariff("uk_tou_vat")
    start = datetime(2024, 3, 29, 5, tzinfo=UTC)
    compiled = compiled_for(t, start, start + timedelta(days=8))
    rng = np.random.default_rng(3)
    batch = []
    for k in range(700):
        readings = steady(start + timedelta(minutes=17 * k), 20 + k % 90, 3_000.0 + k, 5.0)
        if k % 7 == 0:
            readings = list(reversed(readings))
        elif k % 11 == 0:
            readings = readings[:1]
        elif k % 13 == 0:
            readings = [(at, 5_000.0, p) for at, _, p in readings]
        elif k % 17 == 0:
            readings = []
        batch.append(readings)
    for order in (batch, [batch[i] for i in rng.permutation(len(batch))]):
        want = run(compiled, order, reference=True)
        for parallel in (False, True):
            for a, b in zip(run(compiled, order, parallel=parallel), want, strict=True):
                np.testing.assert_array_equal(a, b)


# -- output arrays the caller keeps and passes back (out=) --


def _buffers(compiled: CompiledTariff, n: int) -> BillArrays:
    return bill_buffers(n, len(compiled.line_names), compiled.tax_ppm.shape[0])


@settings(max_examples=100, deadline=None)
@given(
    t=tariffs(),
    batch=st.lists(st.one_of(sessions(), ordered_sessions(), regular_sessions()), max_size=8),
    parallel=st.booleans(),
    stale=st.integers(-(2**31), 2**31 - 1),
)
def test_stale_out_arrays_are_overwritten_with_the_reference_bill(
    t: Tariff, batch: list[list[Reading]], parallel: bool, stale: int
) -> None:
    compiled = compiled_for(t, T0, T0 + timedelta(seconds=SPAN_S))
    out = _buffers(compiled, len(batch))
    for array in out:
        array.fill(stale)
    got = run(compiled, batch, parallel=parallel, out=out)
    want = run(compiled, batch, reference=True)
    assert all(a is b for a, b in zip(got, out, strict=True))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_out_arrays_reused_for_another_batch_bill_like_fresh_ones() -> None:
    """Rows that were capped become topped up and the other way round, billed rows become
    empty sessions: nothing of the first batch survives in the second's bills."""
    t = make_tariff(
        energy=TWO_BANDS,
        minimum_charge="1.00",
        maximum_charge="4.00",
        taxes=[{"name": "VAT", "rate_percent": "20"}],
    )
    start = datetime(2024, 1, 10, 5, tzinfo=UTC)
    compiled = compiled_for(t, start, start + timedelta(days=3))
    big = [steady(start + timedelta(minutes=9 * k), 180, 22_000.0) for k in range(600)]
    small = [steady(start + timedelta(minutes=9 * k), 3, 3_000.0) for k in range(600)]
    first = [big[k] if k % 2 else small[k] for k in range(600)]
    second = [
        [] if k % 5 == 0 else (small[k] if k % 2 else list(reversed(big[k]))) for k in range(600)
    ]
    for parallel in (False, True):
        out = _buffers(compiled, 600)
        before = run(compiled, first, parallel=parallel, out=out)
        assert (before[3][:, A_CAP] < 0).any() and (before[3][:, A_MINIMUM] > 0).any()
        got = run(compiled, second, parallel=parallel, out=out)
        want = run(compiled, second, parallel=parallel)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


def _spoil(kind: str, good: BillArrays, n: int, n_lines: int, n_taxes: int) -> Any:
    if kind == "sessions":
        return bill_buffers(n + 1, n_lines, n_taxes)
    if kind == "lines":
        return bill_buffers(n, n_lines + 1, n_taxes)
    if kind == "taxes":
        return bill_buffers(n, n_lines, n_taxes + 1)
    if kind == "too_few":
        return good[:-1]
    if kind == "list":
        return list(good)
    arrays: list[Any] = list(good)
    if kind == "dtype":
        arrays[5] = np.empty(n, np.int32)
    elif kind == "not_an_array":
        arrays[7] = [0] * n
    elif kind == "strided":
        arrays[0] = np.empty((n, 2 * n_lines), np.int64)[:, ::2]
    elif kind == "read_only":
        arrays[2].flags.writeable = False
    return tuple(arrays)


@pytest.mark.parametrize(
    "kind",
    ["sessions", "lines", "taxes", "too_few", "list", "dtype", "not_an_array", "strided",
     "read_only"],
)  # fmt: skip
def test_out_arrays_that_do_not_fit_the_call_are_refused(kind: str) -> None:
    compiled = compiled_for(make_tariff(energy=TWO_BANDS), T0, T0 + timedelta(days=1))
    batch = [steady(T0 + timedelta(hours=k), 30, 7_000.0) for k in range(3)]
    n_lines, n_taxes = len(compiled.line_names), compiled.tax_ppm.shape[0]
    out = _spoil(kind, _buffers(compiled, 3), 3, n_lines, n_taxes)
    with pytest.raises(BillBufferError, match="out"):
        run(compiled, batch, parallel=False, out=out)


@given(sizes=st.lists(st.integers(0, 50), max_size=60), chunks=st.integers(1, 40))
def test_balanced_chunks_cover_every_session_once(sizes: list[int], chunks: int) -> None:
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    cuts = balanced_chunks(starts, chunks)
    assert cuts[0] == 0 and cuts[-1] == len(sizes)
    assert (np.diff(cuts) > 0).all() or len(sizes) == 0
    assert len(cuts) - 1 <= max(chunks, 1)
    # no chunk holds more than its share plus one session
    per_chunk = starts[cuts[1:]] - starts[cuts[:-1]]
    share = starts[-1] / chunks
    assert (per_chunk <= share + max(sizes, default=0)).all()


@njit
def _busy(k: int) -> int:
    """About a microsecond of work that never returns 0 (xorshift of a non-zero seed)."""
    x = np.uint64(k + 1)
    for _ in range(300):
        x ^= x << np.uint64(13)
        x ^= x >> np.uint64(7)
        x ^= x << np.uint64(17)
    return int(x != 0)


@njit(parallel=True)
def _claim_all(threads: int, counter: Any, claimed: Any) -> None:
    for _ in prange(threads):
        c = claim_chunk(counter)
        while c < claimed.shape[0]:
            claimed[c] += _busy(c)  # the work keeps both threads claiming at once
            c = claim_chunk(counter)


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_chunks_claimed_by_racing_threads_are_each_taken_once(threads: int) -> None:
    """(A plain read-then-write counter fails this: both threads take nearly every chunk.)"""
    claimed = np.zeros(50_000, np.int64)
    counter = np.zeros(1, np.int64)
    _claim_all(threads, counter, claimed)
    assert (claimed == 1).all()
    assert counter[0] == claimed.shape[0] + threads  # each worker's last claim finds none


@settings(deadline=None)  # the first call compiles
@given(
    gap_s=st.one_of(st.floats(allow_nan=True), st.integers(-(10**6), 10**6).map(float)),
    d=st.integers(-(2**52), 2**52),
)
def test_integer_gap_limit_agrees_with_the_float_test(gap_s: float, d: int) -> None:
    assert (d > _gap_limit_us(gap_s)) == (float(d) > gap_s * 1e6)


@settings(deadline=None)
@given(
    bounds=st.lists(st.integers(-1000, 1000), min_size=2, max_size=12, unique=True).map(sorted),
    t=st.integers(-1000, 1000),
    hint=st.integers(-2, 14),
)
def test_piece_search_from_a_hint_agrees_with_bisection(
    bounds: list[int], t: int, hint: int
) -> None:
    b = np.array(bounds, np.int64)
    n_pieces = len(bounds) - 1
    if not bounds[0] <= t <= bounds[-1]:
        return  # callers only ask for instants inside the compiled range
    want = min(int(np.searchsorted(b, t, side="right")) - 1, n_pieces - 1)
    assert _piece_of(b, n_pieces, t, hint) == want
