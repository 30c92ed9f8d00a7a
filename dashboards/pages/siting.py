"""Siting: demand against existing and proposed sites on a map drawn offline.

Reads the newest siting proposal saved under ``<data dir>/siting/*.json`` — what
``chargegrid site propose ... --json --output <data dir>/siting/NAME.json`` writes (its
``heatmap``: grid cells with demand, supply and gap; existing sites; proposed sites; and, when the
proposal was checked by the simulation, before/after service distance, wait and abandonment).

The map is a plain scatter on longitude/latitude (cells as squares coloured by the chosen layer,
sites as circles, proposals as stars) with the aspect set for the mean latitude: no tiles, no
token, nothing fetched from the network.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Dash, Input, Output, dcc, html

from chargegrid.settings import Settings
from dashboards import context
from dashboards.context import AppContext

PATH = "/siting"
ID_LAYER = "siting-layer"
ID_MAP = "siting-map"
ID_MESSAGE = "siting-message"
ID_SUMMARY = "siting-summary"
LAYERS = {
    "demand_kwh": "demand (kWh)",
    "supply_kw": "supply (kW)",
    "gap": "gap (demand - supply share)",
}
SITING_DIR = "siting"


@dataclass(frozen=True)
class SitingData:
    name: str  # file the proposal came from ("" when none)
    proposal: dict[str, Any]
    message: str


def siting_dir(settings: Settings) -> Path:
    return settings.data_dir / SITING_DIR


def read_proposal(settings: Settings) -> SitingData:
    """The newest ``*.json`` proposal in :func:`siting_dir` (an empty one, with why, if none)."""
    folder = siting_dir(settings)
    files = (
        sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    )
    if not files:
        hint = f"chargegrid site propose ... --json --output {folder}/NAME.json"
        return SitingData("", {}, f"no proposal in {folder}: run '{hint}'")
    newest = files[-1]
    try:
        proposal = json.loads(newest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return SitingData(newest.name, {}, f"{newest} is not a readable proposal: {exc}")
    if not isinstance(proposal, dict) or not isinstance(proposal.get("heatmap"), dict):
        return SitingData(newest.name, {}, f"{newest} has no 'heatmap': not a site proposal")
    return SitingData(newest.name, proposal, f"{newest.name}: {proposal.get('source', '?')}")


def siting_figure(proposal: dict[str, Any], layer: str = "demand_kwh") -> go.Figure:
    """Cells coloured by ``layer`` (a key of :data:`LAYERS`), existing sites and proposals."""
    heat = proposal.get("heatmap", {})
    cells = heat.get("cells", {})
    lat, lon = cells.get("lat", []), cells.get("lon", [])
    values = cells.get(layer, [])
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=lon, y=lat, mode="markers", name=LAYERS.get(layer, layer),
            marker={"symbol": "square", "size": 9, "color": values, "opacity": 0.75,
                    "colorscale": "RdBu_r" if layer == "gap" else "YlOrRd",
                    "colorbar": {"title": LAYERS.get(layer, layer)}},
            hovertemplate="%{y:.4f}, %{x:.4f} · %{marker.color:.3g}<extra></extra>",
        )
    )  # fmt: skip
    sites = heat.get("sites", [])
    figure.add_trace(
        go.Scatter(
            x=[s["lon"] for s in sites], y=[s["lat"] for s in sites], mode="markers",
            name="existing sites", text=[s.get("name", "") for s in sites],
            marker={"symbol": "circle", "size": 10, "color": "#222",
                    "line": {"color": "white", "width": 1}},
            hovertemplate="%{text}<extra>existing</extra>",
        )
    )  # fmt: skip
    proposed = heat.get("proposed", [])
    figure.add_trace(
        go.Scatter(
            x=[p["lon"] for p in proposed], y=[p["lat"] for p in proposed], mode="markers",
            name="proposed sites",
            text=[f"serves {p.get('demand_kwh', 0):,} kWh" for p in proposed],
            marker={"symbol": "star", "size": 18, "color": "#d50000",
                    "line": {"color": "white", "width": 1}},
            hovertemplate="%{text}<extra>proposed</extra>",
        )
    )  # fmt: skip
    mid = sum(lat) / len(lat) if lat else 0.0
    figure.update_layout(
        xaxis={"title": "longitude"},
        yaxis={"title": "latitude", "scaleanchor": "x",
               "scaleratio": 1.0 / max(math.cos(math.radians(mid)), 0.1)},
        legend={"orientation": "h"}, margin={"l": 40, "r": 20, "t": 30, "b": 40}, height=620,
    )  # fmt: skip
    return figure


def summary_rows(proposal: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(measure, before, after): grid service distance, and simulated figures when present."""
    if not proposal:
        return []
    rows = [
        (
            "mean service distance on the demand grid (km)",
            f"{proposal.get('before_mean_service_km', float('nan')):.3f}",
            f"{proposal.get('after_mean_service_km', float('nan')):.3f}",
        )
    ]
    before, after = proposal.get("simulated_before"), proposal.get("simulated_after")
    if isinstance(before, dict) and isinstance(after, dict):
        for key, label in (
            ("service_km", "simulated service distance (km)"),
            ("mean_wait_min", "mean wait (min)"),
            ("p90_wait_min", "P90 wait (min)"),
            ("abandonment", "balked or abandoned"),
        ):
            rows.append(
                (
                    label,
                    f"{before.get(key, float('nan')):.3g}",
                    f"{after.get(key, float('nan')):.3g}",
                )
            )
    return rows


def _table(rows: list[tuple[str, str, str]]) -> html.Table | html.Div:
    if not rows:
        return html.Div()
    head = html.Thead(html.Tr([html.Th(h) for h in ("", "before", "after")]))
    body = html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows])
    return html.Table(className="siting-table", children=[head, body])


def register(app: Dash, ctx: AppContext) -> None:
    """Add the Siting page to ``app``."""
    dash.register_page(
        __name__, path=PATH, name="Siting", title="chargegrid · Siting", order=7, layout=layout
    )

    @app.callback(Output(ID_MAP, "figure"), Input(ID_LAYER, "value"))
    def _redraw(layer: str) -> go.Figure:
        return siting_figure(read_proposal(ctx.settings).proposal, layer)


def layout(**_query: str) -> html.Div:
    ctx = context.current()
    data = read_proposal(ctx.settings) if ctx else SitingData("", {}, "")
    return html.Div(
        className="siting-page",
        children=[
            html.Section(
                className="live-panel",
                children=[
                    html.H2("Siting"),
                    dcc.RadioItems(
                        id=ID_LAYER,
                        options=[{"label": v, "value": k} for k, v in LAYERS.items()],
                        value="demand_kwh",
                        inline=True,
                    ),
                    html.Div(id=ID_MESSAGE, children=data.message),
                    html.Div(id=ID_SUMMARY, children=_table(summary_rows(data.proposal))),
                ],
            ),
            dcc.Graph(
                id=ID_MAP, figure=siting_figure(data.proposal), config={"displaylogo": False}
            ),
        ],
    )
