"""Every dataset in ``../shared/data`` through ``chargegrid import``: rows read, sessions, total
energy and rejections by reason, against figures computed here independently with pandas
(vectorised re-statements of the documented rules) or quoted from ``SOURCES.md``."""

from __future__ import annotations

from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from chargegrid.settings import Settings
from warehouse.importers.run import run_import

pytestmark = pytest.mark.shared

TOLERANCE = 1.1  # the importer's OUTLET_TOLERANCE, restated
SLACK_S = 60.0


def _lake(settings: Settings, source: str) -> tuple[int, int, dict[str, int]]:
    with duckdb.connect(str(settings.catalog_path), read_only=True) as con:
        count, energy = con.execute(
            "select count(*), coalesce(sum(energy_wh), 0) from historical_sessions where source=?",
            [source],
        ).fetchone() or (0, 0)
        reasons = con.execute(
            "select reason, count(*) from import_rejects where source=? group by reason", [source]
        ).fetchall()
    return count, int(energy), dict(reasons)


def _london(date: pd.Series, time: pd.Series, first: bool) -> pd.Series:
    naive = pd.to_datetime(date + " " + time, format="%d/%m/%Y %H:%M")
    ambiguous = np.full(len(naive), first)
    return naive.dt.tz_localize(
        "Europe/London", ambiguous=ambiguous, nonexistent=pd.Timedelta("1h")
    ).dt.tz_convert("UTC")


def _uk_rated_w(model: pd.Series, connector: pd.Series) -> pd.Series:
    lower = model.str.lower()
    kw = lower.str.extract(r"(\d+(?:\.\d+)?)\s*kw")[0].astype(float).fillna(7.0) * 1000
    rapid = lower.str.contains("rapid") | lower.str.contains("raption")
    rated = kw.where(~rapid, 50_000.0)
    rated = rated.where(~(rapid & lower.str.contains("triple") & (connector == 3)), 43_000.0)
    return rated.where(~lower.str.contains("semi-rapid"), 22_000.0)


def _after_rules(ok: pd.DataFrame, reasons: Counter[str]) -> tuple[pd.DataFrame, Counter[str]]:
    """The common plausibility rules, in order, on columns start/end/wh/rated."""
    seconds = (ok.end - ok.start).dt.total_seconds()
    checks = [
        ("end_before_start", seconds < 0),
        ("energy_negative", ok.wh < 0),
        ("zero_duration", seconds == 0),
        ("zero_energy", ok.wh == 0),
        ("energy_exceeds_outlet", ok.wh > TOLERANCE * ok.rated * (seconds + SLACK_S) / 3600),
    ]
    left = pd.Series(True, index=ok.index)
    for reason, failed in checks:
        hit = left & failed
        if hit.sum():
            reasons[reason] += int(hit.sum())
        left &= ~hit
    return ok[left], reasons


def _uk_expected(frame: pd.DataFrame) -> tuple[pd.DataFrame, Counter[str]]:
    """Dundee/Perth reader rules, then the common ones."""
    reasons: Counter[str] = Counter()
    frame = frame.copy()
    steps = [
        ("unknown_charger", frame["CP ID"].isna()),
        ("test_site", frame["Site"].fillna("").str.upper().str.contains("TEST SITE")),
        ("no_end", frame["End Date"].isna() | frame["End Time"].isna()),
        ("sentinel_date", frame["End Date"].fillna("").str.endswith("/1970")),
        ("energy_missing", frame["Total kWh"].isna()),
        ("energy_negative", frame["Total kWh"] < 0),
    ]
    left = pd.Series(True, index=frame.index)
    for reason, failed in steps:
        hit = left & failed
        if hit.sum():
            reasons[reason] += int(hit.sum())
        left &= ~hit
    ok = frame[left].copy()
    ok["start"] = _london(ok["Start Date"], ok["Start Time"], True)
    end0 = _london(ok["End Date"], ok["End Time"], True)
    end1 = _london(ok["End Date"], ok["End Time"], False)
    ok["end"] = end0.where(~((end0 < ok.start) & (end1 >= ok.start)), end1)
    ok["wh"] = (ok["Total kWh"] * 1000).round().astype("int64")
    ok["rated"] = _uk_rated_w(ok["Model"].fillna(""), ok["Connector"])
    return _after_rules(ok, reasons)


