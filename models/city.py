"""The synthetic city that ``chargegrid demo`` replays: an estate and a day of planned sessions.

Everything is drawn from :class:`CityParams`, statistics derived from real Scottish public
charging sessions by :mod:`models.calibrate` (the data itself is never shipped). The committed
``data/city/params.json`` is also shipped inside the package as ``models/city_params.json`` (the
calibration script writes both, a test checks they are identical), so :func:`load_params` works
from any working directory and from an installed wheel.

Arrivals (:func:`plan_sessions`) are a non-homogeneous Poisson process per connector whose rate
is the calibrated plug-ins per connector per local clock hour (weekday or weekend, in the city's
time zone, DST-correct through ``zoneinfo``). A driver who finds the connector occupied **balks**
(goes elsewhere; nothing is planned): real drivers at a busy public charger rarely queue, and the
calibrated rates are themselves the rates of sessions that found a free connector, so the
generating rate is raised by ``1 / (1 - occupancy)`` for that hour to give back the observed rate.

Every plan is feasible for the simulator: ``energy_wh <= 0.9 x max_power_w x duration`` and the
battery stays at or below 80 % state of charge (below the taper), with ``max_power_w`` the lower of
the connector's rating and the vehicle's on-board (AC) or DC limit.

**Busy demo start.** The simulator refuses plans that plug in before the clock starts, so by
default (``warm_start``) each connector, with probability equal to the calibrated occupancy of that
hour (and at least ``min_active`` connectors overall), gets a vehicle plugging in within the first
two simulated minutes, *mid-charge*: it is the tail of a session whose elapsed part fell inside its
charging phase (the remaining energy still needs full power). At 60x that shows live power within
a few wall seconds. :func:`busy_start` picks the busiest local hour of a day for the demo clock.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chargegrid.errors import ChargegridError
from chargegrid.inventory import Charger, Connector, Inventory, Station
from chargegrid.plans import PlannedSession

ClassName = Literal["slow", "fast", "rapid"]
DayKind = Literal["weekday", "weekend"]

DUNDEE = (56.462, -2.9707)
LONDON = ZoneInfo("Europe/London")
FEASIBLE_POWER_FRACTION = 0.9  # energy <= this x max power x duration
SOC_CEILING_PCT = 80.0  # plans stay below the taper
SOC_FLOOR_PCT = 5.0
WARM_WINDOW_S = 120.0  # warm-start vehicles plug in within this many simulated seconds
MAX_CHARGERS_PER_STATION = 4
KM_PER_DEG_LAT = 111.32
SEGMENT_S = 900  # arrival rates are piecewise constant on UTC quarter hours (any tz offset)


class CityParamsError(ChargegridError):
    """The city parameters file is missing or invalid."""


# ---------------------------------------------------------------- parameters (params.json)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _non_decreasing(values: Sequence[float], what: str) -> None:
    if any(b < a for a, b in itertools.pairwise(values)):
        msg = f"{what} must be non-decreasing"
        raise ValueError(msg)


class DayProfile(_Frozen):
    """One value per local clock hour 0..23, for weekdays and weekend days."""

    weekday: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=24, max_length=24)]
    weekend: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=24, max_length=24)]

    def at(self, kind: DayKind, hour: int) -> float:
        return (self.weekday if kind == "weekday" else self.weekend)[hour]


class Lognormal(_Frozen):
    mu: float
    sigma: Annotated[float, Field(ge=0)]


class DurationParams(_Frozen):
    """Plug-in duration (minutes): overall and per plug-in period, as quantile tables."""

    median: float
    quantiles: list[float]
    by_period: dict[str, list[float]]
    lognormal: Lognormal

    @model_validator(mode="after")
    def _sorted(self) -> DurationParams:
        _non_decreasing(self.quantiles, "duration quantiles")
        for name, table in self.by_period.items():
            _non_decreasing(table, f"duration quantiles ({name})")
        return self


class EnergyByDuration(_Frozen):
    duration_edges_min: list[float]
    energy_quantiles: list[list[float]]

    @model_validator(mode="after")
    def _shape(self) -> EnergyByDuration:
        _non_decreasing(self.duration_edges_min, "duration bin edges")
        if len(self.energy_quantiles) != len(self.duration_edges_min) - 1:
            msg = "one energy quantile table per duration bin"
            raise ValueError(msg)
        for table in self.energy_quantiles:
            _non_decreasing(table, "energy quantiles")
        return self


class EnergyParams(_Frozen):
    """Energy per session (kWh): overall and conditional on the plug-in duration."""

    median: float
    quantiles: list[float]
    lognormal: Lognormal
    by_duration: EnergyByDuration


class ClassParams(_Frozen):
    rated_w: Annotated[float, Field(gt=0)]
    current: Literal["AC", "DC"]
    models: list[str]
    sessions: Annotated[int, Field(gt=0)]
    connector_days: dict[DayKind, int]
    arrivals_per_connector_hour: DayProfile
    occupancy: DayProfile
    duration_min: DurationParams
    energy_kwh: EnergyParams


class FileProvenance(_Frozen):
    file: str
    sha256: str
    rows: int
    kept: int
    excluded: dict[str, int]


class Provenance(_Frozen):
    dataset: str
    publisher: str
    licence: str
    attribution: str
    rows: int
    kept: int
    excluded: dict[str, int]
    first_plug_in_local: str
    last_plug_in_local: str
    files: list[FileProvenance]


class SiteParams(_Frozen):
    sites: int
    charge_points: int
    centroid: tuple[float, float]
    chargers_per_site: dict[str, int]
    radius_km_quantiles: list[float]


class VehicleParams(_Frozen):
    """Authored vehicle mix (kW or kWh → share); the session data has no vehicle fields."""

    source: str
    ac_onboard_kw: dict[str, float]
    dc_max_kw: dict[str, float]
    battery_kwh: dict[str, float]


class CityParams(_Frozen):
    schema_version: Literal[1]
    generated_by: str
    quantile_knots: list[float]
    duration_periods: dict[str, tuple[int, int]]
    rules: dict[str, str]
    provenance: list[Provenance]
    sessions_used: int
    classes: dict[ClassName, ClassParams]
    connectors_per_charger: dict[ClassName, dict[str, int]]
    class_mix: dict[str, dict[ClassName, float]]
    sites: SiteParams
    vehicles: VehicleParams

    @model_validator(mode="after")
    def _consistent(self) -> CityParams:
        knots = self.quantile_knots
        if knots[0] != 0.0 or knots[-1] != 1.0:
            msg = "quantile_knots must run from 0 to 1"
            raise ValueError(msg)
        _non_decreasing(knots, "quantile_knots")
        tables = [self.sites.radius_km_quantiles]
        for cls in self.classes.values():
            tables += [cls.duration_min.quantiles, cls.energy_kwh.quantiles]
            tables += list(cls.duration_min.by_period.values())
            tables += cls.energy_kwh.by_duration.energy_quantiles
        if any(len(t) != len(knots) for t in tables):
            msg = "every quantile table needs one value per quantile knot"
            raise ValueError(msg)
        return self


def load_params(path: Path | None = None) -> CityParams:
    """The city parameters at ``path``; by default the calibrated set shipped with the package."""
    try:
        if path is None:
            raw = resources.files("models").joinpath("city_params.json").read_bytes()
        else:
            raw = path.read_bytes()
        return CityParams.model_validate_json(raw)
    except (OSError, ValidationError) as exc:
        where = path or "models/city_params.json"
        msg = f"{where}: cannot load city parameters: {exc}"
        raise CityParamsError(msg) from exc


# ---------------------------------------------------------------- sampling helpers


def _inverse_cdf(knots: Sequence[float], values: Sequence[float], u: float) -> float:
    """Piecewise-linear inverse CDF through an empirical quantile table."""
    return float(np.interp(u, knots, values))


def _choice(rng: np.random.Generator, shares: dict[str, float]) -> str:
    keys = sorted(shares, key=float)
    weights = np.array([shares[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


def class_of(connector: Connector) -> ClassName:
    """The calibrated class whose behaviour a connector follows (DC → rapid, ≥ 15 kW AC → fast)."""
    if connector.current == "DC":
        return "rapid"
    return "fast" if connector.max_power_w >= 15_000 else "slow"


# ---------------------------------------------------------------- the estate

_AREAS = (
    "Lochee", "Broughty Ferry", "Perth Road", "Nethergate", "Stobswell", "Hilltown",
    "Menzieshill", "Douglas", "Whitfield", "Ardler", "Fintry", "Camperdown", "Riverside",
    "Seagate", "Dock Street", "Kingsway", "Charleston", "Craigiebank", "West End", "City Quay",
    "Invergowrie", "Monifieth", "Barnhill", "Downfield", "Claypotts", "Mid Craigie",
)  # fmt: skip
_KINDS = (
    "Car Park", "Charging Hub", "Park & Ride", "Retail Park", "Leisure Centre",
    "Community Centre", "Library", "Multi-Storey",
)  # fmt: skip
_STANDARDS: dict[ClassName, tuple[str, ...]] = {
    "slow": ("IEC_62196_T2",),
    "fast": ("IEC_62196_T2",),
    "rapid": ("IEC_62196_T2_COMBO", "CHADEMO"),
}


def _station_names(rng: np.random.Generator, count: int) -> list[str]:
    combos = [f"{area} {kind}" for area in _AREAS for kind in _KINDS]
    order = rng.permutation(len(combos))
    return [
        combos[order[i % len(combos)]] + (f" {i // len(combos) + 1}" if i >= len(combos) else "")
        for i in range(count)
    ]


def _place(
    rng: np.random.Generator, params: CityParams, centre: tuple[float, float]
) -> tuple[float, float]:
    radius_km = _inverse_cdf(params.quantile_knots, params.sites.radius_km_quantiles, rng.random())
    bearing = rng.uniform(0.0, 2.0 * math.pi)
    lat = centre[0] + radius_km * math.cos(bearing) / KM_PER_DEG_LAT
    lon = centre[1] + radius_km * math.sin(bearing) / (
        KM_PER_DEG_LAT * math.cos(math.radians(centre[0]))
    )
    return round(lat, 6), round(lon, 6)


def _chargers_per_station(params: CityParams) -> dict[str, float]:
    """Calibrated chargers-per-site shares, sites larger than 4 folded into 4."""
    shares: dict[str, float] = {}
    for n, sites in params.sites.chargers_per_site.items():
        key = str(min(int(n), MAX_CHARGERS_PER_STATION))
        shares[key] = shares.get(key, 0.0) + sites
    return shares


def _charger(
    rng: np.random.Generator, params: CityParams, cls: ClassName, station_id: str, n: int
) -> Charger:
    spec = params.classes[cls]
    count = int(_choice(rng, {k: float(v) for k, v in params.connectors_per_charger[cls].items()}))
    standards = _STANDARDS[cls]
    connectors = tuple(
        Connector(
            connector_id=i + 1,
            standard=standards[i % len(standards)],
            current=spec.current,
            max_power_w=spec.rated_w,
        )
        for i in range(count)
    )
    model = f"chargegrid {cls} {spec.rated_w / 1000:g} kW {spec.current}"
    return Charger(
        charger_id=f"CG-{station_id}-{n}", station_id=station_id, model=model, connectors=connectors
    )


def build_city(
    params: CityParams,
    *,
    stations: int,
    seed: int,
    centre: tuple[float, float] = DUNDEE,
    mix: str = "dundee",
) -> Inventory:
    """``stations`` stations scattered around ``centre`` like Dundee's sites around theirs.

    Each station gets 1–4 chargers (the calibrated chargers-per-site shares), each charger a class
    from ``params.class_mix[mix]`` and that class's connector count and rating. Ids: stations
    ``S001``…, chargers ``CG-S001-1``…; the same seed always gives the same city.
    """
    if stations < 1:
        msg = f"a city needs at least one station, not {stations}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    names = _station_names(rng, stations)
    per_station = _chargers_per_station(params)
    mix_shares: dict[str, float] = {k: v for k, v in params.class_mix[mix].items()}
    built_stations: list[Station] = []
    chargers: list[Charger] = []
    for i in range(stations):
        station_id = f"S{i + 1:03d}"
        lat, lon = _place(rng, params, centre)
        built_stations.append(Station(station_id=station_id, name=names[i], lat=lat, lon=lon))
        for n in range(1, int(_choice(rng, per_station)) + 1):
            cls: ClassName = _class_choice(rng, mix_shares)
            chargers.append(_charger(rng, params, cls, station_id, n))
    return Inventory(stations=tuple(built_stations), chargers=tuple(chargers))


def _class_choice(rng: np.random.Generator, shares: dict[str, float]) -> ClassName:
    keys: list[ClassName] = ["slow", "fast", "rapid"]
    weights = np.array([shares.get(k, 0.0) for k in keys])
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


# ---------------------------------------------------------------- sessions


def _day_kind(local: datetime) -> DayKind:
    return "weekend" if local.weekday() >= 5 else "weekday"


def _segments(start: datetime, end: datetime) -> list[datetime]:
    """``start``, every UTC quarter hour strictly inside, ``end``."""
    first = start.astimezone(UTC)
    edge = datetime.fromtimestamp((first.timestamp() // SEGMENT_S + 1) * SEGMENT_S, UTC)
    edges = [first]
    while edge < end:
        edges.append(edge)
        edge += timedelta(seconds=SEGMENT_S)
    edges.append(end.astimezone(UTC))
    return edges


class _Sampler:
    """Draws one class's sessions; all randomness comes from the generator passed in."""

    def __init__(self, params: CityParams, cls: ClassName, tz: ZoneInfo) -> None:
        self.params = params
        self.spec = params.classes[cls]
        self.knots = params.quantile_knots
        self.tz = tz

    def generating_rates(self, edges: list[datetime]) -> np.ndarray:
        """Expected arrivals in each segment, raised by 1/(1 - occupancy) to offset balking."""
        out = np.empty(len(edges) - 1)
        for i, (a, b) in enumerate(itertools.pairwise(edges)):
            local = a.astimezone(self.tz)
            kind = _day_kind(local)
            rate = self.spec.arrivals_per_connector_hour.at(kind, local.hour)
            free = max(0.5, 1.0 - self.spec.occupancy.at(kind, local.hour))
            out[i] = rate / free * (b - a).total_seconds() / 3600.0
        return out

    def duration_min(self, rng: np.random.Generator, local: datetime) -> float:
        period = next(
            name for name, (lo, hi) in self.params.duration_periods.items() if lo <= local.hour < hi
        )
        return _inverse_cdf(self.knots, self.spec.duration_min.by_period[period], rng.random())

    def energy_kwh(self, rng: np.random.Generator, duration_min: float) -> float:
        table = self.spec.energy_kwh.by_duration
        inner = table.duration_edges_min[1:-1]
        index = int(np.searchsorted(inner, duration_min, side="right"))
        return _inverse_cdf(self.knots, table.energy_quantiles[index], rng.random())

    def vehicle(self, rng: np.random.Generator, connector: Connector) -> tuple[float, float]:
        """(max power W = min(connector, vehicle), battery Wh) of an arriving vehicle."""
        vehicles = self.params.vehicles
        limits = vehicles.ac_onboard_kw if connector.current == "AC" else vehicles.dc_max_kw
        vehicle_w = float(_choice(rng, limits)) * 1000.0
        battery_wh = float(_choice(rng, vehicles.battery_kwh)) * 1000.0
        return min(connector.max_power_w, vehicle_w), battery_wh


