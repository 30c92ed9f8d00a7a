"""Forecast and simulation speed: one walk-forward backtest on synthetic hourly demand, and the
discrete-event engine on an M/M/4 queue (events per second, against Erlang-C)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from bench._common import emit
from models.forecast.backtest import BacktestConfig, score, walk_forward
from models.forecast.features import Calendar
from models.forecast.series import Panel
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


if __name__ == "__main__":
    bench_simulate()
    bench_backtest()
