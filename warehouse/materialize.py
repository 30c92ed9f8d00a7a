"""Materialised session facts and utilisation slots, so analysts' queries and reports read a few
million summary rows instead of every meter reading.

Layout (under ``<lake>/_derived/``, not matched by any lake view's glob)::

    pipeline/facts/month=M/data.parquet         FACTS of the sessions of the closed days of
                                                month M, with their sessions day in ``date``
    pipeline/slots_15m/month=M/data.parquet     SLOTS of those sessions, 15-minute slots
    pipeline/slots_hourly/month=M/data.parquet  SLOTS, hourly
    import/slots_15m/source=S/data.parquet      SLOTS of imported source S
    import/slots_hourly/source=S/data.parquet
    _manifest.json                              what each unit was built from

Units and freshness:

* A pipeline unit is one **closed** ``sessions`` date partition: a UTC day at least
  ``min_age_days`` old by the injected clock (sessions are written when they end, so a day keeps
  receiving rows for a while). Its facts read the partition's sessions and the ``readings`` of
  the UTC days from that day to the day of its last plug-out (a reading time-stamped before its
  session's start day is not looked at).
* An import unit is one imported source's ``imported_sessions`` file.
* Pipeline units are stored one file per month (a day's rows are replaced inside its month's
  file): a year is 12 files per table, not 365, which is what keeps a query's file opening and
  footer reading small (measured: hourly slots for a month, 0.09 s from month files vs 0.13 to
  0.49 s from day files, on the shared 2-core machine).
* The manifest keeps, per unit, the row counts of its inputs (Parquet footers; the lake is
  append-only and compaction keeps rows, so a count that moved means new rows) and the
  materialisation's :data:`VERSION`. A unit is rebuilt only when those differ: re-running is a
  no-op, new closed days and re-imported sources are built incrementally, and a unit whose input
  is gone is deleted. Files are written under a temporary name and renamed.

The catalog views (:mod:`warehouse.reports.views`) read materialised pipeline facts and slots for
exactly the dates :class:`Materialised` lists and compute every other date live from the lake, so
open days are always current. Rows the pipeline writes late into an already materialised day
show up at the next :func:`materialize` (run by every catalog refresh: ``chargegrid catalog
refresh``, an import, a pipeline start).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from warehouse import lake
from warehouse.derived_schema import FACTS, SLOTS, with_day
from warehouse.reports.views import (
    IMPORTED_SPANS,
    SLOT_WIDTHS,
    pipeline_facts_sql,
    pipeline_spans_sql,
    slot_rows_sql,
)

VERSION = 2
DERIVED_DIR = "_derived"
MANIFEST = "_manifest.json"
DATA_FILE = "data.parquet"
PIPELINE_TABLES: dict[str, pa.Schema] = {"facts": FACTS, "slots_15m": SLOTS, "slots_hourly": SLOTS}
IMPORT_TABLES: dict[str, pa.Schema] = {"slots_15m": SLOTS, "slots_hourly": SLOTS}
DEFAULT_MIN_AGE_DAYS = 2
SCHEMA_DATE = date.fromisoformat(lake.SCHEMA_DATE)
SCHEMA_MONTH = lake.SCHEMA_DATE[:7]
SORT_KEYS = {
    "facts": [("started_at", "ascending"), ("session_id", "ascending")],
    "slots_15m": [("slot_start", "ascending"), ("port_id", "ascending")],
    "slots_hourly": [("slot_start", "ascending"), ("port_id", "ascending")],
}
READING_COLUMNS = "charger_id, transaction_id, ts, power_w"


def _quote(value: Path | str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _file_list(paths: list[Path]) -> str:
    return "[" + ", ".join(_quote(p) for p in paths) + "]"


@dataclass(frozen=True, slots=True)
class Materialised:
    """What the catalog's views may read materialised; everything else they compute live.

    ``dates``: pipeline ``sessions`` partitions materialised; ``live_readings_from``: the first
    UTC day of ``readings`` the live part needs; ``lake_charging_end``: the lake's ``sessions``
    has a ``charging_ended_at`` column."""

    derived_dir: Path
    dates: tuple[date, ...]
    live_readings_from: date
    lake_charging_end: bool

    def _dates_sql(self) -> str:
        days = sorted({SCHEMA_DATE, *self.dates})
        return "(" + ", ".join(f"DATE '{d.isoformat()}'" for d in days) + ")"

    def _pipeline_glob(self, table: str) -> str:
        return _quote(self.derived_dir.resolve() / "pipeline" / table / "month=*" / "*.parquet")

    def _materialised(self, table: str, columns: str) -> str:
        return (
            f"SELECT {columns} FROM read_parquet({self._pipeline_glob(table)}, "
            f"hive_partitioning = false) WHERE date IN {self._dates_sql()}"
        )

    def live_facts_sql(self) -> str:
        """Pipeline facts of the dates not materialised, computed from the lake's views."""
        sessions = f"SELECT * FROM sessions WHERE date NOT IN {self._dates_sql()}"
        readings = (
            f"SELECT {READING_COLUMNS} FROM readings "
            f"WHERE date >= DATE '{self.live_readings_from.isoformat()}'"
        )
        return pipeline_facts_sql(sessions, readings, self.lake_charging_end)

    def facts_sql(self) -> str:
        """Every pipeline session's facts: materialised dates, then live ones."""
        return f"{self._materialised('facts', ', '.join(FACTS.names))}\nUNION ALL\n" + (
            self.live_facts_sql()
        )

    def slots_sql(self, table: str) -> str:
        """Materialised slot rows of ``table`` (``slots_15m`` | ``slots_hourly``): pipeline dates
        and imported sources (live pipeline dates are the caller's)."""
        columns = ", ".join(SLOTS.names)
        imported = _quote(self.derived_dir.resolve() / "import" / table / "source=*" / "*.parquet")
        return (
            f"{self._materialised(table, columns)}\nUNION ALL\n"
            f"SELECT {columns} FROM read_parquet({imported}, hive_partitioning = false)"
        )


