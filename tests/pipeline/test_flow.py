"""End to end: typed events into an event log, pipeline drained, lake queried with DuckDB."""

from __future__ import annotations

from chargegrid.events import ConnectorStatus, Topic
from chargegrid.live import read_snapshot
from chargegrid.settings import Settings
from tests.pipeline.conftest import T0, drain, publish, session_events, sql


def test_sessions_energy_is_stop_minus_start_to_the_wh(settings: Settings) -> None:
    events = []
    for c in range(6):
        registers = [1000.0 + 333.3 * k for k in range(1, 40)]
        events += session_events(f"CH{c}", f"T{c}", registers, stop_wh=registers[-1] + 0.7)
    publish(settings, Topic.meter_readings, events)
    publish(
        settings,
        Topic.connector_status,
        [ConnectorStatus(charger_id="CH0", ts=T0, connector_id=1, status="Charging")],
    )
    drain(settings)
    rows = sql(
        settings,
        "SELECT session_id, energy_wh, meter_stop_wh - meter_start_wh, readings, energy_quality,"
        " max_power_w FROM sessions ORDER BY 1",
    )
    assert len(rows) == 6
    for _sid, energy, expected, readings, quality, max_power in rows:
        assert energy == expected
        assert readings == 39
        assert quality == "ok"
        assert max_power == 7039.0
    assert sql(settings, "SELECT count(*) FROM readings") == [(6 * 39,)]
    assert sql(settings, "SELECT count(*) FROM dead_letter") == [(0,)]
    assert sql(settings, "SELECT status FROM connector_status") == [("Charging",)]
    snapshot = read_snapshot(settings.live_dir)
    assert snapshot is not None
    assert snapshot.readings_total == 6 * 39
    assert {c.charger_id for c in snapshot.connectors} == {f"CH{c}" for c in range(6)}
