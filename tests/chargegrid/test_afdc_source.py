"""AFDC registry reader: BOM, other fuels, port counts and power level."""

from __future__ import annotations

from pathlib import Path

from chargegrid.events import Reason
from chargegrid.sources.afdc import read_stations
from chargegrid.sources.records import RowRejected, StationRecord

HEADER = (
    "Fuel Type Code,Station Name,Street Address,City,EV Level1 EVSE Num,EV Level2 EVSE Num,"
    "EV DC Fast Count,EV Network,Latitude,Longitude,ID,EV Connector Types"
)


def test_ev_stations_with_ports_by_level_others_rejected(tmp_path: Path) -> None:
    path = tmp_path / "alt_fuel_stations.csv"
    path.write_bytes(
        "\ufeff".encode()
        + "\n".join(
            (
                HEADER,
                'ELEC,"Lot, A",1 Main St,Albany,,4,2,ChargePoint,42.65,-73.75,100,J1772 CHADEMO',
                "E85,Pump,2 Main St,Albany,,,,,42.6,-73.7,101,",
                "ELEC,Home,3 Main St,Albany,1,,,,42.6,-73.7,102,NEMA520",
                "ELEC,Dup,3 Main St,Albany,1,,,,42.6,-73.7,102,NEMA520",
                "ELEC,Nowhere,,Albany,,2,,,,,103,J1772",
            )
        ).encode()
    )
    rows = list(read_stations([path]))
    stations = [r for r in rows if isinstance(r, StationRecord)]
    assert [(s.station_id, s.name, s.connectors, s.power_level) for s in stations] == [
        ("100", "Lot, A", 6, "DC fast"),
        ("102", "Home", 1, "Level 1"),
    ]
    assert (stations[0].level2_ports, stations[0].dc_fast_ports, stations[0].lat) == (4, 2, 42.65)
    assert [(r.line, r.reason) for r in rows if isinstance(r, RowRejected)] == [
        (3, Reason.not_ev_charging),
        (5, Reason.duplicate),
        (6, Reason.unparseable_row),
    ]