def _feasible_energy_wh(
    energy_kwh: float, max_power_w: float, duration_s: float, battery_wh: float
) -> int:
    """Energy capped by the power over the time and by the room below the SoC ceiling."""
    by_power = FEASIBLE_POWER_FRACTION * max_power_w * duration_s / 3600.0
    by_battery = (SOC_CEILING_PCT - SOC_FLOOR_PCT) / 100.0 * battery_wh
    return max(0, math.floor(min(energy_kwh * 1000.0, by_power, by_battery)))


def _soc_start(rng: np.random.Generator, energy_wh: int, battery_wh: float) -> float:
    highest = SOC_CEILING_PCT - 100.0 * energy_wh / battery_wh
    return round(float(rng.uniform(SOC_FLOOR_PCT, max(SOC_FLOOR_PCT, highest))), 2)


@dataclass(slots=True)
class _Draft:
    """A plan before its ref and id tag are known."""

    charger_id: str
    connector_id: int
    plug_in: datetime
    plug_out: datetime
    energy_wh: int
    max_power_w: float
    battery_wh: float
    soc_start_pct: float


def _session(
    rng: np.random.Generator,
    sampler: _Sampler,
    charger_id: str,
    connector: Connector,
    plug_in: datetime,
) -> _Draft:
    local = plug_in.astimezone(sampler.tz)
    duration_min = sampler.duration_min(rng, local)
    energy_kwh = sampler.energy_kwh(rng, duration_min)
    max_power_w, battery_wh = sampler.vehicle(rng, connector)
    duration_s = round(duration_min * 60.0)
    energy_wh = _feasible_energy_wh(energy_kwh, max_power_w, duration_s, battery_wh)
    return _Draft(
        charger_id,
        connector.connector_id,
        plug_in,
        plug_in + timedelta(seconds=duration_s),
        energy_wh,
        max_power_w,
        battery_wh,
        _soc_start(rng, energy_wh, battery_wh),
    )


