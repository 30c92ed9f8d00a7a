"""ACN-Data reader: RFC 1123 GMT timestamps, nullable fields, malformed items."""

from __future__ import annotations

import json
from pathlib import Path

from chargegrid.events import Reason
from chargegrid.sources.acn import read_sessions
from chargegrid.sources.records import RowRejected, SessionRecord

ITEM = {
    "sessionID": "s1",
    "siteID": 2,
    "stationID": "2-39-78-362",
    "spaceID": "CA-496",
    "connectionTime": "Sun, 04 Nov 2018 08:30:00 GMT",
    "disconnectTime": "Sun, 04 Nov 2018 10:15:00 GMT",
    "doneChargingTime": None,
    "kWhDelivered": 5.0004,
    "timezone": "America/Los_Angeles",
    "userID": None,
    "userInputs": None,
}


def _read(tmp_path: Path, items: list[object]) -> list[SessionRecord | RowRejected]:
    path = tmp_path / "acn.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    return list(read_sessions([path]))


def test_gmt_times_are_taken_as_utc_whatever_the_site_zone(tmp_path: Path) -> None:
    [row] = _read(tmp_path, [ITEM])
    assert isinstance(row, SessionRecord)
    assert row.started_at.isoformat() == "2018-11-04T08:30:00+00:00"  # LA fall-back day
    assert row.ended_at.isoformat() == "2018-11-04T10:15:00+00:00"
    assert (row.energy_wh, row.site, row.charging_ended_at) == (5000, "2", None)


def test_malformed_items_are_rejected_naming_the_field(tmp_path: Path) -> None:
    rows = _read(
        tmp_path,
        [
            {**ITEM, "connectionTime": "2018-11-04 08:30"},
            {**ITEM, "kWhDelivered": None},
            {k: v for k, v in ITEM.items() if k != "sessionID"},
            ["not", "an", "object"],
            {**ITEM, "doneChargingTime": "Sun, 04 Nov 2018 08:00:00 GMT"},
        ],
    )
    rejected = [r for r in rows if isinstance(r, RowRejected)]
    assert [(r.line, r.reason) for r in rejected] == [
        (1, Reason.unparseable_row),
        (2, Reason.energy_missing),
        (3, Reason.unparseable_row),
        (4, Reason.unparseable_row),
    ]
    assert rejected[0].detail.startswith("connectionTime")
    assert rejected[2].detail.startswith("sessionID")
    last = rows[-1]
    assert isinstance(last, SessionRecord) and last.flags == ("done_before_connect",)
