"""Siting page: the newest saved proposal drawn offline (scatter on lon/lat), before/after."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from chargegrid.settings import Settings
from dashboards.app import create_app
from dashboards.pages import siting
from models.simulate import engine
from models.siting.evaluate import EvaluateOptions, evaluate
from models.siting.pmedian import SolverOptions
from tests.dashboards.test_app import find


def _proposal() -> dict[str, object]:
    sites = (engine.Site("harbour", 56.46, -2.97, (7_000.0, 7_000.0)),)
    n = 60
    lat = np.r_[np.full(30, 56.46), np.full(30, 56.50)]
    lon = np.r_[np.full(30, -2.97), np.full(30, -2.90)]
    arrivals = engine.Arrivals(
        np.arange(n) * 600.0, lat, lon, np.full(n, 7_000.0), np.full(n, 7_000.0),
        np.full(n, 3_600.0), np.full(n, 600.0),
    )  # fmt: skip
    options = EvaluateOptions(k=1, days=1, spread_km=1.0, solver=SolverOptions(starts=1))
    return evaluate("test", sites, arrivals, options, "synthetic").as_dict()


def _save(settings: Settings, name: str, document: object) -> Path:
    folder = siting.siting_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(document))
    return path


def test_figure_draws_cells_sites_and_proposals_without_a_map_service() -> None:
    proposal = _proposal()
    figure = siting.siting_figure(proposal, "gap")
    cells, existing, proposed = figure.data
    heat = proposal["heatmap"]
    assert isinstance(heat, dict)
    assert (
        len(cells.x) == len(heat["cells"]["lon"])
        and list(cells.marker.color) == heat["cells"]["gap"]
    )
    assert list(existing.x) == [-2.97] and len(proposed.x) == 1
    assert all(t.type == "scatter" for t in figure.data)  # no mapbox / geo: nothing fetched


def test_summary_has_grid_and_simulated_before_after() -> None:
    rows = siting.summary_rows(_proposal())
    labels = [r[0] for r in rows]
    assert labels[0].startswith("mean service distance")
    assert "mean wait (min)" in labels and "balked or abandoned" in labels
    abandon = next(r for r in rows if r[0] == "balked or abandoned")
    assert float(abandon[2]) < float(abandon[1])


def test_page_reads_the_newest_proposal_and_explains_a_missing_or_bad_one(
    settings: Settings,
) -> None:
    assert "site propose" in siting.read_proposal(settings).message
    _save(settings, "a.json", {"not": "a proposal"})
    assert "no 'heatmap'" in siting.read_proposal(settings).message
    _save(settings, "b.json", _proposal())
    data = siting.read_proposal(settings)
    assert data.name == "b.json" and data.proposal["source"] == "test"


def test_page_is_registered_and_seeded(settings: Settings) -> None:
    _save(settings, "p.json", _proposal())
    app = create_app(settings)
    assert app.server.test_client().get("/siting").status_code == 200
    with app.server.test_request_context("/siting"):
        layout = siting.layout()
    assert len(find(layout, siting.ID_MAP).figure.data[2].x) == 1
    assert "p.json" in find(layout, siting.ID_MESSAGE).children
