"""Sessions are billed in the stream as they close, by the same implementation as re-billing."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from chargegrid.clock import FrozenClock
from chargegrid.events import MeterValue, Topic
from chargegrid.inventory import Charger, Connector, Inventory, Station, save_inventory
from chargegrid.settings import Settings
from chargegrid.tariffs import TariffResolver, load_tariff_dir
from pipeline.billing import bill_sessions_multi
from pipeline.bills import REPO_TARIFFS
from tests.pipeline.conftest import T0, drain, publish, session_events, sql

NOW = T0 + timedelta(days=1)


def _inventory(settings: Settings, **tariff_of: str) -> Inventory:
    chargers = tuple(
        Charger(
            charger_id=c,
            station_id="S1",
            connectors=(Connector(connector_id=1, max_power_w=22000.0),),
            tariff_id=tariff_of.get(c),
        )
        for c in ("CH1", "CH2")
    )
    station = Station(station_id="S1", name="S1", lat=56.46, lon=-2.97)
    inventory = Inventory(stations=(station,), chargers=chargers)
    save_inventory(inventory, settings.inventory_path)
    return inventory


def _sessions() -> list[object]:
    # CH1: 20 kWh over 20 minutes; CH2: 5 kWh over 5 minutes, crossing 10:00-10:05
    return [
        *session_events("CH1", "T1", [1000.0 + 1000.0 * k for k in range(1, 21)]),
        *session_events("CH2", "T9", [1000.0 + 1000.0 * k for k in range(1, 6)]),
    ]


def test_each_closed_session_is_billed_once_under_the_default_tariff(settings: Settings) -> None:
    _inventory(settings)
    publish(settings, Topic.meter_readings, _sessions())  # type: ignore[arg-type]
    drain(settings, batch_rows=3, clock=FrozenClock(NOW))
    rows = sql(
        settings,
        "SELECT session_id, tariff_id, status, energy_wh, total_minor, currency FROM bills "
        "ORDER BY 1",
    )
    # £0.15/kWh, £2.00 minimum: 20 kWh -> £3.00; 5 kWh -> £0.75, raised to the £2.00 minimum
    assert rows == [
        ("CH1/T1", "dundee-flat-2018", "billed", 20000.0, 300, "GBP"),
        ("CH2/T9", "dundee-flat-2018", "billed", 5000.0, 200, "GBP"),
    ]
    lines = sql(settings, "SELECT sum(amount_minor) FROM bill_lines GROUP BY session_id ORDER BY 1")
    assert [total for (total,) in lines] == [200, 300]


def test_stream_bills_equal_re_billing_the_lake(settings: Settings) -> None:
    inventory = _inventory(settings, CH1="uk-tou-ac-2024", CH2="dc-rapid-idle-2024")
    publish(settings, Topic.meter_readings, _sessions())  # type: ignore[arg-type]
    drain(settings, batch_rows=2, clock=FrozenClock(NOW))
    readings = pl.DataFrame(
        sql(
            settings,
            "SELECT charger_id, transaction_id, ts, energy_register_wh, power_w FROM readings",
        ),
        schema=["charger_id", "transaction_id", "ts", "energy_register_wh", "power_w"],
        orient="row",
    ).with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    sessions = pl.DataFrame(
        sql(
            settings,
            "SELECT session_id, charger_id, started_at, ended_at, meter_start_wh, meter_stop_wh "
            "FROM sessions",
        ),
        schema=[
            "session_id",
            "charger_id",
            "started_at",
            "ended_at",
            "meter_start_wh",
            "meter_stop_wh",
        ],
        orient="row",
    ).with_columns(pl.col("started_at", "ended_at").dt.replace_time_zone("UTC"))
    resolver = TariffResolver(inventory, load_tariff_dir(REPO_TARIFFS))
    again = bill_sessions_multi(readings, sessions, resolver).sessions
    expected = sorted(again.select("session_id", "tariff_id", "total_minor").iter_rows())
    got = sql(settings, "SELECT session_id, tariff_id, total_minor FROM bills ORDER BY 1")
    assert got == expected
    assert {t for _, t, _ in got} == {"uk-tou-ac-2024", "dc-rapid-idle-2024"}


def test_a_session_no_tariff_can_bill_is_kept_unbilled_with_the_reason(
    settings: Settings,
) -> None:
    _inventory(settings, CH1="be-dynamic-spot")  # needs day-ahead prices the stream lacks
    publish(settings, Topic.meter_readings, _sessions())  # type: ignore[arg-type]
    drain(settings, clock=FrozenClock(NOW))
    rows = sql(settings, "SELECT session_id, status, total_minor, detail FROM bills ORDER BY 1")
    assert [r[:3] for r in rows] == [("CH1/T1", "unbilled", None), ("CH2/T9", "billed", 200)]
    assert "price" in rows[0][3].lower()


def test_charging_ended_at_is_the_last_reading_that_delivered_energy(settings: Settings) -> None:
    start, *readings, stop = session_events("CH1", "T1", [1500.0, 2000.0, 2000.0, 2000.0])
    idle = [r.model_copy(update={"power_w": 0.0}) for r in readings[2:]]
    no_power = MeterValue(
        charger_id="CH2", ts=T0, connector_id=1, transaction_id=None, energy_register_wh=1.0
    )
    publish(settings, Topic.meter_readings, [start, *readings[:2], *idle, stop, no_power])
    drain(settings, clock=FrozenClock(NOW))
    rows = sql(settings, "SELECT started_at, charging_ended_at, ended_at FROM sessions")
    ((started, charging_ended, ended),) = rows
    assert charging_ended - started == timedelta(minutes=2)  # the 2nd reading, 120 s in
    assert ended - charging_ended == timedelta(minutes=3)  # idle after full
