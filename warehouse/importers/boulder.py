"""``chargegrid import boulder``: City of Boulder ChargePoint exports (sources.boulder).

Give both deliveries (the portal file and the March 2021 re-export): files are taken in name
order, so the portal file (``Electric_…``) comes first and the re-export only adds the sessions the
portal file lacks; its repeats are rejected as ``duplicate`` (natural key: station, start, end, Wh).
The reader's time rules (the start label's fixed offset, the false ``+00`` suffix) apply unchanged.
Rated power: the Level-2 ceiling, 19.2 kW (80 A at 240 V), since the export states no rating.

Stations are the station names seen (renamed station merged), each at the address of its latest
session (six chargers moved) and located through ``Boulder_locations.csv`` beside the exports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from chargegrid.sources import boulder
from chargegrid.sources.records import RowRejected, SessionRecord, StationRecord
from warehouse.importers._lines import LineFinder
from warehouse.importers.base import SourceImporter, beside, session_stations
from warehouse.importers.perth import natural_key

LEVEL2_MAX_POWER_W = 19_200.0


def read(files: list[Path]) -> Iterator[SessionRecord | RowRejected]:
    for path in files:
        lines: LineFinder | None = None
        for item in boulder.read_sessions([path]):
            if isinstance(item, boulder.BoulderSession):
                yield SessionRecord(
                    source=boulder.SOURCE,
                    key=natural_key(item.station, 0, item.start, item.end, item.energy_wh),
                    station_id=item.station,
                    started_at=item.start,
                    ended_at=item.end,
                    energy_wh=item.energy_wh,
                    file=item.file,
                    line=item.line,
                    raw=item.raw,
                    site=item.address or None,
                    rated_power_w=LEVEL2_MAX_POWER_W,
                )
                continue
            lines = lines or LineFinder(path)
            yield RowRejected(
                boulder.SOURCE,
                path.name,
                lines.line_of(item.raw),
                item.reason,
                item.detail,
                item.raw,
                item.cp_id,
            )


def stations(files: list[Path], sessions: list[SessionRecord]) -> list[StationRecord]:
    path = beside(files, "Boulder_locations.csv")
    located = boulder.read_locations(path) if path else {}

    def locate(s: SessionRecord) -> tuple[float | None, float | None, str | None]:
        lat, lon = located.get(s.site or "", (None, None))
        return lat, lon, s.site

    return [
        replace(st, connectors=1, level2_ports=1, power_level="Level 2", network="ChargePoint")
        for st in session_stations(sessions, locate)
    ]


IMPORTER = SourceImporter(
    source=boulder.SOURCE,
    read=read,
    patterns=("electric_vehicle_charging_station*.csv", "ev_chargingstationdata*.csv"),
    stations=stations,
)
