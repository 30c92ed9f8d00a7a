"""Materialised facts and slots: the views answer the same whether a day is materialised or
computed live; re-running is a no-op; new rows rebuild only their day; the lake's own
``charging_ended_at`` wins over the meter when set."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from chargegrid.cli import app
from chargegrid.clock import FrozenClock
from chargegrid.settings import Settings, load_settings
from tests.warehouse import report_fixtures
from tests.warehouse.report_fixtures import at
from warehouse import lake
from warehouse.catalog import refresh_catalog
from warehouse.materialize import DERIVED_DIR, materialize
from warehouse.schema import READINGS, SESSIONS

QUERIES = {
    "facts": "SELECT * FROM session_facts ORDER BY source, session_id",
    "15m": "SELECT * FROM utilisation_15m ORDER BY source, port_id, slot_start",
    "hourly": "SELECT * FROM utilisation_hourly ORDER BY source, port_id, slot_start",
}
ALL_OPEN = FrozenClock(datetime(2024, 3, 3, tzinfo=UTC))  # closed until Mar 1: Mar 1 materialised
NONE_CLOSED = FrozenClock(datetime(2024, 3, 1, tzinfo=UTC))


def _answers(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(settings.catalog_path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return {name: con.execute(q).fetchall() for name, q in QUERIES.items()}
    finally:
        con.close()


def _derived_dates(settings: Settings) -> set[str]:
    """``date=D`` of each sessions day held in the materialised facts."""
    facts = settings.lake_dir / DERIVED_DIR / "pipeline" / "facts"
    files = sorted(facts.glob("month=*/data.parquet"))  # the schema files start with "_"
    return {f"date={d}" for f in files for d in pq.read_table(f).column("date").to_pylist()}


@pytest.mark.parametrize("clock", [NONE_CLOSED, ALL_OPEN], ids=["all-live", "half-live"])
def test_views_answer_the_same_materialised_or_live(
    tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    report_fixtures.build(settings)  # today: every day closed and materialised
    materialised = _answers(settings)
    assert _derived_dates(settings) == {"date=2024-03-01", "date=2024-03-02"}
    other = load_settings(data_dir=tmp_path / "other")
    report_fixtures.build(other, clock)
    expected = set() if clock is NONE_CLOSED else {"date=2024-03-01"}
    assert _derived_dates(other) == expected
    assert _answers(other) == materialised
    assert len(materialised["facts"]) == 5 and materialised["15m"]


def test_charging_end_comes_from_the_meter(settings: Settings) -> None:
    report_fixtures.build(settings)
    con = duckdb.connect(str(settings.catalog_path), read_only=True)
    got = dict(
        con.execute(
            "SELECT session_id, charging_ended_at FROM session_facts WHERE source = 'pipeline'"
        ).fetchall()
    )
    con.close()
    assert got == {"CH1/T1": at(1, 12), "CH1/T2": at(2, 1), "CH1/T3": None}


def test_rerun_is_a_no_op_and_new_rows_rebuild_only_their_day(settings: Settings) -> None:
    report_fixtures.build(settings)
    today = date(2026, 1, 1)
    again = materialize(settings.lake_dir, today)
    assert again.built == [] and again.unchanged == 3  # two days and the imported source
    late = report_fixtures.READING_ROWS[0] | {"ts": at(2, 1, 45), "transaction_id": "T2"}
    lake.write_pipeline_files(
        settings.lake_dir, "readings", pa.Table.from_pylist([late], READINGS), 1
    )
    # a reading on Mar 2 belongs to T2 (started Mar 1) and is read by both days' units
    assert sorted(materialize(settings.lake_dir, today).built) == [
        "pipeline:2024-03-01",
        "pipeline:2024-03-02",
    ]
    assert materialize(settings.lake_dir, today).built == []


def test_a_vanished_partition_removes_its_unit(settings: Settings) -> None:
    report_fixtures.build(settings)
    for path in (lake.table_dir(settings.lake_dir, "sessions") / "date=2024-03-02").iterdir():
        path.unlink()
    report = materialize(settings.lake_dir, date(2026, 1, 1))
    assert report.removed == ["pipeline:2024-03-02"]
    assert _derived_dates(settings) == {"date=2024-03-01"}
    refresh_catalog(settings)
    facts = _answers(settings)["facts"]
    assert [r[1] for r in facts if r[0] == "pipeline"] == ["CH1/T1", "CH1/T2"]


@pytest.mark.parametrize("clock", [None, NONE_CLOSED], ids=["materialised", "live"])
def test_lake_charging_end_wins_when_set_and_the_meter_fills_in(
    settings: Settings, clock: FrozenClock | None
) -> None:
    report_fixtures.build(settings)
    schema = SESSIONS.append(pa.field("charging_ended_at", pa.timestamp("us", tz="UTC")))
    rows = [
        report_fixtures._session("T4", 2, at(2, 12), at(2, 14), 3_000.0, 2)
        | {"charging_ended_at": at(2, 13)},
        report_fixtures._session("T5", 2, at(2, 15), at(2, 16), 1_000.0, 0)
        | {"charging_ended_at": None},
    ]
    lake.write_pipeline_files(settings.lake_dir, "sessions", pa.Table.from_pylist(rows, schema), 1)
    refresh_catalog(settings, clock)
    con = duckdb.connect(str(settings.catalog_path), read_only=True)
    got = dict(
        con.execute(
            "SELECT session_id, charging_ended_at FROM session_facts WHERE source = 'pipeline'"
        ).fetchall()
    )
    con.close()
    assert got["CH1/T4"] == at(2, 13)  # the lake's value (no readings at all)
    assert got["CH1/T5"] is None  # neither the lake nor the meter knows
    assert got["CH1/T1"] == at(1, 12)  # older files without the column: the meter


def test_cli_refresh_reports_what_it_materialised(settings: Settings) -> None:
    report_fixtures.build(settings)
    out = CliRunner().invoke(app, ["catalog", "refresh", "--data-dir", str(settings.data_dir)])
    assert out.exit_code == 0, out.output
    assert "0 unit(s) materialised, 3 unchanged, 0 removed; 0 open day(s)" in out.output


def test_rebuilding_one_day_keeps_the_other_days_of_its_month(settings: Settings) -> None:
    report_fixtures.build(settings)
    extra = report_fixtures._session("T6", 2, at(2, 18), at(2, 19), 2_000.0, 0)
    lake.write_pipeline_files(
        settings.lake_dir, "sessions", pa.Table.from_pylist([extra], SESSIONS), 1
    )
    report = materialize(settings.lake_dir, date(2026, 1, 1))
    assert report.built == ["pipeline:2024-03-02"] and report.unchanged == 2
    refresh_catalog(settings)
    facts = _answers(settings)["facts"]
    assert [r[1] for r in facts if r[0] == "pipeline"] == ["CH1/T1", "CH1/T2", "CH1/T3", "CH1/T6"]


def test_a_schema_file_from_an_older_layout_is_rewritten(settings: Settings) -> None:
    report_fixtures.build(settings)
    stale = (
        settings.lake_dir / DERIVED_DIR / "pipeline" / "facts" / "month=1970-01" / "_schema.parquet"
    )
    pq.write_table(pa.table({"session_id": pa.array([], pa.string())}), stale)
    materialize(settings.lake_dir, date(2026, 1, 1))
    refresh_catalog(settings)
    assert len(_answers(settings)["facts"]) == 5


def test_a_partition_still_settling_from_a_compaction_is_a_typed_error(
    settings: Settings,
) -> None:
    """A placeholder left by compaction (warehouse.compact) is never read as data: materialising
    stops with PartitionSettling, naming the partition, and succeeds once it has settled."""
    report_fixtures.build(settings)
    readings = lake.table_dir(settings.lake_dir, "readings") / "date=2024-03-01"
    placeholder = readings / lake.pipeline_file_name(90)
    placeholder.write_bytes(lake.COMPACTION_PLACEHOLDER)
    with pytest.raises(lake.PartitionSettling, match=r"date=2024-03-01.*retry"):
        materialize(settings.lake_dir, date(2026, 1, 1))
    placeholder.unlink()
    assert materialize(settings.lake_dir, date(2026, 1, 1)).built == []
