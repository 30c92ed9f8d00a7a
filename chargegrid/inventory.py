"""The operator's estate: stations, chargers and their connectors.

The central system only serves chargers listed here; the pipeline uses connector ratings to judge
readings; dashboards name and place connectors with it. Stored as one JSON file
(``Settings.inventory_path``) written by ``demo``/``replay`` set-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chargegrid.errors import ChargegridError

CurrentType = Literal["AC", "DC"]


class InventoryError(ChargegridError):
    """The inventory file is missing or invalid."""


class Connector(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    connector_id: Annotated[int, Field(ge=1)]
    standard: str = "IEC_62196_T2"  # OCPI ConnectorType
    current: CurrentType = "AC"
    max_power_w: Annotated[float, Field(gt=0)]


class Charger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    charger_id: Annotated[str, Field(min_length=1, max_length=64)]
    station_id: str
    model: str = ""
    connectors: tuple[Connector, ...]
    tariff_id: str | None = None  # overrides the station's (see chargegrid.tariffs.TariffResolver)

    def connector(self, connector_id: int) -> Connector | None:
        return next((c for c in self.connectors if c.connector_id == connector_id), None)


class Station(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    station_id: str
    name: str
    lat: float
    lon: float
    operator: str = "chargegrid"
    tariff_id: str | None = None  # tariff of its chargers unless a charger names its own


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stations: tuple[Station, ...] = ()
    chargers: tuple[Charger, ...] = ()

    def charger(self, charger_id: str) -> Charger | None:
        return self._chargers_by_id().get(charger_id)

    def _chargers_by_id(self) -> dict[str, Charger]:
        cached: dict[str, Charger] | None = self.__dict__.get("_by_id")
        if cached is None:
            cached = {c.charger_id: c for c in self.chargers}
            object.__setattr__(self, "_by_id", cached)
        return cached

    def merged(self, other: Inventory) -> Inventory:
        """This inventory plus ``other``'s stations and chargers (``other`` wins on equal ids)."""
        stations = {s.station_id: s for s in (*self.stations, *other.stations)}
        chargers = {c.charger_id: c for c in (*self.chargers, *other.chargers)}
        return Inventory(stations=tuple(stations.values()), chargers=tuple(chargers.values()))


def load_inventory(path: Path) -> Inventory:
    """Read an inventory file; an absent file is an empty estate."""
    if not path.exists():
        return Inventory()
    try:
        return Inventory.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        msg = f"{path}: invalid inventory: {exc}"
        raise InventoryError(msg) from exc


def save_inventory(inventory: Inventory, path: Path) -> None:
    """Write atomically (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(inventory.model_dump_json(indent=1))
    os.replace(tmp, path)
