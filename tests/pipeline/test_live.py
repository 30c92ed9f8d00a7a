"""Live snapshot: throttled by the injected clock, bounded history, written on close."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from chargegrid.clock import FrozenClock
from chargegrid.live import read_snapshot
from pipeline.live import HISTORY_POINTS, LiveDelta, LiveSink, LiveView

T = datetime(2025, 3, 1, tzinfo=UTC)
US = 1_000_000


def _delta(ts_s: float, power_w: float = 7000.0) -> LiveDelta:
    ts_us = int((T.timestamp() + ts_s) * US)
    return LiveDelta(
        connectors={"CH1/1": {"power_w": power_w, "last_reading_at": ts_us}},
        points=[("CH1/1", ts_us, power_w)],
        readings=1,
        event_time_us=ts_us,
    )


def test_writes_at_most_once_per_interval_and_on_close(tmp_path: Path) -> None:
    clock = FrozenClock(T)
    writes: list[datetime] = []
    sink = LiveSink(tmp_path, clock, interval_s=1.0, history_s=600, on_write=writes.append)
    part = sink.build_part("live", "live", None)
    part.write_batch([_delta(0)])
    assert len(writes) == 1
    clock.advance(0.5)
    part.write_batch([_delta(1, 5000.0)])
    assert len(writes) == 1  # throttled
    clock.advance(0.5)
    part.write_batch([_delta(2, 3000.0)])
    assert len(writes) == 2
    part.write_batch([_delta(3, 1000.0)])
    part.close()
    assert len(writes) == 3
    snapshot = read_snapshot(tmp_path)
    assert snapshot is not None
    assert snapshot.connectors[0].power_w == 1000.0
    assert snapshot.readings_total == 4
    assert snapshot.generated_at == clock.now()


def test_history_is_bounded_and_covers_the_window() -> None:
    view = LiveView()
    for s in range(0, 3600):
        view.apply(_delta(s), history_s=600)
    points = view.history["CH1/1"]
    assert len(points) <= HISTORY_POINTS + 1
    newest = points[-1][0]
    assert newest - points[0][0] <= 600 * US
    assert newest == int((T.timestamp() + 3599) * US)
