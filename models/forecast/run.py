"""``chargegrid forecast backtest``: files of a source → hourly series → walk-forward tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from models.forecast import series
from models.forecast.backtest import BacktestConfig, Row, score, table, walk_forward
from models.forecast.features import Calendar
from models.forecast.sessions import HOLIDAY_REGIONS, Loaded, SourceName, load

UNITS = {"energy": "kWh per hour", "occupancy": "connectors plugged in (hourly mean)"}


@dataclass(frozen=True, slots=True)
class Result:
    target: series.Target
    rows: list[Row]
    text: str


def backtest_loaded(
    loaded: Loaded,
    level: series.Level,
    config: BacktestConfig,
    targets: Iterable[series.Target] = ("energy", "occupancy"),
) -> list[Result]:
    """One table per target for already loaded sessions."""
    panel = series.build(loaded.sessions, loaded.time_zone, level)
    country, subdiv = HOLIDAY_REGIONS[loaded.source]
    calendar = Calendar.of(panel.local, country, subdiv)
    horizon = "day-ahead" if config.horizon_h == 24 else "week-ahead"
    out = []
    for target in targets:
        forecasts = walk_forward(panel, target, calendar, config)
        rows = score(forecasts)
        first = panel.hours[forecasts.origins[0]].tz_convert(panel.time_zone).date()
        title = (
            f"{loaded.source} · {target} ({UNITS[target]}) · {horizon} · level {level} "
            f"({len(forecasts.names)} series"
            + (f", {len(forecasts.excluded)} inactive left out" if forecasts.excluded else "")
            + f") · {len(forecasts.origins)} origins from {first}, refit every "
            f"{config.retrain_days} d"
        )
        out.append(Result(target, rows, table(rows, title)))
    return out


def backtest_files(
    source: SourceName,
    paths: Iterable[Path],
    level: series.Level,
    horizon: str,
    targets: Iterable[series.Target] = ("energy", "occupancy"),
) -> tuple[Loaded, list[Result]]:
    loaded = load(source, paths)
    return loaded, backtest_loaded(loaded, level, BacktestConfig.for_horizon(horizon), targets)
