"""The embedded event log: SQLite (WAL) tables as append-only topic partitions.

Layout: one table per (topic, partition), ``log__<topic>__<p>`` with an AUTOINCREMENT rowid as the
offset (never reused, even after retention deletes rows). A consumer's position is the last offset
it has fully processed; the Bytewax source keeps it as its resume state and mirrors it into
``consumer_offsets`` so retention knows what may go.

Producers append in batches (one transaction per batch). A record's partition is a stable hash of
its key (the charger id), so one charger's records keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from chargegrid.errors import ChargegridError
from chargegrid.eventbatch import MAX_ROWS, encode_batch
from chargegrid.events import Topic, encode

SCHEMA_VERSION = "1"
_BINARY_AVERAGE = 1024  # bytes per record above which a read batch is taken as binary


class EventLogError(ChargegridError):
    """The event log cannot do what was asked (bad topic, partition count changed, ...)."""


@dataclass(frozen=True, slots=True)
class LogRecord:
    offset: int
    key: str
    appended_at_ms: int
    payload: bytes


def count_byte(data: bytes, byte: int) -> int:
    """Occurrences of one byte value in ``data`` (vectorised; ``bytes.count`` is ~3x slower)."""
    return int(np.count_nonzero(np.frombuffer(data, np.uint8) == byte))


class Payloads(Sequence[bytes]):
    """Consecutive payloads as ONE buffer joined by ``b"\\n"`` (the NDJSON layout), or as the
    list of payloads itself (*parts*) when they are large binary records.

    ``starts`` has ``len + 1`` entries: payload ``i`` is ``data[starts[i] : starts[i + 1] - 1]``
    (so ``starts[-1] == len(data) + 1``). Built from a record count alone when no payload holds a
    newline (then ``starts`` are the newline positions, found only if someone asks). Indexing
    returns ``bytes``; slicing returns a :class:`Payloads`. Holding a batch this way costs no
    Python object per record.

    Parts (:meth:`of_parts`): a read of columnar batch records (tens of kB each) keeps the records
    as they came from SQLite, and ``data`` joins them only if someone asks (the JSON path does;
    decoding batch records does not). Joining a read of 1,000 such records meant a fresh ~30 MB
    buffer per read (grown by SQLite's ``group_concat``, then copied), each page of it faulted in
    and zeroed by the kernel: ``bench_pipeline``'s ``log_read_readings_per_s`` (1.2M readings in
    6,000 records, 1,000 a read) was 6.2M/s joined and is 15.0M/s as parts.
    """

    __slots__ = ("_count", "_data", "_parts", "_single", "_starts")

    def __init__(self, data: bytes, starts: npt.NDArray[np.int64]) -> None:
        self._data: bytes | None = data
        self._parts: list[bytes] | None = None
        self._starts: npt.NDArray[np.int64] | None = starts
        self._count = len(starts) - 1
        self._single: bool | None = None

    @classmethod
    def from_lines(cls, data: bytes, count: int) -> Payloads | None:
        """``count`` newline-free payloads joined by ``b"\\n"``; None if ``data`` is not that."""
        if count_byte(data, _NEWLINE) != max(count - 1, 0) or (count == 0 and data):
            return None
        packed = cls.__new__(cls)
        packed._data, packed._parts, packed._starts = data, None, None
        packed._count, packed._single = count, True
        return packed

    @classmethod
    def of(cls, payloads: Sequence[bytes]) -> Payloads:
        """Pack individual payloads (any bytes, newlines included) into one buffer."""
        return cls(b"\n".join(payloads), _starts_of(payloads))

    @classmethod
    def of_parts(cls, parts: list[bytes]) -> Payloads:
        """Keep individual payloads as they are; :attr:`data` joins them on first use."""
        packed = cls.__new__(cls)
        packed._data, packed._parts, packed._starts = None, parts, None
        packed._count, packed._single = len(parts), None
        return packed

    @property
    def data(self) -> bytes:
        """Every payload, joined by ``b"\\n"``."""
        if self._data is None:
            assert self._parts is not None
            self._data = b"\n".join(self._parts)
        return self._data

    @property
    def starts(self) -> npt.NDArray[np.int64]:
        if self._starts is None:
            if self._parts is not None:
                self._starts = _starts_of(self._parts)
                return self._starts
            starts = np.empty(self._count + 1, np.int64)
            starts[0] = 0
            newlines = np.flatnonzero(np.frombuffer(self.data, np.uint8) == _NEWLINE)
            starts[1:-1] = newlines + 1
            starts[-1] = len(self.data) + 1
            self._starts = starts
        return self._starts

    @property
    def single_lines(self) -> bool:
        """No payload contains ``b"\\n"``: line ``i`` of :attr:`joined` is payload ``i``."""
        if self._single is None:
            self._single = count_byte(self.data, _NEWLINE) == max(self._count - 1, 0)
        return self._single

    def contains(self, needle: bytes) -> bool:
        """``needle`` occurs inside some payload (parts are not joined to find out)."""
        if self._parts is not None and self._data is None:
            return any(needle in part for part in self._parts)
        return needle in self.data

    def views(self) -> Iterator[bytes | memoryview]:
        """Each payload without copying it: the part itself, or a view of the joined buffer."""
        if self._parts is not None:
            yield from self._parts
            return
        view, starts = memoryview(self.data), self.starts.tolist()
        for a, b in itertools.pairwise(starts):
            yield view[a : b - 1]

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> Payloads: ...

    def __getitem__(self, index: int | slice) -> bytes | Payloads:
        if isinstance(index, slice):
            lo, hi, step = index.indices(len(self))
            if step != 1:
                return Payloads.of([self[i] for i in range(lo, hi, step)])
            hi = max(lo, hi)
            if self._parts is not None:
                return Payloads.of_parts(self._parts[lo:hi])
            begin, end = int(self.starts[lo]), int(self.starts[hi])
            return Payloads(
                self.data[begin : max(begin, end - 1)], self.starts[lo : hi + 1] - begin
            )
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            msg = f"payload index {index} out of range 0..{n - 1}"
            raise IndexError(msg)
        if self._parts is not None:
            return self._parts[index]
        return self.data[int(self.starts[index]) : int(self.starts[index + 1]) - 1]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Payloads):
            return self.data == other.data and bool(np.array_equal(self.starts, other.starts))
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Payloads({len(self)} records, {max(int(self.starts[-1]) - 1, 0)} bytes)"

    @property
    def joined(self) -> bytes:
        """Every payload, joined by ``b"\\n"`` (no copy unless held as parts)."""
        return self.data


def _as_bytes(payload: bytes | str) -> bytes:
    """A stored payload as bytes (a producer that bound ``str`` stored TEXT)."""
    return payload if isinstance(payload, bytes) else payload.encode()


def _starts_of(payloads: Sequence[bytes]) -> npt.NDArray[np.int64]:
    lengths = np.fromiter((len(p) + 1 for p in payloads), np.int64, len(payloads))
    starts = np.zeros(len(payloads) + 1, np.int64)
    np.cumsum(lengths, out=starts[1:])
    return starts


_NO_OFFSETS: npt.NDArray[np.int64] = np.zeros(0, np.int64)
_NEWLINE = 0x0A


def table_name(topic: Topic | str, partition: int) -> str:
    return f"log__{Topic(topic).value}__{partition}"


def partition_for(key: str, partitions: int) -> int:
    """Stable partition of a key (crc32, identical in every process and run)."""
    return zlib.crc32(key.encode()) % partitions


class EventLog:
    """Append-only partitioned topics in one SQLite file. Safe to share between threads."""

    def __init__(self, path: Path, partitions: int = 1, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self.partitions = self._init_schema(partitions)

    def _init_schema(self, partitions: int) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
                row = self._db.execute("SELECT v FROM meta WHERE k='partitions'").fetchone()
                if row is None:
                    self._db.executemany(
                        "INSERT INTO meta VALUES (?, ?)",
                        [("partitions", str(partitions)), ("schema", SCHEMA_VERSION)],
                    )
                else:
                    partitions = int(row[0])
                for topic in Topic:
                    for p in range(partitions):
                        self._db.execute(
                            f"CREATE TABLE IF NOT EXISTS {table_name(topic, p)} ("
                            "offset INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, "
                            "appended_at_ms INTEGER NOT NULL, payload BLOB NOT NULL)"
                        )
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS consumer_offsets (group_id TEXT, topic TEXT, "
                    "partition INTEGER, committed_offset INTEGER NOT NULL, "
                    "PRIMARY KEY (group_id, topic, partition))"
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return partitions

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- producing -------------------------------------------------------------------------

    def append(
        self, topic: Topic | str, records: Iterable[tuple[str, bytes]], *, now_ms: int
    ) -> int:
        """Append ``(key, payload)`` records in one transaction; returns how many."""
        by_part: dict[int, list[tuple[str, int, bytes]]] = {}
        for key, payload in records:
            by_part.setdefault(partition_for(key, self.partitions), []).append(
                (key, now_ms, payload)
            )
        count = sum(len(rows) for rows in by_part.values())
        if not count:
            return 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for p, rows in by_part.items():
                    self._db.executemany(
                        f"INSERT INTO {table_name(topic, p)} (key, appended_at_ms, payload) "
                        "VALUES (?, ?, ?)",
                        rows,
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return count

    # -- consuming -------------------------------------------------------------------------

    def read(
        self, topic: Topic | str, partition: int, after_offset: int, limit: int
    ) -> list[LogRecord]:
        """Up to ``limit`` records with offset > ``after_offset``, in offset order."""
        self._check_partition(partition)
        with self._lock:
            rows = self._db.execute(
                f"SELECT offset, key, appended_at_ms, payload FROM {table_name(topic, partition)} "
                "WHERE offset > ? ORDER BY offset LIMIT ?",
                (after_offset, limit),
            ).fetchall()
        return [LogRecord(o, k, t, bytes(p)) for o, k, t, p in rows]

    def read_columns(
        self, topic: Topic | str, partition: int, after_offset: int, limit: int
    ) -> tuple[list[int], list[bytes]]:
        """Like :meth:`read` but only offsets and payloads, as two lists (the fast path)."""
        self._check_partition(partition)
        with self._lock:
            rows = self._db.execute(
                f"SELECT offset, payload FROM {table_name(topic, partition)} "
                "WHERE offset > ? ORDER BY offset LIMIT ?",
                (after_offset, limit),
            ).fetchall()
        if not rows:
            return [], []
        offsets, payloads = zip(*rows, strict=True)
        return list(offsets), list(payloads)

    def read_batch(
        self, topic: Topic | str, partition: int, after_offset: int, limit: int
    ) -> tuple[npt.NDArray[np.int64], Payloads]:
        """Like :meth:`read_columns`, in bulk: ``(offsets, payloads)``, no Python object per record.

        The first record's size decides how. Small records (JSON) are concatenated by one SQLite
        aggregate over a rowid range (in rowid order: the table has no other index, so a
        rowid-range scan is the only plan); offsets come from ``min``/``max``/``count`` when
        contiguous, and record boundaries are the newlines when no payload contains one (counted
        here, located only if needed). Gaps (retention) or payloads with newlines take an exact
        query in the same read transaction. A batch larger than SQLite's string limit is halved.
        A large first record (a columnar batch record: over ``_BINARY_AVERAGE`` bytes) means the
        range is read row by row and kept as parts (:meth:`Payloads.of_parts`): a few thousand
        Python objects per million readings, and no fresh buffer the size of the batch. (Sizing
        the whole range first cost JSON reads a second scan: +30 % per 200k records.)
        """
        self._check_partition(partition)
        table = table_name(topic, partition)
        while True:
            with self._lock:
                self._db.execute("BEGIN")
                try:
                    return self._read_batch(table, after_offset, limit)
                except sqlite3.DataError:
                    if limit <= 1:
                        raise
                finally:
                    self._db.execute("COMMIT")
            limit = max(1, limit // 2)

    def _read_batch(
        self, table: str, after_offset: int, limit: int
    ) -> tuple[npt.NDArray[np.int64], Payloads]:
        head = self._db.execute(  # length() of a blob reads no overflow page
            f"SELECT offset, length(payload) FROM {table} WHERE offset > ? ORDER BY offset LIMIT 1",
            (after_offset,),
        ).fetchone()
        if head is None:
            return _NO_OFFSETS, Payloads(b"", np.zeros(1, np.int64))
        first, first_size = head
        span = (first, first + limit - 1)
        if first_size > _BINARY_AVERAGE:
            rows = self._db.execute(
                f"SELECT offset, payload FROM {table} WHERE offset BETWEEN ? AND ? ORDER BY offset",
                span,
            ).fetchall()
            offsets = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            return offsets, Payloads.of_parts([_as_bytes(r[1]) for r in rows])
        count, last, data = self._db.execute(
            f"SELECT count(*), max(offset), CAST(group_concat(payload, x'0a') AS BLOB) "
            f"FROM {table} WHERE offset BETWEEN ? AND ?",
            span,
        ).fetchone()
        if count == last - first + 1:
            offsets = np.arange(first, last + 1, dtype=np.int64)
        else:
            offsets = self._column(table, "offset", first, last)
        # Large average records (small ones first, then batch records: binary, newlines likely):
        # their lengths cost one row each, far less than counting newlines in the whole buffer.
        packed = None if len(data) > _BINARY_AVERAGE * count else Payloads.from_lines(data, count)
        if packed is not None:
            return offsets, packed
        starts = np.zeros(count + 1, np.int64)
        np.cumsum(self._column(table, "length(payload)", first, last) + 1, out=starts[1:])
        return offsets, Payloads(data, starts)

    def _column(self, table: str, expr: str, first: int, last: int) -> npt.NDArray[np.int64]:
        rows = self._db.execute(
            f"SELECT {expr} FROM {table} WHERE offset BETWEEN ? AND ? ORDER BY offset",
            (first, last),
        ).fetchall()
        return np.array([r[0] for r in rows], np.int64)

    def end_offset(self, topic: Topic | str, partition: int) -> int:
        """Highest offset ever appended to the partition (0 when empty), retention included."""
        self._check_partition(partition)
        with self._lock:
            row = self._db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = ?", (table_name(topic, partition),)
            ).fetchone()
        return int(row[0]) if row else 0

    def commit(self, group_id: str, topic: Topic | str, partition: int, offset: int) -> None:
        """Record that ``group_id`` has durably processed everything up to ``offset``."""
        with self._lock:
            self._db.execute(
                "INSERT INTO consumer_offsets VALUES (?, ?, ?, ?) "
                "ON CONFLICT (group_id, topic, partition) DO UPDATE SET "
                "committed_offset = MAX(committed_offset, excluded.committed_offset)",
                (group_id, Topic(topic).value, partition, offset),
            )

    def committed(self, group_id: str, topic: Topic | str, partition: int) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT committed_offset FROM consumer_offsets "
                "WHERE group_id=? AND topic=? AND partition=?",
                (group_id, Topic(topic).value, partition),
            ).fetchone()
        return int(row[0]) if row else 0

    def lag(self, group_id: str) -> int:
        """Records appended but not yet committed by ``group_id``, over all topics."""
        return sum(
            self.end_offset(t, p) - self.committed(group_id, t, p)
            for t in Topic
            for p in range(self.partitions)
        )

    def retain(self, *, now_ms: int, retention_s: float) -> int:
        """Delete records every consumer group has committed and that are older than retention.

        Returns the number of rows deleted. With no consumer group registered nothing goes.
        """
        cutoff_ms = now_ms - int(retention_s * 1000)
        deleted = 0
        with self._lock:
            for topic in Topic:
                for p in range(self.partitions):
                    row = self._db.execute(
                        "SELECT MIN(committed_offset) FROM consumer_offsets "
                        "WHERE topic=? AND partition=?",
                        (topic.value, p),
                    ).fetchone()
                    if row is None or row[0] is None:
                        continue
                    cur = self._db.execute(
                        f"DELETE FROM {table_name(topic, p)} "
                        "WHERE offset <= ? AND appended_at_ms <= ?",
                        (int(row[0]), cutoff_ms),
                    )
                    deleted += cur.rowcount
        return deleted

    def _check_partition(self, partition: int) -> None:
        if not 0 <= partition < self.partitions:
            msg = f"partition {partition} out of range 0..{self.partitions - 1}"
            raise EventLogError(msg)


class BatchingProducer:
    """Collects records from asyncio code and appends them in batches from a worker thread.

    ``flush_interval_s`` bounds the latency a record waits; ``max_batch`` bounds a transaction.
    ``now_ms`` is the clock used for ``appended_at_ms``. Records come as raw bytes (:meth:`put`)
    or as event models (:meth:`put_event`); with ``columnar`` (the default) each flush writes the
    ``meter_readings`` events of one partition as ONE batch record
    (:mod:`chargegrid.eventbatch`), other events as one JSON record each. Encoding happens in the
    worker thread, off the event loop.
    """

    def __init__(
        self,
        log: EventLog,
        now_ms: Callable[[], int],
        *,
        flush_interval_s: float = 0.05,
        max_batch: int = 5000,
        columnar: bool = True,
    ) -> None:
        self._log = log
        self._now_ms = now_ms
        self._interval = flush_interval_s
        self._max = max_batch
        self._columnar = columnar
        self._pending: dict[Topic, list[tuple[str, bytes | BaseModel]]] = {}
        self._count = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.appended = 0  # events appended (a batch record counts its rows)

    def put(self, topic: Topic, key: str, payload: bytes) -> None:
        self._put(topic, key, payload)

    def put_event(self, topic: Topic, key: str, event: BaseModel) -> None:
        self._put(topic, key, event)

    def _put(self, topic: Topic, key: str, item: bytes | BaseModel) -> None:
        self._pending.setdefault(topic, []).append((key, item))
        self._count += 1
        if self._count >= self._max:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Append everything pending now (in a thread, so the event loop keeps serving)."""
        if not self._count:
            return
        pending, self._pending, self._count = self._pending, {}, 0
        now_ms = self._now_ms()
        for topic, rows in pending.items():
            self.appended += await asyncio.to_thread(self._append, topic, rows, now_ms)

    def _append(self, topic: Topic, rows: list[tuple[str, bytes | BaseModel]], now_ms: int) -> int:
        records = self._records(topic, rows)
        self._log.append(topic, records, now_ms=now_ms)
        return len(rows)

    def _records(
        self, topic: Topic, rows: list[tuple[str, bytes | BaseModel]]
    ) -> list[tuple[str, bytes]]:
        if self._columnar and topic is Topic.meter_readings:
            return columnar_records(rows, self._log.partitions)
        return [(k, r if isinstance(r, bytes) else encode(r)) for k, r in rows]

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.flush()


