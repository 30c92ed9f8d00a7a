"""What the pipeline now does off its main thread, and how it sizes reads: a failed lake write
fails the snapshot that would have named it, a failed catalog refresh at start does not stop the
stream, and reads grow step by step from a read of single records to batch records."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pytest

from bench.bench_pipeline import _meter_value
from chargegrid.clock import SystemClock
from chargegrid.eventbatch import encode_batch
from chargegrid.eventlog import EventLog, Payloads
from chargegrid.settings import Settings
from pipeline import runner, sinks
from pipeline.runner import build_flow, execute
from pipeline.sinks import LakePartition, SinkConfig, SinkState
from pipeline.source import _next_limit
from warehouse.schema import TABLES


def test_a_failed_background_write_fails_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> list[Path]:
        msg = "disk full"
        raise OSError(msg)

    monkeypatch.setattr(sinks.lake, "write_pipeline_files", broken)
    part = LakePartition(
        SinkConfig(tmp_path, SystemClock(), flush_rows=1), "dead_letter", SinkState(0, None)
    )
    schema = TABLES["dead_letter"]
    row = pa.table({n: [None] for n in schema.names}).cast(schema)
    part.write_batch([row])  # flush_rows reached: handed to the writer thread, no error yet
    with pytest.raises(OSError, match="disk full"):
        part.snapshot()  # a snapshot must not name a file that was never written


def test_a_failed_catalog_refresh_is_reported_and_the_run_goes_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_settings: Settings) -> Path:
        msg = "catalog unreadable"
        raise RuntimeError(msg)

    monkeypatch.setattr(runner, "refresh_catalog", broken)
    EventLog(settings.eventlog_path, settings.log_partitions).close()
    with caplog.at_level(logging.WARNING, logger="pipeline.runner"):
        execute(settings, build_flow(settings, until_drained=True))
    assert "catalog refresh at pipeline start failed: catalog unreadable" in caplog.text
    assert settings.recovery_dir.exists()  # the run itself was prepared and ran


def test_reads_grow_at_most_fourfold_from_single_records() -> None:
    single = Payloads.of([b'{"kind":"x"}'] * 64)
    batch = Payloads.of([encode_batch([_meter_value("CH1", "T1", 0.0, 1.0)] * 200)] * 64)
    assert _next_limit(single, 200_000) == 200_000  # no previous read: JSON records, 1 row each
    assert _next_limit(single, 200_000, 64) == 256  # after a first read: grows, not jumps
    assert _next_limit(batch, 200_000, 256) == 1000  # 200 rows a record: 1,000 records
    assert _next_limit(batch, 200_000, 100) == 400  # ... but no more than four times the last
