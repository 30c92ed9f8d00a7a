"""The data dictionary: the one place every catalog view and column is documented.

Each view of the catalog (:mod:`warehouse.catalog`) has a :class:`TableDoc`; each of its columns a
:class:`ColumnDoc` with the DuckDB type the view reports, the unit (empty when the column has
none) and its meaning. ``tests/warehouse/test_dictionary.py`` compares this against the views'
real columns, both ways, so the dictionary cannot drift from the catalog.

The dictionary is also published: ``chargegrid catalog dictionary --format md|csv`` prints it and
the catalog serves it as the ``data_dictionary`` view (Parquet under ``<lake>/_reference/``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

TSZ = "TIMESTAMP WITH TIME ZONE"
UTC = "UTC"


@dataclass(frozen=True, slots=True)
class ColumnDoc:
    name: str
    type: str  # as DuckDB's DESCRIBE names it
    unit: str  # "" when the column has no unit
    meaning: str


@dataclass(frozen=True, slots=True)
class TableDoc:
    name: str
    meaning: str
    columns: tuple[ColumnDoc, ...]


def _c(name: str, type_: str, unit: str, meaning: str) -> ColumnDoc:
    return ColumnDoc(name, type_, unit, meaning)


DATE_PARTITION = _c("date", "DATE", "UTC day", "hive partition: UTC day of the row's time")
LOG_POSITION = (
    _c("log_partition", "INTEGER", "", "event-log partition the record came from"),
    _c("log_offset", "BIGINT", "", "offset of the record in its event-log partition"),
    _c("log_index", "INTEGER", "", "row within a columnar batch record (0 for a JSON record)"),
)

PIPELINE = (
    TableDoc(
        "readings",
        "Meter values from chargers (OCPP MeterValues), one row per sample, via the pipeline.",
        (
            _c("ts", TSZ, UTC, "sample time as the charger reported it"),
            _c("charger_id", "VARCHAR", "", "charge point identity (OCPP)"),
            _c("connector_id", "INTEGER", "", "connector number on the charger (0 = whole)"),
            _c("transaction_id", "VARCHAR", "", "OCPP transaction, NULL for idle meter values"),
            _c("energy_register_wh", "DOUBLE", "Wh", "cumulative import energy register"),
            _c("power_w", "DOUBLE", "W", "active import power"),
            _c("current_a", "DOUBLE", "A", "import current"),
            _c("voltage_v", "DOUBLE", "V", "voltage"),
            _c("soc_pct", "DOUBLE", "%", "vehicle state of charge, when reported"),
            _c("context", "VARCHAR", "", "OCPP reading context (Sample.Periodic, ...)"),
            *LOG_POSITION,
            DATE_PARTITION,
        ),
    ),
    TableDoc(
        "sessions",
        "Charging transactions built by the pipeline from start/stop events and readings.",
        (
            _c("session_id", "VARCHAR", "", "charger_id/transaction_id, unique"),
            _c("charger_id", "VARCHAR", "", "charge point identity"),
            _c("connector_id", "INTEGER", "", "connector number on the charger"),
            _c("transaction_id", "VARCHAR", "", "OCPP transaction id"),
            _c("id_tag", "VARCHAR", "", "authorisation token of the driver"),
            _c("started_at", TSZ, UTC, "transaction start (plug-in / authorised)"),
            _c("ended_at", TSZ, UTC, "transaction stop (plug-out)"),
            _c("meter_start_wh", "DOUBLE", "Wh", "energy register at start"),
            _c("meter_stop_wh", "DOUBLE", "Wh", "energy register at stop"),
            _c("energy_wh", "DOUBLE", "Wh", "energy delivered (register delta)"),
            _c(
                "energy_quality",
                "VARCHAR",
                "",
                "ok | reset | no_readings | ...",
            ),
            _c("readings", "BIGINT", "count", "meter readings matched to the transaction"),
            _c("max_power_w", "DOUBLE", "W", "highest power reading of the transaction"),
            _c("stop_reason", "VARCHAR", "", "OCPP stop reason"),
            _c(
                "charging_ended_at",
                TSZ,
                UTC,
                "last reading that delivered energy (power > 100 W, or the register rising); "
                "ended_at - charging_ended_at is idle after charging; NULL if none did",
            ),
            DATE_PARTITION,
        ),
    ),
    TableDoc(
        "connector_status",
        "Status notifications, boots and heartbeats of chargers, one row per message.",
        (
            _c("ts", TSZ, UTC, "time of the status change / message"),
            _c("charger_id", "VARCHAR", "", "charge point identity"),
            _c("connector_id", "INTEGER", "", "connector number (0 = the whole charger)"),
            _c("kind", "VARCHAR", "", "status | boot | heartbeat"),
            _c("status", "VARCHAR", "", "OCPP status (Available, Charging, Faulted, ...)"),
            _c("error_code", "VARCHAR", "", "OCPP error code with a Faulted status"),
            DATE_PARTITION,
        ),
    ),
    TableDoc(
        "dead_letter",
        "Every record the pipeline or a producer refused, with the reason; nothing is dropped.",
        (
            _c("ts", TSZ, UTC, "when it was judged (producer rejections: the record's time)"),
            _c("topic", "VARCHAR", "", "event-log topic of the record"),
            *LOG_POSITION,
            _c("source", "VARCHAR", "", "who refused it: pipeline | csms | replay:<source> | ..."),
            _c("reason", "VARCHAR", "", "reason code (chargegrid.events.Reason)"),
            _c("detail", "VARCHAR", "", "what exactly was wrong"),
            _c("charger_id", "VARCHAR", "", "charge point, when known"),
            _c("raw", "VARCHAR", "", "the record as received"),
            DATE_PARTITION,
        ),
    ),
    TableDoc(
        "bills",
        "One row per closed session, billed by the pipeline under its charger's tariff as it "
        "closed (same kernel as `chargegrid bill` and the Beckn final bill).",
        (
            _c("session_id", "VARCHAR", "", "charger_id/transaction_id (sessions.session_id)"),
            _c("charger_id", "VARCHAR", "", "charge point identity"),
            _c("tariff_id", "VARCHAR", "", "tariff that billed it; NULL when unbilled"),
            _c("started_at", TSZ, UTC, "plug-in (session start)"),
            _c("ended_at", TSZ, UTC, "plug-out (session stop)"),
            _c("energy_wh", "DOUBLE", "Wh", "energy the bill charges"),
            _c("quality", "VARCHAR", "", "energy quality flags of the billing kernel (ok, ...)"),
            _c("net_minor", "BIGINT", "minor units", "amount before tax, in currency minor units"),
            _c("tax_minor", "BIGINT", "minor units", "tax, in currency minor units"),
            _c("total_minor", "BIGINT", "minor units", "amount the driver pays (net + tax)"),
            _c("currency", "VARCHAR", "ISO 4217", "currency of the amounts"),
            _c("status", "VARCHAR", "", "billed | unbilled"),
            _c("detail", "VARCHAR", "", "why a session is unbilled (no tariff, no prices, ...)"),
            DATE_PARTITION,
        ),
    ),
    TableDoc(
        "bill_lines",
        "The itemised breakup of each billed session: energy per tariff band, fees, taxes.",
        (
            _c("session_id", "VARCHAR", "", "the billed session"),
            _c("started_at", TSZ, UTC, "its start (partitions the lines with the bill)"),
            _c("tariff_id", "VARCHAR", "", "tariff that billed it"),
            _c("line_no", "INTEGER", "", "order of the line on the bill"),
            _c("code", "VARCHAR", "", "energy:<band> | time | connected | idle | fee | tax ..."),
            _c("quantity", "DOUBLE", "see unit", "billed quantity"),
            _c("unit", "VARCHAR", "", "unit of quantity (kWh, min, session, ...)"),
            _c("unit_price", "VARCHAR", "major units", "decimal price per unit; NULL for taxes"),
            _c("amount_minor", "BIGINT", "minor units", "line amount in currency minor units"),
            _c("currency", "VARCHAR", "ISO 4217", "currency of the amount"),
            DATE_PARTITION,
        ),
    ),
    TableDoc(
        "order_events",
        "Beckn order lifecycle events relayed by the BPP, one row per order state change.",
        (
            _c("at", TSZ, UTC, "when the order changed"),
            _c("seq", "BIGINT", "", "the BPP's order-event sequence number (unique, increasing)"),
            _c("order_id", "VARCHAR", "", "Beckn order id"),
            _c("kind", "VARCHAR", "", "drafted | confirmed | pending | approved | modified | ..."),
            _c("state", "VARCHAR", "", "order state after the change"),
            _c("version", "BIGINT", "", "order version after the change (1 = created)"),
            _c("bap_id", "VARCHAR", "", "the buyer app (Beckn subscriber id)"),
            _c("item_id", "VARCHAR", "", "catalog item (connector) ordered"),
            _c("charger_id", "VARCHAR", "", "charge point of the item"),
            _c("connector_id", "INTEGER", "", "connector of the item"),
            _c("quote_total_minor", "BIGINT", "minor units", "quoted total"),
            _c("currency", "VARCHAR", "ISO 4217", "currency of the amounts"),
            _c("delivered_wh", "BIGINT", "Wh", "energy delivered so far"),
            _c("billed_minor", "BIGINT", "minor units", "final bill, once settled"),
            _c("fee_minor", "BIGINT", "minor units", "cancellation fee, if any"),
            _c("refund_minor", "BIGINT", "minor units", "refund, if any"),
            _c("log_partition", "INTEGER", "", "event-log partition the record came from"),
            _c("log_offset", "BIGINT", "", "offset of the record in its event-log partition"),
            DATE_PARTITION,
        ),
    ),
)

REFERENCE = (
    TableDoc(
        "stations",
        "Sites of our own estate (inventory): a location holding one or more chargers.",
        (
            _c("station_id", "VARCHAR", "", "site identity"),
            _c("name", "VARCHAR", "", "display name"),
            _c("lat", "DOUBLE", "degrees", "latitude (WGS 84)"),
            _c("lon", "DOUBLE", "degrees", "longitude (WGS 84)"),
            _c("operator", "VARCHAR", "", "operating company"),
        ),
    ),
    TableDoc(
        "connectors",
        "Connectors of our own chargers (inventory), one row per charger and connector.",
        (
            _c("charger_id", "VARCHAR", "", "charge point identity"),
            _c("station_id", "VARCHAR", "", "site the charger stands at"),
            _c("model", "VARCHAR", "", "charger model"),
            _c("connector_id", "INTEGER", "", "connector number on the charger"),
            _c("standard", "VARCHAR", "", "plug standard (IEC 62196 type 2, CCS, ...)"),
            _c("current", "VARCHAR", "", "AC | DC"),
            _c("max_power_w", "DOUBLE", "W", "rated power of the connector"),
        ),
    ),
)

IMPORTED = (
    TableDoc(
        "historical_sessions",
        "Sessions imported by `chargegrid import` from published exports, one per session.",
        (
            _c("session_id", "VARCHAR", "", "<source>:<natural key>, unique"),
            _c("source", "VARCHAR", "", "importer: dundee | perth | boulder | sap | epfl | acn"),
            _c("site_id", "VARCHAR", "", "site / location as published (normalised), if any"),
            _c("station_id", "VARCHAR", "", "charge point / station as published"),
            _c("connector", "VARCHAR", "", "connector / plug / parking space as published"),
            _c("started_at", TSZ, UTC, "plug-in"),
            _c("ended_at", TSZ, UTC, "plug-out"),
            _c("charging_ended_at", TSZ, UTC, "end of energy transfer, when the source knows it"),
            _c("energy_wh", "BIGINT", "Wh", "energy delivered"),
            _c("price_minor", "BIGINT", "minor units of currency", "billed total, when known"),
            _c("currency", "VARCHAR", "ISO 4217", "currency of price_minor"),
            _c("user_id", "VARCHAR", "", "driver / account as published (pseudonymous)"),
            _c("soc_start_pct", "DOUBLE", "%", "state of charge at plug-in, when published"),
            _c("soc_end_pct", "DOUBLE", "%", "state of charge at plug-out, when published"),
            _c("rated_power_w", "DOUBLE", "W", "outlet rating used by the plausibility rule"),
            _c("flags", "VARCHAR[]", "", "import rules that changed or doubted a value"),
            _c(
                "time_flags",
                "VARCHAR[]",
                "",
                "start/end_dst_gap (published local time does not exist), start/end_dst_overlap "
                "(happens twice), start/end_label_contradicts_zone (Boulder MST/MDT label)",
            ),
            _c("file", "VARCHAR", "", "file the row came from"),
            _c("line", "BIGINT", "", "line in that file (JSON: item number)"),
        ),
    ),
    TableDoc(
        "import_rejects",
        "Rows `chargegrid import` refused, with the reason; read = imported + rejected.",
        (
            _c("source", "VARCHAR", "", "importer"),
            _c("file", "VARCHAR", "", "file the row came from"),
            _c("line", "BIGINT", "", "line in that file (JSON: item number)"),
            _c("reason", "VARCHAR", "", "reason code (chargegrid.events.Reason)"),
            _c("detail", "VARCHAR", "", "what exactly was wrong"),
            _c("station_id", "VARCHAR", "", "station of the row, when readable"),
            _c("raw", "VARCHAR", "", "the row as read (xlsx: cells joined by tabs)"),
        ),
    ),
    TableDoc(
        "registry_stations",
        "Charging stations from published locations and the AFDC registry.",
        (
            _c("station_id", "VARCHAR", "", "station identity within its source"),
            _c("source", "VARCHAR", "", "importer"),
            _c("name", "VARCHAR", "", "station name"),
            _c("site", "VARCHAR", "", "site / location name"),
            _c("address", "VARCHAR", "", "street address"),
            _c("city", "VARCHAR", "", "city"),
            _c("lat", "DOUBLE", "degrees", "latitude (WGS 84)"),
            _c("lon", "DOUBLE", "degrees", "longitude (WGS 84)"),
            _c("connectors", "INTEGER", "count", "charging ports"),
            _c("level1_ports", "INTEGER", "count", "Level 1 (120 V AC) ports"),
            _c("level2_ports", "INTEGER", "count", "Level 2 (240 V AC) ports"),
            _c("dc_fast_ports", "INTEGER", "count", "DC fast ports"),
            _c("max_power_w", "DOUBLE", "W", "highest port power"),
            _c("power_level", "VARCHAR", "", "Level 1 | Level 2 | DC fast (highest)"),
            _c("connector_types", "VARCHAR", "", "plug types as published"),
            _c("network", "VARCHAR", "", "charging network"),
            _c("file", "VARCHAR", "", "file the row came from"),
            _c("line", "BIGINT", "", "line in that file"),
        ),
    ),
)

_SOURCE = _c("source", "VARCHAR", "", "pipeline | import:<importer>")
_SITE = _c("site_id", "VARCHAR", "", "site (pipeline: inventory station; import: site)")
_STATION = _c("station_id", "VARCHAR", "", "station (pipeline: charger_id; import: station_id)")
_PORT = _c("port_id", "VARCHAR", "", "<station_id>/<connector>: one charging port")


def _slot_view(name: str, width: str) -> TableDoc:
    return TableDoc(
        name,
        f"Per port and {width} UTC slot with any plug-in time: occupancy, energy, starts.",
        (
            _SOURCE,
            _SITE,
            _STATION,
            _PORT,
            _c("slot_start", TSZ, UTC, f"start of the {width} slot"),
            _c("occupied_min", "DOUBLE", "min", "plugged-in minutes in the slot"),
            _c(
                "energy_wh",
                "DOUBLE",
                "Wh",
                "session energy spread evenly over its charging interval (to charging end "
                "when known, else to plug-out)",
            ),
            _c("sessions_started", "BIGINT", "count", "sessions that started in the slot"),
        ),
    )


_SPAN_COMMON = (
    _SOURCE,
    _c("session_id", "VARCHAR", "", "session identity, unique per source"),
    _SITE,
    _STATION,
    _PORT,
    _c("started_at", TSZ, UTC, "plug-in"),
    _c("ended_at", TSZ, UTC, "plug-out"),
)

DERIVED = (
    TableDoc(
        "session_spans",
        "Sessions of every source in one shape (pipeline + imported history).",
        (
            *_SPAN_COMMON,
            _c("charging_ended_at", TSZ, UTC, "end of energy transfer as imported; NULL else"),
            _c("energy_wh", "DOUBLE", "Wh", "energy delivered"),
            _c("price_minor", "BIGINT", "minor units of currency", "billed total, when known"),
            _c("currency", "VARCHAR", "ISO 4217", "currency of price_minor"),
            _c("transaction_id", "VARCHAR", "", "OCPP transaction (pipeline only)"),
            _c("readings", "BIGINT", "count", "meter readings (pipeline only)"),
        ),
    ),
    TableDoc(
        "session_facts",
        "session_spans plus the charging end and start outcome read from the meter (pipeline).",
        (
            *_SPAN_COMMON,
            _c(
                "charging_ended_at",
                TSZ,
                UTC,
                "end of energy transfer: imported as published; pipeline: the lake's "
                "charging_ended_at when set, else the last reading with power > 0 "
                "(NULL = unknown)",
            ),
            _c("energy_wh", "DOUBLE", "Wh", "energy delivered"),
            _c("price_minor", "BIGINT", "minor units of currency", "billed total, when known"),
            _c("currency", "VARCHAR", "ISO 4217", "currency of price_minor"),
            _c(
                "start_succeeded",
                "BOOLEAN",
                "",
                "pipeline: the transaction delivered meter readings; imported: NULL (unknown)",
            ),
            _c(
                "idle_after_full_min",
                "DOUBLE",
                "min",
                "plugged in after charging ended (ended_at - charging_ended_at); NULL = unknown. "
                "Filter on this rather than subtracting the timestamps: TIMESTAMPTZ arithmetic "
                "goes through ICU calendars and is ~5x slower",
            ),
        ),
    ),
    TableDoc(
        "ports",
        "Ports counted as available by reports: inventory connectors, and ports seen in sessions.",
        (
            _SOURCE,
            _SITE,
            _STATION,
            _PORT,
            _c(
                "available_from",
                TSZ,
                UTC,
                "start of availability (UTC day of first plug-in); NULL = inventory, always",
            ),
            _c(
                "available_until",
                TSZ,
                UTC,
                "end of availability (end of UTC day of last plug-out); NULL = always",
            ),
        ),
    ),
    TableDoc(
        "port_outages",
        "Merged intervals a pipeline port was Faulted or Unavailable (own or charger status).",
        (
            _PORT,
            _c("started_at", TSZ, UTC, "outage start"),
            _c("ended_at", TSZ, UTC, "outage end (next non-outage status); NULL = ongoing"),
        ),
    ),
    _slot_view("utilisation_15m", "15-minute"),
    _slot_view("utilisation_hourly", "1-hour"),
    TableDoc(
        "dead_letter_counts",
        "Dead-lettered records per topic, source and reason (what operators watch).",
        (
            _c("topic", "VARCHAR", "", "event-log topic the record came from"),
            _c("source", "VARCHAR", "", "who rejected it: pipeline | csms | replay:<source> ..."),
            _c("reason", "VARCHAR", "", "chargegrid.events.Reason"),
            _c("records", "BIGINT", "records", "how many records"),
        ),
    ),
)

MONEY = "major units of currency"
TSU = (TSZ, UTC)

ORDER_STORE = (
    TableDoc(
        "orders",
        "Beckn orders of the BPP (snapshot of its order store at the last catalog refresh), "
        "one row per order in its latest state.",
        (
            _c("order_id", "VARCHAR", "", "order id given by the BPP"),
            _c("bap_id", "VARCHAR", "", "consumer app (BAP) subscriber id"),
            _c("transaction_id", "VARCHAR", "", "Beckn transaction id"),
            _c(
                "state",
                "VARCHAR",
                "",
                "draft | pending | confirmed | active | completed | cancelled",
            ),
            _c("version", "BIGINT", "", "order version (each change adds 1)"),
            _c("provider_id", "VARCHAR", "", "Beckn provider (CPO) id"),
            _c("item_id", "VARCHAR", "", "catalog item ordered"),
            _c("charger_id", "VARCHAR", "", "charge point of the order"),
            _c("connector_id", "INTEGER", "", "connector number on the charger"),
            _c(
                "session_id",
                "VARCHAR",
                "",
                "charging session (joins sessions.session_id); NULL before charging",
            ),
            _c("mode", "VARCHAR", "", "energy | duration | budget: what amount means"),
            _c("amount", "BIGINT", "Wh | s | minor", "amount ordered, in amount_unit"),
            _c("amount_unit", "VARCHAR", "", "Wh (energy), s (duration), minor units (budget)"),
            _c("window_start", *TSU, "start of the booked charging window"),
            _c("window_end", *TSU, "end of the booked window; NULL for open-ended"),
            _c(
                "confirmation",
                "VARCHAR",
                "",
                "instant | advance | provisional; NULL before confirm",
            ),
            _c("quote_energy_wh", "BIGINT", "Wh", "energy the quote was priced for"),
            _c("quote_total_minor", "BIGINT", "minor units", "quoted total (sum of quote lines)"),
            _c("unit_price_minor_per_kwh", "BIGINT", "minor units/kWh", "quoted energy price"),
            _c("currency", "VARCHAR", "", "ISO 4217 currency of every money column"),
            _c("payment_status", "VARCHAR", "", "NOT-PAID | PAID"),
            _c("delivered_wh", "BIGINT", "Wh", "energy delivered so far"),
            _c("billed_minor", "BIGINT", "minor units", "final bill; NULL until the order ends"),
            _c("fee_minor", "BIGINT", "minor units", "cancellation fee; NULL until the order ends"),
            _c("refund_minor", "BIGINT", "minor units", "refund; NULL until the order ends"),
            _c("metered", "BOOLEAN", "", "bill from meter readings (false: on the quote)"),
            _c("cancel_reason", "VARCHAR", "", "why it was cancelled"),
            _c("updated_at", *TSU, "last change of the order"),
            _c(
                "doc_error", "VARCHAR", "", "order document that did not parse (other columns NULL)"
            ),
        ),
    ),
    TableDoc(
        "tickets",
        "Support tickets (grievances) raised through Beckn support (snapshot of the order store).",
        (
            _c("ticket_id", "VARCHAR", "", "ticket id"),
            _c("bap_id", "VARCHAR", "", "consumer app that raised it"),
            _c("order_id", "VARCHAR", "", "order (or other reference) it is about"),
            _c("channel", "VARCHAR", "", "contact channel"),
            _c("opened_at", *TSU, "when it was raised"),
            _c("due_at", *TSU, "answer due by (SLA)"),
            _c("status", "VARCHAR", "", "open | answered | escalated"),
            _c("escalated_at", *TSU, "when it was escalated for missing its SLA; NULL if not"),
        ),
    ),
    TableDoc(
        "ratings",
        "Ratings drivers gave through Beckn rating (snapshot of the order store).",
        (
            _c("rating_id", "BIGINT", "", "rating number (store row id)"),
            _c("bap_id", "VARCHAR", "", "consumer app that sent it"),
            _c("ref_id", "VARCHAR", "", "what was rated (order, item, provider id)"),
            _c("category", "VARCHAR", "", "Beckn rating category (Order, Item, Provider, ...)"),
            _c("value", "INTEGER", "1-5", "rating value"),
            _c("comment", "VARCHAR", "", "free text, when given"),
            _c("rated_at", *TSU, "when it was received"),
        ),
    ),
)

_PRICE = "DECIMAL(18,6)"

PRICING = (
    TableDoc(
        "tariffs",
        "Tariff files (repository data/tariffs, <data dir>/tariffs, <data dir>/tariff.json): "
        "one row per tariff and energy band; tariff-wide fees repeated on each row.",
        (
            _c("tariff_id", "VARCHAR", "", "tariff id"),
            _c("tariff_name", "VARCHAR", "", "display name"),
            _c("currency", "VARCHAR", "", "ISO 4217 currency of every price"),
            _c("timezone", "VARCHAR", "", "IANA zone band times are local to"),
            _c("kind", "VARCHAR", "", "tou (time-of-use band) | dynamic (spot + margin) | none"),
            _c("schedule", "VARCHAR", "", "schedule name (tou)"),
            _c("season_start", "VARCHAR", "MM-DD", "first local day of the season, inclusive"),
            _c("season_end", "VARCHAR", "MM-DD", "last local day of the season, inclusive"),
            _c("days", "VARCHAR", "", "all | weekdays | weekends"),
            _c("valid_from", "DATE", "local day", "first day the schedule applies; NULL: always"),
            _c("valid_until", "DATE", "local day", "last day it applies; NULL: open"),
            _c("band", "VARCHAR", "", "band name (dynamic: the spot band)"),
            _c("band_start", "VARCHAR", "HH:MM local", "band start, inclusive"),
            _c("band_end", "VARCHAR", "HH:MM local", "band end (next band's start; 24:00)"),
            _c("price_per_kwh", _PRICE, MONEY + "/kWh", "energy price, before tax"),
            _c("margin_per_kwh", _PRICE, MONEY + "/kWh", "dynamic: margin on the spot price"),
            _c("session_fee", _PRICE, MONEY, "fee per session"),
            _c("price_per_minute_charging", _PRICE, MONEY + "/min", "time while charging"),
            _c("price_per_minute_connected", _PRICE, MONEY + "/min", "time while plugged in"),
            _c("idle_price_per_minute", _PRICE, MONEY + "/min", "idle fee after the grace"),
            _c("idle_grace_min", "INTEGER", "min", "idle minutes free of the idle fee"),
            _c("minimum_charge", _PRICE, MONEY, "minimum bill per session"),
            _c("maximum_charge", _PRICE, MONEY, "maximum bill per session; NULL: none"),
            _c("tax_pct", _PRICE, "%", "sum of the tax rates on the net total"),
            _c("file", "VARCHAR", "", "tariff file"),
            _c("error", "VARCHAR", "", "why the file was refused (other columns NULL)"),
        ),
    ),
    TableDoc(
        "prices",
        "Wholesale day-ahead prices imported with chargegrid import entsoe, one row per interval.",
        (
            _c("source", "VARCHAR", "", "importer (entsoe)"),
            _c("zone", "VARCHAR", "", "bidding zone (BE, ...)"),
            _c("started_at", *TSU, "interval start (local DST rules applied)"),
            _c("ended_at", *TSU, "interval end, exclusive"),
            _c(
                "price_micro_minor_per_kwh",
                "BIGINT",
                "µminor units/kWh",
                "exact price (may be negative)",
            ),
            _c("price_per_mwh", "DOUBLE", MONEY + "/MWh", "price as published"),
            _c("currency", "VARCHAR", "", "ISO 4217 currency"),
            _c("file", "VARCHAR", "", "export file the interval was last read from"),
        ),
    ),
)

DATA_DICTIONARY = TableDoc(
    "data_dictionary",
    "This dictionary: every catalog view and column with type, unit and meaning.",
    (
        _c("table_name", "VARCHAR", "", "catalog view"),
        _c("table_meaning", "VARCHAR", "", "what one row of the view is"),
        _c("column_name", "VARCHAR", "", "column of the view"),
        _c("column_type", "VARCHAR", "", "DuckDB type"),
        _c("unit", "VARCHAR", "", "unit of the column's values (empty: none)"),
        _c("meaning", "VARCHAR", "", "what the column holds"),
        _c("position", "INTEGER", "", "column position in the view (1-based)"),
    ),
)

_WINDOW_SUMS = (
    _c("occupied_min", "DOUBLE", "min", "minutes a vehicle was plugged in"),
    _c("charging_min", "DOUBLE", "min", "minutes between readings that delivered energy"),
    _c("idle_after_full_min", "DOUBLE", "min", "minutes plugged in after charging ended"),
    _c("faulted_min", "DOUBLE", "min", "minutes Faulted/Unavailable"),
    _c("offline_min", "DOUBLE", "min", "minutes the charger was silent (connector 0)"),
    _c("energy_wh", "DOUBLE", "Wh", "energy delivered in the window"),
    _c("sessions_started", "HUGEINT", "count", "sessions that started in the window"),
    _c("revenue_minor", "HUGEINT", "minor units", "bills of sessions that ended in the window"),
    _c("currency", "VARCHAR", "ISO 4217", "currency of revenue_minor"),
)


def _window_view(name: str, width: str) -> TableDoc:
    return TableDoc(
        name,
        f"Stream utilisation per connector and {width} (sum of utilisation_windows partials; "
        "connector 0 = the charger as a whole).",
        (
            _c("window_start", TSZ, UTC, f"start of the {width}"),
            _c("charger_id", "VARCHAR", "", "charge point identity"),
            _c("connector_id", "INTEGER", "", "connector (0 = the whole charger)"),
            *_WINDOW_SUMS,
        ),
    )


WINDOWS = (
    TableDoc(
        "utilisation_windows",
        "Additive partials of 15-minute utilisation windows written by the stream as events "
        "complete (sessions close, outages end); a window is the SUM of its rows, so late data "
        "corrects it. Read windows_15m / windows_hourly instead.",
        (
            _c("window_start", TSZ, UTC, "start of the 15-minute window"),
            _c("charger_id", "VARCHAR", "", "charge point identity"),
            _c("connector_id", "INTEGER", "", "connector (0 = the whole charger)"),
            _c("occupied_s", "DOUBLE", "s", "plugged-in seconds"),
            _c("charging_s", "DOUBLE", "s", "seconds between readings that delivered energy"),
            _c("idle_after_full_s", "DOUBLE", "s", "seconds plugged in after charging ended"),
            _c("faulted_s", "DOUBLE", "s", "seconds Faulted/Unavailable"),
            _c("offline_s", "DOUBLE", "s", "seconds the charger was silent beyond the allowance"),
            _c("energy_wh", "DOUBLE", "Wh", "register increase shown by readings in the window"),
            _c("sessions_started", "BIGINT", "count", "sessions started in the window"),
            _c("revenue_minor", "BIGINT", "minor units", "bill totals of sessions ended in it"),
            _c("currency", "VARCHAR", "ISO 4217", "currency of revenue_minor"),
            DATE_PARTITION,
        ),
    ),
    _window_view("windows_15m", "15 minutes"),
    _window_view("windows_hourly", "hour"),
    TableDoc(
        "station_windows_hourly",
        "Stream utilisation per station and hour, with outage minutes and uptime.",
        (
            _c("window_start", TSZ, UTC, "start of the hour"),
            _c("station_id", "VARCHAR", "", "station (inventory)"),
            _c("ports", "HUGEINT", "count", "connectors of the station's chargers"),
            *(c for c in _WINDOW_SUMS if c.name not in ("faulted_min", "offline_min")),
            _c(
                "outage_min",
                "DOUBLE",
                "min",
                "port-minutes out (port faults + charger outages x ports)",
            ),
            _c("uptime_pct", "DOUBLE", "%", "100 x (1 - outage_min / (ports x 60))"),
        ),
    ),
)

TABLES: tuple[TableDoc, ...] = (
    *PIPELINE,
    *WINDOWS,
    *REFERENCE,
    *ORDER_STORE,
    *PRICING,
    *IMPORTED,
    *DERIVED,
    DATA_DICTIONARY,
)


def rows() -> list[dict[str, object]]:
    """One dict per documented column, in catalog order (the ``data_dictionary`` rows)."""
    return [
        {
            "table_name": t.name,
            "table_meaning": t.meaning,
            "column_name": c.name,
            "column_type": c.type,
            "unit": c.unit,
            "meaning": c.meaning,
            "position": i,
        }
        for t in TABLES
        for i, c in enumerate(t.columns, start=1)
    ]


SCHEMA = pa.schema(
    [(c.name, pa.int32() if c.name == "position" else pa.string()) for c in DATA_DICTIONARY.columns]
)


def arrow_table() -> pa.Table:
    return pa.Table.from_pylist(rows(), schema=SCHEMA)


def to_csv() -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SCHEMA.names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows())
    return buffer.getvalue()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown() -> str:
    """The dictionary as Markdown: a section per view with a column table."""
    out = ["# chargegrid data dictionary", ""]
    for t in TABLES:
        out += [f"## {t.name}", "", _md_cell(t.meaning), ""]
        out += ["| column | type | unit | meaning |", "|---|---|---|---|"]
        out += [
            f"| {c.name} | {c.type} | {_md_cell(c.unit)} | {_md_cell(c.meaning)} |"
            for c in t.columns
        ]
        out.append("")
    return "\n".join(out)


def write_parquet(directory: Path) -> Path:
    """Write the dictionary as Parquet in ``directory`` (atomically); returns the file."""
    from warehouse import lake

    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "data_dictionary.parquet"
    lake.write_atomic(arrow_table(), target)
    return target
