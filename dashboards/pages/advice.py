"""Advice: when should a driver charge? The operator types a stay and sees the plans.

Inputs: arrival and departure (ISO 8601 with an offset), energy need (kWh), connector power
(kW) and a tariff (``data/tariffs`` and ``<data dir>/tariffs``). A dynamic tariff takes the
day-ahead prices imported with ``chargegrid import entsoe`` (``<lake>/imported_prices``). The
chart shows the energy price of each slot of the stay and the energy each plan puts in it; the
table gives each plan's energy cost, its saving against charging at once, and its charging runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import dash
import numpy as np
import plotly.graph_objects as go
import pyarrow.parquet as pq
from dash import Dash, Input, Output, State, dcc, html

from chargegrid.errors import ChargegridError
from chargegrid.settings import Settings
from chargegrid.tariffs import (
    CURRENCY_EXPONENT,
    PriceSeries,
    Tariff,
    TariffError,
    from_us,
    load_tariff_dir,
    to_us,
)
from dashboards import context
from dashboards.context import AppContext
from models.advise.plan import Plan
from models.advise.run import Request, make_plans, parse_moment

PATH = "/advice"
REPO_TARIFFS = Path(__file__).resolve().parents[2] / "data" / "tariffs"
ID_ARRIVAL = "advice-arrival"
ID_DEPARTURE = "advice-departure"
ID_KWH = "advice-kwh"
ID_KW = "advice-kw"
ID_TARIFF = "advice-tariff"
ID_GO = "advice-go"
ID_MESSAGE = "advice-message"
ID_CHART = "advice-chart"
ID_TABLE = "advice-table"
PLAN_COLOURS = {"immediate": "#9e9e9e", "exact": "#2e7d32", "window": "#1565c0"}


@dataclass(frozen=True)
class AdviceView:
    """What the page shows for one request: a message (error or summary), chart and rows."""

    message: str
    figure: go.Figure
    rows: list[tuple[str, str, str, str]]  # plan, energy cost, saving %, runs


def register(app: Dash, ctx: AppContext) -> None:
    """Add the Advice page to ``app``."""
    dash.register_page(
        __name__, path=PATH, name="Advice", title="chargegrid · Advice", order=5, layout=layout
    )
    _register_callbacks(app, ctx)


def tariffs(settings: Settings) -> dict[str, Tariff]:
    """The repository's tariffs, overridden by the data dir's (same id)."""
    found: dict[str, Tariff] = {}
    for folder in (REPO_TARIFFS, settings.data_dir / "tariffs"):
        if folder.is_dir():
            found.update(load_tariff_dir(folder))
    return found


def imported_prices(settings: Settings, currency: str) -> PriceSeries | None:
    """Day-ahead prices imported into the lake, in ``currency`` (None if there are none)."""
    files = sorted((settings.lake_dir / "imported_prices").glob("source=*/*.parquet"))
    files = [f for f in files if "source=_schema" not in str(f)]
    if not files:
        return None
    columns = ["started_at", "ended_at", "price_micro_minor_per_kwh", "currency"]
    tables = [pq.read_table(f, columns=columns).to_pydict() for f in files]
    rows = sorted(
        (to_us(s), to_us(e), int(p))
        for t in tables
        for s, e, p, c in zip(*(t[k] for k in columns), strict=True)
        if c == currency
    )
    if not rows:
        return None
    start, end, price = (np.array(col, np.int64) for col in zip(*rows, strict=True))
    return PriceSeries(start, end, price, currency, "imported prices")


def build_view(
    settings: Settings, arrival: str, departure: str, kwh: float | None, kw: float | None, tid: str
) -> AdviceView:
    """Plans for the typed request, or the reason there are none (never raises on bad input)."""
    try:
        known = tariffs(settings)
        if tid not in known:
            msg = f"unknown tariff {tid!r}"
            raise TariffError(msg)
        tariff = known[tid]
        request = Request(
            parse_moment(arrival or "", "arrival"),
            parse_moment(departure or "", "departure"),
            float(kwh if kwh is not None else float("nan")),
            float(kw if kw is not None else float("nan")),
        )
        prices = imported_prices(settings, tariff.currency) if tariff.dynamic else None
        if tariff.dynamic and prices is None:
            msg = "no day-ahead prices imported (chargegrid import entsoe PATH)"
            raise TariffError(msg)
        plans = make_plans(request, tariff, prices)
    except ChargegridError as exc:
        return AdviceView(str(exc), plan_figure([], None), [])
    best = plans[1]
    message = (
        f"cheapest: {best.cost:,.2f} {tariff.currency} for the energy, "
        f"{plans[0].cost - best.cost:,.2f} less than charging at once"
    )
    return AdviceView(message, plan_figure(plans, tariff), plan_rows(plans, tariff))


def plan_figure(plans: list[Plan], tariff: Tariff | None) -> go.Figure:
    """Slot prices (step line, right axis) and each plan's energy per slot (bars)."""
    figure = go.Figure()
    figure.update_layout(
        margin={"l": 50, "r": 60, "t": 20, "b": 40},
        barmode="group",
        yaxis={"title": "energy (kWh)"},
        yaxis2={"title": "price per kWh", "overlaying": "y", "side": "right"},
        legend={"orientation": "h"},
    )
    if not plans or tariff is None:
        return figure
    slots = plans[0].slots
    zone = tariff.zone
    starts = [from_us(int(t)).astimezone(zone) for t in slots.start_us]
    ends = [from_us(int(t)).astimezone(zone) for t in slots.end_us]
    scale = 1e6 * 10 ** CURRENCY_EXPONENT[tariff.currency]
    figure.add_trace(
        go.Scatter(
            x=[*starts, ends[-1]],
            y=[*(slots.price / scale), slots.price[-1] / scale],
            mode="lines",
            line={"shape": "hv", "color": "#e65100"},
            name=f"price ({tariff.currency}/kWh)",
            yaxis="y2",
            meta="price",
        )
    )
    middles = [a + (b - a) / 2 for a, b in zip(starts, ends, strict=True)]
    for plan in plans:
        figure.add_trace(
            go.Bar(
                x=middles,
                y=plan.energy_kwh,
                name=plan.kind,
                marker_color=PLAN_COLOURS.get(plan.kind),
                meta=plan.kind,
            )
        )
    return figure


