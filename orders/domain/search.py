"""Discovery: which offers match a driver's query (every criterion given must hold)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from orders.domain.catalog import Availability, Catalog, Level, Offer
from orders.domain.geo import EARTH_RADIUS_M, LatLon, distance_m, distance_to_polyline_m


@dataclass(frozen=True)
class Circle:
    centre: LatLon
    radius_m: float


@dataclass(frozen=True)
class Route:
    """A polyline (at least two points) and how far from it a station may be."""

    points: tuple[LatLon, ...]
    corridor_m: float


@dataclass(frozen=True)
class SearchQuery:
    circle: Circle | None = None
    route: Route | None = None
    connector_types: frozenset[str] = frozenset()  # UEI codes or OCPI standards, any of
    current: str | None = None  # AC | DC
    min_power_w: float | None = None
    levels: frozenset[Level] = frozenset()
    operator: str | None = None
    text: str | None = None  # words that must all appear in the site/operator name
    available_only: bool = False


def search(catalog: Catalog, query: SearchQuery) -> list[Offer]:
    """Matching offers, nearest first when the query has a centre (else by site and item id)."""
    match = _matcher(query)
    found = [o for o in catalog.offers.values() if match(o)]
    if query.circle is not None:
        centre = query.circle.centre
        found.sort(key=lambda o: (distance_m(centre, (o.site.lat, o.site.lon)), o.item_id))
    else:
        found.sort(key=lambda o: (o.site.station_id, o.item_id))
    return found


def _matcher(q: SearchQuery) -> Callable[[Offer], bool]:
    """The query as one predicate: cheap criteria first, each evaluated only while all hold."""
    wanted_types = {c.lower() for c in q.connector_types}
    current = q.current.upper() if q.current is not None else None
    operator = q.operator.lower() if q.operator is not None else None
    circle = q.circle
    # a great circle is never shorter than its north-south component: offers further than the
    # radius in latitude alone (plus a margin for rounding: 1e-9 deg is 0.1 mm) are out without
    # computing the distance
    max_dlat_deg = (
        math.degrees(circle.radius_m / EARTH_RADIUS_M) * (1 + 1e-9) + 1e-9 if circle else math.inf
    )

    def near(offer: Offer) -> bool:
        if circle is None:
            return True
        here = (offer.site.lat, offer.site.lon)
        return (
            abs(here[0] - circle.centre[0]) <= max_dlat_deg
            and distance_m(circle.centre, here) <= circle.radius_m
        )

    def matches(offer: Offer) -> bool:
        return (
            (
                not wanted_types
                or offer.connector_type.lower() in wanted_types
                or offer.standard.lower() in wanted_types
            )
            and (current is None or offer.current == current)
            and (q.min_power_w is None or offer.max_power_w >= q.min_power_w)
            and (not q.levels or offer.level in q.levels)
            and (operator is None or offer.site.operator.lower() == operator)
            and (not q.available_only or offer.availability == Availability.available)
            and (q.text is None or _text_matches(offer, q.text))
            and near(offer)
            and (
                q.route is None
                or distance_to_polyline_m((offer.site.lat, offer.site.lon), q.route.points)
                <= q.route.corridor_m
            )
        )

    return matches


def _text_matches(offer: Offer, text: str) -> bool:
    haystack = f"{offer.site.name} {offer.site.operator} {offer.site.station_id}".lower()
    return all(word in haystack for word in text.lower().split())