def columnar_records(
    rows: Sequence[tuple[str, bytes | BaseModel]], partitions: int
) -> list[tuple[str, bytes]]:
    """``(key, record)`` pairs for :meth:`EventLog.append`: the consecutive ``meter_readings``
    events of each partition packed into batch records (:mod:`chargegrid.eventbatch`), raw
    bytes kept as they are. Each partition's order is kept; partitions are independent."""
    out: list[tuple[str, bytes]] = []
    runs: dict[int, tuple[str, list[Any]]] = {}  # partition -> (a key of it, pending events)

    def close_run(partition: int) -> None:
        key, events = runs.pop(partition)
        out.append((key, encode_batch(events)))

    for key, item in rows:
        partition = partition_for(key, partitions)
        if isinstance(item, bytes):
            if partition in runs:
                close_run(partition)
            out.append((key, item))
            continue
        run = runs.setdefault(partition, (key, []))
        run[1].append(item)
        if len(run[1]) >= MAX_ROWS:
            close_run(partition)
    for partition in list(runs):
        close_run(partition)
    return out


def append_jsonl(
    log: EventLog,
    topic: Topic,
    lines: Sequence[bytes],
    key_of: Callable[[bytes], str],
    *,
    now_ms: int,
) -> int:
    """Append raw JSON lines as they are (the pipeline judges them); key by ``key_of(line)``."""
    return log.append(topic, ((key_of(line), line) for line in lines), now_ms=now_ms)
