"""Compaction: merge a closed date partition's small pipeline files into one, without blocking
readers, double counting or losing rows, and without breaking the pipeline's exactly-once resume.

Why not file by file. Readers (DuckDB views) glob ``<table>/date=*/*.parquet``. Going from files
``{a, b, c}`` to one merged ``m`` by single-file renames always passes through a state a reader's
glob could catch with both ``m`` and one of ``a, b, c`` (double count) or with neither (loss).

The scheme (one partition ``<table>/date=D``):

1. Pick the pipeline files of ``date=D`` numbered below the sink's **committed** sequence (read
   from the Bytewax recovery store, :func:`committed_seqs`). The partition is skipped when it
   holds anything else (a newer pipeline file, a temporary: the pipeline is writing there) or
   when ``D`` is not yet closed (younger than ``min_age_days`` by the injected clock).
2. Write the merged rows into a sibling staging folder ``<table>/.compact-date=D`` (not matched
   by the readers' glob, nor by the sink's clean-up glob) as ``pipeline-<highest seq>.c<n>.parquet``
   (``n`` above any merged file's: a name none of the old files has).
3. Beside the merged file, write a **placeholder** under each merged file's name: a few bytes
   of text (:data:`warehouse.lake.COMPACTION_PLACEHOLDER`), not Parquet.
4. Swap the two folders in one ``renameat2(RENAME_EXCHANGE)`` call.
5. If anything appeared in the old folder since step 1 (the pipeline wrote late rows into a
   closed day), swap back: readers see the old files plus the new one, nothing is lost. Else
   retire the old folder: rename it ``<table>/.retired-date=D.<ns>`` (not matched by the
   readers' glob).
6. **Settle** after a grace period (:data:`RETIRE_GRACE_S`, :func:`settle`): delete the
   placeholders and the retired folder. :func:`compact_lake` waits out the grace at its end; a
   pass also settles whatever an earlier, stopped pass left.

Why placeholders. DuckDB lists a folder by reading its entries, then ``stat``-ing each *by path*
and silently skipping a name that does not resolve (``LocalFileSystem::ListFiles``). A reader
that read ``date=D``'s entries just before the swap and stat-ed them just after would otherwise
find none of the old names and leave the **whole day out of its answer without an error** (CI saw
4,400 of 4,800 rows; swapping a folder of 8 files to and fro under a reading thread reproduces it
in 26 of ~17,700 reads). The placeholder makes every old name resolve, to a file DuckDB refuses
("No magic bytes found"): the query fails and is retried. A placeholder can never be counted,
so no listing, fresh or stale, gets a wrong total:

* listed before the swap, stat-ed and opened before it: the old files, all of them;
* listed before, stat-ed after: placeholders, an error;
* listed before, opened after: the names now resolve to placeholders, an error;
* listed after: the merged file and the placeholders, an error until the partition settles,
  then the merged file alone.

The price: a query that lists the table during a pass and its grace fails and must be retried.
What is left: a reader stalled longer than the grace between reading a folder's entries and
stat-ing them (a few microseconds apart in DuckDB) would still miss the day; the grace makes
that a multi-second stall of one thread between two system calls. The retired folder is kept for
the same grace: a reader that opened ``date=D`` before the swap then reads the old names, never
an empty folder.

Exactly-once resume. The merged file keeps the pipeline's sequence number, the highest merged
one ``h < committed``. The sink deletes files numbered ``>= resume seq`` on restart,
and a resume never goes back before the committed state, so the merged file is never deleted by
a resume (its rows are never replayed); a rebuild without recovery state (resume seq 0) deletes
it with every other pipeline file, as it must.

Imported tables (``source=<src>/data.parquet``) are already one file per source: nothing to do.
Linux only (``renameat2``); elsewhere :class:`CompactionUnsupported` is raised.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from chargegrid.clock import Clock
from chargegrid.errors import ChargegridError
from warehouse import lake
from warehouse.schema import TABLES

AT_FDCWD = -100
RENAME_EXCHANGE = 2
STAGING_PREFIX = ".compact-"
RETIRED_PREFIX = ".retired-"
RETIRE_GRACE_S = 5.0  # placeholders and retired folders outlive any listing begun before a swap
LAKE_STEP = "chargegrid.lake"  # the Bytewax step id of the lake sink (pipeline.runner)


class CompactionError(ChargegridError):
    """Compaction could not run (unreadable recovery store, file system without exchange)."""


class CompactionUnsupported(CompactionError):
    """The platform cannot swap two folders atomically."""


@dataclass
class CompactReport:
    """What one compaction pass did, per table."""

    merged_partitions: dict[str, int] = field(default_factory=dict)
    files_before: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # table -> "date: why"


def exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    rename = getattr(libc, "renameat2", None)
    if rename is None:
        msg = "atomic folder exchange (renameat2) is not available on this platform"
        raise CompactionUnsupported(msg)
    if rename(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        msg = f"cannot exchange {a} and {b}: {os.strerror(err)}"
        raise CompactionUnsupported(msg)


def committed_seqs(recovery_dir: Path) -> dict[str, int]:
    """Per lake table, the lowest ``next_seq`` among the sink's stored snapshots (the resume
    point can be no earlier); tables without a snapshot are absent (compact nothing there)."""
    found: dict[str, int] = {}
    for db in sorted(recovery_dir.glob("part-*.sqlite3")):
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                rows = con.execute(
                    "SELECT state_key, ser_change FROM snaps WHERE step_id = ?", (LAKE_STEP,)
                ).fetchall()
            finally:
                con.close()
        except sqlite3.Error as exc:
            msg = f"cannot read the recovery store {db}: {exc}"
            raise CompactionError(msg) from None
        for table, blob in rows:
            if blob is None:
                continue
            seq = int(pickle.loads(blob).next_seq)  # our own store: pipeline.sinks.SinkState
            found[table] = min(seq, found.get(table, seq))
    return found


def _mergeable(directory: Path, committed: int) -> list[tuple[int, int, Path]] | str:
    """The partition's pipeline files to merge (``(seq, merge, path)``), or why it is
    skipped."""
    files: list[tuple[int, int, Path]] = []
    for path in sorted(directory.iterdir()):
        parsed = lake.parse_pipeline_file_name(path.name)
        if parsed is None:
            return f"holds {path.name}"
        if lake.is_placeholder(path):
            return "still settling from a compaction"
        seq, merge = parsed
        if seq >= committed:
            return f"{path.name} is not committed yet"
        files.append((seq, merge, path))
    if len(files) < 2:
        return "already one file"
    return sorted(files)


def _write_merged(staging: Path, files: list[tuple[int, int, Path]], schema: pa.Schema) -> int:
    """Steps 2-3. The merged file keeps the highest sequence number and takes a merge number
    above every merged file's: a name none of them has, so no old name ever resolves to the
    merged rows (a reader mixing old files with it would count them twice)."""
    tables = [pq.read_table(path, schema=schema) for _, _, path in files]
    merged = pa.concat_tables(tables)
    staging.mkdir()
    name = lake.pipeline_file_name(files[-1][0], max(m for _, m, _ in files) + 1)
    lake.write_atomic(merged, staging / name)
    for _, _, path in files:
        (staging / path.name).write_bytes(lake.COMPACTION_PLACEHOLDER)
    return merged.num_rows


def compact_partition(table: str, directory: Path, committed: int) -> tuple[int, int] | str:
    """Merge one partition (steps 1-5 above); ``(files merged, rows)`` or why it was skipped.
    The partition settles (step 6) at the next :func:`settle` after the grace."""
    picked = _mergeable(directory, committed)
    if isinstance(picked, str):
        return picked
    staging = directory.with_name(STAGING_PREFIX + directory.name)
    if staging.exists():
        shutil.rmtree(staging)  # left by a crash between steps 2 and 5: never visible to readers
    rows = _write_merged(staging, picked, TABLES[table])
    exchange(directory, staging)
    expected = {path.name for _, _, path in picked}
    if {p.name for p in staging.iterdir()} != expected:
        exchange(directory, staging)  # the pipeline wrote here meanwhile: keep the old set
        retire(staging, directory.name)
        return "the pipeline wrote into it meanwhile"
    for name in expected:
        os.utime(directory / name)  # the grace counts from the swap, not from step 3
    retire(staging, directory.name)
    return len(picked), rows


def retire(folder: Path, partition: str) -> Path:
    """Rename a folder that left a partition to ``.retired-<partition>.<ns>`` beside it, for
    :func:`settle` to delete after the grace period (module doc, steps 5-6)."""
    target = folder.with_name(f"{RETIRED_PREFIX}{partition}.{time.time_ns()}")
    folder.rename(target)
    return target


def _retired_at_ns(path: Path) -> int | None:
    if not path.name.startswith(RETIRED_PREFIX):
        return None
    stamp = path.name.rsplit(".", 1)[-1]
    return int(stamp) if stamp.isdigit() else None


def purge_retired(table_dir: Path, grace_s: float = RETIRE_GRACE_S) -> int:
    """Delete the table's retired folders older than ``grace_s`` (wall clock: the grace is real
    time for real readers); returns how many were deleted."""
    if not table_dir.is_dir():
        return 0
    now = time.time_ns()
    purged = 0
    for path in sorted(table_dir.glob(RETIRED_PREFIX + "*")):
        at = _retired_at_ns(path)
        if at is not None and now - at >= grace_s * 1e9:
            shutil.rmtree(path)
            purged += 1
    return purged


def remove_placeholders(table_dir: Path, grace_s: float = RETIRE_GRACE_S) -> int:
    """Delete the table's compaction placeholders older than ``grace_s``; returns how many."""
    if not table_dir.is_dir():
        return 0
    now = time.time_ns()
    removed = 0
    for path in sorted(table_dir.glob(f"date=*/{lake.PIPELINE_PREFIX}*.parquet")):
        if lake.is_placeholder(path) and now - path.stat().st_mtime_ns >= grace_s * 1e9:
            path.unlink()
            removed += 1
    return removed


