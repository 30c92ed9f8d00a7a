"""Warehouse benchmarks: analyst queries and utilisation reports on a generated year.

Data: 1,000 connectors (250 sites × 2 chargers × 2 connectors), 4 sessions per connector and day
for 2025 (1.46M sessions), a meter reading every 2 minutes of each plug-in (≥ 50M readings),
a few faults a day in ``connector_status``; written straight to the lake layout with NumPy and
pyarrow (one file per table and day, as the pipeline's sink would after compaction).

Figures (each query run ``RUNS`` times through the read-only catalog, result fetched as Arrow,
p95 reported, target < 1 s; the catalog refresh materialises session facts and slots first, see
:mod:`warehouse.materialize`, timed as ``materialize_year_s``):
* ``q_station_hour_month``: utilisation by station × hour for March (``utilisation_hourly``).
* ``q_top_revenue``: top 10 stations by revenue at a time-of-use price (energy × p/kWh by hour).
* ``q_idle_45``: sessions idle > 45 min after charging ended (``session_facts``; the charging end
  comes from the meter, read once per closed day by the materialisation; the view's
  ``idle_after_full_min`` column, because TIMESTAMPTZ subtraction goes through ICU and is ~5x
  slower than ``epoch`` arithmetic, measured).
* ``report_<fmt>_s``: the year's utilisation report by site, weekly and monthly sheets, in each
  format (target < 10 s). Baseline in the same run: ``scan_readings_s``, one full
  ``count(*)``/``sum(power_w)`` over all readings.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
import numpy as np
import pyarrow as pa

from bench._common import emit
from chargegrid.inventory import Charger, Connector, Inventory, Station, save_inventory
from chargegrid.settings import Settings, load_settings
from warehouse import lake
from warehouse.catalog import refresh_catalog
from warehouse.reports.run import FORMATS, report_utilisation
from warehouse.reports.utilisation import ReportRange
from warehouse.schema import CONNECTOR_STATUS, READINGS, SESSIONS

BENCH = "warehouse"
SITES, CHARGERS_PER_SITE, CONNECTORS_PER_CHARGER = 250, 2, 2
PORTS = SITES * CHARGERS_PER_SITE * CONNECTORS_PER_CHARGER
SESSIONS_PER_DAY = 4
READING_S = 120
POWER_W = 7_000.0
YEAR = 2025
RUNS = 7
US = 1_000_000


def _inventory(settings: Settings) -> None:
    stations = tuple(
        Station(station_id=f"S{s:03d}", name=f"Site {s}", lat=56.0, lon=-3.0) for s in range(SITES)
    )
    chargers = tuple(
        Charger(
            charger_id=f"CH{c:04d}",
            station_id=f"S{c // CHARGERS_PER_SITE:03d}",
            connectors=tuple(
                Connector(connector_id=k + 1, max_power_w=22_000.0)
                for k in range(CONNECTORS_PER_CHARGER)
            ),
        )
        for c in range(SITES * CHARGERS_PER_SITE)
    )
    save_inventory(Inventory(stations=stations, chargers=chargers), settings.inventory_path)


CHARGER_NAMES = pa.array([f"CH{c:04d}" for c in range(SITES * CHARGERS_PER_SITE)])


def _charger_ids(port: np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(port // CONNECTORS_PER_CHARGER, pa.int32()), CHARGER_NAMES
    )


def _day(rng: np.random.Generator, day: date) -> dict[str, pa.Table]:
    """One day's sessions, readings and status rows."""
    day_us = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * US
    n = PORTS * SESSIONS_PER_DAY
    port = np.repeat(np.arange(PORTS), SESSIONS_PER_DAY)
    window = np.tile(np.arange(SESSIONS_PER_DAY), PORTS)
    start = day_us + window * 6 * 3600 * US + rng.integers(0, 4 * 3600, n) * US
    plug_min = rng.integers(20, 117, n)
    charge_min = plug_min * rng.uniform(0.3, 1.0, n)
    steps = plug_min * 60 // READING_S + 1
    total = int(steps.sum())
    offsets = np.repeat(np.cumsum(steps) - steps, steps)
    j = np.arange(total) - offsets
    session_of = np.repeat(np.arange(n), steps)
    elapsed_min = j * READING_S / 60
    charging = elapsed_min < charge_min[session_of]
    energy = np.minimum(elapsed_min, charge_min[session_of]) / 60 * POWER_W
    txn_names = pa.array([f"{day.isoformat()}/{i}" for i in range(n)])
    readings = pa.table(
        {
            "ts": pa.array(start[session_of] + j * READING_S * US, pa.timestamp("us", "UTC")),
            "charger_id": _charger_ids(port[session_of]),
            "connector_id": pa.array(port[session_of] % CONNECTORS_PER_CHARGER + 1, pa.int32()),
            "transaction_id": pa.DictionaryArray.from_arrays(
                pa.array(session_of, pa.int32()), txn_names
            ),
            "energy_register_wh": energy,
            "power_w": np.where(charging, POWER_W, 0.0),
            "current_a": np.where(charging, 30.4, 0.0),
            "voltage_v": np.full(total, 230.0),
            "soc_pct": pa.nulls(total, pa.float64()),
            "context": pa.nulls(total, pa.string()),
            "log_partition": np.zeros(total, np.int32),
            "log_offset": np.arange(total, dtype=np.int64),
            "log_index": np.zeros(total, np.int32),
        }
    ).cast(READINGS)
    session_energy = charge_min / 60 * POWER_W
    sessions = (
        pa.table(
            {
                "session_id": pa.array(
                    [f"CH{p // 2:04d}/{day.isoformat()}/{i}" for i, p in enumerate(port)]
                ),
                "charger_id": _charger_ids(port),
                "connector_id": pa.array(port % CONNECTORS_PER_CHARGER + 1, pa.int32()),
                "transaction_id": txn_names,
                "id_tag": pa.nulls(n, pa.string()),
                "started_at": pa.array(start, pa.timestamp("us", "UTC")),
                "ended_at": pa.array(start + plug_min * 60 * US, pa.timestamp("us", "UTC")),
                "charging_ended_at": pa.array(
                    start + (charge_min * 60 * US).astype(np.int64), pa.timestamp("us", "UTC")
                ),
                "meter_start_wh": np.zeros(n),
                "meter_stop_wh": session_energy,
                "energy_wh": session_energy,
                "energy_quality": pa.array(["ok"] * n),
                "readings": steps.astype(np.int64),
                "max_power_w": np.full(n, POWER_W),
                "stop_reason": pa.nulls(n, pa.string()),
            }
        )
        .select(SESSIONS.names)
        .cast(SESSIONS)
    )
    faulty = rng.choice(PORTS, 10, replace=False)
    fault_at = day_us + rng.integers(0, 20 * 3600, 10) * US
    fault_end = fault_at + rng.integers(30, 240, 10) * 60 * US
    status = pa.table(
        {
            "ts": pa.array(np.concatenate([fault_at, fault_end]), pa.timestamp("us", "UTC")),
            "charger_id": _charger_ids(np.concatenate([faulty, faulty])),
            "connector_id": pa.array(np.concatenate([faulty, faulty]) % 2 + 1, pa.int32()),
            "kind": pa.array(["status"] * 20),
            "status": pa.array(["Faulted"] * 10 + ["Available"] * 10),
            "error_code": pa.nulls(20, pa.string()),
        }
    ).cast(CONNECTOR_STATUS)
    return {"readings": readings, "sessions": sessions, "connector_status": status}


