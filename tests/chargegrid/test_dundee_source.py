"""The Dundee reader's rules, each on a tiny inline export (no third-party data needed)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chargegrid.events import Reason
from chargegrid.sources.dundee import (
    Rejected,
    SessionRow,
    SourceFormatError,
    outlet_model,
    read_sessions,
)
from tests.chargegrid.exports import write_export

HEADER = (
    "Charging event,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Cost,Site,"
    "Group,Model\r\n"
)


def _export(tmp_path: Path, *rows: str, header: str = HEADER, bom: bool = False) -> Path:
    return write_export(tmp_path / "export.csv", header, rows, bom=bom)


def _one(path: Path) -> SessionRow | Rejected:
    (row,) = list(read_sessions([path]))
    return row


def test_a_plain_row_becomes_utc_times_and_exact_wh(tmp_path: Path) -> None:
    row = _one(
        _export(
            tmp_path,
            '1,50914,1,06/09/2018,23:55,07/09/2018,07:03,22.287,0,"Lochee Hub, Dundee",G,'
            "APT 22kW Dual Outlet",
        )
    )
    assert isinstance(row, SessionRow)
    assert row.start == datetime(2018, 9, 6, 22, 55, tzinfo=UTC)  # BST = UTC+1
    assert row.end == datetime(2018, 9, 7, 6, 3, tzinfo=UTC)
    assert row.energy_wh == 22_287
    assert row.site == "Lochee Hub, Dundee"
    assert row.outlet.power_w == 22_000


def test_session_across_the_fall_back_takes_the_second_one_am(tmp_path: Path) -> None:
    # 29/10/2017 clocks went back at 02:00 BST: 01:55 BST → 01:20 GMT is 25 minutes later
    row = _one(_export(tmp_path, "2,50914,1,29/10/2017,01:55,29/10/2017,01:20,3.1,0,S,G,APT 7kW"))
    assert isinstance(row, SessionRow)
    assert row.start == datetime(2017, 10, 29, 0, 55, tzinfo=UTC)
    assert row.end == datetime(2017, 10, 29, 1, 20, tzinfo=UTC)


def test_start_in_the_spring_forward_gap_uses_the_offset_before_it(tmp_path: Path) -> None:
    # 25/03/2018 01:30 does not exist in London; read as 01:30 GMT
    row = _one(_export(tmp_path, "3,50914,1,25/03/2018,01:30,25/03/2018,03:10,1,0,S,G,APT 7kW"))
    assert isinstance(row, SessionRow)
    assert row.start == datetime(2018, 3, 25, 1, 30, tzinfo=UTC)
    assert row.end == datetime(2018, 3, 25, 2, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("4,50914,1,01/12/2017,12:09,,,,,S,G,APT 7kW", Reason.no_end),
        ("5,50914,1,01/12/2017,12:09,01/01/1970,01:00,0,0,S,G,APT 7kW", Reason.sentinel_date),
        ("6,50914,1,01/12/2017,12:09,01/12/2017,13:00,,0,S,G,APT 7kW", Reason.energy_missing),
        ("7,50914,1,01/12/2017,12:09,01/12/2017,13:00,-2,0,S,G,APT 7kW", Reason.energy_negative),
        ("8,,2,01/12/2017,12:09,01/12/2017,13:00,1,0,,G,APT 7kW", Reason.unknown_charger),
        (
            '14,51422,1,01/12/2017,12:09,01/12/2017,13:00,1,0,"***TEST SITE*** Charge Your Car HQ",'
            "G,APT 7kW",
            Reason.test_site,
        ),
        ("9,50914,1,01/12/2017,12:09,01/12/2017,11:00,1,0,S,G,APT 7kW", Reason.end_before_start),
        ("10,50914,x,01/12/2017,12:09,01/12/2017,13:00,1,0,S,G,APT 7kW", Reason.unparseable_row),
        ("11,50914,1,31/02/2017,12:09,01/03/2017,13:00,1,0,S,G,APT 7kW", Reason.unparseable_row),
    ],
)
def test_each_rule_rejects_with_its_reason_and_keeps_the_row(
    tmp_path: Path, line: str, reason: Reason
) -> None:
    row = _one(_export(tmp_path, line))
    assert isinstance(row, Rejected)
    assert row.reason == reason
    assert row.raw == line
    assert row.detail


def test_repeated_event_is_a_duplicate(tmp_path: Path) -> None:
    line = "12,50914,1,01/12/2017,12:09,01/12/2017,13:00,1,0,S,G,APT 7kW"
    rows = list(read_sessions([_export(tmp_path, line, line)]))
    assert isinstance(rows[0], SessionRow)
    assert isinstance(rows[1], Rejected) and rows[1].reason == Reason.duplicate


def test_summer_export_with_user_id_trailing_columns_and_bom(tmp_path: Path) -> None:
    header = (
        "Charging event,User ID,CP ID,Connector,Start Date,Start Time,End Date,End Time,"
        "Total kWh,Cost,Site,Group,Model,,,\r\n"
    )
    path = _export(
        tmp_path,
        '13,603522H,50349,2,06/09/2018,23:38,06/09/2018,23:48,7.08,0,"Greenmarket, Dundee",G,'
        "APT Dual Rapid Charger,,,Multiple vehicles available",
        header=header,
        bom=True,
    )
    row = _one(path)
    assert isinstance(row, SessionRow)
    assert (row.cp_id, row.connector_id, row.user_id, row.energy_wh) == (
        "50349",
        2,
        "603522H",
        7080,
    )
    assert row.outlet.current == "DC"


def test_limit_counts_rows_across_files(tmp_path: Path) -> None:
    line = "{n},50914,1,01/12/2017,12:09,01/12/2017,13:00,1,0,S,G,APT 7kW"
    a = _export(tmp_path, *(line.format(n=n) for n in range(3)))
    b = a.with_name("b.csv")
    b.write_text(HEADER + "".join(line.format(n=n) + "\n" for n in range(3, 6)))
    assert len(list(read_sessions([a, b], limit=4))) == 4


@pytest.mark.parametrize(
    ("model", "connector", "power_w", "current"),
    [
        ("APT 7kW Single Outlet", 1, 7_000, "AC"),
        ("APT 22kW Dual Outlet", 2, 22_000, "AC"),
        ("APT Triple Rapid Charger", 1, 50_000, "DC"),
        ("APT Triple Rapid Charger", 3, 43_000, "AC"),
        ("APT 50kW Raption", 2, 50_000, "DC"),
    ],
)
def test_outlet_model(model: str, connector: int, power_w: float, current: str) -> None:
    outlet = outlet_model(model, connector)
    assert (outlet.power_w, outlet.current) == (power_w, current)


@pytest.mark.shared
def test_real_exports_every_row_is_judged(shared_data: Path) -> None:
    folder = shared_data / "dundee"
    files = [
        folder / n
        for n in (
            "cpdata.csv",
            "cp-data-dec-mar-2018.csv",
            "cp-data-mar-may-2018.csv",
            "charge-sessions-june-sept.csv",
        )
    ]
    rows = list(read_sessions(files))
    counts = Counter(r.reason if isinstance(r, Rejected) else "ok" for r in rows)
    assert len(rows) == 67_112  # SOURCES.md
    assert counts[Reason.sentinel_date] == 2
    assert counts[Reason.unknown_charger] == 2
    assert counts[Reason.test_site] == 464  # CP 51422/51423, not listed in SOURCES.md
    # 329 rows lack an end or energy (SOURCES.md): with the sentinel rows, all are rejected
    assert counts[Reason.no_end] + counts[Reason.energy_missing] >= 327


def test_a_file_that_is_not_a_dundee_export_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("MTU (CET),Day-ahead Price\n01.01.2018,12\n")
    with pytest.raises(SourceFormatError, match=r"prices.csv: not a Dundee session export"):
        list(read_sessions([path]))


def test_bytes_that_are_not_utf8_are_refused_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        HEADER.encode() + b"1,50914,1,01/12/2017,12:09,01/12/2017,13:00,1,0,Caf\xe9,G,M\n"
    )
    with pytest.raises(SourceFormatError, match=r"latin1.csv: line 2 is not UTF-8"):
        list(read_sessions([path]))
