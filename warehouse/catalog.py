"""The DuckDB catalog: a small database file holding only VIEWS over the Parquet lake.

Readers (dashboards, ``chargegrid sql``, the ``duckdb`` CLI) open it ``read_only=True`` while the
pipeline writes Parquet; the pipeline never holds it open. It is rebuilt in a temporary file and
renamed over the old one, so a reader that has it open keeps its (still valid) copy and nobody
waits on DuckDB's file lock.

Paths in the views are **absolute** (resolved when the catalog is built): DuckDB resolves relative
paths against the reader's working directory, not the catalog's, so relative paths would work from
one directory only. The runner rebuilds the catalog at every start, so a moved data directory is
picked up by the next run (or by deleting the catalog: :func:`ensure_catalog` recreates it).

``stations`` and ``connectors`` come from the inventory (``Settings.inventory_path``), written as
Parquet under ``<lake>/_reference/`` when the catalog is built (empty, typed, if there is none).
Every refresh first brings the materialised facts and slots up to date
(:mod:`warehouse.materialize`; incremental, a no-op when nothing changed).
``orders``, ``tickets`` and ``ratings`` are snapshots of the BPP's order store and ``tariffs`` lists
the tariff files, both taken at each refresh (:mod:`warehouse.snapshots`); ``prices`` reads what
``chargegrid import entsoe`` wrote (:mod:`warehouse.importers.prices`).
``historical_sessions``, ``import_rejects`` and ``registry_stations`` read what ``chargegrid
import`` wrote (see :mod:`warehouse.importers.run`).
The derived views (``session_facts``, ``ports``, ``port_outages``, ``utilisation_15m``, ...)
and ``data_dictionary`` come from :mod:`warehouse.reports.views` and :mod:`warehouse.dictionary`.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC
from pathlib import Path

import duckdb
import pyarrow as pa

from chargegrid.clock import Clock, SystemClock
from chargegrid.inventory import Inventory, load_inventory
from chargegrid.settings import Settings
from warehouse import lake, snapshots
from warehouse.importers.prices import prices_view_sql
from warehouse.importers.run import import_view_sql
from warehouse.materialize import DEFAULT_MIN_AGE_DAYS, MaterializeReport, materialize
from warehouse.reports.views import catalog_sql
from warehouse.schema import CONNECTORS, REFERENCE_TABLES, STATIONS, TABLES
from warehouse.windows import windows_sql

REFERENCE_DIR = "_reference"
DEAD_LETTER_COUNTS = (
    "CREATE OR REPLACE VIEW dead_letter_counts AS SELECT topic, source, reason, "
    "count(*) AS records FROM dead_letter GROUP BY topic, source, reason"
)


def _quote(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def lake_view_sql(lake_dir: Path, table: str) -> str:
    glob = lake.table_glob(lake_dir.resolve(), table)
    return (
        f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet({_quote(glob)}, "
        "hive_partitioning = true, hive_types = {'date': DATE}, union_by_name = true)"
    )


def reference_tables(inventory: Inventory) -> dict[str, pa.Table]:
    stations = [s.model_dump() for s in inventory.stations]
    connectors = [
        {
            "charger_id": charger.charger_id,
            "station_id": charger.station_id,
            "model": charger.model,
            "connector_id": c.connector_id,
            "standard": c.standard,
            "current": c.current,
            "max_power_w": c.max_power_w,
        }
        for charger in inventory.chargers
        for c in charger.connectors
    ]
    return {
        "stations": pa.Table.from_pylist(stations, schema=STATIONS),
        "connectors": pa.Table.from_pylist(connectors, schema=CONNECTORS),
    }


def _write_reference(settings: Settings) -> dict[str, Path]:
    directory = settings.lake_dir / REFERENCE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in reference_tables(load_inventory(settings.inventory_path)).items():
        paths[name] = directory / f"{name}.parquet"
        lake.write_atomic(table, paths[name])
    return paths


def _snapshots(settings: Settings, reference: dict[str, Path]) -> dict[str, Path]:
    """Parquet of each snapshot view: inventory, order store, tariffs."""
    tariffs = settings.lake_dir / REFERENCE_DIR / "tariffs.parquet"
    lake.write_atomic(snapshots.tariff_table(snapshots.tariff_files(settings)), tariffs)
    return {
        **{name: reference[name] for name in REFERENCE_TABLES},
        **snapshots.write_order_snapshot(settings),
        "tariffs": tariffs,
    }


def _has_column(con: duckdb.DuckDBPyConnection, view: str, column: str) -> bool:
    return any(row[0] == column for row in con.execute(f"DESCRIBE {view}").fetchall())


def refresh_catalog(
    settings: Settings,
    clock: Clock | None = None,
    min_age_days: int = DEFAULT_MIN_AGE_DAYS,
) -> Path:
    """Materialise what changed (:func:`warehouse.materialize.materialize`, closed days by
    ``clock``) and (re)build the catalog file atomically; returns its path."""
    return refresh(settings, clock, min_age_days)[0]


# One refresh at a time in a process (the pipeline refreshes in a thread while a reader in the
# same process may ask for a missing catalog); other processes write their own temporaries.
_REFRESHING = threading.RLock()


def refresh(
    settings: Settings,
    clock: Clock | None = None,
    min_age_days: int = DEFAULT_MIN_AGE_DAYS,
) -> tuple[Path, MaterializeReport]:
    """:func:`refresh_catalog`, also returning what the materialisation did."""
    with _REFRESHING:
        return _refresh(settings, clock, min_age_days)


def _refresh(
    settings: Settings, clock: Clock | None, min_age_days: int
) -> tuple[Path, MaterializeReport]:
    today = (clock or SystemClock()).now().astimezone(UTC).date()
    lake.ensure_lake(settings.lake_dir)
    reference = _write_reference(settings)
    target = settings.catalog_path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        for table in TABLES:
            con.execute(lake_view_sql(settings.lake_dir, table))
        charging_end = _has_column(con, "sessions", "charging_ended_at")
        report = materialize(settings.lake_dir, today, min_age_days, charging_end)
        for statement in import_view_sql(settings.lake_dir):
            con.execute(statement)
        for name, file in _snapshots(settings, reference).items():
            path = _quote(file.resolve())
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({path})")
        con.execute(prices_view_sql(settings.lake_dir))
        for statement in catalog_sql(settings.lake_dir / REFERENCE_DIR, report.state):
            con.execute(statement)
        con.execute(DEAD_LETTER_COUNTS)
        for statement in windows_sql():
            con.execute(statement)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, target)
    return target, report


def ensure_catalog(settings: Settings) -> Path:
    """The catalog path, building it first if it does not exist yet (or waiting for a refresh
    of this process that is building it)."""
    with _REFRESHING:
        if not settings.catalog_path.exists():
            return refresh_catalog(settings)
    return settings.catalog_path