def generate(settings: Settings) -> int:
    """Write the year into the lake; returns the number of readings."""
    rng = np.random.default_rng(7)
    _inventory(settings)
    lake.ensure_lake(settings.lake_dir)
    readings = 0
    day = date(YEAR, 1, 1)
    while day.year == YEAR:
        for table, rows in _day(rng, day).items():
            directory = lake.table_dir(settings.lake_dir, table) / f"date={day.isoformat()}"
            directory.mkdir(parents=True, exist_ok=True)
            lake.write_atomic(rows, directory / lake.pipeline_file_name(0))
        readings += _day_count(settings, day)
        day += timedelta(days=1)
    return readings


def _day_count(settings: Settings, day: date) -> int:
    import pyarrow.parquet as pq

    path = (
        lake.table_dir(settings.lake_dir, "readings")
        / f"date={day.isoformat()}"
        / lake.pipeline_file_name(0)
    )
    return pq.ParquetFile(path).metadata.num_rows


QUERIES = {
    "q_station_hour_month": """
        SELECT station_id, slot_start, sum(occupied_min) / 60 AS occupied_h,
               sum(energy_wh) / 1000 AS energy_kwh
        FROM utilisation_hourly
        WHERE slot_start >= TIMESTAMPTZ '2025-03-01 00:00:00+00'
          AND slot_start < TIMESTAMPTZ '2025-04-01 00:00:00+00'
        GROUP BY station_id, slot_start""",
    "q_top_revenue": """
        SELECT station_id, sum(energy_wh / 1000 * CASE WHEN hour(started_at) BETWEEN 16 AND 19
               THEN 45 ELSE 28 END)::BIGINT AS revenue_minor_gbp
        FROM session_spans GROUP BY station_id ORDER BY revenue_minor_gbp DESC LIMIT 10""",
    "q_idle_45": """
        SELECT count(*) FROM session_facts WHERE idle_after_full_min > 45""",
    "scan_readings": "SELECT count(*), sum(power_w) FROM readings",
}


def _time(fn: object, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-warehouse-") as tmp:
        settings = load_settings(data_dir=Path(tmp) / "var")
        t0 = time.perf_counter()
        readings = generate(settings)
        emit(
            BENCH,
            "generate_year_s",
            time.perf_counter() - t0,
            "s",
            readings=readings,
            connectors=PORTS,
            target=">= 50M readings",
            meets=readings >= 50_000_000,
        )
        t0 = time.perf_counter()
        refresh_catalog(settings)
        emit(BENCH, "materialize_year_s", time.perf_counter() - t0, "s", days=365)
        t0 = time.perf_counter()
        refresh_catalog(settings)
        emit(BENCH, "refresh_unchanged_s", time.perf_counter() - t0, "s", days=365)
        con = duckdb.connect(str(settings.catalog_path), read_only=True)
        con.execute("SET TimeZone = 'UTC'")
        for name, query in QUERIES.items():
            times = _time(lambda q=query: con.sql(q).to_arrow_table(), RUNS)
            p95 = float(np.percentile(times, 95))
            target = None if name.startswith("scan") else "< 1 s"
            emit(
                BENCH,
                f"{name}_p95_s",
                p95,
                "s",
                target=target,
                meets=None if target is None else p95 < 1.0,
                runs=RUNS,
                median_s=float(np.median(times)),
            )
        con.close()
        rng = ReportRange(date(YEAR, 1, 1), date(YEAR, 12, 31))
        for fmt in FORMATS:
            out = Path(tmp) / f"report.{fmt}"
            (elapsed,) = _time(
                lambda f=fmt, o=out: report_utilisation(
                    settings, rng, "site", ["week", "month"], f, o
                ),
                1,
            )
            emit(
                BENCH,
                f"report_{fmt}_s",
                elapsed,
                "s",
                target="< 10 s",
                meets=elapsed < 10,
                by="site",
                grains="week,month",
                bytes=out.stat().st_size,
            )


if __name__ == "__main__":
    main()
