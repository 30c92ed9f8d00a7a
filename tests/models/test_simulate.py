"""The discrete-event simulator: Erlang-C agreement, choice, patience, power caps, metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.simulate.engine import Arrivals, Choice, ScenarioError, Site, simulate
from models.simulate.erlang import (
    UnstableQueueError,
    erlang_c,
    mm1_mean_wait_s,
    mmc_mean_wait_s,
    mmc_utilisation,
    mmc_wait_quantile_s,
)
from models.simulate.metrics import site_metrics


def _mmc_arrivals(lam: float, mu: float, n: int, seed: int) -> Arrivals:
    rng = np.random.default_rng(seed)
    zero = np.zeros(n)
    return Arrivals(
        arrival_s=np.cumsum(rng.exponential(1 / lam, n)),
        lat=zero,
        lon=zero,
        energy_wh=zero,
        max_power_w=np.ones(n),
        dwell_s=rng.exponential(1 / mu, n),
        patience_s=np.full(n, np.inf),
    )


def _arrivals(*rows: tuple[float, float, float, float], lat: float = 0.0) -> Arrivals:
    """(arrival_s, energy_wh, dwell_s, patience_s) per vehicle, all at one place, 50 kW cars."""
    cols = np.array(rows, dtype=float).T
    n = len(rows)
    return Arrivals(
        cols[0], np.full(n, lat), np.zeros(n), cols[1], np.full(n, 50_000.0), cols[2], cols[3]
    )


# M/M/c: loads from light to heavy; heavier loads need more customers for the same precision
# (the wait autocorrelates over ~1/(1-sqrt(rho))^2 services). 10 % warm-up discarded.
@pytest.mark.parametrize(
    ("lam", "mu", "c", "customers"),
    [
        (0.5, 1.0, 1, 300_000),  # rho 0.5
        (1.4, 1.0, 2, 300_000),  # rho 0.7
        (3.5, 1.0, 5, 300_000),  # rho 0.7
        (8.0, 1.0, 10, 1_000_000),  # rho 0.8
    ],
)
def test_mmc_mean_wait_is_within_5_percent_of_erlang_c(
    lam: float, mu: float, c: int, customers: int
) -> None:
    outcome = simulate((Site("s", 0.0, 0.0, (1.0,) * c),), _mmc_arrivals(lam, mu, customers, 7))
    wait = outcome.wait_s[customers // 10 :]
    expected = mmc_mean_wait_s(lam, mu, c)
    assert abs(wait.mean() / expected - 1) < 0.05
    busy = np.nansum(outcome.end_s - outcome.start_s) / (c * outcome.end_s.max())
    assert abs(busy / mmc_utilisation(lam, mu, c) - 1) < 0.02


def test_erlang_c_matches_the_mm1_closed_form_and_known_values() -> None:
    assert mmc_mean_wait_s(0.5, 1.0, 1) == pytest.approx(mm1_mean_wait_s(0.5, 1.0))
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # textbook: c=2, a=1 → 1/3
    assert mmc_wait_quantile_s(0.5, 1.0, 1, 0.4) == 0.0  # P(wait) 0.5 <= 0.6
    assert mmc_wait_quantile_s(0.5, 1.0, 1, 0.9) == pytest.approx(math.log(5) / 0.5)


def test_load_at_or_above_capacity_is_refused() -> None:
    with pytest.raises(UnstableQueueError, match="no steady state"):
        mmc_mean_wait_s(2.0, 1.0, 2)


def test_a_free_connector_means_no_wait_and_a_busy_one_a_fifo_queue() -> None:
    site = Site("a", 0.0, 0.0, (50_000.0,))
    # 50 kWh at 50 kW = 3600 s each; three arrive together-ish
    out = simulate(
        (site,),
        _arrivals((0, 50_000, 0, math.inf), (10, 50_000, 0, math.inf), (20, 50_000, 0, math.inf)),
    )
    assert out.start_s.tolist() == [0.0, 3600.0, 7200.0]
    assert out.wait_s.tolist() == [0.0, 3590.0, 7180.0]


def test_impatient_driver_abandons_and_the_next_one_is_served() -> None:
    site = Site("a", 0.0, 0.0, (50_000.0,))
    out = simulate(
        (site,), _arrivals((0, 50_000, 0, math.inf), (10, 1_000, 0, 600), (20, 1_000, 0, math.inf))
    )
    assert out.abandoned.tolist() == [False, True, False]
    assert out.start_s[2] == 3600.0
    (row, _all) = site_metrics(out)
    assert (row.arrivals, row.served, row.abandoned) == (3, 2, 1)
    assert row.abandonment == pytest.approx(1 / 3)


def test_plug_out_at_the_moment_patience_ends_serves_the_waiting_driver() -> None:
    # both events fall at 3600 s; the plug-out was scheduled first, so it is handled first
    site = Site("a", 0.0, 0.0, (50_000.0,))
    out = simulate((site,), _arrivals((0, 50_000, 0, math.inf), (0, 1_000, 0, 3600)))
    assert out.abandoned.tolist() == [False, False]
    assert out.start_s[1] == 3600.0


def test_full_queue_makes_drivers_balk() -> None:
    site = Site("a", 0.0, 0.0, (50_000.0,))
    rows = [(float(t), 50_000, 0, math.inf) for t in range(3)]
    out = simulate((site,), _arrivals(*rows), Choice(max_queue_per_connector=1))
    assert out.balked.tolist() == [False, False, True]


def test_driver_takes_the_nearest_site_with_a_free_connector_within_the_detour() -> None:
    near = Site("near", 0.0, 0.0, (50_000.0,))
    close = Site("close", 0.009, 0.0, (50_000.0,))  # ~1 km north
    far = Site("far", 0.5, 0.0, (50_000.0,))  # ~55 km
    rows = [(0, 50_000, 0, math.inf), (1, 50_000, 0, math.inf), (2, 50_000, 0, math.inf)]
    out = simulate((near, close, far), _arrivals(*rows), Choice(max_detour_km=2.0))
    assert out.site.tolist() == [0, 1, 0]  # the third queues at the nearest, never drives 55 km
    assert out.wait_s[2] == pytest.approx(3598.0)


def test_power_is_capped_by_connector_vehicle_and_shared_site_cap() -> None:
    capped = Site("a", 0.0, 0.0, (50_000.0, 50_000.0), site_cap_w=60_000.0)
    out = simulate((capped,), _arrivals((0, 30_000, 0, math.inf)))
    assert out.power_w[0] == 30_000.0  # 60 kW shared by 2 connectors
    assert out.end_s[0] == pytest.approx(3600.0)
    slow_car = Arrivals(
        np.zeros(1),
        np.zeros(1),
        np.zeros(1),
        np.full(1, 7_000.0),
        np.full(1, 7_000.0),
        np.zeros(1),
        np.full(1, np.inf),
    )
    out = simulate((Site("b", 0.0, 0.0, (22_000.0,)),), slow_car)
    assert out.power_w[0] == 7_000.0


def test_dwell_keeps_the_connector_after_charging() -> None:
    out = simulate((Site("a", 0.0, 0.0, (50_000.0,)),), _arrivals((0, 5_000, 7200, math.inf)))
    assert out.end_s[0] == 7200.0


def test_metrics_utilisation_and_demand_supply_over_a_window() -> None:
    site = Site("a", 0.0, 0.0, (50_000.0, 50_000.0))
    out = simulate(
        (site,),
        _arrivals((0, 50_000, 0, math.inf), (0, 50_000, 0, math.inf), (0, 50_000, 0, math.inf)),
    )
    row, everyone = site_metrics(out, from_s=0.0, to_s=7200.0)
    assert row.utilisation == pytest.approx(3 * 3600 / (2 * 7200))
    assert row.demand_supply == pytest.approx(3 * 3600 / (2 * 7200))
    assert row.mean_wait_s == pytest.approx(1200.0)
    assert everyone.site_id == "all" and everyone.served == 3


def test_unsorted_arrivals_are_refused() -> None:
    with pytest.raises(ScenarioError, match="sorted"):
        _arrivals((10, 1, 0, math.inf), (0, 1, 0, math.inf))
