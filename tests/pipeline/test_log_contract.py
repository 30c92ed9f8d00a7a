"""One contract for every event-log adapter: SQLite and Kafka, the same cases.

Kafka cases run against the broker ``CHARGEGRID_KAFKA_BOOTSTRAP=host:port`` names, else against
librdkafka's mock cluster on loopback (``tests/pipeline/kafka_mock.py``); each test uses fresh
topics under a random prefix. The pipeline-source cases also run against a broker-free stand-in
for bytewax's Kafka partition, so the Kafka source's batching, ticks and drain logic are
exercised without any broker too.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bytewax.connectors.kafka import KafkaSourceMessage

from chargegrid.clock import SystemClock
from chargegrid.eventlog import EventLog, EventLogError, partition_for
from chargegrid.events import Topic, encode
from chargegrid.settings import Settings, load_settings
from pipeline.kafka import KafkaConfig, KafkaLogPartition, KafkaLogSource
from pipeline.logs import PartitionedLog, open_log
from pipeline.source import LogBatch, LogPartition, SourceConfig, part_name
from tests.pipeline.kafka_mock import KafkaBroker

PARTITIONS = 3
KEYS = [f"CH{i:03d}" for i in range(12)]


def _settings(tmp_path: Path, adapter: str, broker: KafkaBroker | None = None) -> Settings:
    if adapter == "kafka":
        assert broker is not None
        prefix = f"cgtest.{uuid.uuid4().hex[:10]}."
        broker.create_topics(prefix, PARTITIONS)
        return load_settings(
            data_dir=tmp_path / "var",
            log_partitions=PARTITIONS,
            event_log="kafka",
            kafka_bootstrap=broker.bootstrap,
            kafka_topic_prefix=prefix,
        )
    return load_settings(data_dir=tmp_path / "var", log_partitions=PARTITIONS)


@pytest.fixture(params=["sqlite", "kafka"])
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def broker(request: pytest.FixtureRequest, adapter: str) -> KafkaBroker | None:
    """The session's Kafka broker for Kafka cases (started on first use), None for SQLite."""
    return request.getfixturevalue("kafka_broker") if adapter == "kafka" else None


@pytest.fixture
def log_settings(tmp_path: Path, adapter: str, broker: KafkaBroker | None) -> Settings:
    return _settings(tmp_path, adapter, broker)


@pytest.fixture
def log(log_settings: Settings) -> Iterator[PartitionedLog]:
    opened = open_log(log_settings)
    try:
        yield opened
    finally:
        opened.close()


def _records(rounds: int = 5) -> list[tuple[str, bytes]]:
    return [(k, f'{{"k":"{k}","n":{n}}}'.encode()) for n in range(rounds) for k in KEYS]


def _read_all(log: PartitionedLog, topic: Topic, partition: int, after: int = 0) -> list[Any]:
    offsets, payloads = log.read_batch(topic, partition, after, 1_000_000)
    return list(zip(offsets.tolist(), payloads, strict=True))


def test_partitions_by_charger_key(log: PartitionedLog) -> None:
    assert log.partitions == PARTITIONS
    log.append(Topic.meter_readings, _records(), now_ms=1)
    for p in range(PARTITIONS):
        keys = {
            payload.split(b'"')[3].decode()
            for _, payload in _read_all(log, Topic.meter_readings, p)
        }
        assert keys == {k for k in KEYS if partition_for(k, PARTITIONS) == p}


def test_append_read_order_per_partition_and_offsets_monotonic(log: PartitionedLog) -> None:
    records = _records()
    assert log.append(Topic.meter_readings, records[:30], now_ms=1) == 30
    assert log.append(Topic.meter_readings, records[30:], now_ms=2) == len(records) - 30
    for p in range(PARTITIONS):
        got = _read_all(log, Topic.meter_readings, p)
        expected = [payload for key, payload in records if partition_for(key, PARTITIONS) == p]
        assert [payload for _, payload in got] == expected
        offsets = [o for o, _ in got]
        assert offsets[0] >= 1 and all(b > a for a, b in itertools.pairwise(offsets))
        assert log.end_offset(Topic.meter_readings, p) == offsets[-1]


def test_empty_partition_reads_nothing_and_ends_at_zero(log: PartitionedLog) -> None:
    for p in range(PARTITIONS):
        assert log.end_offset(Topic.connector_status, p) == 0
        offsets, payloads = log.read_batch(Topic.connector_status, p, 0, 100)
        assert len(offsets) == 0 and len(payloads) == 0


