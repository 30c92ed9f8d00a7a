"""Capacitated p-median, single source: each client is served whole by one open site, and the
demand a site serves stays within its capacity (same unit as the client weights, e.g. kWh/day).

Heuristic: for a set of open sites the clients are assigned by regret (largest weighted gap
between nearest and second-nearest open site first, each to its nearest site with room left),
then improved by shifting single clients and exchanging pairs of clients between sites. The set
of open sites starts from the uncapacitated p-median answer (or the largest sites, if that
cannot hold the demand) and is improved by best-improvement swaps, each evaluated by that
assignment. Exact: a MILP for small instances (the oracle in tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit
from scipy.optimize import Bounds, LinearConstraint
from scipy.sparse import coo_array, csr_array, hstack, vstack

from models.siting.errors import SitingError
from models.siting.milp import MAX_PAIRS, assignment_rows, run_milp
from models.siting.pmedian import SolverOptions, check_instance, solve

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CapacitatedSolution:
    sites: tuple[int, ...]  # open candidate ids, ascending
    assignment: tuple[int, ...]  # per client: the candidate id serving it
    objective: float  # sum of weight x distance to the assigned site
    optimal: bool | None = None  # proven by the MILP; None for the heuristic


@njit(cache=True)
def _improve_assignment(
    dist: FloatArray, weight: FloatArray, room: FloatArray, owner: IntArray, open_list: IntArray
) -> None:
    """Shift and pair-exchange moves until none lowers the cost (in place)."""
    n = owner.shape[0]
    improved = True
    while improved:
        improved = False
        for c in range(n):
            a = owner[c]
            for k in range(open_list.shape[0]):
                j = open_list[k]
                if j != a and room[j] >= weight[c] and dist[j, c] < dist[a, c]:
                    room[a] += weight[c]
                    room[j] -= weight[c]
                    owner[c] = j
                    a = j
                    improved = True
        for c in range(n):
            for e in range(c + 1, n):
                a, b = owner[c], owner[e]
                if a == b:
                    continue
                delta = weight[c] * (dist[b, c] - dist[a, c]) + weight[e] * (
                    dist[a, e] - dist[b, e]
                )
                shift = weight[c] - weight[e]
                if delta < -1e-12 and room[b] >= shift and room[a] >= -shift:
                    owner[c], owner[e] = b, a
                    room[b] -= shift
                    room[a] += shift
                    improved = True


@njit(cache=True)
def assign(
    dist: FloatArray, weight: FloatArray, capacity: FloatArray, open_list: IntArray
) -> tuple[IntArray, float]:
    """Regret assignment + improvement; ``(owner, cost)``, cost ``inf`` when it found no fit."""
    n = dist.shape[1]
    p = open_list.shape[0]
    regret = np.empty(n)
    for c in range(n):
        b1, b2 = np.inf, np.inf
        for k in range(p):
            d = dist[open_list[k], c]
            if d < b1:
                b1, b2 = d, b1
            elif d < b2:
                b2 = d
        regret[c] = weight[c] * ((b2 if p > 1 else b1) - b1) + weight[c] * 1e-9
    room = capacity.copy()
    owner = np.full(n, -1, dtype=np.int64)
    for c in np.argsort(-regret):
        best = -1
        for k in range(p):
            j = open_list[k]
            if room[j] >= weight[c] and (best < 0 or dist[j, c] < dist[best, c]):
                best = j
        if best < 0:
            return owner, np.inf
        owner[c] = best
        room[best] -= weight[c]
    _improve_assignment(dist, weight, room, owner, open_list)
    cost = 0.0
    for c in range(n):
        cost += weight[c] * dist[owner[c], c]
    return owner, cost


@njit(cache=True)
def _swap_search(
    dist: FloatArray, weight: FloatArray, capacity: FloatArray, open_list: IntArray
) -> tuple[IntArray, float]:
    """Best-improvement site swaps, each judged by :func:`assign` (open_list in place)."""
    m = dist.shape[0]
    owner, cost = assign(dist, weight, capacity, open_list)
    while True:
        is_open = np.zeros(m, dtype=np.bool_)
        for k in range(open_list.shape[0]):
            is_open[open_list[k]] = True
        best_k, best_i, best_cost = -1, -1, cost
        for k in range(open_list.shape[0]):
            out = open_list[k]
            for i in range(m):
                if is_open[i]:
                    continue
                open_list[k] = i
                _, trial = assign(dist, weight, capacity, open_list)
                if trial < best_cost - 1e-9 * max(1.0, abs(best_cost)):
                    best_k, best_i, best_cost = k, i, trial
            open_list[k] = out
        if best_k < 0:
            return owner, cost
        open_list[best_k] = best_i
        owner, cost = assign(dist, weight, capacity, open_list)


def _checked(
    dist: FloatArray, weight: FloatArray, capacity: FloatArray, p: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    dist, weight = check_instance(dist, weight)
    capacity = np.ascontiguousarray(capacity, dtype=np.float64)
    if (
        capacity.shape != (dist.shape[0],)
        or not np.isfinite(capacity).all()
        or (capacity < 0).any()
    ):
        msg = f"capacity: expected {dist.shape[0]} finite values >= 0 (one per candidate)"
        raise SitingError(msg)
    if not 1 <= p <= dist.shape[0]:
        msg = f"p = {p} must be between 1 and {dist.shape[0]}"
        raise SitingError(msg)
    if np.sort(capacity)[-p:].sum() < weight.sum():
        msg = (
            f"infeasible: the {p} largest capacities hold {np.sort(capacity)[-p:].sum():g}, "
            f"demand is {weight.sum():g}"
        )
        raise SitingError(msg)
    return dist, weight, capacity


def solve_capacitated(
    dist: FloatArray,
    weight: FloatArray,
    capacity: FloatArray,
    p: int,
    options: SolverOptions | None = None,
) -> CapacitatedSolution:
    """Heuristic single-source capacitated p-median (see the module docstring)."""
    dist, weight, capacity = _checked(dist, weight, capacity, p)
    free = solve(dist, weight, p, options=options)
    starts = [np.array(free.sites, dtype=np.int64), np.argsort(-capacity, kind="stable")[:p]]
    best: tuple[IntArray, IntArray, float] | None = None
    for start in starts:
        open_list = np.ascontiguousarray(start, dtype=np.int64)
        owner, cost = _swap_search(dist, weight, capacity, open_list)
        if np.isfinite(cost) and (best is None or cost < best[2]):
            best = (open_list.copy(), owner, cost)
    if best is None:
        msg = f"no assignment of the clients fits the capacities of any {p} sites tried"
        raise SitingError(msg)
    sites, owner, cost = best
    return CapacitatedSolution(
        tuple(sorted(int(j) for j in sites)), tuple(int(j) for j in owner), float(cost)
    )


def solve_capacitated_exact(
    dist: FloatArray,
    weight: FloatArray,
    capacity: FloatArray,
    p: int,
    *,
    time_limit_s: float = 60.0,
) -> CapacitatedSolution:
    """Exact single-source capacitated p-median by MILP (small instances only)."""
    dist, weight, capacity = _checked(dist, weight, capacity, p)
    m, n = dist.shape
    if m * n > MAX_PAIRS:
        msg = f"{m} x {n} assignment variables exceed the exact oracle's limit of {MAX_PAIRS}"
        raise SitingError(msg)
    serve_once, link = assignment_rows(m, n)
    pairs = np.arange(m * n)
    load = hstack(
        [
            coo_array((-capacity, (np.arange(m), np.arange(m))), shape=(m, m)),
            coo_array((np.tile(weight, m), (pairs // n, pairs)), shape=(m, m * n)),
        ]
    )
    count = csr_array(np.concatenate([np.ones(m), np.zeros(m * n)])[None, :])
    constraints = [
        LinearConstraint(vstack([serve_once, count]), np.r_[np.ones(n), p], np.r_[np.ones(n), p]),
        LinearConstraint(vstack([link, csr_array(load)]), -np.inf, 0.0),
    ]
    cost = np.concatenate([np.zeros(m), (dist * weight[None, :]).ravel()])
    values, optimal, _ = run_milp(
        cost, np.ones(m + m * n, dtype=np.int64), Bounds(0.0, 1.0), constraints, time_limit_s
    )
    x = values[m:].reshape(m, n)
    owner = np.argmax(x, axis=0)
    return CapacitatedSolution(
        tuple(int(j) for j in np.flatnonzero(values[:m] > 0.5)),
        tuple(int(j) for j in owner),
        float((dist[owner, np.arange(n)] * weight).sum()),
        optimal,
    )
