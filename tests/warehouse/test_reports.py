"""Utilisation report numbers recomputed by hand from the rows in ``report_fixtures``."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from chargegrid.settings import Settings
from tests.warehouse import report_fixtures
from warehouse.reports.run import interval_table, utilisation_tables
from warehouse.reports.utilisation import NEVI_YEAR_MIN, ReportError, ReportRange, parse_range


@pytest.fixture
def built(settings: Settings) -> Settings:
    report_fixtures.build(settings)
    return settings


def _rows(settings: Settings, by: str, grain: str, source: str = "all") -> list[dict[str, Any]]:
    rng = parse_range("2024-03-01", "2024-03-02", source)
    return utilisation_tables(settings, rng, by, [grain])[grain].to_pylist()


def _one(rows: list[dict[str, Any]], source: str, day: int) -> dict[str, Any]:
    (row,) = [r for r in rows if r["source"] == source and r["period_start"].day == day]
    return row


def test_pipeline_day_counts_sessions_energy_and_clipped_occupancy(built: Settings) -> None:
    rows = _rows(built, "station", "day")
    first, second = _one(rows, "pipeline", 1), _one(rows, "pipeline", 2)
    assert (first["ports"], first["available_h"]) == (2, 48.0)
    assert (first["sessions"], first["energy_kwh"]) == (2, 30.0)
    # T1 10:00-14:00 = 4 h, T2 22:00-24:00 = 2 h (the rest falls on the next day)
    assert first["occupied_h"] == pytest.approx(6.0)
    assert first["occupied_pct"] == pytest.approx(100 * 6 / 48)
    # T2 00:00-02:00 = 2 h, T3 08:00-09:00 = 1 h; only T3 started that day
    assert second["occupied_h"] == pytest.approx(3.0)
    assert (second["sessions"], second["energy_kwh"]) == (1, 0.0)


def test_charging_and_idle_after_full_from_the_meter(built: Settings) -> None:
    first = _one(_rows(built, "station", "day"), "pipeline", 1)
    # charging T1 10-12 (last power at 12:00) + T2 22-24 = 4 h; idle T1 12-14 = 2 h
    assert first["charging_pct"] == pytest.approx(100 * 4 / 48)
    assert first["idle_after_full_h"] == pytest.approx(2.0)


def test_unknown_charging_end_makes_charging_unknown_not_zero(built: Settings) -> None:
    second = _one(_rows(built, "station", "day"), "pipeline", 2)
    assert second["charging_pct"] is None  # T3 has no readings
    assert second["idle_after_full_h"] is None


def test_start_success_is_share_of_transactions_with_readings(built: Settings) -> None:
    rows = _rows(built, "station", "day")
    assert _one(rows, "pipeline", 1)["start_success_pct"] == 100.0
    assert _one(rows, "pipeline", 2)["start_success_pct"] == 0.0
    assert _one(rows, "import:test", 1)["start_success_pct"] is None


def test_nevi_uptime_merges_charger_and_port_outages(built: Settings) -> None:
    ports = {
        r["port_id"]: r for r in _rows(built, "connector", "day") if r["period_start"].day == 1
    }
    # port 1: 360 min (Feb 29) + 60 min (charger 12:00-13:00; its own 12:30-12:45 is inside)
    assert ports["CH1/1"]["uptime_pct"] == pytest.approx(
        (NEVI_YEAR_MIN - 420) / NEVI_YEAR_MIN * 100
    )
    assert ports["CH1/2"]["uptime_pct"] == pytest.approx((NEVI_YEAR_MIN - 60) / NEVI_YEAR_MIN * 100)
    station = _one(_rows(built, "station", "day"), "pipeline", 1)
    assert station["uptime_pct"] == pytest.approx((NEVI_YEAR_MIN - 240) / NEVI_YEAR_MIN * 100)


def test_imported_history_has_unknown_uptime_and_revenue_when_priced(built: Settings) -> None:
    rows = _rows(built, "station", "day", source="import:test")
    assert {r["source"] for r in rows} == {"import:test"}
    first, second = _one(rows, "import:test", 1), _one(rows, "import:test", 2)
    assert first["uptime_pct"] is None and second["uptime_pct"] is None
    assert (first["revenue_minor"], first["currency"]) == (250, "EUR")
    assert second["revenue_minor"] is None  # A/2 has no price: revenue unknown, not 250
    # A/1 seen from Mar 1: one port that day; A/2 joins on Mar 2
    assert (first["ports"], second["ports"]) == (1, 2)
    # charging 23:00-24:00 inside the day, idle after 00:30 falls on Mar 2
    assert first["charging_pct"] == pytest.approx(100 * 1 / 24)
    assert first["occupied_pct"] == pytest.approx(100 * 1 / 24)
    assert second["occupied_h"] == pytest.approx(1.5)


def test_month_grain_is_clipped_to_the_requested_days(built: Settings) -> None:
    (month,) = [r for r in _rows(built, "site", "month") if r["source"] == "pipeline"]
    assert month["site_id"] == "S1"
    assert month["period_start"].day == 1 and month["period_end"].day == 3
    assert month["available_h"] == 96.0
    assert month["occupied_h"] == pytest.approx(9.0)
    assert month["sessions"] == 3


def test_intervals_spread_energy_over_plug_in_time(built: Settings) -> None:
    rng = ReportRange(date(2024, 3, 1), date(2024, 3, 1))
    table = interval_table(built, rng, "connector").to_pylist()
    t1 = [r for r in table if r["port_id"] == "CH1/1"]
    assert len(t1) == 16  # 10:00-14:00 in 15-minute slots
    assert all(r["occupied_min"] == 15.0 for r in t1)
    assert sum(r["energy_wh"] for r in t1) == pytest.approx(20_000.0)
    a1 = [r for r in table if r["port_id"] == "A/1"]
    # 5 kWh spread over 23:00-00:30 (charging end known): 4 of 6 slots on Mar 1
    assert sum(r["energy_wh"] for r in a1) == pytest.approx(5_000 * 4 / 6)


@pytest.mark.parametrize(
    ("first", "last", "source"),
    [
        ("2024-03-02", "2024-03-01", "all"),
        ("2024-13-01", "2024-03-01", "all"),
        ("2024-03-01", "2024-03-02", "ftp"),
    ],
)
def test_bad_range_or_source_is_a_typed_error(first: str, last: str, source: str) -> None:
    with pytest.raises(ReportError):
        parse_range(first, last, source)
