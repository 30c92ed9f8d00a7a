"""The baselines every backtest reports beside the model, read off the past-only features.

For a forecast at origin ``o`` of hour ``o + k``:

* ``persistence``: the last observed hour, ``y[o-1]``, for every ``k``;
* ``seasonal_naive_24``: the same local hour on the last observed day,
  ``y[o + k - 24·ceil((k+1)/24)]`` (exactly lag 24 for day-ahead);
* ``seasonal_naive_168``: the same hour a week earlier, ``y[o + k - 168]`` (``k < 168``);
* ``weekday_hour_mean``: the mean of every observed hour in the same local weekday × hour slot.

Where a baseline's source hour is unknown (a gap in the exports) or a slot has never been seen,
it forecasts the 4-week mean.
"""

from __future__ import annotations

import numpy as np

from models.forecast.features import COLUMNS, FloatArray

BASELINES = ("persistence", "seasonal_naive_24", "seasonal_naive_168", "weekday_hour_mean")
_SOURCE_COLUMN = {
    "persistence": "lag_1",
    "seasonal_naive_24": "lag_day",
    "seasonal_naive_168": "lag_week",
    "weekday_hour_mean": "slot_mean",
}


def baseline(name: str, x: FloatArray) -> FloatArray:
    """Point forecasts of baseline ``name`` for feature rows ``x`` (``(..., len(COLUMNS))``)."""
    values = x[..., COLUMNS.index(_SOURCE_COLUMN[name])]
    fallback = x[..., COLUMNS.index("mean_672h")]
    return np.where(np.isnan(values), fallback, values)
