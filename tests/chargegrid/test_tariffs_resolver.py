"""Tariff choice per charger: tariff directories, the inventory's references, the resolver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chargegrid.inventory import Charger, Connector, Inventory, Station, load_inventory
from chargegrid.tariffs import (
    TariffError,
    TariffResolver,
    UnresolvedTariffError,
    load_tariff_dir,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "tariffs"
PLUG = (Connector(connector_id=1, max_power_w=7_400),)
BOOK = load_tariff_dir(DATA)


def estate(station_tariff: str | None, charger_tariff: str | None) -> Inventory:
    return Inventory(
        stations=(Station(station_id="S", name="s", lat=0, lon=0, tariff_id=station_tariff),),
        chargers=(
            Charger(charger_id="A", station_id="S", connectors=PLUG, tariff_id=charger_tariff),
            Charger(charger_id="B", station_id="S", connectors=PLUG),
        ),
    )


def test_tariff_dir_keys_tariffs_by_their_id() -> None:
    assert sorted(BOOK) == [
        "be-dynamic-spot",
        "dc-rapid-idle-2024",
        "dundee-flat-2018",
        "uk-tou-ac-2024",
    ]


def test_tariff_dir_refuses_one_id_in_two_files(tmp_path: Path) -> None:
    text = (DATA / "dundee_flat.json").read_text()
    (tmp_path / "a.json").write_text(text)
    (tmp_path / "b.json").write_text(text)
    with pytest.raises(TariffError, match=r"'dundee-flat-2018' is in both .*a\.json and .*b\.json"):
        load_tariff_dir(tmp_path)
    with pytest.raises(TariffError, match="not a tariff directory"):
        load_tariff_dir(tmp_path / "missing")


def test_charger_overrides_station_which_overrides_default() -> None:
    default = BOOK["dc-rapid-idle-2024"]
    both = TariffResolver(estate("uk-tou-ac-2024", "dundee-flat-2018"), BOOK, default)
    assert both.tariff_for("A").id == "dundee-flat-2018"
    assert both.tariff_for("B").id == "uk-tou-ac-2024"
    assert both("B").id == "uk-tou-ac-2024"  # callable: charger_id -> Tariff
    neither = TariffResolver(estate(None, None), BOOK, default)
    assert neither.tariff_id_for("A") == "dc-rapid-idle-2024"
    assert neither.tariff_id_for("not-in-inventory") == "dc-rapid-idle-2024"


def test_no_tariff_and_no_default_is_a_typed_error() -> None:
    resolver = TariffResolver(estate(None, "dundee-flat-2018"), BOOK)
    assert resolver.tariff_for("A").id == "dundee-flat-2018"
    with pytest.raises(UnresolvedTariffError, match="'B' has no tariff"):
        resolver.tariff_for("B")
    with pytest.raises(UnresolvedTariffError, match="'Z' is not in the inventory"):
        resolver.tariff_for("Z")


def test_a_dangling_reference_is_refused_up_front() -> None:
    with pytest.raises(TariffError, match="charger A names tariff 'nope'; known tariffs: be-"):
        TariffResolver(estate(None, "nope"), BOOK)
    with pytest.raises(TariffError, match="station S names tariff 'gone'"):
        TariffResolver(estate("gone", None), BOOK)


def test_inventory_files_carry_tariff_ids_and_old_files_still_load(tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    old = {
        "stations": [{"station_id": "S", "name": "s", "lat": 1.0, "lon": 2.0}],
        "chargers": [
            {
                "charger_id": "A",
                "station_id": "S",
                "connectors": [{"connector_id": 1, "max_power_w": 7400}],
            }
        ],
    }
    path.write_text(json.dumps(old))
    assert load_inventory(path).chargers[0].tariff_id is None
    old["chargers"][0]["tariff_id"] = "uk-tou-ac-2024"  # type: ignore[index]
    path.write_text(json.dumps(old))
    inv = load_inventory(path)
    assert TariffResolver(inv, BOOK).tariff_id_for("A") == "uk-tou-ac-2024"
