"""Order domain: catalog from the estate, search criteria, quotes by energy, minutes and money."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders.domain.catalog import Availability, Level, availability_of
from orders.domain.geo import distance_m, distance_to_polyline_m
from orders.domain.quote import FlatRatePricer, Mode, QuoteRequest, quote
from orders.domain.search import Circle, Route, SearchQuery, search
from orders.errors import InvalidRequest, ItemNotFound, QuantityUnavailable
from tests.orders.support import ALL_FREE, PRICER, T_EXAMPLE, catalog

POINT = (12.423423, 77.325647)


def ids(query: SearchQuery, statuses: dict[tuple[str, int], str] | None = None) -> list[str]:
    return [o.item_id for o in search(catalog(statuses), query)]


def test_distance_of_one_degree_of_latitude_is_about_111_km() -> None:
    assert distance_m((0.0, 0.0), (1.0, 0.0)) == pytest.approx(111_195, rel=1e-3)


def test_distance_to_polyline_is_measured_to_the_nearest_segment_not_vertex() -> None:
    line = [(0.0, 0.0), (0.0, 1.0)]  # along the equator
    assert distance_to_polyline_m((0.01, 0.5), line) == pytest.approx(1_112, rel=1e-2)
    assert distance_to_polyline_m((0.0, 1.01), line) == pytest.approx(1_112, rel=1e-2)


@pytest.mark.parametrize(
    ("status", "availability"),
    [
        ("Available", Availability.available),
        ("Charging", Availability.occupied),
        ("Faulted", Availability.unavailable),
        (None, Availability.unknown),
    ],
)
def test_live_status_maps_to_availability(status: str | None, availability: Availability) -> None:
    assert availability_of(status) == availability


def test_catalog_has_one_offer_per_connector_with_ocpi_mapped_to_uei_codes() -> None:
    offers = catalog().offers
    assert len(offers) == 5
    dc, ac = offers["pe-charging-01"], offers["pe-charging-02"]
    assert (dc.connector_type, dc.level, dc.availability) == ("CCS2", Level.DCFC, "Available")
    assert (ac.connector_type, ac.level) == ("Type2", Level.L2)
    assert offers["cp-s2-02"].availability == Availability.occupied


def test_circle_includes_the_boundary_and_sorts_nearest_first() -> None:
    s1_m = distance_m(POINT, (12.4301, 77.3302))
    assert ids(SearchQuery(circle=Circle(POINT, s1_m))) == ["pe-charging-01", "pe-charging-02"]
    assert ids(SearchQuery(circle=Circle(POINT, s1_m - 1))) == []
    assert ids(SearchQuery(circle=Circle(POINT, 5000)))[:2] == ["pe-charging-01", "pe-charging-02"]


def test_route_corridor_finds_stations_along_the_polyline_only() -> None:
    route = Route(((12.43, 77.20), (12.43, 77.45)), corridor_m=500)  # passes S1 (~11 m away)
    assert {i.split("-0")[0] for i in ids(SearchQuery(route=route))} == {"pe-charging"}
    wide = Route(route.points, corridor_m=5000)  # S2 is ~3.3 km south of the line
    assert {i.split("-0")[0] for i in ids(SearchQuery(route=wide))} == {"pe-charging", "cp-s2"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (SearchQuery(connector_types=frozenset({"Type2"})), ["pe-charging-02"]),
        (SearchQuery(connector_types=frozenset({"iec_62196_t2"})), ["pe-charging-02"]),
        (SearchQuery(current="AC"), ["pe-charging-02"]),
        (SearchQuery(min_power_w=50_000), ["cp-s2-01", "cp-s2-02", "cp-far-01"]),
        (SearchQuery(levels=frozenset({Level.L2})), ["pe-charging-02"]),
        (SearchQuery(operator="other_operator"), ["cp-s2-01", "cp-s2-02"]),
        (SearchQuery(text="plaza"), ["cp-s2-01", "cp-s2-02"]),
        (SearchQuery(text="plaza nowhere"), []),
        (SearchQuery(operator="other_operator", available_only=True), ["cp-s2-01"]),
    ],
)
def test_each_criterion_filters(query: SearchQuery, expected: list[str]) -> None:
    assert sorted(ids(query)) == sorted(expected)


# -- quotes ------------------------------------------------------------------------------------


def priced(mode: Mode, amount: int, item: str = "pe-charging-01", **kw: object) -> tuple[int, int]:
    q = quote(catalog(), QuoteRequest(item, mode, amount, **kw), PRICER, T_EXAMPLE)  # type: ignore[arg-type]
    return q.energy_wh, q.total_minor


def test_energy_quote_is_rate_times_energy_plus_tax_in_minor_units() -> None:
    assert priced(Mode.energy, 4_000) == (4_000, 3_200 + 576)
    assert priced(Mode.energy, 1) == (1, 1)  # 0.8 paise rounds half up to 1, tax 0.18 → 0


def test_minutes_quote_assumes_the_connector_rating() -> None:
    assert priced(Mode.duration, 30 * 60)[0] == 15_000  # 30 min at 30 kW


@given(st.integers(min_value=2, max_value=10**9))
def test_budget_quote_never_exceeds_the_budget_and_one_more_wh_would(budget_minor: int) -> None:
    energy_wh, total = priced(Mode.budget, budget_minor)
    assert total <= budget_minor
    start = T_EXAMPLE
    offer = catalog().offers["pe-charging-01"]
    assert sum(x.amount_minor for x in PRICER.lines(offer, energy_wh + 1, start)) > budget_minor


def test_budget_too_small_for_any_energy_is_refused() -> None:
    dear = FlatRatePricer("INR", price_minor_per_kwh=10**6)  # 1 Wh costs 1,000 minor units
    request = QuoteRequest("pe-charging-01", Mode.budget, 999)
    with pytest.raises(QuantityUnavailable, match="buys no energy"):
        quote(catalog(), request, dear, T_EXAMPLE)


def test_unknown_item_and_non_positive_amounts_are_refused() -> None:
    with pytest.raises(ItemNotFound):
        priced(Mode.energy, 1000, item="nope")
    with pytest.raises(InvalidRequest):
        priced(Mode.energy, 0)


def test_occupied_connector_is_refused_now_with_free_alternatives_but_bookable_later() -> None:
    statuses = {**ALL_FREE, ("cp-s2", 1): "Charging", ("cp-s2", 2): "Available"}
    with pytest.raises(QuantityUnavailable, match="alternatives: cp-s2-02"):
        quote(catalog(statuses), QuoteRequest("cp-s2-01", Mode.energy, 1000), PRICER, T_EXAMPLE)
    later = T_EXAMPLE + timedelta(hours=2)
    q = quote(
        catalog(statuses),
        QuoteRequest("cp-s2-01", Mode.energy, 1000, start=later),
        PRICER,
        T_EXAMPLE,
    )
    assert q.start == later


def test_faulted_connector_is_refused_even_for_later() -> None:
    statuses = {**ALL_FREE, ("pe-charging", 1): "Faulted"}
    later = T_EXAMPLE + timedelta(hours=2)
    with pytest.raises(QuantityUnavailable, match="unavailable"):
        quote(
            catalog(statuses),
            QuoteRequest("pe-charging-01", Mode.energy, 1, start=later),
            PRICER,
            T_EXAMPLE,
        )


def test_energy_that_cannot_fit_in_the_window_is_refused() -> None:
    end = T_EXAMPLE + timedelta(minutes=30)  # 30 kW x 0.5 h = 15 kWh at most
    assert priced(Mode.energy, 15_000, end=end)[0] == 15_000
    with pytest.raises(QuantityUnavailable, match="cannot be delivered"):
        priced(Mode.energy, 15_001, end=end)
    with pytest.raises(InvalidRequest, match="ends before"):
        priced(Mode.energy, 1, end=T_EXAMPLE)
