"""The lake's tables: one Arrow schema each, hive-partitioned by ``date`` (UTC day, YYYY-MM-DD).

The pipeline is the only writer. Files are written under a temporary name and renamed, so a
reader's glob (``date=*/*.parquet``) only ever sees complete files.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

READINGS = pa.schema(
    [
        ("ts", TS),
        ("charger_id", pa.string()),
        ("connector_id", pa.int32()),
        ("transaction_id", pa.string()),
        ("energy_register_wh", pa.float64()),
        ("power_w", pa.float64()),
        ("current_a", pa.float64()),
        ("voltage_v", pa.float64()),
        ("soc_pct", pa.float64()),
        ("context", pa.string()),
        ("log_partition", pa.int32()),
        ("log_offset", pa.int64()),
        ("log_index", pa.int32()),  # row within a columnar batch record (0 for a JSON record)
    ]
)

SESSIONS = pa.schema(
    [
        ("session_id", pa.string()),  # charger_id/transaction_id
        ("charger_id", pa.string()),
        ("connector_id", pa.int32()),
        ("transaction_id", pa.string()),
        ("id_tag", pa.string()),
        ("started_at", TS),
        ("ended_at", TS),
        ("meter_start_wh", pa.float64()),
        ("meter_stop_wh", pa.float64()),
        ("energy_wh", pa.float64()),
        ("energy_quality", pa.string()),  # ok | reset | no_readings | ...
        ("readings", pa.int64()),
        ("max_power_w", pa.float64()),
        ("stop_reason", pa.string()),
        # time of the last reading that delivered energy (power above a trickle, or the register
        # rising); null if none did. ended_at - charging_ended_at = idle after charging.
        ("charging_ended_at", TS),
    ]
)

# One row per closed session billed (or not) by the stream under its charger's tariff.
BILLS = pa.schema(
    [
        ("session_id", pa.string()),
        ("charger_id", pa.string()),
        ("tariff_id", pa.string()),  # null when unbilled
        ("started_at", TS),
        ("ended_at", TS),
        ("energy_wh", pa.float64()),  # energy the bill charges (billing kernel)
        ("quality", pa.string()),  # energy quality flags of the billing kernel ("ok", ...)
        ("net_minor", pa.int64()),  # integer minor units of currency, before tax
        ("tax_minor", pa.int64()),
        ("total_minor", pa.int64()),
        ("currency", pa.string()),  # ISO 4217
        ("status", pa.string()),  # billed | unbilled
        ("detail", pa.string()),  # why unbilled (no tariff, no prices for a dynamic tariff, ...)
    ]
)

# The itemised breakup of each billed session (the lines a Beckn quote/bill carries).
BILL_LINES = pa.schema(
    [
        ("session_id", pa.string()),
        ("started_at", TS),
        ("tariff_id", pa.string()),
        ("line_no", pa.int32()),
        ("code", pa.string()),  # energy:<band> | time | connected | idle | session_fee | tax:...
        ("quantity", pa.float64()),
        ("unit", pa.string()),
        ("unit_price", pa.string()),  # decimal major units per unit; null for adjustments/taxes
        ("amount_minor", pa.int64()),
        ("currency", pa.string()),
    ]
)

# Beckn order lifecycle events relayed by the BPP (orders/events.py), one row per state change.
ORDER_EVENTS = pa.schema(
    [
        ("at", TS),
        ("seq", pa.int64()),  # the BPP's order-event sequence number (unique, increasing)
        ("order_id", pa.string()),
        ("kind", pa.string()),  # drafted | confirmed | pending | approved | modified | ...
        ("state", pa.string()),
        ("version", pa.int64()),
        ("bap_id", pa.string()),
        ("item_id", pa.string()),
        ("charger_id", pa.string()),
        ("connector_id", pa.int32()),
        ("quote_total_minor", pa.int64()),
        ("currency", pa.string()),
        ("delivered_wh", pa.int64()),
        ("billed_minor", pa.int64()),
        ("fee_minor", pa.int64()),
        ("refund_minor", pa.int64()),
        ("log_partition", pa.int32()),
        ("log_offset", pa.int64()),
    ]
)

CONNECTOR_STATUS = pa.schema(
    [
        ("ts", TS),
        ("charger_id", pa.string()),
        ("connector_id", pa.int32()),
        ("kind", pa.string()),  # status | boot | heartbeat
        ("status", pa.string()),
        ("error_code", pa.string()),
    ]
)

DEAD_LETTER = pa.schema(
    [
        ("ts", TS),  # when it was judged (or the record's own time for producer rejections)
        ("topic", pa.string()),
        ("log_partition", pa.int32()),
        ("log_offset", pa.int64()),
        ("log_index", pa.int32()),  # row within a columnar batch record (0 for a JSON record)
        ("source", pa.string()),  # pipeline | csms | replay:dundee | ...
        ("reason", pa.string()),  # chargegrid.events.Reason
        ("detail", pa.string()),
        ("charger_id", pa.string()),
        ("raw", pa.string()),
    ]
)

# Additive partials of 15-minute utilisation windows per connector (pipeline/windows.py): a
# window's value is the SUM of its rows, so late data corrects it (see the windows_* views).
UTILISATION_WINDOWS = pa.schema(
    [
        ("window_start", TS),
        ("charger_id", pa.string()),
        ("connector_id", pa.int32()),  # 0 = the whole charger (offline, charger-wide faults)
        ("occupied_s", pa.float64()),
        ("charging_s", pa.float64()),
        ("idle_after_full_s", pa.float64()),
        ("faulted_s", pa.float64()),
        ("offline_s", pa.float64()),
        ("energy_wh", pa.float64()),
        ("sessions_started", pa.int64()),
        ("revenue_minor", pa.int64()),
        ("currency", pa.string()),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "readings": READINGS,
    "sessions": SESSIONS,
    "connector_status": CONNECTOR_STATUS,
    "dead_letter": DEAD_LETTER,
    "bills": BILLS,
    "bill_lines": BILL_LINES,
    "order_events": ORDER_EVENTS,
    "utilisation_windows": UTILISATION_WINDOWS,
}

# Column each table's ``date`` partition is derived from.
PARTITION_TIME_COLUMN = {
    "readings": "ts",
    "sessions": "started_at",
    "connector_status": "ts",
    "dead_letter": "ts",
    "bills": "started_at",
    "bill_lines": "started_at",
    "order_events": "at",
    "utilisation_windows": "window_start",
}

# Reference tables built from the inventory (``Settings.inventory_path``) by the catalog.
STATIONS = pa.schema(
    [
        ("station_id", pa.string()),
        ("name", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("operator", pa.string()),
    ]
)

CONNECTORS = pa.schema(
    [
        ("charger_id", pa.string()),
        ("station_id", pa.string()),
        ("model", pa.string()),
        ("connector_id", pa.int32()),
        ("standard", pa.string()),
        ("current", pa.string()),
        ("max_power_w", pa.float64()),
    ]
)

REFERENCE_TABLES: dict[str, pa.Schema] = {"stations": STATIONS, "connectors": CONNECTORS}
