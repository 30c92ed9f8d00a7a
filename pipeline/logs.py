"""What an event log adapter offers, and choosing one from settings.

Two adapters satisfy :class:`PartitionedLog`: the embedded SQLite log
(:class:`chargegrid.eventlog.EventLog`) and Kafka (:class:`pipeline.kafka.KafkaLog`). Both keep
the same contract (``tests/pipeline/test_log_contract.py`` runs one suite over both):

* a topic has ``partitions`` partitions; a record goes to ``partition_for(key, partitions)`` (crc32
  of the key, so one charger's records keep their order, on the same partition number in every
  topic);
* a record's *offset* is a positive integer, strictly increasing within a partition; a consumer's
  position is the last offset it has processed, ``0`` before the first record, so
  ``read_batch(after_offset=position)`` resumes with nothing read twice and nothing skipped;
* ``read_batch`` returns at most ``limit`` records, in append order;
* ``end_offset`` is the highest offset appended (``0`` when empty); the partition is drained for
  a consumer whose position equals it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np
import numpy.typing as npt
from bytewax.inputs import FixedPartitionedSource

from chargegrid.eventlog import EventLog, Payloads
from chargegrid.events import Topic
from chargegrid.settings import Settings
from pipeline.source import LogBatch, LogSource, SourceConfig


class PartitionedLog(Protocol):
    """An append-only log of partitioned topics (see the module docstring for the contract)."""

    @property
    def partitions(self) -> int: ...

    def append(
        self, topic: Topic | str, records: Iterable[tuple[str, bytes]], *, now_ms: int
    ) -> int: ...

    def read_batch(
        self, topic: Topic | str, partition: int, after_offset: int, limit: int
    ) -> tuple[npt.NDArray[np.int64], Payloads]: ...

    def end_offset(self, topic: Topic | str, partition: int) -> int: ...

    def commit(self, group_id: str, topic: Topic | str, partition: int, offset: int) -> None: ...

    def committed(self, group_id: str, topic: Topic | str, partition: int) -> int: ...

    def close(self) -> None: ...


def open_log(settings: Settings) -> PartitionedLog:
    """The event log ``settings.event_log`` names (Kafka topics are created if missing)."""
    if settings.event_log == "kafka":
        from pipeline.kafka import KafkaConfig, KafkaLog

        return KafkaLog(KafkaConfig.from_settings(settings))
    return EventLog(settings.eventlog_path, settings.log_partitions)


def log_source(settings: Settings, config: SourceConfig) -> FixedPartitionedSource[LogBatch, int]:
    """The pipeline's input over the configured event log; both emit the same ``LogBatch``."""
    if settings.event_log == "kafka":
        from pipeline.kafka import KafkaConfig, KafkaLogSource

        return KafkaLogSource(config, KafkaConfig.from_settings(settings))
    return LogSource(config)
