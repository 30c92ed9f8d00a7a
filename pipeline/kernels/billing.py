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

How it runs (same results whichever way a session goes; :func:`bill_sessions_reference` states
the contract): sessions are billed in blocks of ``BLOCK``. A *regular* session (two or more
readings, times strictly rising, every register present and never falling once rounded to mWh,
inside the compiled range: what chargers send) has every reading as a profile point, energy
``r[k] - r[0]``, so one vectorised pass over its readings (:func:`_scan_block`) gives its
charging time and gap flag, and only the readings around band boundaries are read again
(:func:`_regular_block`). Any other session with every register present and in time order
takes the **one-pass** loop (:func:`_stream_session`: register rules, band cursor and
charging time together, nothing written per reading); the rest take the **general path**
(the profile of :mod:`pipeline.kernels.session_energy` in scratch, then the same accounting).
Sessions are cut into chunks of about equal reading counts, each claimed by whichever thread
is free (:func:`~pipeline.kernels.session_energy.claim_chunk`), and scratch is allocated once
per chunk. Regular sessions see arrays passed per block, never per session: each call or slice
costs an atomic reference-count update on arrays both threads share. Every output row is
written once, when its block is settled, so outputs are allocated uninitialised (or passed in
with ``out=``) and their pages are first touched by the thread that bills them.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import pairwise
from typing import cast

import numba
import numpy as np
import numpy.typing as npt
from numba import njit, prange

from chargegrid.errors import ChargegridError
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
from pipeline.kernels.session_energy import (
    CHUNKS_PER_THREAD,
    MWH_PER_WH,
    Q_DUPLICATE,
    Q_GAP,
    Q_GLITCH,
    Q_NO_DATA,
    Q_OUTSIDE_TARIFF,
    _fold,
    balanced_chunks,
    claim_chunk,
    profile,
    profile_reference,
)

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
        j, e_cut = _cut_bands(
            out_t[k], out_e[k], out_t[k + 1], out_e[k + 1], j, e_cut, bounds, piece_line,
            piece_price, line_mwh, line_value,
        )  # fmt: skip
    line = piece_line[j]
    line_mwh[line] += out_e[m - 1] - e_cut
    line_value[line] += (out_e[m - 1] - e_cut) * piece_price[j]
    return True


