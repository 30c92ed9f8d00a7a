"""Dashboard fixtures: a small estate, a live snapshot, a Parquet lake.

Headless Chromium options and the browser-test skip live in ``tests/conftest.py``.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chargegrid.inventory import Charger, Connector, Inventory, Station, save_inventory
from chargegrid.live import ConnectorLive, LiveSnapshot, PowerPoint, write_snapshot
from chargegrid.settings import Settings
from warehouse.schema import PARTITION_TIME_COLUMN, TABLES

# Simulated event time, deliberately far from the wall clock.
T0 = datetime(2023, 3, 14, 9, 30, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def estate() -> Inventory:
    return Inventory(
        stations=(
            Station(station_id="S1", name="Harbour Car Park", lat=56.46, lon=-2.97),
            Station(station_id="S2", name="Station Road", lat=56.47, lon=-2.98),
        ),
        chargers=(
            Charger(
                charger_id="CP-1",
                station_id="S1",
                connectors=(
                    Connector(connector_id=1, max_power_w=22_000),
                    Connector(connector_id=2, max_power_w=22_000),
                ),
            ),
            Charger(
                charger_id="CP-2",
                station_id="S2",
                connectors=(Connector(connector_id=1, current="DC", max_power_w=50_000),),
            ),
        ),
    )


def history(
    end: datetime, power_w: float, points: int = 6, step_s: float = 60.0
) -> list[PowerPoint]:
    return [
        PowerPoint(ts=end - timedelta(seconds=step_s * (points - 1 - i)), power_w=power_w + 100 * i)
        for i in range(points)
    ]


def make_snapshot(event_time: datetime = T0, *, charging_w: float = 7_000.0) -> LiveSnapshot:
    return LiveSnapshot(
        generated_at=datetime(2025, 1, 1, 12, 0, tzinfo=UTC),
        event_time=event_time,
        connectors=[
            ConnectorLive(
                charger_id="CP-1",
                connector_id=1,
                status="Charging",
                power_w=charging_w,
                soc_pct=54.0,
                transaction_id="tx-1",
                session_started_at=event_time - timedelta(minutes=42),
                session_energy_wh=4_900.0,
                last_reading_at=event_time,
            ),
            ConnectorLive(charger_id="CP-1", connector_id=2, status="Available"),
            ConnectorLive(charger_id="CP-2", connector_id=1, status="Faulted"),
        ],
        power_history={
            "CP-1/1": history(event_time, charging_w),
            "CP-1/2": history(event_time, 0.0),
        },
        readings_total=1234,
        dead_letter_total=5,
    )


def write_table(lake: Path, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Write rows into the lake's hive layout, one file per date partition."""
    schema = TABLES[table]
    by_day: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        day = row[PARTITION_TIME_COLUMN[table]].strftime("%Y-%m-%d")
        by_day.setdefault(day, []).append({name: row.get(name) for name in schema.names})
    for day, day_rows in by_day.items():
        folder = lake / table / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(day_rows, schema=schema), folder / "part-0.parquet")


def reading(ts: datetime, charger_id: str, connector_id: int, power_w: float) -> dict[str, Any]:
    return {"ts": ts, "charger_id": charger_id, "connector_id": connector_id, "power_w": power_w}


@pytest.fixture
def inventory(settings: Settings) -> Inventory:
    inv = estate()
    save_inventory(inv, settings.inventory_path)
    return inv


@pytest.fixture
def lake(settings: Settings) -> Path:
    """Readings on both sides of midnight before T0's day, plus one completed session today."""
    rows = [reading(T0 - timedelta(minutes=m), "CP-2", 1, 40_000.0 + m) for m in range(0, 30, 2)]
    rows.append(reading(T0 - timedelta(days=1), "CP-2", 1, 1.0))
    write_table(settings.lake_dir, "readings", rows)
    write_table(
        settings.lake_dir,
        "sessions",
        [
            {
                "session_id": "CP-2/tx-0",
                "charger_id": "CP-2",
                "connector_id": 1,
                "transaction_id": "tx-0",
                "started_at": T0 - timedelta(hours=2),
                "ended_at": T0 - timedelta(hours=1),
                "energy_wh": 30_000.0,
            },
            {
                "session_id": "CP-2/tx-old",
                "charger_id": "CP-2",
                "connector_id": 1,
                "transaction_id": "tx-old",
                "started_at": T0 - timedelta(days=2),
                "ended_at": T0 - timedelta(days=2) + timedelta(hours=1),
                "energy_wh": 99_000.0,
            },
        ],
    )
    write_table(
        settings.lake_dir,
        "dead_letter",
        [{"ts": T0, "topic": "meter_readings", "reason": "bad_value"}],
    )
    return settings.lake_dir


@pytest.fixture
def snapshot(settings: Settings) -> LiveSnapshot:
    snap = make_snapshot()
    write_snapshot(snap, settings.live_dir)
    return snap
