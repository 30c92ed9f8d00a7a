"""The search hot path: the circle filter's latitude short-cut never changes what matches, and the
catalog entries shared between on_search answers always show the connector's current facts."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargegrid.inventory import Charger, Connector, Inventory, Station
from orders import beckn_v1
from orders.domain.catalog import build_catalog
from orders.domain.geo import distance_m
from orders.domain.quote import FlatRatePricer
from orders.domain.search import Circle, SearchQuery, search
from orders.models_v1 import Context, dump
from orders.protocol import Outcome
from tests.orders.support import ALL_FREE, PRICER, T_EXAMPLE, catalog, frozen, make_bpp


def grid(points: list[tuple[float, float]]) -> Inventory:
    return Inventory(
        stations=tuple(
            Station(station_id=f"S{i}", name=f"S{i}", lat=lat, lon=lon)
            for i, (lat, lon) in enumerate(points)
        ),
        chargers=tuple(
            Charger(
                charger_id=f"C{i}",
                station_id=f"S{i}",
                connectors=(
                    Connector(
                        connector_id=1, standard="IEC_62196_T2", current="AC", max_power_w=22e3
                    ),
                ),
            )
            for i in range(len(points))
        ),
    )


LAT = st.floats(-80, 80, allow_nan=False)
LON = st.floats(-179, 179, allow_nan=False)


@given(
    centre=st.tuples(LAT, LON),
    offsets=st.lists(st.tuples(st.floats(-0.2, 0.2), st.floats(-0.2, 0.2)), max_size=20),
    radius_m=st.floats(0, 30_000),
)
def test_circle_search_matches_exactly_the_offers_within_the_radius(
    centre: tuple[float, float], offsets: list[tuple[float, float]], radius_m: float
) -> None:
    points = [(centre[0] + dlat, centre[1] + dlon) for dlat, dlon in offsets]
    points.append((centre[0] + radius_m / 111_195, centre[1]))  # about on the circle, due north
    cat = build_catalog(grid(points), None)
    found = {o.item_id for o in search(cat, SearchQuery(circle=Circle(centre, radius_m)))}
    expected = {
        o.item_id
        for o in cat.offers.values()
        if distance_m(centre, (o.site.lat, o.site.lon)) <= radius_m
    }
    assert found == expected


def item_tags(cat_statuses: dict[tuple[str, int], str], pricer: FlatRatePricer) -> dict[str, str]:
    cat = catalog(cat_statuses)
    msg = beckn_v1.on_search(list(cat.offers.values()), pricer, T_EXAMPLE)
    item = next(
        i for i in dump(msg)["catalog"]["providers"][0]["items"] if i["id"] == "pe-charging-01"
    )
    tags = {t["descriptor"]["code"]: t["value"] for t in item["tags"][0]["list"]}
    return {"availability": tags["availability"], "price": item["price"]["value"]}


def test_a_connector_turning_occupied_or_repriced_shows_in_the_next_on_search() -> None:
    assert item_tags(ALL_FREE, PRICER) == {"availability": "Available", "price": "8.00"}
    busy = {**ALL_FREE, ("pe-charging", 1): "Charging"}
    assert item_tags(busy, PRICER)["availability"] == "Occupied"
    dearer = FlatRatePricer("INR", price_minor_per_kwh=950, tax_bp=1800)
    assert item_tags(ALL_FREE, dearer) == {"availability": "Available", "price": "9.50"}
    assert item_tags(ALL_FREE, PRICER) == {"availability": "Available", "price": "8.00"}


def test_callback_body_carries_the_message_exactly_as_dump_renders_it(tmp_path: Path) -> None:
    cat = catalog()
    msg = beckn_v1.on_search(list(cat.offers.values()), PRICER, T_EXAMPLE)
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), httpx.AsyncClient())
    ctx = Context.model_validate(
        {
            "domain": "ev-charging:uei",
            "action": "search",
            "version": "1.1.0",
            "bap_id": "b",
            "bap_uri": "http://b",
            "transaction_id": "t",
            "message_id": "m",
            "timestamp": T_EXAMPLE.isoformat(),
        }
    )
    body = orjson.loads(bpp.callback(ctx, Outcome(message=msg)).body)
    assert body["message"] == dump(msg)
    assert body["context"]["action"] == "on_search"


@pytest.mark.parametrize(
    "statuses", [ALL_FREE, {**ALL_FREE, ("pe-charging", 1): "Faulted"}, {}], ids=str
)
def test_on_search_json_spliced_from_cached_entries_equals_the_message(
    statuses: dict[tuple[str, int], str],
) -> None:
    cat = catalog(statuses)  # two operators; availabilities change the cached entries
    for offers in (list(cat.offers.values()), []):
        message, message_json = beckn_v1.on_search_rendered(offers, PRICER, T_EXAMPLE)
        assert orjson.loads(message_json) == dump(message)
        assert message == beckn_v1.on_search(offers, PRICER, T_EXAMPLE)
