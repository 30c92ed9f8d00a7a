"""Catalog views over data outside the lake: the BPP's order store (orders, tickets, ratings),
tariff files (one row per band) and imported ENTSO-E prices."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from chargegrid.cli import app
from chargegrid.settings import Settings
from chargegrid.tariffs import TariffError
from orders import repo
from orders.domain.support import Channel, RatingCategory, open_ticket, save_rating, save_ticket
from orders.events import OrderEventKind
from orders.store import OrderStore
from tests.orders.test_order_domain import ACCEPT, T_EXAMPLE, new_order
from warehouse.catalog import refresh_catalog
from warehouse.importers.prices import PriceImportError, run_price_import
from warehouse.snapshots import REPO_TARIFFS, tariff_table


def _query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(settings.catalog_path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _fill_store(settings: Settings) -> None:
    store = OrderStore(settings.orders_db_path)
    order = new_order()
    with store.transaction() as db:
        repo.save_order(db, order, OrderEventKind.drafted)
    with store.transaction() as db:
        repo.save_order(db, order.confirm(ACCEPT, T_EXAMPLE), OrderEventKind.confirmed)
    with store.transaction() as db:
        save_ticket(db, open_ticket("tk-1", "bap", "o-1", Channel.phone, T_EXAMPLE))
        save_rating(db, "bap", "o-1", RatingCategory.order, 4, "quick", T_EXAMPLE)
        db.execute(
            "INSERT INTO orders (id, bap_id, transaction_id, state, version, doc) "
            "VALUES ('o-bad', 'bap', 't-bad', 'draft', 1, '{\"id\": 1}')"
        )
    store.close()


def test_order_store_snapshot_answers_sql_and_keeps_unparsable_orders(
    settings: Settings,
) -> None:
    _fill_store(settings)
    before = settings.orders_db_path.stat().st_mtime_ns
    refresh_catalog(settings)
    assert settings.orders_db_path.stat().st_mtime_ns == before  # opened read-only
    orders = _query(
        settings,
        "SELECT order_id, state, version, mode, amount_unit, quote_total_minor, currency, "
        "doc_error IS NULL FROM orders ORDER BY order_id",
    )
    assert orders == [
        ("o-1", "confirmed", 2, "energy", "Wh", 3776, "INR", True),
        ("o-bad", "draft", 1, None, None, None, None, False),
    ]
    assert _query(settings, "SELECT ticket_id, status, due_at - opened_at FROM tickets") == [
        ("tk-1", "open", timedelta(hours=1))
    ]
    assert _query(settings, "SELECT category, value, comment, rated_at FROM ratings") == [
        ("Order", 4, "quick", T_EXAMPLE)
    ]


def test_no_order_store_gives_empty_views_and_creates_nothing(settings: Settings) -> None:
    refresh_catalog(settings)
    assert not settings.orders_db_path.exists()
    for view in ("orders", "tickets", "ratings"):
        assert _query(settings, f"SELECT count(*) FROM {view}") == [(0,)]


def _bands(path: Path) -> int:
    doc = json.loads(path.read_text())
    tou = sum(len(s["bands"]) for s in doc.get("energy", []))
    dynamic = 1 if doc.get("dynamic") else 0
    return tou + dynamic or 1


def test_tariffs_one_row_per_band_counted_from_the_files() -> None:
    files = sorted(REPO_TARIFFS.glob("*.json"))
    rows = tariff_table(files).to_pylist()
    for path in files:
        assert sum(r["file"] == str(path) for r in rows) == _bands(path), path.name
    uk = [r for r in rows if r["tariff_id"] == "uk-tou-ac-2024" and r["schedule"] == "weekday"]
    assert [(r["band"], r["band_start"], r["band_end"]) for r in uk][-2:] == [
        ("day", "19:00", "23:00"),
        ("off_peak", "23:00", "24:00"),
    ]
    assert str(uk[0]["price_per_kwh"]) == "0.250000" and str(uk[0]["tax_pct"]) == "20.000000"


def test_a_bad_operator_tariff_is_a_row_with_its_error(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "tariff.json").write_text('{"id": "x"}')
    refresh_catalog(settings)
    (row,) = _query(settings, "SELECT tariff_id, error FROM tariffs WHERE error IS NOT NULL")
    assert row[0] is None and "tariff.json" in row[1]
    assert _query(settings, "SELECT count(DISTINCT tariff_id) FROM tariffs") == [
        (len(list(REPO_TARIFFS.glob("*.json"))),)
    ]


def _expected_intervals(path: Path) -> int:
    """Rows with a price (the spring-forward hour is in the export with an empty price, the
    fall-back hour twice with two prices: both kept)."""
    with path.open(encoding="utf-8-sig") as src:
        rows = list(csv.reader(src))[1:]
    return sum(1 for r in rows if len(r) > 1 and r[1].strip() not in {"", "n/e"})


def test_entsoe_import_counts_intervals_and_reimport_is_a_no_op(
    settings: Settings, shared_data: Path
) -> None:
    folder = shared_data / "prices_entsoe_be"
    first, second = sorted(folder.glob("*.csv"))[:2]
    report = run_price_import(settings, "entsoe", [first])
    assert report.added == report.intervals_read == _expected_intervals(first)
    again = run_price_import(settings, "entsoe", [first, second])
    assert again.added == _expected_intervals(second)
    assert again.unchanged == report.added and again.replaced == 0
    got = _query(
        settings,
        "SELECT zone, currency, count(*), count(DISTINCT started_at), "
        "min(price_micro_minor_per_kwh) < 0 FROM prices GROUP BY ALL",
    )
    assert got == [("BE", "EUR", again.intervals_held, again.intervals_held, True)]
    (first_row,) = _query(
        settings, "SELECT started_at, price_per_mwh FROM prices ORDER BY started_at LIMIT 1"
    )
    assert first_row[0].isoformat() == "2015-12-31T23:00:00+00:00"  # 00:00 CET
    assert first_row[1] == pytest.approx(23.86)


def test_entsoe_bad_export_is_a_typed_error(settings: Settings, shared_data: Path) -> None:
    bad = shared_data / "prices_entsoe_bad_export"
    with pytest.raises(TariffError, match="no prices at all"):
        run_price_import(settings, "entsoe", [bad])
    with pytest.raises(PriceImportError, match="unknown price source"):
        run_price_import(settings, "nordpool", [bad])


def test_cli_import_entsoe_reports_and_refuses_a_bad_export(
    settings: Settings, shared_data: Path
) -> None:
    first = sorted((shared_data / "prices_entsoe_be").glob("*.csv"))[0]
    args = ["import", "entsoe", "--data-dir", str(settings.data_dir)]
    out = CliRunner().invoke(app, [*args[:2], str(first), *args[2:]])
    assert out.exit_code == 0, out.output
    assert f"added: {_expected_intervals(first):,}" in out.output
    again = CliRunner().invoke(app, [*args[:2], str(first), *args[2:]])
    assert "added: 0" in again.output and "already held (no-op): 8,784" in again.output
    bad = CliRunner().invoke(
        app, [*args[:2], str(shared_data / "prices_entsoe_bad_export"), *args[2:]]
    )
    assert isinstance(bad.exception, TariffError)  # main() prints it and exits 2
    assert "no prices at all" in str(bad.exception)
