"""Data quality: every record the system refused, counted by topic, source and reason, and the
sessions billing could not price, so an operator sees what is being dead-lettered and why.

Read straight from the lake's Parquet (``dead_letter`` and ``bills``, like the Live page reads
readings), every 5 s: counts per (topic, source, reason) with the latest time one was seen, the
newest few dead letters with their detail, and unbilled sessions with their reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import dash
from dash import Dash, Input, Output, dcc, html

from chargegrid.settings import Settings
from dashboards import context, data
from dashboards.context import AppContext

PATH = "/quality"
ID_INTERVAL = "quality-interval"
ID_COUNTS = "quality-counts"
ID_RECENT = "quality-recent"
ID_UNBILLED = "quality-unbilled"
RECENT = 20
COUNT_COLUMNS = ["topic", "source", "reason", "records", "latest"]
RECENT_COLUMNS = ["ts", "topic", "reason", "charger_id", "detail"]
UNBILLED_COLUMNS = ["session_id", "ended_at", "detail"]

COUNTS_SQL = """
SELECT topic, source, reason, count(*) AS records, max(ts) AS latest
FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true)
GROUP BY ALL ORDER BY records DESC, topic, source, reason
"""
RECENT_SQL = """
SELECT ts, topic, reason, charger_id, detail
FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true)
ORDER BY ts DESC LIMIT {limit}
"""
UNBILLED_SQL = """
SELECT session_id, ended_at, detail
FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true)
WHERE status = 'unbilled' ORDER BY ended_at DESC LIMIT {limit}
"""


@dataclass(frozen=True)
class Quality:
    counts: list[dict[str, object]]
    recent: list[dict[str, object]]
    unbilled: list[dict[str, object]]


def _rows(settings: Settings, table: str, sql: str) -> list[dict[str, object]]:
    glob = data.table_glob(settings, table)
    if glob is None:
        return []
    result = data.run_query(sql.format(glob=glob.replace("'", "''"), limit=RECENT))
    if result is None:
        return []
    return [
        {
            k: (v.isoformat(timespec="seconds") if hasattr(v, "isoformat") else v)
            for k, v in r.items()
        }
        for r in result.to_pylist()
    ]


def read_quality(settings: Settings) -> Quality:
    return Quality(
        counts=_rows(settings, "dead_letter", COUNTS_SQL),
        recent=_rows(settings, "dead_letter", RECENT_SQL),
        unbilled=_rows(settings, "bills", UNBILLED_SQL),
    )


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def _table(id_: str, rows: list[dict[str, object]], columns: list[str]) -> html.Table:
    head = html.Thead(html.Tr([html.Th(c.replace("_", " ")) for c in columns]))
    body = html.Tbody(
        [html.Tr([html.Td(_cell(row.get(c))) for c in columns]) for row in rows]
        or [html.Tr([html.Td("none", colSpan=len(columns))])]
    )
    return html.Table(id=id_, className="quality-table", children=[head, body])


def layout(**_query: str) -> html.Div:
    ctx = context.current()
    quality = read_quality(ctx.settings) if ctx is not None else Quality([], [], [])
    return html.Div(
        className="quality-page",
        children=[
            dcc.Interval(id=ID_INTERVAL, interval=5_000),
            html.Section(
                className="live-panel",
                children=[
                    html.H2("Dead letters by reason"),
                    html.P(
                        "Every refused record is kept with its reason and raw payload "
                        "(chargegrid sql \"SELECT * FROM dead_letter\")."
                    ),
                    _table(ID_COUNTS, quality.counts, COUNT_COLUMNS),
                ],
            ),
            html.Section(
                className="live-panel",
                children=[
                    html.H2("Newest dead letters"),
                    _table(ID_RECENT, quality.recent, RECENT_COLUMNS),
                ],
            ),
            html.Section(
                className="live-panel",
                children=[
                    html.H2("Sessions billing could not price"),
                    _table(ID_UNBILLED, quality.unbilled, UNBILLED_COLUMNS),
                ],
            ),
        ],
    )  # fmt: skip


def register(app: Dash, ctx: AppContext) -> None:
    dash.register_page(
        __name__, path=PATH, name="Data quality", title="chargegrid · Data quality", order=8,
        layout=layout,
    )  # fmt: skip

    @app.callback(
        Output(ID_COUNTS, "children"),
        Output(ID_RECENT, "children"),
        Output(ID_UNBILLED, "children"),
        Input(ID_INTERVAL, "n_intervals"),
    )
    def refresh(_n: int | None) -> tuple[object, object, object]:
        seen = read_quality(ctx.settings)
        return (
            _table(ID_COUNTS, seen.counts, COUNT_COLUMNS).children,
            _table(ID_RECENT, seen.recent, RECENT_COLUMNS).children,
            _table(ID_UNBILLED, seen.unbilled, UNBILLED_COLUMNS).children,
        )
