"""Order events: committed with the state change, relayed to the event log exactly once."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from chargegrid.eventlog import EventLog
from chargegrid.events import Topic
from orders import repo
from orders.errors import OrderChanged
from orders.events import OrderEvent, OrderEventKind
from orders.store import OrderStore
from tests.orders.test_order_domain import ACCEPT, T_EXAMPLE, new_order


def seqs(log: EventLog, partitions: int = 1) -> list[int]:
    out = []
    for p in range(partitions):
        out += [orjson.loads(r.payload)["seq"] for r in log.read(Topic.order_events, p, 0, 1000)]
    return sorted(out)


def store_with_events(path: Path, n: int) -> OrderStore:
    store = OrderStore(path)
    for i in range(n):
        order = new_order().model_copy(update={"id": f"o-{i}", "transaction_id": f"t-{i}"})
        with store.transaction() as db:
            repo.save_order(db, order, OrderEventKind.drafted)
        with store.transaction() as db:
            repo.save_order(db, order.confirm(ACCEPT, T_EXAMPLE), OrderEventKind.confirmed)
    return store


def test_state_change_and_its_event_commit_or_roll_back_together(tmp_path: Path) -> None:
    store = OrderStore(tmp_path / "o.sqlite")
    order = new_order()
    with pytest.raises(RuntimeError), store.transaction() as db:
        repo.save_order(db, order, OrderEventKind.drafted)
        raise RuntimeError  # e.g. the callback could not be queued
    assert repo.order_events(store) == []
    with pytest.raises(Exception, match="no order"):
        repo.order_by_id(store, order.bap_id, order.id)


def test_stale_version_cannot_overwrite_a_newer_order(tmp_path: Path) -> None:
    store = OrderStore(tmp_path / "o.sqlite")
    order = new_order()
    with store.transaction() as db:
        repo.save_order(db, order, OrderEventKind.drafted)
    confirmed = order.confirm(ACCEPT, T_EXAMPLE)
    with store.transaction() as db:
        repo.save_order(db, confirmed, OrderEventKind.confirmed)
    with pytest.raises(OrderChanged, match="at version 2, not 1"), store.transaction() as db:
        repo.save_order(db, confirmed, OrderEventKind.confirmed)  # same version again
    assert [e.kind for e in repo.order_events(store)] == ["drafted", "confirmed"]


def test_relay_appends_each_event_once_keyed_by_order(tmp_path: Path) -> None:
    store = store_with_events(tmp_path / "o.sqlite", 3)
    with EventLog(tmp_path / "log.sqlite", partitions=2) as log:
        relay = repo.EventRelay(store, log, lambda: 0, batch=4)
        assert relay.relay() == 6
        assert relay.relay() == 0
        assert seqs(log, 2) == [1, 2, 3, 4, 5, 6]
        records = log.read(Topic.order_events, 0, 0, 100) + log.read(Topic.order_events, 1, 0, 100)
        for r in records:
            event = OrderEvent.model_validate_json(r.payload)
            assert r.key == event.order_id


class CrashAfterAppend(repo.EventRelay):
    def _mark(self, upto: int) -> None:
        raise SystemExit("crash between the event-log append and the relay mark")


def test_crash_between_append_and_mark_neither_loses_nor_duplicates(tmp_path: Path) -> None:
    store = store_with_events(tmp_path / "o.sqlite", 2)
    with EventLog(tmp_path / "log.sqlite", partitions=2) as log:
        with pytest.raises(SystemExit):
            CrashAfterAppend(store, log, lambda: 0).relay()
        assert seqs(log, 2) == [1, 2, 3, 4]  # appended, but the store never learnt it
        order = repo.order_by_id(store, "bap", "o-0")
        with store.transaction() as db:  # a new state change after the crash
            repo.save_order(db, order.cancel(None, T_EXAMPLE), OrderEventKind.cancelled)
        restarted = repo.EventRelay(store, log, lambda: 0)
        assert restarted.relay() == 1
        assert seqs(log, 2) == [1, 2, 3, 4, 5]


def test_events_carry_the_money_of_the_settlement(tmp_path: Path) -> None:
    store = store_with_events(tmp_path / "o.sqlite", 1)
    order = repo.order_by_id(store, "bap", "o-0")
    with store.transaction() as db:
        repo.save_order(db, order.cancel("x", T_EXAMPLE), OrderEventKind.cancelled)
    last = repo.order_events(store)[-1]
    assert (last.state, last.fee_minor, last.refund_minor, last.currency) == (
        "cancelled",
        0,
        0,  # confirmed without a payment: nothing to refund
        "INR",
    )
