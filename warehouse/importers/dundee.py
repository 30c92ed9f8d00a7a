"""``chargegrid import dundee``: Dundee City Council exports (:mod:`chargegrid.sources.dundee`).

The reader's rules (DST resolution, sentinel and open ends, test sites, duplicate event numbers)
apply unchanged; its rows become :class:`SessionRecord` (session key = ``Charging event``, rated
power from the charger ``Model``). Site names are trimmed and inner whitespace collapsed.

Stations are the charge points: every CP ID seen in the imported sessions or listed in
``cp-locations_enriched.csv`` (else ``cp-locations.csv``) beside the exports, with coordinates from
that file, connectors = distinct connectors seen, and the fastest outlet's rating from the model
(for a CP without sessions: ``Type`` Slow/Fast/Rapid = 7/22/50 kW); 50 kW and up is DC fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from chargegrid.sources import dundee
from chargegrid.sources.records import RowRejected, SessionRecord, StationRecord
from warehouse.importers.base import SourceImporter, session_stations

DC_FAST_W = 50_000.0
TYPE_POWER_W = {"slow": 7_000.0, "fast": 22_000.0, "rapid": 50_000.0}


def normalise_site(text: str) -> str:
    """Trimmed, inner runs of whitespace collapsed to one space."""
    return " ".join(text.split())


def _record(row: dundee.SessionRow) -> SessionRecord:
    return SessionRecord(
        source=dundee.SOURCE,
        key=row.event_id,
        station_id=row.cp_id,
        started_at=row.start,
        ended_at=row.end,
        energy_wh=row.energy_wh,
        file=row.file,
        line=row.line,
        raw=row.raw,
        site=normalise_site(row.site) or None,
        connector=str(row.connector_id),
        user_id=row.user_id,
        rated_power_w=row.outlet.power_w,
    )


def read(files: list[Path]) -> Iterator[SessionRecord | RowRejected]:
    for item in dundee.read_sessions(files):
        if isinstance(item, dundee.Rejected):
            yield RowRejected(
                dundee.SOURCE, item.file, item.line, item.reason, item.detail, item.raw, item.cp_id
            )
        else:
            yield _record(item)


def _level(max_power_w: float | None) -> str | None:
    if max_power_w is None:
        return None
    return "DC fast" if max_power_w >= DC_FAST_W else "Level 2"


def stations(files: list[Path], sessions: list[SessionRecord]) -> list[StationRecord]:
    locations = dundee.locations_beside(files)

    def locate(s: SessionRecord) -> tuple[float | None, float | None, str | None]:
        where = locations.get(s.station_id)
        return (
            (where.lat, where.lon, normalise_site(where.address) or None) if where else (None,) * 3
        )

    out = []
    for station in session_stations(sessions, locate):
        where = locations.get(station.station_id)
        name = where.name if where else station.station_id
        out.append(replace(station, name=name, power_level=_level(station.max_power_w)))
    for cp in sorted(set(locations) - {s.station_id for s in out}):
        where = locations[cp]
        power = TYPE_POWER_W.get(where.kind.lower()) if where.kind else None
        out.append(
            StationRecord(
                source=dundee.SOURCE,
                station_id=cp,
                name=where.name,
                lat=where.lat,
                lon=where.lon,
                file=where.file,
                line=where.line,
                address=normalise_site(where.address) or None,
                max_power_w=power,
                power_level=_level(power),
            )
        )
    return sorted(out, key=lambda st: st.station_id)


IMPORTER = SourceImporter(
    source=dundee.SOURCE,
    read=read,
    patterns=("*.csv",),
    excluded=("cp-locations*",),
    stations=stations,
)
