"""City scenarios from real sessions: the estate, arrivals (replayed or fitted), before/after.

* :func:`estate` — one :class:`~models.simulate.engine.Site` per located site: one connector per
  port seen in the sessions, at the port's rating (sites without coordinates are left out and
  named in ``unlocated``).
* :func:`replayed` — every real session as an arrival at its own site, keeping its energy and
  plug-in time (``dwell_s``): the estate as it was used.
* :func:`fitted` — a non-homogeneous Poisson process per site whose rate for each local
  weekday × hour is the observed plug-ins in that slot per week (times ``scale``, for growth);
  each arrival draws energy, plug-in time and power limit from a real session of that site, and
  starts ``spread_km`` (Gaussian, per axis; default :data:`DEMAND_SPREAD_KM`) around it — the
  spread of the observed demand the siting model optimises — so a new site nearby can win it.
* :func:`city_demand` — the estate and its fitted arrivals: one scenario for ``chargegrid
  simulate city`` and the siting check (:mod:`models.siting.evaluate`), so both simulate the
  same drivers from the same places.
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
from models.simulate.engine import Arrivals, Choice, FloatArray, Site, simulate
from models.simulate.metrics import SiteMetrics, site_metrics

KM_PER_DEG_LAT = 111.32
WEEK_S = 7 * 86_400.0
DEMAND_SPREAD_KM = 1.5  # Gaussian width of demand around a site: siting grid and drivers' origins


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


def _arrivals(columns: FloatArray, patience_s: float) -> Arrivals:
    """Arrivals from rows time, lat, lon, energy (Wh), power limit (W), plug-in time (s)."""
    t, lat, lon, energy_wh, power_w, dwell_s = columns[:, np.argsort(columns[0], kind="stable")]
    return Arrivals(t, lat, lon, energy_wh, power_w, dwell_s, np.full(len(t), patience_s))


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
    return _arrivals(np.array(rows, dtype=float).reshape(-1, 6).T, patience_s)


def fitted(
    loaded: Loaded,
    sites: tuple[Site, ...],
    days: int,
    *,
    scale: float = 1.0,
    patience_s: float = 1800.0,
    spread_km: float = DEMAND_SPREAD_KM,
    seed: int = 0,
) -> Arrivals:
    """``days`` of arrivals drawn from per-site weekday×hour Poisson rates (see module doc),
    origins drawn by :func:`scatter` ``spread_km`` around the site.

    Time 0 is a local Monday 00:00; rates use the whole history of each site.
    """
    if days <= 0 or scale <= 0:
        msg = "--days and --scale must be positive"
        raise ScenarioInputError(msg)
    if spread_km < 0:
        msg = f"the origins' spread must be >= 0 km, got {spread_km}"
        raise ScenarioInputError(msg)
    rng = np.random.default_rng(seed)
    by_site: dict[str, list[Session]] = defaultdict(list)
    for s in loaded.sessions:
        by_site[s.site].append(s)
    columns = []
    for site in sites:
        history = by_site[site.site_id]
        local = pd.DatetimeIndex([s.start for s in history]).tz_convert(loaded.time_zone)
        slot = local.day_of_week.to_numpy() * 24 + local.hour.to_numpy()
        weeks = max((history[-1].start - history[0].start).total_seconds() / WEEK_S, 1.0)
        rate_per_h = np.bincount(slot, minlength=168) / weeks * scale
        hour = np.repeat(np.arange(days * 24), rng.poisson(np.resize(rate_per_h, days * 24)))
        t = rng.uniform(hour * 3600.0, (hour + 1) * 3600.0)
        pick = [history[i] for i in rng.integers(len(history), size=len(t))]
        lat, lon = scatter(np.full(len(t), site.lat), np.full(len(t), site.lon), spread_km, rng)
        columns.append(
            np.array(
                [
                    t,
                    lat,
                    lon,
                    [float(p.energy_wh) for p in pick],
                    [_vehicle_power_w(p) for p in pick],
                    [p.plugged_s for p in pick],
                ]
            ).reshape(6, -1)
        )
    return _arrivals(np.concatenate(columns, axis=1), patience_s)


def scatter(
    lat: FloatArray, lon: FloatArray, spread_km: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Drivers' origins: one point per ``(lat, lon)``, drawn from a Gaussian of ``spread_km`` km
    per axis around it — the kernel the siting model spreads each site's observed demand with
    (:func:`models.siting.demand.spread`), so simulated drivers come from where the demand map
    says they do."""
    dlat, dlon = rng.normal(0.0, spread_km, (2, len(lat)))
    return (
        lat + dlat / KM_PER_DEG_LAT,
        lon + dlon / (KM_PER_DEG_LAT * np.cos(np.radians(lat))),
    )


def city_demand(
    loaded: Loaded,
    days: int,
    *,
    scale: float = 1.0,
    patience_s: float = 1800.0,
    spread_km: float = DEMAND_SPREAD_KM,
    seed: int = 0,
) -> tuple[Estate, Arrivals]:
    """The located estate of ``loaded`` and ``days`` of :func:`fitted` arrivals on it: what
    ``chargegrid simulate city`` and the siting check (:mod:`models.siting.evaluate`) both
    simulate."""
    real = estate(loaded)
    arrivals = fitted(
        loaded, real.sites, days, scale=scale, patience_s=patience_s, spread_km=spread_km,
        seed=seed,
    )  # fmt: skip
    return real, arrivals


def demand_text(scale: float, spread_km: float, days: int) -> str:
    """How :func:`city_demand`'s arrivals were made, for a report's heading."""
    return (
        f"arrivals fitted per site and weekday x hour at {scale:g}x observed, origins "
        f"{spread_km:g} km around the site used (the demand spread), {days} days simulated"
    )


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
