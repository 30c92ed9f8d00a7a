"""The event log on Kafka: one Kafka topic per chargegrid topic, same partitions, same batches.

Producer side: :class:`KafkaLog` ``append`` (what :class:`chargegrid.eventlog.BatchingProducer`
calls, so the CSMS's batching producer works unchanged over it) produces each record to the
partition :func:`~chargegrid.eventlog.partition_for` gives its key, the very partition the SQLite
log would use, with librdkafka's idempotent producer, and waits until the brokers acknowledge the
batch.

Consumer side: :class:`KafkaLogSource` wraps :class:`bytewax.connectors.kafka.KafkaSource` (its
partition listing, consumer setup, batch ``consume`` and resume from an offset) and turns each
consumed batch into ONE :class:`~pipeline.source.LogBatch`, exactly like
:class:`~pipeline.source.LogSource` over SQLite: ticks while idle, stop at the end of the log once
``until_drained`` says so, resume state = the last consumed offset.

Offsets: chargegrid offset = Kafka offset + 1. So offsets start at 1 as SQLite rowids do, a
position of 0 means nothing consumed, and a position (the last offset consumed) is also the Kafka
offset of the next record to read and Kafka's own notion of a committed offset; ``end_offset`` is
the partition's high watermark.

Moving an embedded deployment over: :func:`mirror` (``chargegrid pipeline mirror``) copies the
SQLite log into the Kafka topics, keys and per-key order kept, at least once.

Retention is Kafka's (``retention.ms`` on the topics); the pipeline's position is mirrored into the
consumer group ``pipeline`` two snapshots late, for lag monitoring only (recovery is Bytewax's).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from bytewax.connectors.kafka import KafkaSource, KafkaSourceMessage
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from chargegrid.eventlog import EventLog, EventLogError, Payloads, partition_for
from chargegrid.events import Topic
from chargegrid.settings import Settings
from pipeline.source import GROUP_ID, TOPICS, LogBatch, SourceConfig, part_name

_NO_OFFSETS: npt.NDArray[np.int64] = np.zeros(0, np.int64)
_READ_CHUNK = 10_000  # messages per consume() call inside read_batch
MIRROR_GROUP = "kafka-mirror"


@dataclass(frozen=True)
class KafkaConfig:
    """Where the topics live and how they are created; ``extra`` goes to every librdkafka client
    (security settings, for instance: ``security.protocol``, ``sasl.*``)."""

    bootstrap: str  # "host:port,host:port"
    topic_prefix: str = "chargegrid."
    partitions: int = 1  # for topics created here; existing topics keep theirs
    replication: int = 1
    timeout_s: float = 30.0
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaConfig:
        if not settings.kafka_bootstrap.strip():
            msg = "Kafka needs CHARGEGRID_KAFKA_BOOTSTRAP (host:port,...); it is not set"
            raise EventLogError(msg)
        return cls(
            settings.kafka_bootstrap,
            settings.kafka_topic_prefix,
            partitions=settings.log_partitions,
        )

    @property
    def brokers(self) -> list[str]:
        return [b.strip() for b in self.bootstrap.split(",") if b.strip()]

    def topic_name(self, topic: Topic | str) -> str:
        return f"{self.topic_prefix}{Topic(topic).value}"

    def client(self, **settings: Any) -> dict[str, Any]:
        return {"bootstrap.servers": ",".join(self.brokers), **self.extra, **settings}


def to_log_batch(
    topic: Topic | str, partition: int, messages: Sequence[KafkaSourceMessage[Any, Any]]
) -> LogBatch:
    """One :class:`LogBatch` from consumed messages (offset = Kafka offset + 1; a null value, a
    tombstone, becomes an empty payload, which the step dead-letters as undecodable)."""
    offsets = np.fromiter((_offset(m.offset) + 1 for m in messages), np.int64, len(messages))
    payloads = Payloads.of([m.value or b"" for m in messages])
    return LogBatch(Topic(topic).value, partition, offsets, payloads)


def _offset(offset: int | None) -> int:
    if offset is None:  # only error events lack one, and those never get here
        msg = "a consumed Kafka message has no offset"
        raise EventLogError(msg)
    return int(offset)


class KafkaLog:
    """:class:`~pipeline.logs.PartitionedLog` over Kafka; clients are made on first use."""

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self._producer: Producer | None = None
        self._reader: Consumer | None = None
        self._groups: dict[str, Consumer] = {}
        self.partitions = self._ensure_topics()

    # -- topics ----------------------------------------------------------------------------

    def _ensure_topics(self) -> int:
        """Create missing topics; every topic must have the same partition count."""
        admin = AdminClient(self.config.client())
        names = [self.config.topic_name(t) for t in Topic]
        missing = [n for n in names if n not in self._metadata(admin)]
        if missing:
            new = [
                NewTopic(
                    n,
                    num_partitions=self.config.partitions,
                    replication_factor=self.config.replication,
                )
                for n in missing
            ]
            created = admin.create_topics(new, request_timeout=self.config.timeout_s)
            for name, future in created.items():
                self._await_creation(name, future)
        counts = self._partition_counts(admin, names)
        if len(set(counts.values())) != 1:
            msg = f"Kafka topics must all have the same partition count, found {counts}"
            raise EventLogError(msg)
        return next(iter(counts.values()))

    def _await_creation(self, name: str, future: Any) -> None:
        """Wait for one CreateTopics result; a concurrent creator is fine. A broker without
        the admin API (or without a reachable controller) fails here, within the timeout."""
        try:
            future.result(self.config.timeout_s + 1.0)  # the request itself ends first
        except (KafkaException, TimeoutError) as exc:
            if _code(exc) != KafkaError.TOPIC_ALREADY_EXISTS:
                msg = (
                    f"cannot create Kafka topic {name} ({str(exc) or 'timed out'}); create the "
                    f"topics yourself with {self.config.partitions} partitions each"
                )
                raise EventLogError(msg) from exc

    def _metadata(self, admin: AdminClient) -> dict[str, Any]:
        try:
            return dict(admin.list_topics(timeout=self.config.timeout_s).topics)
        except KafkaException as exc:
            msg = f"cannot reach Kafka at {self.config.bootstrap}: {exc}"
            raise EventLogError(msg) from exc

    def _partition_counts(self, admin: AdminClient, names: list[str]) -> dict[str, int]:
        """Partitions per topic, waiting briefly for topics just created to show theirs."""
        deadline = time.monotonic() + self.config.timeout_s
        while True:
            topics = self._metadata(admin)
            ready = all(n in topics and topics[n].error is None for n in names)
            if ready or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if not ready:
            msg = f"Kafka topics {names} are not all available at {self.config.bootstrap}"
            raise EventLogError(msg)
        return {n: len(topics[n].partitions) for n in names}

    # -- producing -------------------------------------------------------------------------

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(
                self.config.client(**{"enable.idempotence": True, "linger.ms": 5})
            )
        return self._producer

    def append(
        self, topic: Topic | str, records: Iterable[tuple[str, bytes]], *, now_ms: int
    ) -> int:
        """Produce ``(key, payload)`` records; returns once all are acknowledged."""
        name = self.config.topic_name(topic)
        failures: list[str] = []

        def delivered(err: KafkaError | None, _msg: object) -> None:
            if err is not None:
                failures.append(str(err))

        count = 0
        for key, payload in records:
            self._produce(
                name, key, payload, partition_for(key, self.partitions), now_ms, delivered
            )
            count += 1
        left = self.producer.flush(self.config.timeout_s)
        if left or failures:
            msg = f"Kafka did not take {left or len(failures)} of {count} records: {failures[:3]}"
            raise EventLogError(msg)
        return count

    def _produce(
        self, name: str, key: str, payload: bytes, partition: int, now_ms: int, cb: Any
    ) -> None:
        while True:
            try:
                self.producer.produce(
                    name,
                    value=payload,
                    key=key.encode(),
                    partition=partition,
                    on_delivery=cb,
                    timestamp=now_ms,
                )
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.1)
                continue
            self.producer.poll(0)
            return

    # -- consuming -------------------------------------------------------------------------

    @property
    def reader(self) -> Consumer:
        if self._reader is None:
            self._reader = Consumer(
                self.config.client(
                    **{
                        "group.id": "chargegrid-reader",  # never commits: assign() only
                        "enable.auto.commit": False,
                        "auto.offset.reset": "earliest",
                        "enable.partition.eof": True,
                        # reads stop at the high watermark, so a fetch never needs to wait
                        # for new records; and a broker answers a connection's requests in
                        # order, so a long-polling fetch (500 ms by default) would hold up
                        # the next end_offset's ListOffsets behind it
                        "fetch.wait.max.ms": 10,
                    }
                )
            )
        return self._reader

    def _tp(self, topic: Topic | str, partition: int, offset: int = 0) -> TopicPartition:
        if not 0 <= partition < self.partitions:
            msg = f"partition {partition} out of range 0..{self.partitions - 1}"
            raise EventLogError(msg)
        return TopicPartition(self.config.topic_name(topic), partition, offset)

    def end_offset(self, topic: Topic | str, partition: int) -> int:
        _low, high = self.reader.get_watermark_offsets(
            self._tp(topic, partition), timeout=self.config.timeout_s
        )
        return int(high)

    def read_batch(
        self, topic: Topic | str, partition: int, after_offset: int, limit: int
    ) -> tuple[npt.NDArray[np.int64], Payloads]:
        """Up to ``limit`` records with offset > ``after_offset`` (Kafka offset >= it)."""
        end = self.end_offset(topic, partition)
        if after_offset >= end or limit <= 0:
            return _NO_OFFSETS, Payloads.of([])
        self.reader.assign([self._tp(topic, partition, after_offset)])
        offsets: list[int] = []
        payloads: list[bytes] = []
        deadline = time.monotonic() + self.config.timeout_s
        try:
            while len(offsets) < limit and (not offsets or offsets[-1] < end):
                if time.monotonic() > deadline:
                    msg = f"Kafka read of {self.config.topic_name(topic)}[{partition}] timed out"
                    raise EventLogError(msg)
                # no more than the high watermark leaves, so consume() need not wait out
                # its timeout for records that do not exist (fewer with gaps: then EOF ends it)
                position = offsets[-1] if offsets else after_offset
                want = min(_READ_CHUNK, limit - len(offsets), end - position)
                if self._consume_into(want, offsets, payloads):
                    break
        finally:
            self.reader.unassign()
        return np.array(offsets, np.int64), Payloads.of(payloads)

    def _consume_into(self, want: int, offsets: list[int], payloads: list[bytes]) -> bool:
        """Append up to ``want`` records; True at the end of the partition."""
        for msg in self.reader.consume(want, 0.5):
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return True
                text = f"Kafka read failed: {error}"
                raise EventLogError(text)
            offsets.append(_offset(msg.offset()) + 1)
            payloads.append(msg.value() or b"")
        return False

    def _group(self, group_id: str) -> Consumer:
        if group_id not in self._groups:
            self._groups[group_id] = Consumer(
                self.config.client(**{"group.id": group_id, "enable.auto.commit": False})
            )
        return self._groups[group_id]

    def commit(self, group_id: str, topic: Topic | str, partition: int, offset: int) -> None:
        """Kafka's committed offset is the next to read: our position, as it is."""
        self._group(group_id).commit(
            offsets=[self._tp(topic, partition, offset)], asynchronous=False
        )

    def committed(self, group_id: str, topic: Topic | str, partition: int) -> int:
        (tp,) = self._group(group_id).committed(
            [self._tp(topic, partition)], timeout=self.config.timeout_s
        )
        return max(0, int(tp.offset))  # OFFSET_INVALID (< 0) = nothing committed

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.config.timeout_s)
        for consumer in [self._reader, *self._groups.values()]:
            if consumer is not None:
                consumer.close()
        self._reader, self._groups, self._producer = None, {}, None

    def __enter__(self) -> KafkaLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _code(exc: Exception) -> object:
    arg = exc.args[0] if exc.args else None
    return arg.code() if isinstance(arg, KafkaError) else None


