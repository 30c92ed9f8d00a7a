"""``chargegrid forecast backtest``: files of a source → hourly series → walk-forward tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from models.forecast import series
from models.forecast.backtest import (
    BacktestConfig,
    BacktestError,
    Forecasts,
    Row,
    score,
    table,
    walk_forward,
)
from models.forecast.features import Calendar
from models.forecast.sessions import HOLIDAY_REGIONS, SOURCES, Loaded, load

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
    panel = series.build(loaded.sessions, loaded.time_zone, "site")
    country, subdiv = HOLIDAY_REGIONS[loaded.source]
    calendar = Calendar.of(panel.local, country, subdiv)
    horizon = "day-ahead" if config.horizon_h == 24 else "week-ahead"
    out = []
    for target in targets:
        forecasts = walk_forward(panel, target, calendar, config, level)
        rows = score(forecasts)
        first = panel.hours[forecasts.origins[0]].tz_convert(panel.time_zone).date()
        title = (
            f"{loaded.source} · {target} ({UNITS[target]}) · {horizon} · level {level} "
            f"({_series_text(level, forecasts)}"
            + f") · {len(forecasts.origins)} origins from {first}, refit every "
            f"{config.retrain_days} d"
        )
        out.append(Result(target, rows, table(rows, title)))
    return out


def _series_text(level: series.Level, forecasts: Forecasts) -> str:
    left_out = forecasts.excluded
    if level == "site":
        return f"{len(forecasts.names)} series" + (
            f", {len(left_out)} inactive left out" if left_out else ""
        )
    sites = "all sites" if not left_out else "like-for-like, without " + ", ".join(left_out)
    return f"1 series: {sites}"


def backtest_files(
    source: str,
    paths: Iterable[Path],
    level: str,
    horizon: str,
    targets: Iterable[str] = ("energy", "occupancy"),
) -> tuple[Loaded, list[Result]]:
    """Read ``paths`` as ``source`` exports and backtest each target (names as on the CLI)."""
    if source not in SOURCES or level not in ("site", "city"):
        msg = f"unknown source {source!r} or level {level!r}"
        raise BacktestError(msg)
    chosen = [t for t in ("energy", "occupancy") if t in set(targets)]
    loaded = load(source, paths)
    level_ = cast(series.Level, level)
    if horizon != "both":
        return loaded, backtest_loaded(loaded, level_, BacktestConfig.for_horizon(horizon), chosen)
    day = backtest_loaded(loaded, level_, BacktestConfig.for_horizon("day"), chosen)
    week = backtest_loaded(loaded, level_, BacktestConfig.for_horizon("week"), chosen)
    out = []
    for d, w in zip(day, week, strict=True):
        title = f"{loaded.source} · {d.target} · level {level} · day-ahead beside week-ahead"
        text = "\n\n".join((d.text, w.text, side_by_side(d.rows, w.rows, title)))
        out.append(Result(d.target, d.rows, text))
    return loaded, out


def side_by_side(day: list[Row], week: list[Row], title: str) -> str:
    """One line per method: MAE, MASE and rMAE day-ahead, then week-ahead."""
    head = (
        f"{'method':<20}{'day MAE':>10}{'MASE':>7}{'rMAE':>7}{'week MAE':>10}{'MASE':>7}{'rMAE':>7}"
    )
    lines = [title, head, "-" * len(head)]
    weekly = {r.method: r for r in week}
    for r in day:
        w = weekly[r.method]
        lines.append(
            f"{r.method:<20}{r.mae:>10.4g}{r.mase:>7.3f}{r.rmae:>7.3f}{w.mae:>10.4g}"
            f"{w.mase:>7.3f}{w.rmae:>7.3f}"
        )
    return "\n".join(lines)
