"""Walk-forward (rolling-origin) backtest of the model against the baselines.

Forecasts are issued at local midnights. The test origins are the last ``test_days`` local
midnights whose whole horizon is observed (every day for day-ahead; every 7th day for
week-ahead, so week-ahead windows do not overlap). Every ``retrain_days`` the model is refit on
rows from earlier origins (at most ``train_days`` back) **whose target hour lies before the
refit origin** — so no training target and no feature is ever at or after the origin it serves.
There is no random split anywhere.

Sites enter the table when they had demand in the 4 weeks before the first test origin and
during the test window (a site not yet open, or closed, has nothing to forecast); the others are
counted in ``excluded``. The **city** series is like-for-like: the sum of those same sites. A hub
that opens during the test window has no history at any origin before it opens, so no time-series
model can forecast it; Dundee's Princes Street hub (opened 18 July 2018, a quarter of the city's
energy by August) would otherwise be judged as the model's error. Such sites are named in
``excluded``; new sites are the siting model's and the simulation's question.

A city's P50 is smoothed over the hours of each origin's horizon (:func:`smooth_hours`, weight
:data:`CITY_HOUR_SMOOTHING` on each neighbouring hour): a session's energy spreads over several
hours and its start time is uncertain by about an hour, so the expected demand of an hour is
close to its neighbours' and the trees' hour-to-hour steps are partly noise. Only forecasts made
at the same origin are mixed, so the forecast stays past-only. Validation figures: in
:mod:`models.forecast.model` (combining the scales); the weights 0.1 / 0.8 / 0.1 were
within 0.0005 of 1/10/1 and 1/6/1 (weights 0.083 and 0.125), 0.2 was worse at every city, and
a 5-hour kernel 1-2-4-2-1 was worse everywhere (one seed, arithmetic mean).

MASE is per series, scaled by the MAE of the lag-168 seasonal naive
over the ``train_days`` before the first test origin (the in-sample period of the first fit; the
whole history would understate the scale of a network whose demand has grown), then averaged over
series. ``rMAE`` is the pooled MAE divided by the seasonal naive (168)'s pooled MAE on the very
same test points. The other measures pool every (series, origin, hour).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from chargegrid.errors import ChargegridError
from models.forecast import metrics
from models.forecast.baselines import BASELINES, baseline
from models.forecast.features import (
    MIN_HISTORY_H,
    WEEK_H,
    Calendar,
    FloatArray,
    IntArray,
    design,
)
from models.forecast.model import (
    QUANTILES,
    ModelConfig,
    QuantileModel,
    Scale,
    order_around_median,
)
from models.forecast.series import Level, Panel, Target

MODEL = "gbm_p50"
CITY_P50_LEAVES = (31, 15, 7)
CITY_SCALES: tuple[Scale, ...] = ("week", "days3", "none")
CITY_HOUR_SMOOTHING = 0.1  # each neighbouring hour's weight in a city's P50 (module doc)


class BacktestError(ChargegridError):
    """The data are too short for the requested backtest."""


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    horizon_h: int = 24
    test_days: int = 84
    retrain_days: int = 28
    train_days: int = 364
    train_step_days: int = 1
    model: ModelConfig = field(default_factory=ModelConfig)
    city_p50_leaves: tuple[int, ...] | None = CITY_P50_LEAVES  # None: as ``model`` at any level
    city_scales: tuple[Scale, ...] | None = CITY_SCALES  # None: as ``model`` at any level
    city_hour_smoothing: float = CITY_HOUR_SMOOTHING  # 0: a city's P50 as the model gives it

    def __post_init__(self) -> None:
        if not 0.0 <= self.city_hour_smoothing < 0.5:
            msg = f"city_hour_smoothing must be in [0, 0.5), got {self.city_hour_smoothing}"
            raise BacktestError(msg)

    def model_for(self, level: Level) -> ModelConfig:
        """The model at ``level``: a city's P50 averages smaller trees fitted at three scales
        (:mod:`models.forecast.model` doc, chosen on the 168 days before the test window)."""
        if level != "city":
            return self.model
        model = self.model
        if self.city_p50_leaves is not None:
            model = replace(model, p50_leaves=self.city_p50_leaves)
        if self.city_scales is not None:
            model = replace(model, scales=self.city_scales)
        return model

    @classmethod
    def for_horizon(cls, horizon: str, **overrides: object) -> BacktestConfig:
        """``day`` (24 h) or ``week`` (168 h, training origins every 3 days to bound memory)."""
        if horizon == "day":
            return cls(**overrides)  # type: ignore[arg-type]
        if horizon == "week":
            return cls(horizon_h=WEEK_H, train_step_days=3, **overrides)  # type: ignore[arg-type]
        msg = f"horizon must be 'day' or 'week', not {horizon!r}"
        raise BacktestError(msg)


@dataclass(frozen=True, slots=True)
class Forecasts:
    """Everything forecast at the test origins, ``(series, origins, horizon)`` per method."""

    names: tuple[str, ...]
    origins: IntArray
    y: FloatArray
    point: dict[str, FloatArray]
    quantiles: FloatArray  # (len(QUANTILES), series, origins, horizon)
    scale: FloatArray  # per series: lag-168 seasonal naive MAE over the last training window
    excluded: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Row:
    method: str
    mae: float
    rmse: float
    wape: float
    mase: float
    rmae: float  # MAE / MAE of seasonal_naive_168 on the same points
    pinball: float
    coverage: float | None


def local_midnights(calendar: Calendar) -> IntArray:
    """Hour indices at which the local clock reads 00:00 (once per day, DST or not)."""
    return np.flatnonzero(calendar.hour == 0).astype(np.int64)


def _test_origins(calendar: Calendar, n_hours: int, config: BacktestConfig) -> IntArray:
    midnights = local_midnights(calendar)
    usable = midnights[(midnights >= MIN_HISTORY_H) & (midnights + config.horizon_h <= n_hours)]
    step = 7 if config.horizon_h > 24 else 1
    chosen = usable[::-1][: config.test_days : step][::-1]
    if len(chosen) == 0 or chosen[0] < MIN_HISTORY_H + 7 * 24:
        msg = (
            f"{n_hours} hours of data are too few for {config.test_days} test days after "
            f"{MIN_HISTORY_H // 24 + 7} days of history"
        )
        raise BacktestError(msg)
    return chosen


def _active(y: FloatArray, first: int, last: int) -> np.ndarray:
    before = np.nansum(y[:, max(first - 28 * 24, 0) : first], axis=1) > 0
    during = np.nansum(y[:, first:last], axis=1) > 0
    return before & during


def _fit(
    y: FloatArray,
    ports: FloatArray,
    calendar: Calendar,
    refit_at: int,
    config: BacktestConfig,
    model: ModelConfig,
) -> QuantileModel:
    midnights = local_midnights(calendar)
    lo = max(MIN_HISTORY_H, refit_at - config.train_days * 24)
    train = midnights[(midnights >= lo) & (midnights < refit_at)][:: config.train_step_days]
    rows = design(y[:, :refit_at], ports[:, :refit_at], calendar, train, config.horizon_h)
    x, target = rows.flat()
    return QuantileModel(model).fit(x, target)


def _refit_blocks(origins: IntArray, every_h: int) -> list[IntArray]:
    """Indices of ``origins`` served by one fit: a refit at the first origin at least
    ``every_h`` hours after the previous refit. Each block is predicted in one call (its rows
    are past-only for their own origin, whatever the batch)."""
    blocks: list[list[int]] = []
    refit_at = -1
    for j, origin in enumerate(origins):
        if not blocks or origin - refit_at >= every_h:
            blocks.append([])
            refit_at = int(origin)
        blocks[-1].append(j)
    return [np.array(b, dtype=np.int64) for b in blocks]


def walk_forward(
    panel: Panel,
    target: Target,
    calendar: Calendar,
    config: BacktestConfig,
    level: Level = "site",
) -> Forecasts:
    """Forecast every test origin with the model (refit every ``retrain_days``) and baselines:
    one series per active row of ``panel`` (sites), or at ``level="city"`` their sum."""
    full = panel.target(target)
    origins = _test_origins(calendar, full.shape[1], config)
    active = _active(full, int(origins[0]), int(origins[-1]) + config.horizon_h)
    if not active.any():
        msg = "no series has demand both before and during the test window"
        raise BacktestError(msg)
    excluded = tuple(n for n, keep in zip(panel.names, active, strict=True) if not keep)
    if level == "city":
        panel, full = panel.rows(active, "city"), panel.rows(active, "city").target(target)
        active = np.ones(1, dtype=bool)
    y, ports = full[active], panel.ports[active]
    rows = design(y, ports, calendar, origins, config.horizon_h)
    quantiles = np.full((len(QUANTILES), *rows.y.shape), np.nan)
    for block in _refit_blocks(origins, config.retrain_days * 24):
        model = _fit(y, ports, calendar, int(origins[block[0]]), config, config.model_for(level))
        x = rows.x[:, block].reshape(-1, rows.x.shape[-1])
        pred = model.predict(x).reshape(*rows.y[:, block].shape, len(QUANTILES))
        quantiles[:, :, block] = np.moveaxis(pred, -1, 0)
    if level == "city" and config.city_hour_smoothing > 0:
        mid = QUANTILES.index(0.5)
        quantiles[mid] = smooth_hours(quantiles[mid], config.city_hour_smoothing)
        quantiles = np.moveaxis(
            order_around_median(np.moveaxis(quantiles, 0, -1), QUANTILES), -1, 0
        )
    point = {name: baseline(name, rows.x) for name in BASELINES}
    point[MODEL] = quantiles[QUANTILES.index(0.5)]
    first = int(origins[0])
    window = max(first - config.train_days * 24, 0)
    scale = np.array([metrics.seasonal_scale(series[window:first]) for series in y])
    names = tuple(n for n, keep in zip(panel.names, active, strict=True) if keep)
    return Forecasts(names, origins, rows.y, point, quantiles, scale, excluded)


def smooth_hours(p50: FloatArray, weight: float) -> FloatArray:
    """Each hour's forecast mixed with its neighbours' in the same origin's horizon (last axis):
    ``weight`` on each neighbour, ``1 - 2 weight`` on itself; the first and last hours, with one
    neighbour, are renormalised. Forecasts from one origin only: past-only stays past-only."""
    centre, out = 1.0 - 2.0 * weight, (1.0 - 2.0 * weight) * p50
    total = np.full(p50.shape[-1], centre)
    out[..., 1:] += weight * p50[..., :-1]
    out[..., :-1] += weight * p50[..., 1:]
    total[1:] += weight
    total[:-1] += weight
    return np.asarray(out / total)


def _mase(y: FloatArray, f: FloatArray, scale: FloatArray) -> float:
    per_series = [metrics.mae(y[s], f[s]) / scale[s] for s in range(len(scale)) if scale[s] > 0]
    return float(np.mean(per_series)) if per_series else float("nan")


def score(forecasts: Forecasts) -> list[Row]:
    """One :class:`Row` per method: the baselines, then the model (with its interval coverage)."""
    y = forecasts.y
    reference = metrics.mae(y, forecasts.point["seasonal_naive_168"])
    out = []
    for name in (*BASELINES, MODEL):
        f = forecasts.point[name]
        if name == MODEL:
            pin = np.mean(
                [metrics.pinball(y, forecasts.quantiles[i], q) for i, q in enumerate(QUANTILES)]
            )
            cover: float | None = metrics.coverage(
                y, forecasts.quantiles[0], forecasts.quantiles[-1]
            )
        else:
            pin = np.mean([metrics.pinball(y, f, q) for q in QUANTILES])
            cover = None
        out.append(
            Row(
                method=name,
                mae=metrics.mae(y, f),
                rmse=metrics.rmse(y, f),
                wape=metrics.wape(y, f),
                mase=_mase(y, f, forecasts.scale),
                rmae=metrics.mae(y, f) / reference if reference > 0 else float("nan"),
                pinball=float(pin),
                coverage=cover,
            )
        )
    return out


def table(rows: list[Row], title: str) -> str:
    """Plain-text table (one line per method) under ``title``."""
    head = (
        f"{'method':<20}{'MAE':>10}{'RMSE':>10}{'WAPE':>8}{'MASE':>8}{'rMAE':>7}{'pinball':>10}"
        f"{'P10-P90':>9}"
    )
    lines = [title, head, "-" * len(head)]
    for r in rows:
        cover = f"{r.coverage:>9.1%}" if r.coverage is not None else f"{'-':>9}"
        lines.append(
            f"{r.method:<20}{r.mae:>10.4g}{r.rmse:>10.4g}{r.wape:>8.3f}{r.mase:>8.3f}{r.rmae:>7.3f}"
            f"{r.pinball:>10.4g}{cover}"
        )
    return "\n".join(lines)