def _warm_session(
    rng: np.random.Generator,
    sampler: _Sampler,
    charger_id: str,
    connector: Connector,
    start: datetime,
) -> _Draft:
    """The tail of a session already charging at ``start``, plugging in just after it.

    The full session is drawn length-biased (in progress at a random instant); the elapsed part
    is uniform within its charging phase, so the tail still needs full power.
    """
    candidates = [_session(rng, sampler, charger_id, connector, start) for _ in range(8)]
    lengths = np.array([(d.plug_out - d.plug_in).total_seconds() for d in candidates])
    full = candidates[int(rng.choice(len(candidates), p=lengths / lengths.sum()))]
    power_w = FEASIBLE_POWER_FRACTION * full.max_power_w
    charging_s = full.energy_wh * 3600.0 / power_w
    elapsed_s = float(rng.uniform(0.0, 0.9 * charging_s))  # >= 10 % of the energy remains
    plug_in = start + timedelta(seconds=round(float(rng.uniform(0.0, WARM_WINDOW_S))))
    duration_s = max(60, round((full.plug_out - full.plug_in).total_seconds() - elapsed_s))
    remaining_wh = full.energy_wh - power_w * elapsed_s / 3600.0
    energy_wh = _feasible_energy_wh(
        remaining_wh / 1000.0, full.max_power_w, duration_s, full.battery_wh
    )
    return _Draft(
        charger_id,
        connector.connector_id,
        plug_in,
        plug_in + timedelta(seconds=duration_s),
        energy_wh,
        full.max_power_w,
        full.battery_wh,
        _soc_start(rng, energy_wh, full.battery_wh),
    )


