"""The live snapshot: what each connector is doing now, rewritten about once a second.

The per-partition step emits a small :class:`LiveDelta` per batch; :class:`LiveSink` (one sink
partition) folds the deltas into a :class:`LiveView` and writes it with
:func:`chargegrid.live.write_snapshot_bytes` at most once per ``interval_s`` of the injected clock,
and on close. The view is the sink's recovery state, so a resumed run still knows every connector.

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

import orjson
import polars as pl
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from chargegrid.clock import Clock
from chargegrid.live import ConnectorLive, LiveSnapshot, encode_snapshot, write_snapshot_bytes

HISTORY_POINTS = 60
PART = "live"
COMPACT_ROWS = 200_000  # pending history points folded in at the latest at this many
POINTS_SCHEMA: dict[str, pl.DataType] = {
    "charger_id": pl.String(),
    "connector_id": pl.Int64(),
    "ts_us": pl.Int64(),  # event time, UTC microseconds since the epoch
    "power_w": pl.Float64(),
}


_CONNECTOR = ["charger_id", "connector_id"]


def bucket_us(history_s: float) -> int:
    """Spacing of the power history's points (µs of event time): one per connector per bucket."""
    return max(1, int(history_s * 1e6 / HISTORY_POINTS))


def empty_points() -> pl.DataFrame:
    return pl.DataFrame(schema=POINTS_SCHEMA)


@dataclass(slots=True)
class LiveDelta:
    """Changes seen in one batch. Times are UTC microseconds since the epoch."""

    connectors: dict[str, dict[str, Any]] = field(default_factory=dict)  # "charger/conn" -> fields
    points: pl.DataFrame = field(default_factory=empty_points)  # POINTS_SCHEMA, arrival order
    readings: int = 0
    dead_letters: int = 0
    event_time_us: int | None = None


@dataclass(slots=True)
class LiveView:
    """Everything the snapshot shows (picklable: the live sink's resume state).

    Power history is columnar (:data:`POINTS_SCHEMA`): points of each delta are queued in
    ``pending`` and folded into ``history`` (by connector, then time) by :meth:`compact`, which
    runs before every write and state snapshot, or when ``COMPACT_ROWS`` points are queued. So a
    batch costs no Python work per point, and thinning/pruning are a few vectorised operations.
    """

    connectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: pl.DataFrame = field(default_factory=empty_points)
    pending: list[pl.DataFrame] = field(default_factory=list)
    readings: int = 0
    dead_letters: int = 0
    event_time_us: int | None = None

    def apply(self, delta: LiveDelta, history_s: float) -> None:
        for key, fields in delta.connectors.items():
            self.connectors.setdefault(key, {}).update(fields)
        self.readings += delta.readings
        self.dead_letters += delta.dead_letters
        if delta.event_time_us is not None:
            self.event_time_us = max(self.event_time_us or delta.event_time_us, delta.event_time_us)
        if delta.points.height:
            self.pending.append(delta.points)
            if sum(p.height for p in self.pending) >= COMPACT_ROWS:
                self.compact(history_s)

    def compact(self, history_s: float) -> None:
        """Fold pending points in: the newest point per connector per bucket, within the window."""
        if not self.pending:
            return
        step_us = bucket_us(history_s)
        merged = pl.concat([self.history, *self.pending], rechunk=False)
        self.pending = []
        if self.event_time_us is not None:
            merged = merged.filter(pl.col("ts_us") >= self.event_time_us - int(history_s * 1e6))
        self.history = (
            merged.sort("ts_us", maintain_order=True)  # stable: equal times keep arrival order
            .with_columns((pl.col("ts_us") // step_us).alias("_bucket"))
            .unique([*_CONNECTOR, "_bucket"], keep="last")
            .drop("_bucket")
            .sort(*_CONNECTOR, "ts_us")
        )

    def points(self, key: str) -> list[tuple[int, float]]:
        """``(ts_us, power_w)`` of one connector's history, oldest first (after compaction)."""
        charger_id, connector_id = key.rsplit("/", 1)
        rows = (
            self.history.filter(
                (pl.col("charger_id") == charger_id) & (pl.col("connector_id") == int(connector_id))
            )
            .select("ts_us", "power_w")
            .rows()
        )
        return [(int(ts), float(w)) for ts, w in rows]

    def encode(self, generated_at: datetime, history_s: float) -> bytes:
        """The snapshot file's bytes; pydantic models only for the connectors (a few hundred)."""
        self.compact(history_s)
        snapshot = LiveSnapshot(
            generated_at=generated_at,
            event_time=_dt(self.event_time_us),
            connectors=[_connector(k, f) for k, f in sorted(self.connectors.items())],
            readings_total=self.readings,
            dead_letter_total=self.dead_letters,
        )
        return encode_snapshot(snapshot, power_history_json=history_json(self.history))


def history_json(history: pl.DataFrame) -> bytes:
    """``power_history`` as JSON: ``{key: [{"ts": ISO-8601 UTC, "power_w": W}, ...]}``.

    Encoded in bulk by polars (one string per connector, not one object per point); the result
    parses into the same :class:`~chargegrid.live.PowerPoint` values pydantic would have written.
    """
    if not history.height:
        return b"{}"
    key = pl.concat_str(
        [pl.col("charger_id"), pl.col("connector_id").cast(pl.String)], separator="/"
    )
    point = pl.struct(
        ts=pl.from_epoch("ts_us", "us").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"),
        power_w=pl.col("power_w"),
    ).struct.json_encode()
    per_key = (
        history.select(key.alias("key"), point.alias("point"))
        .group_by("key", maintain_order=True)
        .agg(pl.col("point").str.join(","))
    )
    parts = [
        orjson.dumps(key) + b":[" + points.encode() + b"]"
        for key, points in per_key.sort("key").iter_rows()
    ]
    return b"{" + b",".join(parts) + b"}"


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
            self._dirty = self._dirty or bool(
                delta.connectors or delta.points.height or delta.readings
            )
        now = self._sink.clock.now()
        due = self._written_at is None or (
            (now - self._written_at).total_seconds() >= self._sink.interval_s
        )
        if due and self._dirty:
            self._write(now)

    def _write(self, now: datetime) -> None:
        write_snapshot_bytes(self._view.encode(now, self._sink.history_s), self._sink.live_dir)
        self._written_at = now
        self._dirty = False
        self._sink.on_write(now)

    def snapshot(self) -> LiveView:
        self._view.compact(self._sink.history_s)
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
