"""Columnar batch records: what goes in comes out, in order; broken ones are refused by type."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chargegrid.eventbatch import (
    MAX_ROWS,
    BatchRecordError,
    decode_batch,
    encode_batch,
    expand,
    is_batch,
    row_count,
    seq_of,
    split_seq,
)
from chargegrid.eventlog import columnar_records, partition_for
from chargegrid.events import (
    METER_RECORD,
    MeterValue,
    TransactionEnded,
    TransactionStarted,
    encode,
)

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def _events(charger: str = "CH1") -> list[TransactionStarted | MeterValue | TransactionEnded]:
    return [
        TransactionStarted(
            charger_id=charger, ts=T0, connector_id=1, transaction_id="T1", meter_start_wh=5.0
        ),
        MeterValue(
            charger_id=charger,
            ts=T0 + timedelta(seconds=1, microseconds=250),
            connector_id=1,
            transaction_id="T1",
            energy_register_wh=15.5,
            power_w=7000.0,
            soc_pct=40.0,
        ),
        MeterValue(charger_id=charger, ts=T0 + timedelta(seconds=2), connector_id=2),
        TransactionEnded(
            charger_id=charger,
            ts=T0 + timedelta(seconds=3),
            connector_id=1,
            transaction_id="T1",
            meter_stop_wh=20.0,
            reason="EVDisconnected",
        ),
    ]


def test_round_trip_keeps_every_event_and_its_order() -> None:
    events = _events()
    record = encode_batch(events)
    assert is_batch(record) and row_count(record) == len(events)
    assert decode_batch(record).num_rows == len(events)
    assert [METER_RECORD.validate_json(p) for p in expand(record)] == events


def test_a_json_record_expands_to_itself() -> None:
    payload = encode(_events()[1])
    assert not is_batch(payload) and row_count(payload) == 1
    assert expand(payload) == [payload]


@pytest.mark.parametrize(
    "broken",
    [
        b"CGB1",  # header cut short
        b"CGB1\x02\x00\x00\x00not arrow at all",
        lambda good: good[: len(good) // 2],  # truncated stream
        lambda good: good[:4] + (99).to_bytes(4, "little") + good[8:],  # header count lies
    ],
)
def test_broken_batch_records_raise_a_typed_error(broken: object) -> None:
    good = encode_batch(_events())
    payload = broken(good) if callable(broken) else broken
    with pytest.raises(BatchRecordError):
        decode_batch(payload)


def test_a_batch_record_holds_at_least_one_and_at_most_max_rows() -> None:
    with pytest.raises(BatchRecordError):
        encode_batch([])
    with pytest.raises(BatchRecordError):
        encode_batch(_events()[1:2] * (MAX_ROWS + 1))


def test_sequence_numbers_order_rows_like_the_log() -> None:
    seqs = [seq_of(o, i) for o in (7, 8) for i in (0, 1, 2)]
    assert seqs == sorted(seqs)
    assert [split_seq(s) for s in seqs] == [(o, i) for o in (7, 8) for i in (0, 1, 2)]


def test_columnar_records_pack_per_partition_and_keep_each_partitions_order() -> None:
    chargers = [f"CH{i}" for i in range(12)]
    partitions = 3
    raw = (chargers[0], b'{"raw": true}')
    rows: list[tuple[str, bytes | MeterValue]] = []
    for k in range(3):
        rows += [(c, _events(c)[2].model_copy(update={"connector_id": k})) for c in chargers]
        if k == 1:
            rows.append(raw)  # a raw record splits its partition's run, order kept
    records = columnar_records(rows, partitions)
    # every partition's stream of events, read back, is its slice of the input, in order
    for p in range(partitions):
        sent = [
            r if isinstance(r, bytes) else encode(r)
            for key, r in rows
            if partition_for(key, partitions) == p
        ]
        got = [
            x
            for key, payload in records
            if partition_for(key, partitions) == p
            for x in expand(payload)
        ]
        assert [json.loads(x) for x in got] == [json.loads(x) for x in sent]
    assert len(records) == partitions + 1 + 1  # one run per partition, the raw record, a 2nd run


def test_a_stream_of_several_arrow_batches_decodes_whole() -> None:
    import pyarrow as pa

    from chargegrid.eventbatch import METER_WIRE

    events = _events()
    table = decode_batch(encode_batch(events))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, METER_WIRE) as writer:
        writer.write_batch(table.slice(0, 1))
        writer.write_batch(table.slice(1, 3))
    payload = b"CGB1" + len(events).to_bytes(4, "little") + sink.getvalue().to_pybytes()
    assert [METER_RECORD.validate_json(p) for p in expand(payload)] == events
