"""Bytewax sink into the Parquet lake: one sink partition per table, idempotent across resume.

Idempotency scheme. Each table's sink partition numbers its files (``pipeline-<seq>.parquet``,
see :mod:`warehouse.lake`); its resume state is ``(next_seq, carried rows)``.

* Bytewax snapshots a sink at the end of an epoch, after every write of that epoch; on resume it
  replays the input from that epoch on. So files numbered ``>= next_seq`` of the resume state were
  written by epochs that will be replayed: :meth:`LakeSink.build_part` deletes them before anything
  is written again (no resume state at all = nothing committed = delete every pipeline file).
  Every row therefore lands in the lake exactly once, however often the run dies and resumes.
* Rows are buffered and written as one file per date per flush (not one per reading). A flush
  happens when ``flush_rows`` are buffered, and at a snapshot when the buffer is older than
  ``max_age_s`` or larger than ``carry_rows``; otherwise the few buffered rows ride along in the
  snapshot (Arrow IPC bytes) instead of becoming a tiny file every epoch. Carried rows are as
  durable as the epoch, and a reader sees any row at most ``max_age_s`` (plus an epoch) late.
* Files are written under a temporary name and renamed, so readers never see a partial file; a
  crash leaves at most a stray temporary, removed on resume.
* Files are written by one background thread (Parquet encoding and compression release the GIL,
  so the flow goes on with the next batch meanwhile); a snapshot, and the close, wait for every
  write handed over before it, so a snapshot never names a file that is not on disk yet.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from chargegrid.clock import Clock
from warehouse import lake
from warehouse.schema import TABLES


@dataclass(frozen=True, slots=True)
class SinkState:
    next_seq: int
    carried: bytes | None  # Arrow IPC stream of buffered rows, or None


@dataclass(frozen=True)
class SinkConfig:
    lake_dir: Path
    clock: Clock
    flush_rows: int = 250_000
    carry_rows: int = 20_000
    max_age_s: float = 5.0


# The one thread that writes lake files for every sink partition of this process (started on
# first use).
_WRITER = ThreadPoolExecutor(1, thread_name_prefix="lake-writer")


def _to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


class LakePartition(StatefulSinkPartition[pa.Table, SinkState]):
    def __init__(self, config: SinkConfig, table: str, state: SinkState) -> None:
        self._config = config
        self._table = table
        self._schema = TABLES[table]
        self._seq = state.next_seq
        self._pending: list[pa.Table] = []
        self._rows = 0
        self._since = config.clock.now()
        self._writing: list[Future[list[Path]]] = []
        if state.carried is not None:
            self._add(_from_ipc(state.carried))

    def _add(self, rows: pa.Table) -> None:
        if not self._rows:
            self._since = self._config.clock.now()
        self._pending.append(rows)
        self._rows += rows.num_rows

    def write_batch(self, values: list[pa.Table]) -> None:
        for rows in values:
            if rows.num_rows:
                self._add(rows)
        if self._rows >= self._config.flush_rows or self._too_old():
            self.flush()

    def _too_old(self) -> bool:
        age_s = (self._config.clock.now() - self._since).total_seconds()
        return self._rows > 0 and age_s >= self._config.max_age_s

    def flush(self) -> None:
        if not self._rows:
            return
        rows = pa.concat_tables(self._pending)  # no copy: the writer spans chunks in a row group
        self._writing.append(
            _WRITER.submit(
                lake.write_pipeline_files, self._config.lake_dir, self._table, rows, self._seq
            )
        )
        self._seq += 1
        self._pending, self._rows = [], 0

    def _written(self) -> None:
        """Wait for the files handed to the writer; a failed write fails the flow here."""
        writing, self._writing = self._writing, []
        for future in writing:
            future.result()

    def snapshot(self) -> SinkState:
        if self._rows > self._config.carry_rows or self._too_old():
            self.flush()
        self._written()
        if not self._rows:
            return SinkState(self._seq, None)
        return SinkState(self._seq, _to_ipc(pa.concat_tables(self._pending)))

    def close(self) -> None:
        self.flush()
        self._written()


class LakeSink(FixedPartitionedSink[pa.Table, SinkState]):
    """Items are ``(table name, rows with that table's schema)``."""

    def __init__(self, config: SinkConfig) -> None:
        self._config = config
        self._parts = sorted(TABLES)

    def list_parts(self) -> list[str]:
        return list(self._parts)

    def part_fn(self, item_key: str) -> int:
        return self._parts.index(item_key)

    def build_part(
        self, step_id: str, for_part: str, resume_state: SinkState | None
    ) -> LakePartition:
        state = resume_state or SinkState(0, None)
        lake.discard_from(self._config.lake_dir, for_part, state.next_seq)
        return LakePartition(self._config, for_part, state)
