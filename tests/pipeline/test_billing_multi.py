"""Billing under a tariff per charger/station: bill_sessions_multi with a TariffResolver."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from chargegrid.inventory import Charger, Connector, Inventory, Station
from chargegrid.tariffs import Tariff, TariffResolver, load_tariff_dir
from pipeline import billing
from pipeline.billing import (
    MULTI_LINE_SCHEMA,
    SESSION_SCHEMA,
    UNBILLED_SCHEMA,
    BillingInputError,
    bill_sessions,
    bill_sessions_multi,
    explain,
)
from tests.pipeline.billing_support import TARIFFS

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)  # Monday, GMT: day band then peak from 16:00
BOOK = load_tariff_dir(TARIFFS)
PLUG = (Connector(connector_id=1, max_power_w=22_000),)


def inventory() -> Inventory:
    """Station S1 on the TOU tariff; CP2 there overrides it; S2 names none; CPX at S2."""
    return Inventory(
        stations=(
            Station(station_id="S1", name="one", lat=0, lon=0, tariff_id="uk-tou-ac-2024"),
            Station(station_id="S2", name="two", lat=0, lon=0),
        ),
        chargers=(
            Charger(charger_id="CP1", station_id="S1", connectors=PLUG),
            Charger(
                charger_id="CP2", station_id="S1", connectors=PLUG, tariff_id="dundee-flat-2018"
            ),
            Charger(charger_id="CPX", station_id="S2", connectors=PLUG),
        ),
    )


def readings(charger: str, txn: str, minutes: int = 120, start: datetime = T0) -> pl.DataFrame:
    """Lake readings columns plus session_id: 7 kW, one reading a minute."""
    n = minutes + 1
    return pl.DataFrame(
        {
            "ts": [start + timedelta(minutes=k) for k in range(n)],
            "charger_id": [charger] * n,
            "connector_id": pl.Series([1] * n, dtype=pl.Int32),
            "transaction_id": [txn] * n,
            "energy_register_wh": [1000.0 + 7000.0 * k / 60 for k in range(n)],
            "power_w": [7000.0] * n,
            "session_id": [f"{charger}/{txn}"] * n,
        }
    )


def sessions(*keys: tuple[str, str], minutes: int = 120, start: datetime = T0) -> pl.DataFrame:
    """Lake sessions columns for (charger, transaction) pairs, plugged 10 min past the end."""
    n = len(keys)
    return pl.DataFrame(
        {
            "session_id": [f"{c}/{t}" for c, t in keys],
            "charger_id": [c for c, _ in keys],
            "connector_id": pl.Series([1] * n, dtype=pl.Int32),
            "transaction_id": [t for _, t in keys],
            "started_at": [start] * n,
            "ended_at": [start + timedelta(minutes=minutes + 10)] * n,
            "meter_start_wh": [1000.0] * n,
            "meter_stop_wh": [1000.0 + 7000.0 * minutes / 60] * n,
            "energy_wh": [7000.0 * minutes / 60] * n,
            "energy_quality": ["ok"] * n,
        }
    )


def resolver(default: str | None = "dc-rapid-idle-2024") -> TariffResolver:
    return TariffResolver(inventory(), BOOK, BOOK[default] if default else None)


def batch() -> tuple[pl.DataFrame, pl.DataFrame]:
    keys = [("CP1", "1"), ("CP2", "1"), ("CP1", "2"), ("CPX", "1"), ("CP9", "1")]
    frames = [readings(c, t) for c, t in keys]
    return pl.concat(frames), sessions(*keys)


def test_each_session_is_billed_as_alone_under_its_chargers_tariff() -> None:
    all_readings, all_sessions = batch()
    multi = bill_sessions_multi(all_readings, all_sessions, resolver())
    expected_tariff = {
        "CP1/1": "uk-tou-ac-2024",  # the station's
        "CP1/2": "uk-tou-ac-2024",
        "CP2/1": "dundee-flat-2018",  # the charger's own overrides the station's
        "CPX/1": "dc-rapid-idle-2024",  # station names none: the default
        "CP9/1": "dc-rapid-idle-2024",  # not in the inventory: the default
    }
    assert dict(multi.sessions.select("session_id", "tariff_id").iter_rows()) == expected_tariff
    for session_id, tariff_id in expected_tariff.items():
        alone = bill_sessions(
            all_readings.filter(pl.col("session_id") == session_id),
            BOOK[tariff_id],
            sessions=all_sessions.filter(pl.col("session_id") == session_id),
        )
        mine = multi.lines.filter(pl.col("session_id") == session_id)
        assert mine["tariff_id"].unique().to_list() == [tariff_id]
        assert mine.drop("tariff_id").equals(alone.lines)
        row = multi.sessions.filter(pl.col("session_id") == session_id)
        assert row.equals(alone.sessions)
    assert multi.unbilled.height == 0


def test_lines_sum_to_each_sessions_total_and_tables_have_fixed_schemas() -> None:
    multi = bill_sessions_multi(*batch(), resolver())
    assert multi.lines.schema == pl.Schema(MULTI_LINE_SCHEMA)
    assert multi.sessions.schema == SESSION_SCHEMA
    sums = multi.lines.group_by("session_id").agg(pl.col("amount_minor").sum()).sort("session_id")
    assert sums["amount_minor"].to_list() == multi.sessions["total_minor"].to_list()
    # hand-checked: 7 kWh day at 0.40 + 7 kWh peak at 0.55 + 0.50 fee = 7.15, VAT 1.43
    assert multi.sessions.filter(pl.col("session_id") == "CP1/1")["total_minor"][0] == 858
    # flat 0.15 × 14 kWh = 2.10 (above the 2.00 minimum)
    assert multi.sessions.filter(pl.col("session_id") == "CP2/1")["total_minor"][0] == 210


def test_one_billing_call_per_tariff(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []
    real = billing.bill_sessions

    def counting(readings: pl.DataFrame, tariff: Tariff, **kw: object) -> billing.Bills:
        bills = real(readings, tariff, **kw)  # type: ignore[arg-type]
        calls.append((tariff.id, bills.sessions.height))
        return bills

    monkeypatch.setattr(billing, "bill_sessions", counting)
    bill_sessions_multi(*batch(), resolver())
    assert sorted(calls) == [
        ("dc-rapid-idle-2024", 2),
        ("dundee-flat-2018", 1),
        ("uk-tou-ac-2024", 2),
    ]


def test_sessions_without_a_tariff_come_back_unbilled_with_the_reason() -> None:
    multi = bill_sessions_multi(*batch(), resolver(default=None))
    assert multi.unbilled.schema == pl.Schema(UNBILLED_SCHEMA)
    reasons = dict(multi.unbilled.select("session_id", "reason").iter_rows())
    assert set(reasons) == {"CPX/1", "CP9/1"}
    assert "'CPX' has no tariff" in reasons["CPX/1"]
    assert "'CP9' is not in the inventory" in reasons["CP9/1"]
    assert set(multi.sessions["session_id"]) == {"CP1/1", "CP1/2", "CP2/1"}
    with pytest.raises(BillingInputError, match="no bill for session 'CP9/1': no tariff"):
        multi.bills_of("CP9/1")


def test_a_tariff_that_cannot_bill_its_group_leaves_only_that_group_unbilled() -> None:
    dynamic = BOOK["be-dynamic-spot"]  # no price series given

    def tariff_for(charger_id: str) -> Tariff:
        return dynamic if charger_id == "CP2" else BOOK["uk-tou-ac-2024"]

    multi = bill_sessions_multi(*batch(), tariff_for)
    assert multi.unbilled["session_id"].to_list() == ["CP2/1"]
    assert "give a price series" in multi.unbilled["reason"][0]
    assert multi.sessions.height == 4


def test_readings_of_unlisted_sessions_are_ignored_and_keys_can_be_derived() -> None:
    all_readings, all_sessions = batch()
    listed = all_sessions.filter(pl.col("charger_id") == "CP2")
    multi = bill_sessions_multi(all_readings.drop("session_id"), listed, resolver())
    assert multi.sessions["session_id"].to_list() == ["CP2/1"]
    assert set(multi.lines["session_id"]) == {"CP2/1"}


def test_a_listed_session_without_readings_is_billed_from_its_meter_values() -> None:
    _, all_sessions = batch()
    multi = bill_sessions_multi(readings("CP1", "1").head(0), all_sessions.head(1), resolver())
    assert multi.sessions["energy_wh"].to_list() == [14_000.0]


def test_empty_batch_gives_empty_tables_with_the_schemas() -> None:
    all_readings, all_sessions = batch()
    multi = bill_sessions_multi(all_readings.head(0), all_sessions.head(0), resolver())
    assert (multi.lines.height, multi.sessions.height, multi.unbilled.height) == (0, 0, 0)
    assert multi.sessions.schema == SESSION_SCHEMA


def test_explain_through_the_sessions_tariff() -> None:
    multi = bill_sessions_multi(*batch(), resolver())
    text = explain(multi.bills_of("CP2/1"), "CP2/1")
    assert "[dundee-flat-2018]" in text


def test_malformed_batches_are_typed_errors() -> None:
    all_readings, all_sessions = batch()
    with pytest.raises(BillingInputError, match=r"\['charger_id'\]"):
        bill_sessions_multi(all_readings, all_sessions.drop("charger_id"), resolver())
    nulls = all_sessions.with_columns(charger_id=pl.lit(None, pl.String))
    with pytest.raises(BillingInputError, match="has no 'charger_id'"):
        bill_sessions_multi(all_readings, nulls, resolver())
    with pytest.raises(BillingInputError, match="'session_id' column, or 'charger_id'"):
        bill_sessions_multi(all_readings.drop("session_id", "charger_id"), all_sessions, resolver())


def test_two_different_tariffs_under_one_id_are_refused() -> None:
    other = BOOK["dundee-flat-2018"].model_copy(update={"id": "uk-tou-ac-2024"})

    def tariff_for(charger_id: str) -> Tariff:
        return other if charger_id == "CP2" else BOOK["uk-tou-ac-2024"]

    with pytest.raises(BillingInputError, match="two different tariffs share the id"):
        bill_sessions_multi(*batch(), tariff_for)


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


def test_cli_bill_with_inventory_picks_tariffs_per_charger(tmp_path: Path) -> None:
    all_readings, all_sessions = batch()
    files = {name: tmp_path / f"{name}.parquet" for name in ("readings", "sessions")}
    all_readings.write_parquet(files["readings"])
    all_sessions.write_parquet(files["sessions"])
    (tmp_path / "inventory.json").write_text(inventory().model_dump_json())
    out = tmp_path / "bills.parquet"
    common = ["bill", "--readings", files["readings"], "--inventory", tmp_path / "inventory.json"]
    common += ["--data-dir", tmp_path / "var", "-o", out]
    done = _cli(*common, "--tariff", TARIFFS / "dc_idle_fee.json", "--explain", "CP2/1")
    assert done.returncode == 0, done.stderr
    assert "billed 5 sessions under 3 tariffs" in done.stdout
    assert "[dundee-flat-2018]" in done.stdout  # the explained session's own tariff
    lines = pl.read_parquet(out)
    assert set(lines["tariff_id"]) == {"uk-tou-ac-2024", "dundee-flat-2018", "dc-rapid-idle-2024"}
    # no default tariff: CPX and CP9 are reported, the rest billed; sessions from the readings
    done = _cli(*common)
    assert done.returncode == 0, done.stderr
    assert "billed 3 sessions under 2 tariffs" in done.stdout
    assert "not billed: CP9/1: no tariff: charger 'CP9' is not in the inventory" in done.stdout
    (tmp_path / "none").mkdir()
    done = _cli(*common, "--sessions", files["sessions"], "--tariff-dir", tmp_path / "none")
    assert done.returncode == 2
    assert "station S1 names tariff 'uk-tou-ac-2024'; known tariffs: none" in done.stderr


def _indexed(all_readings: pl.DataFrame, all_sessions: pl.DataFrame) -> pl.DataFrame:
    """The same readings naming their session by row of ``all_sessions`` (as the stream does)."""
    row = {sid: i for i, sid in enumerate(all_sessions["session_id"])}
    return all_readings.select(
        pl.col("session_id").replace_strict(row, return_dtype=pl.Int64).alias("session_index"),
        "ts",
        "energy_register_wh",
        "power_w",
    )


def test_readings_keyed_by_session_row_bill_exactly_as_keyed_by_id() -> None:
    all_readings, all_sessions = batch()
    # shuffled rows and ids out of order: the index path must sort as the id path does
    all_readings = all_readings.sample(fraction=1.0, shuffle=True, seed=7)
    all_sessions = all_sessions.reverse()
    by_id = bill_sessions_multi(all_readings, all_sessions, resolver())
    by_row = bill_sessions_multi(_indexed(all_readings, all_sessions), all_sessions, resolver())
    assert by_row.lines.equals(by_id.lines)
    assert by_row.sessions.equals(by_id.sessions)
    assert by_row.unbilled.equals(by_id.unbilled)
    # one tariff: the single-tariff path takes the index as it is
    cp1 = all_sessions.filter(pl.col("charger_id") == "CP1")
    cp1_readings = all_readings.filter(pl.col("charger_id") == "CP1")
    tou = BOOK["uk-tou-ac-2024"]
    alone = bill_sessions(_indexed(cp1_readings, cp1), tou, sessions=cp1)
    assert alone.lines.equals(bill_sessions(cp1_readings, tou, sessions=cp1).lines)


def test_session_rows_without_readings_or_plug_times_still_bill_by_row() -> None:
    all_readings, all_sessions = batch()
    quiet = all_sessions.filter(pl.col("session_id") != "CP1/2")
    listed = pl.concat([all_sessions.filter(pl.col("session_id") == "CP1/2"), quiet])
    mine = all_readings.filter(pl.col("session_id") != "CP1/2")
    by_row = bill_sessions_multi(_indexed(mine, listed), listed, resolver())
    by_id = bill_sessions_multi(mine, listed, resolver())
    assert by_row.sessions.equals(by_id.sessions)  # CP1/2 billed from its meter values alone
    assert "CP1/2" in by_row.sessions["session_id"].to_list()
    # sessions without plug times: the index is turned into ids
    unplugged = listed.drop("started_at", "ended_at")
    assert bill_sessions_multi(_indexed(mine, listed), unplugged, resolver()).lines.equals(
        bill_sessions_multi(mine, unplugged, resolver()).lines
    )


def test_a_session_row_index_that_is_not_a_row_is_a_typed_error() -> None:
    all_readings, all_sessions = batch()
    indexed = _indexed(all_readings, all_sessions)
    with pytest.raises(BillingInputError, match="session_index 5 is not a row of the 5"):
        bill_sessions_multi(
            indexed.with_columns(pl.col("session_index") + 1), all_sessions, resolver()
        )
    with pytest.raises(BillingInputError, match="must be an integer column"):
        bill_sessions_multi(
            indexed.with_columns(pl.col("session_index").cast(pl.String)), all_sessions, resolver()
        )
    with pytest.raises(BillingInputError, match="need the sessions they index"):
        bill_sessions(indexed, BOOK["uk-tou-ac-2024"])
    with pytest.raises(BillingInputError, match=r"row 0 \(session 'CP1/1'\) has no 'ts'"):
        bill_sessions(
            indexed.with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("ts")),
            BOOK["uk-tou-ac-2024"],
            sessions=all_sessions,
        )
