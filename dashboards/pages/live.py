"""Live: power per connector, connector status board, active sessions, headline figures.

The page is seeded on first render from stored data (the snapshot's power history, else the
lake's recent readings), then a 1 s interval re-reads the snapshot and replaces the figure and
tables only when the pipeline has written a new one. Whole-figure replacement (not ``extendData``)
means nothing is lost when an update arrives before the graph has rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html, no_update

from chargegrid.live import ConnectorLive, LiveSnapshot
from dashboards import context, data
from dashboards.context import AppContext
from dashboards.figures import (
    STATUS_COLOURS,
    WAITING,
    Headline,
    SessionRow,
    StatusTile,
    connector_label,
    format_duration,
    headlines,
    power_figure,
    session_rows,
    station_names,
    status_counts,
    status_tiles,
)

PATH = "/"
ID_INTERVAL = "live-interval"
ID_VERSION = "live-version"
ID_STATUS = "live-status"
ID_HEADLINES = "live-headlines"
ID_POWER = "live-power"
ID_BOARD = "live-board"
ID_SESSIONS = "live-sessions"


@dataclass(frozen=True)
class LiveView:
    """Everything the page shows, built from stored data in one go."""

    version: str | None  # the snapshot's generated_at; None before the pipeline writes one
    figure: go.Figure
    tiles: list[StatusTile]
    counts: dict[str, int]
    sessions: list[SessionRow]
    headlines: list[Headline]


def register(app: Dash, ctx: AppContext) -> None:
    """Add the Live page to ``app`` (safe to call for several apps in one process)."""
    dash.register_page(
        __name__, path=PATH, name="Live", title="chargegrid · Live", order=0, layout=layout
    )
    _register_callbacks(app, ctx)


def build_view(ctx: AppContext, snapshot: LiveSnapshot | None) -> LiveView:
    """Read the lake and inventory around ``snapshot`` and build every part of the page."""
    settings = ctx.settings
    inventory = data.read_inventory(settings)
    series = data.power_history(settings, snapshot)
    connectors: list[ConnectorLive] = snapshot.connectors if snapshot is not None else []
    event_time = snapshot.event_time if snapshot is not None else None
    end = event_time or _newest(series)
    if snapshot is not None:
        readings, dead = snapshot.readings_total, snapshot.dead_letter_total
    else:
        readings = data.lake_row_count(settings, "readings")
        dead = data.lake_row_count(settings, "dead_letter")
    stations = station_names(inventory)
    figure = power_figure(
        series,
        end=end,
        window_s=settings.live_history_s,
        labels={key: connector_label(key, stations) for key in series},
    )
    return LiveView(
        version=snapshot.generated_at.isoformat() if snapshot is not None else None,
        figure=figure,
        tiles=status_tiles(connectors, inventory),
        counts=status_counts(connectors),
        sessions=session_rows(connectors, inventory, event_time=event_time),
        headlines=headlines(
            connectors,
            energy_today_wh=data.energy_today_wh(settings, snapshot, now=ctx.clock.now()),
            readings_total=readings,
            dead_letter_total=dead,
        ),
    )


def _newest(series: data.PowerSeries) -> datetime | None:
    return max((points[-1].ts for points in series.values() if points), default=None)


def layout(**_query: str) -> html.Div:
    """The page, seeded from stored data of the app serving this request."""
    ctx = context.current()
    snapshot = data.read_live(ctx.settings) if ctx is not None else None
    view = build_view(ctx, snapshot) if ctx is not None else None
    interval_ms = int((ctx.settings.live_interval_s if ctx else 1.0) * 1000)
    return html.Div(
        className="live-page",
        children=[
            dcc.Interval(id=ID_INTERVAL, interval=interval_ms),
            dcc.Store(id=ID_VERSION, data=view.version if view else None),
            html.Div(id=ID_STATUS, className="live-status", children=_status_text(ctx, snapshot)),
            html.Div(
                id=ID_HEADLINES,
                className="live-headlines",
                children=render_headlines(view.headlines if view else []),
            ),
            html.Section(
                className="live-panel",
                children=[
                    html.H2("Power per connector"),
                    dcc.Graph(
                        id=ID_POWER,
                        figure=view.figure if view else power_figure({}),
                        config={"displaylogo": False},
                        style={"height": "420px"},
                    ),
                ],
            ),
            html.Section(
                className="live-panel",
                children=[
                    html.H2("Connector status"),
                    html.Div(
                        id=ID_BOARD,
                        children=render_board(
                            view.tiles if view else [], view.counts if view else {}
                        ),
                    ),
                ],
            ),
            html.Section(
                className="live-panel",
                children=[
                    html.H2("Active sessions"),
                    html.Div(
                        id=ID_SESSIONS, children=render_sessions(view.sessions if view else [])
                    ),
                ],
            ),
        ],
    )


def _register_callbacks(app: Dash, ctx: AppContext) -> None:
    @app.callback(
        Output(ID_STATUS, "children"),
        Output(ID_VERSION, "data"),
        Output(ID_POWER, "figure"),
        Output(ID_BOARD, "children"),
        Output(ID_SESSIONS, "children"),
        Output(ID_HEADLINES, "children"),
        Input(ID_INTERVAL, "n_intervals"),
        State(ID_VERSION, "data"),
        prevent_initial_call=True,
    )
    def refresh(_ticks: int | None, shown_version: str | None) -> tuple[Any, ...]:
        snapshot = data.read_live(ctx.settings)
        status = _status_text(ctx, snapshot)
        if snapshot is not None and snapshot.generated_at.isoformat() == shown_version:
            return status, no_update, no_update, no_update, no_update, no_update
        view = build_view(ctx, snapshot)
        return (
            status,
            view.version,
            view.figure,
            render_board(view.tiles, view.counts),
            render_sessions(view.sessions),
            render_headlines(view.headlines),
        )


def _status_text(ctx: AppContext | None, snapshot: LiveSnapshot | None) -> str:
    if ctx is None or snapshot is None:
        return WAITING
    age_s = max(0.0, (ctx.clock.now() - snapshot.generated_at).total_seconds())
    event = snapshot.event_time.strftime("%Y-%m-%d %H:%M:%S UTC") if snapshot.event_time else "–"
    stale = " — pipeline silent" if age_s > 10 * ctx.settings.live_interval_s else ""
    return f"event time {event} · snapshot {age_s:.0f} s old{stale}"


def render_headlines(items: list[Headline]) -> list[html.Div]:
    return [
        html.Div(
            id=f"live-headline-{item.key}",
            className="live-headline",
            children=[
                html.Div(item.value, className="value"),
                html.Div(item.label, className="label"),
            ],
        )
        for item in items
    ]


def render_board(tiles: list[StatusTile], counts: dict[str, int]) -> list[html.Div]:
    if not tiles:
        return [html.Div(WAITING, className="live-empty")]
    legend = html.Div(
        className="live-legend",
        children=[
            html.Span(
                f"{status} {n}", className="live-chip", style={"background": STATUS_COLOURS[status]}
            )
            for status, n in counts.items()
        ],
    )
    board = html.Div(className="live-tiles", children=[_tile(tile) for tile in tiles])
    return [legend, board]


def _tile(tile: StatusTile) -> html.Div:
    data_attributes: dict[str, Any] = {"data-status": tile.status, "data-connector": tile.key}
    return html.Div(
        className="live-tile",
        title=f"{tile.station} {tile.key}: {tile.status}".strip(),
        style={"background": tile.colour},
        children=[
            html.Div(tile.key, className="key"),
            html.Div(tile.status, className="status"),
            html.Div(f"{tile.power_kw:.1f} kW", className="power"),
        ],
        **data_attributes,
    )


SESSION_HEADER = (
    "connector",
    "station",
    "transaction",
    "energy (kWh)",
    "power (kW)",
    "SoC",
    "duration",
)


def render_sessions(rows: list[SessionRow]) -> list[html.Div | html.Table]:
    if not rows:
        return [html.Div("no active sessions", className="live-empty")]
    body = [
        html.Tr(
            [
                html.Td(row.connector),
                html.Td(row.station),
                html.Td(row.transaction_id),
                html.Td(f"{row.energy_kwh:.2f}", className="num"),
                html.Td(f"{row.power_kw:.1f}", className="num"),
                html.Td("–" if row.soc_pct is None else f"{row.soc_pct:.0f} %", className="num"),
                html.Td(format_duration(row.duration_s), className="num"),
            ]
        )
        for row in rows
    ]
    head = html.Thead(html.Tr([html.Th(h) for h in SESSION_HEADER]))
    return [html.Table(className="live-table", children=[head, html.Tbody(body)])]
