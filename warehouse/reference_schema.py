"""Schemas of the catalog's snapshot and reference tables that are not lake tables:

* ``ORDERS``, ``TICKETS``, ``RATINGS``: copies of the BPP's SQLite order store taken at each
  catalog refresh (``<lake>/_orders/<table>.parquet``);
* ``TARIFFS``: one row per tariff and energy band of the tariff files (``<lake>/_reference/``);
* ``PRICES``: wholesale price series imported by ``chargegrid import entsoe``
  (``<lake>/imported_prices/source=<source>/data.parquet``).
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

ORDERS = pa.schema(
    [
        ("order_id", pa.string()),
        ("bap_id", pa.string()),
        ("transaction_id", pa.string()),  # Beckn transaction
        ("state", pa.string()),
        ("version", pa.int64()),
        ("provider_id", pa.string()),
        ("item_id", pa.string()),
        ("charger_id", pa.string()),
        ("connector_id", pa.int32()),
        ("session_id", pa.string()),  # <charger_id>/<charging transaction>: joins sessions
        ("mode", pa.string()),
        ("amount", pa.int64()),
        ("amount_unit", pa.string()),
        ("window_start", TS),
        ("window_end", TS),
        ("confirmation", pa.string()),
        ("quote_energy_wh", pa.int64()),
        ("quote_total_minor", pa.int64()),
        ("unit_price_minor_per_kwh", pa.int64()),
        ("currency", pa.string()),
        ("payment_status", pa.string()),
        ("delivered_wh", pa.int64()),
        ("billed_minor", pa.int64()),
        ("fee_minor", pa.int64()),
        ("refund_minor", pa.int64()),
        ("metered", pa.bool_()),
        ("cancel_reason", pa.string()),
        ("updated_at", TS),
        ("doc_error", pa.string()),
    ]
)

TICKETS = pa.schema(
    [
        ("ticket_id", pa.string()),
        ("bap_id", pa.string()),
        ("order_id", pa.string()),
        ("channel", pa.string()),
        ("opened_at", TS),
        ("due_at", TS),
        ("status", pa.string()),
        ("escalated_at", TS),
    ]
)

RATINGS = pa.schema(
    [
        ("rating_id", pa.int64()),
        ("bap_id", pa.string()),
        ("ref_id", pa.string()),
        ("category", pa.string()),
        ("value", pa.int32()),
        ("comment", pa.string()),
        ("rated_at", TS),
    ]
)

ORDER_TABLES: dict[str, pa.Schema] = {"orders": ORDERS, "tickets": TICKETS, "ratings": RATINGS}

PRICE_DECIMAL = pa.decimal128(18, 6)

TARIFFS = pa.schema(
    [
        ("tariff_id", pa.string()),
        ("tariff_name", pa.string()),
        ("currency", pa.string()),
        ("timezone", pa.string()),
        ("kind", pa.string()),  # tou | dynamic | none
        ("schedule", pa.string()),
        ("season_start", pa.string()),
        ("season_end", pa.string()),
        ("days", pa.string()),
        ("valid_from", pa.date32()),
        ("valid_until", pa.date32()),
        ("band", pa.string()),
        ("band_start", pa.string()),
        ("band_end", pa.string()),
        ("price_per_kwh", PRICE_DECIMAL),
        ("margin_per_kwh", PRICE_DECIMAL),
        ("session_fee", PRICE_DECIMAL),
        ("price_per_minute_charging", PRICE_DECIMAL),
        ("price_per_minute_connected", PRICE_DECIMAL),
        ("idle_price_per_minute", PRICE_DECIMAL),
        ("idle_grace_min", pa.int32()),
        ("minimum_charge", PRICE_DECIMAL),
        ("maximum_charge", PRICE_DECIMAL),
        ("tax_pct", PRICE_DECIMAL),
        ("file", pa.string()),
        ("error", pa.string()),
    ]
)

PRICES = pa.schema(
    [
        ("source", pa.string()),
        ("zone", pa.string()),
        ("started_at", TS),
        ("ended_at", TS),
        ("price_micro_minor_per_kwh", pa.int64()),
        ("price_per_mwh", pa.float64()),
        ("currency", pa.string()),
        ("file", pa.string()),
    ]
)
