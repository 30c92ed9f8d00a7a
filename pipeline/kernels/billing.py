"""Billing kernel: itemised bills in integer minor units for one or millions of sessions.

Inputs are offset arrays (readings of session ``s`` are ``starts[s]:starts[s + 1]``, see
:mod:`pipeline.kernels.session_energy` for how readings become a clean energy profile), plug-in
and plug-out times per session, and a tariff compiled by :func:`chargegrid.tariffs.compile_tariff`.

Per session, in this order (every amount an integer; ``round`` is half-even, once per line):

1. **Energy lines.** The profile is walked against the sorted band boundaries. Energy between
   two points is assumed to flow at constant power; at a boundary ``b`` inside ``(t_k, t_k+1)``
   the cumulative energy is ``E_k + rint(float(E_k+1 - E_k) * float(b - t_k) / float(t_k+1 -
   t_k))`` mWh. A boundary exactly at a reading puts that interval's energy before it. Each
   line accumulates ``Σ energy_mwh × price_µminor_per_kwh`` exactly (int64) and is rounded once:
   ``amount = round(Σ / 1e12)``.
2. **Time lines** (ms precision, pro rata, no per-minute rounding): charging = the intervals in
   which energy rose; connected = plug-in to plug-out (first to last point when unknown); idle =
   plug-out − end of charging (the last rise; plug-in if none) − grace, floored at 0. ``amount =
   round(ms × µminor_per_min / 6e10)``.
3. **Session fee** as is.
4. **Net** = sum of those lines. Below the minimum → ``minimum_adjustment = minimum − net``;
   above the maximum → ``cap_adjustment = maximum − net`` (negative). Net is then within
   ``[minimum, maximum]``, and ``minimum >= 0``, so no bill is negative, even with negative
   energy prices.
5. **Taxes**, each on the adjusted net (not compounded): ``round(net × ppm / 1e6)``.
6. **Total** = adjusted net + taxes = the sum of every line.

A session whose points fall outside the compiled range is flagged ``Q_OUTSIDE_TARIFF`` and its
energy lines are left at zero (the adapter refuses such input before it gets here).

Limits (int64): ``Σ mWh × µminor/kWh`` per line below 9.2e18, e.g. 1 MWh at 9,000 minor/kWh.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import pairwise

import numba
import numpy as np
import numpy.typing as npt
from numba import njit, prange

from chargegrid.tariffs import (
    FEE_CHARGING_MICRO_PER_MIN,
    FEE_CONNECTED_MICRO_PER_MIN,
    FEE_IDLE_GRACE_MS,
    FEE_IDLE_MICRO_PER_MIN,
    FEE_MAXIMUM_MINOR,
    FEE_MINIMUM_MINOR,
    FEE_SESSION_MINOR,
    NO_MAXIMUM,
)
from pipeline.kernels.session_energy import Q_OUTSIDE_TARIFF, profile, profile_reference

ENERGY_DIVISOR = 10**12  # mWh × µminor/kWh → minor
TIME_DIVISOR = 60_000 * 10**6  # ms × µminor/min → minor
PPM = 10**6
UNKNOWN_US = np.iinfo(np.int64).min  # plug-in/plug-out not known: use the first/last point

# Columns of the per-session time/fee matrix returned by the kernel.
T_CHARGING, T_CONNECTED, T_IDLE = 0, 1, 2
A_CHARGING, A_CONNECTED, A_IDLE, A_SESSION_FEE, A_MINIMUM, A_CAP = 0, 1, 2, 3, 4, 5
N_TIME, N_AMOUNTS = 3, 6

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
BillArrays = tuple[I64, I64, I64, I64, I64, I64, I64, I32]
ReadingArrays = tuple[I64, I64, F64, F64, I64, I64]  # starts, ts, register, power, plug in/out
TariffArrays = tuple[I64, I64, I64, I64, I64]  # bounds, piece line/price, fees, tax ppm
Rules = tuple[float, float, float]  # reset fraction, rollover modulus Wh, gap s
Scratch = tuple[I64, I64, I64]  # per worker: profile times, energies, line values


@njit(cache=True, inline="always")
def round_div(num: int, den: int) -> int:  # pragma: no cover - compiled; tested via reference
    """``num / den`` rounded half to even; ``den > 0``."""
    q = num // den
    r = num - q * den
    if 2 * r > den or (2 * r == den and q % 2 != 0):
        q += 1
    return q


@njit(cache=True)
def _energy_lines(
    out_t: I64,
    out_e: I64,
    m: int,
    bounds: I64,
    piece_line: I64,
    piece_price: I64,
    line_mwh: I64,
    line_value: I64,
) -> bool:  # pragma: no cover - compiled
    """Add the profile's energy per line (mWh and exact mWh × µminor/kWh); False if the
    profile is outside the compiled range."""
    n_pieces = piece_line.shape[0]
    if m < 2:
        return True
    if out_t[0] < bounds[0] or out_t[m - 1] > bounds[n_pieces]:
        return False
    j = np.searchsorted(bounds, out_t[0], side="right") - 1
    j = min(j, n_pieces - 1)
    e_cut = out_e[0]
    for k in range(m - 1):
        t0, t1 = out_t[k], out_t[k + 1]
        while bounds[j + 1] < t1:
            b = bounds[j + 1]
            de = out_e[k + 1] - out_e[k]
            e_b = out_e[k] + int(np.rint(float(de) * float(b - t0) / float(t1 - t0)))
            line = piece_line[j]
            line_mwh[line] += e_b - e_cut
            line_value[line] += (e_b - e_cut) * piece_price[j]
            e_cut = e_b
            j += 1
    line = piece_line[j]
    line_mwh[line] += out_e[m - 1] - e_cut
    line_value[line] += (out_e[m - 1] - e_cut) * piece_price[j]
    return True


@njit(cache=True)
def _times(
    out_t: I64, out_e: I64, m: int, plug_in: int, plug_out: int, grace_ms: int
) -> tuple[int, int, int]:  # pragma: no cover - compiled
    """(charging_ms, connected_ms, idle_ms) — see the module docstring."""
    start = plug_in if plug_in != UNKNOWN_US else (out_t[0] if m > 0 else 0)
    end = plug_out if plug_out != UNKNOWN_US else (out_t[m - 1] if m > 0 else start)
    charging_us = 0
    charge_end = start
    for k in range(m - 1):
        if out_e[k + 1] > out_e[k]:
            charging_us += out_t[k + 1] - out_t[k]
            charge_end = out_t[k + 1]
    connected_us = max(end - start, 0)
    idle_ms = max((end - charge_end) // 1000 - grace_ms, 0)
    return charging_us // 1000, connected_us // 1000, idle_ms


SERIAL_BELOW_READINGS = 200_000  # smaller batches run on one thread (no thread wake-up cost)


def bill_sessions_kernel(
    starts: I64,
    ts_us: I64,
    register_wh: F64,
    power_w: F64,
    plug_in_us: I64,
    plug_out_us: I64,
    bounds: I64,
    piece_line: I64,
    piece_price: I64,
    n_lines: int,
    fees: I64,
    tax_ppm: I64,
    reset_fraction: float,
    rollover_modulus_wh: float,
    gap_s: float,
    *,
    parallel: bool | None = None,
) -> BillArrays:
    """Bill every session. Returns, per session ``s``:

    ``energy_mwh[s, line]``, ``energy_minor[s, line]``, ``time_ms[s, T_*]``,
    ``amount_minor[s, A_*]`` (charging, connected, idle, session fee, minimum and cap
    adjustments), ``tax_minor[s, tax]``, ``total_minor[s]``, ``total_energy_mwh[s]``,
    ``quality[s]`` (``Q_*`` bits). Sessions are billed in parallel (``prange``, Numba's thread
    count) unless ``parallel`` is False, or None and the batch is small.
    """
    n = starts.shape[0] - 1
    out = (
        np.zeros((n, n_lines), np.int64),
        np.zeros((n, n_lines), np.int64),
        np.zeros((n, N_TIME), np.int64),
        np.zeros((n, N_AMOUNTS), np.int64),
        np.zeros((n, tax_ppm.shape[0]), np.int64),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
        np.zeros(n, np.int32),
    )
    readings = (starts, ts_us, register_wh, power_w, plug_in_us, plug_out_us)
    tariff = (bounds, piece_line, piece_price, fees, tax_ppm)
    rules = (float(reset_fraction), float(rollover_modulus_wh), float(gap_s))
    if parallel is None:
        parallel = ts_us.shape[0] >= SERIAL_BELOW_READINGS
    longest = int(np.max(np.diff(starts))) if n > 0 else 0
    workers = numba.config.NUMBA_NUM_THREADS if parallel else 1  # type: ignore[attr-defined]
    scratch = (
        np.empty((workers, longest), np.int64),  # profile times, per worker thread
        np.empty((workers, longest), np.int64),  # profile energies
        np.empty((workers, n_lines), np.int64),  # exact line values
    )
    (_bill_parallel if parallel else _bill_serial)(readings, tariff, rules, scratch, out)
    return out


@njit(cache=True, parallel=True)
def _bill_parallel(
    readings: ReadingArrays, tariff: TariffArrays, rules: Rules, scratch: Scratch, out: BillArrays
) -> None:  # pragma: no cover - compiled
    for s in prange(readings[0].shape[0] - 1):
        _bill_one(s, readings, tariff, rules, scratch, numba.get_thread_id(), out)


@njit(cache=True)
def _bill_serial(
    readings: ReadingArrays, tariff: TariffArrays, rules: Rules, scratch: Scratch, out: BillArrays
) -> None:  # pragma: no cover - compiled
    for s in range(readings[0].shape[0] - 1):
        _bill_one(s, readings, tariff, rules, scratch, 0, out)


@njit(cache=True)
def _bill_one(
    s: int,
    readings: ReadingArrays,
    tariff: TariffArrays,
    rules: Rules,
    scratch: Scratch,
    worker: int,
    out: BillArrays,
) -> None:  # pragma: no cover - compiled
    """Bill session ``s`` into row ``s`` of the outputs (see :func:`bill_sessions_kernel`)."""
    starts, ts_us, register_wh, power_w, plug_in_us, plug_out_us = readings
    bounds, piece_line, piece_price, fees, tax_ppm = tariff
    energy_mwh, energy_minor, time_ms, amount_minor, tax_minor, total_minor, total_mwh, quality = (
        out
    )
    n_lines = energy_mwh.shape[1]
    lo, hi = starts[s], starts[s + 1]
    out_t = scratch[0][worker]
    out_e = scratch[1][worker]
    value = scratch[2][worker]
    value[:] = 0
    m, flags = profile(
        ts_us, register_wh, power_w, lo, hi, rules[0], rules[1], rules[2], out_t, out_e
    )
    if not _energy_lines(out_t, out_e, m, bounds, piece_line, piece_price, energy_mwh[s], value):
        flags |= Q_OUTSIDE_TARIFF
    quality[s] = flags
    if m > 0:
        total_mwh[s] = out_e[m - 1]
    net = 0
    for line in range(n_lines):
        energy_minor[s, line] = round_div(value[line], ENERGY_DIVISOR)
        net += energy_minor[s, line]
    charging, connected, idle = _times(
        out_t, out_e, m, plug_in_us[s], plug_out_us[s], fees[FEE_IDLE_GRACE_MS]
    )
    time_ms[s, T_CHARGING] = charging
    time_ms[s, T_CONNECTED] = connected
    time_ms[s, T_IDLE] = idle
    a = amount_minor[s]
    a[A_CHARGING] = round_div(charging * fees[FEE_CHARGING_MICRO_PER_MIN], TIME_DIVISOR)
    a[A_CONNECTED] = round_div(connected * fees[FEE_CONNECTED_MICRO_PER_MIN], TIME_DIVISOR)
    a[A_IDLE] = round_div(idle * fees[FEE_IDLE_MICRO_PER_MIN], TIME_DIVISOR)
    a[A_SESSION_FEE] = fees[FEE_SESSION_MINOR]
    net += a[A_CHARGING] + a[A_CONNECTED] + a[A_IDLE] + a[A_SESSION_FEE]
    if net < fees[FEE_MINIMUM_MINOR]:
        a[A_MINIMUM] = fees[FEE_MINIMUM_MINOR] - net
    elif fees[FEE_MAXIMUM_MINOR] != NO_MAXIMUM and net > fees[FEE_MAXIMUM_MINOR]:
        a[A_CAP] = fees[FEE_MAXIMUM_MINOR] - net
    net += a[A_MINIMUM] + a[A_CAP]
    total = net
    for k in range(tax_ppm.shape[0]):
        tax_minor[s, k] = round_div(net * tax_ppm[k], PPM)
        total += tax_minor[s, k]
    total_minor[s] = total


# -- plain-Python reference (same contract, same results) ----------------------------------------


def round_div_reference(num: int, den: int) -> int:
    """``num / den`` rounded half to even (Python integers, exact)."""
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q % 2):
        q += 1
    return q


def _energy_lines_reference(
    points: list[tuple[int, int]], bounds: list[int], piece_line: list[int], piece_price: list[int]
) -> tuple[list[int], list[int], bool] | None:
    """Per line ``(mwh, exact value)``; None when outside the compiled range."""
    n_lines = max(piece_line) + 1 if piece_line else 0
    mwh, value = [0] * n_lines, [0] * n_lines
    if len(points) < 2:
        return mwh, value, True
    if points[0][0] < bounds[0] or points[-1][0] > bounds[-1]:
        return None
    j = min(bisect_right(bounds, points[0][0]) - 1, len(piece_line) - 1)
    e_cut = points[0][1]
    for (t0, e0), (t1, e1) in pairwise(points):
        while bounds[j + 1] < t1:
            b = bounds[j + 1]
            e_b = e0 + round(float(e1 - e0) * float(b - t0) / float(t1 - t0))
            mwh[piece_line[j]] += e_b - e_cut
            value[piece_line[j]] += (e_b - e_cut) * piece_price[j]
            e_cut = e_b
            j += 1
    mwh[piece_line[j]] += points[-1][1] - e_cut
    value[piece_line[j]] += (points[-1][1] - e_cut) * piece_price[j]
    return mwh, value, True


def _times_reference(
    points: list[tuple[int, int]], plug_in: int, plug_out: int, grace_ms: int
) -> tuple[int, int, int]:
    start = plug_in if plug_in != UNKNOWN_US else (points[0][0] if points else 0)
    end = plug_out if plug_out != UNKNOWN_US else (points[-1][0] if points else start)
    rises = [(t0, t1) for (t0, e0), (t1, e1) in pairwise(points) if e1 > e0]
    charging_us = sum(t1 - t0 for t0, t1 in rises)
    charge_end = rises[-1][1] if rises else start
    idle_ms = max((end - charge_end) // 1000 - grace_ms, 0)
    return charging_us // 1000, max(end - start, 0) // 1000, idle_ms


def bill_sessions_reference(
    starts: I64,
    ts_us: I64,
    register_wh: F64,
    power_w: F64,
    plug_in_us: I64,
    plug_out_us: I64,
    bounds: I64,
    piece_line: I64,
    piece_price: I64,
    n_lines: int,
    fees: I64,
    tax_ppm: I64,
    reset_fraction: float,
    rollover_modulus_wh: float,
    gap_s: float,
) -> BillArrays:
    """Plain-Python statement of :func:`bill_sessions_kernel` (same contract, same results)."""
    f = [int(x) for x in fees]
    rows = []
    for s in range(len(starts) - 1):
        lo, hi = int(starts[s]), int(starts[s + 1])
        points, flags = profile_reference(
            [int(x) for x in ts_us[lo:hi]],
            [float(x) for x in register_wh[lo:hi]],
            [float(x) for x in power_w[lo:hi]],
            reset_fraction,
            rollover_modulus_wh,
            gap_s,
        )
        lines = _energy_lines_reference(
            points, bounds.tolist(), piece_line.tolist(), piece_price.tolist()
        )
        if lines is None:
            flags |= Q_OUTSIDE_TARIFF
            lines = ([0] * n_lines, [0] * n_lines, False)
        mwh = (lines[0] + [0] * n_lines)[:n_lines]
        value = (lines[1] + [0] * n_lines)[:n_lines]
        energy_minor = [round_div_reference(v, ENERGY_DIVISOR) for v in value]
        times = _times_reference(
            points, int(plug_in_us[s]), int(plug_out_us[s]), f[FEE_IDLE_GRACE_MS]
        )
        amounts = [
            round_div_reference(times[0] * f[FEE_CHARGING_MICRO_PER_MIN], TIME_DIVISOR),
            round_div_reference(times[1] * f[FEE_CONNECTED_MICRO_PER_MIN], TIME_DIVISOR),
            round_div_reference(times[2] * f[FEE_IDLE_MICRO_PER_MIN], TIME_DIVISOR),
            f[FEE_SESSION_MINOR],
            0,
            0,
        ]
        net = sum(energy_minor) + sum(amounts)
        if net < f[FEE_MINIMUM_MINOR]:
            amounts[A_MINIMUM] = f[FEE_MINIMUM_MINOR] - net
        elif f[FEE_MAXIMUM_MINOR] != NO_MAXIMUM and net > f[FEE_MAXIMUM_MINOR]:
            amounts[A_CAP] = f[FEE_MAXIMUM_MINOR] - net
        net += amounts[A_MINIMUM] + amounts[A_CAP]
        taxes = [round_div_reference(net * int(p), PPM) for p in tax_ppm]
        total_mwh = points[-1][1] if points else 0
        rows.append((mwh, energy_minor, times, amounts, taxes, net + sum(taxes), total_mwh, flags))
    n = len(rows)
    return (
        np.array([r[0] for r in rows], np.int64).reshape(n, n_lines),
        np.array([r[1] for r in rows], np.int64).reshape(n, n_lines),
        np.array([r[2] for r in rows], np.int64).reshape(n, N_TIME),
        np.array([r[3] for r in rows], np.int64).reshape(n, N_AMOUNTS),
        np.array([r[4] for r in rows], np.int64).reshape(n, len(tax_ppm)),
        np.array([r[5] for r in rows], np.int64),
        np.array([r[6] for r in rows], np.int64),
        np.array([r[7] for r in rows], np.int32),
    )
