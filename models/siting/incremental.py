"""Incremental siting: add ``k`` sites to a network whose existing sites stay where they are.

:func:`add_sites` works on any distance matrix; :func:`propose` does it on real geography
(existing sites + demand grid from :mod:`models.siting.demand`) and reports the demand-weighted
mean service distance before and after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.siting.demand import DemandGrid, Site
from models.siting.distances import DEFAULT_DETOUR, road_km
from models.siting.errors import SitingError
from models.siting.pmedian import PMedianSolution, SolverOptions, nearest_site, solve

FloatArray = npt.NDArray[np.float64]


def add_sites(
    dist: FloatArray,
    weight: FloatArray,
    existing: Sequence[int],
    k: int,
    options: SolverOptions | None = None,
) -> PMedianSolution:
    """The best ``k`` candidates to open next to the always-open ``existing`` ones."""
    if k < 1 or k > dist.shape[0] - len(existing):
        msg = f"k = {k} new sites: must be between 1 and {dist.shape[0] - len(existing)}"
        raise SitingError(msg)
    return solve(dist, weight, len(existing) + k, fixed=list(existing), options=options)


@dataclass(frozen=True, slots=True)
class NewSite:
    lat: float
    lon: float
    demand_wh: float  # demand whose nearest site this becomes
    nearest_existing_km: float  # road distance to the closest existing site


@dataclass(frozen=True, slots=True)
class Proposal:
    existing: tuple[Site, ...]
    new_sites: tuple[NewSite, ...]
    before_km: float  # demand-weighted mean road distance to the nearest existing site
    after_km: float  # ... to the nearest site once the new ones are open
    demand_wh: float  # total demand placed on the grid
    detour: float

    @property
    def improvement_pct(self) -> float:
        return 100.0 * (self.before_km - self.after_km) / self.before_km if self.before_km else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "existing_sites": len(self.existing),
            "demand_kwh": round(self.demand_wh / 1000.0, 1),
            "detour_factor": self.detour,
            "before_mean_service_km": round(self.before_km, 4),
            "after_mean_service_km": round(self.after_km, 4),
            "improvement_pct": round(self.improvement_pct, 2),
            "new_sites": [
                {
                    "lat": round(s.lat, 6),
                    "lon": round(s.lon, 6),
                    "demand_kwh": round(s.demand_wh / 1000.0, 1),
                    "nearest_existing_km": round(s.nearest_existing_km, 3),
                }
                for s in self.new_sites
            ],
        }


def propose(
    sites: Sequence[Site],
    grid: DemandGrid,
    k: int,
    *,
    detour: float = DEFAULT_DETOUR,
    options: SolverOptions | None = None,
) -> Proposal:
    """Add ``k`` sites among the grid cells to ``sites``; candidates = sites then cells."""
    site_ll = np.array([[s.lat, s.lon] for s in sites], dtype=np.float64)
    candidates = np.vstack([site_ll, grid.latlon])
    dist = road_km(candidates, grid.latlon, detour)
    existing = list(range(len(sites)))
    found = add_sites(dist, grid.demand_wh, existing, k, options)
    _, km_before = nearest_site(dist, existing)
    owner_after, _ = nearest_site(dist, list(found.sites))
    total = float(grid.demand_wh.sum())
    new = [j for j in found.sites if j >= len(sites)]
    new_sites = tuple(
        NewSite(
            lat=float(candidates[j, 0]),
            lon=float(candidates[j, 1]),
            demand_wh=float(grid.demand_wh[owner_after == j].sum()),
            nearest_existing_km=float(dist[: len(sites), j - len(sites)].min()),
        )
        for j in sorted(new, key=lambda j: -float(grid.demand_wh[owner_after == j].sum()))
    )
    return Proposal(
        existing=tuple(sites),
        new_sites=new_sites,
        before_km=float(km_before @ grid.demand_wh) / total,
        after_km=found.objective / total,
        demand_wh=total,
        detour=detour,
    )
