"""Utilisation windows: exact minutes per 15-minute window, and late data corrects a window."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from chargegrid.clock import FrozenClock
from chargegrid.events import ConnectorStatus, Heartbeat, Topic
from chargegrid.inventory import Charger, Connector, Inventory, save_inventory
from chargegrid.settings import Settings
from pipeline.checks import Rules
from pipeline.windows import TS, _charging_runs, _energy_by_window, _session_points
from tests.pipeline.conftest import T0, drain, publish, session_events, sql

NOW = T0 + timedelta(days=1)
WINDOWS = (
    "SELECT strftime(window_start, '%H:%M'), round(occupied_min, 6), round(charging_min, 6), "
    "round(idle_after_full_min, 6), energy_wh, sessions_started, revenue_minor "
    "FROM windows_15m WHERE connector_id = 1 ORDER BY window_start"
)


def _session(charger: str = "CH1", txn: str = "T1", at_minutes: int = 0) -> list[object]:
    """10:00 + at: plugged 40 min; charges 7 kW for 20 min (1 kWh a reading... 20 kWh), then
    sits full for 20 min."""
    registers = [1000.0 + 1000.0 * min(k, 20) for k in range(1, 40)]
    start, *readings, stop = session_events(
        charger, txn, registers, at=T0 + timedelta(minutes=at_minutes)
    )
    readings = [
        r if k < 20 else r.model_copy(update={"power_w": 0.0}) for k, r in enumerate(readings)
    ]
    return [start, *readings, stop]


def test_a_session_fills_its_windows_exactly(settings: Settings) -> None:
    charger = Charger(
        charger_id="CH1",
        station_id="S1",
        connectors=(
            Connector(connector_id=1, max_power_w=22e3),
            Connector(connector_id=2, max_power_w=22e3),
        ),
    )
    save_inventory(Inventory(chargers=(charger,)), settings.inventory_path)
    publish(settings, Topic.meter_readings, _session())  # type: ignore[arg-type]
    drain(settings, batch_rows=7, clock=FrozenClock(NOW))
    rows = sql(settings, WINDOWS)
    # plugged 10:00-10:40; charging 10:00-10:20 (the 20th reading is the last that delivered);
    # idle after full 10:20-10:40; 20 kWh in the readings of 10:01..10:20; £3.00 at the stop
    assert rows == [
        ("10:00", 15.0, 15.0, 0.0, 14000.0, 1, 0),
        ("10:15", 15.0, 5.0, 10.0, 6000.0, 0, 0),
        ("10:30", 10.0, 0.0, 10.0, 0.0, 0, 300),
    ]
    (total,) = sql(settings, "SELECT sum(energy_wh) FROM windows_15m")[0]
    assert total == sql(settings, "SELECT sum(energy_wh) FROM sessions")[0][0] == 20000.0
    station = sql(
        settings,
        "SELECT station_id, ports, occupied_min, charging_min, idle_after_full_min, "
        "revenue_minor, uptime_pct FROM station_windows_hourly",
    )
    assert station == [("S1", 2, 40.0, 20.0, 20.0, 300, 100.0)]


def test_faults_and_missed_heartbeats_are_outage_minutes(settings: Settings) -> None:
    def status(minute: int, value: str, connector: int = 1) -> ConnectorStatus:
        at = T0 + timedelta(minutes=minute)
        return ConnectorStatus(charger_id="CH1", ts=at, connector_id=connector, status=value)

    def beat(minute: int) -> Heartbeat:
        return Heartbeat(charger_id="CH1", ts=T0 + timedelta(minutes=minute))

    records = [
        beat(0),
        status(65, "Faulted"),
        beat(66),
        status(110, "Available"),  # faulted 11:05-11:50
        beat(120),
        beat(150),  # silent 12:00-12:30: offline from 12:11 (660 s allowance) to 12:30
    ]
    publish(settings, Topic.connector_status, records)
    drain(settings, batch_rows=2, clock=FrozenClock(NOW))
    faulted = sql(
        settings,
        "SELECT strftime(window_start, '%H:%M'), faulted_min FROM windows_15m "
        "WHERE connector_id = 1 AND faulted_min > 0 ORDER BY 1",
    )
    assert faulted == [("11:00", 10.0), ("11:15", 15.0), ("11:30", 15.0), ("11:45", 5.0)]
    offline = sql(
        settings,
        "SELECT strftime(window_start, '%H:%M'), round(offline_min, 6) FROM windows_15m "
        "WHERE connector_id = 0 AND offline_min > 0 ORDER BY 1",
    )
    # silent gaps: 10:00-11:05 (offline 10:11-11:05), 11:06-11:50 (11:17-11:50), 12:00-12:30
    assert offline[-2:] == [("12:00", 4.0), ("12:15", 15.0)]
    assert sum(m for _, m in offline) == pytest.approx(54.0 + 33.0 + 19.0)


def test_late_data_corrects_a_window_that_looked_closed(settings: Settings) -> None:
    publish(settings, Topic.meter_readings, _session("CH1", "T1", at_minutes=120))
    drain(settings, clock=FrozenClock(NOW))
    assert sql(settings, "SELECT count(*) FROM windows_15m WHERE window_start < "
               "TIMESTAMPTZ '2025-03-01 11:00:00+00'") == [(0,)]  # fmt: skip
    publish(settings, Topic.meter_readings, _session("CH1", "T0", at_minutes=0))  # late
    drain(settings, clock=FrozenClock(NOW))
    assert sql(settings, WINDOWS)[:3] == [
        ("10:00", 15.0, 15.0, 0.0, 14000.0, 1, 0),
        ("10:15", 15.0, 5.0, 10.0, 6000.0, 0, 0),
        ("10:30", 10.0, 0.0, 10.0, 0.0, 0, 300),
    ]


def _points_frame(started: list[int], ended: list[int]) -> pl.DataFrame:
    return (
        pl.DataFrame(
            {
                "charger_id": [f"CH{i}" for i in range(len(started))],
                "transaction_id": ["T1"] * len(started),
                "started_at": started,
                "ended_at": ended,
                "meter_start_wh": [0.0] * len(started),
                "meter_stop_wh": [9.0] * len(started),
            }
        )
        .with_columns(pl.col("started_at", "ended_at").cast(TS))
        .with_row_index("_sid")
    )


def _readings(rows: list[tuple[int, int, float]]) -> pl.DataFrame:
    """Taken readings: (index of the session, µs, register Wh)."""
    return pl.DataFrame(
        rows, schema={"_closed": pl.Int64, "ts": pl.Int64, "energy_register_wh": pl.Float64},
        orient="row",
    ).with_columns(pl.col("ts").cast(TS), pl.lit(None, pl.Float64).alias("power_w"))  # fmt: skip


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        # interleaved sessions in log order, a reading at the start's time comes after the start
        (
            [(0, 10, 1.0), (1, 20, 2.0), (0, 30, 3.0), (1, 40, 4.0)],
            [(0, 10, 0.0), (0, 10, 1.0), (0, 30, 3.0), (0, 50, 9.0),
             (1, 15, 0.0), (1, 20, 2.0), (1, 40, 4.0), (1, 60, 9.0)],
        ),
        # a charger clock behind: a reading stamped before its session's start is put first
        (
            [(0, 5, 1.0), (1, 20, 2.0), (0, 30, 3.0)],
            [(0, 5, 1.0), (0, 10, 0.0), (0, 30, 3.0), (0, 50, 9.0),
             (1, 15, 0.0), (1, 20, 2.0), (1, 60, 9.0)],
        ),
    ],
)  # fmt: skip
def test_session_points_in_session_then_time_order(
    readings: list[tuple[int, int, float]], expected: list[tuple[int, int, float]]
) -> None:
    points = _session_points(_points_frame([10, 15], [50, 60]), _readings(readings))
    got = list(zip(points.sid.tolist(), points.ts_us.tolist(), points.wh.tolist(), strict=True))
    assert got == expected


def test_charging_runs_and_energy_per_window_stay_within_their_session() -> None:
    minute = 60_000_000
    frame = _points_frame([0, 0], [40 * minute, 40 * minute])
    # session 0: rises, a flat interval, rises again past 15:00; session 1: a missing register,
    # then a rise (no power samples: a rising register is what delivered energy)
    readings = _readings(
        [(0, 5 * minute, 2.0), (0, 10 * minute, 2.0), (0, 20 * minute, 5.0),
         (1, 5 * minute, None), (1, 10 * minute, 4.0)]  # type: ignore[list-item]
    )  # fmt: skip
    points = _session_points(frame, readings)
    runs = _charging_runs(points, Rules()).select("_sid", pl.col("s", "e").dt.epoch("us"))
    assert runs.rows() == [
        (0, 0, 5 * minute),  # start (0 Wh) -> 2 Wh; 5 -> 10 min flat
        (0, 10 * minute, 40 * minute),  # 2 -> 5 Wh, then the stop's 9 Wh
        (1, 10 * minute, 40 * minute),  # around the missing register nothing shows a rise
    ]
    energy = _energy_by_window(points).select(
        "_sid", pl.col("window_start").dt.epoch("us"), "energy_wh"
    )
    assert energy.rows() == [
        (0, 0, 2.0),
        (0, 15 * minute, 3.0),
        (0, 30 * minute, 4.0),  # the stop, in its own window
        (1, 30 * minute, 5.0),  # 4 -> 9 Wh at the stop; 0 -> NaN -> 4 Wh shows no increase
    ]


OFFLINE = (
    "SELECT strftime(window_start, '%H:%M'), round(offline_min, 6) FROM windows_15m "
    "WHERE connector_id = 0 AND offline_min > 0 ORDER BY 1"
)


def test_a_batch_spanning_hours_of_readings_is_not_offline(settings: Settings) -> None:
    # 3 h of readings a minute apart from two chargers, read in one batch: every reading is a
    # sign of life (a charger's first and last reading of the batch alone would leave 3 h silent)
    events = [
        *session_events("CH1", "T1", [1000.0 + k for k in range(180)]),
        *session_events("CH2", "T1", [1000.0 + k for k in range(180)]),
    ]
    publish(settings, Topic.meter_readings, events)  # type: ignore[arg-type]
    drain(settings, batch_rows=100_000, clock=FrozenClock(NOW))
    assert sql(settings, OFFLINE) == []
    (total,) = sql(settings, "SELECT count(*) FROM readings")[0]
    assert total == 360


def test_a_silence_between_readings_of_one_batch_is_offline(settings: Settings) -> None:
    # readings 10:01-10:30, then silent until 11:31 (a reading only then), then the stop
    registers = [1000.0 + k for k in range(30)]
    start, *readings, stop = session_events("CH1", "T1", registers)
    late = readings[-1].model_copy(update={"ts": T0 + timedelta(minutes=91)})  # type: ignore[attr-defined]
    stop = stop.model_copy(update={"ts": T0 + timedelta(minutes=92)})  # type: ignore[attr-defined]
    publish(settings, Topic.meter_readings, [start, *readings[:-1], late, stop])  # type: ignore[list-item]
    drain(settings, batch_rows=100_000, clock=FrozenClock(NOW))
    # last sign of life 10:29, offline from 10:40 (660 s allowance) to the reading at 11:31
    offline = sql(settings, OFFLINE)
    assert offline == [("10:30", 5.0), ("10:45", 15.0), ("11:00", 15.0), ("11:15", 15.0),
                       ("11:30", 1.0)]  # fmt: skip
