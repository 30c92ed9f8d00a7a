"""Bad input goes to the dead-letter table with a precise reason; every record is counted once."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargegrid.events import (
    DeadLetter,
    MeterValue,
    Reason,
    Topic,
    TransactionStarted,
)
from chargegrid.settings import Settings
from pipeline.parse import METER_SPEC, STATUS_SPEC, parse_batch
from tests.pipeline.conftest import T0, drain, publish, session_events, sql

TS = '"ts":"2025-03-01T10:00:00Z"'
BAD_METER = {
    b"\xff\xfe garbage": Reason.undecodable,
    b"[1, 2, 3]": Reason.schema_invalid,
    b'{"kind":"meter_value","charger_id":"BAD",' + TS.encode() + b"}": Reason.schema_invalid,
    b'{"kind":"teleport","charger_id":"BAD",' + TS.encode() + b"}": Reason.unknown_kind,
    b'{"kind":"meter_value","charger_id":"BAD",' + TS.encode() + b',"connector_id":1,'
    b'"power_w":NaN}': Reason.implausible_value,
    b'{"kind":"meter_value","charger_id":"BAD",' + TS.encode() + b',"connector_id":1,'
    b'"power_w":-5.0}': Reason.implausible_value,
    b'{"kind":"meter_value","charger_id":"BAD",' + TS.encode() + b',"connector_id":1,'
    b'"transaction_id":"NOPE","power_w":5.0}': Reason.unknown_transaction,
    b'{"kind":"meter_value","charger_id":"BAD","ts":"2025-03-01T10:00:00",'
    b'"connector_id":1}': Reason.schema_invalid,
    b'{"kind":"meter_value","charger_id":"BAD",' + TS.encode() + b',"connector_id":1,'
    b'"surprise":1}': Reason.schema_invalid,
}


def test_bad_input_corpus_reasons_and_conservation(settings: Settings) -> None:
    good = session_events("CH1", "T1", [1100.0, 1200.0, 1150.0, 1300.0])  # 1150: glitch
    good += session_events("CH2", "T2", [2000.0], start_wh=1500.0)
    duplicate_start = TransactionStarted(
        charger_id="CH2", ts=T0, connector_id=1, transaction_id="T2", meter_start_wh=1.0
    )
    idle = MeterValue(charger_id="CH3", ts=T0, connector_id=2, power_w=0.0)
    records: list[object] = [*good, duplicate_start, idle]
    records += [("BAD", payload) for payload in BAD_METER]
    published = publish(settings, Topic.meter_readings, records)  # type: ignore[arg-type]
    letter = DeadLetter(
        source="replay:dundee", reason=Reason.energy_negative, detail="row 7", raw="a,b,-3", ts=T0
    )
    publish(settings, Topic.dead_letter, [("", letter.model_dump_json().encode()), ("", b"{")])
    drain(settings)

    reasons = dict(
        sql(settings, "SELECT raw, reason FROM dead_letter WHERE topic = 'meter_readings'")
    )
    for payload, reason in BAD_METER.items():
        assert reasons[payload.decode("utf-8", errors="backslashreplace")] == reason.value
    counts = dict(sql(settings, "SELECT reason, count(*) FROM dead_letter GROUP BY 1"))
    assert counts[Reason.duplicate.value] == 1
    assert counts[Reason.register_backwards.value] == 1
    producer = sql(
        settings,
        "SELECT source, reason, detail, raw FROM dead_letter WHERE topic = 'dead_letter' "
        "ORDER BY log_offset",
    )
    assert producer[0] == ("replay:dundee", "energy_negative", "row 7", "a,b,-3")
    assert producer[1][1] == Reason.undecodable.value

    (readings,) = sql(settings, "SELECT count(*) FROM readings")[0]
    (sessions,) = sql(settings, "SELECT count(*) FROM sessions")[0]
    (dead,) = sql(settings, "SELECT count(*) FROM dead_letter WHERE topic='meter_readings'")[0]
    assert readings + 2 * sessions + dead == published  # a session holds its start and stop
    dupes = sql(
        settings,
        "SELECT log_partition, log_offset FROM (SELECT log_partition, log_offset FROM readings "
        "UNION ALL SELECT log_partition, log_offset FROM dead_letter "
        "WHERE topic='meter_readings') GROUP BY ALL HAVING count(*) > 1",
    )
    assert dupes == []
    quality = dict(sql(settings, "SELECT session_id, energy_quality FROM sessions"))
    assert quality == {"CH1/T1": "backwards", "CH2/T2": "ok"}
    assert sql(settings, "SELECT energy_wh FROM sessions WHERE session_id='CH1/T1'") == [(300.0,)]


def test_reading_after_stop_is_unknown_transaction(settings: Settings) -> None:
    events = session_events("CH1", "T1", [1100.0])
    late = MeterValue(
        charger_id="CH1",
        ts=T0 + timedelta(hours=1),
        connector_id=1,
        transaction_id="T1",
        energy_register_wh=1200.0,
    )
    publish(settings, Topic.meter_readings, [*events, late])
    drain(settings)
    assert sql(settings, "SELECT reason FROM dead_letter") == [("unknown_transaction",)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=40))
def test_parser_accounts_for_every_payload(payloads: list[bytes]) -> None:
    offsets = list(range(1, len(payloads) + 1))
    for spec in (METER_SPEC, STATUS_SPEC):
        parsed = parse_batch(offsets, payloads, spec)
        seen = parsed.good.get_column("offset").to_list() + [r.offset for r in parsed.rejected]
        assert sorted(seen) == offsets


def _reading(register_wh: float) -> bytes:
    return (
        b'{"kind":"meter_value","charger_id":"CH9",' + TS.encode() + b',"connector_id":1,'
        b'"energy_register_wh":%.1f}' % register_wh
    )


def test_a_payload_spanning_two_lines_never_lends_a_line_to_its_neighbour() -> None:
    two_lines = _reading(1.0) + b"\n" + _reading(2.0)
    payloads = [_reading(0.0), two_lines, b"", _reading(3.0)] + [_reading(4.0)] * 40
    offsets = list(range(1, len(payloads) + 1))
    parsed = parse_batch(offsets, payloads, METER_SPEC)
    rejected = {r.offset: r.reason for r in parsed.rejected}
    assert rejected == {2: Reason.undecodable, 3: Reason.undecodable}
    good = parsed.good.select("offset", "energy_register_wh").rows()
    assert good == [(1, 0.0), (4, 3.0)] + [(o, 4.0) for o in offsets[4:]]


def test_escaped_colons_and_extra_keys_in_one_batch_are_told_apart() -> None:
    escaped = (
        b'{"kind":"meter_value","charger_id":"CH\\u003a9",' + TS.encode() + b',"connector_id":1}'
    )
    extra = _reading(5.0)[:-1] + b',"surprise":1}'
    payloads = [escaped, extra] + [_reading(6.0)] * 20
    parsed = parse_batch(list(range(1, 23)), payloads, METER_SPEC)
    assert [(r.offset, r.reason) for r in parsed.rejected] == [(2, Reason.schema_invalid)]
    assert parsed.good.get_column("charger_id")[0] == "CH:9"
    assert parsed.good.height == 21
