"""``chargegrid import sap``: SAP Labs France transactions (prices in EUR, SOC, idle time).

No coordinates are published; stations are the charge points (``ID borne``) seen in the sessions,
with the number of connectors used and the rating bound the reader assumes (work/home).
"""

from __future__ import annotations

from chargegrid.sources import sap
from warehouse.importers.base import SourceImporter, session_stations

IMPORTER = SourceImporter(
    source=sap.SOURCE,
    read=sap.read_sessions,
    patterns=("conso-ve-sap*.csv",),
    stations=lambda files, sessions: session_stations(sessions, lambda s: (None, None, None)),
)
