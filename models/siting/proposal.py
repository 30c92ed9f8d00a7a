"""A siting proposal for a real city, end to end: sessions → sites → demand grid → k new sites
→ before/after service distance and heatmap data. What ``chargegrid site propose`` prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.siting.demand import DemandGrid, SiteSummary, demand_grid, dundee_sites
from models.siting.distances import DEFAULT_DETOUR
from models.siting.errors import SitingError
from models.siting.heatmap import Heatmap, build_heatmap
from models.siting.incremental import Proposal, propose
from models.siting.pmedian import SolverOptions

SOURCES = ("dundee",)


@dataclass(frozen=True, slots=True)
class ProposalOptions:
    k: int
    cell_km: float = 0.5
    spread_km: float = 1.5
    detour: float = DEFAULT_DETOUR
    solver: SolverOptions = field(default_factory=SolverOptions)


@dataclass(frozen=True, slots=True)
class CityProposal:
    source: str
    summary: SiteSummary
    grid: DemandGrid
    proposal: Proposal
    heatmap: Heatmap

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "demand_cells": len(self.grid.lat),
            "cell_km": self.grid.cell_km,
            "spread_km": self.grid.spread_km,
            "rejected_rows": self.summary.rejected_rows,
            "unlocated_cp_ids": list(self.summary.unlocated_cp_ids),
            **self.proposal.as_dict(),
            "heatmap": self.heatmap.as_dict(),
        }

    def text(self) -> str:
        p = self.proposal
        lines = [
            f"{self.source}: {len(p.existing)} existing sites, {p.demand_wh / 1e3:,.0f} kWh "
            f"observed ({self.summary.rejected_rows} rows rejected by the reader), demand spread "
            f"over {len(self.grid.lat)} cells of {self.grid.cell_km} km "
            f"(kernel {self.grid.spread_km} km)",
            f"before: mean service distance {p.before_km:.3f} km "
            f"(road = great circle x {p.detour})",
            f"after adding {len(p.new_sites)}: {p.after_km:.3f} km "
            f"({p.improvement_pct:.1f} % shorter)",
        ]
        lines += [
            f"  new site {n}: {s.lat:.5f}, {s.lon:.5f}  serves {s.demand_wh / 1e3:,.0f} kWh, "
            f"{s.nearest_existing_km:.2f} km from the nearest existing site"
            for n, s in enumerate(p.new_sites, start=1)
        ]
        if self.summary.unlocated_cp_ids:
            lines.append(
                f"not on the map: {self.summary.unlocated_energy_wh / 1e3:,.0f} kWh at CP IDs "
                + ", ".join(self.summary.unlocated_cp_ids)
            )
        return "\n".join(lines)


def city_proposal(source: str, paths: Sequence[Path], options: ProposalOptions) -> CityProposal:
    """Run the whole proposal for ``source`` (only ``dundee`` for now) from its export files."""
    if source not in SOURCES:
        msg = f"unknown siting source {source!r}; known: {', '.join(SOURCES)}"
        raise SitingError(msg)
    summary = dundee_sites(paths)
    grid = demand_grid(summary.sites, cell_km=options.cell_km, spread_km=options.spread_km)
    proposal = propose(
        summary.sites, grid, options.k, detour=options.detour, options=options.solver
    )
    heatmap = build_heatmap(summary.sites, grid, proposal.new_sites)
    return CityProposal(source, summary, grid, proposal, heatmap)
