"""Discovery: which offers match a driver's query (every criterion given must hold)."""

from __future__ import annotations

from dataclasses import dataclass

from orders.domain.catalog import Availability, Catalog, Level, Offer
from orders.domain.geo import LatLon, distance_m, distance_to_polyline_m


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
    found = [o for o in catalog.offers.values() if _matches(o, query)]
    if query.circle is not None:
        centre = query.circle.centre
        found.sort(key=lambda o: (distance_m(centre, (o.site.lat, o.site.lon)), o.item_id))
    else:
        found.sort(key=lambda o: (o.site.station_id, o.item_id))
    return found


def _matches(offer: Offer, q: SearchQuery) -> bool:
    here = (offer.site.lat, offer.site.lon)
    checks = (
        q.circle is None or distance_m(q.circle.centre, here) <= q.circle.radius_m,
        q.route is None or distance_to_polyline_m(here, q.route.points) <= q.route.corridor_m,
        not q.connector_types
        or bool(
            {offer.connector_type.lower(), offer.standard.lower()}
            & {c.lower() for c in q.connector_types}
        ),
        q.current is None or offer.current == q.current.upper(),
        q.min_power_w is None or offer.max_power_w >= q.min_power_w,
        not q.levels or offer.level in q.levels,
        q.operator is None or offer.site.operator.lower() == q.operator.lower(),
        q.text is None or _text_matches(offer, q.text),
        not q.available_only or offer.availability == Availability.available,
    )
    return all(checks)


def _text_matches(offer: Offer, text: str) -> bool:
    haystack = f"{offer.site.name} {offer.site.operator} {offer.site.station_id}".lower()
    return all(word in haystack for word in text.lower().split())
