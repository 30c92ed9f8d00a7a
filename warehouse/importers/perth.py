"""``chargegrid import perth``: Perth & Kinross exports (:mod:`chargegrid.sources.perth`).

The reader's rules (DST, sentinel/open ends, the test site, duplicates, site-name normalisation)
apply unchanged; the natural key is (CP, connector, start, end, Wh), so a re-delivered file adds
nothing. Rated power from the charger ``Model``. Stations are the CPs seen, located by their
normalised site in ``perth_locations.csv`` beside the exports (coordinates per site, derived by a
third party).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from chargegrid.sources import perth
from chargegrid.sources.records import RowRejected, SessionRecord, StationRecord
from warehouse.importers.base import SourceImporter, beside, session_stations

DC_FAST_W = 50_000.0


def natural_key(cp_id: str, connector_id: int, start: object, end: object, wh: int) -> str:
    """Short stable hash of the identifying fields (the export has no session number)."""
    text = f"{cp_id}|{connector_id}|{start}|{end}|{wh}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _line(ref: str) -> int:
    tail = ref.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 0


def read(files: list[Path]) -> Iterator[SessionRecord | RowRejected]:
    for item in perth.read_sessions(files):
        if isinstance(item, perth.PerthSession):
            yield SessionRecord(
                source=perth.SOURCE,
                key=natural_key(
                    item.cp_id, item.connector_id, item.start, item.end, item.energy_wh
                ),
                station_id=item.cp_id,
                started_at=item.start,
                ended_at=item.end,
                energy_wh=item.energy_wh,
                file=item.file,
                line=item.line,
                raw=item.raw,
                site=item.site or None,
                connector=str(item.connector_id),
                rated_power_w=item.outlet.power_w,
            )
        else:
            file = item.ref.split(":")[1] if item.ref.count(":") >= 2 else files[0].name
            yield RowRejected(
                perth.SOURCE, file, _line(item.ref), item.reason, item.detail, item.raw, item.cp_id
            )


def stations(files: list[Path], sessions: list[SessionRecord]) -> list[StationRecord]:
    path = beside(files, "perth_locations.csv")
    located = perth.read_locations(path) if path else {}

    def locate(s: SessionRecord) -> tuple[float | None, float | None, str | None]:
        lat, lon = located.get(s.site or "", (None, None))
        return lat, lon, None

    out = []
    for station in session_stations(sessions, locate):
        power = station.max_power_w
        level = None if power is None else "DC fast" if power >= DC_FAST_W else "Level 2"
        out.append(replace(station, power_level=level, network="Charge Place Scotland"))
    return out


IMPORTER = SourceImporter(
    source=perth.SOURCE,
    read=read,
    patterns=("*.csv",),
    excluded=("perth_locations*",),
    stations=stations,
)
