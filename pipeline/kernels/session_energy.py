"""Per-session energy profile from raw readings, for billing and re-billing (batch).

A session's readings are ``ts_us[lo:hi]`` (int64 µs UTC), ``register_wh`` (float, NaN = none) and
``power_w`` (float, NaN = none). :func:`profile` turns them into a clean cumulative profile: points
``(t_us, energy_mwh)`` with strictly increasing times and ``energy_mwh`` the integer
milliwatt-hours delivered since the first point (so 0 at the first point). Rules, in order:

* **out of order**: readings are taken in time order (stable: ties keep their arrival order);
  flag ``Q_REORDERED``.
* **duplicates**: of several readings with the same time, the first (in arrival order) counts,
  the others are dropped; flag ``Q_DUPLICATE``.
* **registers** (used whenever the session has at least one register value; power is then
  ignored): each register is rounded to an integer mWh (half-even) and folded like
  :mod:`pipeline.kernels.energy`: ``r >= last`` progress; a drop from ``last >= 0.9 * M`` to
  ``r <= 0.1 * M`` with ``M = rollover_modulus_wh`` (0 = no rollover) is a **rollover**: energy
  continues as ``M - last + r`` (``Q_ROLLOVER``); any other drop below ``reset_fraction * last``
  is a **reset** (meter restarted from zero; energy continues from ``r``; ``Q_RESET``); a
  smaller step back is a **glitch**: the reading is dropped (``Q_GLITCH``).
* **power only** (no register value at all): energy is the trapezoid integral of
  ``max(power_w, 0)`` over time, accumulated in float mWh and rounded half-even at each point;
  flag ``Q_TRAPEZOID``.
* **gaps**: two consecutive points more than ``gap_s`` apart: energy across the gap is kept (the
  register is authoritative; the billing kernel spreads it linearly) and ``Q_GAP`` is set.
* fewer than two points: ``Q_NO_DATA`` (energy 0).

Working in integer mWh makes profiles additive: splitting a session at one of its readings gives
two profiles whose energies sum exactly to the whole one's.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from numba import njit, prange, types
from numba.extending import intrinsic

Q_REORDERED = 1
Q_DUPLICATE = 2
Q_GLITCH = 4
Q_RESET = 8
Q_ROLLOVER = 16
Q_GAP = 32
Q_TRAPEZOID = 64
Q_NO_DATA = 128
Q_OUTSIDE_TARIFF = 256  # set by the billing kernel: the session is outside the compiled range

QUALITY_NAMES = {
    Q_REORDERED: "reordered",
    Q_DUPLICATE: "duplicate",
    Q_GLITCH: "glitch",
    Q_RESET: "reset",
    Q_ROLLOVER: "rollover",
    Q_GAP: "gap",
    Q_TRAPEZOID: "trapezoid",
    Q_NO_DATA: "no_data",
    Q_OUTSIDE_TARIFF: "outside_tariff",
}

ROLLOVER_HIGH = 0.9  # last register within the top 10 % of the modulus ...
ROLLOVER_LOW = 0.1  # ... and the new one within the bottom 10 %: a rollover, not a reset
MWH_PER_WH = 1000.0
US_PER_HOUR_OVER_MWH = 3.6e6  # W × µs / 3.6e6 = mWh

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]


def quality_names(flags: int) -> list[str]:
    """Flag bits → names, in bit order (``[]`` = clean)."""
    return [name for bit, name in QUALITY_NAMES.items() if flags & bit]


def _fold_reference(
    r: int, last: int, seg: int, closed: int, modulus: int, reset_fraction: float
) -> tuple[int, int, int, int]:
    """One register value ``r`` (mWh) folded into ``(last, seg_start, closed)``; returns the
    new state and the flag it raised (0, ``Q_ROLLOVER``, ``Q_RESET`` or ``Q_GLITCH`` = drop)."""
    if r >= last:
        return r, seg, closed, 0
    if modulus > 0 and last >= ROLLOVER_HIGH * modulus and r <= ROLLOVER_LOW * modulus:
        return r, 0, closed + modulus - seg, Q_ROLLOVER
    if r < reset_fraction * last:
        return r, 0, closed + last - seg, Q_RESET
    return last, seg, closed, Q_GLITCH


_fold = njit(cache=True, inline="always")(_fold_reference)


@njit(cache=True, inline="always")
def _time_order(ts_us: I64, lo: int, hi: int) -> tuple[I64, bool]:  # pragma: no cover
    """Indices of ``lo:hi`` in stable time order; ``(empty, True)`` when already sorted."""
    for i in range(lo + 1, hi):
        if ts_us[i] < ts_us[i - 1]:
            return np.argsort(ts_us[lo:hi], kind="mergesort") + lo, False
    return np.empty(0, np.int64), True


@njit(cache=True)
def profile(
    ts_us: I64,
    register_wh: F64,
    power_w: F64,
    lo: int,
    hi: int,
    reset_fraction: float,
    rollover_modulus_wh: float,
    gap_s: float,
    out_t: I64,
    out_e: I64,
) -> tuple[int, int]:  # pragma: no cover - compiled; equality with the reference is tested
    """Write the clean profile of readings ``lo:hi`` into ``out_t``/``out_e`` (each at least
    ``hi - lo`` long); return ``(n_points, quality_flags)``. See the module docstring."""
    order, in_order = _time_order(ts_us, lo, hi)
    flags = 0 if in_order else Q_REORDERED
    use_register = False
    for i in range(lo, hi):
        if not np.isnan(register_wh[i]):
            use_register = True
            break
    modulus = int(np.rint(rollover_modulus_wh * MWH_PER_WH))
    gap_us = gap_s * 1e6
    m = 0
    last = 0
    seg = 0
    closed = 0
    cum = 0.0
    prev_p = 0.0
    for k in range(hi - lo):
        i = lo + k if in_order else order[k]
        t = ts_us[i]
        value = register_wh[i] if use_register else power_w[i]
        if np.isnan(value):
            continue
        if m > 0 and t == out_t[m - 1]:
            flags |= Q_DUPLICATE
            continue
        if use_register:
            r = int(np.rint(value * MWH_PER_WH))
            if m == 0:
                last, seg = r, r
            else:
                last, seg, closed, flag = _fold(r, last, seg, closed, modulus, reset_fraction)
                flags |= flag
                if flag == Q_GLITCH:
                    continue
            energy = closed + (last - seg)
        else:
            p = max(value, 0.0)
            if m > 0:
                cum += 0.5 * (prev_p + p) * float(t - out_t[m - 1]) / US_PER_HOUR_OVER_MWH
            prev_p = p
            energy = int(np.rint(cum))
        if m > 0 and float(t - out_t[m - 1]) > gap_us:
            flags |= Q_GAP
        out_t[m] = t
        out_e[m] = energy
        m += 1
    if not use_register and m > 0:
        flags |= Q_TRAPEZOID
    if m < 2:
        flags |= Q_NO_DATA
    return m, flags


SERIAL_BELOW_READINGS = 200_000  # smaller batches run on one thread
# Chunks per thread, each about the same number of readings, claimed one at a time (see
# claim_chunk): on 20 M readings a chunk is ~0.4 ms, so a thread that loses its core for a
# scheduler slice (~4 ms) costs the batch about half that slice, not the whole of it.
CHUNKS_PER_THREAD = 32


@intrinsic
def _atomic_increment(typingctx: object, counter: types.Array) -> tuple[object, object]:
    """``counter[0] += 1`` atomically (relaxed order); returns the value before."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None  # type: ignore[return-value]
    sig = types.int64(counter)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array = context.make_array(signature.args[0])(context, builder, args[0])
        one = context.get_constant(types.int64, 1)
        return builder.atomic_rmw("add", array.data, one, "monotonic")

    return sig, codegen


