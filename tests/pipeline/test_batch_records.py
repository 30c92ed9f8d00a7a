"""The pipeline gives columnar batch records the verdicts it gives the same records as JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pytest
from pydantic import BaseModel

from chargegrid.clock import FrozenClock
from chargegrid.eventbatch import encode_batch
from chargegrid.eventlog import EventLog, columnar_records
from chargegrid.events import ConnectorStatus, MeterValue, Topic, encode
from chargegrid.settings import Settings
from tests.pipeline.conftest import T0, drain, publish, session_events, sql
from tests.pipeline.test_bad_records import NOW, _corpus, _idle, _inventory


def _publish_columnar(settings: Settings, records: Sequence[BaseModel], per_record: int) -> int:
    """``records`` as producer flushes of ``per_record`` events: batch records per partition."""
    with EventLog(settings.eventlog_path, settings.log_partitions) as log:
        for i in range(0, len(records), per_record):
            rows = [(getattr(r, "charger_id", ""), r) for r in records[i : i + per_record]]
            log.append(Topic.meter_readings, columnar_records(rows, log.partitions), now_ms=0)
    return len(records)


@pytest.mark.parametrize("per_record", [1, 3, 64])
def test_bad_reading_corpus_gets_the_same_verdicts_as_columnar_records(
    settings: Settings, per_record: int
) -> None:
    _inventory(settings)
    records, expected, accepted = _corpus()
    published = _publish_columnar(settings, records, per_record)
    drain(settings, batch_rows=4, clock=FrozenClock(NOW))

    counts = dict(sql(settings, "SELECT reason, count(*) FROM dead_letter GROUP BY 1"))
    assert counts == {reason.value: n for reason, n in expected.items()}
    (readings,) = sql(settings, "SELECT count(*) FROM readings")[0]
    (sessions,) = sql(settings, "SELECT count(*) FROM sessions")[0]
    assert (readings, sessions) == (accepted, 2)
    assert readings + 2 * sessions + sum(counts.values()) == published
    energy = dict(sql(settings, "SELECT session_id, energy_wh FROM sessions"))
    assert energy == {"CH1/T1": 500.0, "CH1/T2": 300.0}


def test_rows_keep_their_log_position_and_a_rejected_row_its_json_form(
    settings: Settings,
) -> None:
    _inventory(settings)
    ghost = _idle(charger_id="GHOST", ts=T0)
    good = [_idle(ts=T0), _idle(ts=T0, connector_id=2)]
    with EventLog(settings.eventlog_path, settings.log_partitions) as log:
        log.append(Topic.meter_readings, [("CH1", encode_batch([*good, ghost]))], now_ms=0)
    drain(settings, clock=FrozenClock(NOW))
    rows = sql(settings, "SELECT log_offset, log_index, connector_id FROM readings ORDER BY 2")
    assert rows == [(1, 0, 1), (1, 1, 2)]
    ((offset, index, reason, raw),) = sql(
        settings, "SELECT log_offset, log_index, reason, raw FROM dead_letter"
    )
    assert (offset, index, reason) == (1, 2, "unknown_charger")
    assert json.loads(raw) == json.loads(encode(ghost))


def test_a_nan_power_inside_a_batch_record_is_implausible(settings: Settings) -> None:
    bad = MeterValue(charger_id="CH1", ts=T0, connector_id=1, power_w=math.nan)
    with EventLog(settings.eventlog_path, settings.log_partitions) as log:
        log.append(Topic.meter_readings, [("CH1", encode_batch([bad, _idle(ts=T0)]))], now_ms=0)
    drain(settings, clock=FrozenClock(NOW))
    assert sql(settings, "SELECT reason, log_index FROM dead_letter") == [("implausible_value", 0)]
    assert sql(settings, "SELECT count(*) FROM readings") == [(1,)]


def test_broken_or_misplaced_batch_records_are_dead_lettered_whole(settings: Settings) -> None:
    record = encode_batch([_idle(ts=T0)])
    status = ConnectorStatus(charger_id="CH1", ts=T0, connector_id=1, status="Available")
    with EventLog(settings.eventlog_path, settings.log_partitions) as log:
        log.append(Topic.meter_readings, [("CH1", record[: len(record) - 9])], now_ms=0)
        log.append(Topic.connector_status, [("CH1", record), ("CH1", encode(status))], now_ms=0)
    drain(settings, clock=FrozenClock(NOW))
    rows = sql(settings, "SELECT topic, reason, log_offset FROM dead_letter ORDER BY topic")
    assert rows == [("connector_status", "undecodable", 1), ("meter_readings", "undecodable", 1)]
    assert sql(settings, "SELECT status FROM connector_status") == [("Available",)]


def test_json_and_columnar_records_interleave_in_log_order(settings: Settings) -> None:
    start, *readings, stop = session_events("CH1", "T1", [1100.0, 1250.0, 1400.0, 1600.0])
    publish(settings, Topic.meter_readings, [start])
    with EventLog(settings.eventlog_path, settings.log_partitions) as log:
        log.append(Topic.meter_readings, [("CH1", encode_batch(readings[:2]))], now_ms=0)
    publish(settings, Topic.meter_readings, [readings[2]])
    with EventLog(settings.eventlog_path, settings.log_partitions) as log:
        log.append(Topic.meter_readings, [("CH1", encode_batch([readings[3], stop]))], now_ms=0)
    drain(settings, clock=FrozenClock(NOW))
    assert sql(settings, "SELECT energy_wh, readings FROM sessions") == [(600.0, 4)]
    assert sql(settings, "SELECT count(*) FROM dead_letter") == [(0,)]
    order = sql(settings, "SELECT log_offset, log_index FROM readings ORDER BY ts")
    assert order == [(2, 0), (2, 1), (3, 0), (4, 0)]