def _connector_sessions(
    rng: np.random.Generator,
    sampler: _Sampler,
    charger_id: str,
    connector: Connector,
    edges: list[datetime],
    warm: bool,
) -> tuple[list[_Draft], int]:
    """Arrivals on one connector in order; those finding it occupied balk. (plans, balked)."""
    expected = sampler.generating_rates(edges)
    counts = rng.poisson(expected)
    drafts: list[_Draft] = []
    busy_until = edges[0]
    if warm:
        drafts.append(_warm_session(rng, sampler, charger_id, connector, edges[0]))
        busy_until = drafts[-1].plug_out
    balked = 0
    for i in np.flatnonzero(counts):
        a, b = edges[i], edges[i + 1]
        span_s = (b - a).total_seconds()
        for offset in np.sort(rng.uniform(0.0, span_s, counts[i])):
            at = a + timedelta(seconds=round(float(offset)))
            if at < busy_until or at >= edges[-1]:
                balked += 1
                continue
            drafts.append(_session(rng, sampler, charger_id, connector, at))
            busy_until = drafts[-1].plug_out
    return drafts, balked


def _warm_connectors(
    rng: np.random.Generator,
    samplers: dict[ClassName, _Sampler],
    connectors: list[tuple[Charger, Connector]],
    start: datetime,
    min_active: int,
) -> set[int]:
    """Connectors busy at ``start`` (indexes): drawn by occupancy, at least ``min_active``."""
    local = start.astimezone(next(iter(samplers.values())).tz)
    occupancy = np.array(
        [
            samplers[class_of(c)].spec.occupancy.at(_day_kind(local), local.hour)
            for _, c in connectors
        ]
    )
    busy = set(np.flatnonzero(rng.random(len(connectors)) < occupancy).tolist())
    if len(busy) < min(min_active, len(connectors)):
        ranked = sorted(
            (i for i in range(len(connectors)) if i not in busy),
            key=lambda i: (-occupancy[i], i),
        )
        busy.update(ranked[: min(min_active, len(connectors)) - len(busy)])
    return busy


