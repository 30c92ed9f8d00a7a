"""Siting checked by the simulation: unmet demand fed back, before/after on the same arrivals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.simulate import engine
from models.siting.errors import SitingError
from models.siting.evaluate import (
    EvaluateOptions,
    assumed_arrivals,
    demand_with_unmet,
    evaluate,
    evaluated_proposal,
    served_summary,
)
from models.siting.pmedian import SolverOptions
from tests.e2e.conftest import chargegrid

FAR = (56.50, -2.90)  # ~6 km north-east of the site: drivers from here find no site in reach


def _crowd(n_near: int = 40, n_far: int = 30) -> tuple[tuple[engine.Site, ...], engine.Arrivals]:
    """One 2-connector site; drivers near it, and a cluster far away that can never be served."""
    sites = (engine.Site("only", 56.46, -2.97, (7_000.0, 7_000.0)),)
    t = np.arange(n_near + n_far, dtype=float) * 600.0
    lat = np.r_[np.full(n_near, 56.46), np.full(n_far, FAR[0])]
    lon = np.r_[np.full(n_near, -2.97), np.full(n_far, FAR[1])]
    n = len(t)
    arrivals = engine.Arrivals(
        t, lat, lon, np.full(n, 7_000.0), np.full(n, 7_000.0), np.full(n, 3_600.0),
        np.full(n, 600.0),
    )  # fmt: skip
    return sites, arrivals


def test_unmet_vehicles_energy_lands_at_their_origins() -> None:
    sites, arrivals = _crowd()
    outcome = engine.simulate(sites, arrivals, engine.Choice(max_detour_km=2.0))
    unmet = outcome.abandoned | outcome.balked
    assert unmet[40:].any()  # the far cluster is mostly out of reach
    from models.siting.evaluate import _siting_sites

    grid, share = demand_with_unmet(_siting_sites(sites, outcome), outcome, 0.5, 1.0)
    missed_wh = arrivals.energy_wh[unmet].sum()
    assert share == pytest.approx(missed_wh / grid.demand_wh.sum())
    near_far = np.hypot(grid.lat - FAR[0], (grid.lon - FAR[1]) * 0.55) < 0.02  # 2 kernel widths
    missed_far_wh = arrivals.energy_wh[40:][unmet[40:]].sum()
    assert grid.demand_wh[near_far].sum() > 0.5 * missed_far_wh


def test_a_new_site_goes_to_the_unmet_cluster_and_serves_it_in_the_simulation() -> None:
    sites, arrivals = _crowd()
    options = EvaluateOptions(
        k=1, days=1, cell_km=0.5, spread_km=1.0, solver=SolverOptions(starts=2)
    )
    result = evaluate("test", sites, arrivals, options, "synthetic")
    new = result.proposal.new_sites[0]
    assert abs(new.lat - FAR[0]) < 0.02 and abs(new.lon - FAR[1]) < 0.03
    assert result.after.abandonment < result.before.abandonment
    assert result.after.served_share > result.before.served_share
    assert result.unmet_share > 0.3


def test_assumed_registry_arrivals_follow_the_connector_count() -> None:
    sites = (
        engine.Site("a", 40.7, -74.0, (7_200.0,) * 10),
        engine.Site("b", 40.8, -73.9, (7_200.0,)),
    )
    arrivals = assumed_arrivals(sites, EvaluateOptions(k=1, days=100, jitter_km=0.1))
    near_a = np.abs(arrivals.lat - 40.7) < 0.05
    assert near_a.sum() / (~near_a).sum() == pytest.approx(10, rel=0.25)
    assert np.all(np.diff(arrivals.arrival_s) >= 0)


def test_unknown_source_and_no_days_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SitingError, match="unknown siting source"):
        evaluated_proposal("mars", [tmp_path / "x.csv"], EvaluateOptions(k=1))
    with pytest.raises(SitingError, match="--days must be positive"):
        evaluated_proposal("afdc", [tmp_path / "x.csv"], EvaluateOptions(k=1, days=0))


@pytest.mark.shared
def test_site_propose_on_the_new_york_registry(shared_data: Path, tmp_path: Path) -> None:
    registry = shared_data / "stations_afdc_ny" / "alt_fuel_stations.csv"
    out = chargegrid(
        ["site", "propose", "--source", "afdc", str(registry), "-k", "2", "--city", "Albany",
         "--days", "2", "--starts", "1", "--json"],
        tmp_path / "var",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["existing_sites"] > 50 and len(data["new_sites"]) == 2
    assert data["after_mean_service_km"] < data["before_mean_service_km"]
    for key in ("service_km", "mean_wait_min", "abandonment"):
        assert key in data["simulated_before"] and key in data["simulated_after"]


def _small_city(seed: int = 3) -> tuple[tuple[engine.Site, ...], engine.Arrivals]:
    """Two 2-connector sites in the centre; a week of drivers, a third of them from a suburb
    4 km east (out of any site's 2 km reach), each origin scattered 0.5 km around its district."""
    centre, suburb = (56.46, -2.97), (56.46, -2.97 + 4.0 / (111.32 * np.cos(np.radians(56.46))))
    sites = (
        engine.Site("west", centre[0], centre[1] - 0.004, (7_000.0,) * 2),
        engine.Site("east", centre[0], centre[1] + 0.004, (7_000.0,) * 2),
    )
    rng = np.random.default_rng(seed)
    n = 7 * 24
    t = np.sort(rng.uniform(0.0, 7 * 86_400.0, n))
    from_suburb = rng.uniform(size=n) < 1 / 3
    lat = np.where(from_suburb, suburb[0], centre[0]) + rng.normal(0, 0.5 / 111.32, n)
    lon = np.where(from_suburb, suburb[1], centre[1]) + rng.normal(0, 0.5 / 61.5, n)
    arrivals = engine.Arrivals(
        t, lat, lon, np.full(n, 10_000.0), np.full(n, 7_000.0), rng.uniform(1, 4, n) * 3_600.0,
        np.full(n, 1_800.0),
    )  # fmt: skip
    return sites, arrivals


def test_a_proposal_in_a_small_city_shortens_service_distance_and_time_lost_waiting() -> None:
    sites, arrivals = _small_city()
    options = EvaluateOptions(k=1, cell_km=0.5, spread_km=1.0, solver=SolverOptions(starts=2))
    result = evaluate("test", sites, arrivals, options, "constructed")
    new = result.proposal.new_sites[0]
    assert new.nearest_existing_km > 1.5  # towards the suburb, not beside a station
    assert new.lon > sites[1].lon
    before, after = result.before, result.after
    assert after.service_km < 0.85 * before.service_km
    assert after.lost_wait_min < before.lost_wait_min
    assert after.abandonment < before.abandonment
    assert result.proposal.after_km < result.proposal.before_km


def test_time_lost_waiting_counts_drivers_who_gave_up_until_they_gave_up() -> None:
    sites = (engine.Site("one", 56.46, -2.97, (7_000.0,)),)
    n = 3  # all at t=0: one plugs in for 1 h, one waits 1 h (patience 2 h), one gives up at 20 min
    arrivals = engine.Arrivals(
        np.zeros(n), np.full(n, 56.46), np.full(n, -2.97), np.full(n, 7_000.0),
        np.full(n, 7_000.0), np.full(n, 3_600.0), np.array([7_200.0, 7_200.0, 1_200.0]),
    )  # fmt: skip
    summary = served_summary(engine.simulate(sites, arrivals), 1.3)
    assert summary.mean_wait_min == pytest.approx(30.0)  # served only: 0 and 60 min
    assert summary.lost_wait_min == pytest.approx((0 + 60 + 20) / 3)
    assert summary.queued_share == pytest.approx(2 / 3)
    assert summary.abandonment == pytest.approx(1 / 3)


def test_simulated_origins_follow_the_demand_kernel_unless_told_otherwise() -> None:
    sites = (engine.Site("a", 40.7, -74.0, (7_200.0,) * 50),)
    default = assumed_arrivals(sites, EvaluateOptions(k=1, days=10, spread_km=1.5))
    narrow = assumed_arrivals(sites, EvaluateOptions(k=1, days=10, spread_km=1.5, jitter_km=0.2))
    assert np.std((default.lat - 40.7) * 110.574) == pytest.approx(1.5, rel=0.1)
    assert np.std((narrow.lat - 40.7) * 110.574) == pytest.approx(0.2, rel=0.1)
