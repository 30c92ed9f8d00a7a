"""Data quality page: dead letters counted by reason and unbilled sessions, from the lake."""

from __future__ import annotations

from datetime import timedelta

from chargegrid.clock import FrozenClock
from chargegrid.events import Topic
from chargegrid.inventory import Charger, Connector, Inventory, save_inventory
from chargegrid.settings import Settings
from dashboards.app import create_app
from dashboards.pages import quality
from tests.dashboards.test_app import find
from tests.pipeline.conftest import T0, drain, publish, session_events


def test_counts_by_reason_newest_letters_and_unbilled_sessions(settings: Settings) -> None:
    connectors = (Connector(connector_id=1, max_power_w=7400.0),)
    save_inventory(
        Inventory(
            chargers=(
                Charger(charger_id="CH1", station_id="S1", connectors=connectors),
                Charger(
                    charger_id="CH2",
                    station_id="S1",
                    connectors=connectors,
                    tariff_id="be-dynamic-spot",  # needs prices the stream does not have
                ),
            )
        ),
        settings.inventory_path,
    )
    records = [
        ("CH1", b"not json"),
        ("CH1", b"{also not json"),
        *session_events("CH1", "T1", [1100.0, 1200.0])[1:2],  # a reading of no transaction
        *session_events("CH2", "T2", [1100.0, 1200.0]),
    ]
    publish(settings, Topic.meter_readings, records)  # type: ignore[arg-type]
    drain(settings, clock=FrozenClock(T0 + timedelta(days=1)))

    seen = quality.read_quality(settings)
    counts = {(r["topic"], r["reason"]): r["records"] for r in seen.counts}
    assert counts == {
        ("meter_readings", "undecodable"): 2,
        ("meter_readings", "unknown_transaction"): 1,
    }
    assert len(seen.recent) == 3 and all(r["detail"] for r in seen.recent)
    assert [r["session_id"] for r in seen.unbilled] == ["CH2/T2"]
    assert "price" in str(seen.unbilled[0]["detail"]).lower()

    app = create_app(settings)
    assert app.server.test_client().get(quality.PATH).status_code == 200
    with app.server.test_request_context(quality.PATH):
        layout = quality.layout()
    body = find(layout, quality.ID_COUNTS).children[1]
    assert len(body.children) == 2  # one row per (topic, source, reason)


def test_an_empty_lake_shows_empty_tables(settings: Settings) -> None:
    seen = quality.read_quality(settings)
    assert seen == quality.Quality([], [], [])
