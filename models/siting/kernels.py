"""Numba kernels for the p-median problem: greedy, fast vertex substitution, VNS, multi-start.

Conventions (every kernel):

* ``dist[j, c]`` (float64, C order, candidate-major) is the cost of serving client ``c`` from
  candidate ``j``; ``weight[c] >= 0`` is the client's demand. Objective = sum over clients of
  ``weight[c] * min over open j of dist[j, c]``.
* A solution is ``open_list[:p]`` (candidate ids) with ``pos[j]`` = index of ``j`` in
  ``open_list`` or -1. ``fixed[j]`` marks candidates that are always open and never removed
  (existing sites in incremental mode).
* Per client the state caches the nearest (``f1``, ``d1``) and second-nearest (``f2``, ``d2``)
  open candidate; ``f2 = -1`` / ``d2 = inf`` with a single open candidate.

Fast vertex substitution (Teitz-Bart interchange evaluated as in Whitaker 1983 / Hansen &
Mladenović 1997): for a candidate ``i`` to open, one pass over the clients gives the gain of
opening ``i`` and, per open facility ``r``, the extra cost of closing ``r`` at the same time; so
the whole swap neighbourhood costs O(m (n + p)) instead of O(m p n). Local search applies the best
swap until none improves; VNS shakes the best solution by ``k`` random swaps, re-optimises, and
widens ``k`` while that fails. Starts run in parallel (``prange``); each start seeds its own
random stream (``seed + start``), so the answer does not depend on thread scheduling.

:mod:`models.siting.reference` holds plain-Python versions of the objective and of one
interchange pass that the tests hold these kernels to.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

REL_TOL = 1e-12  # a swap must improve the objective by more than this fraction to count


@njit(cache=True)
def cached_objective(weight: FloatArray, d1: FloatArray) -> float:
    """Sum over clients of weight x distance to their nearest open site (``d1``); zero weights
    are skipped, so an unreachable zero-weight client (inf) adds nothing."""
    total = 0.0
    for c in range(d1.shape[0]):
        if weight[c] != 0.0:
            total += weight[c] * d1[c]
    return total


@njit(cache=True)
def objective(dist: FloatArray, weight: FloatArray, open_list: IntArray) -> float:
    """Sum over clients of weight x distance to the nearest candidate in ``open_list``."""
    n = dist.shape[1]
    nearest = np.full(n, np.inf)
    for k in range(open_list.shape[0]):
        row = dist[open_list[k]]
        for c in range(n):
            nearest[c] = min(nearest[c], row[c])
    return cached_objective(weight, nearest)


@njit(cache=True)
def assign(
    dist: FloatArray,
    open_list: IntArray,
    f1: IntArray,
    d1: FloatArray,
    f2: IntArray,
    d2: FloatArray,
) -> None:
    """Fill the nearest / second-nearest cache of every client for ``open_list`` (in place)."""
    f1[:] = -1
    f2[:] = -1
    d1[:] = np.inf
    d2[:] = np.inf
    for k in range(open_list.shape[0]):
        j = open_list[k]
        row = dist[j]
        for c in range(row.shape[0]):
            d = row[c]
            if d < d1[c]:
                f2[c], d2[c] = f1[c], d1[c]
                f1[c], d1[c] = j, d
            elif d < d2[c]:
                f2[c], d2[c] = j, d


@njit(cache=True)
def best_swap(
    dist: FloatArray,
    weight: FloatArray,
    open_list: IntArray,
    pos: IntArray,
    fixed: BoolArray,
    f1: IntArray,
    d1: FloatArray,
    d2: FloatArray,
    loss: FloatArray,
) -> tuple[int, int, float]:
    """One full interchange pass: the swap (open ``i``, close ``r``) changing the objective least.

    Returns ``(i, r, delta)``; ``(-1, -1, inf)`` when no swap exists (all candidates open, or
    every open one fixed). Ties go to the lowest ``i``, then to the earliest ``r`` in
    ``open_list``. ``loss`` is scratch space of length m.
    """
    m, n = dist.shape
    best_i, best_r, best_delta = -1, -1, np.inf
    for i in range(m):
        if pos[i] >= 0:
            continue
        for k in range(open_list.shape[0]):
            loss[open_list[k]] = 0.0
        gain = 0.0
        row = dist[i]
        for c in range(n):
            dci = row[c]
            if dci < d1[c]:
                gain += weight[c] * (d1[c] - dci)
            else:
                loss[f1[c]] += weight[c] * (min(dci, d2[c]) - d1[c])
        for k in range(open_list.shape[0]):
            r = open_list[k]
            if not fixed[r] and loss[r] - gain < best_delta:
                best_i, best_r, best_delta = i, r, loss[r] - gain
    return best_i, best_r, best_delta


@njit(cache=True)
def _rescan(dist: FloatArray, open_list: IntArray, c: int) -> tuple[int, float, int, float]:
    b1, b2, i1, i2 = np.inf, np.inf, -1, -1
    for k in range(open_list.shape[0]):
        j = open_list[k]
        d = dist[j, c]
        if d < b1:
            b2, i2 = b1, i1
            b1, i1 = d, j
        elif d < b2:
            b2, i2 = d, j
    return i1, b1, i2, b2


@njit(cache=True)
def apply_swap(
    dist: FloatArray,
    open_list: IntArray,
    pos: IntArray,
    i_in: int,
    r_out: int,
    f1: IntArray,
    d1: FloatArray,
    f2: IntArray,
    d2: FloatArray,
) -> None:
    """Open ``i_in`` in place of ``r_out`` and update the client caches (in place).

    Clients whose nearest or second nearest was ``r_out`` are rescanned (O(p) each); every other
    client only compares against ``i_in``.
    """
    k = pos[r_out]
    open_list[k] = i_in
    pos[i_in] = k
    pos[r_out] = -1
    row = dist[i_in]
    for c in range(row.shape[0]):
        if f1[c] == r_out or f2[c] == r_out:
            f1[c], d1[c], f2[c], d2[c] = _rescan(dist, open_list, c)
            continue
        d = row[c]
        if d < d1[c]:
            f2[c], d2[c] = f1[c], d1[c]
            f1[c], d1[c] = i_in, d
        elif d < d2[c]:
            f2[c], d2[c] = i_in, d


@njit(cache=True)
def local_search(
    dist: FloatArray,
    weight: FloatArray,
    open_list: IntArray,
    pos: IntArray,
    fixed: BoolArray,
    f1: IntArray,
    d1: FloatArray,
    f2: IntArray,
    d2: FloatArray,
    loss: FloatArray,
) -> float:
    """Apply best-improvement swaps until none improves; returns the objective (state in place)."""
    value = cached_objective(weight, d1)
    while True:
        i, r, delta = best_swap(dist, weight, open_list, pos, fixed, f1, d1, d2, loss)
        if i < 0 or delta >= -REL_TOL * max(abs(value), 1.0):
            return cached_objective(weight, d1)
        apply_swap(dist, open_list, pos, i, r, f1, d1, f2, d2)
        value += delta


@njit(cache=True)
def greedy(dist: FloatArray, weight: FloatArray, p: int, fixed: BoolArray) -> IntArray:
    """Fixed candidates first, then repeatedly the candidate that lowers the objective most.

    With no fixed candidate the first pick is the 1-median. Returns ``p`` candidate ids.
    """
    m, n = dist.shape
    open_list = np.empty(p, dtype=np.int64)
    is_open = np.zeros(m, dtype=np.bool_)
    nearest = np.full(n, np.inf)
    count = 0
    for j in range(m):
        if fixed[j]:
            open_list[count] = j
            is_open[j] = True
            count += 1
            for c in range(n):
                nearest[c] = min(nearest[c], dist[j, c])
    while count < p:
        best_j, best_value = -1, np.inf
        for j in range(m):
            if is_open[j]:
                continue
            value = 0.0
            row = dist[j]
            for c in range(n):
                value += weight[c] * min(nearest[c], row[c])
            if value < best_value:
                best_j, best_value = j, value
        open_list[count] = best_j
        is_open[best_j] = True
        count += 1
        for c in range(n):
            nearest[c] = min(nearest[c], dist[best_j, c])
    return open_list


@njit(cache=True)
def _random_start(m: int, p: int, fixed: BoolArray) -> IntArray:
    """Every fixed candidate plus ``p - #fixed`` distinct free ones drawn uniformly."""
    open_list = np.empty(p, dtype=np.int64)
    free = np.empty(m, dtype=np.int64)
    count, n_free = 0, 0
    for j in range(m):
        if fixed[j]:
            open_list[count] = j
            count += 1
        else:
            free[n_free] = j
            n_free += 1
    free = np.random.permutation(free[:n_free])
    open_list[count:] = free[: p - count]
    return open_list


