"""``chargegrid publish``: append raw JSON lines to the event log, untouched.

Lines are not validated here: the pipeline judges every record and dead-letters what it cannot use,
with the reason, so a bad line is never lost. The partition key is the line's ``charger_id`` when it
has one (so a charger's records keep their order), else the empty key.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from chargegrid.errors import ChargegridError
from chargegrid.eventlog import EventLog
from chargegrid.events import Topic
from chargegrid.settings import Settings

BATCH_LINES = 10_000


class PublishError(ChargegridError):
    """The topic or file cannot be published."""


def key_of(line: bytes) -> str:
    """The record's charger id, or "" when the line is not an object with a string charger_id."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ""
    charger = value.get("charger_id") if isinstance(value, dict) else None
    return charger if isinstance(charger, str) else ""


def parse_topic(name: str) -> Topic:
    try:
        return Topic(name)
    except ValueError:
        known = ", ".join(t.value for t in Topic)
        msg = f"unknown topic {name!r}; topics are: {known}"
        raise PublishError(msg) from None


def publish_file(settings: Settings, topic_name: str, path: Path) -> int:
    """Append every non-blank line of ``path`` to ``topic_name``; returns the number appended."""
    topic = parse_topic(topic_name)
    appended = 0
    with EventLog(settings.eventlog_path, settings.log_partitions) as log, path.open("rb") as src:
        batch: list[tuple[str, bytes]] = []
        for raw in src:
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            batch.append((key_of(line), line))
            if len(batch) >= BATCH_LINES:
                appended += log.append(topic, batch, now_ms=_now_ms())
                batch = []
        appended += log.append(topic, batch, now_ms=_now_ms())
    return appended


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
