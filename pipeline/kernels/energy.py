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

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from pipeline.kernels.groups import NO_TIME, read_only

FLAG_OK = 0
FLAG_GLITCH = 1
FLAG_RESET = 2

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
EnergyResult = tuple[F64, F64, F64, F64, I64, I64, I8]
# last, seg start, closed, max power (per group, as EnergyResult); kept readings, last charging
# reading's time, last kept row, latest kept time (per group); flags (per reading)
FoldResult = tuple[F64, F64, F64, F64, I64, I64, I64, I64, I64, I64, I8]


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
    """The register rules (module doc) applied to each group's values in order: group ``g``'s
    values are ``group_starts[g]:group_starts[g + 1]``, its carried state ``last_wh[g]`` ...
    (NaN max power = none yet). Returns the new ``(last_wh, seg_start_wh, closed_wh,
    max_power_w, resets, glitches, flags)``, ``flags`` per value. Plain Python: the statement
    :func:`fold_readings` is tested against."""
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


@njit(cache=True)
def fold_readings(
    groups: I64,
    ts_us: I64,
    registers_wh: F64,
    power_w: F64,
    stop_groups: I64,
    stop_wh: F64,
    last_wh: F64,
    seg_start_wh: F64,
    closed_wh: F64,
    max_power_w: F64,
    reset_fraction: float,
    charging_power_w: float,
) -> FoldResult:  # pragma: no cover - compiled; equality with the reference is tested
    """One batch of readings, in log order, folded into their transactions' carried state,
    then each transaction's stop value (``stop_groups``/``stop_wh``, after its readings in the
    log). Reading ``i`` belongs to group ``groups[i]``; groups may interleave (no sorting).

    Per group, as :func:`register_energy_reference`: ``(last, seg_start, closed, max_power, resets,
    glitches)``; and over its *kept* readings (not glitches): their count, the time of the
    last one in log order that delivered energy (power above ``charging_power_w``, or, without
    a power sample, a register above the group's previous reading's, ``last_wh`` before the
    first), the last one's row and the latest time (:data:`NO_TIME` / -1 when none). Per
    reading: its flag. Inputs are not modified."""
    n_groups = last_wh.shape[0]
    last, seg = last_wh.copy(), seg_start_wh.copy()
    closed, pmax = closed_wh.copy(), max_power_w.copy()
    previous = last_wh.copy()  # the group's previous reading's register, whatever its flag
    resets = np.zeros(n_groups, np.int64)
    glitches = np.zeros(n_groups, np.int64)
    kept = np.zeros(n_groups, np.int64)
    charging_us = np.full(n_groups, NO_TIME, np.int64)
    last_row = np.full(n_groups, -1, np.int64)
    latest_us = np.full(n_groups, NO_TIME, np.int64)
    n = groups.shape[0]
    flags = np.zeros(n, np.int8)
    # One loop over the readings, then the stops (i >= n); the rules written out here, not in
    # a helper: a call passing the state arrays costs reference counting per value (~10x).
    for i in range(n + stop_groups.shape[0]):
        if i < n:
            g, r, p = groups[i], registers_wh[i], power_w[i]
        else:
            g, r, p = stop_groups[i - n], stop_wh[i - n], np.nan
        if not np.isnan(p) and (np.isnan(pmax[g]) or p > pmax[g]):
            pmax[g] = p
        if r >= last[g]:
            last[g] = r
        elif np.isnan(r):
            pass
        elif r < reset_fraction * last[g]:
            closed[g] += last[g] - seg[g]
            seg[g] = 0.0
            last[g] = r
            resets[g] += 1
            if i < n:
                flags[i] = FLAG_RESET
        else:
            glitches[g] += 1
            if i < n:
                flags[i] = FLAG_GLITCH
                previous[g] = r
            continue
        if i >= n:
            continue
        before = previous[g]
        previous[g] = r
        kept[g] += 1
        if (p > charging_power_w) if not np.isnan(p) else (r > before):
            charging_us[g] = ts_us[i]
        last_row[g] = i
        latest_us[g] = max(latest_us[g], ts_us[i])
    return last, seg, closed, pmax, resets, glitches, kept, charging_us, last_row, latest_us, flags


def fold_readings_reference(
    groups: I64,
    ts_us: I64,
    registers_wh: F64,
    power_w: F64,
    stop_groups: I64,
    stop_wh: F64,
    last_wh: F64,
    seg_start_wh: F64,
    closed_wh: F64,
    max_power_w: F64,
    reset_fraction: float,
    charging_power_w: float,
) -> FoldResult:
    """Plain-Python statement of :func:`fold_readings`: each group's values gathered in log
    order (readings, then its stop) and folded by :func:`register_energy_reference`; the
    per-group reading summaries from the gathered lists."""
    n_groups = len(last_wh)
    values: list[list[tuple[float, float]]] = [[] for _ in range(n_groups)]
    rows: list[list[int]] = [[] for _ in range(n_groups)]
    for i, g in enumerate(groups.tolist()):
        values[g].append((float(registers_wh[i]), float(power_w[i])))
        rows[g].append(i)
    for g, wh in zip(stop_groups.tolist(), stop_wh.tolist(), strict=True):
        values[g].append((wh, math.nan))
    starts = np.cumsum([0] + [len(v) for v in values]).astype(np.int64)
    flat = [v for vs in values for v in vs]
    last, seg, closed, pmax, resets, glitches, group_flags = register_energy_reference(
        starts,
        np.array([r for r, _ in flat], np.float64),
        np.array([p for _, p in flat], np.float64),
        last_wh, seg_start_wh, closed_wh, max_power_w, reset_fraction,
    )  # fmt: skip
    flags = np.zeros(len(groups), np.int8)
    kept = np.zeros(n_groups, np.int64)
    charging_us = np.full(n_groups, NO_TIME, np.int64)
    last_row = np.full(n_groups, -1, np.int64)
    latest_us = np.full(n_groups, NO_TIME, np.int64)
    for g in range(n_groups):
        before = float(last_wh[g])
        for k, i in enumerate(rows[g]):
            flags[i] = group_flags[starts[g] + k]
            r, p = values[g][k]
            previous, before = before, r
            if flags[i] == FLAG_GLITCH:
                continue
            kept[g] += 1
            if (p > charging_power_w) if not math.isnan(p) else (r > previous):
                charging_us[g] = ts_us[i]
            last_row[g] = i
            latest_us[g] = max(int(latest_us[g]), int(ts_us[i]))
    return last, seg, closed, pmax, resets, glitches, kept, charging_us, last_row, latest_us, flags


def warm() -> None:
    """Load the compiled kernel from Numba's cache now (a few hundred ms on first call): the
    runner calls it in a thread at start-up so it overlaps with opening the log."""
    values = np.zeros(2, np.float64)
    one = np.zeros(1, np.float64)
    rows = np.zeros(2, np.int64)
    fold_readings(rows, rows, values, values, rows[:1], one, one, one, one, one, 0.5, 0.0)
    # as the pipeline calls it: the per-reading columns are polars' read-only arrays
    fixed_rows, fixed_values = read_only(rows), read_only(values)
    fold_readings(
        fixed_rows, fixed_rows, fixed_values, fixed_values, rows[:1], one, one, one, one, one,
        0.5, 0.0,
    )  # fmt: skip
