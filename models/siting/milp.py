"""Exact p-median by mixed-integer programming (HiGHS through ``scipy.optimize.milp``): the
oracle the heuristics are checked against on small instances.

Strong formulation (ReVelle & Swain): ``y[j]`` binary (candidate ``j`` open), ``x[j, c]`` in
[0, 1] (share of client ``c`` served by ``j``); minimise ``sum w[c] dist[j, c] x[j, c]`` subject
to ``sum_j x[j, c] = 1``, ``x[j, c] <= y[j]``, ``sum_j y[j] = p``, ``y[j] = 1`` for fixed sites.
With ``y`` integral the optimal ``x`` is integral too, so ``x`` stays continuous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array, csr_array, hstack, vstack

from models.siting.errors import SitingError
from models.siting.pmedian import check_instance, fixed_mask

FloatArray = npt.NDArray[np.float64]

MAX_PAIRS = 100_000  # candidates x clients; beyond this HiGHS takes minutes to hours
OPTIMAL = 0  # scipy.optimize.milp status


@dataclass(frozen=True, slots=True)
class MilpSolution:
    sites: tuple[int, ...]  # open candidate ids, ascending
    objective: float
    optimal: bool  # proven optimal (False: time limit hit, best feasible returned)
    bound: float  # HiGHS dual bound on the optimum


def _too_large(m: int, n: int, max_pairs: int) -> None:
    if m * n > max_pairs:
        msg = (
            f"{m} candidates x {n} clients = {m * n} assignment variables exceeds the exact "
            f"oracle's limit of {max_pairs}; use the heuristic"
        )
        raise SitingError(msg)


def assignment_rows(m: int, n: int) -> tuple[csr_array, csr_array]:
    """Sparse rows over ``[y (m), x (m*n, j-major)]``: each client served once; ``x <= y``."""
    pairs = np.arange(m * n)
    serve_once = hstack(
        [csr_array((n, m)), coo_array((np.ones(m * n), (pairs % n, pairs)), shape=(n, m * n))]
    )
    link = hstack(
        [
            coo_array((-np.ones(m * n), (pairs, pairs // n)), shape=(m * n, m)),
            coo_array((np.ones(m * n), (pairs, pairs)), shape=(m * n, m * n)),
        ]
    )
    return csr_array(serve_once), csr_array(link)


def run_milp(
    cost: FloatArray,
    integrality: npt.NDArray[np.int64],
    bounds: Bounds,
    constraints: list[LinearConstraint],
    time_limit_s: float,
) -> tuple[FloatArray, bool, float]:
    """Minimise ``cost @ v``: (v, proven optimal, dual bound); raises when nothing was found."""
    result = milp(
        cost,
        integrality=integrality,
        bounds=bounds,
        constraints=constraints,
        options={"time_limit": time_limit_s, "disp": False},
    )
    if result.x is None:
        msg = f"the exact solver found no feasible solution: {result.message}"
        raise SitingError(msg)
    bound = float(getattr(result, "mip_dual_bound", np.nan) or result.fun)
    return np.asarray(result.x), result.status == OPTIMAL, bound


def solve_exact(
    dist: FloatArray,
    weight: FloatArray,
    p: int,
    *,
    fixed: tuple[int, ...] | list[int] | None = None,
    time_limit_s: float = 60.0,
    max_pairs: int = MAX_PAIRS,
) -> MilpSolution:
    """The optimal ``p`` sites for ``dist[j, c]`` and client ``weight`` (small instances only)."""
    dist, weight = check_instance(dist, weight)
    m, n = dist.shape
    _too_large(m, n, max_pairs)
    mask = fixed_mask(m, fixed)
    if not max(1, int(mask.sum())) <= p <= m:
        msg = f"p = {p} must be between max(1, #fixed = {int(mask.sum())}) and {m}"
        raise SitingError(msg)
    serve_once, link = assignment_rows(m, n)
    count = csr_array(np.concatenate([np.ones(m), np.zeros(m * n)])[None, :])
    constraints = [
        LinearConstraint(vstack([serve_once, count]), np.r_[np.ones(n), p], np.r_[np.ones(n), p]),
        LinearConstraint(link, -np.inf, 0.0),
    ]
    cost = np.concatenate([np.zeros(m), (dist * weight[None, :]).ravel()])
    lower = np.concatenate([mask.astype(np.float64), np.zeros(m * n)])
    integrality = np.concatenate([np.ones(m, dtype=np.int64), np.zeros(m * n, dtype=np.int64)])
    values, optimal, bound = run_milp(
        cost, integrality, Bounds(lower, np.ones(m + m * n)), constraints, time_limit_s
    )
    sites = tuple(int(j) for j in np.flatnonzero(values[:m] > 0.5))
    objective = float((dist[list(sites)].min(axis=0) * weight).sum())
    return MilpSolution(sites=sites, objective=objective, optimal=optimal, bound=bound)
