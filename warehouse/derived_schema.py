"""Schemas of the materialised (derived) tables under ``<lake>/_derived/`` (not lake tables: the
pipeline never writes them; :mod:`warehouse.materialize` rebuilds them from the lake).

* ``FACTS``: one row per pipeline session of a ``sessions`` date partition, with the charging end
  read from the meter (what ``session_facts`` would otherwise compute by scanning ``readings``).
* ``SLOTS``: per port and time slot (15 minutes or one hour), the plugged-in seconds, energy and
  sessions started, summed over the sessions of one unit (a pipeline date partition or one
  imported source). A slot can get rows from several units (a session crossing midnight), so
  readers sum them again by port and slot.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

FACTS = pa.schema(
    [
        ("session_id", pa.string()),
        ("station_id", pa.string()),  # the charger
        ("port_id", pa.string()),  # <charger_id>/<connector_id>
        ("transaction_id", pa.string()),
        ("started_at", TS),
        ("ended_at", TS),
        ("charging_ended_at", TS),  # NULL when unknown
        ("energy_wh", pa.float64()),
        ("start_succeeded", pa.bool_()),
    ]
)

SLOTS = pa.schema(
    [
        ("source", pa.string()),  # pipeline | import:<source>
        ("site_id", pa.string()),  # NULL for pipeline rows (the inventory is joined when read)
        ("station_id", pa.string()),
        ("port_id", pa.string()),
        ("slot_start", TS),
        ("occupied_s", pa.float64()),
        ("energy_wh", pa.float64()),
        ("sessions_started", pa.int64()),
    ]
)


def with_day(schema: pa.Schema) -> pa.Schema:
    """A pipeline unit's schema: ``schema`` plus the sessions partition day it came from."""
    return schema.append(pa.field("date", pa.date32()))
