"""Features for a forecast made at an origin, built only from hours before that origin.

A forecast is made at **origin** ``o`` (an hour index; hours ``0 .. o-1`` are observed) for the
targets ``o + k``, ``k = 0 .. horizon-1``. :func:`design` returns, for given origins, one row per
(series, origin, k). **Past-only guarantee:** every value read from a series is at an index
``< o`` — either ``o - j`` with ``j >= 1`` or ``o + k - L`` with ``L > k`` — and :func:`design`
checks it (:class:`LeakageError` otherwise); tests garble every hour from ``o`` on and assert that
the rows for ``o`` do not change. Calendar features describe the target hour (known in advance).

Columns (:data:`COLUMNS`):

* ``k`` hours ahead; local ``hour``, ``weekday``, ``month``, ``holiday`` (public holiday in the
  source's region, via the ``holidays`` package) of the target; ``series`` (site code);
  ``ports`` active at the origin (see :mod:`models.forecast.series`);
* ``lag_1 .. lag_3``: the last three observed hours (the origin's lags 1–3);
* ``lag_day``, ``lag_day2``: the same local hour on the last / second-last observed day
  (for day-ahead forecasts exactly lags 24 and 48);
* ``lag_week``, ``lag_week2``: lags 168 and 336 (observed for any horizon up to a week);
* ``mean_24h``, ``mean_168h``, ``mean_672h``: rolling means of the last day / week / 4 weeks;
* ``week_mean_4``: mean of the same hour of the week over the last 4 weeks;
* ``day_mean_7``: mean of the same hour of day over the last 7 observed days;
* ``slot_mean``: mean of every observed hour in the same local weekday × hour slot (the
  "historical mean by weekday × hour" baseline);
* ``mean_72h``: rolling mean of the last 3 days;
* ``ewm_day``: exponentially weighted mean of the same hour of day over the last 14 observed
  days (weight ``0.7**d``, the most recent day first);
* ``ewm_week``: exponentially weighted mean of the same hour of the week over the last 4 weeks
  (weight ``0.5**w``);
* ``slot_share``: how busy the target's local weekday × hour slot is *relative to its week*: the
  mean, over every observed hour of that slot before the origin, of the hour's demand divided by
  the mean of the 168 hours before it (:func:`week_ratio`), each hour weighted
  ``0.5**(age / 26 weeks)`` (:data:`SHARE_HALF_LIFE_H`). A ratio, so the model does not divide it
  by the level. Unlike ``slot_mean`` it does not lag a growing network (a slot mean of kWh from a
  year ago is far below today's); unlike ``week_mean_4`` it pools half a year of weeks instead of
  4 noisy ones, and it follows the local clock across DST changes. Chosen on the 84 days before
  the test window and the 84 before those, mean of 3 seeds (never on the test folds): city MASE
  Dundee 0.685 → 0.655 and 0.816 → 0.810, Boulder 0.678 → 0.674 and 0.524 → 0.516, Perth
  0.817 → 0.816 and 0.823 → 0.824; sites (one seed) Perth 0.865 → 0.860, Dundee 0.724 → 0.723,
  Boulder 1.155 → 1.158. The undecayed all-history mean did as well at Dundee (one year of data)
  but worse at Perth's second window (0.828): three years of a changing network.

Unknown hours (NaN, a gap in the exports) stay NaN in the lags (the trees route missing values)
and are left out of every mean; a mean over only unknown hours is NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import holidays
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from chargegrid.errors import ChargegridError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
DAY_H, WEEK_H = 24, 168
MIN_HISTORY_H = 4 * WEEK_H  # an origin needs 4 weeks of history (lag 336, 4-week means)
SHARE_HALF_LIFE_H = 26 * WEEK_H  # ``slot_share``: an hour's weight halves every 26 weeks

COLUMNS = (
    "k",
    "hour",
    "weekday",
    "month",
    "holiday",
    "series",
    "ports",
    "lag_1",
    "lag_2",
    "lag_3",
    "lag_day",
    "lag_day2",
    "lag_week",
    "lag_week2",
    "mean_24h",
    "mean_168h",
    "mean_672h",
    "week_mean_4",
    "day_mean_7",
    "slot_mean",
    "mean_72h",
    "ewm_day",
    "ewm_week",
    "slot_share",
)
CATEGORICAL = ("series",)


class LeakageError(ChargegridError):
    """A feature would read an hour at or after its forecast origin."""


@dataclass(frozen=True, slots=True)
class Calendar:
    """Local calendar of each hour: hour, weekday, month, holiday flag, weekday×hour slot."""

    hour: IntArray
    weekday: IntArray
    month: IntArray
    holiday: IntArray
    slot: IntArray

    @classmethod
    def of(cls, local: pd.DatetimeIndex, country: str, subdiv: str | None) -> Calendar:
        years = range(local.year.min(), local.year.max() + 1)
        days = holidays.country_holidays(country, subdiv=subdiv, years=years)
        holiday = np.array([d in days for d in local.date], dtype=np.int64)
        hour = local.hour.to_numpy().astype(np.int64)
        weekday = local.day_of_week.to_numpy().astype(np.int64)
        return cls(
            hour, weekday, local.month.to_numpy().astype(np.int64), holiday, weekday * DAY_H + hour
        )


def _gather(y: FloatArray, index: IntArray, origin: IntArray) -> FloatArray:
    """``y[:, index]`` (index shaped like ``origin``), refusing any index at/after its origin."""
    if np.any(index >= origin) or np.any(index < 0):
        msg = "a feature reads an hour at or after its origin (or before the series starts)"
        raise LeakageError(msg)
    return y[:, index]


def _cumsum0(values: FloatArray) -> FloatArray:
    return np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(values, axis=1)], axis=1)


def _cummean(y: FloatArray, origin: IntArray, window: int) -> FloatArray:
    """Mean of the known hours in ``[origin - window, origin)``, per series and origin."""
    known = ~np.isnan(y)
    total, count = _cumsum0(np.where(known, y, 0.0)), _cumsum0(known.astype(float))
    n = count[:, origin] - count[:, origin - window]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (total[:, origin] - total[:, origin - window]) / n, np.nan)


def _nanmean(stack: list[FloatArray], decay: float = 1.0) -> FloatArray:
    """Mean over ``stack`` (the first entry weighted 1, the next ``decay``, ``decay**2``, ...),
    unknown values left out; NaN where every value is unknown."""
    values = np.stack(stack)
    weight = (decay ** np.arange(len(stack)))[(...,) + (None,) * (values.ndim - 1)]
    known = ~np.isnan(values)
    n = (known * weight).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (np.where(known, values, 0.0) * weight).sum(axis=0) / n, np.nan)


def slot_means(
    y: FloatArray, slot: IntArray, origins: IntArray, half_life_h: float | None = None
) -> FloatArray:
    """Mean of each weekday×hour slot over the hours before each origin: ``(series, origins,
    168)``, NaN where a slot has never been observed. With ``half_life_h`` an hour ``t`` weighs
    ``0.5**((origin - t) / half_life_h)``. Running sums, hours consumed in order."""
    out = np.full((y.shape[0], len(origins), WEEK_H), np.nan)
    sums = np.zeros((y.shape[0], WEEK_H))
    counts = np.zeros((y.shape[0], WEEK_H))
    known = ~np.isnan(y)
    done = 0
    for j, origin in enumerate(origins):
        if origin < done:
            msg = "origins must be increasing"
            raise ValueError(msg)
        part = known[:, done:origin]
        weight = np.ones(origin - done)
        if half_life_h is not None:
            sums *= 0.5 ** ((origin - done) / half_life_h)
            counts *= 0.5 ** ((origin - done) / half_life_h)
            weight = 0.5 ** ((origin - np.arange(done, origin)) / half_life_h)
        np.add.at(sums.T, slot[done:origin], (np.where(part, y[:, done:origin], 0.0) * weight).T)
        np.add.at(counts.T, slot[done:origin], (part * weight).T)
        done = origin
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = sums / counts
    return out


def week_ratio(y: FloatArray) -> FloatArray:
    """Each hour's value divided by the mean of the (known) 168 hours before it; NaN in the first
    week, for unknown hours, and where the week before had no demand."""
    out = np.full(y.shape, np.nan)
    week = _cummean(y, np.arange(WEEK_H, y.shape[1]), WEEK_H)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, WEEK_H:] = np.where(week > 0, y[:, WEEK_H:] / week, np.nan)
    return out


def _at_target_slot(slots: FloatArray, slot_of_target: IntArray) -> FloatArray:
    """``slots`` (series, origins, 168) read at each row's target slot (origins, horizon)."""
    index = np.broadcast_to(slot_of_target, (slots.shape[0], *slot_of_target.shape))
    return np.take_along_axis(slots, index, axis=2)


