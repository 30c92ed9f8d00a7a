"""Forecast error measures. ``y`` and forecasts are arrays of one shape; NaN targets are ignored.

* MAE, RMSE; WAPE = sum |error| / sum |y|;
* MASE = MAE / ``scale``, with ``scale`` the in-sample MAE of the seasonal naive (lag 168) over
  the training hours before the first test origin (Hyndman & Koehler 2006, m = 168);
* pinball loss of quantile ``q``: mean of ``max(q (y - f), (q - 1)(y - f))``;
* coverage: share of targets inside ``[lower, upper]``.
"""

from __future__ import annotations

import numpy as np

from models.forecast.features import WEEK_H, FloatArray


def _known(y: FloatArray, f: FloatArray) -> tuple[FloatArray, FloatArray]:
    keep = ~np.isnan(y)
    return y[keep], f[keep]


def mae(y: FloatArray, f: FloatArray) -> float:
    yk, fk = _known(y, f)
    return float(np.mean(np.abs(yk - fk)))


def rmse(y: FloatArray, f: FloatArray) -> float:
    yk, fk = _known(y, f)
    return float(np.sqrt(np.mean((yk - fk) ** 2)))


def wape(y: FloatArray, f: FloatArray) -> float:
    yk, fk = _known(y, f)
    return float(np.sum(np.abs(yk - fk)) / max(float(np.sum(np.abs(yk))), 1e-12))


def pinball(y: FloatArray, f: FloatArray, q: float) -> float:
    yk, fk = _known(y, f)
    diff = yk - fk
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def coverage(y: FloatArray, lower: FloatArray, upper: FloatArray) -> float:
    keep = ~np.isnan(y)
    inside = (y[keep] >= lower[keep]) & (y[keep] <= upper[keep])
    return float(np.mean(inside))


def seasonal_scale(y: FloatArray, period_h: int = WEEK_H) -> float:
    """In-sample MAE of the seasonal naive with period ``period_h`` over the history ``y``
    (pairs with an unknown hour left out)."""
    if len(y) <= period_h:
        return float("nan")
    errors = np.abs(y[period_h:] - y[:-period_h])
    errors = errors[~np.isnan(errors)]
    return float(np.mean(errors)) if len(errors) else float("nan")
