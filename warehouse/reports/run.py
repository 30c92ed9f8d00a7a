"""``chargegrid report utilisation|intervals``: query the catalog, write the chosen format."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from chargegrid.settings import Settings
from warehouse.catalog import ensure_catalog
from warehouse.reports import render
from warehouse.reports.utilisation import (
    KEY_COLUMN,
    ReportError,
    ReportRange,
    naive_bounds,
    shared_sql,
    utilisation,
)

FORMATS = ("csv", "xlsx", "html")
INTERVAL_VIEWS = {"15m": "utilisation_15m", "hourly": "utilisation_hourly"}
INTERVAL_KEYS = {"connector": "port_id", "station": "station_id", "site": "site_id"}


def _connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    path = ensure_catalog(settings)
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        msg = f"cannot open the catalog {path}: {exc}"
        raise ReportError(msg) from None
    con.execute("SET enable_progress_bar = false")
    return con


def _check_format(fmt: str, formats: Sequence[str]) -> None:
    if fmt not in formats:
        msg = f"--format {fmt!r}: use one of {', '.join(formats)}"
        raise ReportError(msg)


def utilisation_tables(
    settings: Settings, rng: ReportRange, by: str, grains: Sequence[str]
) -> dict[str, pa.Table]:
    """``{grain: report rows}`` for each requested grain (duplicates ignored)."""
    con = _connect(settings)
    try:
        # what every grain reads is queried once per report, not once per grain
        con.execute("SET TimeZone = 'UTC'")
        relations = {}
        for name, sql in shared_sql(rng, by).items():
            params = naive_bounds(rng) if "$f" in sql else None
            con.execute(f"CREATE TEMP TABLE report_{name} AS {sql}", params)
            relations[name] = f"report_{name}"
        return {
            grain: utilisation(con, rng, by, grain, relations) for grain in dict.fromkeys(grains)
        }
    except duckdb.Error as exc:
        msg = f"utilisation report failed in DuckDB: {exc}"
        raise ReportError(msg) from None
    finally:
        con.close()


def write_report(
    tables: dict[str, pa.Table], rng: ReportRange, by: str, fmt: str, out: Path
) -> None:
    _check_format(fmt, FORMATS)
    if fmt == "csv":
        render.write_csv(list(tables.values()), out)
    elif fmt == "xlsx":
        render.write_xlsx(tables, out)
    else:
        title = f"Utilisation by {by}, {rng.first} to {rng.last} (UTC), source {rng.source}"
        render.write_html(title, tables, KEY_COLUMN[by], out)


def report_utilisation(
    settings: Settings, rng: ReportRange, by: str, grains: Sequence[str], fmt: str, out: Path
) -> dict[str, int]:
    """Write the utilisation report; returns rows per grain."""
    _check_format(fmt, FORMATS)
    tables = utilisation_tables(settings, rng, by, grains)
    write_report(tables, rng, by, fmt, out)
    return {grain: table.num_rows for grain, table in tables.items()}


def interval_sql(rng: ReportRange, by: str, slot: str) -> str:
    """Per group and slot: plugged-in minutes, energy, sessions started (``$f``/``$t``)."""
    if by not in INTERVAL_KEYS:
        msg = f"--by {by!r}: use one of {', '.join(INTERVAL_KEYS)}"
        raise ReportError(msg)
    if slot not in INTERVAL_VIEWS:
        msg = f"--slot {slot!r}: use one of {', '.join(INTERVAL_VIEWS)}"
        raise ReportError(msg)
    key = INTERVAL_KEYS[by]
    return f"""
SELECT source, {key}, slot_start, sum(occupied_min) AS occupied_min,
    sum(energy_wh) AS energy_wh, sum(sessions_started) AS sessions_started
FROM {INTERVAL_VIEWS[slot]}
WHERE {rng.source_sql()} AND slot_start >= $f AND slot_start < $t
GROUP BY source, {key}, slot_start ORDER BY source, {key}, slot_start
"""


def interval_table(settings: Settings, rng: ReportRange, by: str, slot: str = "15m") -> pa.Table:
    con = _connect(settings)
    try:
        con.execute("SET TimeZone = 'UTC'")
        query = interval_sql(rng, by, slot)
        return con.sql(query, params={"f": rng.start, "t": rng.end}).to_arrow_table()
    except duckdb.Error as exc:
        msg = f"interval export failed in DuckDB: {exc}"
        raise ReportError(msg) from None
    finally:
        con.close()


def report_intervals(
    settings: Settings, rng: ReportRange, by: str, fmt: str, out: Path, slot: str = "15m"
) -> int:
    """Write the interval export (CSV or XLSX, one sheet); returns rows written."""
    _check_format(fmt, ("csv", "xlsx"))
    table = interval_table(settings, rng, by, slot)
    if fmt == "csv":
        render.write_csv([table], out)
    else:
        render.write_xlsx({f"intervals {slot}": table}, out)
    return table.num_rows
