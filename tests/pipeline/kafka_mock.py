"""A Kafka broker for the contract tests: the one ``CHARGEGRID_KAFKA_BOOTSTRAP`` names, else
librdkafka's mock cluster.

The mock cluster is librdkafka's own (``rdkafka_mock.h``), reached with ctypes in the librdkafka
that the pinned confluent-kafka wheel ships: brokers in a background thread of this process,
listening on 127.0.0.1 ports and speaking the Kafka wire protocol (produce, fetch, list offsets,
metadata, consumer groups, offset commits), so every client call the adapter makes goes through
a real socket and real request/response encoding. It is not Apache Kafka: no replication, no
durability, no CreateTopics. Topics are therefore made with ``rd_kafka_mock_topic_create`` for
the mock (:meth:`KafkaBroker.create_topics`); a real broker gets them from the adapter itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chargegrid.events import Topic

ENV = "CHARGEGRID_KAFKA_BOOTSTRAP"
MOCK_BROKERS = 3
_PRODUCER = 0  # rd_kafka_type_t RD_KAFKA_PRODUCER
_CONF_OK = 0  # rd_kafka_conf_res_t RD_KAFKA_CONF_OK
_SYMBOLS = (
    "rd_kafka_conf_new",
    "rd_kafka_conf_set",
    "rd_kafka_new",
    "rd_kafka_destroy",
    "rd_kafka_mock_cluster_new",
    "rd_kafka_mock_cluster_bootstraps",
    "rd_kafka_mock_cluster_destroy",
    "rd_kafka_mock_topic_create",
)


class MockUnavailable(RuntimeError):
    """librdkafka, or its mock cluster API, cannot be loaded here."""


def _library_paths() -> list[str]:
    """The librdkafka bundled with confluent-kafka first (the one its clients use), then any
    system copy."""
    import confluent_kafka

    libs = Path(confluent_kafka.__file__).resolve().parents[1] / "confluent_kafka.libs"
    paths = sorted(str(p) for p in libs.glob("librdkafka*.so*"))
    system = ctypes.util.find_library("rdkafka")
    return [*paths, system] if system else paths


def load_librdkafka() -> ctypes.CDLL:
    """librdkafka with the mock cluster symbols and their C signatures declared."""
    for path in _library_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if all(hasattr(lib, name) for name in _SYMBOLS):
            return _declare(lib)
    msg = f"no librdkafka with the mock cluster API ({', '.join(_SYMBOLS)}) was found"
    raise MockUnavailable(msg)


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    ptr, text, num = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    signatures: dict[str, tuple[list[Any], Any]] = {
        "rd_kafka_conf_new": ([], ptr),
        "rd_kafka_conf_set": ([ptr, text, text, text, ctypes.c_size_t], num),
        "rd_kafka_new": ([num, ptr, text, ctypes.c_size_t], ptr),
        "rd_kafka_destroy": ([ptr], None),
        "rd_kafka_mock_cluster_new": ([ptr, num], ptr),
        "rd_kafka_mock_cluster_bootstraps": ([ptr], text),
        "rd_kafka_mock_cluster_destroy": ([ptr], None),
        "rd_kafka_mock_topic_create": ([ptr, text, num, num], num),
    }
    for name, (args, result) in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, result
    return lib


class MockCluster:
    """A running librdkafka mock cluster; :meth:`close` stops its brokers (the handle that owns
    it is destroyed after it, as librdkafka requires)."""

    def __init__(self, brokers: int = MOCK_BROKERS) -> None:
        self._lib = load_librdkafka()
        self._rk = self._handle()
        self._cluster = self._lib.rd_kafka_mock_cluster_new(self._rk, brokers)
        if not self._cluster:
            self._lib.rd_kafka_destroy(self._rk)
            msg = "rd_kafka_mock_cluster_new failed (see librdkafka's log above)"
            raise MockUnavailable(msg)
        self.bootstrap: str = self._lib.rd_kafka_mock_cluster_bootstraps(self._cluster).decode()

    def _handle(self) -> int:
        """A producer handle that only owns the cluster: it connects nowhere, and log level 4
        drops the notice that it has no ``bootstrap.servers``."""
        conf = self._lib.rd_kafka_conf_new()
        errstr = ctypes.create_string_buffer(512)
        if self._lib.rd_kafka_conf_set(conf, b"log_level", b"4", errstr, 512) != _CONF_OK:
            msg = f"rd_kafka_conf_set failed: {errstr.value.decode()}"
            raise MockUnavailable(msg)
        rk = self._lib.rd_kafka_new(_PRODUCER, conf, errstr, 512)  # takes conf, even on error
        if not rk:
            msg = f"rd_kafka_new failed: {errstr.value.decode()}"
            raise MockUnavailable(msg)
        return int(rk)

    def create_topic(self, name: str, partitions: int, replication: int = 1) -> None:
        err = self._lib.rd_kafka_mock_topic_create(
            self._cluster, name.encode(), partitions, replication
        )
        if err:
            msg = f"rd_kafka_mock_topic_create({name!r}) failed with error code {err}"
            raise RuntimeError(msg)

    def close(self) -> None:
        if self._cluster:
            self._lib.rd_kafka_mock_cluster_destroy(self._cluster)
            self._cluster = None
        if self._rk:
            self._lib.rd_kafka_destroy(self._rk)
            self._rk = 0


@dataclass(frozen=True)
class KafkaBroker:
    """Where the Kafka contract cases run; ``mock`` is None for a real broker."""

    bootstrap: str
    mock: MockCluster | None

    def create_topics(self, prefix: str, partitions: int) -> None:
        """Every chargegrid topic under ``prefix``, for the mock only: it has no CreateTopics
        request, while a real broker gets them from ``KafkaLog`` like production does."""
        if self.mock is not None:
            for topic in Topic:
                self.mock.create_topic(f"{prefix}{topic.value}", partitions)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """The broker ``CHARGEGRID_KAFKA_BOOTSTRAP`` names, else a mock cluster for the session."""
    named = os.environ.get(ENV, "").strip()
    if named:
        yield KafkaBroker(named, None)
        return
    try:
        mock = MockCluster()
    except MockUnavailable as exc:
        pytest.skip(f"no Kafka broker: {ENV} is unset and librdkafka's mock cluster: {exc}")
    try:
        yield KafkaBroker(mock.bootstrap, mock)
    finally:
        mock.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    """``host:port,...`` of the session's Kafka brokers."""
    return kafka_broker.bootstrap
