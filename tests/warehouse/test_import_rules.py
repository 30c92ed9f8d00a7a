"""Plausibility rules at their boundaries, and the shared CSV rules (separator, ragged rows,
quoted newlines, encoding)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chargegrid.events import Reason
from chargegrid.sources.records import RowRejected, SessionRecord, SourceFormatError, csv_rows
from warehouse.importers.rules import judge, max_energy_wh

T0 = datetime(2018, 3, 25, 0, 30, tzinfo=UTC)


def _session(minutes: float, energy_wh: int, rated_w: float | None = 7_000.0) -> SessionRecord:
    return SessionRecord(
        source="test",
        key="k",
        station_id="cp",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=minutes),
        energy_wh=energy_wh,
        file="f.csv",
        line=2,
        raw="raw",
        rated_power_w=rated_w,
    )


def _reason(record: SessionRecord) -> Reason | None:
    verdict = judge(record)
    return verdict.reason if isinstance(verdict, RowRejected) else None


def test_energy_at_the_outlet_limit_passes_one_wh_more_does_not() -> None:
    limit = int(max_energy_wh(7_000.0, 60 * 60))  # 1 h on 7 kW, with a minute of slack, +10 %
    assert limit == 7_828
    assert _reason(_session(60, limit)) is None
    assert _reason(_session(60, limit + 1)) is Reason.energy_exceeds_outlet


def test_unknown_rating_skips_the_outlet_rule() -> None:
    assert _reason(_session(1, 10**9, rated_w=None)) is None


@pytest.mark.parametrize(
    ("minutes", "energy_wh", "reason"),
    [
        (-1, 1_000, Reason.end_before_start),
        (10, -5, Reason.energy_negative),
        (0, 0, Reason.zero_duration),  # zero duration wins over zero energy
        (0, 500, Reason.zero_duration),
        (1, 0, Reason.zero_energy),
        (1, 1, None),
    ],
)
def test_rule_order(minutes: float, energy_wh: int, reason: Reason | None) -> None:
    assert _reason(_session(minutes, energy_wh)) is reason


def test_a_rejection_keeps_file_line_and_raw_text() -> None:
    verdict = judge(_session(0, 0))
    assert isinstance(verdict, RowRejected)
    assert (verdict.file, verdict.line, verdict.raw, verdict.station_id) == (
        "f.csv",
        2,
        "raw",
        "cp",
    )


def test_semicolons_bom_ragged_rows_and_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b'\xef\xbb\xbfa;b;c\r\n1;2;3;extra;;\r\n\r\n4;"two\r\nlines";6\r\n7;8\r\n')
    rows = list(csv_rows(path, ["a", "b"], "a test export"))
    assert [(r.line, r.cells) for r in rows] == [
        (2, {"a": "1", "b": "2", "c": "3"}),
        (4, {"a": "4", "b": "two\r\nlines", "c": "6"}),
        (6, {"a": "7", "b": "8"}),
    ]
    assert rows[1].raw == '4;"two\r\nlines";6'
    assert rows[2].get("c") == ""


def test_missing_columns_and_bad_encoding_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n1,2\n3,\xff\n")
    with pytest.raises(SourceFormatError, match=r"x\.csv: not a test export: no column z"):
        list(csv_rows(path, ["z"], "a test export"))
    with pytest.raises(SourceFormatError, match=r"x\.csv: line \d+ is not UTF-8"):
        list(csv_rows(path, ["a"], "a test export"))
