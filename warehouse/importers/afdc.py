"""``chargegrid import afdc``: the AFDC station registry into ``registry_stations`` only."""

from __future__ import annotations

from chargegrid.sources import afdc
from warehouse.importers.base import SourceImporter

IMPORTER = SourceImporter(
    source=afdc.SOURCE,
    read=afdc.read_stations,
    patterns=("alt_fuel_stations*.csv",),
)
