"""Order events (``order_events`` topic, relayed by the BPP) -> the lake's ``order_events``.

Rules, per log partition (an order's events share one: they are keyed by order id):

* not JSON, or a JSON record that is not an :class:`orders.events.OrderEvent` ->
  ``undecodable`` / ``schema_invalid``.
* an event whose ``seq`` is not above the last one seen for its order -> ``duplicate`` (the
  relay re-sends what it may not have delivered after a crash; ``seq`` is unique and increasing).
* the first event seen for an order is not its creation (``drafted``) -> ``unknown_order``: an
  order this BPP never created, or one created before the memory of :data:`ORDER_MEMORY` orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from chargegrid.eventbatch import seq_of
from chargegrid.events import Reason
from orders.events import OrderEvent, OrderEventKind
from pipeline.parse import Rejection
from warehouse.schema import ORDER_EVENTS

ORDER_MEMORY = 500_000  # orders whose last event seq is remembered


@dataclass(slots=True)
class OrderBook:
    """Last event ``seq`` per order, oldest orders forgotten first."""

    last_seq: dict[str, int] = field(default_factory=dict)

    def judge(self, event: OrderEvent) -> tuple[Reason, str] | None:
        last = self.last_seq.get(event.order_id)
        if last is None and event.kind is not OrderEventKind.drafted:
            return Reason.unknown_order, f"order {event.order_id} was never created (first "
            f"event seen is {event.kind.value}, seq {event.seq})"
        if last is not None and event.seq <= last:
            return Reason.duplicate, f"order {event.order_id} event seq {event.seq} already seen"
        self.last_seq.pop(event.order_id, None)  # re-insert: most recent last
        self.last_seq[event.order_id] = event.seq
        if len(self.last_seq) > ORDER_MEMORY:
            del self.last_seq[next(iter(self.last_seq))]
        return None


def order_events(
    book: OrderBook, offsets: Any, payloads: Any, partition: int
) -> tuple[pa.Table | None, list[Rejection]]:
    """Accepted events as ``order_events`` rows and the rejections, in log order."""
    rows: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    for offset, payload in zip(offsets, payloads, strict=True):
        seq = seq_of(int(offset))
        try:
            event = OrderEvent.model_validate_json(payload)
        except ValidationError as exc:
            error = exc.errors()[0]
            reason = (
                Reason.undecodable if error["type"] == "json_invalid" else Reason.schema_invalid
            )
            where = ".".join(str(p) for p in error["loc"]) or "<record>"
            rejected.append(Rejection(seq, reason, f"{where}: {error['msg']}", bytes(payload)))
            continue
        verdict = book.judge(event)
        if verdict is not None:
            rejected.append(Rejection(seq, *verdict, bytes(payload), event.charger_id))
            continue
        row = event.model_dump(mode="python")
        row.update(kind=event.kind.value, state=str(event.state), log_partition=partition)
        row["log_offset"] = int(offset)
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=ORDER_EVENTS) if rows else None
    return table, rejected
