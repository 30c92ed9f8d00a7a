"""Snapshots the catalog takes at each refresh of data that does not live in the lake.

* **Order store** (``Settings.orders_db_path``, the BPP's SQLite): ``orders``, ``tickets`` and
  ``ratings`` copied to ``<lake>/_orders/<table>.parquet``. The store is opened read-only
  (``file:…?mode=ro`` URI: the BPP keeps writing, we never lock or create it); each order's
  document is parsed with the order model itself. A document that does not parse keeps its row
  (id, state and version from the table) with the parse error in ``doc_error``: nothing is
  dropped. No store yet: empty tables.
* **Tariffs**: every tariff file, one row per tariff and energy band (``dynamic`` tariffs: one
  row for the spot band, ``none``: a tariff without energy price), from the repository's
  ``data/tariffs``, ``<data dir>/tariffs`` and ``<data dir>/tariff.json``. A file that does not
  parse is one row with ``file`` and ``error`` only, so a bad operator file never blocks the
  catalog.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from chargegrid.settings import Settings
from chargegrid.tariffs import Tariff, TariffError, load_tariff
from warehouse import lake
from warehouse.reference_schema import ORDER_TABLES, ORDERS, RATINGS, TARIFFS, TICKETS

ORDERS_DIR = "_orders"
REPO_TARIFFS = Path(__file__).resolve().parents[1] / "data" / "tariffs"
AMOUNT_UNITS = {"energy": "Wh", "duration": "s", "budget": "minor"}


def _ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


def _order_row(order_id: str, bap_id: str, tx: str, state: str, version: int, doc: Any) -> dict:
    from orders.domain.orders import Order

    row: dict[str, Any] = {
        "order_id": order_id,
        "bap_id": bap_id,
        "transaction_id": tx,
        "state": state,
        "version": version,
    }
    try:
        order = Order.model_validate_json(doc)
    except ValidationError as exc:
        row["doc_error"] = str(exc).splitlines()[0] + f" ({exc.error_count()} error(s))"
        return row
    settlement = order.settlement
    return row | {
        "provider_id": order.provider_id,
        "item_id": order.item_id,
        "charger_id": order.charger_id,
        "connector_id": order.connector_id,
        "session_id": (
            f"{order.charger_id}/{order.charging_transaction_id}"
            if order.charging_transaction_id
            else None
        ),
        "mode": order.mode.value,
        "amount": order.amount,
        "amount_unit": AMOUNT_UNITS.get(order.mode.value),
        "window_start": order.window_start,
        "window_end": order.window_end,
        "confirmation": order.confirmation.value if order.confirmation else None,
        "quote_energy_wh": order.quote.energy_wh,
        "quote_total_minor": order.quote.total_minor,
        "unit_price_minor_per_kwh": order.quote.unit_price_minor_per_kwh,
        "currency": order.quote.currency,
        "payment_status": order.payment.status.value,
        "delivered_wh": order.delivered_wh,
        "billed_minor": settlement.billed_minor if settlement else None,
        "fee_minor": settlement.fee_minor if settlement else None,
        "refund_minor": settlement.refund_minor if settlement else None,
        "metered": settlement.metered if settlement else None,
        "cancel_reason": order.cancel_reason,
        "updated_at": order.updated_at,
    }


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return row.fetchone() is not None


def read_order_store(path: Path) -> dict[str, pa.Table]:
    """``orders``, ``tickets``, ``ratings`` of the store at ``path`` (empty when absent)."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in ORDER_TABLES}
    if path.exists():
        uri = f"{path.resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as db:
            db.execute("BEGIN")  # one consistent read of the three tables
            if _has_table(db, "orders"):
                query = "SELECT id, bap_id, transaction_id, state, version, doc FROM orders"
                rows["orders"] = [_order_row(*r) for r in db.execute(query + " ORDER BY id")]
            if _has_table(db, "tickets"):
                rows["tickets"] = [
                    {
                        "ticket_id": r[0],
                        "bap_id": r[1],
                        "order_id": r[2],
                        "channel": r[3],
                        "opened_at": _ms(r[4]),
                        "due_at": _ms(r[5]),
                        "status": r[6],
                        "escalated_at": _ms(r[7]),
                    }
                    for r in db.execute(
                        "SELECT id, bap_id, ref_id, channel, opened_ms, due_ms, status, "
                        "escalated_ms FROM tickets ORDER BY opened_ms, id"
                    )
                ]
            if _has_table(db, "ratings"):
                rows["ratings"] = [
                    dict(zip(RATINGS.names, (*r[:6], _ms(r[6])), strict=True))
                    for r in db.execute(
                        "SELECT id, bap_id, ref_id, category, value, comment, at_ms "
                        "FROM ratings ORDER BY id"
                    )
                ]
            db.execute("COMMIT")
    schemas = {"orders": ORDERS, "tickets": TICKETS, "ratings": RATINGS}
    return {name: pa.Table.from_pylist(rows[name], schemas[name]) for name in ORDER_TABLES}


