"""The utilisation report: per group (site, station or port) and period (day, week, month, UTC).

Columns (units in names; documented in the README section and in :data:`COLUMNS`):

* ``ports``: ports of the group available at some time in the period (see the ``ports`` view).
* ``available_h``: port-hours available in the period (ports × their availability in it).
* ``sessions``, ``energy_kwh``, ``revenue_minor`` (+ ``currency``): sessions that *started* in
  the period and their energy and billed total; revenue is NULL unless every one of them has a
  price in a single currency.
* ``occupied_h`` / ``occupied_pct``: plugged-in time inside the period (sessions clipped to it)
  over ``available_h``.
* ``charging_pct``, ``idle_after_full_h``: time from plug-in to charging end, and from charging
  end to plug-out, inside the period; NULL when any session in the period has no known charging
  end (imported sources that do not publish it; pipeline transactions without readings).
* ``uptime_pct``: US NEVI (23 CFR 680.116(b)) per port over the trailing 12 months ending at the
  period's end: ``(525,600 − (outage − excluded outage minutes)) / 525,600 × 100``, averaged over
  the group's ports. Outage = ``port_outages`` (Faulted/Unavailable); no excluded outages are
  recorded, so excluded minutes are 0. NULL for ports without any status record by then, which
  includes all imported history (it has no status data: unknown, not 100 %).
* ``start_success_pct``: pipeline: share of transactions started in the period that delivered
  meter readings; imported: NULL (unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import duckdb
import pyarrow as pa

from chargegrid.errors import ChargegridError
from warehouse.reports.views import naive, overlap_s

By = Literal["site", "station", "connector"]
Grain = Literal["day", "week", "month"]
KEY_COLUMN: dict[str, str] = {"site": "site_id", "station": "station_id", "connector": "port_id"}
GRAINS: tuple[Grain, ...] = ("day", "week", "month")
NEVI_YEAR_MIN = 525_600

COLUMNS = (
    "grain",
    "source",
    "period_start",
    "period_end",
    "ports",
    "available_h",
    "sessions",
    "energy_kwh",
    "occupied_h",
    "occupied_pct",
    "charging_pct",
    "idle_after_full_h",
    "uptime_pct",
    "revenue_minor",
    "currency",
    "start_success_pct",
)


class ReportError(ChargegridError):
    """A report request that cannot be answered (bad range, source, grouping or grain)."""


@dataclass(frozen=True, slots=True)
class ReportRange:
    """UTC days ``first`` .. ``last`` inclusive, and the sessions' source filter.

    ``source``: ``all``, ``pipeline``, ``import`` (every imported source) or ``import:<src>``.
    """

    first: date
    last: date
    source: str = "all"

    def __post_init__(self) -> None:
        if self.last < self.first:
            msg = f"--to {self.last} is before --from {self.first}"
            raise ReportError(msg)
        ok = self.source in {"all", "pipeline", "import"} or self.source.startswith("import:")
        if not ok:
            msg = f"--source {self.source!r}: use all, pipeline, import or import:<source>"
            raise ReportError(msg)

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """Exclusive end: midnight UTC after ``last``."""
        return datetime(self.last.year, self.last.month, self.last.day, tzinfo=UTC) + timedelta(
            days=1
        )

    def source_sql(self) -> str:
        """SQL predicate on a ``source`` column."""
        if self.source == "all":
            return "TRUE"
        if self.source == "import":
            return "source LIKE 'import:%'"
        return "source = " + "'" + self.source.replace("'", "''") + "'"


def parse_range(first: str, last: str, source: str = "all") -> ReportRange:
    """A :class:`ReportRange` from ``YYYY-MM-DD`` texts (the CLI's ``--from``/``--to``)."""
    try:
        days = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        msg = f"--from/--to must be YYYY-MM-DD days, not {first!r} / {last!r}"
        raise ReportError(msg) from None
    return ReportRange(*days, source)


def _check(by: str, grain: str) -> None:
    if by not in KEY_COLUMN:
        msg = f"--by {by!r}: use one of {', '.join(KEY_COLUMN)}"
        raise ReportError(msg)
    if grain not in GRAINS:
        msg = f"--grain {grain!r}: use one of {', '.join(GRAINS)}"
        raise ReportError(msg)


def facts_sql(rng: ReportRange, by: str) -> str:
    """The ``session_facts`` a report over ``rng`` needs (parameters ``$f``, ``$t``), in the
    report's shape: group ``key``, naive UTC ``s``/``e``/``ce`` (plug-in, plug-out, charging
    end; converted without ICU, which costs ~5x more per row), money and start outcome."""
    if by not in KEY_COLUMN:
        msg = f"--by {by!r}: use one of {', '.join(KEY_COLUMN)}"
        raise ReportError(msg)
    return f"""
SELECT source, {KEY_COLUMN[by]} AS key,
    {naive("started_at")} AS s,
    {naive("coalesce(ended_at, started_at)")} AS e,
    {naive("charging_ended_at")} AS ce,
    energy_wh, price_minor, currency, start_succeeded
FROM session_facts
WHERE {rng.source_sql()} AND started_at < $t AT TIME ZONE 'UTC'
    AND coalesce(ended_at, started_at) >= $f AT TIME ZONE 'UTC'
"""


def shared_sql(rng: ReportRange, by: str) -> dict[str, str]:
    """Queries every grain of a report reads (parameters ``$f``, ``$t``; naive UTC): ``facts``
    (:func:`facts_sql`), ``ports`` (each port's availability clipped to the range), ``outages``
    (``port_outages``) and ``status`` (first status record per charger)."""
    facts = facts_sql(rng, by)  # checks ``by``
    key = KEY_COLUMN[by]
    return {
        "facts": facts,
        "ports": f"""
SELECT source, {key} AS key, port_id,
    greatest(coalesce({naive("available_from")}, $f), $f) AS af,
    least(coalesce({naive("available_until")}, $t), $t) AS au
FROM ports WHERE {rng.source_sql()}
""",
        "outages": f"""
SELECT port_id, {naive("started_at")} AS s, {naive("ended_at")} AS e FROM port_outages
""",
        "status": f"""
SELECT charger_id, {naive("min(ts)")} AS since
FROM connector_status WHERE kind = 'status' GROUP BY charger_id
""",
    }


def report_sql(
    rng: ReportRange, by: str, grain: str, relations: dict[str, str] | None = None
) -> str:
    """The report query for one grain (naive UTC internally; parameters ``$f``, ``$t``);
    ``relations`` maps each name of :func:`shared_sql` to a relation holding its rows (e.g. a
    temporary table; default: the query itself)."""
    _check(by, grain)
    key = KEY_COLUMN[by]
    w = f"INTERVAL 1 {grain}"
    bucket = "greatest(b, $f)"
    bucket_end = f"least(b + {w}, $t)"
    occ = overlap_s(bucket, bucket_end, "s", "e")
    chg = overlap_s(bucket, bucket_end, "s", "ce")
    idle = overlap_s(bucket, bucket_end, "ce", "e")
    avail = overlap_s(bucket, bucket_end, "af", "au")
    started = "(s >= $f AND time_bucket(INTERVAL 1 " + grain + ", s) = b)"
    rel = {name: f"({sql})" for name, sql in shared_sql(rng, by).items()} | (relations or {})
    return f"""
WITH facts AS (
    SELECT * FROM {rel["facts"]}
), usage AS (
    SELECT source, key, b,
        count(*) FILTER (WHERE {started}) AS sessions,
        sum(energy_wh) FILTER (WHERE {started}) / 1000.0 AS energy_kwh,
        sum({occ}) / 3600.0 AS occupied_h,
        sum({chg}) / 3600.0 AS charging_h,
        sum({idle}) / 3600.0 AS idle_h,
        count(*) FILTER (WHERE ce IS NULL) AS charging_unknown,
        sum(price_minor) FILTER (WHERE {started}) AS revenue_minor,
        count(price_minor) FILTER (WHERE {started}) AS priced,
        count(DISTINCT currency) FILTER (WHERE {started}) AS currencies,
        min(currency) FILTER (WHERE {started}) AS currency,
        count(start_succeeded) FILTER (WHERE {started}) AS start_known,
        count(*) FILTER (WHERE {started} AND start_succeeded) AS start_ok
    FROM (
        SELECT *, unnest(generate_series(time_bucket({w}, greatest(s, $f)), least(e, $t), {w}))
            AS b
        FROM facts
    )
    WHERE b < $t AND (b + {w} > s OR b = time_bucket({w}, s)) AND (b < e OR {started})
    GROUP BY source, key, b
), port_spans AS (
    SELECT * FROM {rel["ports"]}
), availability AS (
    SELECT source, key, b, count(DISTINCT port_id) AS ports, sum({avail}) / 3600.0 AS available_h
    FROM (
        SELECT *, unnest(generate_series(time_bucket({w}, af), au, {w})) AS b
        FROM port_spans WHERE au > af
    )
    WHERE b < au AND b + {w} > af
    GROUP BY source, key, b
), status_known AS (
    SELECT * FROM {rel["status"]}
), port_uptime AS (
    SELECT a.source, a.key, a.b,
        {NEVI_YEAR_MIN} - coalesce(sum({
        overlap_s(
            f"{bucket_end} - INTERVAL 365 days",
            bucket_end,
            "o.s",
            "coalesce(o.e, " + bucket_end + ")",
        )
    }) / 60.0, 0) AS up_min,
        p.port_id
    FROM availability a
    JOIN port_spans p ON p.source = a.source AND p.key = a.key AND a.source = 'pipeline'
    JOIN status_known k ON k.charger_id = split_part(p.port_id, '/', 1)
        AND k.since < {bucket_end}
    LEFT JOIN {rel["outages"]} o ON o.port_id = p.port_id
    GROUP BY a.source, a.key, a.b, p.port_id
), uptime AS (
    SELECT source, key, b, avg(up_min) / {NEVI_YEAR_MIN} * 100 AS uptime_pct
    FROM port_uptime GROUP BY source, key, b
)
SELECT
    '{grain}' AS grain,
    source,
    key AS {key},
    greatest(b, $f) AT TIME ZONE 'UTC' AS period_start,
    least(b + {w}, $t) AT TIME ZONE 'UTC' AS period_end,
    coalesce(a.ports, 0) AS ports,
    coalesce(a.available_h, 0) AS available_h,
    coalesce(u.sessions, 0) AS sessions,
    coalesce(u.energy_kwh, 0) AS energy_kwh,
    coalesce(u.occupied_h, 0) AS occupied_h,
    100 * u.occupied_h / nullif(a.available_h, 0) AS occupied_pct,
    CASE WHEN coalesce(u.charging_unknown, 0) = 0
        THEN 100 * coalesce(u.charging_h, 0) / nullif(a.available_h, 0) END AS charging_pct,
    CASE WHEN coalesce(u.charging_unknown, 0) = 0 THEN coalesce(u.idle_h, 0) END
        AS idle_after_full_h,
    up.uptime_pct,
    CASE WHEN u.priced = u.sessions AND u.currencies = 1 THEN u.revenue_minor END
        AS revenue_minor,
    CASE WHEN u.priced = u.sessions AND u.currencies = 1 THEN u.currency END AS currency,
    CASE WHEN u.start_known > 0 THEN 100.0 * u.start_ok / u.start_known END
        AS start_success_pct
FROM availability a
FULL JOIN usage u USING (source, key, b)
LEFT JOIN uptime up USING (source, key, b)
ORDER BY source, key, b
"""


def naive_bounds(rng: ReportRange) -> dict[str, datetime]:
    """The ``$f``/``$t`` parameters: the range as naive UTC timestamps."""
    return {"f": rng.start.replace(tzinfo=None), "t": rng.end.replace(tzinfo=None)}


def utilisation(
    con: duckdb.DuckDBPyConnection,
    rng: ReportRange,
    by: str,
    grain: str,
    relations: dict[str, str] | None = None,
) -> pa.Table:
    """The report rows of one grain, as Arrow (columns: ``grain``, ``source``, the group key
    (``site_id`` | ``station_id`` | ``port_id``), then :data:`COLUMNS` from ``period_start``)."""
    con.execute("SET TimeZone = 'UTC'")
    params = naive_bounds(rng)
    try:
        return con.sql(report_sql(rng, by, grain, relations), params=params).to_arrow_table()
    except duckdb.Error as exc:
        msg = f"utilisation report ({by} by {grain}) failed in DuckDB: {exc}"
        raise ReportError(msg) from None
