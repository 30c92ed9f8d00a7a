"""Durable transaction ids and their connectors, in a small SQLite file under ``data_dir``.

OCPP 1.6 transaction ids are integers the central system hands out. One row per transaction in a
table with an ``AUTOINCREMENT`` key gives ids that are never reused, across restarts and even
after a crash (kill -9): the row is committed before the id is answered. The event log could not
give that guarantee, since its producer batches asynchronously and a crash may lose the last batch
while the charger already holds the id. The same table remembers each transaction's connector,
which 1.6 ``StopTransaction`` and 2.0.1 ``TransactionEvent`` updates do not repeat, so a CSMS
restarted mid-session still logs the right connector.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

FILE_NAME = "csms.sqlite"


class TransactionRegistry:
    """Allocates 1.6 ids and maps (charger, transaction) -> connector. Thread-safe."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS transactions ("
            "id INTEGER PRIMARY KEY AUTOINCREMENT, charger_id TEXT NOT NULL, "
            "external_id TEXT, connector_id INTEGER NOT NULL, "
            "UNIQUE (charger_id, external_id))"
        )

    def allocate(self, charger_id: str, connector_id: int) -> int:
        """A new 1.6 transaction id (never handed out before by this data dir)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO transactions (charger_id, connector_id) VALUES (?, ?)",
                (charger_id, connector_id),
            )
        if cur.lastrowid is None:  # pragma: no cover - sqlite always sets it on INSERT
            msg = "sqlite returned no rowid"
            raise RuntimeError(msg)
        return cur.lastrowid

    def remember(self, charger_id: str, external_id: str, connector_id: int) -> None:
        """Record a charger-chosen (2.0.1) transaction id; repeats are ignored."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO transactions (charger_id, external_id, connector_id) "
                "VALUES (?, ?, ?)",
                (charger_id, external_id, connector_id),
            )

    def connector_of(self, charger_id: str, transaction_id: str) -> int | None:
        """The connector of a transaction (1.6 numeric id or 2.0.1 external id)."""
        with self._lock:
            row = self._db.execute(
                "SELECT connector_id FROM transactions WHERE charger_id = ? AND "
                "(external_id = ? OR (external_id IS NULL AND id = ?))",
                (charger_id, transaction_id, _as_int(transaction_id)),
            ).fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _as_int(text: str) -> int | None:
    return int(text) if text.isdigit() else None