@pytest.mark.slow
def test_dundee_all_four_exports(settings: Settings, shared_data: Path) -> None:
    folder = shared_data / "dundee"
    frame = pd.concat(
        [
            pd.read_csv(p, dtype={"CP ID": str})
            for p in sorted(folder.glob("c*.csv"))
            if not p.name.startswith("cp-locations")
        ],
        ignore_index=True,
    )
    kept, reasons = _uk_expected(frame)

    report = run_import(settings, "dundee", [folder])

    assert report.rows_read == 67_112  # SOURCES.md
    assert _lake(settings, "dundee") == (len(kept), int(kept.wh.sum()), dict(+reasons))
    assert reasons["test_site"] == 464 and reasons["sentinel_date"] == 2
    with duckdb.connect(str(settings.catalog_path), read_only=True) as con:
        located = con.execute(
            "select count(distinct s.station_id) filter (where r.lat is not null),"
            " count(distinct s.station_id) from historical_sessions s left join registry_stations"
            " r on r.source = s.source and r.station_id = s.station_id where s.source = 'dundee'"
        ).fetchone()
    assert located is not None and located[0] == located[1]  # enriched locations cover every CP


@pytest.mark.slow
def test_perth_three_yearly_exports(settings: Settings, shared_data: Path) -> None:
    folder = shared_data / "perth_kinross"
    files = sorted(p for p in folder.glob("*.csv") if p.name != "perth_locations.csv")
    frame = pd.concat([pd.read_csv(p, dtype={"CP ID": str}) for p in files], ignore_index=True)
    kept, reasons = _uk_expected(frame)

    report = run_import(settings, "perth", [folder])

    assert report.rows_read == 66_664  # SOURCES.md
    assert reasons["test_site"] == 21  # SOURCES.md
    assert _lake(settings, "perth") == (len(kept), int(kept.wh.sum()), dict(+reasons))


def _boulder_frame(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    offset_h = frame.Start_Time_Zone.map({"MST": 7, "MDT": 6})
    local = "%Y/%m/%d %H:%M:%S"
    frame["start"] = pd.to_datetime(frame.Start_Date___Time.str[:19], format=local)
    frame["end"] = pd.to_datetime(frame.End_Date___Time.str[:19], format=local)
    for column in ("start", "end"):
        frame[column] = (frame[column] + pd.to_timedelta(offset_h, unit="h")).dt.tz_localize("UTC")
    hms = frame.Total_Duration__hh_mm_ss_.str.split(":", expand=True).astype(int)
    frame["duration_s"] = hms[0] * 3600 + hms[1] * 60 + hms[2]
    frame["wh"] = (frame.Energy__kWh_.astype(float) * 1000).round().astype("int64")
    frame["station"] = frame.Station_Name.replace(
        {"BOULDERJUNCTION / JUNCTION ST1": "BOULDER / JUNCTION ST1"}
    )
    return frame


BOULDER_PRIMARY = "Electric_Vehicle_Charging_Station_Energy_Consumption.csv"
BOULDER_AGAIN = "ev_chargingstationdata_Boulder_March 2021.csv"


def _boulder_expected(folder: Path) -> tuple[pd.DataFrame, Counter[str], int]:
    """Sessions kept and rejections by reason of both deliveries; rows of the primary file."""
    primary = _boulder_frame(folder / BOULDER_PRIMARY)
    again = _boulder_frame(folder / BOULDER_AGAIN)
    frame = pd.concat([primary, again], ignore_index=True)
    reasons: Counter[str] = Counter()
    sentinel = frame.End_Date___Time.str.startswith("1970") | (
        frame.Total_Duration__hh_mm_ss_ == "838:59:59"
    )
    gap = ((frame.end - frame.start).dt.total_seconds() - frame.duration_s).abs()
    implausible = ~sentinel & (frame.end >= frame.start) & (gap > 15 * 60)
    reasons["sentinel_date"] = int(sentinel.sum())
    reasons["implausible_value"] = int(implausible.sum())
    valid = frame[~sentinel & ~implausible]
    duplicate = valid.duplicated(["station", "start", "end", "wh"])
    reasons["duplicate"] = int(duplicate.sum())
    ok = valid[~duplicate].assign(rated=19_200.0)
    kept, reasons = _after_rules(ok, reasons)
    return kept, reasons, len(primary)


def test_boulder_portal_file_and_reexport_merged(settings: Settings, shared_data: Path) -> None:
    folder = shared_data / "boulder"
    again_name = BOULDER_AGAIN
    kept, reasons, primary_rows = _boulder_expected(folder)

    report = run_import(settings, "boulder", [folder])

    assert report.rows_read == 23_597 + 24_081  # SOURCES.md
    assert _lake(settings, "boulder") == (len(kept), int(kept.wh.sum()), dict(+reasons))
    with duckdb.connect(str(settings.catalog_path), read_only=True) as con:
        (added,) = con.execute(
            "select count(*) from historical_sessions where source = 'boulder' and file = ?",
            [again_name],
        ).fetchone() or (0,)
    assert added == int((kept.index >= primary_rows).sum()) > 400  # March 2021 sessions


def test_boulder_reexport_imported_later_merges_and_a_repeat_is_a_no_op(
    settings: Settings, shared_data: Path
) -> None:
    folder = shared_data / "boulder"
    primary = folder / BOULDER_PRIMARY
    kept, reasons, _ = _boulder_expected(folder)

    run_import(settings, "boulder", [primary])
    later = run_import(settings, "boulder", [folder])  # the primary is skipped by content

    assert later.files_skipped == [primary.name]
    assert later.rows_read == 24_081  # the re-export only (SOURCES.md)
    assert later.already_in_lake > 20_000  # it repeats the portal rows
    held = _lake(settings, "boulder")
    assert held[:2] == (len(kept), int(kept.wh.sum()))  # as one import of both
    # as many rejections; a repeat of a row the rules refused is refused again by the rule
    # (zero_energy, ...), not as a duplicate: the lake keeps no key of refused rows
    assert sum(held[2].values()) == sum(reasons.values())
    again = run_import(settings, "boulder", [folder])
    assert (again.rows_read, sorted(again.files_skipped)) == (
        0,
        sorted(p.name for p in [primary, folder / "ev_chargingstationdata_Boulder_March 2021.csv"]),
    )
    assert _lake(settings, "boulder") == held


def test_sap_with_prices_soc_and_idle(settings: Settings, shared_data: Path) -> None:
    path = shared_data / "sap_labs_france" / "conso-ve-sap0.csv"
    frame = pd.read_csv(path, sep=";", dtype={"Prix total": str})
    reasons: Counter[str] = Counter()
    open_ = frame["Date fin"].isna() | frame["Consommation totale (Wh)"].isna()
    reasons["no_end"] = int(open_.sum())
    ok = frame[~open_].copy()
    ok["start"] = pd.to_datetime(ok["Date demarrage"], utc=True, format="ISO8601")
    ok["end"] = pd.to_datetime(ok["Date fin"], utc=True, format="ISO8601")
    ok["wh"] = ok["Consommation totale (Wh)"].round().astype("int64")
    ok["rated"] = np.where(ok["Type Lieu de charge"] == "Domicile", 22_000.0, 150_000.0)
    kept, reasons = _after_rules(ok, reasons)
    cents = sum(
        int(Decimal(p).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) * 100)
        for p in kept["Prix total"]
    )

    report = run_import(settings, "sap", [path])

    assert report.rows_read == 26_823  # SOURCES.md
    assert _lake(settings, "sap") == (len(kept), int(kept.wh.sum()), dict(+reasons))
    with duckdb.connect(str(settings.catalog_path), read_only=True) as con:
        price, currencies, unknown_soc = con.execute(
            "select sum(price_minor), list(distinct currency),"
            " count(*) filter (where list_contains(flags, 'soc_unknown'))"
            " from historical_sessions where source = 'sap'"
        ).fetchone() or (0, [], 0)
    assert price == cents
    assert currencies == ["EUR"]
    both_zero = (kept["Charge batterie demarrage (%)"] == 0) & (
        kept["Charge batterie fin (%)"] == 0
    )
    assert unknown_soc == int(both_zero.sum())


