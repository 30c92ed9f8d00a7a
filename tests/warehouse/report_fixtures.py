"""A tiny hand-built warehouse for report tests: one pipeline charger, one imported station.

Pipeline (inventory: site S1, charger CH1 with connectors 1 and 2):
* T1 on CH1/1: 2024-03-01 10:00-14:00 UTC, 20 kWh, power until 12:00 (charging end), readings.
* T2 on CH1/2: 2024-03-01 22:00-2024-03-02 02:00, 10 kWh, power until 01:00.
* T3 on CH1/1: 2024-03-02 08:00-09:00, no readings (start failed, charging end unknown).
* status: CH1/1 Faulted 02-29 00:00-06:00 and 03-01 12:30-12:45; CH1 (connector 0)
  Unavailable 03-01 12:00-13:00 -> port 1 out 420 min, port 2 out 60 min.

Imported (source ``test``), station A:
* A/1: 2024-03-01 23:00-2024-03-02 01:00, charging end 00:30, 5 kWh, 250 EUR minor units.
* A/2: 2024-03-02 10:00-10:30, charging end unknown, 1 kWh, no price.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from chargegrid.clock import Clock
from chargegrid.inventory import Charger, Connector, Inventory, Station, save_inventory
from chargegrid.settings import Settings
from warehouse import lake
from warehouse.catalog import refresh_catalog
from warehouse.importers.run import write_source
from warehouse.importers.schema import IMPORTED_SESSIONS
from warehouse.schema import CONNECTOR_STATUS, READINGS, SESSIONS


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


def _session(tx: str, connector: int, start: datetime, end: datetime, wh: float, n: int) -> dict:
    return {
        "session_id": f"CH1/{tx}",
        "charger_id": "CH1",
        "connector_id": connector,
        "transaction_id": tx,
        "id_tag": "tag",
        "started_at": start,
        "ended_at": end,
        "meter_start_wh": 0.0,
        "meter_stop_wh": wh,
        "energy_wh": wh,
        "energy_quality": "ok",
        "readings": n,
        "max_power_w": 11000.0,
        "stop_reason": "EVDisconnected",
    }


def _reading(tx: str, connector: int, ts: datetime, power_w: float) -> dict:
    return {
        "ts": ts,
        "charger_id": "CH1",
        "connector_id": connector,
        "transaction_id": tx,
        "power_w": power_w,
        "log_partition": 0,
        "log_offset": 0,
    }


def _status(connector: int, ts: datetime, status: str) -> dict:
    return {
        "ts": ts,
        "charger_id": "CH1",
        "connector_id": connector,
        "kind": "status",
        "status": status,
    }


PIPELINE_SESSIONS = [
    _session("T1", 1, at(1, 10), at(1, 14), 20_000.0, 4),
    _session("T2", 2, at(1, 22), at(2, 2), 10_000.0, 3),
    _session("T3", 1, at(2, 8), at(2, 9), 0.0, 0),
]
READING_ROWS = [
    _reading("T1", 1, at(1, 10), 11000.0),
    _reading("T1", 1, at(1, 11), 11000.0),
    _reading("T1", 1, at(1, 12), 5000.0),
    _reading("T1", 1, at(1, 13), 0.0),
    _reading("T2", 2, at(1, 22), 7000.0),
    _reading("T2", 2, at(2, 1), 7000.0),
    _reading("T2", 2, at(2, 1, 30), 0.0),
]
STATUS_ROWS = [
    _status(1, at(29, 0, month=2), "Faulted"),
    _status(1, at(29, 6, month=2), "Available"),
    _status(0, at(1, 12), "Unavailable"),
    _status(1, at(1, 12, 30), "Faulted"),
    _status(1, at(1, 12, 45), "Available"),
    _status(0, at(1, 13), "Available"),
]


def _imported(
    key: str,
    connector: str,
    start: datetime,
    end: datetime,
    charged: datetime | None,
    wh: int,
    price: int | None,
) -> dict:
    return {
        "session_id": f"test:{key}",
        "source": "test",
        "site_id": None,
        "station_id": "A",
        "connector": connector,
        "started_at": start,
        "ended_at": end,
        "charging_ended_at": charged,
        "energy_wh": wh,
        "price_minor": price,
        "currency": "EUR" if price is not None else None,
        "flags": [],
        "file": "f.csv",
        "line": 1,
    }


IMPORTED_ROWS = [
    _imported("1", "1", at(1, 23), at(2, 1), at(2, 0, 30), 5_000, 250),
    _imported("2", "2", at(2, 10), at(2, 10, 30), None, 1_000, None),
]


def build(settings: Settings, clock: Clock | None = None) -> None:
    """Write the rows above into ``settings``' lake and build the catalog (days closed by
    ``clock`` are materialised; the default, today, closes them all)."""
    save_inventory(
        Inventory(
            stations=(Station(station_id="S1", name="Depot", lat=56.46, lon=-2.97),),
            chargers=(
                Charger(
                    charger_id="CH1",
                    station_id="S1",
                    connectors=(
                        Connector(connector_id=1, max_power_w=22000.0),
                        Connector(connector_id=2, max_power_w=22000.0),
                    ),
                ),
            ),
        ),
        settings.inventory_path,
    )
    lake.ensure_lake(settings.lake_dir)
    for name, schema, rows in (
        ("sessions", SESSIONS, PIPELINE_SESSIONS),
        ("readings", READINGS, READING_ROWS),
        ("connector_status", CONNECTOR_STATUS, STATUS_ROWS),
    ):
        lake.write_pipeline_files(settings.lake_dir, name, pa.Table.from_pylist(rows, schema), 0)
    write_source(settings.lake_dir, "test", [], [], [])
    target = settings.lake_dir / "imported_sessions" / "source=test" / "data.parquet"
    lake.write_atomic(pa.Table.from_pylist(IMPORTED_ROWS, IMPORTED_SESSIONS), target)
    refresh_catalog(settings, clock)
