"""DST gap/overlap and zone-label flags of imported local times, on the boundaries and on the
real exports' transitions (expected counts computed independently with pandas)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from chargegrid.settings import Settings
from warehouse.importers.run import run_import
from warehouse.importers.timeflags import DENVER, LONDON, time_flags, wall_flags

HEADER = (
    "Charging event,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Site,Model"
)


def wall(text: str) -> datetime:
    """A naive local wall time."""
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        (wall("2017-03-26 00:59"), ()),  # last minute before the spring gap
        (wall("2017-03-26 01:00"), ("dst_gap",)),  # first minute that does not exist
        (wall("2017-03-26 01:59"), ("dst_gap",)),
        (wall("2017-03-26 02:00"), ()),  # first minute of summer time
        (wall("2017-10-29 00:59"), ()),
        (wall("2017-10-29 01:00"), ("dst_overlap",)),  # the repeated hour starts
        (wall("2017-10-29 01:59"), ("dst_overlap",)),
        (wall("2017-10-29 02:00"), ()),
    ],
)
def test_london_transition_boundaries(wall: datetime, expected: tuple[str, ...]) -> None:
    assert wall_flags(wall, LONDON) == expected


def test_denver_boundaries() -> None:
    assert wall_flags(wall("2019-03-10 02:30"), DENVER) == ("dst_gap",)
    assert wall_flags(wall("2019-11-03 01:30"), DENVER) == ("dst_overlap",)
    assert wall_flags(wall("2019-11-03 02:30"), DENVER) == ()


def test_imported_sessions_carry_their_flags(settings: Settings, tmp_path: Path) -> None:
    export = tmp_path / "dundee.csv"
    export.write_text(
        HEADER
        + "\n1,50001,1,26/03/2017,01:30,26/03/2017,03:00,2.0,Site A,APT 7kW"
        + "\n2,50001,1,29/10/2017,00:30,29/10/2017,01:30,5.0,Site A,APT 7kW"
        + "\n3,50001,1,01/06/2017,10:00,01/06/2017,11:00,5.0,Site A,APT 7kW\n"
    )
    report = run_import(settings, "dundee", [export])
    assert report.time_flagged == 2
    with duckdb.connect(str(settings.catalog_path), read_only=True) as con:
        got = dict(con.execute("SELECT session_id, time_flags FROM historical_sessions").fetchall())
    assert got == {
        "dundee:1": ["start_dst_gap"],
        "dundee:2": ["end_dst_overlap"],
        "dundee:3": [],
    }


def _london_flags(date: pd.Series, time: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(gap, overlap) masks of naive London wall times, by pandas' own DST rules."""
    naive = pd.to_datetime(date + " " + time, format="%d/%m/%Y %H:%M", errors="coerce")
    first = np.full(len(naive), True)
    gap = naive.dt.tz_localize(LONDON.key, ambiguous=first, nonexistent="NaT").isna()
    overlap = naive.dt.tz_localize(LONDON.key, ambiguous="NaT", nonexistent="shift_forward").isna()
    known = naive.notna()
    return gap & known, overlap & known


@pytest.mark.parametrize("folder", ["dundee", "perth_kinross"])
def test_real_uk_exports_flag_every_row_in_a_transition(shared_data: Path, folder: str) -> None:
    files = [
        p for p in sorted((shared_data / folder).glob("*.csv")) if "location" not in p.name.lower()
    ]
    source = "dundee" if folder == "dundee" else "perth"
    flags = time_flags(source, files)
    expected: dict[str, int] = {}
    for path in files:
        frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
        for end in ("Start", "End"):
            gap, overlap = _london_flags(frame[f"{end} Date"], frame[f"{end} Time"])
            expected[f"{end.lower()}_dst_gap"] = expected.get(f"{end.lower()}_dst_gap", 0) + int(
                gap.sum()
            )
            key = f"{end.lower()}_dst_overlap"
            expected[key] = expected.get(key, 0) + int(overlap.sum())
    got: dict[str, int] = {}
    for row_flags in flags.values():
        for flag in row_flags:
            got[flag] = got.get(flag, 0) + 1
    assert got == {k: v for k, v in expected.items() if v}
    if folder == "dundee":  # sessions across the 2017 fall-back (Perth has none at 01:xx)
        assert got.get("start_dst_overlap", 0) + got.get("end_dst_overlap", 0) > 0


def test_boulder_labels_that_contradict_denver(shared_data: Path) -> None:
    path = shared_data / "boulder" / "Electric_Vehicle_Charging_Station_Energy_Consumption.csv"
    flags = time_flags("boulder", [path])
    frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    naive = pd.to_datetime(frame["Start_Date___Time"], format="%Y/%m/%d %H:%M:%S")
    dst = naive.dt.tz_localize(DENVER.key, ambiguous="NaT", nonexistent="NaT")
    rule = np.where(dst.dt.strftime("%Z") == "MDT", "MDT", "MST")
    known = dst.notna()
    contradicts = int((known & (frame["Start_Time_Zone"].str.strip() != rule)).sum())
    got = sum("start_label_contradicts_zone" in f for f in flags.values())
    assert got == contradicts > 0
