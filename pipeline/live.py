"""The live snapshot: what each connector is doing now, rewritten about once a second.

The per-partition step emits a small :class:`LiveDelta` per batch; :class:`LiveSink` (one sink
partition) folds the deltas into a :class:`LiveView` and writes it with
:func:`chargegrid.live.write_snapshot` at most once per ``interval_s`` of the injected clock, and on
close. The view is the sink's recovery state, so a resumed run still knows every connector.

Power history keeps one point per ``history_s / HISTORY_POINTS`` of event time per connector (the
newest in each bucket) over the last ``history_s`` of event time, so the file stays small however
fast readings arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from chargegrid.clock import Clock
from chargegrid.live import ConnectorLive, LiveSnapshot, PowerPoint, write_snapshot

HISTORY_POINTS = 60
PART = "live"


@dataclass(slots=True)
class LiveDelta:
    """Changes seen in one batch. Times are UTC microseconds since the epoch."""

    connectors: dict[str, dict[str, Any]] = field(default_factory=dict)  # "charger/conn" -> fields
    points: list[tuple[str, int, float]] = field(default_factory=list)  # (connector, ts_us, W)
    readings: int = 0
    dead_letters: int = 0
    event_time_us: int | None = None


@dataclass(slots=True)
class LiveView:
    """Everything the snapshot shows (picklable: the live sink's resume state)."""

    connectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    readings: int = 0
    dead_letters: int = 0
    event_time_us: int | None = None

    def apply(self, delta: LiveDelta, history_s: float) -> None:
        for key, fields in delta.connectors.items():
            self.connectors.setdefault(key, {}).update(fields)
        step_us = max(1, int(history_s * 1e6 / HISTORY_POINTS))
        for key, ts_us, power_w in delta.points:
            points = self.history.setdefault(key, [])
            if points and points[-1][0] // step_us == ts_us // step_us:
                points[-1] = (ts_us, power_w)
            elif not points or ts_us > points[-1][0]:
                points.append((ts_us, power_w))
        self.readings += delta.readings
        self.dead_letters += delta.dead_letters
        if delta.event_time_us is not None:
            self.event_time_us = max(self.event_time_us or delta.event_time_us, delta.event_time_us)
        if delta.points and self.event_time_us is not None:
            self._prune(self.event_time_us - int(history_s * 1e6))

    def _prune(self, cutoff_us: int) -> None:
        for key, points in self.history.items():
            if points and points[0][0] < cutoff_us:
                self.history[key] = [p for p in points if p[0] >= cutoff_us]

    def snapshot(self, generated_at: datetime) -> LiveSnapshot:
        connectors = [_connector(key, fields) for key, fields in sorted(self.connectors.items())]
        return LiveSnapshot(
            generated_at=generated_at,
            event_time=_dt(self.event_time_us),
            connectors=connectors,
            power_history={
                key: [PowerPoint.model_construct(ts=_at(ts), power_w=w) for ts, w in points]
                for key, points in sorted(self.history.items())
                if points
            },
            readings_total=self.readings,
            dead_letter_total=self.dead_letters,
        )


def _at(ts_us: int) -> datetime:
    return datetime.fromtimestamp(ts_us / 1e6, UTC)


def _dt(ts_us: int | None) -> datetime | None:
    return None if ts_us is None else _at(ts_us)


_TIMES = ("status_at", "session_started_at", "last_reading_at")


def _connector(key: str, fields: dict[str, Any]) -> ConnectorLive:
    charger_id, connector_id = key.rsplit("/", 1)
    values = {k: (_dt(v) if k in _TIMES else v) for k, v in fields.items()}
    values.update(charger_id=charger_id, connector_id=int(connector_id))
    return ConnectorLive.model_validate(values)


class LivePartition(StatefulSinkPartition[LiveDelta, LiveView]):
    def __init__(self, sink: LiveSink, view: LiveView) -> None:
        self._sink = sink
        self._view = view
        self._written_at: datetime | None = None
        self._dirty = True

    def write_batch(self, values: list[LiveDelta]) -> None:
        for delta in values:
            self._view.apply(delta, self._sink.history_s)
            self._dirty = self._dirty or bool(delta.connectors or delta.points or delta.readings)
        now = self._sink.clock.now()
        due = self._written_at is None or (
            (now - self._written_at).total_seconds() >= self._sink.interval_s
        )
        if due and self._dirty:
            self._write(now)

    def _write(self, now: datetime) -> None:
        write_snapshot(self._view.snapshot(now), self._sink.live_dir)
        self._written_at = now
        self._dirty = False
        self._sink.on_write(now)

    def snapshot(self) -> LiveView:
        return self._view

    def close(self) -> None:
        self._write(self._sink.clock.now())


class LiveSink(FixedPartitionedSink[LiveDelta, LiveView]):
    """One partition folding every :class:`LiveDelta` into the snapshot file."""

    def __init__(
        self,
        live_dir: Path,
        clock: Clock,
        *,
        interval_s: float,
        history_s: float,
        on_write: Callable[[datetime], None] = lambda _at: None,
    ) -> None:
        self.live_dir = live_dir
        self.clock = clock
        self.interval_s = interval_s
        self.history_s = history_s
        self.on_write = on_write

    def list_parts(self) -> list[str]:
        return [PART]

    def part_fn(self, item_key: str) -> int:
        return 0

    def build_part(
        self, step_id: str, for_part: str, resume_state: LiveView | None
    ) -> LivePartition:
        return LivePartition(self, resume_state or LiveView())
