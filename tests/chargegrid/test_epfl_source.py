"""EPFL DESL reader on a workbook written here: Zurich wall clock across the fall-back, flags,
bad cells."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from chargegrid.events import Reason
from chargegrid.sources.epfl import read_sessions
from chargegrid.sources.records import RowRejected, SessionRecord, SourceFormatError

HEADER = [
    "Session", "CCS", "Arrival", "Departure", "Stay (min)", "Energy (Wh)", "Pmax (W)",
    "Preq_max (W)", "Controlled session (0=False, 1=True)", "TotalCapacity", "BulkCapacity",
    "SOC arrival", "SOC departure", "Energy capacity (Wh)",
]  # fmt: skip


def _wall(text: str) -> datetime:
    """A naive wall-clock datetime, as the workbook stores it."""
    return datetime.fromisoformat(text)


def _book(tmp_path: Path, *rows: list[object]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    path = tmp_path / "Session_data.xlsx"
    book.save(path)
    return path


def _row(
    session: int, arrival: object, departure: object, wh: object, **kw: object
) -> list[object]:
    return [session, "CCS2", arrival, departure, 30, wh, kw.get("pmax", 90_000), 150_000, 1,
            80_000, 60_000, 20.5, 80.0, kw.get("battery", 75_000.0)]  # fmt: skip


def test_zurich_local_times_across_the_fall_back(tmp_path: Path) -> None:
    path = _book(
        tmp_path,
        _row(1, _wall("2022-10-30 02:40"), _wall("2022-10-30 02:10"), 20_000.4),
        _row(
            2,
            _wall("2022-07-01 12:00"),
            _wall("2022-07-01 12:30"),
            30_000,
            pmax=180_000,
            battery=382_000.0,
        ),
    )
    crossing, summer = read_sessions([path])
    assert isinstance(crossing, SessionRecord) and isinstance(summer, SessionRecord)
    assert crossing.started_at.isoformat() == "2022-10-30T00:40:00+00:00"  # CEST occurrence
    assert crossing.ended_at.isoformat() == "2022-10-30T01:10:00+00:00"  # CET occurrence
    assert crossing.energy_wh == 20_000 and crossing.soc_start_pct == 20.5
    assert summer.started_at.isoformat() == "2022-07-01T10:00:00+00:00"
    assert summer.flags == ("pmax_above_rating", "large_battery")
    assert (summer.line, summer.connector) == (3, "CCS2")


def test_bad_cells_are_rejected_naming_the_column(tmp_path: Path) -> None:
    path = _book(
        tmp_path,
        _row(3, _wall("2022-07-01 12:00"), None, 1_000),
        _row(4, "yesterday", _wall("2022-07-01 12:30"), 1_000),
        _row(5, _wall("2022-07-01 12:00"), _wall("2022-07-01 12:30"), "lots"),
    )
    rows = list(read_sessions([path]))
    assert all(isinstance(r, RowRejected) for r in rows)
    assert [(r.reason, r.line) for r in rows if isinstance(r, RowRejected)] == [
        (Reason.no_end, 2),
        (Reason.unparseable_row, 3),
        (Reason.unparseable_row, 4),
    ]
    assert "Energy (Wh)" in rows[2].detail if isinstance(rows[2], RowRejected) else False


def test_a_file_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Session_data.xlsx"
    path.write_text("not a zip", encoding="utf-8")
    with pytest.raises(SourceFormatError, match="not an xlsx workbook"):
        list(read_sessions([path]))
