"""``chargegrid import acn``: Caltech ACN-Data session JSON (``_items`` export or bare array).

The same session in several files is imported once (natural key ``sessionID``). Stations are the
EVSEs (``stationID``) seen in the sessions; the export carries no coordinates.
"""

from __future__ import annotations

from chargegrid.sources import acn
from warehouse.importers.base import SourceImporter, session_stations

IMPORTER = SourceImporter(
    source=acn.SOURCE,
    read=acn.read_sessions,
    patterns=("*.json",),
    stations=lambda files, sessions: session_stations(sessions, lambda s: (None, None, None)),
)