@dataclass(frozen=True, slots=True)
class Design:
    """Rows for every (series, origin, k): ``x[s, j, k, :]`` and the target ``y[s, j, k]``
    (NaN where the target lies beyond the data)."""

    origins: IntArray
    x: FloatArray  # (series, origins, horizon, columns)
    y: FloatArray  # (series, origins, horizon)

    def flat(self) -> tuple[FloatArray, FloatArray]:
        return self.x.reshape(-1, self.x.shape[-1]), self.y.reshape(-1)


def design(
    y: FloatArray, ports: FloatArray, calendar: Calendar, origins: IntArray, horizon_h: int
) -> Design:
    """Feature rows for ``origins`` (increasing, each >= :data:`MIN_HISTORY_H`)."""
    if len(origins) and origins.min() < MIN_HISTORY_H:
        msg = f"an origin needs {MIN_HISTORY_H} hours of history"
        raise LeakageError(msg)
    if horizon_h > WEEK_H:
        msg = f"horizon {horizon_h} h is beyond one week: lag 168 would be unobserved"
        raise ValueError(msg)
    n_series, n_hours = y.shape
    k = np.arange(horizon_h)
    o = origins[:, None] + np.zeros_like(k)[None, :]  # (origins, horizon)
    target = o + k[None, :]
    days_back = np.array([math.ceil((kk + 1) / DAY_H) for kk in k]) * DAY_H
    inside = np.minimum(target, n_hours - 1)
    cols: dict[str, FloatArray] = {}

    def lag(index: IntArray) -> FloatArray:
        return _gather(y, index, o)

    cal = {
        "hour": calendar.hour,
        "weekday": calendar.weekday,
        "month": calendar.month,
        "holiday": calendar.holiday,
    }
    for name, values in cal.items():
        cols[name] = np.broadcast_to(values[inside], (n_series, *o.shape)).astype(float)
    cols["k"] = np.broadcast_to(k.astype(float), (n_series, *o.shape))
    cols["series"] = np.broadcast_to(
        np.arange(n_series, dtype=float)[:, None, None], (n_series, *o.shape)
    )
    cols["ports"] = np.broadcast_to(ports[:, origins][:, :, None], (n_series, *o.shape))
    for j in (1, 2, 3):
        cols[f"lag_{j}"] = lag(o - j)
    cols["lag_day"] = lag(target - days_back)
    cols["lag_day2"] = lag(target - days_back - DAY_H)
    cols["lag_week"] = lag(target - WEEK_H)
    cols["lag_week2"] = lag(target - 2 * WEEK_H)
    for window in (DAY_H, 3 * DAY_H, WEEK_H, MIN_HISTORY_H):
        cols[f"mean_{window}h"] = np.broadcast_to(
            _cummean(y, origins, window)[:, :, None], (n_series, *o.shape)
        )
    cols["week_mean_4"] = _nanmean([lag(target - w * WEEK_H) for w in range(1, 5)])
    cols["day_mean_7"] = _nanmean([lag(target - days_back - d * DAY_H) for d in range(7)])
    cols["ewm_day"] = _nanmean([lag(target - days_back - d * DAY_H) for d in range(14)], 0.7)
    cols["ewm_week"] = _nanmean([lag(target - w * WEEK_H) for w in range(1, 5)], 0.5)
    slot_of_target = calendar.slot[inside]  # (origins, horizon)
    cols["slot_mean"] = _at_target_slot(slot_means(y, calendar.slot, origins), slot_of_target)
    shares = slot_means(week_ratio(y), calendar.slot, origins, SHARE_HALF_LIFE_H)
    cols["slot_share"] = _at_target_slot(shares, slot_of_target)
    x = np.stack([cols[c] for c in COLUMNS], axis=-1)
    truth = np.where(target < n_hours, y[:, inside], np.nan)
    return Design(origins, x, truth)
