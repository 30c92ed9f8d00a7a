"""``chargegrid simulate``: the M/M/c check and city what-ifs, as printable reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chargegrid.errors import ChargegridError
from models.forecast.sessions import Loaded, SourceName, load
from models.simulate import erlang
from models.simulate.engine import Arrivals, Choice, Site, simulate
from models.simulate.metrics import SiteMetrics
from models.simulate.scenario import (
    DEMAND_SPREAD_KM,
    Estate,
    city_demand,
    compare,
    demand_text,
    metrics_table,
)


def mmc_arrivals(lam: float, mu: float, customers: int, seed: int) -> Arrivals:
    """Poisson arrivals (rate ``lam`` 1/s), exponential plug-in times (rate ``mu`` 1/s)."""
    rng = np.random.default_rng(seed)
    zero = np.zeros(customers)
    return Arrivals(
        np.cumsum(rng.exponential(1 / lam, customers)), zero, zero, zero, np.ones(customers),
        rng.exponential(1 / mu, customers), np.full(customers, np.inf),
    )  # fmt: skip


def mmc_report(lam: float, mu: float, c: int, customers: int, seed: int) -> str:
    """Simulated vs Erlang-C mean and P90 wait and utilisation (first 10 % of customers dropped)."""
    if customers < 100:
        msg = "--customers must be at least 100"
        raise ChargegridError(msg)
    expected = erlang.mmc_mean_wait_s(lam, mu, c)
    outcome = simulate((Site("mmc", 0.0, 0.0, (1.0,) * c),), mmc_arrivals(lam, mu, customers, seed))
    wait = outcome.wait_s[customers // 10 :]
    busy = np.nansum(outcome.end_s - outcome.start_s) / (c * float(np.nanmax(outcome.end_s)))
    rows = [
        ("mean wait (s)", float(wait.mean()), expected),
        (
            "P90 wait (s)",
            float(np.quantile(wait, 0.9)),
            erlang.mmc_wait_quantile_s(lam, mu, c, 0.9),
        ),
        ("P(wait > 0)", float(np.mean(wait > 0)), erlang.erlang_c(c, lam / mu)),
        ("utilisation", busy, erlang.mmc_utilisation(lam, mu, c)),
    ]
    lines = [
        f"M/M/{c}: lam={lam:g}/s mu={mu:g}/s load={lam / mu:.3g} erlangs, {customers} customers",
        f"{'':<16}{'simulated':>12}{'Erlang-C':>12}{'error':>9}",
    ]
    for name, sim, exact in rows:
        err = (sim / exact - 1) if exact else 0.0
        lines.append(f"{name:<16}{sim:>12.4g}{exact:>12.4g}{err:>9.2%}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class CityOptions:
    days: int = 28
    scale: float = 1.0
    patience_min: float = 30.0
    detour_km: float = 2.0
    spread_km: float = DEMAND_SPREAD_KM  # drivers' origins around the site used (scenario doc)
    seed: int = 0
    new_sites: tuple[Site, ...] = ()


def parse_site(text: str) -> Site:
    """``NAME:LAT:LON:CONNECTORS:KW`` → a new site of identical connectors."""
    parts = text.split(":")
    try:
        name, lat, lon, count, kw = (
            parts[0],
            *map(float, parts[1:3]),
            int(parts[3]),
            float(parts[4]),
        )
    except (IndexError, ValueError) as exc:
        msg = f"--add-site {text!r}: expected NAME:LAT:LON:CONNECTORS:KW ({exc})"
        raise ChargegridError(msg) from exc
    if count < 1 or kw <= 0:
        msg = f"--add-site {text!r}: needs at least one connector and positive kW"
        raise ChargegridError(msg)
    return Site(name, lat, lon, (kw * 1000.0,) * count)


@dataclass(frozen=True, slots=True)
class CityRun:
    """One ``simulate city`` run: the estate, the drivers and per-site metrics before/after."""

    source: str
    options: CityOptions
    estate: Estate
    arrivals: Arrivals
    before: list[SiteMetrics]
    after: list[SiteMetrics]

    def text(self) -> str:
        o = self.options
        head = (
            f"{self.source}: {len(self.arrivals)} {demand_text(o.scale, o.spread_km, o.days)}; "
            f"patience {o.patience_min:g} min, detour <= {o.detour_km:g} km"
        )
        if self.estate.unlocated:
            head += f"\n(left out, no coordinates: {'; '.join(self.estate.unlocated)})"
        parts = [head, metrics_table(self.before, "before")]
        if o.new_sites:
            added = ", ".join(s.site_id for s in o.new_sites)
            parts.append(metrics_table(self.after, f"after adding {added}"))
        return "\n\n".join(parts)


def simulate_city(loaded: Loaded, options: CityOptions) -> CityRun:
    """Fitted arrivals on the real estate, before and after ``options.new_sites``: the scenario
    of the siting check (:func:`~models.simulate.scenario.city_demand`), drivers starting from
    the observed demand spread around the site they used."""
    real, arrivals = city_demand(
        loaded, options.days, scale=options.scale, patience_s=options.patience_min * 60.0,
        spread_km=options.spread_km, seed=options.seed,
    )  # fmt: skip
    choice = Choice(max_detour_km=options.detour_km)
    after_sites = real.sites + options.new_sites
    before, after = compare(real.sites, after_sites, arrivals, choice, options.days * 86_400.0)
    return CityRun(loaded.source, options, real, arrivals, before, after)


def city_report(source: SourceName, paths: Iterable[Path], options: CityOptions) -> str:
    """Per-site metrics of ``days`` of fitted arrivals on the real estate (and with new sites)."""
    return simulate_city(load(source, paths), options).text()
