"""The BPP's SQLite store: inbox (accepted requests), outbox (callbacks to send), order state.

* ``inbox``: one row per accepted request, keyed by ``(bap_id, action, message_id)``. Inserting it
  is the duplicate check: a second request with the same key is re-ACKed and not executed again.
  Its raw body is kept so a request ACKed just before a crash is executed after the restart.
* ``outbox``: one row per callback. A handler's state changes (:data:`Persist`), its callback and
  the inbox row's ``handled`` mark commit in ONE transaction, so a state change never exists
  without its callback, and a restart loses none: undelivered rows are retried until expiry.

Times are unix milliseconds (UTC). One connection, serialised by a lock (the BPP is one process).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

Persist = Callable[[sqlite3.Connection], None]

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    bap_id TEXT NOT NULL, action TEXT NOT NULL, message_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL, received_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
    body BLOB NOT NULL, handled_ms INTEGER,
    PRIMARY KEY (bap_id, action, message_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL, url TEXT NOT NULL, transaction_id TEXT NOT NULL,
    message_id TEXT NOT NULL, body BLOB NOT NULL,
    created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | rejected | expired
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL,
    done_ms INTEGER, last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_ms);
"""
# order state (see orders/repo.py): the last select per transaction, orders, the order-event
# outbox relayed to the event log, ratings and support tickets
ORDER_SCHEMA = """
CREATE TABLE IF NOT EXISTS selections (
    bap_id TEXT NOT NULL, transaction_id TEXT NOT NULL, doc BLOB NOT NULL,
    PRIMARY KEY (bap_id, transaction_id)
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, bap_id TEXT NOT NULL, transaction_id TEXT NOT NULL,
    state TEXT NOT NULL, version INTEGER NOT NULL, doc BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS orders_tx ON orders (bap_id, transaction_id);
CREATE TABLE IF NOT EXISTS order_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL, payload BLOB
);
CREATE TABLE IF NOT EXISTS relay (name TEXT PRIMARY KEY, upto INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL, charger_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, bap_id TEXT NOT NULL, ref_id TEXT NOT NULL,
    category TEXT NOT NULL, value INTEGER NOT NULL, comment TEXT, at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY, bap_id TEXT NOT NULL, ref_id TEXT NOT NULL, channel TEXT NOT NULL,
    opened_ms INTEGER NOT NULL, due_ms INTEGER NOT NULL, status TEXT NOT NULL,
    escalated_ms INTEGER
);
"""
# columns added after the first release: (table, column, declaration); added when missing
ADDED_COLUMNS = (
    ("tickets", "transaction_id", "TEXT"),
    ("tickets", "bap_uri", "TEXT"),
    ("tickets", "resolution", "TEXT"),
    ("tickets", "resolved_ms", "INTEGER"),
    ("tickets", "closed_ms", "INTEGER"),
    ("tickets", "reopened", "INTEGER NOT NULL DEFAULT 0"),
)


def _add_missing_columns(db: sqlite3.Connection) -> None:
    for table, column, declaration in ADDED_COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


@dataclass(frozen=True)
class InboxEntry:
    bap_id: str
    action: str
    message_id: str
    body: bytes


@dataclass(frozen=True)
class Callback:
    """A signed-at-send-time callback waiting in the outbox."""

    action: str  # on_<action>
    url: str
    transaction_id: str
    message_id: str
    body: bytes
    expires_ms: int


@dataclass(frozen=True)
class OutboxRow:
    id: int
    callback: Callback
    attempts: int
    status: str


