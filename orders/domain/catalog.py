"""What we offer: the operator's estate as sites and connector offers with live availability.

Built from ``chargegrid.inventory`` (stations, chargers, connectors with OCPI connector standards)
and the pipeline's live snapshot (``chargegrid.live``). One offer per connector; its id is
``<charger_id>-<connector_id:02d>`` and is looked up in :attr:`Catalog.offers`, never parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from chargegrid.inventory import Connector, Inventory, load_inventory
from chargegrid.live import LiveSnapshot, read_snapshot

# OCPI 2.2.1 ConnectorType -> the UEI profile's connector-type code (per the onix OCPI adaptor map);
# standards without a Beckn code keep their OCPI name.
BECKN_CONNECTOR = {
    "IEC_62196_T2": "Type2",
    "IEC_62196_T2_COMBO": "CCS2",
    "CCS": "CCS2",
    "IEC_62196_T1_COMBO": "CCS2",
    "CHADEMO": "CHAdeMO",
    "GBT_AC": "GB_T",
    "GBT_DC": "GB_T",
    "CHAOJI": "GB_T",
}
L1_MAX_POWER_W = 3_700.0  # AC at or below a household circuit


class Availability(StrEnum):
    available = "Available"
    occupied = "Occupied"
    unavailable = "Unavailable"
    unknown = "Unknown"


class Level(StrEnum):
    L1 = "L1"
    L2 = "L2"
    DCFC = "DCFC"


_OCCUPIED = {
    "Preparing",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Occupied",
    "Reserved",
}
_UNAVAILABLE = {"Faulted", "Unavailable"}


def availability_of(status: str | None) -> Availability:
    """OCPP connector status (1.6 or 2.0.1) → what a driver needs to know."""
    if status == "Available":
        return Availability.available
    if status in _OCCUPIED:
        return Availability.occupied
    if status in _UNAVAILABLE:
        return Availability.unavailable
    return Availability.unknown


@dataclass(frozen=True)
class Site:
    station_id: str
    name: str
    lat: float
    lon: float
    operator: str


@dataclass(frozen=True)
class Offer:
    """One connector a driver can book."""

    item_id: str
    site: Site
    charger_id: str
    connector_id: int
    standard: str  # OCPI ConnectorType
    connector_type: str  # UEI code (CCS2, Type2, …)
    current: str  # AC | DC
    max_power_w: float
    availability: Availability

    @property
    def level(self) -> Level:
        if self.current == "DC":
            return Level.DCFC
        return Level.L1 if self.max_power_w <= L1_MAX_POWER_W else Level.L2


@dataclass(frozen=True)
class Catalog:
    offers: dict[str, Offer] = field(default_factory=dict)

    def sites(self) -> list[Site]:
        return list({o.site.station_id: o.site for o in self.offers.values()}.values())


def item_id(charger_id: str, connector_id: int) -> str:
    return f"{charger_id}-{connector_id:02d}"


def build_catalog(inventory: Inventory, live: LiveSnapshot | None) -> Catalog:
    """Every connector of the estate whose station is known, with its live availability."""
    sites = {
        s.station_id: Site(s.station_id, s.name, s.lat, s.lon, s.operator)
        for s in inventory.stations
    }
    status = {(c.charger_id, c.connector_id): c.status for c in (live.connectors if live else [])}
    offers: dict[str, Offer] = {}
    for charger in inventory.chargers:
        site = sites.get(charger.station_id)
        if site is None:
            continue
        for conn in charger.connectors:
            offer = _offer(
                site, charger.charger_id, conn, status.get((charger.charger_id, conn.connector_id))
            )
            offers[offer.item_id] = offer
    return Catalog(offers)


def _offer(site: Site, charger_id: str, conn: Connector, status: str | None) -> Offer:
    return Offer(
        item_id=item_id(charger_id, conn.connector_id),
        site=site,
        charger_id=charger_id,
        connector_id=conn.connector_id,
        standard=conn.standard,
        connector_type=BECKN_CONNECTOR.get(conn.standard, conn.standard),
        current=conn.current,
        max_power_w=conn.max_power_w,
        availability=availability_of(status),
    )


class EstateCatalog:
    """The catalog of the estate on disk, rebuilt when the inventory or live snapshot changes."""

    def __init__(self, inventory_path: Path, live_dir: Path) -> None:
        self.inventory_path = inventory_path
        self.live_dir = live_dir
        self._key: tuple[float, float] | None = None
        self._catalog = Catalog()

    def current(self) -> Catalog:
        key = (_mtime(self.inventory_path), _mtime(self.live_dir / "connectors.json"))
        if key != self._key:
            self._catalog = build_catalog(
                load_inventory(self.inventory_path), read_snapshot(self.live_dir)
            )
            self._key = key
        return self._catalog


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