@njit(cache=True, inline="always")
def claim_chunk(counter: I64) -> int:  # pragma: no cover - compiled
    """The next chunk for the calling thread (``counter`` starts at 0, one per region).

    ``prange`` hands its items out in equal contiguous runs (the OpenMP layer's ``omp for`` is
    statically scheduled, whatever ``numba.parallel_chunksize`` says), so a thread whose core
    is taken by another process holds back its whole run while the other idles. A ``prange``
    over one item per thread, each claiming chunks until none are left, gives the work to
    whichever thread is running. Relaxed order suffices: chunks share nothing, and the end of
    the parallel region publishes their results."""
    return _atomic_increment(counter)  # type: ignore[call-arg]


def balanced_chunks(starts: I64, chunks: int) -> I64:
    """Session indices cutting ``starts`` into at most ``chunks`` runs of about equal reading
    counts (``cuts[c]:cuts[c + 1]``; every session in exactly one run)."""
    n = starts.shape[0] - 1
    targets = np.linspace(starts[0], starts[-1], chunks + 1)
    cuts = np.searchsorted(starts[:-1], targets, side="left").astype(np.int64)
    cuts[0], cuts[-1] = 0, n
    return np.unique(cuts)


def session_energy(
    starts: I64,
    ts_us: I64,
    register_wh: F64,
    power_w: F64,
    reset_fraction: float,
    rollover_modulus_wh: float,
    gap_s: float,
    *,
    parallel: bool | None = None,
) -> tuple[I64, I32, I64, I64]:
    """Energy of every session: readings of session ``s`` are ``starts[s]:starts[s + 1]``.

    Returns ``(energy_mwh, quality_flags, first_us, last_us)`` per session (first/last point
    time; 0 when there is no point). Parallel over chunks of sessions with about equal reading
    counts unless ``parallel`` is False, or None and the batch is small.
    """
    n = starts.shape[0] - 1
    out = (
        np.zeros(n, np.int64),
        np.zeros(n, np.int32),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
    )
    rules = (float(reset_fraction), float(rollover_modulus_wh), float(gap_s))
    if parallel is None:
        parallel = ts_us.shape[0] >= SERIAL_BELOW_READINGS
    if not parallel or n == 0:
        _energy_chunk(0, n, starts, ts_us, register_wh, power_w, rules, out)
        return out
    threads = numba.get_num_threads()
    cuts = balanced_chunks(starts, threads * CHUNKS_PER_THREAD)
    _energy_parallel(
        threads, cuts, np.zeros(1, np.int64), starts, ts_us, register_wh, power_w, rules, out
    )
    return out


