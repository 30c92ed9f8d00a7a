"""Utilisation: per station and hour of day, the share of its ports occupied and the energy.

Read from the DuckDB catalog's ``utilisation_hourly`` view (``<data dir>/catalog.duckdb``, opened
read-only; built by ``chargegrid catalog refresh``). For each station and UTC hour of day over the
whole period in the view:

* ``occupied_share`` = plugged-in minutes / (60 × ports seen at the station × days in the
  period): the mean share of its ports occupied in that hour of the day;
* ``kwh_per_day`` = energy delivered in that hour / days in the period.

A heatmap (station × hour) of either measure, chosen by the operator; a missing or empty catalog
gives an empty chart and says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import dash
import duckdb
import plotly.graph_objects as go
from dash import Dash, Input, Output, dcc, html

from chargegrid.settings import Settings
from dashboards import context
from dashboards.context import AppContext

PATH = "/utilisation"
ID_MEASURE = "utilisation-measure"
ID_CHART = "utilisation-chart"
ID_MESSAGE = "utilisation-message"
MEASURES = {"occupied_share": "occupied share of ports", "kwh_per_day": "kWh per day"}

PROFILE_SQL = """
WITH u AS (
    SELECT station_id, port_id, make_timestamp(epoch_us(slot_start)) AS t, occupied_min, energy_wh
    FROM utilisation_hourly
),
span AS (SELECT date_diff('day', CAST(min(t) AS DATE), CAST(max(t) AS DATE)) + 1 AS days FROM u),
ports AS (SELECT station_id, count(DISTINCT port_id) AS ports FROM u GROUP BY station_id)
SELECT u.station_id, hour(u.t) AS hour,
    sum(u.occupied_min) / (60.0 * any_value(p.ports) * any_value(s.days)) AS occupied_share,
    sum(u.energy_wh) / 1000.0 / any_value(s.days) AS kwh_per_day
FROM u JOIN ports p USING (station_id) CROSS JOIN span s
GROUP BY u.station_id, hour(u.t)
ORDER BY u.station_id, hour
"""


@dataclass(frozen=True)
class Profile:
    """Per station, 24 values per measure (hour of day, UTC); zero where nothing happened."""

    stations: list[str]
    occupied_share: list[list[float]]
    kwh_per_day: list[list[float]]
    message: str


def read_profile(settings: Settings) -> Profile:
    """The hour-of-day profile of every station in the catalog (see the module docstring)."""
    path = settings.catalog_path
    if not path.exists():
        return Profile([], [], [], f"no catalog at {path}: run 'chargegrid catalog refresh'")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        return Profile([], [], [], f"catalog {path} cannot be opened now: {exc}")
    try:
        rows = con.execute(PROFILE_SQL).fetchall()
    except duckdb.Error as exc:
        return Profile([], [], [], f"utilisation_hourly cannot be read: {exc}")
    finally:
        con.close()
    return profile_from_rows(rows)


def profile_from_rows(rows: list[tuple[str, int, float, float]]) -> Profile:
    """Rows of (station, hour, occupied share, kWh per day) → 24-hour profiles per station."""
    stations = sorted({r[0] for r in rows})
    index = {s: i for i, s in enumerate(stations)}
    occupied = [[0.0] * 24 for _ in stations]
    energy = [[0.0] * 24 for _ in stations]
    for station, hour, share, kwh in rows:
        occupied[index[station]][int(hour)] = float(share)
        energy[index[station]][int(hour)] = float(kwh)
    message = f"{len(stations)} stations" if stations else "no utilisation in the catalog yet"
    return Profile(stations, occupied, energy, message)


def profile_figure(profile: Profile, measure: str) -> go.Figure:
    """Heatmap station × UTC hour of ``measure`` (a key of :data:`MEASURES`)."""
    values = getattr(profile, measure) if measure in MEASURES else []
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=list(range(24)),
            y=profile.stations,
            colorscale="Viridis",
            colorbar={"title": MEASURES.get(measure, measure)},
            zmin=0.0,
            zmax=1.0 if measure == "occupied_share" else None,
            hovertemplate="%{y} · %{x}:00 UTC · %{z:.3g}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"{MEASURES.get(measure, measure)} by hour of day (UTC)",
        xaxis={"title": "hour of day (UTC)", "dtick": 2},
        yaxis={"title": "station", "automargin": True},
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
        height=max(300, 40 + 22 * len(profile.stations)),
    )
    return figure


def register(app: Dash, ctx: AppContext) -> None:
    """Add the Utilisation page to ``app``."""
    dash.register_page(
        __name__,
        path=PATH,
        name="Utilisation",
        title="chargegrid · Utilisation",
        order=6,
        layout=layout,
    )

    @app.callback(Output(ID_CHART, "figure"), Input(ID_MEASURE, "value"))
    def _redraw(measure: str) -> go.Figure:
        return profile_figure(read_profile(ctx.settings), measure)


def layout(**_query: str) -> html.Div:
    ctx = context.current()
    profile = read_profile(ctx.settings) if ctx else Profile([], [], [], "")
    return html.Div(
        className="utilisation-page",
        children=[
            html.Section(
                className="live-panel",
                children=[
                    html.H2("Utilisation by hour"),
                    dcc.RadioItems(
                        id=ID_MEASURE,
                        options=[{"label": v, "value": k} for k, v in MEASURES.items()],
                        value="occupied_share",
                        inline=True,
                    ),
                    html.Div(id=ID_MESSAGE, children=profile.message),
                ],
            ),
            dcc.Graph(
                id=ID_CHART,
                figure=profile_figure(profile, "occupied_share"),
                config={"displaylogo": False},
            ),
        ],
    )
