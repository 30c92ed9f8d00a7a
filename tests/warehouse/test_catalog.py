"""The catalog: views bind before any data, reference views, read-only readers during writes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import duckdb
import orjson
import pytest

from chargegrid.events import Topic
from chargegrid.inventory import Charger, Connector, Inventory, Station, save_inventory
from chargegrid.settings import Settings
from pipeline.runner import build_flow, execute
from tests.pipeline.conftest import publish, session_events
from warehouse.catalog import refresh_catalog
from warehouse.schema import TABLES
from warehouse.sql import QueryError, run_query


def _con(settings: Settings) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(settings.catalog_path), read_only=True)


def test_views_bind_with_typed_columns_before_any_data(settings: Settings) -> None:
    refresh_catalog(settings)
    con = _con(settings)
    for table, schema in TABLES.items():
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        columns = [d[0] for d in con.execute(f"SELECT * FROM {table}").description]
        assert columns == [*schema.names, "date"]
    kinds = {r[0]: r[1] for r in con.execute("DESCRIBE readings").fetchall()}
    assert kinds["ts"] == "TIMESTAMP WITH TIME ZONE"
    assert kinds["date"] == "DATE"
    assert con.execute("SELECT count(*) FROM stations").fetchone() == (0,)
    con.close()


def test_views_work_from_another_working_directory(
    settings: Settings, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    refresh_catalog(settings)
    monkeypatch.chdir("/")
    con = _con(settings)
    assert con.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
    con.close()


def test_stations_and_connectors_from_inventory(settings: Settings) -> None:
    save_inventory(
        Inventory(
            stations=(Station(station_id="S1", name="Depot", lat=56.46, lon=-2.97),),
            chargers=(
                Charger(
                    charger_id="CH1",
                    station_id="S1",
                    connectors=(Connector(connector_id=1, max_power_w=22000.0),),
                ),
            ),
        ),
        settings.inventory_path,
    )
    refresh_catalog(settings)
    con = _con(settings)
    assert con.execute("SELECT station_id, name FROM stations").fetchall() == [("S1", "Depot")]
    assert con.execute(
        "SELECT charger_id, connector_id, max_power_w FROM connectors"
    ).fetchall() == [("CH1", 1, 22000.0)]
    con.close()


def test_read_only_reader_while_pipeline_writes(settings: Settings) -> None:
    for c in range(30):
        publish(settings, Topic.meter_readings, session_events(f"CH{c}", "T", [1100.0, 1200.0]))
    done = threading.Event()
    flow = build_flow(settings, until_drained=done.is_set)
    runner = threading.Thread(target=execute, args=(settings, flow))
    runner.start()
    counts = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not counts or counts[-1] < 60):
        if settings.catalog_path.exists():
            con = _con(settings)
            counts.append(con.execute("SELECT count(*) FROM readings").fetchone()[0])  # type: ignore[index]
            con.close()
        time.sleep(0.1)
    done.set()
    runner.join(timeout=30)
    assert counts and counts[-1] == 60


def test_run_query_formats(settings: Settings) -> None:
    publish(settings, Topic.meter_readings, session_events("CH1", "T1", [1100.0, 1250.5]))
    execute(settings, build_flow(settings, until_drained=True))
    q = "SELECT session_id, energy_wh, started_at FROM sessions"
    table = run_query(settings, q, "table")
    assert table.splitlines()[0].split() == ["session_id", "energy_wh", "started_at"]
    assert "CH1/T1" in table and "250.5" in table and table.endswith("(1 row)\n")
    csv = run_query(settings, q, "csv")
    assert csv == "session_id,energy_wh,started_at\nCH1/T1,250.5,2025-03-01T10:00:00Z\n"
    rows = orjson.loads(run_query(settings, q, "json"))
    assert rows == [
        {"session_id": "CH1/T1", "energy_wh": 250.5, "started_at": "2025-03-01T10:00:00Z"}
    ]
    assert datetime.fromisoformat(rows[0]["started_at"]).tzinfo is not None
    assert datetime.fromisoformat(rows[0]["started_at"]) == datetime(2025, 3, 1, 10, tzinfo=UTC)


def test_run_query_creates_missing_catalog_and_reports_errors(settings: Settings) -> None:
    assert not settings.catalog_path.exists()
    assert "(0 rows)" in run_query(settings, "SELECT * FROM dead_letter", "table")
    with pytest.raises(QueryError, match="nope"):
        run_query(settings, "SELECT * FROM nope", "table")
    with pytest.raises(QueryError):
        run_query(settings, "CREATE TABLE x (a INT)", "table")  # the catalog is read-only
