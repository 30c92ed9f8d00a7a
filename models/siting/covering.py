"""Maximal covering (Church & ReVelle 1974): open ``p`` candidates so that the demand within
``radius`` of an open candidate is largest.

Heuristic: greedy, then best-improvement swaps evaluated with per-client cover counts (the gain of
opening ``i`` and, per open ``r``, the demand only ``r`` covers, corrected for what ``i`` also
covers): O(m (n + p)) per pass, like the p-median interchange. Multi-start (start 0 greedy, the
others random, seed ``seed + s``). Exact: a MILP for small instances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit
from scipy.optimize import Bounds, LinearConstraint
from scipy.sparse import coo_array, csr_array, hstack, vstack

from models.siting.errors import SitingError
from models.siting.milp import MAX_PAIRS, run_milp
from models.siting.pmedian import check_instance, fixed_mask

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class CoverSolution:
    sites: tuple[int, ...]  # open candidate ids, ascending
    covered_weight: float  # demand within the radius of an open site
    total_weight: float
    optimal: bool | None = None  # proven by the MILP; None for the heuristic

    @property
    def covered_share(self) -> float:
        return self.covered_weight / self.total_weight if self.total_weight else 1.0


@njit(cache=True)
def _counts(cover: BoolArray, open_list: IntArray) -> IntArray:
    count = np.zeros(cover.shape[1], dtype=np.int64)
    for k in range(open_list.shape[0]):
        count += cover[open_list[k]]
    return count


@njit(cache=True)
def _greedy(cover: BoolArray, weight: FloatArray, p: int, fixed: BoolArray) -> IntArray:
    m, n = cover.shape
    open_list = np.empty(p, dtype=np.int64)
    is_open = fixed.copy()
    count = 0
    for j in range(m):
        if fixed[j]:
            open_list[count] = j
            count += 1
    covered = _counts(cover, open_list[:count]) > 0
    while count < p:
        best_j, best_gain = -1, -1.0
        for j in range(m):
            if is_open[j]:
                continue
            gain = 0.0
            for c in range(n):
                if cover[j, c] and not covered[c]:
                    gain += weight[c]
            if gain > best_gain:
                best_j, best_gain = j, gain
        open_list[count] = best_j
        is_open[best_j] = True
        count += 1
        covered |= cover[best_j]
    return open_list


@njit(cache=True)
def _improve(cover: BoolArray, weight: FloatArray, open_list: IntArray, fixed: BoolArray) -> float:
    """Best-improvement swaps until none adds covered demand; returns the covered demand."""
    m, n = cover.shape
    p = open_list.shape[0]
    while True:
        count = _counts(cover, open_list)
        is_open = np.zeros(m, dtype=np.bool_)
        sole = np.full(n, -1, dtype=np.int64)
        base_loss = np.zeros(m)
        for k in range(p):
            j = open_list[k]
            is_open[j] = True
            for c in range(n):
                if cover[j, c] and count[c] == 1:
                    sole[c] = j
                    base_loss[j] += weight[c]
        loss = np.zeros(m)
        best_i, best_k, best_delta = -1, -1, 1e-12
        for i in range(m):
            if is_open[i]:
                continue
            gain = 0.0
            for k in range(p):
                loss[open_list[k]] = base_loss[open_list[k]]
            for c in range(n):
                if cover[i, c]:
                    if count[c] == 0:
                        gain += weight[c]
                    elif count[c] == 1:
                        loss[sole[c]] -= weight[c]
            for k in range(p):
                r = open_list[k]
                if not fixed[r] and gain - loss[r] > best_delta:
                    best_i, best_k, best_delta = i, k, gain - loss[r]
        if best_i < 0:
            total = 0.0
            for c in range(n):
                if count[c] > 0:
                    total += weight[c]
            return total
        open_list[best_k] = best_i


@njit(cache=True)
def _search(
    cover: BoolArray, weight: FloatArray, p: int, fixed: BoolArray, starts: int, seed: int
) -> tuple[IntArray, float]:
    best, best_value = np.empty(p, dtype=np.int64), -1.0
    free = np.flatnonzero(~fixed)
    for s in range(starts):
        np.random.seed(seed + s)
        if s == 0:
            start = _greedy(cover, weight, p, fixed)
        else:
            start = np.concatenate((np.flatnonzero(fixed), np.random.permutation(free)))[:p]
        value = _improve(cover, weight, start, fixed)
        if value > best_value:
            best, best_value = start.copy(), value
    return best, best_value


def _checked(
    dist: FloatArray, weight: FloatArray, p: int, radius: float, fixed: list[int] | None
) -> tuple[BoolArray, FloatArray, BoolArray]:
    dist, weight = check_instance(dist, weight)
    mask = fixed_mask(dist.shape[0], fixed)
    if not max(1, int(mask.sum())) <= p <= dist.shape[0]:
        msg = f"p = {p} must be between max(1, #fixed = {int(mask.sum())}) and {dist.shape[0]}"
        raise SitingError(msg)
    if not radius >= 0:
        msg = f"covering radius must be >= 0, got {radius}"
        raise SitingError(msg)
    return np.ascontiguousarray(dist <= radius), weight, mask


def max_cover(
    dist: FloatArray,
    weight: FloatArray,
    p: int,
    radius: float,
    *,
    fixed: list[int] | None = None,
    starts: int = 4,
    seed: int = 0,
) -> CoverSolution:
    """Heuristic maximal covering: ``p`` sites (fixed ones included) covering most demand."""
    cover, weight, mask = _checked(dist, weight, p, radius, fixed)
    sites, value = _search(cover, weight, p, mask, max(1, starts), seed)
    return CoverSolution(tuple(sorted(int(j) for j in sites)), value, float(weight.sum()))


def max_cover_exact(
    dist: FloatArray,
    weight: FloatArray,
    p: int,
    radius: float,
    *,
    fixed: list[int] | None = None,
    time_limit_s: float = 60.0,
) -> CoverSolution:
    """Exact maximal covering by MILP: ``y`` binary, ``z[c] <= sum of y covering c``."""
    cover, weight, mask = _checked(dist, weight, p, radius, fixed)
    m, n = cover.shape
    if int(cover.sum()) > MAX_PAIRS:
        msg = f"{int(cover.sum())} covering pairs exceed the exact oracle's limit of {MAX_PAIRS}"
        raise SitingError(msg)
    rows, cols = np.nonzero(cover.T)  # client c covered by candidate j
    link = hstack(
        [
            coo_array((-np.ones(rows.size), (rows, cols)), shape=(n, m)),
            coo_array((np.ones(n), (np.arange(n), np.arange(n))), shape=(n, n)),
        ]
    )
    count = csr_array(np.concatenate([np.ones(m), np.zeros(n)])[None, :])
    constraints = [
        LinearConstraint(vstack([csr_array(link)]), -np.inf, 0.0),
        LinearConstraint(count, p, p),
    ]
    cost = np.concatenate([np.zeros(m), -weight])
    lower = np.concatenate([mask.astype(np.float64), np.zeros(n)])
    integrality = np.concatenate([np.ones(m, dtype=np.int64), np.zeros(n, dtype=np.int64)])
    values, optimal, _ = run_milp(
        cost, integrality, Bounds(lower, np.ones(m + n)), constraints, time_limit_s
    )
    sites = tuple(int(j) for j in np.flatnonzero(values[:m] > 0.5))
    covered = float(weight[cover[list(sites)].any(axis=0)].sum())
    return CoverSolution(sites, covered, float(weight.sum()), optimal)
