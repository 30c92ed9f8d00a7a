"""City scenarios from sessions (estate, fitted and replayed arrivals, before/after) and the CLI."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from chargegrid.errors import ChargegridError
from models.forecast.sessions import Loaded, Session
from models.simulate.engine import Choice, Site
from models.simulate.run import CityOptions, CityRun, parse_site, simulate_city
from models.simulate.scenario import (
    DEMAND_SPREAD_KM,
    KM_PER_DEG_LAT,
    ScenarioInputError,
    compare,
    estate,
    fitted,
    replayed,
)
from models.siting.evaluate import EvaluateOptions
from tests.e2e.conftest import chargegrid
from tests.models.test_siting_geo import write_export

T0 = datetime(2018, 1, 1, tzinfo=UTC)  # a Monday


def _loaded(per_day: int = 20, days: int = 28) -> Loaded:
    """Site A (2 ports, busy, long stays) and site B (1 port, quiet) 1 km apart."""
    sessions = []
    for day in range(days):
        for j in range(per_day):
            start = T0 + timedelta(days=day, hours=8 + j * 0.5)
            sessions.append(
                Session("A", f"p{j % 2}", start, start + timedelta(hours=3), 10_000, 22_000.0, "AC")
            )
        start = T0 + timedelta(days=day, hours=12)
        sessions.append(Session("B", "q", start, start + timedelta(hours=1), 5_000, 50_000.0, "DC"))
        sessions.append(Session("C", "r", start, start + timedelta(hours=1), 5_000, 7_000.0, "AC"))
    locations = {"A": (56.46, -2.97), "B": (56.469, -2.97)}
    return Loaded("dundee", tuple(sessions), Counter(), locations)


def test_estate_has_one_connector_per_port_and_names_the_unlocated_sites() -> None:
    real = estate(_loaded())
    assert [(s.site_id, s.connector_power_w) for s in real.sites] == [
        ("A", (22_000.0, 22_000.0)),
        ("B", (50_000.0,)),
    ]
    assert real.unlocated == ("C",)


def test_fitted_arrivals_follow_the_observed_rate_times_the_scale() -> None:
    loaded = _loaded()
    sites = estate(loaded).sites
    once = fitted(loaded, sites, 28, scale=1.0, seed=3)
    twice = fitted(loaded, sites, 28, scale=2.0, seed=3)
    observed = 28 * 21  # sessions at located sites in 4 weeks
    assert abs(len(once) / observed - 1) < 0.1
    assert abs(len(twice) / (2 * observed) - 1) < 0.1
    assert np.all(np.diff(once.arrival_s) >= 0)
    local_hours = (once.arrival_s // 3600) % 24
    assert local_hours.min() >= 8  # nobody came before 08:00 in the data (GMT in January)


def test_replayed_sessions_keep_their_energy_and_plug_in_time() -> None:
    loaded = _loaded(per_day=1, days=2)
    sites = estate(loaded).sites
    arrivals = replayed(loaded, sites, T0, T0 + timedelta(days=1), patience_s=600.0)
    assert len(arrivals) == 2  # one at A, one at B; C has no coordinates
    assert arrivals.dwell_s.tolist() == [3 * 3600.0, 3600.0]
    assert arrivals.max_power_w.tolist() == [7_400.0, 50_000.0]  # AC cars take 7.4 kW


def test_a_new_site_beside_an_overloaded_one_cuts_abandonment() -> None:
    loaded = _loaded()
    sites = estate(loaded).sites
    arrivals = fitted(loaded, sites, 7, patience_s=600.0, spread_km=0.3, seed=1)
    relief = parse_site("relief:56.461:-2.97:6:22")
    before, after = compare(sites, (*sites, relief), arrivals, Choice(max_detour_km=2.0))
    assert before[-1].site_id == after[-1].site_id == "all"
    assert after[-1].abandonment < 0.5 * before[-1].abandonment
    assert after[-2].site_id == "relief" and after[-2].served > 0


def test_simulate_city_starts_drivers_from_the_demand_spread_of_the_siting_check() -> None:
    loaded = _loaded()  # A and B share a longitude, 1 km apart
    assert CityOptions().spread_km == EvaluateOptions(k=1).spread_km == DEMAND_SPREAD_KM
    east = parse_site("east:56.46:-2.92:4:22")  # 3.1 km east of A
    spread = simulate_city(loaded, CityOptions(days=28, new_sites=(east,)))
    narrow = simulate_city(loaded, CityOptions(days=28, spread_km=0.3, new_sites=(east,)))
    km_east = (spread.arrivals.lon + 2.97) * KM_PER_DEG_LAT * np.cos(np.radians(56.46))
    assert np.std(km_east) == pytest.approx(DEMAND_SPREAD_KM, rel=0.1)

    def served_east(run: CityRun) -> int:
        return next(m.served for m in run.after if m.site_id == "east")

    # drivers from east of halfway (1.55 km, about one spread) now charge at the new site; with
    # a 0.3 km scatter nobody lives that far out and the site would look useless
    assert served_east(spread) > 0.08 * len(spread.arrivals)
    assert served_east(narrow) < 0.01 * len(narrow.arrivals)
    assert "origins 1.5 km around the site used" in spread.text()


def test_a_negative_spread_is_a_clear_error() -> None:
    loaded = _loaded()
    with pytest.raises(ScenarioInputError, match="spread"):
        fitted(loaded, estate(loaded).sites, 1, spread_km=-1.0)


def test_estate_without_any_coordinates_is_a_clear_error() -> None:
    loaded = _loaded()
    with pytest.raises(ScenarioInputError, match="locations file"):
        estate(Loaded("dundee", loaded.sessions, Counter(), {}))


@pytest.mark.parametrize("text", ["x:1:2:3", "x:a:2:3:22", "x:1:2:0:22"])
def test_a_malformed_new_site_names_the_expected_shape(text: str) -> None:
    with pytest.raises(ChargegridError, match=r"NAME:LAT:LON:CONNECTORS:KW|connector"):
        parse_site(text)


def test_parse_site() -> None:
    assert parse_site("n:56.4:-2.9:2:50") == Site("n", 56.4, -2.9, (50_000.0, 50_000.0))


def test_cli_mmc_prints_simulated_beside_erlang_c(tmp_path: Path) -> None:
    out = chargegrid(
        ["simulate", "mmc", "--lam", "1.4", "--mu", "1", "--c", "2", "--customers", "20000"],
        tmp_path / "var",
    )
    assert out.returncode == 0, out.stderr
    assert "M/M/2" in out.stdout and "Erlang-C" in out.stdout and "mean wait (s)" in out.stdout


def test_cli_mmc_refuses_an_unstable_queue_in_one_line(tmp_path: Path) -> None:
    out = chargegrid(["simulate", "mmc", "--lam", "3", "--mu", "1", "--c", "2"], tmp_path / "var")
    assert out.returncode == 2
    assert "no steady state" in out.stderr and "Traceback" not in out.stderr


def test_cli_simulate_city_names_where_drivers_start(tmp_path: Path) -> None:
    export = write_export(tmp_path)
    out = chargegrid(
        ["simulate", "city", "--source", "dundee", str(export), "--days", "7"], tmp_path / "var"
    )
    assert out.returncode == 0, out.stderr
    assert f"origins {DEMAND_SPREAD_KM:g} km around the site used" in out.stdout
    assert "Town Hall" in out.stdout and "all" in out.stdout