@njit(cache=True)
def _shake(
    dist: FloatArray,
    open_list: IntArray,
    pos: IntArray,
    fixed: BoolArray,
    k: int,
    f1: IntArray,
    d1: FloatArray,
    f2: IntArray,
    d2: FloatArray,
) -> None:
    """``k`` random swaps of a free open candidate for a closed one."""
    m = dist.shape[0]
    p = open_list.shape[0]
    for _ in range(k):
        r = open_list[np.random.randint(p)]
        while fixed[r]:
            r = open_list[np.random.randint(p)]
        i = np.random.randint(m)
        while pos[i] >= 0:
            i = np.random.randint(m)
        apply_swap(dist, open_list, pos, i, r, f1, d1, f2, d2)


@njit(cache=True)
def vns(
    dist: FloatArray,
    weight: FloatArray,
    open_list: IntArray,
    fixed: BoolArray,
    iterations: int,
    k_max: int,
    stall: int,
) -> float:
    """Local search from ``open_list``, then basic VNS rounds (in place).

    Stops after ``iterations`` rounds, or after ``stall`` rounds in a row without improvement.
    Uses the calling thread's NumPy random stream (seed it first). Returns the objective of the
    solution left in ``open_list``.
    """
    m, n = dist.shape
    p = open_list.shape[0]
    pos = np.full(m, -1, dtype=np.int64)
    for k in range(p):
        pos[open_list[k]] = k
    f1, f2 = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    d1, d2 = np.empty(n), np.empty(n)
    loss = np.zeros(m)
    assign(dist, open_list, f1, d1, f2, d2)
    best = local_search(dist, weight, open_list, pos, fixed, f1, d1, f2, d2, loss)
    n_free = p - np.count_nonzero(fixed)
    k_top = min(k_max, n_free, m - p)
    if k_top < 1:
        return best
    trial, trial_pos = open_list.copy(), pos.copy()
    t1, t2, e1, e2 = f1.copy(), f2.copy(), d1.copy(), d2.copy()
    k, since = 1, 0
    for _ in range(iterations):
        if since >= stall:
            break
        since += 1
        trial[:], trial_pos[:] = open_list, pos
        t1[:], t2[:], e1[:], e2[:] = f1, f2, d1, d2
        _shake(dist, trial, trial_pos, fixed, k, t1, e1, t2, e2)
        value = local_search(dist, weight, trial, trial_pos, fixed, t1, e1, t2, e2, loss)
        if value < best - REL_TOL * max(abs(best), 1.0):
            best = value
            open_list[:], pos[:] = trial, trial_pos
            f1[:], f2[:], d1[:], d2[:] = t1, t2, e1, e2
            k, since = 1, 0
        else:
            k = k + 1 if k < k_top else 1
    return best


@njit(cache=True, parallel=True)
def multistart(
    dist: FloatArray,
    weight: FloatArray,
    p: int,
    fixed: BoolArray,
    starts: int,
    seed: int,
    iterations: int,
    k_max: int,
    stall: int,
) -> tuple[IntArray, FloatArray]:
    """``starts`` independent runs of VNS; start 0 from the greedy solution, others at random.

    Returns ``(solutions[starts, p], objectives[starts])``; start ``s`` uses seed ``seed + s``.
    """
    m = dist.shape[0]
    solutions = np.empty((starts, p), dtype=np.int64)
    values = np.empty(starts)
    for s in prange(starts):
        np.random.seed(seed + s)
        start = greedy(dist, weight, p, fixed) if s == 0 else _random_start(m, p, fixed)
        values[s] = vns(dist, weight, start, fixed, iterations, k_max, stall)
        solutions[s] = start
    return solutions, values
