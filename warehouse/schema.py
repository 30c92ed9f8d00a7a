"""The lake's tables: one Arrow schema each, hive-partitioned by ``date`` (UTC day, YYYY-MM-DD).

The pipeline is the only writer. Files are written under a temporary name and renamed, so a
reader's glob (``**/*.parquet``) only ever sees complete files.
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

TABLES: dict[str, pa.Schema] = {
    "readings": READINGS,
    "sessions": SESSIONS,
    "connector_status": CONNECTOR_STATUS,
    "dead_letter": DEAD_LETTER,
}

# Column each table's ``date`` partition is derived from.
PARTITION_TIME_COLUMN = {
    "readings": "ts",
    "sessions": "started_at",
    "connector_status": "ts",
    "dead_letter": "ts",
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
