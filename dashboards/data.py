"""Read-only data access for the dashboards: live snapshot, Parquet lake, inventory.

Nothing here writes or locks what the pipeline writes: DuckDB runs in memory over the lake's
complete Parquet files (the pipeline renames files into place, so ``date=*/*.parquet`` never sees a
partial one). Before the pipeline has written anything, every reader returns an empty, typed result.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import duckdb
import pyarrow as pa

from chargegrid.inventory import Inventory, load_inventory
from chargegrid.live import LiveSnapshot, read_snapshot
from chargegrid.settings import Settings
from warehouse import lake
from warehouse.schema import READINGS

log = logging.getLogger(__name__)

POWER_COLUMNS = ("ts", "charger_id", "connector_id", "power_w")
POWER_SCHEMA = pa.schema([READINGS.field(name) for name in POWER_COLUMNS])


class PowerPoint(NamedTuple):
    """One power sample: event time (tz-aware UTC) and power in W."""

    ts: datetime
    power_w: float


# "charger_id/connector_id" -> samples in time order
PowerSeries = Mapping[str, Sequence[PowerPoint]]


def connector_key(charger_id: str, connector_id: int) -> str:
    """The key the live snapshot uses for a connector's power history."""
    return f"{charger_id}/{connector_id}"


def read_live(settings: Settings) -> LiveSnapshot | None:
    """The pipeline's latest live snapshot, or None before it has written one."""
    return read_snapshot(settings.live_dir)


def read_inventory(settings: Settings) -> Inventory:
    """Stations, chargers and connectors (empty estate when the file is absent)."""
    return load_inventory(settings.inventory_path)


def table_glob(settings: Settings, table: str) -> str | None:
    """The lake glob for ``table`` (the views' own, :func:`warehouse.lake.table_glob`: never
    ``**``, which would also match compaction's hidden staging and retired folders and count
    a day twice), or None while it has no Parquet file yet."""
    glob = lake.table_glob(settings.lake_dir, table)
    root = lake.table_dir(settings.lake_dir, table)
    if not root.is_dir() or next(root.glob("date=*/*.parquet"), None) is None:
        return None
    return glob


def _query(sql: str, params: dict[str, object]) -> pa.Table | None:
    """Run ``sql`` on a fresh in-memory DuckDB; None when a file vanished mid-read."""
    con = duckdb.connect()
    try:
        return con.sql(sql, params=params).to_arrow_table()
    except (duckdb.IOException, duckdb.InvalidInputException) as exc:
        if isinstance(exc, duckdb.InvalidInputException) and not lake.raced_compaction(exc):
            raise
        # A file listed by the glob was replaced between listing and reading, or compaction's
        # placeholder was met (warehouse.compact): the next tick retries.
        log.warning("lake read skipped: %s", exc)
        return None
    finally:
        con.close()


def recent_readings(settings: Settings, *, end: datetime | None, window_s: float) -> pa.Table:
    """Readings with ``end - window_s < ts <= end`` (columns :data:`POWER_COLUMNS`, by time).

    ``end`` is event time (simulated in demos and replays); None means the newest reading in
    the lake. Only the date partitions the window touches are read.
    """
    glob = table_glob(settings, "readings")
    if glob is None:
        return POWER_SCHEMA.empty_table()
    source = f"read_parquet('{_sql_str(glob)}', hive_partitioning = true)"
    if end is None:
        newest = _query(f"SELECT max(ts) AS ts FROM {source}", {})
        end = newest.column("ts")[0].as_py() if newest is not None else None
        if end is None:
            return POWER_SCHEMA.empty_table()
    start = end - timedelta(seconds=window_s)
    sql = (
        f"SELECT {', '.join(POWER_COLUMNS)} FROM {source} "
        "WHERE date >= $first_day AND ts > $start AND ts <= $end AND power_w IS NOT NULL "
        "ORDER BY charger_id, connector_id, ts"
    )
    params: dict[str, object] = {"first_day": start.date(), "start": start, "end": end}
    table = _query(sql, params)
    return POWER_SCHEMA.empty_table() if table is None else table.cast(POWER_SCHEMA)


def series_from_readings(table: pa.Table) -> dict[str, list[PowerPoint]]:
    """Group a readings table (:data:`POWER_COLUMNS`) into power series per connector."""
    series: dict[str, list[PowerPoint]] = {}
    for row in table.select(list(POWER_COLUMNS)).to_pylist():
        key = connector_key(row["charger_id"], row["connector_id"])
        series.setdefault(key, []).append(PowerPoint(row["ts"], row["power_w"]))
    return series


def series_from_snapshot(snapshot: LiveSnapshot) -> dict[str, list[PowerPoint]]:
    """The snapshot's bounded power history as power series."""
    return {
        key: [PowerPoint(p.ts, p.power_w) for p in points]
        for key, points in snapshot.power_history.items()
        if points
    }


def power_history(settings: Settings, snapshot: LiveSnapshot | None) -> dict[str, list[PowerPoint]]:
    """Seed for the power chart: the snapshot's history, falling back to the lake's readings."""
    if snapshot is not None:
        series = series_from_snapshot(snapshot)
        if series:
            return series
    end = snapshot.event_time if snapshot is not None else None
    return series_from_readings(
        recent_readings(settings, end=end, window_s=settings.live_history_s)
    )


def completed_energy_wh(settings: Settings, *, since: datetime, until: datetime) -> float:
    """Energy (Wh) of sessions that ended in ``[since, until]``, from the lake's sessions table.

    A session is counted whole on the day it ended; energy per session comes from the pipeline
    (the one implementation of energy), never recomputed here.
    """
    glob = table_glob(settings, "sessions")
    if glob is None:
        return 0.0
    sql = (
        "SELECT coalesce(sum(energy_wh), 0) AS wh "
        f"FROM read_parquet('{_sql_str(glob)}', hive_partitioning = true) "
        "WHERE ended_at >= $since AND ended_at <= $until AND energy_wh IS NOT NULL"
    )
    table = _query(sql, {"since": since, "until": until})
    return 0.0 if table is None else float(table.column("wh")[0].as_py())


def energy_today_wh(settings: Settings, snapshot: LiveSnapshot | None, *, now: datetime) -> float:
    """Energy delivered on the current UTC day of event time: completed + active sessions (Wh)."""
    end = snapshot.event_time if snapshot is not None and snapshot.event_time else now
    day_start = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    active_wh = 0.0
    if snapshot is not None:
        active_wh = sum(c.session_energy_wh for c in snapshot.connectors if c.transaction_id)
    return completed_energy_wh(settings, since=day_start, until=end) + active_wh


def run_query(sql: str) -> pa.Table | None:
    """Run ``sql`` (over lake globs) on a fresh in-memory DuckDB; None when a file vanished."""
    return _query(sql, {})


def lake_row_count(settings: Settings, table: str) -> int:
    """Rows in a lake table (0 before it exists)."""
    glob = table_glob(settings, table)
    if glob is None:
        return 0
    sql = f"SELECT count(*) AS n FROM read_parquet('{_sql_str(glob)}', hive_partitioning = true)"
    result = _query(sql, {})
    return 0 if result is None else int(result.column("n")[0].as_py())


def _sql_str(text: str | Path) -> str:
    """Quote-escape a path for a SQL string literal (globs cannot be bound parameters)."""
    return str(text).replace("'", "''")
