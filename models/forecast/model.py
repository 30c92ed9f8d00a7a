"""Gradient-boosted quantile forecasts (scikit-learn ``HistGradientBoostingRegressor``).

One model per quantile, trained with the pinball (quantile) loss on the past-only feature rows
of :mod:`models.forecast.features`; the site code is a categorical feature. Predictions are
sorted across quantiles per row so that P10 <= P50 <= P90 (no crossing), and floored at 0
(energy and occupancy are never negative). The P50 is the point forecast.

With ``relative`` (the default) the model learns demand *relative to each series' level*: the
target and every lag / mean column are divided by ``level = mean_168h + floor`` (the last week's
mean known at the origin — the 4-week mean when the week is unknown — plus 10 % of its training
average so empty sites do not divide by zero) and predictions are multiplied back. The last week
rather than the last 4 weeks: chosen on the 84 days *before* the test window (validation MASE
Dundee 0.972 → 0.961, Perth 0.826 → 0.823), it follows a network that grows or gains a hub
sooner. Trees cannot extrapolate, so on absolute values a growing network
(Perth tripled in three years) is forecast at the largest level seen in training; relative values
also let small and large sites share what they learn. Scaling by a positive number known at the
origin maps quantiles to quantiles, so the pinball loss stays the right one.

**Loss on kWh, not on ratios.** Each row is weighted by its level in the P50 fits: the pinball loss
of a relative forecast times the level is the pinball loss in kWh, so the fit minimises the error
the backtest measures instead of the relative error (where a quiet night at a small site counts
as much as a busy evening at a hub). The P10 and P90 stay unweighted (a weighted quantile leaf
update sorts every leaf at every iteration). Splits choose among a random 80 % of the features;
leaves hold at least 100 rows, with L2 regularisation 1. With the features ``mean_72h``,
``ewm_day`` and ``ewm_week`` these were chosen on the 84 days *before* the test window (never on
the test folds); validation MASE (day-ahead energy) Dundee city 0.698 → 0.683, Perth sites
0.872 → 0.862, Perth city 0.825 → 0.82. More boosting rounds (300 at rate 0.05), a longer
fitting history (728 days), learning the deviation from a 4-week same-hour mean, or a
squared-error P50 were each no better there.

**The P50** is the mean of one model per entry of ``p50_leaves`` (seeds ``seed``, ``seed + 1``,
...), each with that many leaves per tree. Sites: one model of 31 leaves. Three seeds of 31
leaves were within 0.3 % on the validation days (Perth sites 0.862 vs 0.865, Dundee 0.724,
Boulder 1.155) at ~1.7x the fitting time. A city is one series of ~8,700 training rows: there
three models of 31, 15 and 7 leaves averaged were better on validation than three of 31 at all
three cities (Perth 0.820 → 0.817, Dundee 0.683 → 0.682, Boulder 0.681 → 0.678), and smaller trees
fit faster; at the sites they were worse (Perth 0.862 → 0.870). See
:class:`models.forecast.backtest.BacktestConfig` for the per-level choice.

**Binning.** Before fitting, each numeric column is cut at its (weighted) quantiles into at most
255 bins, once per fit and shared by every quantile model (:class:`Bins`); the boosters then see
bin codes. scikit-learn bins its input itself, but given sample weights it finds each column's
254 thresholds with one weighted-percentile sort of the whole column per threshold: 66 of the 116
CPU seconds of a Perth sites backtest, repeated for every model. Splits between codes are the
splits between those thresholds: the six real backtests' MASE moved by at most 0.0004.

Fitting runs on one OpenMP thread: scikit-learn's quantile-loss leaf update was measured ~10x
slower with two threads than with one on this 2-core machine (36 s vs 3.2 s, 272k rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from chargegrid.errors import ChargegridError
from models.forecast.features import CATEGORICAL, COLUMNS, FloatArray

QUANTILES = (0.1, 0.5, 0.9)
MAX_BINS = 255  # HistGradientBoostingRegressor's default (plus one bin for missing values)
_LEVEL_COLUMNS = [
    i
    for i, c in enumerate(COLUMNS)
    if c.startswith(("lag_", "mean_", "ewm_"))
    or c.endswith("_mean")
    or c in ("week_mean_4", "day_mean_7")
]


_CATEGORICAL_INDEX = frozenset(COLUMNS.index(c) for c in CATEGORICAL)


def _raw_level(x: FloatArray) -> FloatArray:
    """Last week's mean, else the last 4 weeks', else 0 (every hour unknown)."""
    week, month = x[:, COLUMNS.index("mean_168h")], x[:, COLUMNS.index("mean_672h")]
    return np.nan_to_num(np.where(np.isnan(week), month, week), nan=0.0)


class ModelConfigError(ChargegridError):
    """A model configuration that cannot be fitted."""


@dataclass(frozen=True, slots=True)
class Bins:
    """Each numeric column cut at (weighted) quantiles into at most :data:`MAX_BINS` bins, once
    per fit and shared by every quantile model; rows become bin codes (NaN stays NaN). Given
    codes, ``HistGradientBoostingRegressor`` sees at most 255 distinct values per column and keeps
    them as its bins (module doc: why not let it bin)."""

    edges: tuple[FloatArray | None, ...]  # None: the column is used as it is (categorical)

    @classmethod
    def of(cls, x: FloatArray, weight: FloatArray | None) -> Bins:
        w = np.ones(len(x)) if weight is None else weight
        return cls(
            tuple(
                None if c in _CATEGORICAL_INDEX else _quantile_edges(x[:, c], w)
                for c in range(x.shape[1])
            )
        )

    def codes(self, x: FloatArray) -> FloatArray:
        out = x.copy()
        for c, edges in enumerate(self.edges):
            if edges is not None:
                code = np.searchsorted(edges, x[:, c], side="left").astype(float)
                out[:, c] = np.where(np.isnan(x[:, c]), np.nan, code)
        return out


def _quantile_edges(values: FloatArray, weight: FloatArray) -> FloatArray:
    """Thresholds: midpoints of the distinct values when they are few, else the values at
    ``MAX_BINS - 1`` evenly spaced shares of the cumulative weight (NaN rows left out)."""
    known = ~np.isnan(values)
    order = np.argsort(values[known], kind="stable")
    v, w = values[known][order], weight[known][order]
    distinct = np.unique(v)
    if len(distinct) <= MAX_BINS:
        return (distinct[:-1] + distinct[1:]) / 2
    cum = np.cumsum(w)
    shares = np.arange(1, MAX_BINS) / MAX_BINS * cum[-1]
    return np.unique(v[np.minimum(np.searchsorted(cum, shares), len(v) - 1)])


@dataclass(frozen=True, slots=True)
class ModelConfig:
    quantiles: tuple[float, ...] = QUANTILES
    max_iter: int = 100
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31  # P10 / P90 trees
    min_samples_leaf: int = 100
    l2: float = 1.0
    max_features: float = 0.8  # share of the features each split may choose from
    p50_leaves: tuple[int, ...] = (31,)  # one P50 model per entry, with that many leaves, averaged
    seed: int = 0
    relative: bool = True  # learn demand relative to the series' last-week level (module doc)
    weight_by_level: bool = True  # rows weighted by their level: the loss is on kWh (module doc)

    def __post_init__(self) -> None:
        if not self.p50_leaves or min(self.p50_leaves) < 2:
            msg = f"p50_leaves needs at least one model of >= 2 leaves, got {self.p50_leaves}"
            raise ModelConfigError(msg)


@dataclass
class QuantileModel:
    config: ModelConfig = field(default_factory=ModelConfig)
    _models: list[HistGradientBoostingRegressor] = field(default_factory=list)
    _members: list[HistGradientBoostingRegressor] = field(default_factory=list)
    _floor: float = 0.0
    _bins: Bins = field(default_factory=lambda: Bins(()))

    def _level(self, x: FloatArray) -> FloatArray:
        if not self.config.relative:
            return np.ones(len(x))
        return _raw_level(x) + self._floor

    def _scaled(self, x: FloatArray, level: FloatArray) -> FloatArray:
        if not self.config.relative:
            return x
        out = x.copy()
        out[:, _LEVEL_COLUMNS] = x[:, _LEVEL_COLUMNS] / level[:, None]
        return out

    def fit(self, x: FloatArray, y: FloatArray) -> QuantileModel:
        """Fit on rows whose target is known (NaN targets are left out)."""
        known = ~np.isnan(y)
        x, y = x[known], y[known]
        self._floor = 0.1 * float(np.nanmean(_raw_level(x))) + 1e-9
        level = self._level(x)
        weight = self._weights(level)
        x, y = self._scaled(x, level), y / level
        self._bins = Bins.of(x, weight)
        x = self._bins.codes(x)
        self._models = []
        self._members = []
        first, *others = self.config.p50_leaves
        with threadpool_limits(limits=1, user_api="openmp"):
            for q in self.config.quantiles:
                if q == 0.5:
                    model = self._booster(q, 0, first).fit(x, y, sample_weight=weight)
                else:  # intervals: unweighted (module doc)
                    model = self._booster(q, 0, self.config.max_leaf_nodes).fit(x, y)
                self._models.append(model)
            for m, leaves in enumerate(others, start=1):
                self._members.append(self._booster(0.5, m, leaves).fit(x, y, sample_weight=weight))
        return self

    def _booster(self, q: float, member: int, leaves: int) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            loss="quantile",
            quantile=q,
            max_iter=self.config.max_iter,
            learning_rate=self.config.learning_rate,
            max_leaf_nodes=leaves,
            min_samples_leaf=self.config.min_samples_leaf,
            l2_regularization=self.config.l2,
            max_features=self.config.max_features,
            categorical_features=[COLUMNS.index(c) for c in CATEGORICAL],
            early_stopping=False,
            random_state=self.config.seed + member,
        )

    def _weights(self, level: FloatArray) -> FloatArray | None:
        if not (self.config.weight_by_level and self.config.relative):
            return None
        return level / level.mean()

    def predict(self, x: FloatArray) -> FloatArray:
        """``(rows, quantiles)``, sorted across quantiles, >= 0."""
        level = self._level(x)
        scaled = self._bins.codes(self._scaled(x, level))
        with threadpool_limits(limits=1, user_api="openmp"):
            raw = [m.predict(scaled) for m in self._models]
            if self._members:
                mid = self.config.quantiles.index(0.5)
                raw[mid] = np.mean([raw[mid], *(m.predict(scaled) for m in self._members)], axis=0)
        preds = np.stack(raw, axis=1) * level[:, None]
        return np.maximum(np.sort(preds, axis=1), 0.0)
