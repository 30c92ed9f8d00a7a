"""Real tariff sources: acnportal TOU files (hand-computed bills) and ENTSO-E price exports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from chargegrid.sources.acnportal import load_acnportal_tariff
from chargegrid.sources.entsoe import load_entsoe_prices
from chargegrid.tariffs import TariffError, from_us, to_us
from tests.pipeline.billing_support import (
    compiled_for,
    energy_by_line,
    minor_by_line,
    run,
    steady,
)

LA = ZoneInfo("America/Los_Angeles")


def acn(shared_data: Path, name: str) -> Path:
    return shared_data / "tariffs_acnportal" / f"{name}.json"


def bill(path: Path, start: datetime, minutes: int, power_w: float) -> dict[str, int]:
    t = load_acnportal_tariff(path)
    compiled = compiled_for(t, start, start + timedelta(minutes=minutes))
    return minor_by_line(compiled, run(compiled, [steady(start, minutes, power_w, 15.0)]))


@pytest.mark.shared
def test_sce_tou_ev_4_summer_weekday_midday_peak(shared_data: Path) -> None:
    # Wed 10 Jul 2019 11:00-13:00 PDT at 5 kW: 5 kWh × 0.0925 + 5 kWh × 0.26668
    got = bill(
        acn(shared_data, "sce_tou_ev_4_march_2019"),
        datetime(2019, 7, 10, 11, tzinfo=LA),
        120,
        5000.0,
    )
    assert got == {"summer-weekday@0800": 46, "summer-weekday@1200": 133}  # 46.25, 133.34


@pytest.mark.shared
def test_sce_tou_ev_8_june_2019_summer_weekend_peak(shared_data: Path) -> None:
    # Sat 13 Jul 2019 15:00-17:00 at 5 kW: 5 × 0.12597 = 62.985, 5 × 0.25563 = 127.815
    got = bill(
        acn(shared_data, "sce_tou_ev_8_june_2019"),
        datetime(2019, 7, 13, 15, tzinfo=LA),
        120,
        5000.0,
    )
    assert got == {"summer-weekend@0000": 63, "summer-weekend@1600": 128}


@pytest.mark.shared
def test_sce_tou_ev_8_oct_2018_season_boundary(shared_data: Path) -> None:
    # 30 Sep 2019 23:00 → 1 Oct 09:00 at 1 kW: summer night 1 kWh, winter 8 + 1 kWh
    got = bill(
        acn(shared_data, "sce_tou_ev_8_oct_2018"), datetime(2019, 9, 30, 23, tzinfo=LA), 600, 1000.0
    )
    assert got == {"summer@2100": 6, "winter@0000": 48, "winter@0800": 4}  # 5.993, 47.944, 3.964


@pytest.mark.shared
def test_pge_a10_summer_weekday_peak_and_winter_weekend_shadowing(shared_data: Path) -> None:
    path = acn(shared_data, "pge_a10_tou_aug_2019")
    got = bill(path, datetime(2019, 8, 14, 12, tzinfo=LA), 60, 4000.0)  # 4 × 0.23223 = 92.892
    assert got == {"summer-weekday@1200": 93}
    # Both winter entries say ALL: the first (weekday bands) also prices Saturdays.
    got = bill(path, datetime(2019, 12, 14, 8, tzinfo=LA), 120, 10_000.0)
    assert got == {"winter-weekday@0000": 65, "winter-weekday@0830": 222}  # 65.32, 221.55
    assert "Winter-Weekday shadows Winter-Weekend" in (load_acnportal_tariff(path).notes or "")


def bill_energy(path: Path, start: datetime, minutes: int, power_w: float) -> dict[str, int]:
    """mWh per line of a steady session (readings every 15 min)."""
    t = load_acnportal_tariff(path)
    compiled = compiled_for(t, start, start + timedelta(minutes=minutes))
    return energy_by_line(compiled, run(compiled, [steady(start, minutes, power_w, 15.0)]))


@pytest.mark.shared
def test_sce_tou_ev_8_oct_2018_spring_forward_day_has_23_hours(shared_data: Path) -> None:
    # Sun 10 Mar 2019, local midnight to midnight (08:00 UTC + 23 h) at 1 kW, winter bands:
    # 00-08 is 7 h (02:00 -> 03:00), 08-16 8 h, 16-21 5 h, 21-24 3 h
    path = acn(shared_data, "sce_tou_ev_8_oct_2018")
    start = datetime(2019, 3, 10, 8, tzinfo=UTC)
    energy = bill_energy(path, start, 23 * 60, 1000.0)
    assert energy == {
        "winter@0000": 7_000_000,
        "winter@0800": 8_000_000,
        "winter@1600": 5_000_000,
        "winter@2100": 3_000_000,
    }
    got = bill(path, start, 23 * 60, 1000.0)  # 41.951, 31.712, 88.49, 17.979 cents
    assert got == {"winter@0000": 42, "winter@0800": 32, "winter@1600": 88, "winter@2100": 18}


@pytest.mark.shared
def test_pge_a10_fall_back_day_has_25_hours(shared_data: Path) -> None:
    # Sun 3 Nov 2019 (winter: the ALL weekday bands), local midnight (07:00 UTC) + 25 h at 1 kW:
    # 00:00-08:30 is 9.5 h (01:00-02:00 twice), 08:30-21:30 13 h, 21:30-24:00 2.5 h
    path = acn(shared_data, "pge_a10_tou_aug_2019")
    start = datetime(2019, 11, 3, 7, tzinfo=UTC)
    energy = bill_energy(path, start, 25 * 60, 1000.0)
    assert energy == {
        "winter-weekday@0000": 9_500_000,
        "winter-weekday@0830": 13_000_000,
        "winter-weekday@2130": 2_500_000,
    }
    got = bill(path, start, 25 * 60, 1000.0)  # 124.108, 192.01, 32.66 cents
    assert got == {
        "winter-weekday@0000": 124,
        "winter-weekday@0830": 192,
        "winter-weekday@2130": 33,
    }


@pytest.mark.shared
def test_every_acnportal_file_imports_with_usd_and_la_time(shared_data: Path) -> None:
    for path in sorted((shared_data / "tariffs_acnportal").glob("*.json")):
        t = load_acnportal_tariff(path)
        assert (t.currency, t.timezone) == ("USD", "America/Los_Angeles")
        assert "not billed per session" in (t.notes or "")


def test_acnportal_file_with_mismatched_periods_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        '{"name": "x", "effective": "2019-1-1", "schedule": [{"id": "a", "effective_start": "1-1",'
        ' "effective_end": "12-31", "dow_mask": "ALL", "times": [0, 8], "tariffs": [0.1]}]}'
    )
    with pytest.raises(TariffError, match=r"bad\.json: .*2 times, 1 tariffs"):
        load_acnportal_tariff(path)


# -- ENTSO-E --


@pytest.mark.shared
def test_entsoe_2019_has_every_utc_hour_once_with_dst_handled(shared_data: Path) -> None:
    path = shared_data / "prices_entsoe_be" / "Day-ahead Prices_201901010000-202001010000.csv"
    s = load_entsoe_prices(path)
    assert len(s.start_us) == 8760
    assert from_us(s.start_us[0]) == datetime(2018, 12, 31, 23, tzinfo=UTC)
    assert np.all(s.start_us[1:] == s.end_us[:-1])  # contiguous: no hole, no overlap
    assert s.currency == "EUR"
    assert s.price_micro_minor_per_kwh.min() < 0  # negative prices kept
    k = int(np.searchsorted(s.start_us, to_us(datetime(2019, 10, 27, 0, tzinfo=UTC))))
    # the repeated 02:00-03:00 label: first CEST (00:00 UTC) 14.25, then CET (01:00 UTC) 25.81
    assert s.price_micro_minor_per_kwh[k : k + 2].tolist() == [1_425_000, 2_581_000]


@pytest.mark.shared
def test_entsoe_all_ne_export_is_a_clear_error(shared_data: Path) -> None:
    path = next((shared_data / "prices_entsoe_bad_export").glob("*.csv"))
    with pytest.raises(TariffError, match="no prices at all"):
        load_entsoe_prices(path)


HEADER = '"MTU (CET)","Day-ahead Price [EUR/MWh]","BZN|BE"\n'


def test_entsoe_ragged_rows_and_a_missing_hour(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        HEADER
        + '"01.01.2020 00:00 - 01.01.2020 01:00","41.88"\n'
        + '"01.01.2020 01:00 - 01.01.2020 02:00","n/e"\n'
        + '"01.01.2020 02:00 - 01.01.2020 03:00","-3.5"\n'
    )
    s = load_entsoe_prices(path)
    assert s.price_micro_minor_per_kwh.tolist() == [4_188_000, -350_000]
    assert s.end_us[0] != s.start_us[1]  # the n/e hour is a hole, not a zero price


def test_entsoe_bad_rows_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(HEADER + '"01.01.2020 00:00 - 01.01.2020 01:00","41.88"\n"yesterday","1"\n')
    with pytest.raises(TariffError, match=r"p\.csv: line 3: MTU 'yesterday'"):
        load_entsoe_prices(path)
    path.write_text(HEADER + '"01.01.2020 00:00 - 01.01.2020 01:00","cheap"\n')
    with pytest.raises(TariffError, match="line 2: price 'cheap' is not a number"):
        load_entsoe_prices(path)
    path.write_text("a,b\n1,2\n")
    with pytest.raises(TariffError, match="not an ENTSO-E day-ahead export"):
        load_entsoe_prices(path)
