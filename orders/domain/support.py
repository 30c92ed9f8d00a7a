"""Support tickets and ratings: channels, SLA deadlines, escalation of unanswered tickets.

:func:`escalate_overdue` is meant to be run by a timer (e.g. every minute): every open ticket
past its SLA deadline is marked escalated at ``now``, once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from orders.errors import InvalidRequest


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


@dataclass(frozen=True)
class Ticket:
    id: str
    bap_id: str
    ref_id: str
    channel: Channel
    opened_at: datetime
    due_at: datetime  # SLA deadline for the operator's first answer


def open_ticket(
    ticket_id: str, bap_id: str, ref_id: str, channel: Channel, now: datetime
) -> Ticket:
    return Ticket(ticket_id, bap_id, ref_id, channel, now, now + SLA[channel])


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def save_ticket(db: sqlite3.Connection, ticket: Ticket) -> None:
    db.execute(
        "INSERT INTO tickets (id, bap_id, ref_id, channel, opened_ms, due_ms, status) "
        "VALUES (?, ?, ?, ?, ?, ?, 'open')",
        (
            ticket.id,
            ticket.bap_id,
            ticket.ref_id,
            ticket.channel.value,
            _ms(ticket.opened_at),
            _ms(ticket.due_at),
        ),
    )


def answer_ticket(db: sqlite3.Connection, ticket_id: str) -> bool:
    """The operator answered: the ticket leaves the escalation watch."""
    cur = db.execute(
        "UPDATE tickets SET status = 'answered' WHERE id = ? AND status != 'answered'", (ticket_id,)
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
