"""Heatmap data for the dashboards: demand density, supply, the gap, proposed sites.

Plain data (lists of numbers and dicts), so a Dash page can draw it with ``Densitymap`` /
``Scattermap`` without knowing anything about siting. Supply is each site's rated power spread
with the same kernel as demand, so the two are comparable cell by cell: ``gap`` is the cell's
share of demand minus its share of supply (positive = under-served, negative = over-served;
the gaps sum to zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.siting.demand import DemandGrid, Site, spread
from models.siting.incremental import NewSite


@dataclass(frozen=True, slots=True)
class Heatmap:
    cell_km: float
    lat: tuple[float, ...]  # cell centres
    lon: tuple[float, ...]
    demand_kwh: tuple[float, ...]  # per cell, over the data period
    supply_kw: tuple[float, ...]  # rated power spread over the cells
    gap: tuple[float, ...]  # demand share - supply share
    sites: tuple[dict[str, object], ...]  # existing: name, lat, lon, rated_kw, energy_kwh
    proposed: tuple[dict[str, object], ...]  # new: lat, lon, demand_kwh

    def as_dict(self) -> dict[str, object]:
        return {
            "cell_km": self.cell_km,
            "cells": {
                "lat": list(self.lat),
                "lon": list(self.lon),
                "demand_kwh": list(self.demand_kwh),
                "supply_kw": list(self.supply_kw),
                "gap": list(self.gap),
            },
            "sites": list(self.sites),
            "proposed": list(self.proposed),
        }


def build_heatmap(
    sites: Sequence[Site], grid: DemandGrid, proposed: Sequence[NewSite] = ()
) -> Heatmap:
    """Per-cell demand, supply and gap on ``grid``, with existing and proposed sites."""
    supply_w = spread(
        np.array([s.lat for s in sites]),
        np.array([s.lon for s in sites]),
        np.array([s.rated_power_w for s in sites]),
        grid.lat,
        grid.lon,
        grid.spread_km,
    )
    demand_share = grid.demand_wh / grid.demand_wh.sum()
    supply_share = supply_w / supply_w.sum() if supply_w.sum() > 0 else np.zeros_like(supply_w)
    return Heatmap(
        cell_km=grid.cell_km,
        lat=tuple(np.round(grid.lat, 6).tolist()),
        lon=tuple(np.round(grid.lon, 6).tolist()),
        demand_kwh=tuple(np.round(grid.demand_wh / 1000.0, 3).tolist()),
        supply_kw=tuple(np.round(supply_w / 1000.0, 3).tolist()),
        gap=tuple(np.round(demand_share - supply_share, 6).tolist()),
        sites=tuple(
            {
                "name": s.name,
                "lat": s.lat,
                "lon": s.lon,
                "rated_kw": s.rated_power_w / 1000.0,
                "energy_kwh": s.energy_wh / 1000.0,
            }
            for s in sites
        ),
        proposed=tuple(
            {"lat": s.lat, "lon": s.lon, "demand_kwh": round(s.demand_wh / 1000.0, 1)}
            for s in proposed
        ),
    )
