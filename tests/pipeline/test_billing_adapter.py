"""Billing adapter and CLI: warehouse rows → bills, sessions table, quote, explain, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from chargegrid.tariffs import PriceSeries, to_us
from pipeline.billing import (
    BillingInputError,
    bill_sessions,
    explain,
    kernel_input,
    quote_session,
)
from tests.pipeline.billing_support import TARIFFS, tariff

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)  # Monday, GMT


def readings_frame(charger: str = "CP1", txn: str = "7", minutes: int = 120) -> pl.DataFrame:
    """A 7 kW session from T0, one reading a minute (warehouse readings columns)."""
    return pl.DataFrame(
        {
            "ts": [T0 + timedelta(minutes=k) for k in range(minutes + 1)],
            "charger_id": [charger] * (minutes + 1),
            "transaction_id": [txn] * (minutes + 1),
            "energy_register_wh": [1000.0 + 7000.0 * k / 60 for k in range(minutes + 1)],
            "power_w": [7000.0] * (minutes + 1),
        }
    )


def test_lines_of_a_tou_session_and_they_sum_to_the_total() -> None:
    bills = bill_sessions(readings_frame(), tariff("uk_tou_vat"))
    lines = bills.lines.select("code", "quantity", "unit_price", "amount_minor").rows()
    assert lines == [
        ("energy:day", 7.0, "0.40", 280),
        ("energy:peak", 7.0, "0.55", 385),
        ("session_fee", 1.0, "0.50", 50),
        ("tax:VAT", 20.0, None, 143),
    ]
    summary = bills.sessions.row(0, named=True)
    assert summary["session_id"] == "CP1/7"
    assert summary["total_minor"] == 858 == bills.lines["amount_minor"].sum()
    assert (summary["net_minor"], summary["tax_minor"]) == (715, 143)


def test_row_order_never_changes_a_bill() -> None:
    frame = pl.concat([readings_frame(), readings_frame("CP2", "9", 40)])
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    t = tariff("uk_tou_vat")
    assert bill_sessions(shuffled, t).lines.equals(bill_sessions(frame, t).lines)


def test_sessions_table_adds_meter_start_stop_and_plug_times() -> None:
    t = tariff("dc_idle_fee")
    readings = readings_frame(minutes=30)
    sessions = pl.DataFrame(
        {
            "session_id": ["CP1/7", "CP3/1"],
            "started_at": [T0 - timedelta(minutes=5), T0],
            "ended_at": [T0 + timedelta(minutes=60), T0 + timedelta(minutes=5)],
            "meter_start_wh": [1000.0, 50.0],
            "meter_stop_wh": [4500.0, None],
        }
    )
    bills = bill_sessions(readings, t, sessions=sessions)
    by_id = {r["session_id"]: r for r in bills.sessions.iter_rows(named=True)}
    assert by_id["CP1/7"]["energy_wh"] == 3500.0  # 30 min at 7 kW
    idle = bills.lines.filter((pl.col("session_id") == "CP1/7") & (pl.col("code") == "idle"))
    assert idle["quantity"].to_list() == [20.0]  # plug-out 30 min after charging, 10 min grace
    assert by_id["CP3/1"]["total_minor"] == 0  # no readings, no energy, no fee
    assert by_id["CP3/1"]["quality"] == "no_data"


def test_quote_and_final_bill_share_the_breakup() -> None:
    t = tariff("uk_tou_vat")
    lines = quote_session(t, T0, T0 + timedelta(hours=2), 14_000)
    assert [(line.code, line.amount_minor) for line in lines] == [
        ("energy:day", 280),
        ("energy:peak", 385),
        ("session_fee", 50),
        ("tax:VAT", 143),
    ]
    assert sum(line.amount_minor for line in lines) == 858
    with pytest.raises(BillingInputError, match="must be after start"):
        quote_session(t, T0, T0, 1000)


def test_dynamic_tariff_line_shows_average_price() -> None:
    t = tariff("be_dynamic_spot")
    start = to_us(T0)
    hour = 3_600_000_000
    starts = np.array([start - hour, start, start + hour, start + 2 * hour], np.int64)
    prices = PriceSeries(
        starts,
        starts + hour,
        np.array([0, -2_000_000, 4_000_000, 0], np.int64),
        "EUR",
        "test",
    )
    bills = bill_sessions(readings_frame(), t, prices=prices)
    spot = bills.lines.filter(pl.col("code") == "energy:spot").row(0, named=True)
    # 7 kWh at (−2 + 12) c and 7 kWh at (4 + 12) c: 70 + 112 = 182 c, average 13 c/kWh
    assert (spot["amount_minor"], spot["unit_price"]) == (182, "0.13")


def test_explain_reads_like_a_receipt() -> None:
    bills = bill_sessions(readings_frame(), tariff("uk_tou_vat"))
    text = explain(bills, "CP1/7")
    assert "2024-03-04 15:00:00 GMT to 2024-03-04 17:00:00 GMT" in text
    assert "energy:peak" in text and "7.000 kWh × 0.55 GBP/kWh" in text
    assert "8.58 GBP" in text
    with pytest.raises(BillingInputError, match="no session 'nope'"):
        explain(bills, "nope")


def test_bad_input_is_a_typed_error_naming_the_column() -> None:
    t = tariff("uk_tou_vat")
    frame = readings_frame()
    with pytest.raises(BillingInputError, match="'session_id' column, or 'charger_id'"):
        bill_sessions(frame.drop("charger_id"), t)
    with pytest.raises(BillingInputError, match="'ts' must be a tz-aware timestamp"):
        bill_sessions(frame.with_columns(pl.col("ts").dt.replace_time_zone(None)), t)
    with pytest.raises(BillingInputError, match="energy_register_wh' and/or 'power_w'"):
        bill_sessions(frame.drop("energy_register_wh", "power_w"), t)
    nulls = frame.with_columns(ts=pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise("ts"))
    with pytest.raises(BillingInputError, match=r"row 3 \(session 'CP1/7'\) has no 'ts'"):
        bill_sessions(nulls, t)


def test_kernel_input_offsets_group_each_session() -> None:
    data = kernel_input(pl.concat([readings_frame("B", "1", 2), readings_frame("A", "1", 3)]))
    assert data.session_ids == ["A/1", "B/1"]
    assert data.starts.tolist() == [0, 4, 7]


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("chargegrid")
    return subprocess.run(
        [str(exe), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_cli_bill_writes_breakup_and_explains(tmp_path: Path) -> None:
    readings = tmp_path / "readings.parquet"
    readings_frame().write_parquet(readings)
    out = tmp_path / "bills.parquet"
    tariff_file = TARIFFS / "uk_tou_vat.json"
    done = _cli(
        "bill", "--tariff", tariff_file, "--readings", readings, "-o", out, "--explain", "CP1/7"
    )
    assert done.returncode == 0, done.stderr
    assert "billed 1 sessions (4 lines, total 8.58 GBP)" in done.stdout
    assert "energy:peak" in done.stdout
    assert pl.read_parquet(out)["amount_minor"].sum() == 858


def test_cli_bill_bad_tariff_exits_2_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    bad.write_text('{"id": "x"}')
    readings = tmp_path / "r.parquet"
    readings_frame().write_parquet(readings)
    done = _cli("bill", "--tariff", bad, "--readings", readings, "-o", tmp_path / "o.parquet")
    assert done.returncode == 2
    assert "t.json: invalid tariff" in done.stderr
    assert "Traceback" not in done.stderr
    not_parquet = tmp_path / "r.txt"
    not_parquet.write_text("hello")
    done = _cli(
        "bill",
        "--tariff",
        TARIFFS / "dundee_flat.json",
        "--readings",
        not_parquet,
        "--explain",
        "x",
    )
    assert done.returncode == 2
    assert "r.txt: not a readable Parquet file" in done.stderr
