"""Utilisation page: hour-of-day profiles per station from the catalog's utilisation_hourly."""

from __future__ import annotations

import pytest

from chargegrid.clock import FrozenClock
from chargegrid.settings import Settings
from dashboards.app import create_app
from dashboards.pages import utilisation
from tests.dashboards.test_app import find
from tests.warehouse import report_fixtures
from warehouse.catalog import refresh_catalog


@pytest.fixture
def catalog(settings: Settings) -> Settings:
    report_fixtures.build(settings)
    refresh_catalog(settings, FrozenClock(report_fixtures.at(10, 0)))
    return settings


def test_profile_reads_occupancy_and_energy_per_station_and_hour(catalog: Settings) -> None:
    profile = utilisation.read_profile(catalog)
    assert "CH1" in profile.stations or "S1" in profile.stations
    row = profile.stations.index(next(s for s in profile.stations if s in ("S1", "CH1")))
    # T1 on CH1/1 plugged 10:00-14:00 on 1 March; 2 ports seen; the period spans 2 days
    assert profile.occupied_share[row][11] == pytest.approx(60 / (60 * 2 * 2))
    assert all(0.0 <= v <= 1.0 for r in profile.occupied_share for v in r)
    total_kwh_per_day = sum(sum(r) for r in profile.kwh_per_day)
    assert total_kwh_per_day == pytest.approx((20 + 10 + 5 + 1) / 2, rel=1e-6)


def test_without_a_catalog_the_page_says_what_to_run(settings: Settings) -> None:
    profile = utilisation.read_profile(settings)
    assert profile.stations == [] and "chargegrid catalog refresh" in profile.message
    figure = utilisation.profile_figure(profile, "occupied_share")
    assert figure.data[0].z is None or len(figure.data[0].z) == 0


def test_figure_is_a_station_by_hour_heatmap() -> None:
    profile = utilisation.profile_from_rows([("A", 9, 0.5, 3.0), ("B", 18, 0.25, 1.0)])
    figure = utilisation.profile_figure(profile, "kwh_per_day")
    heat = figure.data[0]
    assert list(heat.y) == ["A", "B"] and list(heat.x) == list(range(24))
    assert heat.z[0][9] == 3.0 and heat.z[1][18] == 1.0 and heat.z[0][18] == 0.0


def test_page_is_registered_and_seeded_from_the_catalog(catalog: Settings) -> None:
    app = create_app(catalog)
    assert app.server.test_client().get("/utilisation").status_code == 200
    with app.server.test_request_context("/utilisation"):
        layout = utilisation.layout()
    assert "stations" in find(layout, utilisation.ID_MESSAGE).children
    assert len(find(layout, utilisation.ID_CHART).figure.data[0].y) >= 1
