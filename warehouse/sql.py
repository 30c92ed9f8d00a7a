"""``chargegrid sql``: run a query on the read-only catalog and format the result."""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Sequence
from datetime import date, datetime
from datetime import time as day_time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb
import orjson

from chargegrid.errors import ChargegridError
from chargegrid.settings import Settings
from warehouse import lake
from warehouse.catalog import ensure_catalog

Format = Literal["table", "csv", "json"]
RACE_RETRY_S = 10.0  # a compaction's grace (5 s) and its pass
RACE_PAUSE_S = 0.2


class QueryError(ChargegridError):
    """DuckDB refused the query; the message is DuckDB's."""


def query_rows(
    settings: Settings, query: str, *, race_retry_s: float = RACE_RETRY_S
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of ``query`` (timestamps tz-aware UTC). A read that raced a
    compaction (:func:`warehouse.lake.raced_compaction`) is run again for up to
    ``race_retry_s``: the views read the lake by glob, and a compaction makes such reads fail
    for a few seconds rather than answer wrong (:mod:`warehouse.compact`)."""
    path = ensure_catalog(settings)
    deadline = time.monotonic() + race_retry_s
    while True:
        try:
            return _query_once(path, query)
        except duckdb.Error as exc:
            if not lake.raced_compaction(exc):
                raise QueryError(str(exc)) from None
            if time.monotonic() >= deadline:
                msg = f"{exc} (a compaction is merging files: retry in a few seconds)"
                raise QueryError(msg) from None
        time.sleep(RACE_PAUSE_S)


def _query_once(path: Path, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """One run of ``query``; DuckDB's errors from the query itself are the caller's."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        msg = f"cannot open the catalog {path}: {exc}"
        raise QueryError(msg) from None
    try:
        con.execute("SET TimeZone = 'UTC'")
        cursor = con.execute(query)
        if cursor.description is None:
            return [], []
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall()
    finally:
        con.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date | day_time):
        return _iso(value)
    return str(value)


def _iso(value: datetime | date | day_time) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, datetime | date | day_time):
        return _iso(value)
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date | day_time):
        return _iso(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_table(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    """A plain aligned text table (numbers right-aligned) with a row count."""
    cells = [[_text(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in rows) and rows
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"


def format_csv(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_text(v) for v in row] for row in rows)
    return buffer.getvalue()


def format_json(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    records = [{c: _json_value(v) for c, v in zip(columns, row, strict=True)} for row in rows]
    return orjson.dumps(records, default=_json_default).decode() + "\n"


def run_query(settings: Settings, query: str, fmt: Format | str = "table") -> str:
    """Run ``query`` on the warehouse and format it as ``table``, ``csv`` or ``json``."""
    formatters = {"table": format_table, "csv": format_csv, "json": format_json}
    if fmt not in formatters:
        msg = f"unknown format {fmt!r}; use one of {', '.join(formatters)}"
        raise QueryError(msg)
    columns, rows = query_rows(settings, query)
    return formatters[fmt](columns, rows)
