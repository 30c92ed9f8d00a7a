"""The Numba energy kernel equals its plain-Python reference, and the register rules hold."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.kernels.energy import (
    FLAG_GLITCH,
    FLAG_OK,
    FLAG_RESET,
    fold_readings,
    fold_readings_reference,
)

RESET = 0.5


def _one(registers: list[float], start: float = 1000.0) -> tuple[float, list[int], int, int]:
    """Energy, flags, resets, glitches for a single group starting at ``start``."""
    nan = np.array([math.nan])
    n = len(registers)
    out = fold_readings(
        np.zeros(n, np.int64),
        np.arange(n, dtype=np.int64),
        np.array(registers, np.float64),
        np.full(n, math.nan),
        np.zeros(0, np.int64),
        np.zeros(0),
        np.array([start]),
        np.array([start]),
        np.array([0.0]),
        nan,
        RESET,
        100.0,
    )
    last, seg, closed, _pmax, resets, glitches, *_, flags = out
    return float(closed[0] + last[0] - seg[0]), flags.tolist(), int(resets[0]), int(glitches[0])


def test_consistent_register_gives_stop_minus_start_exactly() -> None:
    registers = [1000.0 + 0.1 * k for k in range(1, 1000)]
    energy, flags, resets, glitches = _one(registers)
    assert energy == registers[-1] - 1000.0
    assert set(flags) == {FLAG_OK}
    assert (resets, glitches) == (0, 0)


def test_small_step_back_is_a_glitch_and_ignored() -> None:
    energy, flags, resets, glitches = _one([2000.0, 1990.0, 2500.0])
    assert energy == 1500.0
    assert flags == [FLAG_OK, FLAG_GLITCH, FLAG_OK]
    assert (resets, glitches) == (0, 1)


def test_drop_below_half_is_a_reset_and_energy_continues_from_zero() -> None:
    energy, flags, resets, _ = _one([5000.0, 100.0, 400.0])
    assert energy == (5000.0 - 1000.0) + 400.0
    assert flags == [FLAG_OK, FLAG_RESET, FLAG_OK]
    assert resets == 1


def test_reset_boundary_exactly_half_is_a_glitch() -> None:
    _, flags, _, _ = _one([4000.0, 2000.0])
    assert flags == [FLAG_OK, FLAG_GLITCH]


def test_missing_registers_are_skipped() -> None:
    energy, flags, _, _ = _one([math.nan, 1500.0, math.nan])
    assert energy == 500.0
    assert flags == [FLAG_OK] * 3


values = st.one_of(
    st.floats(min_value=0, max_value=1e7, allow_nan=False), st.just(math.nan), st.just(0.0)
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10**6), values, values), max_size=60),
    stops=st.lists(st.tuples(st.integers(0, 4), values), max_size=5, unique_by=lambda s: s[0]),
    carried=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=1e7),
            st.floats(min_value=0, max_value=1e4),
            st.one_of(st.just(math.nan), st.floats(min_value=0, max_value=5e4)),
        ),
        min_size=5,
        max_size=5,
    ),
    fraction=st.floats(min_value=0, max_value=1),
    charging_w=st.floats(min_value=0, max_value=1e4),
)
def test_log_order_fold_equals_reference(
    rows: list[tuple[int, int, float, float]],
    stops: list[tuple[int, float]],
    carried: list[tuple[float, float, float]],
    fraction: float,
    charging_w: float,
) -> None:
    """Interleaved transactions in log order, then their stops: the same state as folding
    each transaction's values on their own, and the same per-transaction reading summary."""
    last = np.array([c[0] for c in carried], np.float64)
    args = (
        np.array([r[0] for r in rows], np.int64),
        np.array([r[1] for r in rows], np.int64),
        np.array([r[2] for r in rows], np.float64),
        np.array([r[3] for r in rows], np.float64),
        np.array([s[0] for s in stops], np.int64),
        np.array([s[1] for s in stops], np.float64),
        last,
        last.copy(),
        np.array([c[1] for c in carried], np.float64),
        np.array([c[2] for c in carried], np.float64),
        fraction,
        charging_w,
    )
    before = [a.copy() for a in args[:-2]]
    got = fold_readings(*args)
    want = fold_readings_reference(*args)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    for a, b in zip(args[:-2], before, strict=True):
        np.testing.assert_array_equal(a, b)  # inputs untouched


def test_log_order_fold_summarises_each_transaction() -> None:
    """Two interleaved transactions: a glitch is not kept, charging is the last reading that
    delivered energy (power above the threshold, or a rising register without power)."""
    nan = math.nan
    out = fold_readings(
        np.array([0, 1, 0, 1, 0, 1], np.int64),
        np.array([10, 11, 20, 21, 30, 31], np.int64),
        np.array([1100.0, 500.0, 1050.0, 600.0, 1200.0, 600.0]),
        np.array([7000.0, nan, 7000.0, nan, 50.0, nan]),
        np.array([0], np.int64),
        np.array([1300.0]),
        np.array([1000.0, 400.0]),
        np.array([1000.0, 400.0]),
        np.zeros(2),
        np.full(2, nan),
        RESET,
        100.0,
    )
    last, _seg, _closed, pmax, _r, glitches, kept, charging_us, last_row, latest_us, flags = out
    assert last.tolist() == [1300.0, 600.0]
    assert flags.tolist() == [FLAG_OK, FLAG_OK, FLAG_GLITCH, FLAG_OK, FLAG_OK, FLAG_OK]
    assert glitches.tolist() == [1, 0] and kept.tolist() == [2, 3]
    assert charging_us.tolist() == [10, 21]  # 50 W is a trickle; 600 -> 600 delivered nothing
    assert last_row.tolist() == [4, 5] and latest_us.tolist() == [30, 31]
    assert pmax[0] == 7000.0 and math.isnan(pmax[1])
