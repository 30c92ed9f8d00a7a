"""``chargegrid import epfl``: EPFL DESL DC fast sessions (xlsx); one 172.5 kW station."""

from __future__ import annotations

from chargegrid.sources import epfl
from warehouse.importers.base import SourceImporter, session_stations

IMPORTER = SourceImporter(
    source=epfl.SOURCE,
    read=epfl.read_sessions,
    patterns=("*.xlsx",),
    excluded=("measurement*",),
    stations=lambda files, sessions: session_stations(sessions, lambda s: (None, None, None)),
)
