"""Lake tables written by ``chargegrid import``: one Arrow schema each, one file per source.

Layout: ``<lake>/<table>/source=<source>/data.parquet``. An import of a source rewrites that
source's file of each table (temporary name, then rename), so re-importing the same files gives
the same content and other sources are untouched. A zero-row ``source=_schema/_schema.parquet``
per table lets the catalog's views bind before anything is imported.

``source`` is stored in the files (the views read them with hive partitioning off), so the folder
name is for people and tools only. Stations are keyed by ``(source, station_id)``; a session's
``station_id`` refers to its source's station.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

IMPORTED_SESSIONS = pa.schema(
    [
        ("session_id", pa.string()),  # "<source>:<natural key>", unique in the table
        ("source", pa.string()),
        ("site_id", pa.string()),  # site / location as published (normalised), if any
        ("station_id", pa.string()),  # charge point / station id as published
        ("connector", pa.string()),  # connector / plug / parking space, as published
        ("started_at", TS),  # plug-in
        ("ended_at", TS),  # plug-out
        ("charging_ended_at", TS),  # end of energy transfer, when the source knows it
        ("energy_wh", pa.int64()),
        ("price_minor", pa.int64()),  # billed total in minor units of `currency` (SAP only)
        ("currency", pa.string()),  # ISO 4217
        ("user_id", pa.string()),
        ("soc_start_pct", pa.float64()),
        ("soc_end_pct", pa.float64()),
        (
            "rated_power_w",
            pa.float64(),
        ),  # outlet rating bound used by the plausibility rule
        ("flags", pa.list_(pa.string())),  # rules that changed or doubted a value
        ("time_flags", pa.list_(pa.string())),  # DST gap/overlap, zone label (importers.timeflags)
        ("file", pa.string()),  # raw row reference: file name ...
        ("line", pa.int64()),  # ... and line (JSON: item number)
    ]
)

IMPORT_REJECTS = pa.schema(
    [
        ("source", pa.string()),
        ("file", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),  # chargegrid.events.Reason
        ("detail", pa.string()),
        ("station_id", pa.string()),
        (
            "raw",
            pa.string(),
        ),  # the row as read (xlsx: cells joined by tabs; JSON: the item)
    ]
)

REGISTRY_STATIONS = pa.schema(
    [
        ("station_id", pa.string()),
        ("source", pa.string()),
        ("name", pa.string()),
        ("site", pa.string()),
        ("address", pa.string()),
        ("city", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("connectors", pa.int32()),
        ("level1_ports", pa.int32()),
        ("level2_ports", pa.int32()),
        ("dc_fast_ports", pa.int32()),
        ("max_power_w", pa.float64()),
        ("power_level", pa.string()),  # Level 1 | Level 2 | DC fast
        ("connector_types", pa.string()),
        ("network", pa.string()),
        ("file", pa.string()),
        ("line", pa.int64()),
    ]
)

IMPORT_TABLES: dict[str, pa.Schema] = {
    "imported_sessions": IMPORTED_SESSIONS,
    "import_rejects": IMPORT_REJECTS,
    "registry_stations": REGISTRY_STATIONS,
}

# Catalog view name of each table (``historical_sessions`` reads ``imported_sessions``).
VIEW_NAMES = {
    "imported_sessions": "historical_sessions",
    "import_rejects": "import_rejects",
    "registry_stations": "registry_stations",
}