def test_epfl_workbook(settings: Settings, shared_data: Path) -> None:
    path = shared_data / "epfl_desl_dc_fast" / "Session_data.xlsx"
    frame = pd.read_excel(path)
    ok = frame.assign(
        start=frame.Arrival.dt.tz_localize("Europe/Zurich", ambiguous=True).dt.tz_convert("UTC"),
        end=frame.Departure.dt.tz_localize("Europe/Zurich", ambiguous=True).dt.tz_convert("UTC"),
        wh=frame["Energy (Wh)"].round().astype("int64"),
        rated=172_500.0,
    )
    kept, reasons = _after_rules(ok, Counter())

    report = run_import(settings, "epfl", [path])

    assert report.rows_read == 1_878  # SOURCES.md
    assert _lake(settings, "epfl") == (len(kept), int(kept.wh.sum()), dict(+reasons))
    assert round(kept.wh.sum() / 1e6, 1) == 60.4  # SOURCES.md: 60,442 kWh


def test_afdc_registry_into_stations(settings: Settings, shared_data: Path) -> None:
    path = shared_data / "stations_afdc_ny" / "alt_fuel_stations.csv"

    report = run_import(settings, "afdc", [path])

    assert report.rows_read == 4_857  # SOURCES.md
    assert dict(report.rejected) == {"not_ev_charging": 4_857 - 4_736}
    with duckdb.connect(str(settings.catalog_path), read_only=True) as con:
        stations, level2, dc_fast, located = con.execute(
            "select count(*), sum(level2_ports), sum(dc_fast_ports),"
            " count(*) filter (where lat between 40 and 46 and lon between -80 and -71)"
            " from registry_stations where source = 'afdc'"
        ).fetchone() or (0, 0, 0, 0)
    assert (stations, level2, dc_fast) == (4_736, 14_626, 2_161)  # SOURCES.md
    assert located == stations  # every station inside New York State's bounding box
