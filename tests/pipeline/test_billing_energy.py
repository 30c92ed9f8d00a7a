"""Per-session energy for billing: duplicates, order, gaps, reset vs rollover vs glitch,
power-only sessions; kernel equals reference."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.kernels.session_energy import (
    Q_DUPLICATE,
    Q_GAP,
    Q_GLITCH,
    Q_NO_DATA,
    Q_REORDERED,
    Q_RESET,
    Q_ROLLOVER,
    Q_TRAPEZOID,
    profile_reference,
    quality_names,
    session_energy,
)

NAN = math.nan
MIN_US = 60_000_000


def energy(
    readings: list[tuple[int, float, float]], rollover_wh: float = 0.0, gap_s: float = 900.0
) -> tuple[int, int]:
    """(energy mWh, flags) of one session; readings are (minute, register Wh, power W)."""
    ts = np.array([m * MIN_US for m, _, _ in readings], np.int64)
    reg = np.array([r for _, r, _ in readings], np.float64)
    pw = np.array([p for _, _, p in readings], np.float64)
    starts = np.array([0, len(readings)], np.int64)
    out = session_energy(starts, ts, reg, pw, 0.5, rollover_wh, gap_s)
    return int(out[0][0]), int(out[1][0])


def test_clean_register_is_last_minus_first() -> None:
    assert energy([(0, 1000.0, NAN), (5, 1500.5, NAN), (10, 2000.25, NAN)]) == (1_000_250, 0)


def test_out_of_order_readings_are_taken_in_time_order() -> None:
    mwh, flags = energy([(10, 3000.0, NAN), (0, 1000.0, NAN), (5, 2000.0, NAN)])
    assert mwh == 2_000_000
    assert flags == Q_REORDERED


def test_duplicate_time_keeps_the_first_reading() -> None:
    mwh, flags = energy([(0, 1000.0, NAN), (5, 1200.0, NAN), (5, 1900.0, NAN), (10, 1500.0, NAN)])
    assert mwh == 500_000
    assert flags == Q_DUPLICATE


def test_small_step_back_is_a_glitch_and_dropped() -> None:
    mwh, flags = energy([(0, 1000.0, NAN), (5, 2000.0, NAN), (6, 1990.0, NAN), (10, 2500.0, NAN)])
    assert (mwh, flags) == (1_500_000, Q_GLITCH)


def test_drop_below_half_is_a_reset_counting_from_zero() -> None:
    mwh, flags = energy([(0, 1000.0, NAN), (5, 5000.0, NAN), (6, 100.0, NAN), (10, 400.0, NAN)])
    assert (mwh, flags) == (4_400_000, Q_RESET)


def test_drop_from_top_of_modulus_is_a_rollover_counting_the_wrap() -> None:
    readings = [(0, 999_000.0, NAN), (5, 999_900.0, NAN), (6, 100.0, NAN), (10, 1000.0, NAN)]
    assert energy(readings, rollover_wh=1e6) == (2_000_000, Q_ROLLOVER)
    assert energy(readings)[1] == Q_RESET  # without a known modulus it is a reset


def test_gap_keeps_the_energy_and_is_flagged() -> None:
    assert energy([(0, 0.0, NAN), (60, 7000.0, NAN)]) == (7_000_000, Q_GAP)
    assert energy([(0, 0.0, NAN), (60, 7000.0, NAN)], gap_s=3600.0) == (7_000_000, 0)


def test_power_only_session_integrates_by_trapezoid() -> None:
    steady = [(m, NAN, 7000.0) for m in range(0, 61, 5)]
    assert energy(steady) == (7_000_000, Q_TRAPEZOID)
    ramp = [(0, NAN, 0.0), (60, NAN, 7000.0)]
    assert energy(ramp, gap_s=3600.0) == (3_500_000, Q_TRAPEZOID)


def test_negative_power_counts_as_zero() -> None:
    assert energy([(0, NAN, -5000.0), (30, NAN, -5000.0)], gap_s=3600.0) == (0, Q_TRAPEZOID)


def test_any_register_value_wins_over_power() -> None:
    mwh, flags = energy([(0, 100.0, 50_000.0), (30, NAN, 50_000.0), (60, 200.0, 50_000.0)])
    assert (mwh, flags) == (100_000, Q_GAP)


def test_fewer_than_two_points_is_no_data() -> None:
    assert energy([(0, 100.0, NAN)]) == (0, Q_NO_DATA)
    assert energy([]) == (0, Q_NO_DATA)
    assert energy([(0, NAN, NAN), (5, NAN, NAN)]) == (0, Q_NO_DATA)


def test_quality_names_read_the_bits() -> None:
    assert quality_names(Q_RESET | Q_GAP) == ["reset", "gap"]
    assert quality_names(0) == []


values = st.one_of(st.floats(0, 1e7, allow_nan=False), st.just(NAN), st.just(0.0))


@settings(max_examples=200, deadline=None)
@given(
    groups=st.lists(
        st.lists(st.tuples(st.integers(0, 600), values, values), max_size=25), max_size=6
    ),
    power_only=st.booleans(),
    rollover=st.sampled_from([0.0, 1e6, 2.0**32]),
    fraction=st.floats(0, 1),
)
def test_kernel_equals_reference(
    groups: list[list[tuple[int, float, float]]], power_only: bool, rollover: float, fraction: float
) -> None:
    if power_only:
        groups = [[(m, NAN, p) for m, _, p in g] for g in groups]
    sizes = [len(g) for g in groups]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ts = np.array([m * MIN_US for g in groups for m, _, _ in g], np.int64)
    reg = np.array([r for g in groups for _, r, _ in g], np.float64)
    pw = np.array([p for g in groups for _, _, p in g], np.float64)
    for parallel in (False, True):
        mwh, flags, first, last = session_energy(
            starts, ts, reg, pw, fraction, rollover, 900.0, parallel=parallel
        )
        for s, g in enumerate(groups):
            points, want_flags = profile_reference(
                [m * MIN_US for m, _, _ in g],
                [r for _, r, _ in g],
                [p for _, _, p in g],
                fraction,
                rollover,
                900.0,
            )
            assert int(flags[s]) == want_flags
            assert int(mwh[s]) == (points[-1][1] if points else 0)
            assert int(first[s]) == (points[0][0] if points else 0)
            assert int(last[s]) == (points[-1][0] if points else 0)
