"""Siting on real geography: sites from sessions, demand grid, incremental proposal, heatmap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.siting.demand import Site, demand_grid, dundee_sites, spread
from models.siting.errors import SitingError
from models.siting.heatmap import build_heatmap
from models.siting.incremental import add_sites, propose
from models.siting.pmedian import SolverOptions
from models.siting.proposal import ProposalOptions, city_proposal

SESSION_HEADER = (
    "Charging event,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Cost,"
    "Site,Group,Model"
)
LOCATION_HEADER = "Latitude,Longitude,Location,CP ID,Type,Address"


def site(name: str, lat: float, lon: float, energy_kwh: float, power_kw: float = 7.0) -> Site:
    return Site(
        site_id=name, name=name, lat=lat, lon=lon, cp_ids=(name,),
        rated_power_w=power_kw * 1000, energy_wh=round(energy_kwh * 1000), sessions=10,
    )  # fmt: skip


TWO_TOWNS = [site("west", 56.46, -3.05, 1000.0), site("east", 56.46, -2.90, 3000.0)]


def write_export(folder: Path) -> Path:
    """A three-charger Dundee export (one open session) with its locations file beside it."""
    rows = [
        "1,501,1,01/06/2018,10:00,01/06/2018,11:00,7.5,0,Town Hall,g,APT 7kW Dual Outlet",
        "2,501,2,01/06/2018,12:00,01/06/2018,13:00,4.5,0,Town Hall,g,APT 7kW Dual Outlet",
        "3,502,1,01/06/2018,10:00,01/06/2018,10:30,20,0,Riverside,g,APT Dual Rapid Charger",
        "4,503,1,01/06/2018,09:00,01/06/2018,10:00,6,0,Uplands,g,APT 22kW Dual Outlet",
        "5,503,1,02/06/2018,09:00,,,,0,Uplands,g,APT 22kW Dual Outlet",
    ]
    export = folder / "cpdata.csv"
    export.write_text("\n".join([SESSION_HEADER, *rows]) + "\n")
    (folder / "cp-locations_enriched.csv").write_text(
        "\n".join(
            [
                LOCATION_HEADER,
                '56.4620,-2.9707,"Town Hall",501,Fast,x',
                '56.4550,-2.9900,"Riverside",SCO502,Rapid,y',
                '56.4800,-3.0100,"Uplands",503,Fast,z',
            ]
        )
        + "\n"
    )
    return export


def test_spreading_keeps_each_sites_total() -> None:
    lat, lon = np.array([56.46, 56.47]), np.array([-3.0, -2.95])
    cells_lat, cells_lon = np.meshgrid(np.linspace(56.40, 56.52, 25), np.linspace(-3.1, -2.85, 25))
    shares = spread(lat, lon, np.array([1000.0, 0.0]), cells_lat.ravel(), cells_lon.ravel(), 1.0)
    assert shares.sum() == pytest.approx(1000.0)
    assert (shares >= 0).all()


def test_site_far_from_every_cell_puts_its_demand_on_the_nearest_cell() -> None:
    shares = spread(
        np.array([57.0]), np.array([-3.0]), np.array([10.0]),
        np.array([56.0, 56.5]), np.array([-3.0, -3.0]), 1.0,
    )  # fmt: skip
    assert shares.tolist() == [0.0, 10.0]


def test_grid_demand_adds_up_to_observed_plus_unmet() -> None:
    grid = demand_grid(TWO_TOWNS, cell_km=0.5, spread_km=1.0, unmet_wh={"west": 500_000.0})
    assert grid.demand_wh.sum() == pytest.approx(4_500_000.0)
    assert (grid.demand_wh > 0).all()
    busiest = int(np.argmax(grid.demand_wh))
    assert grid.lon[busiest] == pytest.approx(-2.90, abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"cell_km": 0.0}, "must be > 0"),
        ({"spread_km": -1.0}, "must be > 0"),
        ({"unmet_wh": {"nowhere": 1.0}}, "unknown sites: nowhere"),
    ],
)
def test_bad_grid_requests_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(SitingError, match=fragment):
        demand_grid(TWO_TOWNS, **kwargs)  # type: ignore[arg-type]


def test_sites_without_energy_are_no_demand() -> None:
    with pytest.raises(SitingError, match="no demand"):
        demand_grid([site("idle", 56.46, -3.0, 0.0)])


def test_new_sites_never_lengthen_service_and_keep_existing_ones() -> None:
    grid = demand_grid(TWO_TOWNS, cell_km=0.5, spread_km=1.5)
    one, two = (propose(TWO_TOWNS, grid, k, options=SolverOptions(starts=2)) for k in (1, 2))
    assert one.after_km < one.before_km
    assert two.after_km <= one.after_km
    assert one.before_km == two.before_km
    assert len(two.new_sites) == 2
    assert sum(s.demand_wh for s in two.new_sites) <= grid.demand_wh.sum()
    assert all(s.nearest_existing_km > 0 for s in two.new_sites)


def test_first_new_site_goes_to_the_busier_town() -> None:
    grid = demand_grid(TWO_TOWNS, cell_km=0.5, spread_km=1.5)
    new = propose(TWO_TOWNS, grid, 1, options=SolverOptions(starts=2)).new_sites[0]
    assert abs(new.lon - (-2.90)) < abs(new.lon - (-3.05))


def test_add_sites_refuses_more_sites_than_candidates() -> None:
    dist, weight = np.ones((3, 4)), np.ones(4)
    with pytest.raises(SitingError, match="k = 2"):
        add_sites(dist, weight, [0, 1], 2)
    with pytest.raises(SitingError, match="k = 0"):
        add_sites(dist, weight, [0], 0)


def test_heatmap_gap_is_demand_share_minus_supply_share() -> None:
    sites = [site("west", 56.46, -3.05, 3000.0, power_kw=7.0), site("east", 56.46, -2.90, 1000.0,
             power_kw=150.0)]  # fmt: skip
    grid = demand_grid(sites, cell_km=0.5, spread_km=1.0)
    heat = build_heatmap(sites, grid)
    gap = np.array(heat.gap)
    assert gap.sum() == pytest.approx(0.0, abs=1e-4)
    west = np.array(heat.lon) < -2.975
    assert gap[west].sum() > 0.5  # west: most demand, little power
    assert sum(heat.supply_kw) == pytest.approx(157.0, rel=1e-3)
    data = heat.as_dict()
    assert set(data["cells"]) == {"lat", "lon", "demand_kwh", "supply_kw", "gap"}  # type: ignore[arg-type]
    assert len(data["sites"]) == 2  # type: ignore[arg-type]


def test_proposal_from_a_dundee_export(tmp_path: Path) -> None:
    export = write_export(tmp_path)
    summary = dundee_sites([export])
    assert summary.rejected_rows == 1
    assert {s.name: s.energy_wh for s in summary.sites} == {
        "Town Hall": 12_000, "Riverside": 20_000, "Uplands": 6_000,
    }  # fmt: skip
    town = next(s for s in summary.sites if s.name == "Town Hall")
    assert town.rated_power_w == 14_000.0
    result = city_proposal("dundee", [export], ProposalOptions(k=2, solver=SolverOptions(starts=2)))
    data = result.as_dict()
    assert data["existing_sites"] == 3
    assert len(data["new_sites"]) == 2  # type: ignore[arg-type]
    assert data["after_mean_service_km"] < data["before_mean_service_km"]  # type: ignore[operator]
    assert "before: mean service distance" in result.text()


def test_charge_points_without_coordinates_are_reported(tmp_path: Path) -> None:
    export = write_export(tmp_path)
    with export.open("a") as out:
        out.write("6,999,1,03/06/2018,09:00,03/06/2018,10:00,5,0,Nowhere,g,APT 7kW Dual Outlet\n")
    summary = dundee_sites([export])
    assert summary.unlocated_cp_ids == ("999",)
    assert summary.unlocated_energy_wh == 5000


def test_export_without_locations_file_is_refused(tmp_path: Path) -> None:
    export = write_export(tmp_path)
    (tmp_path / "cp-locations_enriched.csv").unlink()
    with pytest.raises(SitingError, match="no cp-locations"):
        dundee_sites([export])


def test_unknown_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SitingError, match="unknown siting source"):
        city_proposal("atlantis", [write_export(tmp_path)], ProposalOptions(k=1))


@pytest.mark.shared
def test_dundee_proposal_shortens_service_distance(shared_data: Path) -> None:
    export = shared_data / "dundee" / "charge-sessions-june-sept.csv"
    result = city_proposal("dundee", [export], ProposalOptions(k=3, solver=SolverOptions(starts=2)))
    p = result.proposal
    assert not result.summary.unlocated_cp_ids
    assert 30 <= len(p.existing) <= 60
    assert 0.5 < p.after_km < p.before_km < 3.0
    assert len(result.heatmap.proposed) == 3