def plan_sessions(
    params: CityParams,
    inventory: Inventory,
    *,
    start: datetime,
    end: datetime,
    seed: int,
    id_tags: int = 500,
    tz: ZoneInfo = LONDON,
    warm_start: bool = True,
    min_active: int = 3,
) -> list[PlannedSession]:
    """Sessions plugging in during ``[start, end)`` on every connector of ``inventory``.

    Plug-outs may fall after ``end``. Plans are sorted by plug-in, refs are ``demo:<n>`` in that
    order, and id tags ``TAG0001``… are never used by two sessions at once (while enough tags are
    free). See the module docstring for the arrival model, balking and the warm start.
    """
    if start.tzinfo is None or end.tzinfo is None:
        msg = "start and end must be timezone-aware"
        raise ValueError(msg)
    if not end > start:
        msg = f"end {end.isoformat()} must be after start {start.isoformat()}"
        raise ValueError(msg)
    if not 1 <= id_tags <= 9999:
        msg = f"id_tags must be between 1 and 9999, not {id_tags}"
        raise ValueError(msg)
    samplers: dict[ClassName, _Sampler] = {cls: _Sampler(params, cls, tz) for cls in params.classes}
    edges = _segments(start, end)
    connectors = [
        (charger, connector)
        for charger in sorted(inventory.chargers, key=lambda c: c.charger_id)
        for connector in charger.connectors
    ]
    rng = np.random.default_rng(seed)
    warm = _warm_connectors(rng, samplers, connectors, start, min_active) if warm_start else set()
    drafts: list[_Draft] = []
    for index, (charger, connector) in enumerate(connectors):
        stream = np.random.default_rng([seed, index])
        sampler = samplers[class_of(connector)]
        mine, _ = _connector_sessions(
            stream, sampler, charger.charger_id, connector, edges, index in warm
        )
        drafts.extend(mine)
    drafts.sort(key=lambda d: (d.plug_in, d.charger_id, d.connector_id))
    return _finalise(drafts, rng, id_tags)