def test_batch_reads_are_bounded(log: PartitionedLog) -> None:
    log.append(Topic.meter_readings, [("CH001", b"x%d" % i) for i in range(25)], now_ms=1)
    p = partition_for("CH001", PARTITIONS)
    offsets, payloads = log.read_batch(Topic.meter_readings, p, 0, 7)
    assert len(offsets) == len(payloads) == 7
    assert list(payloads) == [b"x%d" % i for i in range(7)]
    offsets, _ = log.read_batch(Topic.meter_readings, p, int(offsets[-1]), 100)
    assert len(offsets) == 18


def test_resume_from_committed_offset_reads_each_record_once(
    log: PartitionedLog, tmp_path: Path, adapter: str
) -> None:
    topic, key = Topic.meter_readings, "CH007"
    p = partition_for(key, PARTITIONS)
    log.append(topic, [(key, b"a%d" % i) for i in range(10)], now_ms=1)
    seen: list[bytes] = []
    position = 0
    for limit in (3, 4):
        offsets, payloads = log.read_batch(topic, p, position, limit)
        seen += list(payloads)
        position = int(offsets[-1])
    log.commit("contract", topic, p, position)
    log.append(topic, [(key, b"b%d" % i) for i in range(5)], now_ms=2)  # arrives meanwhile
    assert log.committed("contract", topic, p) == position
    offsets, payloads = log.read_batch(topic, p, log.committed("contract", topic, p), 1000)
    seen += list(payloads)
    assert seen == [b"a%d" % i for i in range(10)] + [b"b%d" % i for i in range(5)]
    assert int(offsets[-1]) == log.end_offset(topic, p)
    assert log.committed("other-group", topic, p) == 0


def test_committed_offset_survives_reopening_the_log(
    log: PartitionedLog, log_settings: Settings
) -> None:
    topic, key = Topic.order_events, "CH003"
    p = partition_for(key, PARTITIONS)
    log.append(topic, [(key, b"o%d" % i) for i in range(6)], now_ms=1)
    offsets, _ = log.read_batch(topic, p, 0, 4)
    log.commit("contract", topic, p, int(offsets[-1]))
    log.close()
    reopened = open_log(log_settings)
    try:
        position = reopened.committed("contract", topic, p)
        assert position == int(offsets[-1])
        _, payloads = reopened.read_batch(topic, p, position, 100)
        assert list(payloads) == [b"o4", b"o5"]
    finally:
        reopened.close()


def test_payload_bytes_round_trip_exactly(log: PartitionedLog) -> None:
    odd = [b"", b"line\nbreak", b"\n", b"\x00\xff\xfe", b"{}", "é€".encode()]
    log.append(Topic.dead_letter, [("CH001", payload) for payload in odd], now_ms=1)
    got = _read_all(log, Topic.dead_letter, partition_for("CH001", PARTITIONS))
    assert [payload for _, payload in got] == odd


def test_partition_out_of_range_is_a_typed_error(log: PartitionedLog) -> None:
    with pytest.raises(EventLogError):
        log.read_batch(Topic.meter_readings, PARTITIONS, 0, 10)
    with pytest.raises(EventLogError):
        log.end_offset(Topic.meter_readings, -1)


# -- the pipeline's source over each adapter: the same LogBatch items ----------------------


class _BrokerFreeKafkaPartition:
    """Stands in for bytewax's Kafka source partition: serves ``KafkaSourceMessage`` batches
    from a SQLite log (Kafka offset = rowid - 1), resuming at a Kafka offset as bytewax's does."""

    def __init__(self, log: EventLog, topic: Topic, partition: int, next_offset: int) -> None:
        self._log, self._topic, self._partition = log, topic, partition
        self._next = next_offset
        self.batch_size = 4

    def next_batch(self) -> list[KafkaSourceMessage[bytes, bytes]]:
        records = self._log.read(self._topic, self._partition, self._next, self.batch_size)
        if records:
            self._next = records[-1].offset
        return [
            KafkaSourceMessage(
                r.key.encode(), r.payload, topic=self._topic.value, offset=r.offset - 1
            )
            for r in records
        ]

    def close(self) -> None:
        pass


