"""Per-group passes over a batch's rows in log order, in O(rows) (no comparison sort).

A batch holds the readings of many transactions interleaved (round-robin, as chargers report);
the pipeline numbers each row's transaction ``0..groups-1``. Two questions per batch:

* :func:`group_order`: the row order grouped by transaction, log order kept within a group (what
  ``np.argsort(groups, kind="stable")`` gives) - a counting sort, linear in the rows.
* :func:`increasing_by_group`: does every group's value strictly increase along its rows, the
  first one above that group's value from earlier batches? One pass, no reordering at all.
* :func:`group_time_order`: the row order by (group, time), ties in row order (what a stable
  sort on both gives): the counting sort, then a stable sort of only the groups whose times are
  not already in order (in a stream, a group's rows arrive in time order but for a few).
* :func:`group_bounds`: each group's first and last row.
* :func:`newest_per_bucket`: each group's newest row per slice of time (live power history).
* :func:`silent_gaps`: where a charger's times in a batch leave a silence longer than the
  offline allowance (presence windows).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt
from numba import njit

I64 = npt.NDArray[np.int64]
_A = TypeVar("_A", bound=np.ndarray)


@njit(cache=True)
def group_order(groups: I64, n_groups: int) -> I64:
    """Stable permutation sorting ``groups`` (values ``0..n_groups-1``) ascending."""
    counts = np.zeros(n_groups + 1, np.int64)
    for g in groups:
        counts[g + 1] += 1
    for g in range(n_groups):
        counts[g + 1] += counts[g]
    order = np.empty(len(groups), np.int64)
    for i in range(len(groups)):
        g = groups[i]
        order[counts[g]] = i
        counts[g] += 1
    return order


@njit(cache=True)
def increasing_by_group(groups: I64, values: I64, before: I64) -> bool:
    """True if, for each group ``g``, its values in row order are strictly increasing and the
    first is above ``before[g]``."""
    last = before.copy()
    for i in range(len(groups)):
        g = groups[i]
        if values[i] <= last[g]:
            return False
        last[g] = values[i]
    return True


@njit(cache=True)
def group_time_order(groups: I64, n_groups: int, ts: I64) -> I64:
    """Stable permutation sorting rows by (``groups``, ``ts``)."""
    order = group_order(groups, n_groups)
    start = 0
    n = len(order)
    while start < n:
        g = groups[order[start]]
        end = start + 1
        descents = 0
        while end < n and groups[order[end]] == g:
            if ts[order[end]] < ts[order[end - 1]]:
                descents += 1
            end += 1
        if 0 < descents <= _FEW:
            _insertion_sort(order, start, end, ts)
        elif descents:
            segment = order[start:end].copy()
            ranked = np.argsort(ts[segment], kind="mergesort")  # stable
            for i in range(end - start):
                order[start + i] = segment[ranked[i]]
        start = end
    return order


_FEW = 4  # descents up to which a segment is "a few rows out of place"


@njit(cache=True)
def _insertion_sort(order: I64, start: int, end: int, ts: I64) -> None:
    """Stable binary-insertion sort of ``order[start:end]`` by ``ts``: linear in the segment for
    a few rows out of place (say, plug-in and plug-out rows appended after the readings)."""
    for i in range(start + 1, end):
        row = order[i]
        t = ts[row]
        if t >= ts[order[i - 1]]:
            continue
        lo, hi = start, i  # first position whose time is above t (after any equal: stable)
        while lo < hi:
            mid = (lo + hi) // 2
            if ts[order[mid]] <= t:
                lo = mid + 1
            else:
                hi = mid
        for j in range(i, lo, -1):
            order[j] = order[j - 1]
        order[lo] = row


def read_only(array: _A) -> _A:
    """A read-only copy of ``array``: what polars hands out without a copy, a Numba signature
    of its own (warm-ups load both)."""
    fixed = array.copy()
    fixed.setflags(write=False)
    return fixed


def warm() -> None:
    """Load the kernels from Numba's cache (see :func:`pipeline.kernels.energy.warm`), for
    writable arrays, for the read-only ones polars hands out without a copy, and for the mixes
    the pipeline passes (each mix is a signature of its own: loaded on first call otherwise)."""
    mine = np.zeros(1, np.int64)
    polars = read_only(mine)
    group_time_order(mine, 1, polars)
    silent_gaps(mine, polars, mine, np.full(1, NO_TIME, np.int64), 1)
    for groups in (mine, polars):
        group_order(groups, 1)
        increasing_by_group(groups, groups, np.full(1, -1, np.int64))
        group_time_order(groups, 1, groups)
        group_bounds(groups, 1)
        newest_per_bucket(groups, groups, np.ones(1, np.bool_), 1, 1)
        silent_gaps(groups, groups, groups, np.full(1, NO_TIME, np.int64), 1)


@njit(cache=True)
def group_bounds(groups: I64, n_groups: int) -> tuple[I64, I64]:
    """Row of the first and of the last row of each group (-1: none); negative groups (rows in
    no group) are skipped."""
    first = np.full(n_groups, -1, np.int64)
    last = np.full(n_groups, -1, np.int64)
    for i in range(len(groups)):
        g = groups[i]
        if g < 0:
            continue
        if first[g] < 0:
            first[g] = i
        last[g] = i
    return first, last


NO_TIME = np.iinfo(np.int64).min  # "never seen" in :func:`silent_gaps`


@njit(cache=True)
def silent_gaps(codes: I64, ts: I64, order: I64, last_seen: I64, allowance: int) -> I64:
    """Silences longer than ``allowance`` in each code's times: rows taken in ``order`` (by code,
    then time), each compared with the code's latest time so far (``last_seen``, updated in
    place; :data:`NO_TIME` = none yet): a time more than ``allowance`` after it is the end of a
    silence. Returns ``(code, latest, time)`` rows (an ``(n, 3)`` array), one per silence."""
    count = 0
    for k in range(2):  # count, then fill
        out = np.empty((count, 3), np.int64)
        count = 0
        seen = last_seen.copy() if k == 0 else last_seen
        for i in order:
            c = codes[i]
            t = ts[i]
            latest = seen[c]
            if latest != NO_TIME and t - latest > allowance:
                if k == 1:
                    out[count, 0], out[count, 1], out[count, 2] = c, latest, t
                count += 1
            if latest == NO_TIME or t > latest:
                seen[c] = t
    return out


@njit(cache=True)
def newest_per_bucket(
    groups: I64, ts: I64, keep: npt.NDArray[np.bool_], bucket: int, n_groups: int
) -> npt.NDArray[np.bool_]:
    """Of the rows where ``keep`` holds, the newest row of each group in each ``bucket``-wide
    slice of time (``ts // bucket``), for groups whose rows are in time order; rows in no
    group (negative) are all kept. One pass from the end, no sort."""
    out = np.zeros(len(groups), np.bool_)
    seen = np.full(n_groups, np.iinfo(np.int64).min, np.int64)  # newest bucket kept so far
    for i in range(len(groups) - 1, -1, -1):
        if not keep[i]:
            continue
        g = groups[i]
        if g < 0:
            out[i] = True
            continue
        b = ts[i] // bucket
        if b != seen[g]:
            out[i] = True
            seen[g] = b
    return out