def plan_rows(plans: list[Plan], tariff: Tariff) -> list[tuple[str, str, str, str]]:
    base = plans[0].cost
    zone = tariff.zone
    rows = []
    for plan in plans:
        saving = 100.0 * (base - plan.cost) / abs(base) if base else 0.0
        runs = ", ".join(
            f"{from_us(a).astimezone(zone):%d %b %H:%M}–{from_us(b).astimezone(zone):%H:%M}"
            for a, b in plan.intervals_us()
        )
        rows.append((plan.kind, f"{plan.cost:,.2f} {tariff.currency}", f"{saving:.1f} %", runs))
    return rows


def render_table(rows: list[tuple[str, str, str, str]]) -> html.Table | html.Div:
    if not rows:
        return html.Div("no plan", className="advice-empty")
    head = html.Thead(html.Tr([html.Th(h) for h in ("plan", "energy cost", "saving", "runs")]))
    body = html.Tbody([html.Tr([html.Td(cell) for cell in row]) for row in rows])
    return html.Table(className="advice-table", children=[head, body])


def _defaults(ctx: AppContext | None) -> tuple[str, str, list[str], str]:
    if ctx is None:
        return "", "", [], ""
    now = ctx.clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    try:
        known = tariffs(ctx.settings)
    except ChargegridError:
        known = {}  # the message appears when the operator picks one
    ids = sorted(known)
    varied = [i for i in ids if len(_band_prices(known[i])) > 1]
    chosen = varied[0] if varied else (ids[0] if ids else "")
    return now.isoformat(), (now + timedelta(hours=12)).isoformat(), ids, chosen


def _band_prices(tariff: Tariff) -> set[object]:
    return {band.price_per_kwh for s in tariff.energy for band in s.bands}


def layout(**_query: str) -> html.Div:
    """The form, then the chart and table for the default request."""
    ctx = context.current()
    arrival, departure, ids, chosen = _defaults(ctx)
    view = build_view(ctx.settings, arrival, departure, 20.0, 7.4, chosen) if ctx else None
    field: dict[str, Any] = {"debounce": True, "className": "advice-input"}
    return html.Div(
        className="advice-page",
        children=[
            html.Section(
                className="live-panel",
                children=[
                    html.H2("When to charge"),
                    html.Label(["arrival ", dcc.Input(id=ID_ARRIVAL, value=arrival, **field)]),
                    html.Label(
                        ["departure ", dcc.Input(id=ID_DEPARTURE, value=departure, **field)]
                    ),
                    html.Label(["kWh ", dcc.Input(id=ID_KWH, type="number", value=20, **field)]),
                    html.Label(["kW ", dcc.Input(id=ID_KW, type="number", value=7.4, **field)]),
                    html.Label(
                        [
                            "tariff ",
                            dcc.Dropdown(id=ID_TARIFF, options=ids, value=chosen, clearable=False),
                        ]
                    ),
                    html.Button("Plan", id=ID_GO),
                    html.Div(id=ID_MESSAGE, children=view.message if view else ""),
                ],
            ),
            dcc.Graph(
                id=ID_CHART,
                figure=view.figure if view else plan_figure([], None),
                config={"displaylogo": False},
            ),
            html.Div(id=ID_TABLE, children=render_table(view.rows if view else [])),
        ],
    )


def _register_callbacks(app: Dash, ctx: AppContext) -> None:
    @app.callback(
        Output(ID_MESSAGE, "children"),
        Output(ID_CHART, "figure"),
        Output(ID_TABLE, "children"),
        Input(ID_GO, "n_clicks"),
        State(ID_ARRIVAL, "value"),
        State(ID_DEPARTURE, "value"),
        State(ID_KWH, "value"),
        State(ID_KW, "value"),
        State(ID_TARIFF, "value"),
        prevent_initial_call=True,
    )
    def plan(
        _clicks: int | None,
        arrival: str,
        departure: str,
        kwh: float | None,
        kw: float | None,
        tariff_id: str,
    ) -> tuple[Any, ...]:
        view = build_view(ctx.settings, arrival, departure, kwh, kw, tariff_id)
        return view.message, view.figure, render_table(view.rows)
