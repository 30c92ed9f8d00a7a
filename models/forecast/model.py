"""Gradient-boosted quantile forecasts (scikit-learn ``HistGradientBoostingRegressor``).

One model per quantile, trained with the pinball (quantile) loss on the past-only feature rows
of :mod:`models.forecast.features`; the site code is a categorical feature. Predictions are
sorted across quantiles per row so that P10 <= P50 <= P90 (no crossing), and floored at 0
(energy and occupancy are never negative). The P50 is the point forecast.

The model learns demand *relative to each series' level* (scale ``week``, the default): the
target and every lag / mean column are divided by ``level = mean_168h + floor`` (the last week's
mean known at the origin — the 4-week mean when the week is unknown — plus 10 % of its training
average so empty sites do not divide by zero) and predictions are multiplied back. The last week
rather than the last 4 weeks: chosen on the 84 days *before* the test window (validation MASE
Dundee 0.972 → 0.961, Perth 0.826 → 0.823), it follows a network that grows or gains a hub
sooner. Trees cannot extrapolate, so on absolute values a growing network
(Perth tripled in three years) is forecast at the largest level seen in training; relative values
also let small and large sites share what they learn. Scaling by a positive number known at the
origin maps quantiles to quantiles, so the pinball loss stays the right one.

**Scales.** ``scales`` lists the levels the P50 is learnt at, one set of ``p50_leaves`` models each,
combined in kWh (geometric mean, below): ``week`` (above), ``days3`` (the last 72 hours' mean:
quicker to follow a step, noisier) and ``none`` (absolute kWh: no level noise, but no
extrapolation). Their errors differ, so the average beats each; the P10 / P90 are fitted at the
first scale only. A city uses all three (:class:`models.forecast.backtest.BacktestConfig`), chosen
on the 84 days before the test window and the 84 before those, mean of 3 seeds (never on the test
folds): day-ahead energy MASE Perth 0.816 → 0.814 and 0.824 → 0.823, Dundee 0.655 → 0.648 and 0.810
→ 0.801, Boulder 0.674 → 0.667 and 0.516 → 0.515; averaging two seeds of ``week`` instead moved none
by more than 0.0005, so the gain is the scales', not more models'. Week-ahead (one seed): Perth
0.820 → 0.818 and 0.831 → 0.831, Dundee 0.677 → 0.675 and 0.801 → 0.804, Boulder 0.678 → 0.670 and
0.521 → 0.516. It doubles a city's fitting time. No better there: the log of the ratio instead of
the ratio (Perth 0.816 and 0.826, Dundee 0.652 and 0.813), the week and 3-day levels averaged into
one level, a day-total model times a past hour-of-day profile (Perth 0.833 and 0.841: the sum of the
hourly medians is rightly below the day total's median) or the P50 rescaled to that day total
(0.820, 0.828), and training origins every 6 hours instead of at midnight.

**Combining the scales; crossing.** The scales' P50s are combined by their geometric mean
(``exp(mean(log(p + c))) - c``, ``c`` = :data:`GEOMETRIC_SHIFT`, negative P50s taken as 0): the
scales differ mainly by the level they multiply by, an error that is multiplicative, so they
are averaged on the log scale, where one scale's level miss (a busy weekend lifting the 3-day
level) weighs less. And the P50 is not moved by the intervals: the P10 / P90 come from one scale's
single unweighted models, and where they cross the combined P50 (at night in Perth a P10 of
4.5 kWh above a P50 of ~0) sorting would put the P10 model's value in the P50's place; instead
the interval ends move to the P50 (:func:`order_around_median`). A single scale (the sites) is
still sorted: there one model set fits every quantile, and keeping its P50 was slightly worse at
the sites (one seed: Perth 0.860 → 0.862, Dundee 0.723 → 0.724). With the P50 smoothed over
hours (:mod:`models.forecast.backtest`), chosen on the 84 days before the test window and the 84
before those, mean of 3 seeds (never on the test folds): city MASE Perth 0.8143 → 0.8123 and
0.8235 → 0.8207, Dundee 0.6483 → 0.6475 and 0.8006 → 0.7971, Boulder 0.6666 → 0.6657 and
0.5150 → 0.5144; each alone (same windows and seeds): keeping the P50 Perth 0.8235 → 0.8221 (the
rest within 0.0003), the geometric mean Boulder 0.6666 → 0.6649, Perth 0.8143 → 0.8142, the
smoothing Perth 0.8143 → 0.8125, Dundee 0.8006 → 0.7975 but Boulder 0.6666 → 0.6675. No better
there: the median of the scales instead of a mean (Boulder 0.6684), and mixing the P50 with a
baseline, ``(1 - w)`` model + ``w`` baseline for the 4-week same-hour mean, its decayed version,
the weekday x hour mean, lag 168 or the 7-day same-hour mean (w = 0.05 to 0.3: every w worse at
Perth or Boulder, the model has them as features already), nor a correction by the last 7 to 28
days' residuals (better at Dundee, worse at Perth). Reconciling the city with the sum of the site
P50s was not re-tried: the sum of the sites' medians is far below the city's median (Perth
sum-of-sites MASE 1.37 against the city model's 0.82, earlier models).

**Loss on kWh, not on ratios.** Each row is weighted by its level in the P50 fits (at the scale
``none`` the target is kWh already): the pinball loss of a relative forecast times the level is the
pinball loss in kWh, so the fit minimises the error the backtest measures instead of the relative
error (where a quiet night at a small site counts as much as a busy evening at a hub). The P10 and
P90 stay unweighted (a weighted quantile leaf update sorts every leaf at every iteration). Splits
choose among a random 80 % of the features; leaves hold at least 100 rows, with L2 regularisation 1.
With the features ``mean_72h``, ``ewm_day`` and ``ewm_week`` these were chosen on the 84 days
*before* the test window (never on the test folds); validation MASE (day-ahead energy) Dundee city
0.698 → 0.683, Perth sites 0.872 → 0.862, Perth city 0.825 → 0.82. More boosting rounds (300 at rate
0.05), a longer fitting history (728 days), learning the deviation from a 4-week same-hour mean, or
a squared-error P50 were each no better there. (728 days was measured then with the MASE scale taken
over 728 days too; with the scale kept on 364, a city with three scales: Perth 0.814 → 0.815 and
0.823 → 0.820, Boulder 0.667 → 0.669 and 0.515 → 0.512 — mixed, at twice the fitting time.)

**The P50** is the mean of one model per entry of ``p50_leaves`` (seeds ``seed``, ``seed + 1``,
...), each with that many leaves per tree. Sites: one model of 31 leaves. Three seeds of 31
leaves were within 0.3 % on the validation days (Perth sites 0.862 vs 0.865, Dundee 0.724,
Boulder 1.155) at ~1.7x the fitting time. A city is one series of ~8,700 training rows: there
three models of 31, 15 and 7 leaves averaged were better on validation than three of 31 at all
three cities (Perth 0.820 → 0.817, Dundee 0.683 → 0.682, Boulder 0.681 → 0.678), and smaller trees
fit faster; at the sites they were worse (Perth 0.862 → 0.870). See
:class:`models.forecast.backtest.BacktestConfig` for the per-level choice.

**Binning.** Before fitting, each numeric column is cut at its (weighted) quantiles into at most 255
bins, once per fit and scale and shared by every quantile model (:class:`Bins`); the boosters then
see bin codes. scikit-learn bins its input itself, but given sample weights it finds each column's
254 thresholds with one weighted-percentile sort of the whole column per threshold: 66 of the 116
CPU seconds of a Perth sites backtest, repeated for every model. Splits between codes are the splits
between those thresholds: the six real backtests' MASE moved by at most 0.0004.

Fitting runs on one OpenMP thread: scikit-learn's quantile-loss leaf update was measured ~10x
slower with two threads than with one on this 2-core machine (36 s vs 3.2 s, 272k rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from chargegrid.errors import ChargegridError
from models.forecast.features import CATEGORICAL, COLUMNS, FloatArray

QUANTILES = (0.1, 0.5, 0.9)
Scale = Literal["week", "days3", "none"]  # what the target is divided by (module doc)
SCALES: tuple[Scale, ...] = ("week", "days3", "none")
GEOMETRIC_SHIFT = 1e-3  # target units added before the scales' log-mean (module doc)
MAX_BINS = 255  # HistGradientBoostingRegressor's default (plus one bin for missing values)
_LEVEL_COLUMNS = [
    i
    for i, c in enumerate(COLUMNS)
    if c.startswith(("lag_", "mean_", "ewm_"))
    or c.endswith("_mean")
    or c in ("week_mean_4", "day_mean_7")
]


_CATEGORICAL_INDEX = frozenset(COLUMNS.index(c) for c in CATEGORICAL)


def _known_or(x: FloatArray, column: str, fallback: FloatArray) -> FloatArray:
    values = x[:, COLUMNS.index(column)]
    return np.where(np.isnan(values), fallback, values)


def scale_level(x: FloatArray, scale: Scale = "week") -> FloatArray:
    """The level the target is divided by at each row's origin: the mean of the last week
    (``week``) or of the last 3 days (``days3``), an unknown mean falling back to the longer
    window (week, then 4 weeks), else 0; 1 for ``none``."""
    if scale == "none":
        return np.ones(len(x))
    level = _known_or(x, "mean_168h", x[:, COLUMNS.index("mean_672h")])
    if scale == "days3":
        level = _known_or(x, "mean_72h", level)
    return np.nan_to_num(level, nan=0.0)


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
    # the P50 averages one set of ``p50_leaves`` models per scale; the P10 / P90 use the first
    scales: tuple[Scale, ...] = ("week",)
    weight_by_level: bool = True  # rows weighted by their level: the loss is on kWh (module doc)

    def __post_init__(self) -> None:
        if not self.p50_leaves or min(self.p50_leaves) < 2:
            msg = f"p50_leaves needs at least one model of >= 2 leaves, got {self.p50_leaves}"
            raise ModelConfigError(msg)
        if not self.scales or not set(self.scales) <= set(SCALES):
            msg = f"scales needs at least one of {SCALES}, got {self.scales}"
            raise ModelConfigError(msg)


@dataclass(frozen=True, slots=True)
class _View:
    """The rows as one scale sees them: divided by its level (plus ``floor``), then binned."""

    scale: Scale
    floor: float
    bins: Bins

    @classmethod
    def of(
        cls, scale: Scale, x: FloatArray, weight_by_level: bool
    ) -> tuple[_View, FloatArray | None]:
        """The view fitted on ``x`` and the rows' weights (``None``: unweighted). The floor, 10 %
        of the mean level, keeps empty sites from dividing by zero."""
        floor = 0.0 if scale == "none" else 0.1 * float(np.nanmean(scale_level(x, scale))) + 1e-9
        unbinned = cls(scale, floor, Bins(()))
        level = unbinned.level(x)
        weight = level / level.mean() if weight_by_level and scale != "none" else None
        return replace(unbinned, bins=Bins.of(unbinned.scaled(x), weight)), weight

    def level(self, x: FloatArray) -> FloatArray:
        return scale_level(x, self.scale) + self.floor

    def scaled(self, x: FloatArray) -> FloatArray:
        """Lag and mean columns divided by the level (``none``: unchanged)."""
        if self.scale == "none":
            return x
        out = x.copy()
        out[:, _LEVEL_COLUMNS] = x[:, _LEVEL_COLUMNS] / self.level(x)[:, None]
        return out

    def codes(self, x: FloatArray) -> FloatArray:
        return self.bins.codes(self.scaled(x))


@dataclass
class QuantileModel:
    config: ModelConfig = field(default_factory=ModelConfig)
    _views: list[_View] = field(default_factory=list)
    _models: list[HistGradientBoostingRegressor | None] = field(default_factory=list)  # P50: None
    _p50: list[list[HistGradientBoostingRegressor]] = field(default_factory=list)  # per view

    def fit(self, x: FloatArray, y: FloatArray) -> QuantileModel:
        """Fit on rows whose target is known (NaN targets are left out)."""
        known = ~np.isnan(y)
        x, y = x[known], y[known]
        self._views, self._models, self._p50 = [], [], []
        with threadpool_limits(limits=1, user_api="openmp"):
            for scale in self.config.scales:
                view, weight = _View.of(scale, x, self.config.weight_by_level)
                codes, target = view.codes(x), y / view.level(x)
                if not self._views:
                    self._models = [self._interval(q, codes, target) for q in self.config.quantiles]
                self._views.append(view)
                self._p50.append(
                    [
                        self._booster(0.5, m, leaves).fit(codes, target, sample_weight=weight)
                        for m, leaves in enumerate(self.config.p50_leaves)
                    ]
                )
        return self

    def _interval(
        self, q: float, codes: FloatArray, target: FloatArray
    ) -> HistGradientBoostingRegressor | None:
        """The P10 / P90 models: unweighted (module doc); the P50 comes from ``_p50``."""
        if q == 0.5:
            return None
        return self._booster(q, 0, self.config.max_leaf_nodes).fit(codes, target)

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

    def _median(self, x: FloatArray) -> FloatArray:
        """Geometric mean over the views of each view's P50 models' mean, back in the target's
        units (module doc); one view's is returned as it is."""
        per_view = [
            np.mean([m.predict(view.codes(x)) for m in members], axis=0) * view.level(x)
            for view, members in zip(self._views, self._p50, strict=True)
        ]
        if len(per_view) == 1:
            return per_view[0]
        shifted = np.log(np.maximum(np.stack(per_view), 0.0) + GEOMETRIC_SHIFT)
        return np.asarray(np.exp(shifted.mean(axis=0)) - GEOMETRIC_SHIFT)

    def predict(self, x: FloatArray) -> FloatArray:
        """``(rows, quantiles)``, non-crossing, >= 0: sorted, or with several scales ordered
        around the P50 (:func:`order_around_median`, module doc)."""
        first = self._views[0]
        codes, level = first.codes(x), first.level(x)
        with threadpool_limits(limits=1, user_api="openmp"):
            raw = [self._median(x) if m is None else m.predict(codes) * level for m in self._models]
        stacked = np.stack(raw, axis=1)
        if len(self._views) == 1:  # one view fits every quantile: rearranged by sorting
            return np.maximum(np.sort(stacked, axis=1), 0.0)
        return np.maximum(order_around_median(stacked, self.config.quantiles), 0.0)


def order_around_median(values: FloatArray, quantiles: tuple[float, ...]) -> FloatArray:
    """``values`` (``(..., len(quantiles))``, quantiles increasing) made non-crossing without
    moving the P50: the other quantiles are sorted, those below 0.5 lowered to at most the P50
    and those above raised to at least it (module doc). Without a P50: sorted."""
    if 0.5 not in quantiles:
        return np.sort(values, axis=-1)
    mid = quantiles.index(0.5)
    median = values[..., mid : mid + 1]
    others = np.sort(np.delete(values, mid, axis=-1), axis=-1)
    below, above = np.minimum(others[..., :mid], median), np.maximum(others[..., mid:], median)
    return np.concatenate([below, median, above], axis=-1)
