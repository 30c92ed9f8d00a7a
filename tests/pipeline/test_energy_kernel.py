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
    register_energy,
    register_energy_reference,
)

RESET = 0.5


def _one(registers: list[float], start: float = 1000.0) -> tuple[float, list[int], int, int]:
    """Energy, flags, resets, glitches for a single group starting at ``start``."""
    nan = np.array([math.nan])
    out = register_energy(
        np.array([0, len(registers)], np.int64),
        np.array(registers, np.float64),
        np.full(len(registers), math.nan),
        np.array([start]),
        np.array([start]),
        np.array([0.0]),
        nan,
        RESET,
    )
    last, seg, closed, _pmax, resets, glitches, flags = out
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
    groups=st.lists(
        st.tuples(
            st.lists(st.tuples(values, values), max_size=30),
            st.floats(min_value=0, max_value=1e7),
            st.floats(min_value=0, max_value=1e4),
            st.one_of(st.just(math.nan), st.floats(min_value=0, max_value=5e4)),
        ),
        max_size=8,
    ),
    fraction=st.floats(min_value=0, max_value=1),
)
def test_kernel_equals_reference(
    groups: list[tuple[list[tuple[float, float]], float, float, float]], fraction: float
) -> None:
    sizes = [len(g[0]) for g in groups]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    registers = np.array([r for g in groups for r, _ in g[0]], np.float64)
    power = np.array([p for g in groups for _, p in g[0]], np.float64)
    last = np.array([g[1] for g in groups], np.float64)
    seg = last.copy()
    closed = np.array([g[2] for g in groups], np.float64)
    pmax = np.array([g[3] for g in groups], np.float64)
    args = (starts, registers, power, last, seg, closed, pmax, fraction)
    before = [a.copy() for a in args[:-1]]
    for got, want in zip(register_energy(*args), register_energy_reference(*args), strict=True):
        np.testing.assert_array_equal(got, want)
    for a, b in zip(args[:-1], before, strict=True):
        np.testing.assert_array_equal(a, b)  # inputs untouched
