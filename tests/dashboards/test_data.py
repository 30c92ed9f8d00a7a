from __future__ import annotations

import shutil
from datetime import timedelta

import duckdb
import pyarrow.parquet as pq
import pytest

from chargegrid.live import LiveSnapshot
from chargegrid.settings import Settings
from dashboards import data
from tests.dashboards.conftest import T0, make_snapshot, reading, write_table
from warehouse.lake import COMPACTION_PLACEHOLDER
from warehouse.schema import TABLES


def test_empty_lake_gives_empty_typed_frames(settings: Settings) -> None:
    table = data.recent_readings(settings, end=None, window_s=600)
    assert table.num_rows == 0
    assert table.schema == data.POWER_SCHEMA
    assert data.lake_row_count(settings, "readings") == 0
    assert data.completed_energy_wh(settings, since=T0, until=T0) == 0.0
    assert data.read_live(settings) is None
    assert data.power_history(settings, None) == {}


def test_recent_readings_window_is_relative_to_event_time(settings: Settings, lake: object) -> None:
    table = data.recent_readings(settings, end=T0, window_s=600)
    assert table.schema == data.POWER_SCHEMA
    assert sorted(table.column("power_w").to_pylist()) == [
        40_000.0,
        40_002.0,
        40_004.0,
        40_006.0,
        40_008.0,
    ]
    assert max(table.column("ts").to_pylist()) == T0


def test_recent_readings_without_end_uses_newest_reading(settings: Settings, lake: object) -> None:
    table = data.recent_readings(settings, end=None, window_s=300)
    assert table.num_rows == 3  # minutes 0, 2, 4 before T0


def test_window_crossing_midnight_reads_both_partitions(settings: Settings) -> None:
    midnight = T0.replace(hour=0, minute=0)
    write_table(
        settings.lake_dir,
        "readings",
        [reading(midnight - timedelta(minutes=1), "A", 1, 1.0), reading(midnight, "A", 1, 2.0)],
    )
    table = data.recent_readings(settings, end=midnight, window_s=300)
    assert table.column("power_w").to_pylist() == [1.0, 2.0]


def test_series_group_per_connector_in_time_order(settings: Settings, lake: object) -> None:
    series = data.series_from_readings(data.recent_readings(settings, end=T0, window_s=600))
    assert list(series) == ["CP-2/1"]
    times = [p.ts for p in series["CP-2/1"]]
    assert times == sorted(times)


def test_power_history_prefers_snapshot_then_lake(settings: Settings, lake: object) -> None:
    snap = make_snapshot()
    assert set(data.power_history(settings, snap)) == {"CP-1/1", "CP-1/2"}
    empty = LiveSnapshot(generated_at=snap.generated_at, event_time=T0)
    assert set(data.power_history(settings, empty)) == {"CP-2/1"}
    assert set(data.power_history(settings, None)) == {"CP-2/1"}


def test_energy_today_counts_sessions_ended_today_plus_active(
    settings: Settings, lake: object
) -> None:
    snap = make_snapshot()
    # 30 kWh completed today (yesterday's 99 kWh excluded) + 4.9 kWh in the active session
    assert data.energy_today_wh(settings, snap, now=T0 + timedelta(days=700)) == 34_900.0


def test_lake_row_counts(settings: Settings, lake: object) -> None:
    assert data.lake_row_count(settings, "readings") == 16
    assert data.lake_row_count(settings, "dead_letter") == 1


def test_temporary_files_are_not_read(settings: Settings, lake: object) -> None:
    partial = settings.lake_dir / "readings" / "date=2023-03-14" / ".part-1.parquet.tmp"
    partial.write_bytes(b"half a file")
    assert data.lake_row_count(settings, "readings") == 16


def test_compaction_folders_and_placeholders_are_never_counted(
    settings: Settings, lake: object
) -> None:
    """Compaction keeps a partition's old files in a hidden ``.retired-date=D.<ns>`` folder for
    a grace period, and its placeholders under the old names (warehouse.compact): the dashboards
    read the views' glob, so the retired copy is not counted twice and a placeholder makes the
    read wait for the next tick instead of failing the page."""
    readings = settings.lake_dir / "readings"
    day = next(p for p in readings.glob("date=*") if p.name != "date=1970-01-01")
    retired = readings / f".retired-{day.name}.1"
    shutil.copytree(day, retired)
    assert data.lake_row_count(settings, "readings") == 16
    count = f"SELECT count(*) FROM read_parquet('{data.table_glob(settings, 'readings')}')"
    (day / "pipeline-000000000001.parquet").write_bytes(COMPACTION_PLACEHOLDER)
    assert data.run_query(count) is None
    (day / "pipeline-000000000001.parquet").write_bytes(b"a damaged file is not a race")
    with pytest.raises(duckdb.InvalidInputException, match="magic bytes"):
        data.run_query(count)


def test_lake_with_only_zero_row_schema_files(settings: Settings) -> None:
    """The pipeline seeds each table with an empty ``date=1970-01-01/_schema.parquet``."""
    for table, schema in TABLES.items():
        folder = settings.lake_dir / table / "date=1970-01-01"
        folder.mkdir(parents=True)
        pq.write_table(schema.empty_table(), folder / "_schema.parquet")
    assert data.recent_readings(settings, end=None, window_s=600).num_rows == 0
    assert data.recent_readings(settings, end=T0, window_s=600).num_rows == 0
    assert data.lake_row_count(settings, "readings") == 0
    assert data.energy_today_wh(settings, None, now=T0) == 0.0
