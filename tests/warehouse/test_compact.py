"""Compaction: readers never double count or lose rows, and the pipeline resumes exactly once."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from chargegrid.clock import FrozenClock, SystemClock
from chargegrid.events import Topic
from chargegrid.settings import Settings, load_settings
from pipeline.sinks import SinkConfig
from tests.pipeline.conftest import T0, drain, publish, session_events, sql
from warehouse import lake
from warehouse.compact import (
    RETIRED_PREFIX,
    committed_seqs,
    compact_lake,
    compact_partition,
    purge_retired,
)
from warehouse.schema import CONNECTOR_STATUS

LATER = FrozenClock(T0 + timedelta(days=10))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "var", log_partitions=2, epoch_interval_s=0.2)


def _status_rows(day: int, n: int, first: int) -> pa.Table:
    start = datetime(2025, 1, day, tzinfo=UTC)
    rows = [
        {
            "ts": start + timedelta(minutes=first + i),
            "charger_id": "C",
            "connector_id": 1,
            "kind": "status",
            "status": "Available",
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, CONNECTOR_STATUS)


def _files(lake_dir: Path, table: str) -> list[Path]:
    return sorted(lake.table_dir(lake_dir, table).glob("date=*/*.parquet"))


def test_concurrent_reader_never_double_counts_or_loses_rows(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    lake.ensure_lake(lake_dir)
    days, files_per_day, rows_per_file = 12, 8, 50
    for seq in range(files_per_day):
        for day in range(1, days + 1):
            rows = _status_rows(day, rows_per_file, seq * rows_per_file)
            lake.write_pipeline_files(lake_dir, "connector_status", rows, seq)
    total = days * files_per_day * rows_per_file
    glob = lake.table_glob(lake_dir, "connector_status")
    counts: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        con = duckdb.connect()
        while not stop.is_set():
            try:
                (n,) = con.execute(f"SELECT count(*) FROM read_parquet('{glob}')").fetchone()
                counts.append(n)
            except duckdb.IOException as exc:  # listed before a swap, opened after: retry
                errors.append(str(exc))
        con.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for directory in sorted(lake.table_dir(lake_dir, "connector_status").glob("date=2025*")):
            seen = len(counts) + len(errors)
            while len(counts) + len(errors) == seen and thread.is_alive():
                time.sleep(0.001)  # interleave: at least one read between two compactions
            assert compact_partition("connector_status", directory, committed=10**6) == (
                files_per_day,
                files_per_day * rows_per_file,
            )
    finally:
        stop.set()
        thread.join()
    assert len(counts) + len(errors) >= days, "the reader did not run alongside compaction"
    assert counts, "no read succeeded"
    assert set(counts) == {total}, "a reader saw rows twice or missed some"
    assert len(_files(lake_dir, "connector_status")) == days + 1  # one per day + schema file
    (n,) = duckdb.execute(f"SELECT count(*) FROM read_parquet('{glob}')").fetchone()
    assert n == total


def test_a_reader_that_opened_the_folder_before_the_swap_gets_an_error_not_an_empty_day(
    tmp_path: Path,
) -> None:
    """A glob opens ``date=D`` by path and reads its entries a moment later. Opened before the
    swap and read after compaction returned, it must still list the old names (which no longer
    resolve: the reader's query fails and is retried), never an empty folder: that would be the
    whole day silently missing (CI once saw 4,400 of 4,800 rows)."""
    lake_dir = tmp_path / "lake"
    for seq in range(3):
        lake.write_pipeline_files(lake_dir, "connector_status", _status_rows(5, 3, seq * 3), seq)
    directory = next(lake.table_dir(lake_dir, "connector_status").glob("date=2025*"))
    old = sorted(p.name for p in directory.iterdir())
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)  # the reader's open folder
    try:
        assert compact_partition("connector_status", directory, committed=10) == (3, 9)
        listed = sorted(os.listdir(fd))
    finally:
        os.close(fd)
    assert listed == old
    assert not any((directory / name).exists() for name in listed)
    table_dir = lake.table_dir(lake_dir, "connector_status")
    (retired,) = table_dir.glob(RETIRED_PREFIX + "*")
    assert sorted(p.name for p in retired.iterdir()) == old
    assert purge_retired(table_dir, grace_s=3600) == 0  # still within its grace
    assert purge_retired(table_dir, grace_s=0) == 1
    assert not list(table_dir.glob(RETIRED_PREFIX + "*"))


def test_partition_with_uncommitted_or_foreign_files_is_left_alone(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    for seq in range(3):
        lake.write_pipeline_files(lake_dir, "connector_status", _status_rows(5, 3, seq * 3), seq)
    directory = next(lake.table_dir(lake_dir, "connector_status").glob("date=*"))
    assert "not committed" in str(compact_partition("connector_status", directory, committed=2))
    (directory / "notes.parquet").write_bytes(b"")
    assert "holds notes.parquet" in str(
        compact_partition("connector_status", directory, committed=10)
    )
    assert len(list(directory.iterdir())) == 4


def _sessions(settings: Settings, first: int, count: int) -> None:
    for i in range(first, first + count):
        events = session_events(f"CH{i % 3}", f"T{i}", [1100.0, 1200.0], at=T0 + timedelta(hours=i))
        publish(settings, Topic.meter_readings, events)


def _drain(settings: Settings) -> None:
    # carry_rows=0: every snapshot flushes, so files exist below the committed sequence
    drain(settings, sink=SinkConfig(settings.lake_dir, SystemClock(), carry_rows=0))


def test_pipeline_resume_after_compaction_gives_no_duplicates(settings: Settings) -> None:
    for run in range(3):  # three runs: at least three files per table and day
        _sessions(settings, run * 4, 4)
        _drain(settings)
    before = len(_files(settings.lake_dir, "readings"))
    assert committed_seqs(settings.recovery_dir)["readings"] >= 3

    report = compact_lake(settings.lake_dir, settings.recovery_dir, LATER, grace_s=0.05)
    assert report.merged_partitions["readings"] >= 1
    assert len(_files(settings.lake_dir, "readings")) < before
    assert not list(settings.lake_dir.glob(f"*/{RETIRED_PREFIX}*"))  # deleted after the grace

    _sessions(settings, 12, 4)  # more data, then a resume from the committed state
    _drain(settings)
    assert sql(settings, "SELECT count(*), count(DISTINCT session_id) FROM sessions") == [(16, 16)]
    assert sql(
        settings, "SELECT count(*), count(DISTINCT (charger_id, transaction_id, ts)) FROM readings"
    ) == [(32, 32)]


def test_young_partitions_are_not_compacted(settings: Settings) -> None:
    for run in range(2):
        _sessions(settings, run * 2, 2)
        _drain(settings)
    report = compact_lake(settings.lake_dir, settings.recovery_dir, FrozenClock(T0))
    assert report.merged_partitions["readings"] == 0
    assert any("not closed" in why for why in report.skipped["readings"])


def test_merged_file_takes_a_name_no_merged_file_had(tmp_path: Path) -> None:
    """A reader that listed the old files and opens one after the swap must get "not found"
    (and retry), never the merged rows on top of the old files it already read; so the merged
    file's name is none of the old names, also when a partition is compacted a second time."""
    lake_dir = tmp_path / "lake"
    for seq in range(3):
        lake.write_pipeline_files(lake_dir, "connector_status", _status_rows(5, 3, seq * 3), seq)
    directory = next(lake.table_dir(lake_dir, "connector_status").glob("date=2025*"))
    before = {p.name for p in directory.iterdir()}
    assert compact_partition("connector_status", directory, committed=10) == (3, 9)
    (merged,) = [p.name for p in directory.iterdir()]
    assert merged not in before
    assert lake.parse_pipeline_file_name(merged) == (2, 1)
    lake.write_pipeline_files(lake_dir, "connector_status", _status_rows(5, 3, 9), 3)  # late rows
    assert compact_partition("connector_status", directory, committed=10) == (2, 12)
    (again,) = [p.name for p in directory.iterdir()]
    assert again not in {merged, lake.pipeline_file_name(3)}
    assert lake.parse_pipeline_file_name(again) == (3, 2)
    assert lake.discard_from(lake_dir, "connector_status", 4) == 0  # committed: kept on resume
    assert lake.discard_from(lake_dir, "connector_status", 0) == 1  # a rebuild drops it
