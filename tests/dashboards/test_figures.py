from __future__ import annotations

from datetime import timedelta

from chargegrid.inventory import Inventory
from chargegrid.live import ConnectorLive
from dashboards.data import PowerPoint
from dashboards.figures import (
    STATUS_COLOURS,
    WAITING,
    connector_label,
    format_duration,
    headlines,
    power_figure,
    session_rows,
    station_names,
    status_colour,
    status_counts,
    status_tiles,
)
from tests.dashboards.conftest import T0, estate, make_snapshot

OCPP_STATUSES = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
    "Occupied",
    "Unknown",
)


def test_power_figure_one_trace_per_connector_in_kw() -> None:
    series = {
        "CP-1/1": [PowerPoint(T0 - timedelta(minutes=1), 7_000.0), PowerPoint(T0, 7_400.0)],
        "CP-1/2": [PowerPoint(T0, 0.0)],
    }
    fig = power_figure(series, end=T0, window_s=600, labels={"CP-1/1": "Harbour · CP-1/1"})
    assert [t.meta for t in fig.data] == ["CP-1/1", "CP-1/2"]
    assert fig.data[0].name == "Harbour · CP-1/1"
    assert fig.data[1].name == "CP-1/2"
    assert list(fig.data[0].y) == [7.0, 7.4]
    assert fig.layout.yaxis.title.text == "power (kW)"
    assert not fig.layout.annotations


def test_power_figure_window_is_relative_to_event_time_not_wall_clock() -> None:
    series = {"A/1": [PowerPoint(T0 - timedelta(minutes=20), 1.0), PowerPoint(T0, 2.0)]}
    fig = power_figure(series, end=T0, window_s=600)
    assert list(fig.data[0].x) == [T0]
    lo, hi = fig.layout.xaxis.range
    assert (lo, hi) == (T0 - timedelta(minutes=10), T0)


def test_power_figure_connector_with_only_old_samples_is_dropped() -> None:
    fig = power_figure({"A/1": [PowerPoint(T0 - timedelta(hours=1), 1.0)]}, end=T0, window_s=600)
    assert not fig.data
    assert fig.layout.annotations[0].text == WAITING


def test_power_figure_without_data_says_waiting() -> None:
    fig = power_figure({})
    assert not fig.data
    assert fig.layout.annotations[0].text == WAITING


def test_every_ocpp_status_has_its_own_colour() -> None:
    assert set(STATUS_COLOURS) == set(OCPP_STATUSES)
    assert len(set(STATUS_COLOURS.values())) == len(OCPP_STATUSES)
    assert status_colour("NotAStatus") == STATUS_COLOURS["Unknown"]


def test_status_tiles_grouped_by_station_with_colour_and_kw() -> None:
    tiles = status_tiles(make_snapshot().connectors, estate())
    assert [(t.station, t.key, t.status) for t in tiles] == [
        ("Harbour Car Park", "CP-1/1", "Charging"),
        ("Harbour Car Park", "CP-1/2", "Available"),
        ("Station Road", "CP-2/1", "Faulted"),
    ]
    assert tiles[0].power_kw == 7.0
    assert tiles[2].colour == STATUS_COLOURS["Faulted"]


def test_status_tiles_for_charger_missing_from_inventory() -> None:
    tiles = status_tiles(
        [ConnectorLive(charger_id="X", connector_id=3, status="Weird")], Inventory()
    )
    assert (tiles[0].station, tiles[0].key, tiles[0].colour) == (
        "",
        "X/3",
        STATUS_COLOURS["Unknown"],
    )


def test_status_counts_fold_unknown_statuses() -> None:
    connectors = [
        ConnectorLive(charger_id="A", connector_id=1, status="Charging"),
        ConnectorLive(charger_id="A", connector_id=2, status="Bogus"),
        ConnectorLive(charger_id="A", connector_id=3, status="Available"),
    ]
    assert status_counts(connectors) == {"Available": 1, "Charging": 1, "Unknown": 1}


def test_session_rows_energy_power_soc_duration_in_event_time() -> None:
    snap = make_snapshot()
    rows = session_rows(snap.connectors, estate(), event_time=snap.event_time)
    assert len(rows) == 1
    row = rows[0]
    assert (row.connector, row.station, row.transaction_id) == (
        "CP-1/1",
        "Harbour Car Park",
        "tx-1",
    )
    assert (row.energy_kwh, row.power_kw, row.soc_pct) == (4.9, 7.0, 54.0)
    assert row.duration_s == 42 * 60


def test_session_rows_without_event_time_have_unknown_duration() -> None:
    rows = session_rows(make_snapshot().connectors, estate(), event_time=None)
    assert rows[0].duration_s is None
    assert format_duration(None) == "–"


def test_format_duration_boundaries() -> None:
    assert format_duration(0) == "0 min 00 s"
    assert format_duration(59.9) == "0 min 59 s"
    assert format_duration(3599) == "59 min 59 s"
    assert format_duration(3600) == "1 h 00 min"
    assert format_duration(3 * 3600 + 5 * 60) == "3 h 05 min"


def test_headlines() -> None:
    snap = make_snapshot()
    items = headlines(
        snap.connectors, energy_today_wh=34_900.0, readings_total=1234, dead_letter_total=5
    )
    assert {h.key: h.value for h in items} == {
        "charging": "1 / 3",
        "power": "7.0 kW",
        "energy": "34.9 kWh",
        "readings": "1,234",
        "dead": "5",
    }


def test_headlines_with_nothing_yet() -> None:
    items = headlines([], energy_today_wh=0.0, readings_total=0, dead_letter_total=0)
    assert [h.value for h in items] == ["0 / 0", "0.0 kW", "0.0 kWh", "0", "0"]


def test_connector_label() -> None:
    stations = station_names(estate())
    assert connector_label("CP-2/1", stations) == "Station Road · CP-2/1"
    assert connector_label("ZZ/1", stations) == "ZZ/1"
