"""City scenarios from real sessions: the estate, arrivals (replayed or fitted), before/after.

* :func:`estate` — one :class:`~models.simulate.engine.Site` per located site: one connector per
  port seen in the sessions, at the port's rating (sites without coordinates are left out and
  named in ``unlocated``).
* :func:`replayed` — every real session as an arrival at its own site, keeping its energy and
  plug-in time (``dwell_s``): the estate as it was used.
* :func:`fitted` — a non-homogeneous Poisson process per site whose rate for each local
  weekday × hour is the observed plug-ins in that slot per week (times ``scale``, for growth);
  each arrival draws energy, plug-in time and power limit from a real session of that site, and
  stands ``jitter_km`` (Gaussian, per axis) around it, so a new site nearby can win it.
* :func:`compare` — the same arrivals on two estates (before / after a siting proposal).

Vehicles on AC posts take at most 7.4 kW (:data:`models.forecast.sessions.AC_VEHICLE_W`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from chargegrid.errors import ChargegridError
from models.forecast.sessions import AC_VEHICLE_W, Loaded, Session
from models.simulate.engine import Arrivals, Choice, Site, simulate
from models.simulate.metrics import SiteMetrics, site_metrics

KM_PER_DEG_LAT = 111.32
WEEK_S = 7 * 86_400.0


class ScenarioInputError(ChargegridError):
    """A scenario cannot be built from the given sessions or options."""


@dataclass(frozen=True, slots=True)
class Estate:
    sites: tuple[Site, ...]
    unlocated: tuple[str, ...]


def _vehicle_power_w(session: Session) -> float:
    if session.current == "AC":
        return min(session.rated_power_w, AC_VEHICLE_W)
    return session.rated_power_w


def estate(loaded: Loaded) -> Estate:
    """Sites with coordinates, each with one connector per port seen (at the port's rating)."""
    ports: dict[str, dict[str, float]] = defaultdict(dict)
    for s in loaded.sessions:
        ports[s.site][s.port] = max(ports[s.site].get(s.port, 0.0), s.rated_power_w)
    sites, unlocated = [], []
    for name in sorted(ports):
        if name not in loaded.locations:
            unlocated.append(name)
            continue
        lat, lon = loaded.locations[name]
        sites.append(Site(name, lat, lon, tuple(sorted(ports[name].values(), reverse=True))))
    if not sites:
        msg = f"no {loaded.source} site has coordinates: put the locations file beside the export"
        raise ScenarioInputError(msg)
    return Estate(tuple(sites), tuple(unlocated))


def _columns(
    rows: list[tuple[float, float, float, float, float, float]], patience_s: float
) -> Arrivals:
    rows.sort(key=lambda r: r[0])
    cols = np.array(rows, dtype=float).reshape(-1, 6).T
    return Arrivals(
        cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], np.full(len(rows), patience_s)
    )


def replayed(
    loaded: Loaded, sites: tuple[Site, ...], since: datetime, until: datetime, patience_s: float
) -> Arrivals:
    """Real sessions starting in ``[since, until)`` at located sites; seconds from ``since``."""
    where = {s.site_id: (s.lat, s.lon) for s in sites}
    rows = [
        (
            (s.start - since).total_seconds(),
            *where[s.site],
            float(s.energy_wh),
            _vehicle_power_w(s),
            s.plugged_s,
        )
        for s in loaded.sessions
        if s.site in where and since <= s.start < until
    ]
    return _columns(rows, patience_s)


def fitted(
    loaded: Loaded,
    sites: tuple[Site, ...],
    days: int,
    *,
    scale: float = 1.0,
    patience_s: float = 1800.0,
    jitter_km: float = 0.5,
    seed: int = 0,
) -> Arrivals:
    """``days`` of arrivals drawn from per-site weekday×hour Poisson rates (see module doc).

    Time 0 is a local Monday 00:00; rates use the whole history of each site.
    """
    if days <= 0 or scale <= 0:
        msg = "--days and --scale must be positive"
        raise ScenarioInputError(msg)
    rng = np.random.default_rng(seed)
    by_site: dict[str, list[Session]] = defaultdict(list)
    for s in loaded.sessions:
        by_site[s.site].append(s)
    rows: list[tuple[float, float, float, float, float, float]] = []
    for site in sites:
        history = by_site[site.site_id]
        local = pd.DatetimeIndex([s.start for s in history]).tz_convert(loaded.time_zone)
        slot = local.day_of_week.to_numpy() * 24 + local.hour.to_numpy()
        weeks = max((history[-1].start - history[0].start).total_seconds() / WEEK_S, 1.0)
        rate_per_h = np.bincount(slot, minlength=168) / weeks * scale
        for hour in range(days * 24):
            count = rng.poisson(rate_per_h[hour % 168])
            for t in rng.uniform(hour * 3600.0, (hour + 1) * 3600.0, count):
                pick = history[rng.integers(len(history))]
                dlat, dlon = rng.normal(0.0, jitter_km, 2)
                lon_km = KM_PER_DEG_LAT * np.cos(np.radians(site.lat))
                rows.append(
                    (
                        float(t),
                        site.lat + dlat / KM_PER_DEG_LAT,
                        site.lon + dlon / lon_km,
                        float(pick.energy_wh),
                        _vehicle_power_w(pick),
                        pick.plugged_s,
                    )
                )
    return _columns(rows, patience_s)


def compare(
    before: tuple[Site, ...],
    after: tuple[Site, ...],
    arrivals: Arrivals,
    choice: Choice,
    horizon_s: float | None = None,
) -> tuple[list[SiteMetrics], list[SiteMetrics]]:
    """Per-site metrics (last row ``all``) of the same arrivals on two estates."""
    return tuple(  # type: ignore[return-value]
        site_metrics(simulate(sites, arrivals, choice), 0.0, horizon_s) for sites in (before, after)
    )


def metrics_table(rows: list[SiteMetrics], title: str) -> str:
    head = (
        f"{'site':<36}{'conn':>5}{'arrive':>8}{'served':>8}{'util':>7}{'wait min':>9}"
        f"{'P90 min':>8}{'abandon':>8}{'dem/sup':>8}"
    )
    lines = [title, head, "-" * len(head)]
    for m in rows:
        lines.append(
            f"{m.site_id[:35]:<36}{m.connectors:>5}{m.arrivals:>8}{m.served:>8}"
            f"{m.utilisation:>7.1%}{m.mean_wait_s / 60:>9.1f}{m.p90_wait_s / 60:>8.1f}"
            f"{m.abandonment:>8.1%}{m.demand_supply:>8.2f}"
        )
    return "\n".join(lines)