def _finalise(drafts: list[_Draft], rng: np.random.Generator, id_tags: int) -> list[PlannedSession]:
    """Refs in plug-in order; each session takes a tag no ongoing session holds."""
    free = [f"TAG{i:04d}" for i in range(1, id_tags + 1)]
    in_use: list[tuple[datetime, str]] = []
    plans = []
    for n, d in enumerate(drafts, start=1):
        while in_use and in_use[0][0] <= d.plug_in:
            free.append(heapq.heappop(in_use)[1])
        if free:
            pick = int(rng.integers(len(free)))
            free[pick], free[-1] = free[-1], free[pick]
            tag = free.pop()
        else:
            tag = f"TAG{int(rng.integers(1, id_tags + 1)):04d}"
        heapq.heappush(in_use, (d.plug_out, tag))
        plans.append(
            PlannedSession(
                ref=f"demo:{n}",
                charger_id=d.charger_id,
                connector_id=d.connector_id,
                id_tag=tag,
                plug_in=d.plug_in,
                plug_out=d.plug_out,
                energy_wh=d.energy_wh,
                max_power_w=d.max_power_w,
                battery_wh=d.battery_wh,
                soc_start_pct=d.soc_start_pct,
            )
        )
    return plans


def busy_start(
    params: CityParams, day: date, *, tz: ZoneInfo = LONDON, mix: str = "dundee"
) -> datetime:
    """The UTC start of the local hour of ``day`` when the city draws most power on average.

    Weights each class's occupancy by its rated power and its share of chargers.
    """
    kind: DayKind = "weekend" if day.weekday() >= 5 else "weekday"
    shares = params.class_mix[mix]

    def load_w(hour: int) -> float:
        return sum(
            shares.get(name, 0.0) * cls.rated_w * cls.occupancy.at(kind, hour)
            for name, cls in params.classes.items()
        )

    hour = max(range(24), key=lambda h: (load_w(h), -h))
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)