@njit(cache=True, inline="always")
def _cut_bands(
    t0: int,
    e0: int,
    t1: int,
    e1: int,
    j: int,
    e_cut: int,
    bounds: I64,
    piece_line: I64,
    piece_price: I64,
    line_mwh: I64,
    line_value: I64,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Close every piece that ends inside ``(t0, t1)``: the band cursor ``j`` only moves
    forward, so a reading costs one comparison unless it crosses a boundary."""
    while bounds[j + 1] < t1:
        b = bounds[j + 1]
        e_b = e0 + int(np.rint(float(e1 - e0) * float(b - t0) / float(t1 - t0)))
        line = piece_line[j]
        line_mwh[line] += e_b - e_cut
        line_value[line] += (e_b - e_cut) * piece_price[j]
        e_cut = e_b
        j += 1
    return j, e_cut


# Slots of the per-session summary the streaming pass fills (see _stream_session).
S_POINTS, S_FLAGS, S_FIRST, S_LAST, S_ENERGY, S_CHARGING, S_CHARGE_END = 0, 1, 2, 3, 4, 5, 6
S_BAND = 7  # the piece the previous session ended in: where the next one's search starts
N_SUMMARY = 8


@njit(cache=True)
def _stream_session(
    lo: int,
    hi: int,
    ts_us: I64,
    register_wh: F64,
    rules: Rules,
    bounds: I64,
    piece_line: I64,
    piece_price: I64,
    line_mwh: I64,
    line_value: I64,
    summary: I64,
) -> bool:  # pragma: no cover - compiled; equality with the reference is tested
    """One pass, nothing written per reading, for readings that all carry a register value,
    in time order, inside the compiled range, but that are not regular (repeated times,
    glitches, resets, rollovers; see :func:`_scan_block`). Applies the register rules of
    :func:`~pipeline.kernels.session_energy.profile` and adds the energy lines and the charging
    time as it goes; fills ``summary`` (``S_*``; ``S_POINTS`` only tells 1 from 2+) and the
    line accumulators (zeroed by the caller). Returns False, having written nothing, when the
    session is not that case (out of order, a reading without a register value, outside the
    range): the caller then takes the general path."""
    n = hi - lo
    ts, reg = ts_us[lo:hi], register_wh[lo:hi]  # zero-based views: tighter code than lo + k
    n_pieces = piece_line.shape[0]
    if n == 0 or not _ordered_registers(ts, reg):
        return False
    if ts[0] < bounds[0] or ts[n - 1] > bounds[n_pieces]:
        return False
    t0 = first = ts[0]
    last = seg = int(np.rint(reg[0] * MWH_PER_WH))
    offset = -seg  # energy = last + offset (offset = closed - seg, see profile)
    closed = e0 = e_cut = flags = charging = 0
    charge_end = UNKNOWN_US
    gap_us = _gap_limit_us(rules[2])
    j = _piece_of(bounds, n_pieces, t0, summary[S_BAND])
    next_bound = bounds[j + 1]  # kept in a register: the band test is one comparison
    for k in range(1, n):
        value = reg[k]
        t = ts[k]
        if t == t0:
            flags |= Q_DUPLICATE
            continue
        r = int(np.rint(value * MWH_PER_WH))
        if r >= last:
            last = r
        else:
            modulus = int(np.rint(rules[1] * MWH_PER_WH))
            last, seg, closed, flag = _fold(r, last, seg, closed, modulus, rules[0])
            flags |= flag
            if flag == Q_GLITCH:
                continue
            offset = closed - seg
        e = last + offset
        if t - t0 > gap_us:
            flags |= Q_GAP
        if e > e0:
            charging += t - t0
            charge_end = t
        if next_bound < t:
            j, e_cut = _cut_bands(
                t0, e0, t, e, j, e_cut, bounds, piece_line, piece_price, line_mwh, line_value
            )
            next_bound = bounds[j + 1]
        t0, e0 = t, e
    line_mwh[piece_line[j]] += e0 - e_cut
    line_value[piece_line[j]] += (e0 - e_cut) * piece_price[j]
    summary[S_POINTS] = 2 if t0 != first else 1  # point times strictly increase
    summary[S_FLAGS] = flags if t0 != first else flags | Q_NO_DATA
    summary[S_FIRST], summary[S_LAST], summary[S_ENERGY] = first, t0, e0
    summary[S_CHARGING], summary[S_CHARGE_END], summary[S_BAND] = charging, charge_end, j
    return True


@njit(cache=True)
def _scan_block(
    b0: int, b1: int, starts: I64, ts_us: I64, register_wh: F64, gap_us: int, summary: I64
) -> None:  # pragma: no cover - compiled; equality with the reference is tested
    """Find the *regular* sessions of ``b0:b1``: at least two readings, times strictly
    rising, every register present and never falling once rounded to mWh. Their profile is
    every reading with energy ``r[k] - r[0]``, so one vectorised pass gives their charging
    time and gap flag: summary row ``s - b0`` gets ``S_POINTS = 2``, ``S_CHARGING`` and
    ``S_FLAGS``; other sessions get ``S_POINTS = -1``.

    The views are passed straight into the inlined :func:`_scan` (zero-based: no index wrap
    tests, so the loop vectorises) and die there: Numba then elides their reference counts,
    which are atomic updates on arrays both threads share."""
    for s in range(b0, b1):
        lo, hi = starts[s], starts[s + 1]
        regular, rising_us, widest_us = False, 0, 0
        if hi - lo >= 2:
            regular, rising_us, widest_us = _scan(ts_us[lo:hi], register_wh[lo:hi])
        summary[s - b0, S_POINTS] = 2 if regular else -1
        summary[s - b0, S_CHARGING] = rising_us
        summary[s - b0, S_FLAGS] = Q_GAP if widest_us > gap_us else 0


@njit(cache=True, inline="always")
def _scan(ts: I64, reg: F64) -> tuple[bool, int, int]:  # pragma: no cover - compiled
    """One branch-free pass over a session's readings (two or more) that LLVM vectorises:
    ``(regular, charging_us, widest_us)``; ``regular`` as in :func:`_scan_block`,
    ``charging_us`` the time of the intervals whose register rose, ``widest_us`` the longest
    interval."""
    bad = np.isnan(reg[0])
    charging = widest = 0
    for k in range(1, ts.shape[0]):
        d = ts[k] - ts[k - 1]
        r = np.rint(reg[k] * MWH_PER_WH)
        r_prev = np.rint(reg[k - 1] * MWH_PER_WH)
        bad |= (d <= 0) | np.isnan(r) | (r < r_prev)
        charging += d if r > r_prev else 0
        widest = max(widest, d)
    return not bad, charging, widest


@njit(cache=True)
def _regular_block(
    b0: int,
    b1: int,
    starts: I64,
    ts_us: I64,
    register_wh: F64,
    bounds: I64,
    piece_line: I64,
    piece_price: I64,
    mwh: I64,
    value: I64,
    summary: I64,
    band: int,
) -> int:  # pragma: no cover - compiled; equality with the reference is tested
    """Energy lines and the rest of the summary of the regular sessions of ``b0:b1`` that
    lie inside the compiled range (those outside get ``S_POINTS = -1``); only the readings
    around band boundaries are read. Every row's ``S_BAND`` is the band hint; returns the
    band the last session ended in (the next block's hint)."""
    n_pieces = piece_line.shape[0]
    for s in range(b0, b1):
        row = s - b0
        lo, last = starts[s], starts[s + 1] - 1
        summary[row, S_BAND] = band
        if summary[row, S_POINTS] != 2:
            continue
        if ts_us[lo] < bounds[0] or ts_us[last] > bounds[n_pieces]:
            summary[row, S_POINTS] = -1
            continue
        band = _piece_of(bounds, n_pieces, ts_us[lo], band)
        r0 = _mwh(register_wh[lo])
        e_cut = 0
        k = lo + 1
        while bounds[band + 1] < ts_us[last]:  # boundary b, ts[k - 1] <= b < ts[k]: cut there
            b = bounds[band + 1]
            k = _first_after(ts_us, k, last, b)
            e0 = _mwh(register_wh[k - 1]) - r0
            e_b = e0 + _interpolate(ts_us[k - 1], e0, ts_us[k], _mwh(register_wh[k]) - r0, b)
            mwh[row, piece_line[band]] += e_b - e_cut
            value[row, piece_line[band]] += (e_b - e_cut) * piece_price[band]
            e_cut = e_b
            band += 1
        energy = _mwh(register_wh[last]) - r0
        mwh[row, piece_line[band]] += energy - e_cut
        value[row, piece_line[band]] += (energy - e_cut) * piece_price[band]
        summary[row, S_FIRST], summary[row, S_LAST] = ts_us[lo], ts_us[last]
        summary[row, S_ENERGY], summary[row, S_BAND] = energy, band
        k = last
        while k > lo and _mwh(register_wh[k]) <= _mwh(register_wh[k - 1]):
            k -= 1
        summary[row, S_CHARGE_END] = ts_us[k] if k > lo else UNKNOWN_US
    return band


@njit(cache=True, inline="always")
def _mwh(register_wh: float) -> int:  # pragma: no cover - compiled
    """A register value in integer mWh (half-even), as the profile rounds it."""
    return int(np.rint(register_wh * MWH_PER_WH))


@njit(cache=True, inline="always")
def _interpolate(t0: int, e0: int, t1: int, e1: int, t: int) -> int:  # pragma: no cover
    """mWh delivered from ``t0`` to ``t`` at constant power over ``(t0, t1)`` (module
    docstring, step 1)."""
    return int(np.rint(float(e1 - e0) * float(t - t0) / float(t1 - t0)))


@njit(cache=True, inline="always")
def _first_after(ts: I64, k: int, end: int, t: int) -> int:  # pragma: no cover - compiled
    """The first index in ``k:end + 1`` whose time is after ``t`` (``ts[end] > t``)."""
    while k < end:
        mid = (k + end) >> 1
        if ts[mid] <= t:
            k = mid + 1
        else:
            end = mid
    return k


@njit(cache=True, inline="always")
def _piece_of(bounds: I64, n_pieces: int, t: int, hint: int) -> int:  # pragma: no cover
    """The piece holding ``t`` (``bounds[j] <= t < bounds[j + 1]``, the last piece closed),
    as ``searchsorted``: first trying ``hint`` and the piece after it, which is where the
    next session of a charger (or of a batch in time order) usually starts."""
    if 0 <= hint < n_pieces and bounds[hint] <= t:
        if hint == n_pieces - 1 or t < bounds[hint + 1]:
            return hint
        if hint + 1 == n_pieces - 1 or t < bounds[hint + 2]:
            return hint + 1
    return min(int(np.searchsorted(bounds, t, side="right")) - 1, n_pieces - 1)


@njit(cache=True, inline="always")
def _gap_limit_us(gap_s: float) -> int:  # pragma: no cover - compiled
    """The integer ``L`` with ``d > L`` iff ``float(d) > gap_s * 1e6`` for whole µs ``d``
    below 2**53 (285 years): the profile's gap test without a conversion per reading."""
    g = gap_s * 1e6
    if np.isnan(g) or g >= 9.2e18:
        return np.iinfo(np.int64).max
    if g <= -9.2e18:
        return np.iinfo(np.int64).min
    return int(np.floor(g))


@njit(cache=True, inline="always")
def _ordered_registers(ts: I64, reg: F64) -> bool:  # pragma: no cover - compiled
    """Whether every reading has a register value and ``ts`` never steps back (no early
    exit, so the loop vectorises)."""
    bad = np.isnan(reg[0])
    for k in range(1, ts.shape[0]):
        bad |= (ts[k] < ts[k - 1]) | np.isnan(reg[k])
    return not bad


@njit(cache=True)
def _profile_session(
    lo: int,
    hi: int,
    readings: ReadingArrays,
    rules: Rules,
    tariff: TariffArrays,
    out_t: I64,
    out_e: I64,
    line_mwh: I64,
    line_value: I64,
    summary: I64,
) -> None:  # pragma: no cover - compiled
    """The general path (out of order, missing registers or power only, no data, outside the
    range): the profile in scratch, then the same summary and line accumulators as
    :func:`_stream_session`."""
    _, ts_us, register_wh, power_w, _, _ = readings
    bounds, piece_line, piece_price, _, _ = tariff
    m, flags = profile(
        ts_us, register_wh, power_w, lo, hi, rules[0], rules[1], rules[2], out_t, out_e
    )
    if not _energy_lines(out_t, out_e, m, bounds, piece_line, piece_price, line_mwh, line_value):
        flags |= Q_OUTSIDE_TARIFF
    charging = 0
    charge_end = UNKNOWN_US
    for k in range(m - 1):
        if out_e[k + 1] > out_e[k]:
            charging += out_t[k + 1] - out_t[k]
            charge_end = out_t[k + 1]
    summary[S_POINTS], summary[S_FLAGS] = m, flags
    summary[S_FIRST] = out_t[0] if m > 0 else 0
    summary[S_LAST] = out_t[m - 1] if m > 0 else 0
    summary[S_ENERGY] = out_e[m - 1] if m > 0 else 0
    summary[S_CHARGING], summary[S_CHARGE_END] = charging, charge_end


@njit(cache=True, inline="always")
def _times(
    summary: I64, row: int, plug_in: int, plug_out: int, grace_ms: int
) -> tuple[int, int, int]:  # pragma: no cover - compiled
    """(charging_ms, connected_ms, idle_ms) of ``summary[row]``, see the module docstring."""
    m = summary[row, S_POINTS]
    start = plug_in if plug_in != UNKNOWN_US else (summary[row, S_FIRST] if m > 0 else 0)
    end = plug_out if plug_out != UNKNOWN_US else (summary[row, S_LAST] if m > 0 else start)
    charge_end = summary[row, S_CHARGE_END]
    charge_end = charge_end if charge_end != UNKNOWN_US else start
    idle_ms = max((end - charge_end) // 1000 - grace_ms, 0)
    return summary[row, S_CHARGING] // 1000, max(end - start, 0) // 1000, idle_ms


class BillBufferError(ChargegridError):
    """``out`` arrays passed to :func:`bill_sessions_kernel` do not fit the call."""


def bill_shapes(n_sessions: int, n_lines: int, n_taxes: int) -> list[tuple[tuple[int, ...], type]]:
    """Shape and dtype of each array :func:`bill_sessions_kernel` returns, in order."""
    i64 = np.int64
    return [
        ((n_sessions, n_lines), i64),
        ((n_sessions, n_lines), i64),
        ((n_sessions, N_TIME), i64),
        ((n_sessions, N_AMOUNTS), i64),
        ((n_sessions, n_taxes), i64),
        ((n_sessions,), i64),
        ((n_sessions,), i64),
        ((n_sessions,), np.int32),
    ]


def bill_buffers(n_sessions: int, n_lines: int, n_taxes: int) -> BillArrays:
    """Uninitialised output arrays for :func:`bill_sessions_kernel` (``out=``), carved from
    one allocation: one large block is mapped fresh and advised for huge pages, where eight
    arrays of a few MB come from the heap in 4 KiB pages, each faulted in at ~1 µs."""
    shapes = bill_shapes(n_sessions, n_lines, n_taxes)
    sizes = [int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in shapes]
    block = np.empty(sum(-(-size // 8) * 8 for size in sizes), np.uint8)
    arrays: list[npt.NDArray[np.generic]] = []
    at = 0
    for (shape, dtype), size in zip(shapes, sizes, strict=True):
        arrays.append(block[at : at + size].view(dtype).reshape(shape))
        at += -(-size // 8) * 8
    return cast("BillArrays", tuple(arrays))


def check_bill_buffers(out: BillArrays, n_sessions: int, n_lines: int, n_taxes: int) -> None:
    """Raise :class:`BillBufferError` unless ``out`` is the arrays the call returns, in order:
    shapes, dtypes, C order, writeable."""
    shapes = bill_shapes(n_sessions, n_lines, n_taxes)
    if not isinstance(out, tuple) or len(out) != len(shapes):
        msg = f"out must be a tuple of {len(shapes)} arrays (see bill_buffers)"
        raise BillBufferError(msg)
    for k, (array, (shape, dtype)) in enumerate(zip(out, shapes, strict=True)):
        if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != dtype:
            got = f"{array.shape} {array.dtype}" if isinstance(array, np.ndarray) else type(array)
            msg = f"out[{k}] must be a {shape} {np.dtype(dtype)} array, got {got}"
            raise BillBufferError(msg)
        if not (array.flags.c_contiguous and array.flags.writeable):
            msg = f"out[{k}] must be C-contiguous and writeable"
            raise BillBufferError(msg)


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
    out: BillArrays | None = None,
) -> BillArrays:
    """Bill every session. Returns, per session ``s``:

    ``energy_mwh[s, line]``, ``energy_minor[s, line]``, ``time_ms[s, T_*]``,
    ``amount_minor[s, A_*]`` (charging, connected, idle, session fee, minimum and cap
    adjustments), ``tax_minor[s, tax]``, ``total_minor[s]``, ``total_energy_mwh[s]``,
    ``quality[s]`` (``Q_*`` bits). Sessions are billed in parallel (``prange`` over chunks of
    sessions holding about the same number of readings, Numba's thread count) unless
    ``parallel`` is False, or None and the batch is small.

    ``out``: arrays to write into and return (see :func:`bill_buffers`), every element
    overwritten whatever it held; a caller billing batch after batch keeps them to skip
    allocating and page-faulting fresh memory on each call. :class:`BillBufferError` if their
    shapes or dtypes do not fit this call.
    """
    n = starts.shape[0] - 1
    if out is None:
        out = bill_buffers(n, n_lines, tax_ppm.shape[0])
    else:
        check_bill_buffers(out, n, n_lines, tax_ppm.shape[0])
    readings = (starts, ts_us, register_wh, power_w, plug_in_us, plug_out_us)
    tariff = (bounds, piece_line, piece_price, fees, tax_ppm)
    rules = (float(reset_fraction), float(rollover_modulus_wh), float(gap_s))
    if parallel is None:
        parallel = ts_us.shape[0] >= SERIAL_BELOW_READINGS
    if not parallel or n == 0:
        _bill_chunk(0, n, readings, tariff, rules, out)
        return out
    threads = numba.get_num_threads()
    cuts = balanced_chunks(starts, threads * CHUNKS_PER_THREAD)
    _bill_parallel(threads, cuts, np.zeros(1, np.int64), readings, tariff, rules, out)
    return out


@njit(cache=True, parallel=True)
def _bill_parallel(
    threads: int,
    cuts: I64,
    counter: I64,
    readings: ReadingArrays,
    tariff: TariffArrays,
    rules: Rules,
    out: BillArrays,
) -> None:  # pragma: no cover - compiled
    """Chunks ``cuts[c]:cuts[c + 1]`` claimed by whichever thread is free (:func:`claim_chunk`;
    ``counter`` starts at 0)."""
    for _ in prange(threads):
        c = claim_chunk(counter)
        while c < cuts.shape[0] - 1:
            _bill_chunk(cuts[c], cuts[c + 1], readings, tariff, rules, out)
            c = claim_chunk(counter)


BLOCK = 256  # sessions billed together: block scratch stays in cache, calls are per block


@njit(cache=True)
def _bill_chunk(
    first: int,
    stop: int,
    readings: ReadingArrays,
    tariff: TariffArrays,
    rules: Rules,
    out: BillArrays,
) -> None:  # pragma: no cover - compiled
    """Bill sessions ``first:stop``, ``BLOCK`` at a time: regular sessions in one pass over
    the block (:func:`_regular_block`), the others one by one (:func:`_other_session`), then
    the block is settled (:func:`_settle`). Scratch is allocated once per chunk (the profile
    arrays only if a session needs the general path); argument tuples are unpacked here and
    arrays are passed per block, not per session (see :func:`_scan_block`). Lines accumulate
    in block scratch and every output row is written once, by :func:`_settle`: ``out`` may
    hold anything on entry, and its pages are first touched by the thread billing them."""
    starts, ts_us, register_wh, _, plug_in_us, plug_out_us = readings
    bounds, piece_line, piece_price, fees, tax_ppm = tariff
    n_lines = out[0].shape[1]
    mwh = np.empty((BLOCK, n_lines), np.int64)
    value = np.empty((BLOCK, n_lines), np.int64)
    summary = np.empty((BLOCK, N_SUMMARY), np.int64)
    out_t = np.empty(0, np.int64)
    out_e = np.empty(0, np.int64)
    gap_us = _gap_limit_us(rules[2])
    band = -1
    for b0 in range(first, stop, BLOCK):
        b1 = min(b0 + BLOCK, stop)
        mwh[:] = 0
        value[:] = 0
        _scan_block(b0, b1, starts, ts_us, register_wh, gap_us, summary)
        band = _regular_block(
            b0, b1, starts, ts_us, register_wh, bounds, piece_line, piece_price, mwh, value,
            summary, band,
        )  # fmt: skip
        for s in range(b0, b1):
            if summary[s - b0, S_POINTS] >= 0:
                continue
            lo, hi = starts[s], starts[s + 1]
            if out_t.shape[0] < hi - lo:
                out_t = np.empty(hi - lo, np.int64)
                out_e = np.empty(hi - lo, np.int64)
            _other_session(
                lo, hi, readings, tariff, rules, out_t, out_e, mwh[s - b0], value[s - b0],
                summary[s - b0],
            )  # fmt: skip
        _settle(b0, b1, mwh, value, summary, plug_in_us, plug_out_us, fees, tax_ppm, out)


@njit(cache=True)
def _other_session(
    lo: int,
    hi: int,
    readings: ReadingArrays,
    tariff: TariffArrays,
    rules: Rules,
    out_t: I64,
    out_e: I64,
    line_mwh: I64,
    line_value: I64,
    summary: I64,
) -> None:  # pragma: no cover - compiled
    """A session :func:`_regular_block` left: the one-pass loop if it can, else the general
    path (line accumulators zero on entry; ``summary[S_BAND]`` is the band hint)."""
    _, ts_us, register_wh, _, _, _ = readings
    bounds, piece_line, piece_price, _, _ = tariff
    streamed = _stream_session(
        lo, hi, ts_us, register_wh, rules, bounds, piece_line, piece_price, line_mwh,
        line_value, summary,
    )  # fmt: skip
    if not streamed:
        _profile_session(
            lo, hi, readings, rules, tariff, out_t, out_e, line_mwh, line_value, summary
        )


@njit(cache=True)
def _settle(
    b0: int,
    b1: int,
    mwh: I64,
    value: I64,
    summary: I64,
    plug_in_us: I64,
    plug_out_us: I64,
    fees: I64,
    tax_ppm: I64,
    out: BillArrays,
) -> None:  # pragma: no cover - compiled
    """Rows ``b0:b1`` of the outputs (every field) from the block's line sums and summaries."""
    energy_mwh, energy_minor, time_ms, amount_minor, tax_minor, total_minor, total_mwh, quality = (
        out
    )
    for s in range(b0, b1):
        row = s - b0
        for line in range(value.shape[1]):
            energy_mwh[s, line] = mwh[row, line]
            energy_minor[s, line] = _round_or_zero(value[row, line], ENERGY_DIVISOR)
        quality[s] = summary[row, S_FLAGS]
        total_mwh[s] = summary[row, S_ENERGY]
        charging, connected, idle = _times(
            summary, row, plug_in_us[s], plug_out_us[s], fees[FEE_IDLE_GRACE_MS]
        )
        time_ms[s, T_CHARGING] = charging
        time_ms[s, T_CONNECTED] = connected
        time_ms[s, T_IDLE] = idle
    _amounts(b0, b1, energy_minor, time_ms, fees, tax_ppm, amount_minor, tax_minor, total_minor)


@njit(cache=True, inline="always")
def _round_or_zero(num: int, den: int) -> int:  # pragma: no cover - compiled
    return 0 if num == 0 else round_div(num, den)


@njit(cache=True)
def _amounts(
    b0: int,
    b1: int,
    energy_minor: I64,
    time_ms: I64,
    fees: I64,
    tax_ppm: I64,
    amount_minor: I64,
    tax_minor: I64,
    total_minor: I64,
) -> None:  # pragma: no cover - compiled
    """Rows ``b0:b1``: time lines, fee, minimum/cap and taxes (module docstring 2-6)."""
    for s in range(b0, b1):
        net = 0
        for line in range(energy_minor.shape[1]):
            net += energy_minor[s, line]
        charging = _round_or_zero(
            time_ms[s, T_CHARGING] * fees[FEE_CHARGING_MICRO_PER_MIN], TIME_DIVISOR
        )
        connected = _round_or_zero(
            time_ms[s, T_CONNECTED] * fees[FEE_CONNECTED_MICRO_PER_MIN], TIME_DIVISOR
        )
        idle = _round_or_zero(time_ms[s, T_IDLE] * fees[FEE_IDLE_MICRO_PER_MIN], TIME_DIVISOR)
        amount_minor[s, A_CHARGING] = charging
        amount_minor[s, A_CONNECTED] = connected
        amount_minor[s, A_IDLE] = idle
        amount_minor[s, A_SESSION_FEE] = fees[FEE_SESSION_MINOR]
        net += charging + connected + idle + fees[FEE_SESSION_MINOR]
        amount_minor[s, A_MINIMUM] = 0
        amount_minor[s, A_CAP] = 0
        if net < fees[FEE_MINIMUM_MINOR]:
            amount_minor[s, A_MINIMUM] = fees[FEE_MINIMUM_MINOR] - net
            net = fees[FEE_MINIMUM_MINOR]
        elif fees[FEE_MAXIMUM_MINOR] != NO_MAXIMUM and net > fees[FEE_MAXIMUM_MINOR]:
            amount_minor[s, A_CAP] = fees[FEE_MAXIMUM_MINOR] - net
            net = fees[FEE_MAXIMUM_MINOR]
        total = net
        for k in range(tax_ppm.shape[0]):
            tax_minor[s, k] = _round_or_zero(net * tax_ppm[k], PPM)
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