@njit(cache=True, parallel=True)
def _energy_parallel(
    threads: int,
    cuts: I64,
    counter: I64,
    starts: I64,
    ts_us: I64,
    register_wh: F64,
    power_w: F64,
    rules: tuple[float, float, float],
    out: tuple[I64, I32, I64, I64],
) -> None:  # pragma: no cover - compiled
    """Chunks ``cuts[c]:cuts[c + 1]`` claimed by whichever thread is free (:func:`claim_chunk`;
    ``counter`` starts at 0)."""
    for _ in prange(threads):
        c = claim_chunk(counter)
        while c < cuts.shape[0] - 1:
            _energy_chunk(cuts[c], cuts[c + 1], starts, ts_us, register_wh, power_w, rules, out)
            c = claim_chunk(counter)


@njit(cache=True)
def _energy_chunk(
    first_session: int,
    stop: int,
    starts: I64,
    ts_us: I64,
    register_wh: F64,
    power_w: F64,
    rules: tuple[float, float, float],
    out: tuple[I64, I32, I64, I64],
) -> None:  # pragma: no cover - compiled
    """Sessions ``first_session:stop``; profile scratch allocated once per chunk."""
    energy, flags, first, last = out
    longest = 0
    for s in range(first_session, stop):
        longest = max(longest, starts[s + 1] - starts[s])
    out_t = np.empty(longest, np.int64)
    out_e = np.empty(longest, np.int64)
    for s in range(first_session, stop):
        m, f = profile(
            ts_us, register_wh, power_w, starts[s], starts[s + 1], rules[0], rules[1], rules[2],
            out_t, out_e,
        )  # fmt: skip
        flags[s] = f
        if m > 0:
            energy[s] = out_e[m - 1]
            first[s] = out_t[0]
            last[s] = out_t[m - 1]


# -- plain-Python reference (same contract, same results) ----------------------------------------


def profile_reference(
    ts_us: list[int],
    register_wh: list[float],
    power_w: list[float],
    reset_fraction: float,
    rollover_modulus_wh: float,
    gap_s: float,
) -> tuple[list[tuple[int, int]], int]:
    """Plain-Python statement of :func:`profile` for one session: ``(points, flags)``."""
    order = sorted(range(len(ts_us)), key=lambda k: ts_us[k])
    flags = 0 if order == list(range(len(ts_us))) else Q_REORDERED
    use_register = any(not math.isnan(r) for r in register_wh)
    values = register_wh if use_register else power_w
    modulus = round(rollover_modulus_wh * MWH_PER_WH)
    points: list[tuple[int, int]] = []
    last = seg = closed = 0
    cum = prev_p = 0.0
    for k in order:
        t, value = int(ts_us[k]), float(values[k])
        if math.isnan(value):
            continue
        if points and t == points[-1][0]:
            flags |= Q_DUPLICATE
            continue
        if use_register:
            r = round(value * MWH_PER_WH)
            if not points:
                last = seg = r
            else:
                last, seg, closed, flag = _fold_reference(
                    r, last, seg, closed, modulus, reset_fraction
                )
                flags |= flag
                if flag == Q_GLITCH:
                    continue
            energy = closed + (last - seg)
        else:
            p = max(value, 0.0)
            if points:
                cum += 0.5 * (prev_p + p) * float(t - points[-1][0]) / US_PER_HOUR_OVER_MWH
            prev_p = p
            energy = round(cum)
        if points and float(t - points[-1][0]) > gap_s * 1e6:
            flags |= Q_GAP
        points.append((t, energy))
    if not use_register and points:
        flags |= Q_TRAPEZOID
    if len(points) < 2:
        flags |= Q_NO_DATA
    return points, flags
