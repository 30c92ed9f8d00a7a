"""The Boulder reader's rules, each on a tiny inline export, and once on both real deliveries."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chargegrid.events import Reason
from chargegrid.sources.boulder import (
    BoulderSession,
    Rejected,
    SourceFormatError,
    read_locations,
    read_sessions,
)
from tests.chargegrid.exports import write_export

HEADER = (
    "Station_Name,Address,City,State_Province,Zip_Postal_Code,Start_Date___Time,Start_Time_Zone,"
    "End_Date___Time,End_Time_Zone,Total_Duration__hh_mm_ss_,Charging_Time__hh_mm_ss_,"
    "Energy__kWh_,GHG_Savings__kg_,Gasoline_Savings__gallons_,Port_Type,ObjectId\n"
)


def _row(
    start: str = "2018/01/02 00:49:00",
    zone: str = "MST",
    end: str = "2018/01/02 02:52:00",
    end_zone: str = "MST",
    duration: str = "2:03:02",
    charging: str = "2:02:44",
    kwh: str = "6.504",
    station: str = "BOULDER / JUNCTION ST1",
    oid: str = "1",
) -> str:
    return (
        f"{station},2280 Junction Pl,Boulder,Colorado,80301,{start},{zone},{end},{end_zone},"
        f"{duration},{charging},{kwh},2.732,0.816,Level 2,{oid}"
    )


def _export(tmp_path: Path, *rows: str, name: str = "export.csv") -> Path:
    return write_export(tmp_path / name, HEADER, rows, bom=True, newline="\n")


def _one(path: Path) -> BoulderSession | Rejected:
    (row,) = list(read_sessions([path]))
    return row


def test_a_plain_row_with_bom_becomes_utc_times_and_exact_wh(tmp_path: Path) -> None:
    row = _one(_export(tmp_path, _row()))
    assert isinstance(row, BoulderSession)
    assert row.start == datetime(2018, 1, 2, 7, 49, tzinfo=UTC)  # MST = UTC-7
    assert row.end == datetime(2018, 1, 2, 9, 52, tzinfo=UTC)
    assert (row.energy_wh, row.charging_s, row.object_id) == (6_504, 2 * 3600 + 2 * 60 + 44, "1")
    assert (row.station, row.site, row.file, row.line) == (
        "BOULDER / JUNCTION ST1",
        "2280 Junction Pl",
        "export.csv",
        2,
    )


def test_summer_label_is_six_hours_behind_utc(tmp_path: Path) -> None:
    row = _one(
        _export(
            tmp_path, _row("2018/07/02 10:00:00", "MDT", "2018/07/02 11:00:00", "MDT", "1:00:00")
        )
    )
    assert isinstance(row, BoulderSession)
    assert row.start == datetime(2018, 7, 2, 16, 0, tzinfo=UTC)


def test_end_across_spring_forward_is_read_at_the_start_offset(tmp_path: Path) -> None:
    # real row 492: 01:15 MST → 04:08 "MST" lasted 2:53:42, so 04:08 is at −07:00 (not MDT)
    row = _one(
        _export(
            tmp_path,
            _row("2018/03/11 01:15:00", "MST", "2018/03/11 04:08:00", "MST", "2:53:42", "2:00:00"),
        )
    )
    assert isinstance(row, BoulderSession)
    assert row.end - row.start == timedelta(hours=2, minutes=53)


def test_multi_day_session_across_spring_forward_ignores_the_end_label(tmp_path: Path) -> None:
    # real row 478: 68:30:20 plugged in; the end label MDT would make it 67:30
    row = _one(
        _export(
            tmp_path,
            _row("2018/03/09 20:58:00", "MST", "2018/03/12 17:28:00", "MDT", "68:30:20", "0:37:58"),
        )
    )
    assert isinstance(row, BoulderSession)
    assert row.end - row.start == timedelta(hours=68, minutes=30)


def test_the_false_utc_suffix_of_the_re_export_is_local_time(tmp_path: Path) -> None:
    row = _one(_export(tmp_path, _row("2018/01/02 00:49:00+00", end="2018/01/02 02:52:00+00")))
    assert isinstance(row, BoulderSession)
    assert row.start == datetime(2018, 1, 2, 7, 49, tzinfo=UTC)


def test_renamed_station_is_mapped_to_its_first_name(tmp_path: Path) -> None:
    row = _one(_export(tmp_path, _row(station="BOULDERJUNCTION / JUNCTION ST1")))
    assert isinstance(row, BoulderSession)
    assert row.station == "BOULDER / JUNCTION ST1"


def test_charging_time_never_exceeds_plug_in_time(tmp_path: Path) -> None:
    row = _one(_export(tmp_path, _row(charging="2:03:30")))
    assert isinstance(row, BoulderSession)
    assert row.charging_s == round((row.end - row.start).total_seconds())


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (_row(end="1970/01/01 00:00:00", duration="838:59:59", kwh="0"), Reason.sentinel_date),
        (_row(duration="838:59:59"), Reason.sentinel_date),
        (_row(kwh=""), Reason.energy_missing),
        (_row(kwh="-1"), Reason.energy_negative),
        (_row(station=""), Reason.unknown_charger),
        (_row(zone="PST"), Reason.unparseable_row),
        (_row(start="2018/02/30 00:49:00"), Reason.unparseable_row),
        (_row(duration="2:61:00"), Reason.unparseable_row),
        (_row(end="2018/01/02 00:10:00", duration="0:00:00"), Reason.end_before_start),
        (_row(end="2018/01/04 00:10:00", duration="0:02:00"), Reason.implausible_value),
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


def test_duration_within_tolerance_is_accepted(tmp_path: Path) -> None:
    # real row 20412: end − start = 2:21, Total_Duration = 2:23:49
    row = _one(_export(tmp_path, _row(duration="2:17:00")))
    assert isinstance(row, BoulderSession)


def test_the_re_export_repeats_are_duplicates_and_its_new_rows_are_kept(tmp_path: Path) -> None:
    portal = _export(tmp_path, _row(oid="1"), _row(oid="2"), name="portal.csv")
    again = _export(
        tmp_path,
        _row("2018/01/02 00:49:00+00", end="2018/01/02 02:52:00+00", oid="7"),
        _row("2021/03/03 01:11:00+00", end="2021/03/03 02:03:00+00", duration="0:52:00", oid="8"),
        name="re-export.csv",
    )
    reasons = [
        r.reason if isinstance(r, Rejected) else "ok" for r in read_sessions([portal, again])
    ]
    assert reasons == ["ok", Reason.duplicate, Reason.duplicate, "ok"]


def test_locations_by_address(tmp_path: Path) -> None:
    path = tmp_path / "loc.csv"
    path.write_text("Address,Latitude,Longitude\n2280 Junction Pl,40.02,-105.25\nx,,")
    assert read_locations(path) == {"2280 Junction Pl": (40.02, -105.25)}


def test_the_daily_data_dictionary_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "ev_datadictionary.csv"
    path.write_text("Column Name,Description\nStation Name,Name of each charging station\n")
    with pytest.raises(SourceFormatError, match=r"ev_datadictionary.csv: not a Boulder session"):
        list(read_sessions([path]))


@pytest.mark.shared
def test_real_deliveries_every_row_is_judged(shared_data: Path) -> None:
    folder = shared_data / "boulder"
    portal = folder / "Electric_Vehicle_Charging_Station_Energy_Consumption.csv"
    again = folder / "ev_chargingstationdata_Boulder_March 2021.csv"
    rows = list(read_sessions([portal, again]))
    first, second = rows[:23_597], rows[23_597:]
    assert len(rows) == 23_597 + 24_081  # SOURCES.md
    assert Counter(r.reason for r in first if isinstance(r, Rejected))[Reason.duplicate] == 15
    new = [r for r in second if isinstance(r, BoulderSession)]
    assert len(new) == 483  # the March 2021 sessions only
    assert all(r.start >= datetime(2021, 3, 1, tzinfo=UTC) for r in new)
    located = read_locations(folder / "Boulder_locations.csv")
    assert {r.site for r in first if isinstance(r, BoulderSession)} <= set(located)