def settle(table_dir: Path, grace_s: float = RETIRE_GRACE_S) -> tuple[int, int]:
    """Step 6 for every partition of a table compacted at least ``grace_s`` ago: ``(placeholders
    removed, retired folders deleted)``."""
    return remove_placeholders(table_dir, grace_s), purge_retired(table_dir, grace_s)


def _wait_and_settle(table_dirs: list[Path], grace_s: float) -> None:
    """Wait out the grace of the newest retired folder, then settle every table."""
    stamps = [
        at
        for table_dir in table_dirs
        if table_dir.is_dir()
        for at in map(_retired_at_ns, table_dir.glob(RETIRED_PREFIX + "*"))
        if at is not None
    ]
    if stamps:
        time.sleep(max(0.0, (max(stamps) + grace_s * 1e9 - time.time_ns()) / 1e9))
    for table_dir in table_dirs:
        settle(table_dir, grace_s)


def compact_lake(
    lake_dir: Path,
    recovery_dir: Path,
    clock: Clock,
    *,
    min_age_days: int = 2,
    tables: tuple[str, ...] = tuple(TABLES),
    grace_s: float = RETIRE_GRACE_S,
) -> CompactReport:
    """Compact every closed, committed date partition of the pipeline's tables; returns after
    the grace period (module doc, step 6), settled."""
    committed = committed_seqs(recovery_dir) if recovery_dir.exists() else {}
    newest_closed = clock.now().date() - timedelta(days=min_age_days)
    report = CompactReport()
    table_dirs = [lake.table_dir(lake_dir, table) for table in tables]
    for table_dir in table_dirs:
        settle(table_dir, grace_s)  # what an earlier pass that was stopped left
    for table in tables:
        report.merged_partitions[table] = report.files_before[table] = report.rows[table] = 0
        report.skipped[table] = []
        for directory in sorted(lake.table_dir(lake_dir, table).glob("date=*")):
            day = directory.name.removeprefix("date=")
            if day == lake.SCHEMA_DATE or not directory.is_dir():
                continue
            if date.fromisoformat(day) > newest_closed:
                report.skipped[table].append(f"{day}: not closed yet")
                continue
            outcome = compact_partition(table, directory, committed.get(table, 0))
            if isinstance(outcome, str):
                report.skipped[table].append(f"{day}: {outcome}")
                continue
            report.merged_partitions[table] += 1
            report.files_before[table] += outcome[0]
            report.rows[table] += outcome[1]
    _wait_and_settle(table_dirs, grace_s)
    return report