class OrderStore:
    """Inbox, outbox and (later) order tables in ``path``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db.executescript(ORDER_SCHEMA)
        _add_missing_columns(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT, ROLLBACK on any error)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads, under the store's lock."""
        with self._lock:
            yield self._db

    # -- inbox ---------------------------------------------------------------------------------

    def accept(
        self, entry: InboxEntry, transaction_id: str, *, now_ms: int, expires_ms: int
    ) -> bool:
        """Record a request; False when the same ``(bap_id, action, message_id)`` was seen."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO inbox (bap_id, action, message_id, transaction_id, "
                "received_ms, expires_ms, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.bap_id,
                    entry.action,
                    entry.message_id,
                    transaction_id,
                    now_ms,
                    expires_ms,
                    entry.body,
                ),
            )
            return cur.rowcount == 1

    def unhandled(self, now_ms: int) -> list[InboxEntry]:
        """Accepted requests not yet answered and not yet expired (oldest first)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT bap_id, action, message_id, body FROM inbox "
                "WHERE handled_ms IS NULL AND expires_ms > ? ORDER BY received_ms",
                (now_ms,),
            ).fetchall()
        return [InboxEntry(*row) for row in rows]

    def complete(
        self,
        entry: InboxEntry,
        callback: Callback | None,
        *,
        now_ms: int,
        persist: Persist | None = None,
    ) -> int | None:
        """Commit ``persist``'s changes, queue ``callback`` and mark ``entry`` handled, atomically.

        Returns the outbox id (None without a callback). Completing twice queues nothing new.
        """
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE inbox SET handled_ms = ? WHERE bap_id = ? AND action = ? "
                "AND message_id = ? AND handled_ms IS NULL",
                (now_ms, entry.bap_id, entry.action, entry.message_id),
            )
            if cur.rowcount == 0:
                return None
            if persist is not None:
                persist(db)
            return None if callback is None else _enqueue(db, callback, now_ms)

    def enqueue(self, callback: Callback, *, now_ms: int, persist: Persist | None = None) -> int:
        """Queue an unsolicited callback with ``persist``'s changes, atomically."""
        with self.transaction() as db:
            if persist is not None:
                persist(db)
            return _enqueue(db, callback, now_ms)

    # -- outbox --------------------------------------------------------------------------------

    def due(self, now_ms: int, limit: int = 100, *, skip: Collection[int] = ()) -> list[OutboxRow]:
        """Pending callbacks whose next attempt is due and that have not expired, oldest first,
        except the ids in ``skip`` (being delivered now): their bodies are not even read."""
        with self._lock:
            ids = [
                r[0]
                for r in self._db.execute(
                    "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_ms <= ? "
                    "AND expires_ms > ? ORDER BY next_attempt_ms, id LIMIT ?",
                    (now_ms, now_ms, limit + len(skip)),
                )
                if r[0] not in skip
            ][:limit]
            rows = self._db.execute(
                "SELECT id, action, url, transaction_id, message_id, body, expires_ms, attempts, "
                "status FROM outbox WHERE id IN (SELECT value FROM json_each(?)) "
                "ORDER BY next_attempt_ms, id",
                (json.dumps(ids),),
            ).fetchall()
        return [OutboxRow(r[0], Callback(*r[1:7]), r[7], r[8]) for r in rows]

    def next_due_ms(self) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT min(next_attempt_ms) FROM outbox WHERE status = 'pending'"
            ).fetchone()
        return None if row[0] is None else int(row[0])

    def settle(self, outbox_id: int, status: str, *, now_ms: int, error: str | None = None) -> None:
        """Mark a callback ``delivered`` or ``rejected`` (the BAP NACKed it: not retried)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, done_ms = ?, "
                "last_error = ? WHERE id = ?",
                (status, now_ms, error, outbox_id),
            )

    def retry_later(self, outbox_id: int, *, next_attempt_ms: int, error: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?, last_error = ? "
                "WHERE id = ?",
                (next_attempt_ms, error, outbox_id),
            )

    def expire(self, now_ms: int) -> int:
        """Give up on pending callbacks past their ttl (kept, status ``expired``); how many."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE outbox SET status = 'expired', done_ms = ? "
                "WHERE status = 'pending' AND expires_ms <= ?",
                (now_ms, now_ms),
            )
            return cur.rowcount

    def outbox(self) -> list[OutboxRow]:
        """Every callback ever queued, oldest first (tests, operators)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, action, url, transaction_id, message_id, body, expires_ms, attempts, "
                "status FROM outbox ORDER BY id"
            ).fetchall()
        return [OutboxRow(r[0], Callback(*r[1:7]), r[7], r[8]) for r in rows]


def enqueue(db: sqlite3.Connection, cb: Callback, now_ms: int) -> int:
    """Queue ``cb`` inside a transaction the caller holds (its other writes commit with it)."""
    return _enqueue(db, cb, now_ms)


def _enqueue(db: sqlite3.Connection, cb: Callback, now_ms: int) -> int:
    cur = db.execute(
        "INSERT INTO outbox (action, url, transaction_id, message_id, body, created_ms, "
        "expires_ms, next_attempt_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            cb.action,
            cb.url,
            cb.transaction_id,
            cb.message_id,
            cb.body,
            now_ms,
            cb.expires_ms,
            now_ms,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid
