"""Session energy from a cumulative energy register, per group (one group = one transaction).

Register semantics, applied to each register value ``r`` in order, with ``last`` the previous
accepted value of the group (the session's ``meter_start_wh`` for its first value):

* ``r >= last``: normal progress; ``last = r``.
* ``r < reset_fraction * last``: the register restarted (charger reboot, meter swap, 32-bit
  rollover): the energy of the segment that ended is banked (``closed += last - seg_start``) and a
  new segment starts from zero (``seg_start = 0``, ``last = r``); flag ``FLAG_RESET``.
* otherwise (a small step backwards): a glitch; the value is ignored (``last`` unchanged);
  flag ``FLAG_GLITCH``.
* NaN register (a reading without one): ignored, flag ``FLAG_OK``.

Energy so far is ``closed + (last - seg_start)``. With a consistent register that is exactly
``last - meter_start_wh`` (one float subtraction, no accumulated rounding), so a session's
``energy_wh`` equals ``meter_stop_wh - meter_start_wh`` to the last bit. A glitch all the way to
zero is indistinguishable from a reset when it is seen; it is taken as a reset and the session's
quality says so.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

FLAG_OK = 0
FLAG_GLITCH = 1
FLAG_RESET = 2

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
EnergyResult = tuple[F64, F64, F64, F64, I64, I64, I8]


@njit(cache=True)
def register_energy(
    group_starts: I64,
    registers_wh: F64,
    power_w: F64,
    last_wh: F64,
    seg_start_wh: F64,
    closed_wh: F64,
    max_power_w: F64,
    reset_fraction: float,
) -> EnergyResult:  # pragma: no cover - compiled; equality with the reference is tested
    """Fold the values of each group into its carried state; inputs are not modified.

    ``group_starts`` has ``n_groups + 1`` entries (values of group g are
    ``group_starts[g]:group_starts[g + 1]``). ``last_wh``/``seg_start_wh``/``closed_wh``/
    ``max_power_w`` are the carried state per group (NaN max power = none yet). Returns the new
    ``(last_wh, seg_start_wh, closed_wh, max_power_w, resets, glitches, flags)``, ``flags``
    per value.
    """
    n_groups = group_starts.shape[0] - 1
    last = last_wh.copy()
    seg = seg_start_wh.copy()
    closed = closed_wh.copy()
    pmax = max_power_w.copy()
    resets = np.zeros(n_groups, np.int64)
    glitches = np.zeros(n_groups, np.int64)
    flags = np.zeros(registers_wh.shape[0], np.int8)
    for g in range(n_groups):
        lst = last[g]
        for i in range(group_starts[g], group_starts[g + 1]):
            p = power_w[i]
            if not np.isnan(p) and (np.isnan(pmax[g]) or p > pmax[g]):
                pmax[g] = p
            r = registers_wh[i]
            if np.isnan(r):
                continue
            if r >= lst:
                lst = r
            elif r < reset_fraction * lst:
                closed[g] += lst - seg[g]
                seg[g] = 0.0
                lst = r
                resets[g] += 1
                flags[i] = FLAG_RESET
            else:
                glitches[g] += 1
                flags[i] = FLAG_GLITCH
        last[g] = lst
    return last, seg, closed, pmax, resets, glitches, flags


def register_energy_reference(
    group_starts: I64,
    registers_wh: F64,
    power_w: F64,
    last_wh: F64,
    seg_start_wh: F64,
    closed_wh: F64,
    max_power_w: F64,
    reset_fraction: float,
) -> EnergyResult:
    """Plain-Python statement of :func:`register_energy` (same contract, same results)."""
    last = [float(x) for x in last_wh]
    seg = [float(x) for x in seg_start_wh]
    closed = [float(x) for x in closed_wh]
    pmax = [float(x) for x in max_power_w]
    resets = [0] * len(last)
    glitches = [0] * len(last)
    flags = [FLAG_OK] * len(registers_wh)
    for g in range(len(group_starts) - 1):
        for i in range(int(group_starts[g]), int(group_starts[g + 1])):
            p = float(power_w[i])
            if not np.isnan(p) and (np.isnan(pmax[g]) or p > pmax[g]):
                pmax[g] = p
            r = float(registers_wh[i])
            if np.isnan(r):
                continue
            if r >= last[g]:
                last[g] = r
            elif r < reset_fraction * last[g]:
                closed[g] += last[g] - seg[g]
                seg[g] = 0.0
                last[g] = r
                resets[g] += 1
                flags[i] = FLAG_RESET
            else:
                glitches[g] += 1
                flags[i] = FLAG_GLITCH
    return (
        np.array(last, np.float64),
        np.array(seg, np.float64),
        np.array(closed, np.float64),
        np.array(pmax, np.float64),
        np.array(resets, np.int64),
        np.array(glitches, np.int64),
        np.array(flags, np.int8),
    )


def warm() -> None:
    """Load the compiled kernel from Numba's cache now (a few hundred ms on first call): the
    runner calls it in a thread at start-up so it overlaps with opening the log."""
    values = np.zeros(2, np.float64)
    one = np.zeros(1, np.float64)
    register_energy(np.array([0, 2], np.int64), values, values, one, one, one, one, 0.5)
