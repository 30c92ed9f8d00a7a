"""Erlang-C: the exact M/M/c queue the simulator must reproduce.

Poisson arrivals at rate ``lam`` (1/s), exponential service at rate ``mu`` (1/s) per server,
``c`` servers, infinite patience and queue. Offered load ``a = lam / mu`` (erlangs); stable iff
``a < c``.
"""

from __future__ import annotations

import math

from chargegrid.errors import ChargegridError


class UnstableQueueError(ChargegridError):
    """Offered load reaches the number of servers: the queue grows without bound."""


def _check(lam: float, mu: float, c: int) -> float:
    if lam <= 0 or mu <= 0 or c < 1:
        msg = f"need lam > 0, mu > 0 and c >= 1 (got lam={lam}, mu={mu}, c={c})"
        raise ChargegridError(msg)
    load = lam / mu
    if load >= c:
        msg = f"offered load {load:.3g} erlangs >= {c} servers: no steady state"
        raise UnstableQueueError(msg)
    return load


def erlang_c(c: int, load: float) -> float:
    """Probability that an arrival waits, for ``c`` servers and offered ``load`` < c erlangs.

    Uses the Erlang-B recursion ``B(k) = a B(k-1) / (k + a B(k-1))`` (stable for large c) and
    ``C = B / (1 - rho (1 - B))`` with ``rho = a / c``.
    """
    blocking = 1.0
    for k in range(1, c + 1):
        blocking = load * blocking / (k + load * blocking)
    rho = load / c
    return blocking / (1.0 - rho * (1.0 - blocking))


def mmc_mean_wait_s(lam: float, mu: float, c: int) -> float:
    """Mean time in queue ``Wq = C(c, a) / (c mu - lam)`` in seconds (rates in 1/s)."""
    load = _check(lam, mu, c)
    return erlang_c(c, load) / (c * mu - lam)


def mmc_utilisation(lam: float, mu: float, c: int) -> float:
    """Fraction of server time busy, ``lam / (c mu)``."""
    return _check(lam, mu, c) / c


def mm1_mean_wait_s(lam: float, mu: float) -> float:
    """Closed form for one server, ``rho / (mu - lam)``: a cross-check of :func:`erlang_c`."""
    rho = _check(lam, mu, 1)
    return rho / (mu - lam)


def mmc_wait_quantile_s(lam: float, mu: float, c: int, q: float) -> float:
    """The ``q`` quantile of the wait: ``P(W > t) = C exp(-(c mu - lam) t)``; 0 if ``C <= 1-q``."""
    load = _check(lam, mu, c)
    p_wait = erlang_c(c, load)
    if p_wait <= 1.0 - q:
        return 0.0
    return math.log(p_wait / (1.0 - q)) / (c * mu - lam)
