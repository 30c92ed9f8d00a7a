"""Crash mid-stream, resume: no duplicate rows and the same totals as an uninterrupted run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import pipeline.runner
from chargegrid.events import Topic
from chargegrid.settings import Settings, load_settings
from pipeline.sinks import LakePartition, SinkConfig
from pipeline.step import Step, make_step
from tests.pipeline.conftest import drain, publish, session_events, sql
from warehouse import lake
from warehouse.schema import TABLES

TOTALS = (
    "SELECT (SELECT count(*) FROM readings), (SELECT count(DISTINCT (log_partition, log_offset, "
    "log_index)) FROM readings), (SELECT count(*) FROM sessions), "
    "(SELECT count(DISTINCT session_id) FROM sessions), (SELECT sum(energy_wh) FROM sessions), "
    "(SELECT count(*) FROM dead_letter), (SELECT count(*) FROM bills), "
    "(SELECT count(DISTINCT session_id) FROM bills), (SELECT sum(total_minor) FROM bills), "
    "(SELECT count(*) FROM bill_lines)"
)


class Crash(Exception):
    pass


def _events() -> list[object]:
    events: list[object] = []
    for c in range(20):
        registers = [1000.0 + 10.0 * k for k in range(1, 60)]
        events += session_events(f"CH{c:02d}", f"T{c}", registers)
    events.append(("BAD", b"not json"))
    return events


def _crashing_step(snapshots: list[int], batches_after_snapshot: int) -> object:
    """A step that crashes once the sinks have taken two snapshots (so at least one epoch is
    committed) and ``batches_after_snapshot`` more batches have gone by (so the lake holds files
    written after the last snapshot, which the resume must discard). Deterministic whatever the
    machine's load, unlike a fixed batch count."""

    def factory(clock: object, **checks: object) -> Step:
        inner = make_step(clock, **checks)  # type: ignore[arg-type]
        seen = {"snapshots": 0, "since": 0}

        def step(state, batch):
            if len(batch.offsets):
                if len(snapshots) != seen["snapshots"]:
                    seen["snapshots"], seen["since"] = len(snapshots), 0
                seen["since"] += 1
                time.sleep(0.03)  # let epochs close between batches
                epochs = len(snapshots) // len(TABLES)  # every table's sink snapshots per epoch
                if epochs >= 2 and seen["since"] > batches_after_snapshot:
                    raise Crash
            return inner(state, batch)

        return step

    return factory


def _sink(settings: Settings) -> SinkConfig:
    from chargegrid.clock import SystemClock

    # flush every write: many small files, so a crash leaves files past the last snapshot
    return SinkConfig(settings.lake_dir, SystemClock(), flush_rows=1, carry_rows=0, max_age_s=0)


def test_resume_after_crash_has_no_duplicates(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(data_dir=tmp_path / "run", log_partitions=2, epoch_interval_s=0.5)
    reference = load_settings(data_dir=tmp_path / "ref", log_partitions=2)
    for s in (settings, reference):
        publish(s, Topic.meter_readings, _events())  # type: ignore[arg-type]
    drain(reference, batch_rows=40)
    expected = sql(reference, TOTALS)[0]

    snapshots: list[int] = []
    real_snapshot = LakePartition.snapshot

    def recording_snapshot(self: LakePartition) -> object:
        snapshots.append(1)
        return real_snapshot(self)

    with monkeypatch.context() as patch:
        patch.setattr(LakePartition, "snapshot", recording_snapshot)
        patch.setattr(pipeline.runner, "make_step", _crashing_step(snapshots, 3))
        with pytest.raises(Exception, match="on_batch"):
            drain(settings, batch_rows=20, sink=_sink(settings))
    assert sql(settings, "SELECT count(*) FROM readings")[0][0] > 0  # it did write something
    discarded: list[int] = []
    real_discard = lake.discard_from

    def counting_discard(lake_dir: Path, table: str, seq: int) -> int:
        discarded.append(real_discard(lake_dir, table, seq))
        return discarded[-1]

    monkeypatch.setattr(lake, "discard_from", counting_discard)
    drain(settings, batch_rows=20, sink=_sink(settings))
    assert sum(discarded) > 0  # files of the replayed epoch were really there and removed

    got = sql(settings, TOTALS)[0]
    assert got == expected
    assert got[0] == got[1]  # no reading twice
    assert got[2] == got[3] == 20
    assert got[6] == got[7] == 20 and got[8] > 0  # every session billed once
