"""The Perth & Kinross reader's rules, each on a tiny inline export, and once on the real files."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chargegrid.events import Reason
from chargegrid.sources.perth import (
    PerthSession,
    Rejected,
    SourceFormatError,
    perth_outlet,
    read_locations,
    read_sessions,
    site_key,
)
from tests.chargegrid.exports import write_export

HEADER = "CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Site,Model\r\n"


def _export(tmp_path: Path, *rows: str, name: str = "export.csv", bom: bool = False) -> Path:
    return write_export(tmp_path / name, HEADER, rows, bom=bom)


def _one(path: Path) -> PerthSession | Rejected:
    (row,) = list(read_sessions([path]))
    return row


def test_a_plain_row_becomes_utc_times_exact_wh_and_a_site_key(tmp_path: Path) -> None:
    row = _one(
        _export(
            tmp_path,
            '51519,2,31/08/2017,22:12,31/08/2017,23:11,18.27,"Broxden Park & Ride, Perth",'
            "APT Triple Rapid Charger",
        )
    )
    assert isinstance(row, PerthSession)
    assert row.start == datetime(2017, 8, 31, 21, 12, tzinfo=UTC)  # BST = UTC+1
    assert row.end == datetime(2017, 8, 31, 22, 11, tzinfo=UTC)
    assert row.energy_wh == 18_270
    assert (row.site, row.town, row.site_label) == (
        "Broxden Park & Ride",
        "Perth",
        "Broxden Park & Ride, Perth",
    )
    assert (row.file, row.line, row.ref) == ("export.csv", 2, "perth:export.csv:2")
    assert row.outlet.current == "DC"


def test_winter_times_are_gmt(tmp_path: Path) -> None:
    row = _one(_export(tmp_path, "51519,1,15/01/2018,08:00,15/01/2018,08:30,5,Mill Street,M"))
    assert isinstance(row, PerthSession)
    assert row.start == datetime(2018, 1, 15, 8, 0, tzinfo=UTC)


def test_session_across_the_fall_back_takes_the_second_one_am(tmp_path: Path) -> None:
    # 28/10/2018 clocks went back at 02:00 BST: 01:50 BST → 01:10 GMT is 20 minutes later
    row = _one(_export(tmp_path, "51519,1,28/10/2018,01:50,28/10/2018,01:10,3.1,S,M"))
    assert isinstance(row, PerthSession)
    assert row.end - row.start == timedelta(minutes=20)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("51519,1,01/12/2017,12:09,,,,S,M", Reason.no_end),
        ("51519,1,01/12/2017,12:09,01/01/1970,01:00,0,S,M", Reason.sentinel_date),
        ("51519,1,01/12/2017,12:09,01/12/2017,13:00,,S,M", Reason.energy_missing),
        ("51519,1,01/12/2017,12:09,01/12/2017,13:00,-0.5,S,M", Reason.energy_negative),
        (",1,01/12/2017,12:09,01/12/2017,13:00,1,S,M", Reason.unknown_charger),
        (
            "51517,1,01/12/2017,12:09,01/12/2017,13:00,1,***TEST SITE*** Charge Your Car HQ,M",
            Reason.test_site,
        ),
        ("51519,1,01/12/2017,12:09,01/12/2017,11:00,1,S,M", Reason.end_before_start),
        ("51519,x,01/12/2017,12:09,01/12/2017,13:00,1,S,M", Reason.unparseable_row),
        ("51519,1,31/02/2017,12:09,01/03/2017,13:00,1,S,M", Reason.unparseable_row),
        ("51519,1,01/12/2017,12:09,01/12/2017,13:00,lots,S,M", Reason.unparseable_row),
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


def test_a_row_delivered_again_in_another_file_is_a_duplicate(tmp_path: Path) -> None:
    line = "51519,1,01/12/2017,12:09,01/12/2017,13:00,1,S,M"
    a = _export(tmp_path, line, name="a.csv")
    b = _export(tmp_path, line, name="b.csv", bom=True)
    rows = list(read_sessions([a, b]))
    assert isinstance(rows[0], PerthSession)
    assert isinstance(rows[1], Rejected) and rows[1].reason == Reason.duplicate


def test_same_start_with_other_energy_is_not_a_duplicate(tmp_path: Path) -> None:
    rows = list(
        read_sessions(
            [
                _export(
                    tmp_path,
                    "51519,1,01/12/2017,12:09,01/12/2017,13:00,1,S,M",
                    "51519,2,01/12/2017,12:09,01/12/2017,13:00,1,S,M",
                )
            ]
        )
    )
    assert all(isinstance(r, PerthSession) for r in rows)


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("Broxden Park & Ride, Perth", ("Broxden Park & Ride", "Perth")),
        ("Broxden Park & Ride", ("Broxden Park & Ride", None)),
        ("  Kinross Park and  Ride ", ("Kinross Park and Ride", None)),
        ("Canal Street Car Park 3rd floor, Perth ", ("Canal Street Car Park 3rd floor", "Perth")),
    ],
)
def test_site_key_joins_spellings_of_one_car_park(label: str, key: tuple[str, str | None]) -> None:
    assert site_key(label) == key


def test_semi_rapid_is_22_kw_ac_and_the_rest_follow_dundee() -> None:
    assert perth_outlet("Siemens Semi-Rapid", 1).power_w == 22_000
    assert perth_outlet("Siemens 7 kW Dual Outlet", 1).power_w == 7_000
    assert perth_outlet("Siemens Triple Rapid Charger", 2).current == "DC"


def test_locations_drop_the_town_suffix_and_stray_spaces(tmp_path: Path) -> None:
    path = tmp_path / "loc.csv"
    path.write_text(
        "Site,Latitude,Longitude\n"
        "Rie-Achan Road Car Park-Pitlochry,56.70,-3.73\n"
        " Leslie Street Car Park-Blairgowrie,56.59,-3.33\n"
        "Market Square Alyth,56.62,-3.23\n"
        "Nowhere,,\n"
    )
    assert read_locations(path) == {
        "Rie-Achan Road Car Park": (56.70, -3.73),
        "Leslie Street Car Park": (56.59, -3.33),
        "Market Square Alyth": (56.62, -3.23),
    }


def test_a_file_that_is_not_a_perth_export_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("MTU (CET),Day-ahead Price\n01.01.2018,12\n")
    with pytest.raises(SourceFormatError, match=r"prices.csv: not a Perth & Kinross export"):
        list(read_sessions([path]))


def test_bytes_that_are_not_utf8_are_refused_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(HEADER.encode() + b"51519,1,01/12/2017,12:09,01/12/2017,13:00,1,Caf\xe9,M\n")
    with pytest.raises(SourceFormatError, match=r"latin1.csv: line 2 is not UTF-8"):
        list(read_sessions([path]))


@pytest.mark.shared
def test_real_exports_every_row_is_judged_and_every_site_located(shared_data: Path) -> None:
    folder = shared_data / "perth_kinross"
    files = sorted(folder.glob("*corrected.csv"))
    rows = list(read_sessions(files))
    counts = Counter(r.reason if isinstance(r, Rejected) else "ok" for r in rows)
    assert len(rows) == 66_664  # SOURCES.md
    assert counts[Reason.test_site] == 21
    assert counts[Reason.no_end] == 185
    assert counts[Reason.duplicate] == 0  # "no duplicate rows across files"
    # 6 rows end before start as published; the fall-back rule explains 5 of them
    assert counts[Reason.end_before_start] == 1
    sites = {r.site for r in rows if isinstance(r, PerthSession)}
    assert len(sites) == 14
    assert sites <= set(read_locations(folder / "perth_locations.csv"))
