"""Order persistence on the store's connection, and the relay of order events to the event log.

Write functions take the ``sqlite3.Connection`` of a running store transaction (a handler's
``Outcome.persist``), so an order's new state, its order event and the Beckn callback commit
together. :class:`EventRelay` then copies unrelayed events to the event log topic
``order_events`` and remembers the last relayed ``seq``; after a crash between the event-log append
and that mark it reads the highest ``seq`` already in the log, so nothing is lost or duplicated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import datetime

import orjson

from chargegrid.eventlog import EventLog, table_name
from chargegrid.events import Topic
from orders.domain.orders import Order
from orders.domain.quote import Mode, QuoteRequest
from orders.errors import OrderChanged, OrderNotFound
from orders.events import OrderEvent, OrderEventKind
from orders.store import OrderStore, Persist

RELAY = "order_events"


def save_order(db: sqlite3.Connection, order: Order, kind: OrderEventKind) -> None:
    """Upsert ``order`` + its event. Optimistic: the stored version must be the previous one,
    else :class:`OrderChanged` (a concurrent writer got there first; the transaction rolls back)."""
    cur = db.execute(
        "UPDATE orders SET state = ?, version = ?, doc = ? WHERE id = ? AND version = ?",
        (order.state.value, order.version, order.model_dump_json(), order.id, order.version - 1),
    )
    if cur.rowcount == 0:
        stored = db.execute("SELECT version FROM orders WHERE id = ?", (order.id,)).fetchone()
        if stored is not None:
            msg = f"order {order.id} is at version {stored[0]}, not {order.version - 1}"
            raise OrderChanged(msg)
        db.execute(
            "INSERT INTO orders (id, bap_id, transaction_id, state, version, doc) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                order.id,
                order.bap_id,
                order.transaction_id,
                order.state.value,
                order.version,
                order.model_dump_json(),
            ),
        )
    seq = db.execute("INSERT INTO order_events (order_id) VALUES (?)", (order.id,)).lastrowid
    assert seq is not None
    event = OrderEvent.of(order, kind, seq)
    db.execute(
        "UPDATE order_events SET payload = ? WHERE seq = ?", (event.model_dump_json().encode(), seq)
    )


def saving(*steps: tuple[Order, OrderEventKind]) -> Persist:
    """A ``persist`` that saves each (order, event kind) in turn."""

    def persist(db: sqlite3.Connection) -> None:
        for order, kind in steps:
            save_order(db, order, kind)

    return persist


def save_selection(bap_id: str, transaction_id: str, request: QuoteRequest) -> Persist:
    doc = orjson.dumps(
        {
            "item_id": request.item_id,
            "mode": request.mode.value,
            "amount": request.amount,
            "start": request.start.isoformat() if request.start else None,
            "end": request.end.isoformat() if request.end else None,
        }
    )

    def persist(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT OR REPLACE INTO selections (bap_id, transaction_id, doc) VALUES (?, ?, ?)",
            (bap_id, transaction_id, doc),
        )

    return persist


def load_selection(store: OrderStore, bap_id: str, transaction_id: str) -> QuoteRequest | None:
    with store.reading() as db:
        row = db.execute(
            "SELECT doc FROM selections WHERE bap_id = ? AND transaction_id = ?",
            (bap_id, transaction_id),
        ).fetchone()
    if row is None:
        return None
    doc = orjson.loads(row[0])
    return QuoteRequest(
        doc["item_id"],
        Mode(doc["mode"]),
        int(doc["amount"]),
        datetime.fromisoformat(doc["start"]) if doc["start"] else None,
        datetime.fromisoformat(doc["end"]) if doc["end"] else None,
    )


def new_reservation_id(store: OrderStore, order_id: str, charger_id: str) -> int:
    """A fresh OCPP reservation id (a positive 32-bit integer, never reused)."""
    with store.transaction() as db:
        cur = db.execute(
            "INSERT INTO reservations (order_id, charger_id) VALUES (?, ?)", (order_id, charger_id)
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def order_by_id(store: OrderStore, bap_id: str, order_id: str) -> Order:
    """The order ``order_id`` placed by ``bap_id``; :class:`OrderNotFound` otherwise."""
    with store.reading() as db:
        row = db.execute(
            "SELECT doc FROM orders WHERE id = ? AND bap_id = ?", (order_id, bap_id)
        ).fetchone()
    if row is None:
        msg = f"no order {order_id!r} for {bap_id}"
        raise OrderNotFound(msg, paths="message.order_id")
    return Order.model_validate_json(row[0])


def order_of_transaction(store: OrderStore, bap_id: str, transaction_id: str) -> Order | None:
    with store.reading() as db:
        row = db.execute(
            "SELECT doc FROM orders WHERE bap_id = ? AND transaction_id = ?",
            (bap_id, transaction_id),
        ).fetchone()
    return None if row is None else Order.model_validate_json(row[0])


def order_events(store: OrderStore) -> list[OrderEvent]:
    """Every order event in the store, in ``seq`` order (tests, operators)."""
    with store.reading() as db:
        rows = db.execute("SELECT payload FROM order_events ORDER BY seq").fetchall()
    return [OrderEvent.model_validate_json(r[0]) for r in rows]


class EventRelay:
    """Copies order events from the store to the event log, each exactly once."""

    def __init__(
        self,
        store: OrderStore,
        log: EventLog,
        now_ms: Callable[[], int],
        *,
        batch: int = 500,
    ) -> None:
        self.store = store
        self.log = log
        self.now_ms = now_ms
        self.batch = batch
        self._upto = max(self._marked(), self._highest_logged())

    def _marked(self) -> int:
        with self.store.reading() as db:
            row = db.execute("SELECT upto FROM relay WHERE name = ?", (RELAY,)).fetchone()
        return 0 if row is None else int(row[0])

    def _highest_logged(self) -> int:
        """The largest ``seq`` already in the event log (the last record of each partition)."""
        best = 0
        with closing(sqlite3.connect(self.log.path)) as db:
            for p in range(self.log.partitions):
                row = db.execute(
                    f"SELECT payload FROM {table_name(Topic.order_events, p)} "
                    "ORDER BY offset DESC LIMIT 1"
                ).fetchone()
                if row is not None:
                    best = max(best, int(orjson.loads(row[0])["seq"]))
        return best

    def relay(self) -> int:
        """Append every unrelayed event (in batches); returns how many were appended."""
        total = 0
        while True:
            with self.store.reading() as db:
                rows = db.execute(
                    "SELECT seq, order_id, payload FROM order_events WHERE seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (self._upto, self.batch),
                ).fetchall()
            if not rows:
                return total
            self.log.append(
                Topic.order_events,
                [(order_id, bytes(payload)) for _, order_id, payload in rows],
                now_ms=self.now_ms(),
            )
            self._upto = int(rows[-1][0])
            self._mark(self._upto)
            total += len(rows)

    def _mark(self, upto: int) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO relay (name, upto) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET upto = excluded.upto",
                (RELAY, upto),
            )
