"""Calibration: each exclusion rule on tiny inline exports, and the real run (with ../shared)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from models import calibrate
from models.calibrate import ChargerClass, RowFilter, Rule, Session, read_rows

DUNDEE_HEADER = (
    "Charging event,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Cost,"
    "Site,Group,Model"
)
DUNDEE_SUMMER_HEADER = (
    "Charging event,User ID,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,"
    "Cost,Site,Group,Model,,,"
)
PERTH_HEADER = "CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Site,Model"
SITE = '"Lochee Charging Hub, Dundee"'
GROUP = "APT Controls; CYC; ChargePlace Scotland; Dundee City Council"
REPO = Path(__file__).resolve().parents[2]


def dundee_row(
    event: str = "1",
    cp: str = "50914",
    start: str = "06/09/2018,10:00",
    end: str = "06/09/2018,11:00",
    kwh: str = "5.5",
    site: str = SITE,
    model: str = "APT 7kW Dual Outlet",
    connector: str = "1",
) -> str:
    return f"{event},{cp},{connector},{start},{end},{kwh},0,{site},{GROUP},{model}"


def write_csv(tmp_path: Path, header: str, rows: list[str], bom: bool = True) -> Path:
    """An export as published: CRLF line endings and (optionally) a UTF-8 BOM."""
    path = tmp_path / "export.csv"
    text = "\r\n".join([header, *rows]) + "\r\n"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def check(tmp_path: Path, *rows: str, header: str = DUNDEE_HEADER) -> list[Session | Rule]:
    row_filter = RowFilter("dundee")
    return [row_filter.check(r) for r in read_rows(write_csv(tmp_path, header, list(rows)))]


def test_a_good_row_is_kept_with_its_class_and_duration(tmp_path: Path) -> None:
    [kept] = check(tmp_path, dundee_row(model="APT Triple Rapid Charger", kwh="20"))
    assert isinstance(kept, Session)
    assert (kept.cls, kept.cp_id, kept.connector) == (ChargerClass.rapid, "50914", 1)
    assert kept.duration_min == 60.0
    assert kept.energy_kwh == 20.0


def test_bom_crlf_quoted_commas_and_trailing_columns(tmp_path: Path) -> None:
    row = "7751157,601838,50914,1,06/09/2018,23:55,07/09/2018,07:03,22.287,0,"
    row += f"{SITE},{GROUP},APT 22kW Dual Outlet,,,Multiple vehicles available"
    [kept] = check(tmp_path, row, header=DUNDEE_SUMMER_HEADER)
    assert isinstance(kept, Session)
    assert kept.cls is ChargerClass.fast
    assert kept.duration_min == 7 * 60 + 8


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        (dundee_row(site="***TEST SITE*** Charge Your Car HQ"), Rule.test_site),
        (dundee_row(cp=""), Rule.unknown_charger),
        (dundee_row(model="Tesla Supercharger"), Rule.unknown_model),
        (dundee_row(start="31/02/2018,10:00"), Rule.unparseable),
        (dundee_row(kwh="n/a"), Rule.unparseable),
        (dundee_row(end=",", kwh=""), Rule.open_session),
        (dundee_row(end="01/01/1970,01:00"), Rule.sentinel_end),
        (dundee_row(end="06/09/2018,09:00"), Rule.end_before_start),
        (dundee_row(end="06/09/2018,10:00"), Rule.zero_length),
        (dundee_row(end="06/09/2018,10:01"), Rule.too_short),
        (dundee_row(end="09/09/2018,10:01"), Rule.too_long),
        (dundee_row(kwh="0"), Rule.zero_energy),
        (dundee_row(kwh="0.05"), Rule.zero_energy),
        # event 7521518: 1,430.17 kWh on a 7 kW single outlet in 17 h
        (
            dundee_row(model="APT 7kW Single Outlet", end="07/09/2018,03:00", kwh="1430.17"),
            Rule.impossible_energy,
        ),
        (dundee_row(model="APT 22kW Dual Outlet", kwh="25"), Rule.impossible_energy),
    ],
)
def test_each_exclusion_rule(tmp_path: Path, row: str, rule: Rule) -> None:
    assert check(tmp_path, row) == [rule]


def test_energy_at_the_rated_power_is_kept(tmp_path: Path) -> None:
    [kept] = check(tmp_path, dundee_row(kwh="7.4"))
    assert isinstance(kept, Session)


def test_a_repeated_event_number_is_a_duplicate(tmp_path: Path) -> None:
    results = check(tmp_path, dundee_row(event="9"), dundee_row(event="9", cp="50915"))
    assert isinstance(results[0], Session)
    assert results[1] is Rule.duplicate


def test_without_event_numbers_the_natural_key_finds_duplicates(tmp_path: Path) -> None:
    row = '51519,2,31/08/2017,22:12,31/08/2017,23:11,18.27,"Broxden Park & Ride, Perth",'
    row += "APT Triple Rapid Charger"
    other = row.replace(",2,", ",1,", 1)
    results = check(tmp_path, row, row, other, header=PERTH_HEADER)
    assert [type(r) for r in results] == [Session, Rule, Session]
    assert results[1] is Rule.duplicate


def test_an_end_in_the_repeated_fall_back_hour_is_its_second_occurrence(tmp_path: Path) -> None:
    """29/10/2017 01:55 BST -> 01:20 GMT is a 25-minute session, not a negative one."""
    [kept] = check(tmp_path, dundee_row(start="29/10/2017,01:55", end="29/10/2017,01:20", kwh="2"))
    assert isinstance(kept, Session)
    assert kept.duration_min == 25.0


def test_a_session_across_spring_forward_lost_an_hour(tmp_path: Path) -> None:
    [kept] = check(tmp_path, dundee_row(start="25/03/2018,00:30", end="25/03/2018,03:30"))
    assert isinstance(kept, Session)
    assert kept.duration_min == 120.0


def test_a_test_site_is_excluded_before_anything_else(tmp_path: Path) -> None:
    row = dundee_row(site="***TEST SITE*** HQ", cp="", end=",", kwh="")
    assert check(tmp_path, row) == [Rule.test_site]


def test_quantiles_interpolate_between_order_statistics() -> None:
    values = [float(v) for v in range(101)]
    table = calibrate.quantiles(values, 3, (0.0, 0.25, 0.5, 1.0))
    assert table == [0.0, 25.0, 50.0, 100.0]
    assert calibrate.quantiles([1.0, 2.0], 3, (0.5,)) == [1.5]


def test_occupancy_splits_a_session_over_clock_hours() -> None:
    local = datetime(2018, 9, 3, 10, 30)  # noqa: DTZ001 - naive London wall-clock time
    session = Session("dundee", "1", 1, ChargerClass.slow, local, 90.0, 5.0)
    profile = calibrate.occupancy([session], {"weekday": 1, "weekend": 1})
    assert profile["weekday"][10] == 0.5
    assert profile["weekday"][11] == 1.0
    assert sum(profile["weekend"]) == 0.0


def _fake_shared(root: Path) -> Path:
    """A miniature shared/data tree: every file calibrate reads, a few rows each."""
    rapid, fast = "APT Triple Rapid Charger", "APT 22kW Dual Outlet"
    slots = [
        (d, h, m, cp)
        for d in (3, 8)
        for h in (2, 8, 14, 20)
        for m, cp in (("APT 7kW Dual Outlet", "1"), (fast, "2"), (rapid, "3"))
    ]
    rows = [
        dundee_row(
            event=str(i),
            start=f"0{d}/09/2018,{h:02d}:00",
            end=f"0{d}/09/2018,{h:02d}:40",
            kwh=str(2 + i % 4),
            model=m,
            cp=cp,
        )
        for i, (d, h, m, cp) in enumerate(slots)
    ]
    perth = [f"6,1,{d}/10/2018,{h}:00,{d}/10/2018,{h}:30,9.5,Site,{rapid}" for d, h, *_ in slots]
    for folder, names, header, body in (
        ("dundee", calibrate.DATASETS[0].files, DUNDEE_HEADER, rows),
        ("perth_kinross", calibrate.DATASETS[1].files, PERTH_HEADER, perth),
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            write_csv(root / folder, header, body).rename(root / folder / name)
    locations = "Latitude,Longitude,Location,CP ID,Type,,,\r\n56.47,-2.97,A,1,Slow,,,\r\n"
    locations += "56.48,-2.99,B,2,Fast,,,\r\n56.48,-2.99,B,3,Rapid,,,\r\n"
    (root / "dundee" / "cp-locations_enriched.csv").write_text(locations)
    return root


def test_cli_writes_params_that_load(tmp_path: Path) -> None:
    from models.city import load_params

    out = tmp_path / "params.json"
    calibrate.main([str(_fake_shared(tmp_path / "shared")), "-o", str(out), "--no-package-copy"])
    params = load_params(out)
    dundee = params.provenance[0]
    assert dundee.rows == 4 * 24
    assert dundee.excluded == {"duplicate": 72}  # the four files repeat the same event numbers
    perth = params.provenance[1]
    assert perth.excluded == {"duplicate": 3 * 24 - 8}  # natural key: 8 distinct rows
    assert params.sessions_used == 24 + 8
    assert params.sites.chargers_per_site == {"1": 1, "2": 1}
    again = tmp_path / "again.json"
    calibrate.main([str(tmp_path / "shared"), "-o", str(again), "--no-package-copy"])
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.shared
@pytest.mark.slow
def test_committed_params_are_what_the_real_data_gives(shared_data: Path) -> None:
    produced = calibrate.render(calibrate.calibrate(shared_data))
    committed = (REPO / "data" / "city" / "params.json").read_text(encoding="utf-8")
    assert json.loads(produced) == json.loads(committed)
    assert produced == committed


@pytest.mark.shared
def test_real_exclusions_match_the_documented_quirks(shared_data: Path) -> None:
    """SOURCES.md: 2 sentinel ends and 329 open sessions in Dundee, 21 test rows in Perth."""
    committed = json.loads((REPO / "data" / "city" / "params.json").read_text())
    by_name = {p["dataset"]: p for p in committed["provenance"]}
    assert by_name["dundee"]["excluded"]["sentinel_end"] == 2
    assert by_name["dundee"]["excluded"]["open_session"] <= 329
    assert by_name["perth_kinross"]["excluded"]["test_site"] == 21
    for source in committed["provenance"]:
        for entry in source["files"]:
            assert (shared_data / entry["file"]).is_file()


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shared = _fake_shared(tmp_path / "shared")
    (shared / "dundee" / "cpdata.csv").unlink()
    with pytest.raises(SystemExit) as exit_info:
        calibrate.main([str(shared), "-o", str(tmp_path / "p.json"), "--no-package-copy"])
    assert exit_info.value.code == 2
    assert "cpdata.csv: input file not found" in capsys.readouterr().err


def test_a_dataset_with_nothing_usable_is_an_error(tmp_path: Path) -> None:
    shared = _fake_shared(tmp_path / "shared")
    for name in calibrate.DATASETS[1].files:
        write_csv(shared / "perth_kinross", PERTH_HEADER, []).rename(
            shared / "perth_kinross" / name
        )
    with pytest.raises(calibrate.CalibrationError, match="perth_kinross: no usable sessions"):
        calibrate.calibrate(shared)
