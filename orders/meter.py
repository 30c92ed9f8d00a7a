"""Energy delivered per charging session, from the event log's ``meter_readings`` topic.

The final bill of an order uses :meth:`EventLogMeter.delivered_wh`: the latest energy register of
the session (a ``meter_value`` or its ``transaction_ended``) minus its ``meter_start_wh``. The meter
follows the topic incrementally (offset per partition), so each call reads only new records; a
session without a start or a reading yet is ``None`` (the order is then billed on its quote and
marked unmetered).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from chargegrid.eventbatch import expand
from chargegrid.eventlog import EventLog, partition_for
from chargegrid.events import MeterValue, Topic, TransactionEnded, TransactionStarted

_RECORD: TypeAdapter[TransactionStarted | MeterValue | TransactionEnded] = TypeAdapter(
    TransactionStarted | MeterValue | TransactionEnded
)


@dataclass
class _Session:
    start_wh: float | None = None
    last_wh: float | None = None


class EventLogMeter:
    """Follows ``meter_readings``; answers delivered energy per (charger, transaction)."""

    def __init__(self, log: EventLog, batch: int = 10_000) -> None:
        self.log = log
        self.batch = batch
        self._offsets = [0] * log.partitions
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._lock = threading.Lock()

    def delivered_wh(self, charger_id: str, transaction_id: str | None) -> int | None:
        if transaction_id is None:
            return None
        with self._lock:
            self._follow(partition_for(charger_id, self.log.partitions))
            s = self._sessions.get((charger_id, transaction_id))
        if s is None or s.start_wh is None or s.last_wh is None:
            return None
        return max(0, round(s.last_wh - s.start_wh))

    def _follow(self, partition: int) -> None:
        while True:
            records = self.log.read(
                Topic.meter_readings, partition, self._offsets[partition], self.batch
            )
            if not records:
                return
            for r in records:
                for payload in expand(r.payload):
                    self._apply(payload)
            self._offsets[partition] = records[-1].offset

    def _apply(self, payload: bytes) -> None:
        try:
            event = _RECORD.validate_json(payload)
        except ValidationError:
            return  # not a reading of a session (the pipeline dead-letters it)
        if event.transaction_id is None:
            return
        s = self._sessions.setdefault((event.charger_id, event.transaction_id), _Session())
        if isinstance(event, TransactionStarted):
            s.start_wh = event.meter_start_wh
            s.last_wh = s.last_wh if s.last_wh is not None else event.meter_start_wh
        elif isinstance(event, TransactionEnded):
            s.last_wh = event.meter_stop_wh
        elif event.energy_register_wh is not None:
            s.last_wh = max(s.last_wh or 0.0, event.energy_register_wh)
