"""One session shape for the models, read from any supported source's files.

:func:`load` runs the source's reader (:mod:`chargegrid.sources`), keeps accepted sessions as
:class:`Session` and counts rejections by reason. It also drops, with reason
``energy_exceeds_outlet``, sessions whose energy the outlet could not have delivered in the
plug-in time (more than rated power × (plug-in time + 1 minute of timestamp rounding) × 1.1),
e.g. 1,430 kWh in 17 h on a 7 kW post: one such row would swamp an hourly energy series.

Site locations come from the file the source ships beside its exports, when present
(Dundee ``cp-locations*.csv`` by CP, averaged per site; Perth ``perth_locations.csv``; Boulder
``Boulder_locations.csv``). ACN-Data (Caltech JSON) carries none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from chargegrid.events import Reason

SourceName = Literal["dundee", "perth", "boulder", "acn"]
SOURCES: tuple[SourceName, ...] = ("dundee", "perth", "boulder", "acn")
TIME_ZONES: dict[SourceName, str] = {
    "dundee": "Europe/London",
    "perth": "Europe/London",
    "boulder": "America/Denver",
    "acn": "America/Los_Angeles",  # Caltech, JPL and office001 are all in California
}
HOLIDAY_REGIONS: dict[SourceName, tuple[str, str]] = {
    "dundee": ("GB", "SCT"),
    "perth": ("GB", "SCT"),
    "boulder": ("US", "CO"),
    "acn": ("US", "CA"),
}
BOULDER_LEVEL2_W = 6_600.0  # the export names no rating; ChargePoint Level 2 ports give 6.6 kW
AC_VEHICLE_W = 7_400.0  # what most cars take from an AC post (one-phase 32 A on-board charger)
ROUNDING_S = 60.0
SLACK = 1.1


@dataclass(frozen=True, slots=True)
class Session:
    """A plug-in: where (site, port), when (UTC), how much (Wh), and how fast it could go (W).

    ``charging_s`` is the recorded time drawing power when the source has it (Boulder), else None.
    """

    site: str
    port: str
    start: datetime
    end: datetime
    energy_wh: int
    rated_power_w: float
    current: str  # AC | DC
    charging_s: float | None = None

    @property
    def plugged_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class Loaded:
    source: SourceName
    sessions: tuple[Session, ...]
    rejected: Counter[str] = field(default_factory=Counter)
    locations: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def time_zone(self) -> str:
        return TIME_ZONES[self.source]


def _deliverable(session: Session) -> bool:
    limit_wh = session.rated_power_w * (session.plugged_s + ROUNDING_S) / 3600.0 * SLACK
    return session.energy_wh <= limit_wh


def _dundee(
    paths: list[Path], rejected: Counter[str]
) -> tuple[list[Session], dict[str, tuple[float, float]]]:
    from chargegrid.sources import dundee

    out = []
    site_of_cp: dict[str, str] = {}
    for row in dundee.read_sessions(paths):
        if isinstance(row, dundee.Rejected):
            rejected[row.reason] += 1
            continue
        outlet = row.outlet
        site_of_cp[row.cp_id] = row.site
        out.append(
            Session(
                row.site,
                f"{row.cp_id}/{row.connector_id}",
                row.start,
                row.end,
                row.energy_wh,
                outlet.power_w,
                outlet.current,
            )
        )
    points: dict[str, list[tuple[float, float]]] = {}
    for cp, loc in dundee.locations_beside(paths).items():
        if cp in site_of_cp:
            points.setdefault(site_of_cp[cp], []).append((loc.lat, loc.lon))
    locations = {
        site: (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
        for site, pts in points.items()
    }
    return out, locations


def _perth(
    paths: list[Path], rejected: Counter[str]
) -> tuple[list[Session], dict[str, tuple[float, float]]]:
    from chargegrid.sources import perth

    out = []
    for row in perth.read_sessions(paths):
        if isinstance(row, perth.Rejected):
            rejected[row.reason] += 1
            continue
        outlet = row.outlet
        out.append(
            Session(
                row.site,
                f"{row.cp_id}/{row.connector_id}",
                row.start,
                row.end,
                row.energy_wh,
                outlet.power_w,
                outlet.current,
            )
        )
    locations: dict[str, tuple[float, float]] = {}
    for folder in {p.parent for p in paths}:
        if (folder / "perth_locations.csv").is_file():
            locations.update(perth.read_locations(folder / "perth_locations.csv"))
    return out, locations


def _boulder(
    paths: list[Path], rejected: Counter[str]
) -> tuple[list[Session], dict[str, tuple[float, float]]]:
    from chargegrid.sources import boulder

    out = []
    for row in boulder.read_sessions(paths):
        if isinstance(row, boulder.Rejected):
            rejected[row.reason] += 1
            continue
        out.append(
            Session(
                row.site,
                row.station,
                row.start,
                row.end,
                row.energy_wh,
                BOULDER_LEVEL2_W,
                "AC",
                float(row.charging_s),
            )
        )
    locations: dict[str, tuple[float, float]] = {}
    for folder in {p.parent for p in paths}:
        if (folder / "Boulder_locations.csv").is_file():
            locations.update(boulder.read_locations(folder / "Boulder_locations.csv"))
    return out, locations


def _acn(
    paths: list[Path], rejected: Counter[str]
) -> tuple[list[Session], dict[str, tuple[float, float]]]:
    """ACN-Data JSON: site = ``siteID``, port = ``stationID``; the recorded charging end (when
    known) gives the charging time; a ``sessionID`` seen before is a ``duplicate``."""
    from chargegrid.sources import acn
    from chargegrid.sources.records import RowRejected

    out, seen = [], set()
    for row in acn.read_sessions(paths):
        if isinstance(row, RowRejected):
            rejected[row.reason] += 1
            continue
        if row.key in seen:
            rejected[Reason.duplicate] += 1
            continue
        seen.add(row.key)
        done = row.charging_ended_at
        out.append(
            Session(
                row.site or row.station_id,
                row.station_id,
                row.started_at,
                row.ended_at,
                row.energy_wh,
                row.rated_power_w or acn.LEVEL2_MAX_POWER_W,
                "AC",
                None if done is None else (done - row.started_at).total_seconds(),
            )
        )
    return out, {}


def load(source: SourceName, paths: Iterable[Path]) -> Loaded:
    """Sessions of ``source`` from ``paths`` (in that order), with rejections counted by reason."""
    readers = {"dundee": _dundee, "perth": _perth, "boulder": _boulder, "acn": _acn}
    rejected: Counter[str] = Counter()
    sessions, locations = readers[source](list(paths), rejected)
    kept = []
    for session in sessions:
        if _deliverable(session):
            kept.append(session)
        else:
            rejected[Reason.energy_exceeds_outlet] += 1
    kept.sort(key=lambda s: s.start)
    return Loaded(source, tuple(kept), rejected, locations)