class KafkaLogPartition(StatefulSourcePartition[LogBatch, int]):
    """One (topic, partition): ``inner`` is bytewax's Kafka partition, ``log`` answers
    ``end_offset``/``commit`` (both injected, so tests can drive this without a broker)."""

    def __init__(
        self,
        config: SourceConfig,
        topic: Topic,
        partition: int,
        after: int,
        inner: StatefulSourcePartition[Any, Any],
        log: Any,  # PartitionedLog (end_offset, commit, close)
    ) -> None:
        self._config = config
        self._topic = topic
        self._partition = partition
        self._offset = after
        self._inner = inner
        self._log = log
        self._awake: datetime | None = None
        self._last_emit = time.monotonic()
        self._pending_commits: deque[int] = deque(maxlen=3)

    def next_batch(self) -> list[LogBatch]:
        messages = list(self._inner.next_batch())
        now = time.monotonic()
        if messages:
            batch = to_log_batch(self._topic, self._partition, messages)
            self._offset = int(batch.offsets[-1])
            self._awake = None
            self._last_emit = now
            return [batch]
        if self._config.until_drained() and self._offset >= self._log.end_offset(
            self._topic, self._partition
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
        return self._offset

    def close(self) -> None:
        self._inner.close()
        self._log.close()


class KafkaLogSource(FixedPartitionedSource[LogBatch, int]):
    """Every (topic, partition) of the Kafka log, resumed from the last consumed offset; the
    same part names (``meter_readings:0``) and items as :class:`~pipeline.source.LogSource`."""

    def __init__(
        self, config: SourceConfig, kafka: KafkaConfig, topics: tuple[Topic, ...] = TOPICS
    ) -> None:
        self._config = config
        self._kafka = kafka
        self._topics = {kafka.topic_name(t): t for t in topics}
        self._source = KafkaSource(
            kafka.brokers,
            list(self._topics),
            tail=True,
            add_config=kafka.client(**{"auto.offset.reset": "earliest"}),
            batch_size=config.batch_rows,
        )

    def list_parts(self) -> list[str]:
        KafkaLog(self._kafka).close()  # creates the topics on a fresh cluster
        parts = []
        for kafka_part in self._source.list_parts():
            index, name = kafka_part.split("-", 1)
            parts.append(part_name(self._topics[name], int(index)))
        return parts

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> KafkaLogPartition:
        topic_name, index = for_part.rsplit(":", 1)
        topic = Topic(topic_name)
        kafka_part = f"{index}-{self._kafka.topic_name(topic)}"
        # bytewax's state is the next Kafka offset to read: our position, unchanged
        inner = self._source.build_part(step_id, kafka_part, resume_state)
        return KafkaLogPartition(
            self._config, topic, int(index), resume_state or 0, inner, KafkaLog(self._kafka)
        )


def mirror(
    source: EventLog,
    target: Any,  # PartitionedLog
    *,
    now_ms: Callable[[], int],
    group_id: str = MIRROR_GROUP,
    batch_rows: int = 5_000,
) -> int:
    """Copy what ``source`` (the embedded log) holds beyond ``group_id``'s committed offsets
    into ``target`` (Kafka), keys and order kept; returns how many records were copied.

    A batch is committed on the source only after ``target`` acknowledged it, so a crash in
    between re-sends that batch (at least once; the pipeline dead-letters the copies as
    duplicates). The group also holds back SQLite retention until records are copied.
    """
    copied = 0
    for topic in Topic:
        for partition in range(source.partitions):
            after = source.committed(group_id, topic, partition)
            while records := source.read(topic, partition, after, batch_rows):
                target.append(topic, [(r.key, r.payload) for r in records], now_ms=now_ms())
                after = records[-1].offset
                source.commit(group_id, topic, partition, after)
                copied += len(records)
    return copied


def run_mirror(settings: Settings, *, follow: bool, interval_s: float = 0.5) -> int:
    """``chargegrid pipeline mirror``: the embedded log into Kafka, once or until Ctrl-C."""
    copied = 0
    with (
        EventLog(settings.eventlog_path, settings.log_partitions) as source,
        KafkaLog(KafkaConfig.from_settings(settings)) as target,
    ):
        try:
            while True:
                copied += mirror(source, target, now_ms=lambda: time.time_ns() // 1_000_000)
                if not follow:
                    return copied
                time.sleep(interval_s)
        except KeyboardInterrupt:
            return copied
