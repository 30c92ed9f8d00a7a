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
from warehouse.catalog import refresh_catalog
from warehouse.compact import (
    RETIRED_PREFIX,
    _mergeable,
    _write_merged,
    committed_seqs,
    compact_lake,
    compact_partition,
    exchange,
    settle,
)
from warehouse.schema import CONNECTOR_STATUS
from warehouse.sql import QueryError, query_rows

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


RETRY = (duckdb.IOException, duckdb.InvalidInputException)  # vanished file, placeholder


class _Reader:
    """A thread counting a table's rows by the views' glob, over and over, until stopped; each
    answer goes to ``counts``, each read that raced a compaction to ``errors`` (a real reader
    retries it)."""

    def __init__(self, lake_dir: Path, table: str) -> None:
        self.glob = lake.table_glob(lake_dir, table)
        self.counts: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop)

    def _loop(self) -> None:
        con = duckdb.connect()
        while not self._stop.is_set():
            try:
                (n,) = con.execute(f"SELECT count(*) FROM read_parquet('{self.glob}')").fetchone()
                self.counts.append(n)
            except RETRY as exc:
                self.errors.append(str(exc))
        con.close()

    def reads(self) -> int:
        return len(self.counts) + len(self.errors)

    def wait_for_a_read(self) -> None:
        seen = self.reads()
        while self.reads() == seen and self._thread.is_alive():
            time.sleep(0.001)

    def __enter__(self) -> _Reader:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_concurrent_reader_never_double_counts_or_loses_rows(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    lake.ensure_lake(lake_dir)
    days, files_per_day, rows_per_file = 12, 8, 50
    for seq in range(files_per_day):
        for day in range(1, days + 1):
            rows = _status_rows(day, rows_per_file, seq * rows_per_file)
            lake.write_pipeline_files(lake_dir, "connector_status", rows, seq)
    total = days * files_per_day * rows_per_file
    table_dir = lake.table_dir(lake_dir, "connector_status")
    grace = 0.05
    settled_reads = 0
    with _Reader(lake_dir, "connector_status") as reader:
        for directory in sorted(table_dir.glob("date=2025*")):
            reader.wait_for_a_read()  # interleave: reads before, during and after each compaction
            assert compact_partition("connector_status", directory, committed=10**6) == (
                files_per_day,
                files_per_day * rows_per_file,
            )
            reader.wait_for_a_read()
            time.sleep(grace)
            assert settle(table_dir, grace_s=grace) == (files_per_day, 1)
            before = len(reader.counts)
            reader.wait_for_a_read()
            settled_reads += len(reader.counts) - before
    assert reader.reads() >= 3 * days, "the reader did not run alongside compaction"
    assert settled_reads > 0, "no read succeeded between two compactions"
    assert set(reader.counts) == {total}, "a reader saw rows twice or missed some"
    assert any("No magic bytes" in e for e in reader.errors), "no read met a placeholder"
    assert len(_files(lake_dir, "connector_status")) == days + 1  # one per day + schema file
    (n,) = duckdb.execute(f"SELECT count(*) FROM read_parquet('{reader.glob}')").fetchone()
    assert n == total


def test_a_listing_taken_before_the_swap_resolves_to_placeholders_not_to_nothing(
    tmp_path: Path,
) -> None:
    """DuckDB lists a folder by reading its entries, then stat-ing each by path, skipping names
    that do not resolve. Entries read before the swap and stat-ed after must still resolve, to
    files a query refuses, never to nothing: that would be the whole day silently missing (CI
    once saw 4,400 of 4,800 rows)."""
    lake_dir = tmp_path / "lake"
    for seq in range(3):
        lake.write_pipeline_files(lake_dir, "connector_status", _status_rows(5, 3, seq * 3), seq)
    table_dir = lake.table_dir(lake_dir, "connector_status")
    directory = next(table_dir.glob("date=2025*"))
    old = sorted(p.name for p in directory.iterdir())
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)  # the reader's open folder
    try:
        assert compact_partition("connector_status", directory, committed=10) == (3, 9)
        listed = sorted(os.listdir(fd))  # entries read after the swap, through the old folder
    finally:
        os.close(fd)
    assert listed == old
    stale = [directory / name for name in listed]
    assert all(path.is_file() and lake.is_placeholder(path) for path in stale)
    with pytest.raises(duckdb.InvalidInputException, match="No magic bytes"):
        duckdb.execute(f"SELECT count(*) FROM read_parquet({[str(p) for p in stale]})")
    with pytest.raises(lake.PartitionSettling, match="retry"):
        lake.partition_files(directory)
    (retired,) = table_dir.glob(RETIRED_PREFIX + "*")
    assert sorted(p.name for p in retired.iterdir()) == old
    assert settle(table_dir, grace_s=3600) == (0, 0)  # still within the grace
    assert settle(table_dir, grace_s=0) == (3, 1)
    assert not list(table_dir.glob(RETIRED_PREFIX + "*"))
    (merged,) = lake.partition_files(directory)
    assert merged.name == lake.pipeline_file_name(2, 1)
    assert not any(path.exists() for path in stale)