def write_order_snapshot(settings: Settings) -> dict[str, Path]:
    """Snapshot the order store into ``<lake>/_orders``; the Parquet path of each table."""
    directory = settings.lake_dir / ORDERS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in read_order_store(settings.orders_db_path).items():
        paths[name] = directory / f"{name}.parquet"
        lake.write_atomic(table, paths[name])
    return paths


# -- tariffs -------------------------------------------------------------------------------------


def tariff_files(settings: Settings) -> list[Path]:
    """The tariff files the catalog lists, in a stable order."""
    files = sorted(REPO_TARIFFS.glob("*.json")) if REPO_TARIFFS.is_dir() else []
    operator = settings.data_dir / "tariffs"
    if operator.is_dir():
        files += sorted(operator.glob("*.json"))
    default = settings.data_dir / "tariff.json"
    if default.is_file():
        files.append(default)
    return files


def _fees(tariff: Tariff) -> dict[str, Any]:
    idle = tariff.idle
    return {
        "tariff_id": tariff.id,
        "tariff_name": tariff.name,
        "currency": tariff.currency,
        "timezone": tariff.timezone,
        "session_fee": tariff.session_fee,
        "price_per_minute_charging": tariff.price_per_minute_charging,
        "price_per_minute_connected": tariff.price_per_minute_connected,
        "idle_price_per_minute": idle.price_per_minute if idle else None,
        "idle_grace_min": idle.grace_minutes if idle else None,
        "minimum_charge": tariff.minimum_charge,
        "maximum_charge": tariff.maximum_charge,
        "tax_pct": sum((t.rate_percent for t in tariff.taxes), Decimal(0)),
    }


def tariff_band_rows(tariff: Tariff) -> Iterable[dict[str, Any]]:
    """One row per schedule band (``band_end`` is the next band's start, ``24:00`` at the
    end), one for a dynamic tariff's spot band, one when the tariff prices no energy."""
    fees = _fees(tariff)
    for schedule in tariff.energy:
        ends = [b.start for b in schedule.bands[1:]] + ["24:00"]
        for band, end in zip(schedule.bands, ends, strict=True):
            yield fees | {
                "kind": "tou",
                "schedule": schedule.name,
                "season_start": schedule.season_start,
                "season_end": schedule.season_end,
                "days": schedule.days,
                "valid_from": schedule.valid_from,
                "valid_until": schedule.valid_until,
                "band": band.name,
                "band_start": band.start,
                "band_end": end,
                "price_per_kwh": band.price_per_kwh,
            }
    if tariff.dynamic is not None:
        yield fees | {
            "kind": "dynamic",
            "band": tariff.dynamic.band,
            "margin_per_kwh": tariff.dynamic.margin_per_kwh,
        }
    if not tariff.energy and tariff.dynamic is None:
        yield fees | {"kind": "none"}


def tariff_table(files: list[Path]) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for path in files:
        try:
            tariff = load_tariff(path)
        except TariffError as exc:
            rows.append({"file": str(path), "error": str(exc)})
            continue
        rows.extend(r | {"file": str(path)} for r in tariff_band_rows(tariff))
    return pa.Table.from_pylist(rows, TARIFFS)
