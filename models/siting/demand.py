"""Demand and supply on real geography: existing charging sites from session exports, and a grid
of demand cells.

**Choice of demand points.** Sessions are only observed where chargers already stand, so demand
points that *are* the charge points would make the present network look perfect (every demand
point at distance 0). Instead each site's observed energy (plus any unmet demand, e.g. drivers
who balked in the simulation) is spread over a square grid of cells with a Gaussian kernel of
width ``spread_km``: drivers who charge at a site come from around it. A cell's weight is the
energy (Wh over the export period) whose drivers are taken to start there. **Candidates** are the
existing sites (always open in incremental mode) plus every cell centre.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.siting.distances import haversine_km
from models.siting.errors import SitingError

FloatArray = npt.NDArray[np.float64]

KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQUATOR = 111.320
KERNEL_CUTOFF_SIGMAS = 3.0  # a site's demand reaches cells within this many kernel widths


@dataclass(frozen=True, slots=True)
class Site:
    """An existing charging site: charge points at one location."""

    site_id: str
    name: str
    lat: float
    lon: float
    cp_ids: tuple[str, ...]
    rated_power_w: float  # sum over the site's outlets seen in the sessions
    energy_wh: int  # observed over the export period
    sessions: int


@dataclass(frozen=True, slots=True)
class DemandGrid:
    """Cell centres (degrees) with demand weights; cells without demand are left out."""

    lat: FloatArray
    lon: FloatArray
    demand_wh: FloatArray
    cell_km: float
    spread_km: float

    @property
    def latlon(self) -> FloatArray:
        return np.column_stack([self.lat, self.lon])


@dataclass(frozen=True, slots=True)
class SiteSummary:
    """Sites and what could not be placed on the map (counted, never dropped silently)."""

    sites: tuple[Site, ...]
    unlocated_energy_wh: int  # sessions whose CP ID has no coordinates
    unlocated_cp_ids: tuple[str, ...]
    rejected_rows: int  # rows the source reader rejected (open sessions, duplicates, ...)


def dundee_sites(paths: Sequence[Path]) -> SiteSummary:
    """Group Dundee charge points with the same coordinates into sites, with their usage.

    Coordinates come from ``cp-locations_enriched.csv`` (or ``cp-locations.csv``) beside the
    exports; sessions are read by :mod:`chargegrid.sources.dundee` (rejected rows are counted).
    """
    from chargegrid.sources.dundee import SessionRow, locations_beside, read_sessions

    locations = locations_beside(list(paths))
    if not locations:
        msg = f"no cp-locations*.csv beside {', '.join(str(p) for p in paths)}"
        raise SitingError(msg)
    energy: dict[str, int] = defaultdict(int)
    sessions: dict[str, int] = defaultdict(int)
    outlets: dict[str, dict[int, float]] = defaultdict(dict)
    rejected = 0
    for row in read_sessions(list(paths)):
        if not isinstance(row, SessionRow):
            rejected += 1
            continue
        energy[row.cp_id] += row.energy_wh
        sessions[row.cp_id] += 1
        outlets[row.cp_id][row.connector_id] = row.outlet.power_w
    unlocated = tuple(sorted(cp for cp in energy if cp not in locations))
    groups: dict[tuple[float, float], list[str]] = defaultdict(list)
    for cp in sorted(energy):
        if cp in locations:
            loc = locations[cp]
            groups[(round(loc.lat, 4), round(loc.lon, 4))].append(cp)  # ~10 m
    sites = tuple(
        Site(
            site_id=f"dundee:{cps[0]}",
            name=locations[cps[0]].name,
            lat=float(np.mean([locations[c].lat for c in cps])),
            lon=float(np.mean([locations[c].lon for c in cps])),
            cp_ids=tuple(cps),
            rated_power_w=sum(sum(outlets[c].values()) for c in cps),
            energy_wh=sum(energy[c] for c in cps),
            sessions=sum(sessions[c] for c in cps),
        )
        for cps in groups.values()
    )
    if not sites:
        msg = f"no session in {', '.join(str(p) for p in paths)} has a located charge point"
        raise SitingError(msg)
    return SiteSummary(sites, sum(energy[c] for c in unlocated), unlocated, rejected)


def _grid(sites: Sequence[Site], cell_km: float, margin_km: float) -> tuple[FloatArray, FloatArray]:
    """Cell-centre latitudes and longitudes of a square grid over the sites plus a margin."""
    lat0 = float(np.mean([s.lat for s in sites]))
    km_per_deg_lon = KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat0))
    pad_lat, pad_lon = margin_km / KM_PER_DEG_LAT, margin_km / km_per_deg_lon
    lats = np.arange(
        min(s.lat for s in sites) - pad_lat,
        max(s.lat for s in sites) + pad_lat,
        cell_km / KM_PER_DEG_LAT,
    )
    lons = np.arange(
        min(s.lon for s in sites) - pad_lon,
        max(s.lon for s in sites) + pad_lon,
        cell_km / km_per_deg_lon,
    )
    grid_lat, grid_lon = np.meshgrid(lats, lons, indexing="ij")
    return grid_lat.ravel(), grid_lon.ravel()


def spread(
    site_lat: FloatArray, site_lon: FloatArray, amount: FloatArray, cell_lat: FloatArray,
    cell_lon: FloatArray, spread_km: float,
) -> FloatArray:  # fmt: skip
    """Each site's ``amount`` shared over the cells by a truncated Gaussian kernel (sums kept).

    A site with no cell inside the cutoff puts everything on its nearest cell.
    """
    km = haversine_km(site_lat[:, None], site_lon[:, None], cell_lat[None, :], cell_lon[None, :])
    kernel = np.exp(-0.5 * (km / spread_km) ** 2)
    kernel[km > KERNEL_CUTOFF_SIGMAS * spread_km] = 0.0
    empty = kernel.sum(axis=1) == 0.0
    kernel[empty, np.argmin(km[empty], axis=1)] = 1.0
    return np.asarray((amount / kernel.sum(axis=1)) @ kernel)


def demand_grid(
    sites: Sequence[Site],
    *,
    cell_km: float = 0.5,
    spread_km: float = 1.5,
    unmet_wh: Mapping[str, float] | None = None,
) -> DemandGrid:
    """Observed energy (+ ``unmet_wh`` by site id) spread over ``cell_km`` cells.

    Cells that receive no demand are left out. Raises :class:`SitingError` for non-positive
    sizes, an unknown site id in ``unmet_wh`` or no demand at all.
    """
    if cell_km <= 0 or spread_km <= 0:
        msg = f"cell size and spread must be > 0 km, got {cell_km} and {spread_km}"
        raise SitingError(msg)
    unmet = dict(unmet_wh or {})
    unknown = set(unmet) - {s.site_id for s in sites}
    if unknown:
        msg = f"unmet demand given for unknown sites: {', '.join(sorted(unknown))}"
        raise SitingError(msg)
    amount = np.array([s.energy_wh + unmet.get(s.site_id, 0.0) for s in sites], dtype=np.float64)
    if not sites or amount.sum() <= 0:
        msg = "no demand to place: the sites carry no energy"
        raise SitingError(msg)
    cell_lat, cell_lon = _grid(sites, cell_km, KERNEL_CUTOFF_SIGMAS * spread_km)
    lat = np.array([s.lat for s in sites])
    lon = np.array([s.lon for s in sites])
    demand = spread(lat, lon, amount, cell_lat, cell_lon, spread_km)
    keep = demand > 0
    return DemandGrid(cell_lat[keep], cell_lon[keep], demand[keep], cell_km, spread_km)
