"""The final bill's energy: the session's readings in the event log, followed incrementally."""

from __future__ import annotations

from pathlib import Path

from chargegrid.eventlog import EventLog
from chargegrid.events import MeterValue, Topic, TransactionEnded, TransactionStarted
from orders.meter import EventLogMeter
from tests.orders.support import T_EXAMPLE


def put(log: EventLog, *events: TransactionStarted | MeterValue | TransactionEnded) -> None:
    log.append(
        Topic.meter_readings,
        [(e.charger_id, e.model_dump_json().encode()) for e in events],
        now_ms=0,
    )


def test_delivered_energy_is_the_latest_register_minus_the_start(tmp_path: Path) -> None:
    with EventLog(tmp_path / "log.sqlite", partitions=2) as log:
        meter = EventLogMeter(log)
        assert meter.delivered_wh("CP1", "7") is None  # nothing yet: unknown, not zero
        start = TransactionStarted(
            charger_id="CP1", ts=T_EXAMPLE, connector_id=1, transaction_id="7", meter_start_wh=1000
        )
        other = TransactionStarted(
            charger_id="CP2", ts=T_EXAMPLE, connector_id=1, transaction_id="7", meter_start_wh=0
        )
        reading = MeterValue(
            charger_id="CP1",
            ts=T_EXAMPLE,
            connector_id=1,
            transaction_id="7",
            energy_register_wh=3500.4,
        )
        put(log, start, other, reading)
        assert meter.delivered_wh("CP1", "7") == 2500
        put(
            log,
            TransactionEnded(
                charger_id="CP1",
                ts=T_EXAMPLE,
                connector_id=1,
                transaction_id="7",
                meter_stop_wh=4200,
            ),
        )
        assert meter.delivered_wh("CP1", "7") == 3200
        assert meter.delivered_wh("CP2", "7") == 0
        assert meter.delivered_wh("CP1", None) is None
