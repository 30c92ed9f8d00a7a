"""Columnar batch records: many meter records in ONE event-log record, as Arrow IPC.

A producer that sees many readings at once (the central system's :class:`BatchingProducer`)
writes each flush's ``meter_readings`` records of one partition as one *batch record* instead of
one JSON object per reading: decoding a batch is a memory map, not a parse, which is what lets the
pipeline drain a million readings a second. Single JSON records stay valid on the same topic
(``chargegrid publish``, replays, third-party producers): a consumer tells them apart by the first
four bytes.

Layout: ``MAGIC`` (4 bytes) + row count (uint32, little endian) + an Arrow IPC stream whose
schema is :data:`METER_WIRE` (the union of the ``meter_readings`` kinds' fields, ``ts`` as UTC
microseconds). Row order is log order: rows of one record are consecutive, in the order the
producer received them.

A row inside a batch record is addressed by ``(log offset, index)``; the pipeline packs both into
one int64 *sequence number* (:func:`seq_of`), which orders rows exactly like the log does.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from chargegrid.errors import ChargegridError
from chargegrid.events import MeterValue, TransactionEnded, TransactionStarted, iso

MAGIC = b"CGB1"
_HEADER = struct.Struct("<4sI")
INDEX_BITS = 20  # rows per batch record < 2**20; offsets < 2**43
INDEX_MASK = (1 << INDEX_BITS) - 1
MAX_ROWS = 1 << 16  # what producers put in one record

METER_WIRE = pa.schema(
    [
        ("kind", pa.string()),
        ("charger_id", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("connector_id", pa.int64()),
        ("transaction_id", pa.string()),
        ("meter_start_wh", pa.float64()),
        ("id_tag", pa.string()),
        ("protocol", pa.string()),
        ("energy_register_wh", pa.float64()),
        ("power_w", pa.float64()),
        ("current_a", pa.float64()),
        ("voltage_v", pa.float64()),
        ("soc_pct", pa.float64()),
        ("context", pa.string()),
        ("meter_stop_wh", pa.float64()),
        ("reason", pa.string()),
    ]
)

MeterEvent = TransactionStarted | MeterValue | TransactionEnded


class BatchRecordError(ChargegridError):
    """A record that starts like a batch record but is not a readable one."""


def is_batch(payload: bytes | memoryview) -> bool:
    return bytes(payload[:4]) == MAGIC


def seq_of(offset: int, index: int = 0) -> int:
    """One int64 for (log offset, row index): orders rows as the log does."""
    return (offset << INDEX_BITS) | index


def seqs_of(
    offsets: npt.NDArray[np.int64], index: npt.NDArray[np.int64] | None = None
) -> npt.NDArray[np.int64]:
    """:func:`seq_of` over arrays (``index`` 0 when omitted)."""
    seqs = np.left_shift(np.asarray(offsets, np.int64), INDEX_BITS)
    return seqs if index is None else seqs | index


def split_seq(seq: int) -> tuple[int, int]:
    return seq >> INDEX_BITS, seq & INDEX_MASK


def encode_batch(events: Sequence[MeterEvent]) -> bytes:
    """One batch record holding ``events`` (``meter_readings`` records, in order)."""
    if not 0 < len(events) <= MAX_ROWS:
        msg = f"a batch record holds 1..{MAX_ROWS} records, not {len(events)}"
        raise BatchRecordError(msg)
    columns = {name: [getattr(e, name, None) for e in events] for name in METER_WIRE.names}
    table = pa.Table.from_pydict(columns, schema=METER_WIRE)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, METER_WIRE) as writer:
        writer.write_table(table)
    return _HEADER.pack(MAGIC, len(events)) + sink.getvalue().to_pybytes()


def row_count(payload: bytes) -> int:
    """Rows in a batch record (from its header), 1 for any other record."""
    if not is_batch(payload) or len(payload) < _HEADER.size:
        return 1
    return int(_HEADER.unpack_from(payload)[1])


def _schema_prefix() -> bytes:
    """The bytes every :func:`encode_batch` stream starts with: its schema message."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, METER_WIRE):
        pass
    end = pa.ipc.read_message(pa.BufferReader(sink.getvalue()))
    return sink.getvalue().to_pybytes()[: _message_size(end)]


def _message_size(message: pa.ipc.Message) -> int:
    stream = pa.BufferOutputStream()
    message.serialize_to(stream)
    return len(stream.getvalue())


_PREFIX = _schema_prefix()
_BODY_AT = _HEADER.size + len(_PREFIX)


def decode_batch(payload: bytes | memoryview) -> pa.RecordBatch:
    """The rows of a batch record, in :data:`METER_WIRE`; :class:`BatchRecordError` if it is
    truncated, not Arrow, of another schema, or its header count disagrees with its rows.

    A record whose stream starts with the schema message producers write (the usual case) is read
    as that one record-batch message against the known schema, without parsing the schema again;
    any other stream takes the general reader and its checks."""
    if len(payload) < _HEADER.size or not is_batch(payload):
        msg = "not a batch record (no CGB1 header)"
        raise BatchRecordError(msg)
    count = _HEADER.unpack_from(payload)[1]
    if payload[_HEADER.size : _BODY_AT] == _PREFIX:
        try:
            batch = pa.ipc.read_record_batch(pa.py_buffer(payload)[_BODY_AT:], METER_WIRE)
        except (pa.ArrowInvalid, OSError):
            pass  # truncated or not one batch: the general reader says what is wrong
        else:
            if batch.num_rows == count and count <= INDEX_MASK:
                return batch
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(payload)[_HEADER.size :])
        if not reader.schema.equals(METER_WIRE):
            msg = f"batch record schema differs from the meter wire schema: {reader.schema}"
            raise BatchRecordError(msg)
        batch = reader.read_next_batch()  # what producers write: one batch per record
        if batch.num_rows != count:  # any other stream: all of it, then the count must match
            rest = reader.read_all()
            if rest.num_rows:
                table = pa.concat_tables([pa.Table.from_batches([batch]), rest])
                batch = table.combine_chunks().to_batches()[0]
    except (pa.ArrowInvalid, OSError, StopIteration) as exc:
        msg = f"batch record is not a readable Arrow stream: {exc!r}"
        raise BatchRecordError(msg) from exc
    if batch.num_rows != count or count > INDEX_MASK:
        msg = f"batch record header says {count} rows, the stream holds {batch.num_rows}"
        raise BatchRecordError(msg)
    return batch


def json_record(row: dict[str, Any]) -> bytes:
    """A decoded row as a JSON record (null fields left out, ``NaN`` kept as ``NaN`` so the
    pipeline's verdict on it is the one it would give the value itself)."""
    fields = {k: iso(v) if isinstance(v, datetime) else v for k, v in row.items() if v is not None}
    return json.dumps(fields, separators=(",", ":")).encode()


def row_json(table: pa.RecordBatch, index: int) -> bytes:
    """Row ``index`` of a decoded batch as the JSON record a single-record producer would write
    (null fields left out): what dead letters keep as ``raw`` and what JSON consumers read."""
    return json_record(table.slice(index, 1).to_pylist()[0])


def expand(payload: bytes) -> list[bytes]:
    """The JSON records a log record stands for: itself, or every row of a batch record."""
    if not is_batch(payload):
        return [payload]
    return [json_record(row) for row in decode_batch(payload).to_pylist()]
