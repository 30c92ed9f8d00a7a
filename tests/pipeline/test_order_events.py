"""Order events reach the lake once each; duplicates and events of unknown orders are refused."""

from __future__ import annotations

from datetime import timedelta

from chargegrid.clock import FrozenClock
from chargegrid.events import Topic
from chargegrid.settings import Settings
from orders.domain.orders import OrderState
from orders.events import OrderEvent, OrderEventKind
from tests.pipeline.conftest import T0, drain, publish, sql


def _event(order: str, seq: int, kind: OrderEventKind, state: OrderState, version: int) -> bytes:
    event = OrderEvent(
        seq=seq,
        order_id=order,
        kind=kind,
        state=state,
        version=version,
        at=T0 + timedelta(minutes=seq),
        bap_id="bap.example",
        item_id="CH1-1",
        charger_id="CH1",
        connector_id=1,
        quote_total_minor=1200,
        currency="GBP",
        delivered_wh=0 if kind is not OrderEventKind.completed else 8000,
        billed_minor=1180 if kind is OrderEventKind.completed else None,
    )
    return event.model_dump_json().encode()


def test_order_events_are_stored_once_and_bad_ones_dead_lettered(settings: Settings) -> None:
    k, s = OrderEventKind, OrderState
    drafted = _event("O1", 1, k.drafted, s.draft, 1)
    records = [
        ("O1", drafted),
        ("O1", _event("O1", 2, k.confirmed, s.confirmed, 2)),
        ("O1", drafted),  # the relay re-sent it after a crash
        ("O2", _event("O2", 3, k.started, s.active, 3)),  # never created here
        ("O1", _event("O1", 4, k.completed, s.completed, 3)),
        ("O3", b"{not json"),
        ("O3", b'{"order_id": "O3"}'),
    ]
    publish(settings, Topic.order_events, records)
    drain(settings, batch_rows=2, clock=FrozenClock(T0 + timedelta(days=1)))

    rows = sql(settings, "SELECT order_id, seq, kind, billed_minor FROM order_events ORDER BY seq")
    assert rows == [("O1", 1, "drafted", None), ("O1", 2, "confirmed", None),
                    ("O1", 4, "completed", 1180)]  # fmt: skip
    dead = sql(
        settings,
        "SELECT reason, count(*) FROM dead_letter WHERE topic = 'order_events' GROUP BY 1",
    )
    assert dict(dead) == {
        "duplicate": 1,
        "unknown_order": 1,
        "undecodable": 1,
        "schema_invalid": 1,
    }
    assert len(rows) + sum(n for _, n in dead) == len(records)
