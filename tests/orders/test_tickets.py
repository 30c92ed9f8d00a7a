"""Support tickets end to end: the driver raises one, the operator resolves it (an unsolicited
``on_support`` tells the driver), the driver confirms (closed) or reopens (a fresh SLA)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from orders import notify
from orders.domain.support import (
    TicketStatus,
    escalate_overdue,
    load_ticket,
    resolve_ticket,
)
from orders.errors import ActionNotApplicable, InvalidRequest
from orders.handlers import OrderPolicy
from orders.store import OrderStore
from tests.orders.support import BAP, T_EXAMPLE
from tests.orders.test_lifecycle import Harness, h

pytestmark = pytest.mark.anyio
__all__ = ["h"]
POLICY = OrderPolicy(dashboard_url="http://dash.test")


def ticket_of(doc: dict[str, Any]) -> str:
    """The ticket an ``on_support`` names (the last segment of its url)."""
    assert "error" not in doc, doc["error"]
    url: str = doc["message"]["support"]["url"]
    assert url.startswith("http://dash.test/support/")
    return url.rsplit("/", 1)[1]


def status(h: Harness, ticket_id: str) -> tuple[TicketStatus, int]:
    with h.store.reading() as db:
        ticket = load_ticket(db, ticket_id)
    return ticket.status, ticket.reopened


def respond(ticket_id: str, response: str) -> dict[str, Any]:
    tags = [
        {
            "descriptor": {"code": "ticket"},
            "list": [
                {"descriptor": {"code": "ticket-id"}, "value": ticket_id},
                {"descriptor": {"code": "driver-response"}, "value": response},
            ],
        }
    ]
    return {"support": {"ref_id": "t-1", "tags": tags}}


async def raise_ticket(h: Harness) -> str:
    opened = await h.send("support", {"support": {"ref_id": "t-1", "callback_phone": "+911234"}})
    ticket_id = ticket_of(opened)
    assert status(h, ticket_id) == (TicketStatus.open, 0)
    return ticket_id


async def test_operator_resolves_and_driver_confirms(h: Harness) -> None:
    ticket_id = await raise_ticket(h)
    before = len(h.bap.received)
    notify.resolve_ticket(h.bpp, ticket_id, "Charger rebooted; refund issued", POLICY)
    await h.bpp.idle()
    [unsolicited] = h.bap.received[before:]
    assert unsolicited.path == "on_support"
    assert unsolicited.json["context"]["transaction_id"] == "t-1"
    assert not unsolicited.json["context"]["message_id"].startswith("m-")  # a new message id
    assert ticket_of(unsolicited.json) == ticket_id
    with h.store.reading() as db:
        assert load_ticket(db, ticket_id).resolution == "Charger rebooted; refund issued"
    closed = await h.send("support", respond(ticket_id, "confirm"))
    assert ticket_of(closed) == ticket_id
    assert status(h, ticket_id) == (TicketStatus.closed, 0)
    with h.store.reading() as db:
        row = db.execute("SELECT closed_ms FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    assert row[0] == int(T_EXAMPLE.timestamp() * 1000)
    again = await h.send("support", respond(ticket_id, "reopen"))  # closed stays closed
    assert again["error"]["code"] == "40001"


async def test_driver_reopens_with_a_fresh_sla_deadline(h: Harness) -> None:
    ticket_id = await raise_ticket(h)
    h.clock.advance(30 * 60)
    notify.resolve_ticket(h.bpp, ticket_id, "Restarted the session", POLICY)
    h.clock.advance(2 * 3600)  # the original 1 h deadline is long gone
    assert ticket_of(await h.send("support", respond(ticket_id, "reopen"))) == ticket_id
    assert status(h, ticket_id) == (TicketStatus.open, 1)
    with h.store.transaction() as db:
        assert escalate_overdue(db, h.clock.now() + timedelta(minutes=59)) == []
        assert escalate_overdue(db, h.clock.now() + timedelta(minutes=61)) == [ticket_id]


async def test_driver_cannot_answer_an_unresolved_or_someone_elses_ticket(h: Harness) -> None:
    ticket_id = await raise_ticket(h)
    early = await h.send("support", respond(ticket_id, "confirm"))
    assert early["error"]["code"] == "40001"
    assert "only a resolved ticket" in early["error"]["message"]
    nonsense = await h.send("support", respond(ticket_id, "maybe"))
    assert nonsense["error"]["code"] == "30000"
    unknown = await h.send("support", respond("no-such-ticket", "confirm"))
    assert "no support ticket" in unknown["error"]["message"]
    with h.store.reading() as db:
        assert load_ticket(db, ticket_id, BAP.subscriber_id).status == TicketStatus.open
        with pytest.raises(InvalidRequest):
            load_ticket(db, ticket_id, "another-bap")


def test_resolving_twice_or_without_a_text_is_refused(tmp_path: Path) -> None:
    store = OrderStore(tmp_path / "o.sqlite")
    with store.transaction() as db:
        db.execute(
            "INSERT INTO tickets (id, bap_id, ref_id, channel, opened_ms, due_ms, status) "
            "VALUES ('k', 'b', 'r', 'chat', 0, 1, 'escalated')"
        )
        with pytest.raises(InvalidRequest):
            resolve_ticket(db, "k", "  ", T_EXAMPLE)
        assert resolve_ticket(db, "k", "done", T_EXAMPLE).status == TicketStatus.resolved
        with pytest.raises(ActionNotApplicable):
            resolve_ticket(db, "k", "done again", T_EXAMPLE)


def test_a_store_from_before_resolution_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE tickets (id TEXT PRIMARY KEY, bap_id TEXT NOT NULL, ref_id TEXT NOT NULL,"
            " channel TEXT NOT NULL, opened_ms INTEGER NOT NULL, due_ms INTEGER NOT NULL,"
            " status TEXT NOT NULL, escalated_ms INTEGER)"
        )
        db.execute("INSERT INTO tickets VALUES ('old', 'b', 'r', 'email', 0, 1, 'open', NULL)")
    store = OrderStore(path)
    with store.reading() as db:
        ticket = load_ticket(db, "old")
    assert (ticket.status, ticket.reopened, ticket.bap_uri) == (TicketStatus.open, 0, None)
