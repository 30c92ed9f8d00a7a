"""Bytewax source over the embedded event log: one partition per (topic, log partition).

Each ``next_batch`` reads up to ``batch_rows`` records with
:meth:`~chargegrid.eventlog.EventLog.read_batch` and emits ONE :class:`LogBatch` (Python costs
about 1 µs per item per operator, so items are micro-batches, not records): the offsets as a NumPy
array and the payloads as one newline-joined buffer, so no Python object exists per record. When
the log is empty it emits an empty batch (a *tick*) at most every ``tick_s`` so time-driven steps
downstream (sink flushes, the live snapshot) run while nothing arrives, and sleeps ``idle_s``
between polls.

While a batch is processed, the next one is read in a thread (SQLite releases the GIL) when the
last read came back full, and its columnar batch records decoded there too
(:func:`pipeline.parse.decode_records`; concatenating them releases the GIL as well).
A read asks for about ``batch_rows`` rows: fewer records when they are columnar batch records.

Resume state is the last consumed offset (emitted, not read ahead). The same offset is mirrored
into the log's
``consumer_offsets`` (group ``pipeline``) for retention, two snapshots late: a snapshot is only
durable once Bytewax commits its epoch, and retention must never delete a record a resumed run may
re-read.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from chargegrid.clock import Clock, SystemClock
from chargegrid.eventbatch import MAGIC, row_count
from chargegrid.eventlog import EventLog, Payloads
from chargegrid.events import Topic
from pipeline.parse import METER_SPEC, Decoded, decode_records

GROUP_ID = "pipeline"
Read = tuple[npt.NDArray[np.int64], Payloads, Decoded | None]
FIRST_READ = 64  # records; enough to learn how many rows a record holds
TOPICS = (Topic.meter_readings, Topic.connector_status, Topic.order_events, Topic.dead_letter)


@dataclass(slots=True)
class LogBatch:
    """Consecutive records of one (topic, log partition); empty = a tick."""

    topic: str
    partition: int
    offsets: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    payloads: Payloads = field(default_factory=lambda: Payloads.of([]))
    decoded: Decoded | None = None  # its batch records, decoded while the last batch was processed

    def __len__(self) -> int:
        return len(self.offsets)


@dataclass(frozen=True)
class SourceConfig:
    log_path: Path  # the SQLite event log
    partitions: int  # used only if the log does not exist yet
    until_drained: Callable[[], bool]  # True once the source may stop at the end of the log
    batch_rows: int = 20_000
    idle_s: float = 0.05
    tick_s: float = 0.25
    retention_s: float = 3600.0
    retain_every_s: float = 30.0
    clock: Clock = field(default_factory=SystemClock)


def part_name(topic: Topic, partition: int) -> str:
    return f"{topic.value}:{partition}"


class LogPartition(StatefulSourcePartition[LogBatch, int]):
    def __init__(self, config: SourceConfig, topic: Topic, partition: int, after: int) -> None:
        self._config = config
        self._log = EventLog(config.log_path, config.partitions)
        self._topic = topic
        self._partition = partition
        self._offset = after
        self._awake: datetime | None = None
        self._last_emit = time.monotonic()
        self._pending_commits: deque[int] = deque(maxlen=3)
        self._retains = topic is TOPICS[0] and partition == 0
        self._last_retain = time.monotonic()
        # records per read: start small until the first read shows whether they are batches
        self._limit = min(config.batch_rows, FIRST_READ)
        self._reader = ThreadPoolExecutor(1, thread_name_prefix=f"log-{topic.value}-{partition}")
        self._ahead: Future[Read] | None = None

    def _read(self, after: int, limit: int) -> Read:
        offsets, payloads = self._log.read_batch(self._topic, self._partition, after, limit)
        decoded = None
        if self._topic is Topic.meter_readings and payloads.contains(MAGIC):
            decoded = decode_records(offsets, payloads, METER_SPEC)
        return offsets, payloads, decoded

    def next_batch(self) -> list[LogBatch]:
        if self._ahead is not None:
            offsets, payloads, decoded = self._ahead.result()
            self._ahead = None
        else:
            offsets, payloads, decoded = self._read(self._offset, self._limit)
        now = time.monotonic()
        if len(offsets):
            full = len(offsets) >= self._limit
            self._offset = int(offsets[-1])
            self._awake = None
            self._last_emit = now
            self._limit = _next_limit(payloads, self._config.batch_rows, self._limit)
            if full:  # more is likely waiting: read it while this batch is processed
                self._ahead = self._reader.submit(self._read, self._offset, self._limit)
            return [LogBatch(self._topic.value, self._partition, offsets, payloads, decoded)]
        if self._offset >= self._log.end_offset(self._topic, self._partition) and (
            self._config.until_drained()
        ):
            raise StopIteration
        self._awake = self._config.clock.now() + timedelta(seconds=self._config.idle_s)
        if now - self._last_emit >= self._config.tick_s:
            self._last_emit = now
            return [LogBatch(self._topic.value, self._partition)]
        return []

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> int:
        self._pending_commits.append(self._offset)
        if len(self._pending_commits) == self._pending_commits.maxlen:
            self._log.commit(GROUP_ID, self._topic, self._partition, self._pending_commits[0])
        if self._retains and time.monotonic() - self._last_retain >= self._config.retain_every_s:
            self._last_retain = time.monotonic()
            now_ms = int(self._config.clock.now().timestamp() * 1000)
            self._log.retain(now_ms=now_ms, retention_s=self._config.retention_s)
        return self._offset

    def close(self) -> None:
        self._reader.shutdown(wait=True)
        self._log.close()


def _next_limit(payloads: Payloads, batch_rows: int, previous: int | None = None) -> int:
    """Records to read next so a batch holds about ``batch_rows`` rows: columnar batch records
    (:mod:`chargegrid.eventbatch`) hold many rows each; their headers say how many. At most four
    times the ``previous`` limit: a read of single records (say, the starts before a flood of
    batch records) says nothing of what follows, so the limit grows step by step."""
    grow = batch_rows if previous is None else 4 * previous
    if not payloads.contains(MAGIC):
        return min(batch_rows, grow)
    rows = sum(row_count(bytes(p[:8])) for p in payloads.views())
    return max(1, min(batch_rows, grow, batch_rows * len(payloads) // max(rows, 1)))


class LogSource(FixedPartitionedSource[LogBatch, int]):
    """Every (topic, partition) of the event log, resumed from the last consumed offset."""

    def __init__(self, config: SourceConfig, topics: tuple[Topic, ...] = TOPICS) -> None:
        self._config = config
        self._topics = topics

    def list_parts(self) -> list[str]:
        with EventLog(self._config.log_path, self._config.partitions) as log:
            partitions = log.partitions
        return [part_name(t, p) for t in self._topics for p in range(partitions)]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> LogPartition:
        topic, partition = for_part.rsplit(":", 1)
        return LogPartition(self._config, Topic(topic), int(partition), resume_state or 0)