@dataclass
class MaterializeReport:
    """What :func:`materialize` did, and the state the views need."""

    state: Materialised
    built: list[str] = field(default_factory=list)  # units rebuilt (pipeline:D, import:S)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    open_dates: list[date] = field(default_factory=list)  # sessions partitions left live


def _partition_dates(table_dir: Path) -> dict[date, Path]:
    found = {}
    for directory in table_dir.glob("date=*"):
        day = date.fromisoformat(directory.name.removeprefix("date="))
        if day != SCHEMA_DATE and any(directory.glob("*.parquet")):
            found[day] = directory
    return found


def _rows(directory: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in lake.partition_files(directory))


class _Manifest:
    def __init__(self, derived: Path) -> None:
        self.path = derived / MANIFEST
        self.units: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def save(self) -> None:
        tmp = self.path.with_name(f".{MANIFEST}.tmp")
        tmp.write_text(json.dumps(self.units, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def _ensure_schema_files(derived: Path) -> None:
    """A zero-row file per derived table so the views bind before anything is materialised."""
    targets = [
        (derived / "pipeline" / t / f"month={SCHEMA_MONTH}" / lake.SCHEMA_FILE, with_day(s))
        for t, s in PIPELINE_TABLES.items()
    ] + [
        (derived / "import" / t / "source=_schema" / lake.SCHEMA_FILE, s)
        for t, s in IMPORT_TABLES.items()
    ]
    for target, schema in targets:
        if not target.exists() or not pq.read_schema(target).equals(schema):
            target.parent.mkdir(parents=True, exist_ok=True)
            lake.write_atomic(schema.empty_table(), target)  # new, or from an older layout


class _Builder:
    """One in-memory DuckDB connection computing units from the lake's files."""

    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = lake_dir
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")
        self.readings = _partition_dates(lake.table_dir(lake_dir, "readings"))

    def close(self) -> None:
        self.con.close()

    def reading_days(self, first: date, last: date) -> dict[str, int]:
        return {
            d.isoformat(): _rows(self.readings[d])
            for d in sorted(self.readings)
            if first <= d <= last
        }

    def pipeline(self, day: date, sessions_dir: Path) -> tuple[dict[str, pa.Table], dict[str, Any]]:
        """The unit's tables and its fingerprint."""
        files = lake.partition_files(sessions_dir)
        sessions = f"SELECT * FROM read_parquet({_file_list(files)}, union_by_name = true)"
        names = {r[0] for r in self.con.execute(f"DESCRIBE {sessions}").fetchall()}
        row = self.con.execute(f"SELECT max(ended_at) FROM ({sessions})").fetchone()
        last = row[0].date() if row and row[0] is not None else day
        days = self.reading_days(day, max(day, last))
        readings_files = [
            p for d in days for p in lake.partition_files(self.readings[date.fromisoformat(d)])
        ]
        readings = (
            f"SELECT {READING_COLUMNS} FROM read_parquet({_file_list(readings_files)}, "
            "union_by_name = true)"
            if readings_files
            else f"SELECT {READING_COLUMNS} FROM read_parquet({_quote(self._schema('readings'))})"
        )
        facts_sql = pipeline_facts_sql(sessions, readings, "charging_ended_at" in names)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE unit_facts AS {facts_sql}")
        tables = {"facts": self.con.sql("SELECT * FROM unit_facts").to_arrow_table()}
        spans = pipeline_spans_sql("SELECT * FROM unit_facts")
        for table, width in SLOT_WIDTHS.items():
            tables[table] = self.con.sql(slot_rows_sql(width, spans)).to_arrow_table()
        fingerprint = {"v": VERSION, "sessions": _rows(sessions_dir), "readings": days}
        return tables, fingerprint

    def _schema(self, table: str) -> Path:
        return lake.table_dir(self.lake_dir, table) / f"date={lake.SCHEMA_DATE}" / lake.SCHEMA_FILE

    def imported(self, path: Path) -> dict[str, pa.Table]:
        spans = IMPORTED_SPANS.format(relation=f"read_parquet({_quote(path)})")
        return {
            table: self.con.sql(slot_rows_sql(width, spans)).to_arrow_table()
            for table, width in SLOT_WIDTHS.items()
        }


def _write_import(derived: Path, source: str, tables: dict[str, pa.Table]) -> None:
    for table, rows in tables.items():
        directory = derived / "import" / table / f"source={source}"
        directory.mkdir(parents=True, exist_ok=True)
        schema = IMPORT_TABLES[table]
        lake.write_atomic(rows.select(schema.names).cast(schema), directory / DATA_FILE)


def _remove_import(derived: Path, source: str) -> None:
    for table in IMPORT_TABLES:
        shutil.rmtree(derived / "import" / table / f"source={source}", ignore_errors=True)


def _month(day: date) -> str:
    return day.isoformat()[:7]


def _rewrite_month(
    derived: Path, month: str, drop: set[date], new: dict[str, list[pa.Table]]
) -> None:
    """Replace the rows of the days ``drop`` in ``month``'s file of each table by ``new``."""
    for table, base in PIPELINE_TABLES.items():
        schema = with_day(base)
        path = derived / "pipeline" / table / f"month={month}" / DATA_FILE
        parts = [t.select(schema.names).cast(schema) for t in new.get(table, [])]
        if path.exists():
            held = pq.read_table(path, schema=schema)
            days = pc.is_in(held.column("date"), pa.array(sorted(drop), pa.date32()))
            parts.insert(0, held.filter(pc.invert(days)))
        rows = pa.concat_tables(parts) if parts else schema.empty_table()
        if rows.num_rows == 0:
            shutil.rmtree(path.parent, ignore_errors=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        lake.write_atomic(rows.sort_by(SORT_KEYS[table]), path)


def _pipeline_fresh(builder: _Builder, sessions_dir: Path, recorded: Any) -> bool:
    if not isinstance(recorded, dict) or recorded.get("v") != VERSION:
        return False
    if recorded.get("sessions") != _rows(sessions_dir):
        return False
    days = recorded.get("readings", {})
    current = {
        d: _rows(builder.readings[date.fromisoformat(d)])
        for d in days
        if date.fromisoformat(d) in builder.readings
    }
    return bool(current == days)


def _import_fingerprint(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"v": VERSION, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _materialize_pipeline(
    builder: _Builder,
    derived: Path,
    manifest: _Manifest,
    closed_until: date,
    report: MaterializeReport,
) -> list[date]:
    sessions = _partition_dates(lake.table_dir(builder.lake_dir, "sessions"))
    done: list[date] = []
    stale: dict[str, list[date]] = {}
    for day, directory in sorted(sessions.items()):
        if day > closed_until:
            report.open_dates.append(day)
            continue
        done.append(day)
        if _pipeline_fresh(builder, directory, manifest.units.get(f"pipeline:{day}")):
            report.unchanged += 1
        else:
            stale.setdefault(_month(day), []).append(day)
    gone: dict[str, list[date]] = {}
    for unit in [u for u in manifest.units if u.startswith("pipeline:")]:
        day = date.fromisoformat(unit.removeprefix("pipeline:"))
        if day not in done:
            gone.setdefault(_month(day), []).append(day)
    for month in sorted(stale.keys() | gone.keys()):
        new: dict[str, list[pa.Table]] = {}
        fingerprints = {}
        for day in stale.get(month, []):
            tables, fingerprints[f"pipeline:{day}"] = builder.pipeline(day, sessions[day])
            for table, rows in tables.items():
                day_column = pa.array([day] * rows.num_rows, pa.date32())
                new.setdefault(table, []).append(rows.append_column("date", day_column))
        _rewrite_month(derived, month, {*stale.get(month, []), *gone.get(month, [])}, new)
        manifest.units.update(fingerprints)
        report.built += list(fingerprints)
        for day in gone.get(month, []):
            del manifest.units[f"pipeline:{day}"]
            report.removed.append(f"pipeline:{day}")
        manifest.save()
    return done


def _materialize_imports(
    builder: _Builder, derived: Path, manifest: _Manifest, report: MaterializeReport
) -> None:
    from warehouse.importers.run import DATA_FILE as IMPORT_FILE

    found = {
        p.parent.name.removeprefix("source="): p
        for p in (builder.lake_dir / "imported_sessions").glob(f"source=*/{IMPORT_FILE}")
    }
    for source, path in sorted(found.items()):
        unit = f"import:{source}"
        fingerprint = _import_fingerprint(path)
        if manifest.units.get(unit) == fingerprint:
            report.unchanged += 1
            continue
        _write_import(derived, source, builder.imported(path))
        manifest.units[unit] = fingerprint
        manifest.save()
        report.built.append(unit)
    for unit in [u for u in manifest.units if u.startswith("import:")]:
        if unit.removeprefix("import:") not in found:
            _remove_import(derived, unit.removeprefix("import:"))
            del manifest.units[unit]
            report.removed.append(unit)


def materialize(
    lake_dir: Path,
    today: date,
    min_age_days: int = DEFAULT_MIN_AGE_DAYS,
    lake_charging_end: bool = False,
) -> MaterializeReport:
    """Bring ``<lake>/_derived`` up to date (idempotent, incremental); ``today`` is the UTC day
    by the caller's clock. ``lake_charging_end``: the lake's ``sessions`` view has the column."""
    derived = lake_dir / DERIVED_DIR
    derived.mkdir(parents=True, exist_ok=True)
    _ensure_schema_files(derived)
    manifest = _Manifest(derived)
    closed_until = today - timedelta(days=min_age_days)
    builder = _Builder(lake_dir)
    report = MaterializeReport(Materialised(derived, (), today, lake_charging_end))
    try:
        done = _materialize_pipeline(builder, derived, manifest, closed_until, report)
        _materialize_imports(builder, derived, manifest, report)
    finally:
        builder.close()
        manifest.save()
    live_from = min([*report.open_dates, closed_until + timedelta(days=1)])
    report.state = Materialised(derived, tuple(done), live_from, lake_charging_end)
    return report
