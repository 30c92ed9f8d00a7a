"""p-median kernels against the plain-Python reference and the exact MILP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.siting import kernels, reference
from models.siting.errors import SitingError
from models.siting.milp import solve_exact
from models.siting.pmed_io import optimum_beside, read_pmed
from models.siting.pmedian import SolverOptions, instance_distances, nearest_site, solve


def instance(seed: int, m: int = 14, n: int = 22) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pts_c, pts_j = rng.random((n, 2)), rng.random((m, 2))
    dist = np.linalg.norm(pts_j[:, None, :] - pts_c[None, :, :], axis=2)
    weight = rng.integers(0, 5, n).astype(np.float64)  # zero weights included
    return np.ascontiguousarray(dist), weight


def cache_for(dist: np.ndarray, sites: list[int]) -> tuple[np.ndarray, ...]:
    n = dist.shape[1]
    f1, f2 = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    d1, d2 = np.empty(n), np.empty(n)
    kernels.assign(dist, np.array(sites, dtype=np.int64), f1, d1, f2, d2)
    return f1, d1, f2, d2


def positions(m: int, sites: list[int]) -> np.ndarray:
    pos = np.full(m, -1, dtype=np.int64)
    pos[sites] = np.arange(len(sites))
    return pos


@pytest.mark.parametrize("seed", range(6))
def test_objective_kernel_equals_reference(seed: int) -> None:
    dist, weight = instance(seed)
    sites = [1, 5, 9]
    assert kernels.objective(dist, weight, np.array(sites)) == pytest.approx(
        reference.objective(dist.tolist(), weight.tolist(), sites), rel=1e-12
    )


@pytest.mark.parametrize(("seed", "fixed"), [(s, f) for s in range(6) for f in ((), (5,))])
def test_interchange_pass_equals_reference(seed: int, fixed: tuple[int, ...]) -> None:
    dist, weight = instance(seed)
    m = dist.shape[0]
    sites = [1, 5, 9, 12]
    f1, d1, _, d2 = cache_for(dist, sites)
    mask = np.zeros(m, dtype=np.bool_)
    mask[list(fixed)] = True
    i, r, delta = kernels.best_swap(
        dist, weight, np.array(sites), positions(m, sites), mask, f1, d1, d2, np.zeros(m)
    )
    ref_i, ref_r, ref_delta = reference.best_swap(
        dist.tolist(), weight.tolist(), sites, frozenset(fixed)
    )
    assert delta == pytest.approx(ref_delta, abs=1e-9)
    assert r not in fixed
    swapped = [i if j == r else j for j in sites]
    base = reference.objective(dist.tolist(), weight.tolist(), sites)
    assert reference.objective(dist.tolist(), weight.tolist(), swapped) - base == pytest.approx(
        delta, abs=1e-9
    )
    assert (ref_i, ref_r) != (-1, -1)


def test_no_swap_exists_when_every_candidate_is_open() -> None:
    dist, weight = instance(0, m=3)
    f1, d1, _, d2 = cache_for(dist, [0, 1, 2])
    result = kernels.best_swap(
        dist, weight, np.arange(3), np.arange(3), np.zeros(3, dtype=np.bool_), f1, d1, d2,
        np.zeros(3),
    )  # fmt: skip
    assert result == (-1, -1, np.inf)
    assert reference.best_swap(dist.tolist(), weight.tolist(), [0, 1, 2]) == (-1, -1, np.inf)


@pytest.mark.parametrize("seed", range(4))
def test_swap_update_leaves_the_same_cache_as_a_fresh_assignment(seed: int) -> None:
    dist, _ = instance(seed)
    m = dist.shape[0]
    sites = np.array([0, 3, 7], dtype=np.int64)
    pos = positions(m, sites.tolist())
    f1, d1, f2, d2 = cache_for(dist, sites.tolist())
    for i_in, r_out in ((10, 3), (2, 0), (3, 10)):
        kernels.apply_swap(dist, sites, pos, i_in, r_out, f1, d1, f2, d2)
    fresh = cache_for(dist, sites.tolist())
    np.testing.assert_array_equal(d1, fresh[1])
    np.testing.assert_array_equal(d2, fresh[3])
    assert sorted(sites.tolist()) == [2, 3, 7]
    assert sorted(np.flatnonzero(pos >= 0).tolist()) == [2, 3, 7]


@pytest.mark.parametrize("seed", range(4))
def test_local_search_ends_where_no_swap_improves(seed: int) -> None:
    dist, weight = instance(seed)
    m = dist.shape[0]
    sites = np.array([0, 1, 2, 3], dtype=np.int64)
    pos = positions(m, sites.tolist())
    f1, d1, f2, d2 = cache_for(dist, sites.tolist())
    value = kernels.local_search(
        dist, weight, sites, pos, np.zeros(m, dtype=np.bool_), f1, d1, f2, d2, np.zeros(m)
    )
    assert value == pytest.approx(reference.objective(dist.tolist(), weight.tolist(), sites))
    _, _, delta = reference.best_swap(dist.tolist(), weight.tolist(), sites.tolist())
    assert delta >= -1e-9


def test_greedy_opens_the_one_median_first_and_keeps_fixed_sites() -> None:
    dist, weight = instance(3)
    no_fixed = np.zeros(dist.shape[0], dtype=np.bool_)
    one = kernels.greedy(dist, weight, 1, no_fixed)
    assert one[0] == int(np.argmin(dist @ weight))
    fixed = no_fixed.copy()
    fixed[[4, 11]] = True
    assert {4, 11} <= set(kernels.greedy(dist, weight, 4, fixed).tolist())


@pytest.mark.parametrize("seed", range(8))
def test_heuristic_matches_the_exact_optimum_on_small_instances(seed: int) -> None:
    dist, weight = instance(seed, m=15, n=25)
    p = 2 + seed % 4
    exact = solve_exact(dist, weight, p)
    found = solve(dist, weight, p, options=SolverOptions(starts=2, seed=seed))
    assert exact.optimal
    assert found.objective == pytest.approx(exact.objective, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_incremental_sites_keep_the_fixed_ones_and_match_the_exact_optimum(seed: int) -> None:
    dist, weight = instance(seed, m=15, n=25)
    found = solve(dist, weight, 4, fixed=[0, 1], options=SolverOptions(starts=2, seed=seed))
    exact = solve_exact(dist, weight, 4, fixed=[0, 1])
    assert {0, 1} <= set(found.sites)
    assert {0, 1} <= set(exact.sites)
    assert found.objective == pytest.approx(exact.objective, rel=1e-9)


def test_same_seed_same_answer_and_every_start_reported() -> None:
    dist, weight = instance(5, m=40, n=60)
    options = SolverOptions(starts=3, seed=11)
    first, second = solve(dist, weight, 6, options=options), solve(dist, weight, 6, options=options)
    assert first == second
    assert len(first.start_objectives) == 3
    assert first.objective == min(first.start_objectives)


def test_all_candidates_open_when_p_equals_candidates() -> None:
    dist, weight = instance(2, m=5)
    found = solve(dist, weight, 5)
    assert found.sites == (0, 1, 2, 3, 4)
    assert found.objective == pytest.approx(float(dist.min(axis=0) @ weight))


@pytest.mark.parametrize(
    ("p", "fixed", "fragment"),
    [(0, None, "p = 0"), (15, None, "p = 15"), (1, [2, 3], "p = 1"), (3, [2, 2], "repeated")],
)
def test_impossible_requests_are_refused(p: int, fixed: list[int] | None, fragment: str) -> None:
    dist, weight = instance(0)
    with pytest.raises(SitingError, match=fragment):
        solve(dist, weight, p, fixed=fixed)


def test_negative_or_missing_weights_and_distances_are_refused() -> None:
    dist, weight = instance(0)
    with pytest.raises(SitingError, match="weights"):
        solve(dist, -weight, 2)
    with pytest.raises(SitingError, match="one per client"):
        solve(dist, weight[:-1], 2)
    bad = dist.copy()
    bad[0, 0] = np.nan
    with pytest.raises(SitingError, match="finite"):
        solve(bad, weight, 2)


def test_milp_refuses_instances_beyond_its_size_limit() -> None:
    dist, weight = instance(0)
    with pytest.raises(SitingError, match="exceeds the exact oracle"):
        solve_exact(dist, weight, 2, max_pairs=100)


def test_nearest_site_assigns_each_client() -> None:
    dist = np.array([[0.0, 5.0, 2.0], [3.0, 1.0, 2.5]])
    ids, km = nearest_site(dist, [0, 1])
    assert ids.tolist() == [0, 1, 0]
    assert km.tolist() == [0.0, 1.0, 2.0]


@pytest.mark.shared
@pytest.mark.parametrize("name", ["pmed1", "pmed4", "pmed5"])
def test_milp_and_heuristic_reproduce_the_published_optimum(shared_data: Path, name: str) -> None:
    path = shared_data.parent / "pmed" / f"{name}.txt"
    inst = read_pmed(path)
    dist = instance_distances(inst)
    optimum = optimum_beside(path)
    exact = solve_exact(dist, np.ones(inst.n_vertices), inst.p)
    assert exact.optimal
    assert exact.objective == optimum
    assert solve(dist, np.ones(inst.n_vertices), inst.p).objective == optimum
