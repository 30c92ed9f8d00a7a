"""The event-log source: micro-batches, resume offsets, drain flag, retention commits."""

from __future__ import annotations

import pytest

from chargegrid.eventlog import EventLog
from chargegrid.events import Topic
from chargegrid.settings import Settings
from pipeline.source import GROUP_ID, LogSource, SourceConfig


def _config(settings: Settings, drained: bool = True, batch_rows: int = 3) -> SourceConfig:
    return SourceConfig(
        settings.eventlog_path, 1, until_drained=lambda: drained, batch_rows=batch_rows, tick_s=0
    )


def test_batches_resume_and_stop_when_drained(settings: Settings) -> None:
    with EventLog(settings.eventlog_path, 1) as log:
        log.append(Topic.meter_readings, [("k", b"%d" % i) for i in range(7)], now_ms=0)
    source = LogSource(_config(settings))
    assert "meter_readings:0" in source.list_parts()
    part = source.build_part("log", "meter_readings:0", None)
    first = part.next_batch()
    assert len(first) == 1 and first[0].offsets.tolist() == [1, 2, 3]
    assert part.snapshot() == 3
    resumed = source.build_part("log", "meter_readings:0", 3)
    assert list(resumed.next_batch()[0].payloads) == [b"3", b"4", b"5"]
    assert resumed.next_batch()[0].offsets.tolist() == [7]
    with pytest.raises(StopIteration):
        resumed.next_batch()


def test_empty_log_ticks_until_drain_requested(settings: Settings) -> None:
    state = {"drained": False}
    config = SourceConfig(
        settings.eventlog_path, 1, until_drained=lambda: state["drained"], tick_s=0
    )
    part = LogSource(config).build_part("log", "connector_status:0", None)
    tick = part.next_batch()
    assert len(tick) == 1 and len(tick[0].offsets) == 0  # a tick: empty batch
    assert part.next_awake() is not None
    state["drained"] = True
    with pytest.raises(StopIteration):
        part.next_batch()


def test_offsets_mirrored_for_retention_two_snapshots_late(settings: Settings) -> None:
    with EventLog(settings.eventlog_path, 1) as log:
        log.append(Topic.meter_readings, [("k", b"x")] * 9, now_ms=0)
        part = LogSource(_config(settings)).build_part("log", "meter_readings:0", None)
        committed = []
        for _ in range(3):
            part.next_batch()
            part.snapshot()
            committed.append(log.committed(GROUP_ID, Topic.meter_readings, 0))
        assert committed == [0, 0, 3]
