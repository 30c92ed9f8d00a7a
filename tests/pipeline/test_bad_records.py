"""Every bad reading is accounted for: a corpus with one or more records per reason, counted.

Batches are 4 records, so rules that compare with earlier readings (duplicates, out-of-order)
are exercised within a batch and across batches.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from chargegrid.clock import FrozenClock
from chargegrid.events import MeterValue, Reason, Topic
from chargegrid.inventory import Charger, Connector, Inventory, save_inventory
from chargegrid.settings import Settings
from tests.pipeline.conftest import T0, drain, publish, session_events, sql

NOW = T0 + timedelta(hours=8)


def _inventory(settings: Settings) -> None:
    connectors = (
        Connector(connector_id=1, max_power_w=7400.0),
        Connector(connector_id=2, max_power_w=22000.0),
    )
    charger = Charger(charger_id="CH1", station_id="S1", connectors=connectors)
    save_inventory(Inventory(chargers=(charger,)), settings.inventory_path)


def _idle(**fields: object) -> MeterValue:
    base: dict[str, object] = {"charger_id": "CH1", "ts": T0, "connector_id": 1, "power_w": 0.0}
    return MeterValue(**{**base, **fields})  # type: ignore[arg-type]


def _corpus() -> tuple[list[BaseModel], dict[Reason, int], int]:
    """Records, expected dead letters per reason, expected accepted readings."""
    session = session_events("CH1", "T1", [1100.0, 1200.0, 1300.0, 1400.0, 1500.0])
    reading_2, reading_3 = session[2], session[3]
    out_of_order = reading_2.model_copy(update={"energy_register_wh": 1250.0})
    kwh = session_events("CH1", "T2", [50100.0, 50.2, 50300.0], start_wh=50000.0, connector_id=2)
    records: list[BaseModel] = [
        session[0],
        session[1],
        reading_2,
        reading_2,  # exact duplicate, same batch
        reading_3,
        session[4],
        reading_3,  # duplicate of a reading two batches back
        out_of_order,
        *session[5:],  # older than the latest reading: out of order
        *kwh,
        _idle(charger_id="GHOST"),
        _idle(connector_id=9),
        _idle(power_w=20_000.0),  # 7.4 kW connector
        _idle(ts=NOW + timedelta(hours=1)),
        _idle(ts=NOW - timedelta(hours=5), power_w=100.0),  # buffered offline: accepted
        _idle(ts=NOW + timedelta(seconds=60)),  # within the tolerated skew: accepted
    ]
    expected = {
        Reason.duplicate: 2,
        Reason.out_of_order: 1,
        Reason.unit_mismatch: 1,
        Reason.unknown_charger: 1,
        Reason.unknown_connector: 1,
        Reason.implausible_value: 1,
        Reason.future_timestamp: 1,
    }
    return records, expected, 5 + 2 + 2


def test_bad_reading_corpus_every_record_counted_once(settings: Settings) -> None:
    _inventory(settings)
    records, expected, accepted = _corpus()
    published = publish(settings, Topic.meter_readings, records)
    drain(settings, batch_rows=4, clock=FrozenClock(NOW))

    counts = dict(sql(settings, "SELECT reason, count(*) FROM dead_letter GROUP BY 1"))
    assert counts == {reason.value: n for reason, n in expected.items()}
    view = sql(settings, "SELECT reason, records FROM dead_letter_counts WHERE source='pipeline'")
    assert dict(view) == counts
    (readings,) = sql(settings, "SELECT count(*) FROM readings")[0]
    (sessions,) = sql(settings, "SELECT count(*) FROM sessions")[0]
    assert (readings, sessions) == (accepted, 2)
    assert readings + 2 * sessions + sum(counts.values()) == published
    energy = dict(sql(settings, "SELECT session_id, energy_wh FROM sessions"))
    assert energy == {"CH1/T1": 500.0, "CH1/T2": 300.0}  # the kWh register never counted


def test_raw_payload_of_a_screened_reading_is_kept(settings: Settings) -> None:
    _inventory(settings)
    ghost = _idle(charger_id="GHOST")
    publish(settings, Topic.meter_readings, [ghost])
    drain(settings, clock=FrozenClock(NOW))
    rows = sql(settings, "SELECT reason, charger_id, raw FROM dead_letter")
    assert rows == [("unknown_charger", "GHOST", ghost.model_dump_json(exclude_none=True))]


def test_without_an_inventory_every_charger_is_known(settings: Settings) -> None:
    publish(settings, Topic.meter_readings, [_idle(charger_id="GHOST", power_w=99_000.0)])
    drain(settings, clock=FrozenClock(NOW))
    assert sql(settings, "SELECT count(*) FROM readings") == [(1,)]


def test_a_charger_added_to_the_inventory_while_running_is_known(settings: Settings) -> None:
    from pipeline.checks import InventoryWatch

    watch = InventoryWatch(settings.inventory_path)
    assert watch.current().charger("CH1") is None
    _inventory(settings)
    assert watch.current().charger("CH1") is not None


def test_idle_readings_are_checked_for_duplicates_and_order_per_connector(
    settings: Settings,
) -> None:
    _inventory(settings)
    t = [T0 + timedelta(minutes=m) for m in range(5)]
    records = [
        _idle(ts=t[1], energy_register_wh=10.0),
        _idle(ts=t[1], energy_register_wh=10.0),  # duplicate, same batch
        _idle(ts=t[0], energy_register_wh=9.0),  # older than the connector's latest
        _idle(ts=t[0], energy_register_wh=9.0, connector_id=2),  # another connector: fine
        _idle(ts=t[2], energy_register_wh=11.0),
        _idle(ts=t[2], energy_register_wh=11.0),  # duplicate of the previous batch's last
        _idle(ts=t[1], energy_register_wh=10.5),  # out of order across batches
        _idle(ts=t[3], energy_register_wh=12.0),
    ]
    published = publish(settings, Topic.meter_readings, records)
    drain(settings, batch_rows=5, clock=FrozenClock(NOW))
    counts = dict(sql(settings, "SELECT reason, count(*) FROM dead_letter GROUP BY 1"))
    assert counts == {"duplicate": 2, "out_of_order": 2}
    kept = sql(settings, "SELECT connector_id, energy_register_wh FROM readings ORDER BY ts, 1")
    assert kept == [(2, 9.0), (1, 10.0), (1, 11.0), (1, 12.0)]
    assert len(kept) + sum(counts.values()) == published


def test_the_rules_judgement_calls_are_settings(settings: Settings) -> None:
    lenient = settings.model_copy(update={"power_tolerance": 1.5, "max_clock_skew_s": 7200.0})
    _inventory(lenient)
    records = [_idle(power_w=9_000.0), _idle(ts=NOW + timedelta(hours=1), power_w=1.0)]
    publish(lenient, Topic.meter_readings, records)  # 1.2 x a 7.4 kW rating; 1 h ahead
    drain(lenient, clock=FrozenClock(NOW))
    assert sql(lenient, "SELECT count(*) FROM dead_letter") == [(0,)]
    assert sql(lenient, "SELECT count(*) FROM readings") == [(2,)]
