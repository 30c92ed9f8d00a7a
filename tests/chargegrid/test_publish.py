from __future__ import annotations

from pathlib import Path

import pytest

from chargegrid.eventlog import EventLog
from chargegrid.events import Topic
from chargegrid.publish import PublishError, key_of, publish_file
from chargegrid.settings import Settings


def test_publish_appends_every_line_untouched_keyed_by_charger(
    settings: Settings, tmp_path: Path
) -> None:
    src = tmp_path / "events.jsonl"
    src.write_bytes(
        b'{"kind":"heartbeat","charger_id":"CP1","ts":"2026-01-01T00:00:00Z"}\r\n'
        b"\n"
        b"not json at all\n"
        b'{"kind":"status","charger_id":7}\n'
    )
    assert publish_file(settings, "connector_status", src) == 3
    rows = EventLog(settings.eventlog_path).read(Topic.connector_status, 0, 0, 10)
    assert [r.key for r in rows] == ["CP1", "", ""]
    assert rows[1].payload == b"not json at all"


def test_unknown_topic_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    src = tmp_path / "e.jsonl"
    src.write_text("{}\n")
    with pytest.raises(PublishError, match=r"unknown topic 'readings'.*meter_readings"):
        publish_file(settings, "readings", src)


@pytest.mark.parametrize(
    ("line", "key"),
    [(b'{"charger_id":"A"}', "A"), (b"[1]", ""), (b"\xff", ""), (b'{"charger_id":null}', "")],
)
def test_key_of(line: bytes, key: str) -> None:
    assert key_of(line) == key
