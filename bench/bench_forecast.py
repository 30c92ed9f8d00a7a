"""Forecast and simulation speed: one walk-forward backtest on synthetic hourly demand, the
discrete-event engine on an M/M/4 queue (events per second, against Erlang-C), and — when
``../shared/data`` is present — the real energy backtests of issue 7 (Dundee, Perth & Kinross,
Boulder; day- and week-ahead, per site and city): the model's MASE against the target 0.85 with
the seasonal naive (168) beside it, and each backtest's wall and CPU seconds (target: a couple of
minutes per source and level on this 2-core machine).

Usage: ``python bench/bench_forecast.py [DATA_FOLDER]`` (default ``../shared/data``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench._common import emit
from models.forecast.backtest import MODEL, BacktestConfig, Row, score, walk_forward
from models.forecast.features import Calendar
from models.forecast.run import backtest_loaded
from models.forecast.series import Level, Panel
from models.forecast.sessions import SourceName, load
from models.simulate.engine import Site, simulate
from models.simulate.erlang import mmc_mean_wait_s
from models.simulate.run import mmc_arrivals


def _panel(weeks: int, series: int) -> Panel:
    hours = pd.date_range("2018-01-01", periods=weeks * 168, freq="h", tz="UTC")
    local = hours.tz_convert("Europe/London")
    shape = 1 + np.sin((local.hour.to_numpy() - 6) / 24 * 2 * np.pi)
    rng = np.random.default_rng(0)
    y = np.stack([rng.poisson(3 * (s + 1) * shape).astype(float) for s in range(series)])
    return Panel(tuple(f"s{s}" for s in range(series)), hours, "Europe/London", y, y / 5,
                 np.full_like(y, 2.0))  # fmt: skip


def bench_backtest() -> None:
    panel = _panel(weeks=30, series=10)
    calendar = Calendar.of(panel.local, "GB", "SCT")
    t0 = time.perf_counter()
    forecasts = walk_forward(panel, "energy", calendar, BacktestConfig())
    seconds = time.perf_counter() - t0
    model = score(forecasts)[-1]
    emit("forecast.backtest", "seconds_day_ahead_10_series_84_origins", seconds, "s",
         target="<= 60", meets=seconds <= 60, mase=model.mase)  # fmt: skip


def bench_simulate() -> None:
    customers = 500_000
    arrivals = mmc_arrivals(3.6, 1.0, customers, 7)
    t0 = time.perf_counter()
    outcome = simulate((Site("mmc", 0.0, 0.0, (1.0,) * 4),), arrivals)
    seconds = time.perf_counter() - t0
    error = float(outcome.wait_s[customers // 10 :].mean() / mmc_mean_wait_s(3.6, 1.0, 4) - 1)
    rate = customers / seconds
    emit("simulate.engine", "vehicles_per_s_mm4", rate, "1/s", target=">= 100000",
         meets=rate >= 100_000, erlang_c_error=error)  # fmt: skip


ROOT = Path(__file__).resolve().parents[1]
DUNDEE = ("cpdata.csv", "cp-data-dec-mar-2018.csv", "cp-data-mar-may-2018.csv",
          "charge-sessions-june-sept.csv")  # fmt: skip


def _real_files(data: Path, source: SourceName) -> list[Path]:
    if source == "dundee":
        return [data / "dundee" / n for n in DUNDEE]
    if source == "perth":
        return sorted((data / "perth_kinross").glob("*corrected.csv"))
    return [data / "boulder" / "Electric_Vehicle_Charging_Station_Energy_Consumption.csv"]


def bench_real(data: Path) -> None:
    """Issue 7's figures on the real exports (skipped without them)."""
    if not data.is_dir():
        print(f"{data} not present: real backtests skipped", flush=True)
        return
    sources: tuple[SourceName, ...] = ("dundee", "perth", "boulder")
    levels: tuple[Level, ...] = ("site", "city")
    for source in sources:
        loaded = load(source, _real_files(data, source))
        for level in levels:
            wall, cpu = time.perf_counter(), time.process_time()
            rows = {
                horizon: backtest_loaded(
                    loaded, level, BacktestConfig.for_horizon(horizon), ["energy"]
                )[0].rows
                for horizon in ("day", "week")
            }
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            emit(f"forecast.real.{source}.{level}", "seconds_energy_day_and_week", wall, "s",
                 target="<= 120", meets=wall <= 120, cpu_s=cpu)  # fmt: skip
            for horizon, table in rows.items():
                _emit_mase(source, level, horizon, table)


def _emit_mase(source: str, level: Level, horizon: str, rows: list[Row]) -> None:
    by = {r.method: r for r in rows}
    emit(f"forecast.real.{source}.{level}", f"mase_energy_{horizon}_ahead", by[MODEL].mase, "1",
         target="< 0.85", meets=by[MODEL].mase < 0.85,
         seasonal_naive_168=by["seasonal_naive_168"].mase,
         weekday_hour_mean=by["weekday_hour_mean"].mase, rmae=by[MODEL].rmae)  # fmt: skip


if __name__ == "__main__":
    bench_simulate()
    bench_backtest()
    bench_real(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data")