def test_swapping_a_partition_to_and_fro_never_gives_a_reader_a_wrong_count(
    tmp_path: Path,
) -> None:
    """The swap itself, hammered: the old files and the merged file (with its placeholders)
    trade places every ~2 ms under a reading thread. Without placeholders a reader counted a
    day as empty 26 times in ~17,700 reads (20 s); with them every read is right or refused."""
    lake_dir = tmp_path / "lake"
    lake.ensure_lake(lake_dir)
    for seq in range(8):
        for day in (5, 6):
            rows = _status_rows(day, 10, seq * 10)
            lake.write_pipeline_files(lake_dir, "connector_status", rows, seq)
    table_dir = lake.table_dir(lake_dir, "connector_status")
    directory = table_dir / "date=2025-01-05"
    staging = directory.with_name(".to-and-fro")
    picked = _mergeable(directory, committed=100)
    assert not isinstance(picked, str)
    assert _write_merged(staging, picked, CONNECTOR_STATUS) == 80
    swaps = 0
    with _Reader(lake_dir, "connector_status") as reader:
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            exchange(directory, staging)
            swaps += 1
            time.sleep(0.002)
    assert swaps > 100 and reader.reads() > 100
    assert set(reader.counts) <= {160}, "a reader saw rows twice or missed some"


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
    """A reader that listed the old files and opens one after the swap must get an error (and
    retry), never the merged rows on top of the old files it already read; so the merged file's
    name is none of the old names, also when a partition is compacted a second time."""
    lake_dir = tmp_path / "lake"
    for seq in range(3):
        lake.write_pipeline_files(lake_dir, "connector_status", _status_rows(5, 3, seq * 3), seq)
    table_dir = lake.table_dir(lake_dir, "connector_status")
    directory = next(table_dir.glob("date=2025*"))
    before = {p.name for p in directory.iterdir()}
    assert compact_partition("connector_status", directory, committed=10) == (3, 9)
    assert {p.name for p in directory.iterdir() if lake.is_placeholder(p)} == before
    (merged,) = [p.name for p in directory.iterdir() if not lake.is_placeholder(p)]
    assert merged not in before
    assert lake.parse_pipeline_file_name(merged) == (2, 1)
    lake.write_pipeline_files(lake_dir, "connector_status", _status_rows(5, 3, 9), 3)  # late rows
    assert compact_partition("connector_status", directory, committed=10) == (
        "still settling from a compaction"
    )
    assert settle(table_dir, grace_s=0) == (3, 1)
    assert compact_partition("connector_status", directory, committed=10) == (2, 12)
    assert settle(table_dir, grace_s=0) == (2, 1)
    (again,) = [p.name for p in directory.iterdir()]
    assert again not in {merged, lake.pipeline_file_name(3)}
    assert lake.parse_pipeline_file_name(again) == (3, 2)
    assert lake.discard_from(lake_dir, "connector_status", 4) == 0  # committed: kept on resume
    assert lake.discard_from(lake_dir, "connector_status", 0) == 1  # a rebuild drops it


def test_sql_waits_out_a_compaction_then_answers_right(settings: Settings) -> None:
    """``chargegrid sql`` reads the views' globs: a query that meets a placeholder runs again
    until the partition settles; given no time to wait, it names the compaction; any other bad
    file fails at once with DuckDB's message alone."""
    refresh_catalog(settings)
    lake_dir = settings.lake_dir
    for day in (5, 6):
        for seq in range(3):
            rows = _status_rows(day, 3, seq * 3)
            lake.write_pipeline_files(lake_dir, "connector_status", rows, seq)
    table_dir = lake.table_dir(lake_dir, "connector_status")
    first, second = sorted(table_dir.glob("date=2025*"))
    assert compact_partition("connector_status", first, committed=10) == (3, 9)
    timer = threading.Timer(0.3, settle, args=(table_dir,), kwargs={"grace_s": 0})
    timer.start()
    try:
        _, rows = query_rows(settings, "SELECT count(*) FROM connector_status")
    finally:
        timer.join()
    assert rows == [(18,)]
    assert compact_partition("connector_status", second, committed=10) == (3, 9)
    with pytest.raises(QueryError, match="a compaction is merging files"):
        query_rows(settings, "SELECT count(*) FROM connector_status", race_retry_s=0)
    settle(table_dir, grace_s=0)
    assert query_rows(settings, "SELECT count(*) FROM connector_status")[1] == [(18,)]
    (second / lake.pipeline_file_name(7)).write_bytes(b"not parquet, not a placeholder")
    with pytest.raises(QueryError) as error:
        query_rows(settings, "SELECT count(*) FROM connector_status")
    assert "magic bytes" in str(error.value)
    assert "compaction" not in str(error.value)


def test_raced_compaction_tells_a_read_that_raced_from_a_bad_file(tmp_path: Path) -> None:
    """The errors a retry cures: a file gone between the listing and the scan (DuckDB's own
    message, produced here), a placeholder; not a file that is simply not Parquet."""
    for i in range(20):
        lake.write_atomic(pa.table({"x": list(range(50_000))}), tmp_path / f"f{i:02d}.parquet")
    con = duckdb.connect()
    con.execute("SET threads = 1")
    cursor = con.execute(f"SELECT x FROM read_parquet('{tmp_path}/f*.parquet')")
    cursor.fetchmany(10)  # the scan has listed the files and opened the first
    (tmp_path / "f19.parquet").unlink()
    with pytest.raises(duckdb.IOException, match="Cannot open file") as gone:
        cursor.fetchall()
    assert lake.raced_compaction(gone.value)
    placeholder, garbage = tmp_path / "p.parquet", tmp_path / "g.parquet"
    placeholder.write_bytes(lake.COMPACTION_PLACEHOLDER)
    garbage.write_bytes(b"not parquet, not a placeholder")
    for path, raced in ((placeholder, True), (garbage, False)):
        with pytest.raises(duckdb.InvalidInputException, match="No magic bytes") as refused:
            duckdb.execute(f"SELECT count(*) FROM read_parquet('{path}')")
        assert lake.raced_compaction(refused.value) is raced