def _source_config(log_path: Path, drained: bool = True) -> SourceConfig:
    return SourceConfig(
        log_path=log_path,
        partitions=PARTITIONS,
        until_drained=lambda: drained,
        batch_rows=4,
        idle_s=0.0,
        tick_s=0.0,
        clock=SystemClock(),
    )


# "kafka-source": KafkaLogPartition over the stand-in; "kafka": KafkaLogSource over a broker
SOURCE_KINDS = ["sqlite", "kafka-source", "kafka"]


def _source_log(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[PartitionedLog, KafkaConfig | None]:
    """The log a source of ``kind`` reads, and the Kafka settings when it is a broker's."""
    if kind == "kafka":
        settings = _settings(tmp_path, "kafka", request.getfixturevalue("kafka_broker"))
        return open_log(settings), KafkaConfig.from_settings(settings)
    return EventLog(tmp_path / "log.sqlite", PARTITIONS), None


def _partition(
    kind: str,
    config: SourceConfig,
    topic: Topic,
    p: int,
    after: int,
    kafka: KafkaConfig | None = None,
) -> Any:
    if kind == "sqlite":
        return LogPartition(config, topic, p, after)
    if kind == "kafka":
        assert kafka is not None
        # bytewax hands a fresh part no state (None), a resumed one its snapshot
        return KafkaLogSource(config, kafka).build_part("in", part_name(topic, p), after or None)
    log = EventLog(config.log_path, PARTITIONS)
    inner = _BrokerFreeKafkaPartition(log, topic, p, after)
    return KafkaLogPartition(config, topic, p, after, inner, log)


def _take(part: Any, count: int) -> list[LogBatch]:
    """The next ``count`` non-empty batches (a broker's consumer may answer empty at first)."""
    batches: list[LogBatch] = []
    deadline = time.monotonic() + 30.0  # a hang guard, not a speed check
    while len(batches) < count and time.monotonic() < deadline:
        batches += [b for b in part.next_batch() if len(b)]
    assert len(batches) >= count, f"only {len(batches)} batches within 30 s"
    return batches[:count]


def _drain(part: Any) -> list[LogBatch]:
    batches = []
    try:
        while True:
            try:
                batches += [b for b in part.next_batch() if len(b)]
            except StopIteration:
                return batches
    finally:
        part.close()


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_source_emits_the_same_batches_and_resumes_from_its_snapshot(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    topic, p = Topic.meter_readings, 1
    log, kafka = _source_log(kind, tmp_path, request)
    try:
        log.append(topic, _records(), now_ms=1)
        expected = _read_all(log, topic, p)
    finally:
        log.close()
    config = _source_config(tmp_path / "log.sqlite")

    first = _partition(kind, config, topic, p, 0, kafka)
    head = _take(first, 2)
    state = first.snapshot()
    first.close()
    rest = _drain(_partition(kind, config, topic, p, state, kafka))

    got = [
        (int(o), payload)
        for b in head + rest
        for o, payload in zip(b.offsets, b.payloads, strict=True)
    ]
    assert got == expected
    assert all(b.topic == topic.value and b.partition == p and len(b) <= 4 for b in head + rest)
    assert state == head[-1].offsets[-1]


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_source_ticks_while_idle_and_waits_until_drained(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    log, kafka = _source_log(kind, tmp_path, request)
    log.close()  # empty
    path, topic = tmp_path / "log.sqlite", Topic.connector_status
    part = _partition(kind, _source_config(path, drained=False), topic, 0, 0, kafka)
    ticks = part.next_batch()
    assert len(ticks) == 1 and len(ticks[0]) == 0  # an empty batch: a tick
    assert part.next_awake() is not None
    done = _partition(kind, _source_config(path, drained=True), topic, 0, 0, kafka)
    with pytest.raises(StopIteration):
        done.next_batch()
    part.close()
    done.close()


def test_kafka_batch_conversion_keeps_offsets_plus_one_and_null_values_as_empty() -> None:
    from pipeline.kafka import to_log_batch

    messages = [
        KafkaSourceMessage(b"k", b'{"a":1}', offset=0),
        KafkaSourceMessage(b"k", None, offset=5),
    ]
    batch = to_log_batch(Topic.meter_readings, 2, messages)
    assert batch.offsets.tolist() == [1, 6] and batch.offsets.dtype == np.int64
    assert list(batch.payloads) == [b'{"a":1}', b""]
    assert (batch.topic, batch.partition) == ("meter_readings", 2)


def test_kafka_needs_a_bootstrap_address(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, event_log="kafka", kafka_bootstrap=" ")
    with pytest.raises(EventLogError, match="CHARGEGRID_KAFKA_BOOTSTRAP"):
        open_log(settings)


def test_pipeline_over_kafka_equals_pipeline_over_sqlite(
    tmp_path: Path, kafka_broker: KafkaBroker
) -> None:
    from tests.pipeline.conftest import drain, session_events, sql

    kafka = _settings(tmp_path / "k", "kafka", kafka_broker)
    sqlite = _settings(tmp_path / "s", "sqlite")
    events = []
    for c in range(6):
        events += session_events(f"CH{c}", f"T{c}", [1000.0 + 10 * k for k in range(1, 20)])
    rows = [(e.charger_id, encode(e)) for e in events]  # type: ignore[attr-defined]
    rows.append(("CH1", b"{broken"))
    for s in (kafka, sqlite):
        with open_log(s) as log:  # type: ignore[attr-defined]
            log.append(Topic.meter_readings, rows, now_ms=0)
        drain(s)
    query = (
        "SELECT (SELECT count(*) FROM readings), (SELECT sum(energy_wh) FROM sessions), "
        "(SELECT count(*) FROM dead_letter)"
    )
    assert sql(kafka, query) == sql(sqlite, query) == [(6 * 19, 6 * 190.0, 1)]


def test_mirror_copies_each_record_once_in_key_order_and_resumes(
    tmp_path: Path, adapter: str, broker: KafkaBroker | None
) -> None:
    from pipeline.kafka import mirror

    source = EventLog(tmp_path / "embedded.sqlite", PARTITIONS)
    target = open_log(_settings(tmp_path / "target", adapter, broker))
    try:
        records = _records()
        source.append(Topic.meter_readings, records[:20], now_ms=1)
        source.append(Topic.connector_status, [("CH001", b"s1")], now_ms=1)
        assert mirror(source, target, now_ms=lambda: 5, batch_rows=7) == 21
        assert mirror(source, target, now_ms=lambda: 5) == 0  # nothing twice
        source.append(Topic.meter_readings, records[20:], now_ms=2)
        assert mirror(source, target, now_ms=lambda: 6) == len(records) - 20
        for p in range(PARTITIONS):
            expected = [v for k, v in records if partition_for(k, PARTITIONS) == p]
            assert [v for _, v in _read_all(target, Topic.meter_readings, p)] == expected
        status = _read_all(target, Topic.connector_status, partition_for("CH001", PARTITIONS))
        assert [v for _, v in status] == [b"s1"]
    finally:
        source.close()
        target.close()


def test_unreachable_kafka_is_a_typed_error() -> None:
    from pipeline.cluster import free_ports
    from pipeline.kafka import KafkaConfig, KafkaLog

    (port,) = free_ports(1)  # nothing listens there
    with pytest.raises(EventLogError, match="cannot reach Kafka"):
        KafkaLog(KafkaConfig(f"127.0.0.1:{port}", timeout_s=0.5))


def test_missing_topics_are_created_with_the_configured_partitions(
    kafka_broker: KafkaBroker,
) -> None:
    from pipeline.kafka import KafkaLog

    if kafka_broker.mock is not None:
        pytest.skip("librdkafka's mock cluster has no CreateTopics; needs a real broker")
    config = KafkaConfig(kafka_broker.bootstrap, f"cgtest.{uuid.uuid4().hex[:10]}.", 2)
    with KafkaLog(config) as log:
        assert log.partitions == 2
        log.append(Topic.order_events, [("O1", b"x")], now_ms=1)
        assert log.end_offset(Topic.order_events, partition_for("O1", 2)) == 1


def test_a_broker_that_cannot_create_topics_is_a_typed_error(kafka_broker: KafkaBroker) -> None:
    from pipeline.kafka import KafkaLog

    if kafka_broker.mock is None:
        pytest.skip("needs a broker without CreateTopics: librdkafka's mock cluster")
    config = KafkaConfig(kafka_broker.bootstrap, f"cgtest.{uuid.uuid4().hex[:10]}.", 2, timeout_s=1)
    with pytest.raises(EventLogError, match="cannot create Kafka topic"):
        KafkaLog(config)
