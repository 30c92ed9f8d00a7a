"""``chargegrid import SOURCE PATH...``: read a source's files, judge every row, write the lake.

For each file, in name order: every data row becomes a session, a station (registry sources) or a
rejection. A session whose natural key (``<source>:<key>``) was already seen, in this file or an
earlier one, is rejected as ``duplicate`` (so the same ACN session in two files, or a Boulder
re-export, is imported once); the others pass the plausibility rules of
:mod:`warehouse.importers.rules`. Nothing is dropped: rows read = rows imported + rows rejected.

Imports are incremental. A file whose content (SHA-256) this source already imported is skipped
(listed as such in the closing report, its rows not read again); the others are read and merged
into what the source already holds: a session already in the lake (same natural key, e.g. a
re-export repeating earlier rows) is rejected as ``duplicate`` naming where it was first read, so
importing the same data twice never duplicates a session. ``replace=True`` (``chargegrid import
--replace``) forgets the source's earlier imports first and makes this delivery the whole source.
Each import table keeps one file per source (layout in :mod:`warehouse.importers.schema`), rows
sorted by a total order; the hashes of imported files are kept in
``<lake>/_imports/<source>.json``. Other sources are untouched. The catalog is refreshed afterwards
so ``historical_sessions``, ``import_rejects`` and ``registry_stations`` answer at once.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.progress import Progress
from rich.table import Table

from chargegrid.errors import ChargegridError
from chargegrid.events import Reason
from chargegrid.settings import Settings
from chargegrid.sources.records import RowRejected, SessionRecord, StationRecord
from warehouse import lake
from warehouse.importers import rules
from warehouse.importers.base import SourceImporter
from warehouse.importers.schema import (
    IMPORT_REJECTS,
    IMPORT_TABLES,
    IMPORTED_SESSIONS,
    REGISTRY_STATIONS,
    VIEW_NAMES,
)
from warehouse.importers.timeflags import FlagsByRow, time_flags

IMPORTS_DIR = "_imports"
SORT_KEYS = {
    "imported_sessions": [("started_at", "ascending"), ("session_id", "ascending")],
    "import_rejects": [
        ("file", "ascending"),
        ("line", "ascending"),
        ("reason", "ascending"),
        ("raw", "ascending"),
    ],
    "registry_stations": [("station_id", "ascending")],
}
SOURCES = ("dundee", "perth", "boulder", "sap", "epfl", "acn", "afdc")
DATA_FILE = "data.parquet"
SCHEMA_PARTITION = "source=_schema"
PROGRESS_STEP = 2_000


class UnknownSourceError(ChargegridError):
    """No importer of that name."""


@dataclass
class ImportReport:
    """What one import did. ``rows_read == rows_imported + sum(rejected.values())``."""

    source: str
    files: list[str]
    rows_read: int = 0
    rows_imported: int = 0
    sessions: int = 0
    energy_wh: int = 0
    stations: int = 0
    new_sessions: int = 0  # sessions this import added
    already_in_lake: int = 0  # sessions rejected as duplicates of earlier imports
    files_skipped: list[str] = field(default_factory=list)  # content imported before
    time_flagged: int = 0  # imported sessions with a DST / zone-label flag
    rejected: Counter[str] = field(default_factory=Counter)

    def table(self) -> Table:
        """The closing report as a rich table."""
        out = Table(title=f"import {self.source}: {len(self.files)} file(s)")
        out.add_column("", style="bold")
        out.add_column("rows", justify="right")
        for name in self.files_skipped:
            out.add_row(f"skipped: {name}", "already imported (same content)")
        out.add_row("read", f"{self.rows_read:,}")
        out.add_row("imported", f"{self.rows_imported:,}")
        for reason, count in sorted(self.rejected.items()):
            out.add_row(f"rejected: {reason}", f"{count:,}")
        out.add_row("rejected (total)", f"{sum(self.rejected.values()):,}")
        out.add_row("new sessions", f"{self.new_sessions:,}")
        out.add_row("duplicates of sessions already in lake", f"{self.already_in_lake:,}")
        out.add_row("sessions in lake", f"{self.sessions:,}")
        out.add_row("energy in lake (kWh)", f"{self.energy_wh / 1000:,.1f}")
        out.add_row("stations in lake", f"{self.stations:,}")
        out.add_row("sessions with time flags (DST, zone label)", f"{self.time_flagged:,}")
        return out


def importer_for(source: str) -> SourceImporter:
    if source not in SOURCES:
        msg = f"unknown source {source!r}: expected one of {', '.join(SOURCES)}"
        raise UnknownSourceError(msg)
    module = importlib.import_module(f"warehouse.importers.{source}")
    spec: SourceImporter = module.IMPORTER
    return spec


def _rows_in(path: Path) -> int | None:
    """Data rows of a text export (lines − header), for the progress bar; None if unknown."""
    if path.suffix.lower() != ".csv":
        return None
    with path.open("rb") as src:
        return max(sum(chunk.count(b"\n") for chunk in iter(lambda: src.read(1 << 20), b"")), 1)


@dataclass
class _Collected:
    sessions: dict[str, SessionRecord] = field(default_factory=dict)
    stations: dict[str, StationRecord] = field(default_factory=dict)
    rejects: list[RowRejected] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)  # session id -> "file:line" first seen
    held: frozenset[str] = frozenset()  # session ids in the lake before this import
    from_lake: int = 0  # duplicates of those

    def take(self, item: SessionRecord | StationRecord | RowRejected) -> bool:
        """File ``item``; True when it was imported."""
        if isinstance(item, RowRejected):
            self.rejects.append(item)
            return False
        if isinstance(item, StationRecord):
            self.stations[item.station_id] = item
            return True
        session_id = f"{item.source}:{item.key}"
        first = self.seen.get(session_id)
        if first is not None:
            self.rejects.append(_duplicate(item, first))
            self.from_lake += session_id in self.held
            return False
        self.seen[session_id] = f"{item.file}:{item.line}"
        judged = rules.judge(item)
        if isinstance(judged, RowRejected):
            self.rejects.append(judged)
            return False
        self.sessions[session_id] = judged
        return True


def _duplicate(item: SessionRecord, first: str) -> RowRejected:
    detail = f"session {item.key} already read at {first}"
    return RowRejected(
        item.source, item.file, item.line, Reason.duplicate, detail, item.raw, item.station_id
    )


def run_import(
    settings: Settings,
    source: str,
    paths: list[Path],
    progress: Progress | None = None,
    replace: bool = False,
) -> ImportReport:
    """Import ``paths`` (files, or folders holding the source's exports) as ``source``, merged
    into what it holds (``replace``: instead of it)."""
    spec = importer_for(source)
    files = spec.files(paths)
    report = ImportReport(source, [f.name for f in files])
    manifest = _ImportManifest(settings.lake_dir, source, replace)
    held = HeldSource(settings.lake_dir, source, empty=replace)
    earlier = held.seen()
    collected = _Collected(seen=dict(earlier), held=frozenset(earlier))
    todo = []
    for path in files:
        digest = manifest.digest(path)
        if digest in manifest.files:
            report.files_skipped.append(path.name)
        else:
            todo.append((path, digest))
    for path, _ in todo:
        task = progress.add_task(path.name, total=_rows_in(path)) if progress else None
        pending = 0
        for item in spec.read([path]):
            report.rows_read += 1
            report.rows_imported += collected.take(item)
            pending += 1
            if progress is not None and task is not None and pending >= PROGRESS_STEP:
                progress.advance(task, pending)
                pending = 0
        if progress is not None and task is not None:
            progress.update(task, advance=pending, total=progress.tasks[task].completed + pending)
    sessions = list(collected.sessions.values())
    read_files = [path for path, _ in todo]
    stations = {s.station_id: s for s in spec.stations(read_files, sessions)} | collected.stations
    report.rejected.update(r.reason.value for r in collected.rejects)
    report.already_in_lake = collected.from_lake
    flags = time_flags(source, read_files)
    report.time_flagged = sum((s.file, s.line) in flags for s in sessions)
    report.new_sessions = len(sessions)
    if todo or replace:
        new = source_tables(source, sessions, collected.rejects, list(stations.values()), flags)
        held.write(new)
        for path, digest in todo:
            manifest.files[digest] = path.name
        manifest.save()
    report.sessions, report.energy_wh, report.stations = held.totals()
    from warehouse.catalog import refresh_catalog

    refresh_catalog(settings)
    return report


class _ImportManifest:
    """SHA-256 of every file a source imported (``<lake>/_imports/<source>.json``)."""

    def __init__(self, lake_dir: Path, source: str, forget: bool) -> None:
        self.path = lake_dir / IMPORTS_DIR / f"{source}.json"
        known = json.loads(self.path.read_text()) if self.path.exists() and not forget else {}
        self.files: dict[str, str] = dict(known)

    @staticmethod
    def digest(path: Path) -> str:
        sha = hashlib.sha256()
        with path.open("rb") as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                sha.update(chunk)
        return sha.hexdigest()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.files, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


class HeldSource:
    """What the import tables hold for one source, and the merge of a new delivery into it."""

    def __init__(self, lake_dir: Path, source: str, empty: bool = False) -> None:
        self.lake_dir, self.source = lake_dir, source
        self.tables = {
            table: self._read(table, schema) if not empty else schema.empty_table()
            for table, schema in IMPORT_TABLES.items()
        }

    def _path(self, table: str) -> Path:
        return self.lake_dir / table / f"source={self.source}" / DATA_FILE

    def _read(self, table: str, schema: pa.Schema) -> pa.Table:
        path = self._path(table)
        if not path.exists():
            return schema.empty_table()
        held = pq.read_table(path)
        columns = [
            held.column(f.name) if f.name in held.column_names else pa.nulls(len(held), f.type)
            for f in schema
        ]
        return pa.Table.from_arrays(columns, schema=schema)  # files from before a new column

    def seen(self) -> dict[str, str]:
        """Session id -> ``file:line`` where it was first read."""
        rows = self.tables["imported_sessions"].select(["session_id", "file", "line"]).to_pylist()
        return {r["session_id"]: f"{r['file']}:{r['line']} (imported earlier)" for r in rows}

    def write(self, new: dict[str, pa.Table]) -> None:
        stations = self.tables["registry_stations"]
        fresh = new["registry_stations"].column("station_id")
        keep = pc.invert(pc.is_in(stations.column("station_id"), fresh))
        merged = {
            table: pa.concat_tables([self.tables[table], new[table]])
            for table in ("imported_sessions", "import_rejects")
        }
        merged["registry_stations"] = pa.concat_tables(
            [stations.filter(keep), new["registry_stations"]]
        )
        ensure_import_tables(self.lake_dir)
        for table, rows in merged.items():
            self.tables[table] = rows.sort_by(SORT_KEYS[table])
            self._path(table).parent.mkdir(parents=True, exist_ok=True)
            lake.write_atomic(self.tables[table], self._path(table))

    def totals(self) -> tuple[int, int, int]:
        """Sessions, energy (Wh) and stations held."""
        sessions = self.tables["imported_sessions"]
        energy = pc.sum(sessions.column("energy_wh")).as_py() or 0
        return sessions.num_rows, int(energy), self.tables["registry_stations"].num_rows


def ensure_import_tables(lake_dir: Path) -> None:
    """Each import table's directory and zero-row schema file (idempotent)."""
    for table, schema in IMPORT_TABLES.items():
        target = lake_dir / table / SCHEMA_PARTITION / "_schema.parquet"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            lake.write_atomic(schema.empty_table(), target)


def import_view_sql(lake_dir: Path) -> list[str]:
    """``CREATE VIEW`` statements of the import tables (used by the catalog)."""
    ensure_import_tables(lake_dir)
    statements = []
    for table, view in VIEW_NAMES.items():
        glob = str(lake_dir.resolve() / table / "source=*" / "*.parquet").replace("'", "''")
        statements.append(
            f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet('{glob}', "
            "hive_partitioning = false, union_by_name = true)"
        )
    return statements


def source_tables(
    source: str,
    sessions: list[SessionRecord],
    rejects: list[RowRejected],
    stations: list[StationRecord],
    flags: FlagsByRow | None = None,
) -> dict[str, pa.Table]:
    """The import tables' rows of one delivery; ``flags``: time flags by (file, line)
    (:mod:`warehouse.importers.timeflags`)."""
    return {
        "imported_sessions": pa.Table.from_pylist(
            [_session_row(s, (flags or {}).get((s.file, s.line), ())) for s in sessions],
            IMPORTED_SESSIONS,
        ),
        "import_rejects": pa.Table.from_pylist([_reject_row(r) for r in rejects], IMPORT_REJECTS),
        "registry_stations": pa.Table.from_pylist(
            [_station_row(s) for s in stations], REGISTRY_STATIONS
        ),
    }


def write_source(
    lake_dir: Path,
    source: str,
    sessions: list[SessionRecord],
    rejects: list[RowRejected],
    stations: list[StationRecord],
    flags: FlagsByRow | None = None,
) -> None:
    """Replace ``source``'s file in each import table (rows in a total order)."""
    HeldSource(lake_dir, source, empty=True).write(
        source_tables(source, sessions, rejects, stations, flags)
    )


def _session_row(s: SessionRecord, time_flags: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "session_id": f"{s.source}:{s.key}",
        "source": s.source,
        "site_id": s.site,
        "station_id": s.station_id,
        "connector": s.connector,
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "charging_ended_at": s.charging_ended_at,
        "energy_wh": s.energy_wh,
        "price_minor": s.price_minor,
        "currency": s.currency,
        "user_id": s.user_id,
        "soc_start_pct": s.soc_start_pct,
        "soc_end_pct": s.soc_end_pct,
        "rated_power_w": s.rated_power_w,
        "flags": list(s.flags),
        "time_flags": list(time_flags),
        "file": s.file,
        "line": s.line,
    }


def _reject_row(r: RowRejected) -> dict[str, Any]:
    return {
        "source": r.source,
        "file": r.file,
        "line": r.line,
        "reason": r.reason.value,
        "detail": r.detail,
        "station_id": r.station_id,
        "raw": r.raw,
    }


def _station_row(s: StationRecord) -> dict[str, Any]:
    return {name: getattr(s, name) for name in REGISTRY_STATIONS.names}
