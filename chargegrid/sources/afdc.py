"""NREL / DOE Alternative Fuels Data Center station export (``alt_fuel_stations.csv``) → stations.

UTF-8 with BOM, 75 columns (some duplicated in French). Rules:

* a row whose ``Fuel Type Code`` is not ``ELEC`` → ``not_ev_charging`` (E85, CNG, LPG, ...);
* empty or unreadable ``ID``/``Latitude``/``Longitude`` → ``unparseable_row``;
* port counts ``EV Level1 EVSE Num``, ``EV Level2 EVSE Num``, ``EV DC Fast Count``: empty = 0;
  ``connectors`` is their sum; ``power_level`` the highest level with a port; the registry gives
  no kW rating, so ``max_power_w`` stays unknown;
* ``station_id`` = the registry ``ID``; an ID seen before → ``duplicate``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from chargegrid.events import Reason
from chargegrid.sources.records import RawRow, RowRejected, StationRecord, csv_rows, rejected

SOURCE = "afdc"
REQUIRED_COLUMNS = ("Fuel Type Code", "Station Name", "Latitude", "Longitude", "ID")
LEVELS = (
    ("EV DC Fast Count", "DC fast"),
    ("EV Level2 EVSE Num", "Level 2"),
    ("EV Level1 EVSE Num", "Level 1"),
)


def _count(row: RawRow, column: str) -> int:
    text = row.get(column)
    return int(float(text)) if text else 0


def _station(row: RawRow) -> StationRecord | RowRejected:
    station = row.get("ID")
    fuel = row.get("Fuel Type Code")
    if fuel != "ELEC":
        return rejected(SOURCE, row, Reason.not_ev_charging, f"Fuel Type Code {fuel!r}", station)
    try:
        lat, lon = float(row.get("Latitude")), float(row.get("Longitude"))
        counts = {column: _count(row, column) for column, _ in LEVELS}
    except ValueError as exc:
        return rejected(SOURCE, row, Reason.unparseable_row, f"unreadable field: {exc}", station)
    level = next((name for column, name in LEVELS if counts[column] > 0), None)
    return StationRecord(
        source=SOURCE,
        station_id=station,
        name=row.get("Station Name"),
        lat=lat,
        lon=lon,
        file=row.file,
        line=row.line,
        address=row.get("Street Address") or None,
        city=row.get("City") or None,
        connectors=sum(counts.values()),
        level1_ports=counts["EV Level1 EVSE Num"],
        level2_ports=counts["EV Level2 EVSE Num"],
        dc_fast_ports=counts["EV DC Fast Count"],
        power_level=level,
        connector_types=row.get("EV Connector Types") or None,
        network=row.get("EV Network") or None,
    )


def read_stations(paths: list[Path]) -> Iterator[StationRecord | RowRejected]:
    """Every data row of the registry files as a station or a rejection."""
    seen: set[str] = set()
    for path in paths:
        for row in csv_rows(path, REQUIRED_COLUMNS, "an AFDC alt_fuel_stations export"):
            ident = row.get("ID")
            if not ident:
                yield rejected(SOURCE, row, Reason.unparseable_row, "empty ID")
                continue
            if ident in seen:
                yield rejected(SOURCE, row, Reason.duplicate, f"station ID {ident} appears again")
                continue
            seen.add(ident)
            yield _station(row)
