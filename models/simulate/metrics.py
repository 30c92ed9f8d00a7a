"""Per-site figures from a simulation :class:`~models.simulate.engine.Outcome`.

Over a window ``[from_s, to_s)`` (default: first arrival to last plug-out), for each site:

* ``utilisation``: connector-seconds plugged in inside the window / (connectors × window);
* ``mean_wait_s``, ``p90_wait_s``: queueing time of vehicles served there that arrived in the
  window (a vehicle that found a free connector waited 0 s);
* ``abandonment``: share of the site's arrivals in the window that gave up or balked;
* ``demand_supply``: connector-seconds the site's arrivals needed (plug-in time at the site's
  best connector) / connector-seconds the site offered. Above 1 the site cannot keep up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from models.simulate.engine import FloatArray, Outcome


@dataclass(frozen=True, slots=True)
class SiteMetrics:
    site_id: str
    connectors: int
    arrivals: int
    served: int
    abandoned: int
    utilisation: float
    mean_wait_s: float
    p90_wait_s: float
    abandonment: float
    demand_supply: float
    energy_wh: float


def _window(outcome: Outcome, from_s: float | None, to_s: float | None) -> tuple[float, float]:
    arrivals = outcome.arrivals.arrival_s
    lo = float(arrivals[0]) if from_s is None and len(arrivals) else (from_s or 0.0)
    ends = outcome.end_s[~np.isnan(outcome.end_s)]
    hi = to_s if to_s is not None else float(max(ends.max(initial=lo), arrivals.max(initial=lo)))
    return lo, max(hi, lo + 1e-9)


def _needed_s(outcome: Outcome) -> FloatArray:
    """Plug-in time each vehicle needs at its site's most powerful connector."""
    best = np.array(
        [max(s.power_w(k) for k in range(len(s.connector_power_w))) for s in outcome.sites]
    )
    arr = outcome.arrivals
    power = np.minimum(best[outcome.site], arr.max_power_w)
    return np.maximum(arr.energy_wh / power * 3600.0, arr.dwell_s)


@dataclass(frozen=True, slots=True)
class _Prepared:
    lo: float
    hi: float
    in_window: NDArray[np.bool_]
    busy_s: FloatArray
    needed_s: FloatArray


def _prepare(outcome: Outcome, from_s: float | None, to_s: float | None) -> _Prepared:
    lo, hi = _window(outcome, from_s, to_s)
    arr = outcome.arrivals.arrival_s
    busy = np.clip(np.minimum(outcome.end_s, hi) - np.maximum(outcome.start_s, lo), 0.0, None)
    return _Prepared(
        lo, hi, (arr >= lo) & (arr < hi), np.where(outcome.served, busy, 0.0), _needed_s(outcome)
    )


def _row(
    outcome: Outcome, prep: _Prepared, here: NDArray[np.bool_], site_id: str, connectors: int
) -> SiteMetrics:
    mine = here & prep.in_window
    done = mine & outcome.served
    gave_up = int((mine & outcome.abandoned).sum())
    supply_s = connectors * (prep.hi - prep.lo)
    wait = outcome.wait_s[done]
    return SiteMetrics(
        site_id=site_id,
        connectors=connectors,
        arrivals=int(mine.sum()),
        served=int(done.sum()),
        abandoned=gave_up,
        utilisation=float(prep.busy_s[here].sum() / supply_s),
        mean_wait_s=float(wait.mean()) if wait.size else 0.0,
        p90_wait_s=float(np.quantile(wait, 0.9)) if wait.size else 0.0,
        abandonment=gave_up / max(int(mine.sum()), 1),
        demand_supply=float(prep.needed_s[mine].sum() / supply_s),
        energy_wh=float(outcome.arrivals.energy_wh[done].sum()),
    )


def site_metrics(
    outcome: Outcome, from_s: float | None = None, to_s: float | None = None
) -> list[SiteMetrics]:
    """One :class:`SiteMetrics` per site, in site order, then one row ``"all"`` for the estate."""
    prep = _prepare(outcome, from_s, to_s)
    rows = [
        _row(outcome, prep, outcome.site == index, site.site_id, len(site.connector_power_w))
        for index, site in enumerate(outcome.sites)
    ]
    everyone = np.ones(len(outcome.arrivals), dtype=bool)
    connectors = sum(len(s.connector_power_w) for s in outcome.sites)
    return [*rows, _row(outcome, prep, everyone, "all", connectors)]
