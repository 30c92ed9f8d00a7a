"""Maximal covering and capacitated p-median: heuristics against their exact MILPs."""

from __future__ import annotations

import numpy as np
import pytest

from models.siting.capacitated import solve_capacitated, solve_capacitated_exact
from models.siting.covering import max_cover, max_cover_exact
from models.siting.errors import SitingError
from models.siting.pmedian import solve


def instance(seed: int, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pts_c, pts_j = rng.random((n, 2)), rng.random((m, 2))
    dist = np.ascontiguousarray(np.linalg.norm(pts_j[:, None] - pts_c[None], axis=2))
    return dist, rng.integers(1, 5, n).astype(np.float64)


@pytest.mark.parametrize("seed", range(5))
def test_covering_heuristic_matches_the_exact_optimum(seed: int) -> None:
    dist, weight = instance(seed, 20, 40)
    found, exact = max_cover(dist, weight, 3, 0.25), max_cover_exact(dist, weight, 3, 0.25)
    assert exact.optimal
    assert found.covered_weight == exact.covered_weight
    covered = (dist[list(found.sites)] <= 0.25).any(axis=0)
    assert found.covered_weight == weight[covered].sum()


def test_covering_keeps_fixed_sites() -> None:
    dist, weight = instance(1, 20, 40)
    found = max_cover(dist, weight, 3, 0.25, fixed=[4])
    exact = max_cover_exact(dist, weight, 3, 0.25, fixed=[4])
    assert 4 in found.sites and 4 in exact.sites
    assert found.covered_weight == exact.covered_weight


def test_radius_covering_everything_covers_all_demand() -> None:
    dist, weight = instance(2, 10, 30)
    found = max_cover(dist, weight, 1, 10.0)
    assert found.covered_share == 1.0


def test_zero_radius_covers_only_coincident_clients() -> None:
    dist = np.array([[0.0, 1.0], [1.0, 1.0]])
    found = max_cover(dist, np.array([2.0, 3.0]), 1, 0.0)
    assert (found.sites, found.covered_weight) == ((0,), 2.0)


def test_negative_radius_is_refused() -> None:
    dist, weight = instance(0, 5, 5)
    with pytest.raises(SitingError, match="radius"):
        max_cover(dist, weight, 1, -1.0)


@pytest.mark.parametrize("seed", range(6))
def test_capacitated_heuristic_is_feasible_and_near_the_exact_optimum(seed: int) -> None:
    dist, weight = instance(seed, 12, 25)
    capacity = np.full(12, weight.sum() / 3 * 1.15)
    found = solve_capacitated(dist, weight, capacity, 4)
    exact = solve_capacitated_exact(dist, weight, capacity, 4)
    load = np.bincount(np.array(found.assignment), weights=weight, minlength=12)
    assert (load <= capacity + 1e-9).all()
    assert set(found.assignment) <= set(found.sites)
    assert exact.optimal
    assert exact.objective - 1e-9 <= found.objective <= exact.objective * 1.01
    assert found.objective >= solve(dist, weight, 4).objective - 1e-9


def test_ample_capacity_gives_the_uncapacitated_optimum() -> None:
    dist, weight = instance(3, 12, 25)
    found = solve_capacitated(dist, weight, np.full(12, 1e9), 3)
    assert found.objective == pytest.approx(solve(dist, weight, 3).objective)


def test_capacity_below_demand_is_refused() -> None:
    dist, weight = instance(0, 6, 10)
    with pytest.raises(SitingError, match="infeasible"):
        solve_capacitated(dist, weight, np.full(6, weight.sum() / 4), 3)


def test_one_capacity_per_candidate() -> None:
    dist, weight = instance(0, 6, 10)
    with pytest.raises(SitingError, match="one per candidate"):
        solve_capacitated(dist, weight, np.ones(5), 3)
