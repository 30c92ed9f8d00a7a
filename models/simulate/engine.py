"""Discrete-event simulation of vehicles arriving, choosing a site, queueing and charging.

A heap of timed events (plug-out, give-up) merged with the time-ordered arrivals; one pass, no
time steps. The model, per vehicle (columns of :class:`Arrivals`):

* **Choice.** Candidate sites are those within ``max_detour_km`` of the vehicle (great-circle
  distance), nearest first; if none is that close, the nearest site alone. The vehicle plugs in
  at the nearest candidate with a free connector (the most powerful free one there). If every
  candidate is full it joins the queue of the nearest candidate whose queue is shorter than
  ``max_queue_per_connector`` × its connectors; if there is none it **balks** (leaves at once).
* **Queue.** First come, first served per site. A queued vehicle that has not plugged in after
  ``patience_s`` **abandons**. Balked and abandoned vehicles both count as abandonment.
* **Charging within power caps.** Power = min(connector rating, vehicle limit, site cap / number
  of connectors): the site cap is shared out statically, so the site never draws more than its
  cap. Plug-in time = max(energy / power, ``dwell_s``) (``dwell_s``: how long the driver stays
  parked anyway), and the whole requested energy is delivered.

Times are seconds from an arbitrary origin, energy Wh, power W. The run is deterministic given
its inputs (ties broken by event order). :func:`simulate` returns per-vehicle outcomes as arrays;
:mod:`models.simulate.metrics` turns them into per-site figures.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chargegrid.errors import ChargegridError

EARTH_RADIUS_KM = 6371.0088
_DEPART, _ABANDON = 0, 1

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class ScenarioError(ChargegridError):
    """A simulation input is inconsistent (no sites, unsorted arrivals, a negative duration)."""


@dataclass(frozen=True, slots=True)
class Site:
    """A charging site: where it is, each connector's rating (W), and an optional site cap (W)."""

    site_id: str
    lat: float
    lon: float
    connector_power_w: tuple[float, ...]
    site_cap_w: float | None = None

    def power_w(self, connector: int) -> float:
        """What connector ``connector`` can give, within the statically shared site cap."""
        rated = self.connector_power_w[connector]
        if self.site_cap_w is None:
            return rated
        return min(rated, self.site_cap_w / len(self.connector_power_w))


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Vehicles as columns, sorted by ``arrival_s``; every array has one entry per vehicle."""

    arrival_s: FloatArray
    lat: FloatArray
    lon: FloatArray
    energy_wh: FloatArray
    max_power_w: FloatArray
    dwell_s: FloatArray
    patience_s: FloatArray

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        columns = (self.lat, self.lon, self.energy_wh, self.max_power_w, self.dwell_s)
        if any(len(col) != n for col in (*columns, self.patience_s)):
            msg = "every arrival column must have one value per vehicle"
            raise ScenarioError(msg)
        if n and np.any(np.diff(self.arrival_s) < 0):
            msg = "arrivals must be sorted by arrival_s"
            raise ScenarioError(msg)
        if np.any(self.energy_wh < 0) or np.any(self.dwell_s < 0) or np.any(self.patience_s < 0):
            msg = "energy_wh, dwell_s and patience_s must be >= 0"
            raise ScenarioError(msg)
        if np.any(self.max_power_w <= 0):
            msg = "max_power_w must be > 0"
            raise ScenarioError(msg)

    def __len__(self) -> int:
        return len(self.arrival_s)


@dataclass(frozen=True, slots=True)
class Choice:
    """How drivers pick a site (see the module docstring)."""

    max_detour_km: float = 2.0
    max_queue_per_connector: float = math.inf


@dataclass(frozen=True, slots=True)
class Outcome:
    """Per-vehicle results, index-aligned with the :class:`Arrivals` (NaN / -1 when not served).

    ``site`` is the site served at, queued at, or (for a balk) the nearest candidate.
    """

    sites: tuple[Site, ...]
    arrivals: Arrivals
    site: IntArray
    start_s: FloatArray
    end_s: FloatArray
    power_w: FloatArray
    abandoned: NDArray[np.bool_]
    balked: NDArray[np.bool_]

    @property
    def served(self) -> NDArray[np.bool_]:
        return ~np.isnan(self.start_s)

    @property
    def wait_s(self) -> FloatArray:
        """Queueing time of served vehicles (NaN for the others)."""
        return self.start_s - self.arrivals.arrival_s


def distances_km(lat: FloatArray, lon: FloatArray, sites: tuple[Site, ...]) -> FloatArray:
    """Great-circle distance (km) from each vehicle (rows) to each site (columns)."""
    site_lat = np.radians([s.lat for s in sites])[None, :]
    site_lon = np.radians([s.lon for s in sites])[None, :]
    vlat, vlon = np.radians(lat)[:, None], np.radians(lon)[:, None]
    h = (
        np.sin((site_lat - vlat) / 2) ** 2
        + np.cos(vlat) * np.cos(site_lat) * np.sin((site_lon - vlon) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def candidates(arrivals: Arrivals, sites: tuple[Site, ...], choice: Choice) -> list[list[int]]:
    """Per vehicle, the site indices it would consider, nearest first."""
    if len(sites) == 1:
        return [[0]] * len(arrivals)
    dist = distances_km(arrivals.lat, arrivals.lon, sites)
    order = np.argsort(dist, axis=1, kind="stable")
    out: list[list[int]] = []
    for row, ranked in zip(dist, order, strict=True):
        near = [int(s) for s in ranked if row[s] <= choice.max_detour_km]
        out.append(near or [int(ranked[0])])
    return out


class _Run:
    """One simulation: per-vehicle result columns, free connectors (most powerful first), FIFO
    queues with a live count of who still waits, and the event heap."""

    def __init__(self, sites: tuple[Site, ...], arrivals: Arrivals, choice: Choice) -> None:
        n = len(arrivals)
        self.sites, self.arrivals, self.choice = sites, arrivals, choice
        self.ranked = candidates(arrivals, sites, choice)
        self.site = np.full(n, -1, dtype=np.int64)
        self.start, self.end, self.power = (np.full(n, np.nan) for _ in range(3))
        self.abandoned, self.balked = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        self.energy = arrivals.energy_wh.tolist()
        self.vmax = arrivals.max_power_w.tolist()
        self.dwell = arrivals.dwell_s.tolist()
        self.patience = arrivals.patience_s.tolist()
        self.free: list[list[tuple[float, int]]] = []
        for site in sites:
            slots = [(-site.power_w(k), k) for k in range(len(site.connector_power_w))]
            heapq.heapify(slots)
            self.free.append(slots)
        self.queue: list[deque[int]] = [deque() for _ in sites]
        self.waiting = [0] * len(sites)
        self.heap: list[tuple[float, int, int, int, int]] = []
        self.seq = 0

    def push(self, time_s: float, kind: int, a: int, b: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (time_s, self.seq, kind, a, b))

    def plug_in(self, i: int, s: int, now: float) -> None:
        _, k = heapq.heappop(self.free[s])
        p = min(self.sites[s].power_w(k), self.vmax[i])
        duration = max(self.energy[i] / p * 3600.0, self.dwell[i])
        self.start[i], self.end[i], self.power[i] = now, now + duration, p
        self.push(now + duration, _DEPART, s, k)

    def arrive(self, i: int, now: float) -> None:
        options = self.ranked[i]
        self.site[i] = options[0]
        for s in options:
            if self.free[s]:
                self.site[i] = s
                self.plug_in(i, s, now)
                return
        for s in options:
            limit = self.choice.max_queue_per_connector * len(self.sites[s].connector_power_w)
            if self.waiting[s] < limit:
                self.site[i] = s
                self.queue[s].append(i)
                self.waiting[s] += 1
                if math.isfinite(self.patience[i]):
                    self.push(now + self.patience[i], _ABANDON, i, s)
                return
        self.balked[i] = self.abandoned[i] = True

    def depart(self, s: int, k: int, now: float) -> None:
        heapq.heappush(self.free[s], (-self.sites[s].power_w(k), k))
        queue = self.queue[s]
        while queue:
            i = queue.popleft()
            if not self.abandoned[i]:
                self.waiting[s] -= 1
                self.plug_in(i, s, now)
                return

    def give_up(self, i: int, s: int) -> None:
        if np.isnan(self.start[i]) and not self.abandoned[i]:
            self.abandoned[i] = True
            self.waiting[s] -= 1

    def run(self) -> Outcome:
        arrival_s = self.arrivals.arrival_s.tolist()
        n, nxt, heap = len(arrival_s), 0, self.heap
        while nxt < n or heap:
            if nxt < n and (not heap or arrival_s[nxt] < heap[0][0]):
                self.arrive(nxt, arrival_s[nxt])
                nxt += 1
                continue
            now, _, kind, a, b = heapq.heappop(heap)
            if kind == _DEPART:
                self.depart(a, b, now)
            else:
                self.give_up(a, b)
        return Outcome(
            self.sites,
            self.arrivals,
            self.site,
            self.start,
            self.end,
            self.power,
            self.abandoned,
            self.balked,
        )


def simulate(sites: tuple[Site, ...], arrivals: Arrivals, choice: Choice | None = None) -> Outcome:
    """Run every arrival to completion (plug-out, abandonment or balk)."""
    if not sites:
        msg = "a simulation needs at least one site"
        raise ScenarioError(msg)
    if any(not s.connector_power_w for s in sites):
        msg = "every site needs at least one connector"
        raise ScenarioError(msg)
    return _Run(sites, arrivals, choice or Choice()).run()
