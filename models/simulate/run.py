"""``chargegrid simulate``: the M/M/c check and city what-ifs, as printable reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chargegrid.errors import ChargegridError
from models.forecast.sessions import SourceName, load
from models.simulate import erlang
from models.simulate.engine import Arrivals, Choice, Site, simulate
from models.simulate.scenario import compare, estate, fitted, metrics_table


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
    jitter_km: float = 0.5
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


def city_report(source: SourceName, paths: Iterable[Path], options: CityOptions) -> str:
    """Per-site metrics of ``days`` of fitted arrivals on the real estate (and with new sites)."""
    loaded = load(source, paths)
    real = estate(loaded)
    arrivals = fitted(
        loaded, real.sites, options.days, scale=options.scale,
        patience_s=options.patience_min * 60.0, jitter_km=options.jitter_km, seed=options.seed,
    )  # fmt: skip
    choice = Choice(max_detour_km=options.detour_km)
    after_sites = real.sites + options.new_sites
    before, after = compare(real.sites, after_sites, arrivals, choice, options.days * 86_400.0)
    head = (
        f"{source}: {len(arrivals)} fitted arrivals over {options.days} days at {options.scale:g}x "
        f"observed demand, patience {options.patience_min:g} min, "
        f"detour <= {options.detour_km:g} km"
    )
    if real.unlocated:
        head += f"\n(left out, no coordinates: {'; '.join(real.unlocated)})"
    parts = [head, metrics_table(before, "before")]
    if options.new_sites:
        parts.append(
            metrics_table(after, "after adding " + ", ".join(s.site_id for s in options.new_sites))
        )
    return "\n\n".join(parts)
