"""Support tickets and ratings: channels, SLA deadlines, escalation, resolution, confirmation.

A ticket is ``open`` → (``answered`` | ``escalated``) → ``resolved`` by the operator (with a
resolution text) → ``closed`` when the driver confirms, or ``open`` again (a fresh SLA deadline,
``reopened`` counted) when the driver reopens it. :func:`escalate_overdue` is meant to be run by a
timer (e.g. every minute): every open ticket past its SLA deadline is marked escalated, once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from orders.errors import ActionNotApplicable, InvalidRequest


class Channel(StrEnum):
    phone = "phone"
    email = "email"
    chat = "chat"


SLA = {
    Channel.phone: timedelta(hours=1),
    Channel.chat: timedelta(hours=4),
    Channel.email: timedelta(hours=24),
}


class RatingCategory(StrEnum):
    order = "Order"
    fulfillment = "Fulfillment"
    provider = "Provider"
    item = "Item"
    support = "Support"


def rating_category(text: str, index: int) -> RatingCategory:
    for category in RatingCategory:
        if category.value.lower() == text.strip().lower():
            return category
    names = ", ".join(c.value for c in RatingCategory)
    msg = f"rating_category {text!r} is none of {names}"
    raise InvalidRequest(msg, paths=f"message.ratings[{index}].rating_category")


def rating_value(text: str, index: int) -> int:
    """A rating is an integer 1…5."""
    value = int(text) if text.strip().isdigit() else 0
    if not 1 <= value <= 5:
        msg = f"rating value must be an integer 1-5, not {text!r}"
        raise InvalidRequest(msg, paths=f"message.ratings[{index}].value")
    return value


def channel_of(text: str | None) -> Channel:
    if not text:
        return Channel.chat
    try:
        return Channel(text.strip().lower())
    except ValueError:
        msg = f"support channel {text!r} is none of phone, email, chat"
        raise InvalidRequest(msg, paths="message.support.channel") from None


class TicketStatus(StrEnum):
    open = "open"
    answered = "answered"
    escalated = "escalated"
    resolved = "resolved"
    closed = "closed"


class DriverResponse(StrEnum):
    """What the driver says about a resolved ticket (``support`` tag ``driver-response``)."""

    confirm = "confirm"
    reopen = "reopen"


UNRESOLVED = (TicketStatus.open, TicketStatus.answered, TicketStatus.escalated)


@dataclass(frozen=True)
class Ticket:
    id: str
    bap_id: str
    ref_id: str
    channel: Channel
    opened_at: datetime
    due_at: datetime  # SLA deadline for the operator's first answer
    transaction_id: str | None = None  # where unsolicited on_support go
    bap_uri: str | None = None
    status: TicketStatus = TicketStatus.open
    resolution: str | None = None
    reopened: int = 0


def open_ticket(
    ticket_id: str,
    bap_id: str,
    ref_id: str,
    channel: Channel,
    now: datetime,
    *,
    transaction_id: str | None = None,
    bap_uri: str | None = None,
) -> Ticket:
    return Ticket(
        ticket_id, bap_id, ref_id, channel, now, now + SLA[channel], transaction_id, bap_uri
    )


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(value_ms: int | None) -> datetime | None:
    return None if value_ms is None else datetime.fromtimestamp(value_ms / 1000, UTC)


def save_ticket(db: sqlite3.Connection, ticket: Ticket) -> None:
    db.execute(
        "INSERT INTO tickets (id, bap_id, ref_id, channel, opened_ms, due_ms, status, "
        "transaction_id, bap_uri) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
        (
            ticket.id,
            ticket.bap_id,
            ticket.ref_id,
            ticket.channel.value,
            _ms(ticket.opened_at),
            _ms(ticket.due_at),
            ticket.transaction_id,
            ticket.bap_uri,
        ),
    )


def load_ticket(db: sqlite3.Connection, ticket_id: str, bap_id: str | None = None) -> Ticket:
    """The ticket ``ticket_id`` (raised by ``bap_id`` when given); InvalidRequest otherwise."""
    row = db.execute(
        "SELECT id, bap_id, ref_id, channel, opened_ms, due_ms, transaction_id, bap_uri, status, "
        "resolution, reopened FROM tickets WHERE id = ?",
        (ticket_id,),
    ).fetchone()
    if row is None or (bap_id is not None and row[1] != bap_id):
        msg = f"no support ticket {ticket_id!r}"
        raise InvalidRequest(msg, paths="message.support.tags")
    opened, due = _at(row[4]), _at(row[5])
    assert opened is not None and due is not None
    return Ticket(
        row[0],
        row[1],
        row[2],
        Channel(row[3]),
        opened,
        due,
        row[6],
        row[7],
        TicketStatus(row[8]),
        row[9],
        int(row[10]),
    )


def resolve_ticket(
    db: sqlite3.Connection, ticket_id: str, resolution: str, now: datetime
) -> Ticket:
    """The operator resolves an unresolved ticket (``resolution`` says how); the driver is asked
    to confirm. ActionNotApplicable when it is already resolved or closed."""
    ticket = load_ticket(db, ticket_id)
    if ticket.status not in UNRESOLVED:
        msg = f"ticket {ticket_id} is {ticket.status}, not open"
        raise ActionNotApplicable(msg)
    text = resolution.strip()
    if not text:
        msg = "a resolution needs a text saying what was done"
        raise InvalidRequest(msg)
    db.execute(
        "UPDATE tickets SET status = 'resolved', resolution = ?, resolved_ms = ? WHERE id = ?",
        (text, _ms(now), ticket_id),
    )
    return load_ticket(db, ticket_id)


def driver_responds(
    db: sqlite3.Connection, ticket_id: str, bap_id: str, response: DriverResponse, now: datetime
) -> Ticket:
    """The driver confirms a resolved ticket (closed) or reopens it (open, a new SLA deadline)."""
    ticket = load_ticket(db, ticket_id, bap_id)
    if ticket.status != TicketStatus.resolved:
        msg = f"ticket {ticket_id} is {ticket.status}; only a resolved ticket can be {response}ed"
        raise ActionNotApplicable(msg)
    if response == DriverResponse.confirm:
        db.execute(
            "UPDATE tickets SET status = 'closed', closed_ms = ? WHERE id = ?",
            (_ms(now), ticket_id),
        )
    else:
        db.execute(
            "UPDATE tickets SET status = 'open', due_ms = ?, escalated_ms = NULL, "
            "resolved_ms = NULL, reopened = reopened + 1 WHERE id = ?",
            (_ms(now + SLA[ticket.channel]), ticket_id),
        )
    return load_ticket(db, ticket_id)


def driver_response(text: str) -> DriverResponse:
    try:
        return DriverResponse(text.strip().lower())
    except ValueError:
        msg = f"driver-response {text!r} is neither confirm nor reopen"
        raise InvalidRequest(msg, paths="message.support.tags") from None


def answer_ticket(db: sqlite3.Connection, ticket_id: str) -> bool:
    """The operator answered: the ticket leaves the escalation watch."""
    cur = db.execute(
        "UPDATE tickets SET status = 'answered' WHERE id = ? AND status IN ('open', 'escalated')",
        (ticket_id,),
    )
    return cur.rowcount == 1


def escalate_overdue(db: sqlite3.Connection, now: datetime) -> list[str]:
    """Mark open tickets past their deadline escalated (once); returns their ids."""
    rows = db.execute(
        "SELECT id FROM tickets WHERE status = 'open' AND due_ms < ? ORDER BY due_ms",
        (_ms(now),),
    ).fetchall()
    ids = [r[0] for r in rows]
    db.executemany(
        "UPDATE tickets SET status = 'escalated', escalated_ms = ? WHERE id = ?",
        [(_ms(now), i) for i in ids],
    )
    return ids


def ticket_status(db: sqlite3.Connection, ticket_id: str) -> tuple[str, datetime | None]:
    row = db.execute(
        "SELECT status, escalated_ms FROM tickets WHERE id = ?", (ticket_id,)
    ).fetchone()
    if row is None:
        msg = f"no ticket {ticket_id}"
        raise InvalidRequest(msg)
    at = datetime.fromtimestamp(row[1] / 1000, UTC) if row[1] is not None else None
    return str(row[0]), at


def save_rating(
    db: sqlite3.Connection,
    bap_id: str,
    ref_id: str,
    category: RatingCategory,
    value: int,
    comment: str | None,
    now: datetime,
) -> None:
    db.execute(
        "INSERT INTO ratings (bap_id, ref_id, category, value, comment, at_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (bap_id, ref_id, category.value, value, comment, _ms(now)),
    )
