"""Beckn core v1.1.0 (UEI EV-charging profile) ↔ order domain. The only module that knows both.

Search intent (all optional, all must hold):

* ``fulfillment.stops[].location.circle`` {gps, radius {value, unit km|m|mi}} → around a point;
* two or more ``fulfillment.stops[].location.gps`` (no circle) → along that route (a polyline),
  within the ``route-corridor`` tag (e.g. ``"2km"``) or the configured default corridor;
* tags (in ``fulfillment.tags`` or ``intent.tags``): ``connector-type`` (comma-separated UEI codes
  or OCPI standards), ``charger-type`` (AC|DC), ``power-rating`` (minimum, e.g. ``"22kW"``),
  ``charger-level`` (L1|L2|DCFC), ``availability`` (``Available``: free connectors only);
* ``provider.id`` or ``provider.descriptor.name`` → operator; ``item.descriptor.name`` → words
  that must appear in the station or operator name. ``intent.descriptor`` and ``category`` are
  descriptive and do not filter.

Select: ``items[0].quantity.selected.measure`` is the order: unit ``kWh``/``Wh`` → energy,
``min``/``h`` → minutes, our ISO currency code (e.g. ``INR``) → a money budget. Start/finish stops
give the window (absent: now).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal, DecimalException
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from orders import models_v1 as wire
from orders.domain.catalog import Availability, Catalog, Level, Offer, Site
from orders.domain.quote import Mode, Pricer, Quote, QuoteRequest
from orders.domain.search import Circle, Route, SearchQuery
from orders.errors import FulfillmentUnavailable, InvalidRequest, ItemNotFound, ProviderNotFound
from orders.models_v1 import (
    BreakupLine,
    Descriptor,
    Fulfillment,
    Intent,
    Item,
    ItemQuantity,
    Location,
    OnSearchMessage,
    OnSelectMessage,
    Order,
    Price,
    Provider,
    QuantityValue,
    Scalar,
    Stop,
    Tag,
    TagGroup,
    Time,
)

MINOR_DIGITS = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3}  # ISO 4217 exponents other than 2
_POWER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(kw|w|mw)?\s*$", re.IGNORECASE)
_DISTANCE_M = {"m": 1.0, "km": 1000.0, "mi": 1609.344}
_ENERGY_WH = {"kwh": 1000, "wh": 1}
_DURATION_S = {
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
}
LEVELS = {
    "l1": Level.L1,
    "l2": Level.L2,
    "dcfc": Level.DCFC,
    "dc fast": Level.DCFC,
    "l3": Level.DCFC,
}


# -- money -------------------------------------------------------------------------------------


def plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and never in exponent form (``4.000`` → ``4``)."""
    return Decimal(format(value.normalize(), "f"))


def minor_digits(currency: str) -> int:
    return MINOR_DIGITS.get(currency, 2)


def to_major(amount_minor: int, currency: str) -> Decimal:
    """Integer minor units → a decimal amount (``1234`` INR → ``12.34``)."""
    return Decimal(amount_minor).scaleb(-minor_digits(currency))


def to_minor(value: Decimal, currency: str, path: str) -> int:
    """A decimal amount → integer minor units; more decimals than the currency has is an error."""
    try:
        scaled = value.scaleb(minor_digits(currency))
    except DecimalException as exc:  # beyond the decimal context (``1e999999``)
        msg = f"amount out of range: {value}"
        raise InvalidRequest(msg, paths=path) from exc
    if scaled != scaled.to_integral_value():
        msg = f"{value} has more decimals than {currency} allows"
        raise InvalidRequest(msg, paths=path)
    return int(scaled)


# -- search ------------------------------------------------------------------------------------


def search_query(intent: Intent, default_corridor_m: float) -> SearchQuery:
    """The domain query an ``intent`` asks for."""
    tags = _tag_values(
        [*(intent.fulfillment.tags or [] if intent.fulfillment else []), *(intent.tags or [])]
    )
    stops = intent.fulfillment.stops or [] if intent.fulfillment else []
    circle = next(
        (
            _circle(s.location, i)
            for i, s in enumerate(stops)
            if s.location is not None and s.location.circle is not None
        ),
        None,
    )
    route_points = tuple(
        _gps(s.location.gps, f"message.intent.fulfillment.stops[{i}]")
        for i, s in enumerate(stops)
        if s.location is not None and s.location.gps and s.location.circle is None
    )
    route = None
    if route_points:
        corridor = tags.get("route-corridor")
        corridor_m = _distance_m(corridor, "route-corridor") if corridor else default_corridor_m
        route = Route(route_points, corridor_m)
    provider = intent.provider
    operator = (
        provider.id or (provider.descriptor.name if provider.descriptor else None)
        if provider
        else None
    )
    text = intent.item.descriptor.name if intent.item and intent.item.descriptor else None
    return SearchQuery(
        circle=circle,
        route=route,
        connector_types=frozenset(
            c.strip() for c in tags.get("connector-type", "").split(",") if c.strip()
        ),
        current=_current(tags.get("charger-type")),
        min_power_w=_power_w(tags["power-rating"]) if "power-rating" in tags else None,
        levels=_levels(tags.get("charger-level")),
        operator=operator,
        text=text,
        available_only=tags.get("availability", "").lower() == "available",
    )


def _tag_values(groups: Iterable[TagGroup]) -> dict[str, str]:
    out: dict[str, str] = {}
    for group in groups:
        for tag in group.tags or []:
            if tag.descriptor and tag.descriptor.code and tag.value is not None:
                out[tag.descriptor.code.lower()] = tag.value
    return out


def _gps(text: str, path: str) -> tuple[float, float]:
    lat, _, lon = text.partition(",")
    try:
        return float(lat), float(lon)
    except ValueError as exc:
        msg = "gps must be 'lat,lon'"
        raise InvalidRequest(msg, paths=path) from exc


def _circle(location: Location | None, index: int) -> Circle:
    assert location is not None and location.circle is not None
    path = f"message.intent.fulfillment.stops[{index}].location.circle"
    radius = location.circle.radius
    factor = _DISTANCE_M.get((radius.unit or "km").lower())
    if factor is None or radius.value < 0:
        msg = f"radius must be a non-negative distance in m, km or mi, not {radius.unit!r}"
        raise InvalidRequest(msg, paths=f"{path}.radius")
    return Circle(_gps(location.circle.gps, path), float(radius.value) * factor)


def _distance_m(text: str, code: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(m|km|mi)?\s*", text, re.IGNORECASE)
    if match is None:
        msg = f"{code} must be a distance such as '2km', not {text!r}"
        raise InvalidRequest(msg, paths="message.intent.fulfillment.tags")
    return float(match.group(1)) * _DISTANCE_M[(match.group(2) or "km").lower()]


def _power_w(text: str) -> float:
    match = _POWER.match(text)
    if match is None:
        msg = f"power-rating must be a power such as '22kW', not {text!r}"
        raise InvalidRequest(msg, paths="message.intent.fulfillment.tags")
    factor = {"w": 1.0, "kw": 1e3, "mw": 1e6}[(match.group(2) or "kw").lower()]
    return float(match.group(1)) * factor


def _current(text: str | None) -> str | None:
    if text is None:
        return None
    if text.upper() not in ("AC", "DC"):
        msg = f"charger-type must be AC or DC, not {text!r}"
        raise InvalidRequest(msg, paths="message.intent.fulfillment.tags")
    return text.upper()


def _levels(text: str | None) -> frozenset[Level]:
    if not text:
        return frozenset()
    try:
        return frozenset(LEVELS[part.strip().lower()] for part in text.split(","))
    except KeyError as exc:
        msg = f"charger-level must be L1, L2 or DCFC, not {text!r}"
        raise InvalidRequest(msg, paths="message.intent.fulfillment.tags") from exc


def on_search(offers: list[Offer], pricer: Pricer, now: datetime) -> OnSearchMessage:
    """The catalog of ``offers``: one provider per operator, locations = stations."""
    return on_search_rendered(offers, pricer, now)[0]


def on_search_rendered(
    offers: list[Offer], pricer: Pricer, now: datetime
) -> tuple[OnSearchMessage, bytes]:
    """:func:`on_search` and its JSON (equal to ``dump_json`` of it), spliced from entries
    serialised once each: a large catalog is not serialised again for every search."""
    by_operator: dict[str, list[Offer]] = {}
    for offer in offers:
        by_operator.setdefault(offer.site.operator, []).append(offer)
    parts = [_provider(op, group, pricer, now) for op, group in by_operator.items()]
    message = OnSearchMessage(catalog=wire.Catalog(providers=[model for model, _ in parts]))
    return message, orjson.dumps({"catalog": {"providers": [doc for _, doc in parts]}})


def _provider(
    operator: str, offers: list[Offer], pricer: Pricer, now: datetime
) -> tuple[Provider, dict[str, Any]]:
    sites = {o.site.station_id: o.site for o in offers}
    chargers: dict[str, list[Offer]] = {}
    for o in offers:
        chargers.setdefault(o.charger_id, []).append(o)
    currency = pricer.currency
    locations = [_location(s) for s in sites.values()]
    items = [_catalog_item(o, currency, pricer.unit_price_minor_per_kwh(o, now)) for o in offers]
    fulfillments = [
        _charger_fulfillment(cid, any(o.availability == Availability.available for o in group))
        for cid, group in chargers.items()
    ]
    descriptor = Descriptor(name=operator)
    model = Provider(
        id=operator,
        descriptor=descriptor,
        locations=[m for m, _ in locations],
        items=[m for m, _ in items],
        fulfillments=[m for m, _ in fulfillments],
    )
    doc = {
        "id": operator,
        "descriptor": wire.dump(descriptor),
        "locations": [j for _, j in locations],
        "items": [j for _, j in items],
        "fulfillments": [j for _, j in fulfillments],
    }
    return model, doc


# A catalog's wire entries only change with the connector's own facts (an Offer is a frozen value:
# availability included) or its price, so each is built and serialised once and shared by every
# on_search that lists it (search is the BPP's hottest path). Shared models are never mutated.
CATALOG_CACHE_ENTRIES = 16_384
M = TypeVar("M", bound=BaseModel)


def _rendered(model: M) -> tuple[M, orjson.Fragment]:
    return model, orjson.Fragment(wire.dump_json(model))


@functools.lru_cache(maxsize=CATALOG_CACHE_ENTRIES)
def _location(site: Site) -> tuple[Location, orjson.Fragment]:
    return _rendered(
        Location(
            id=site.station_id,
            gps=f"{site.lat:.6f},{site.lon:.6f}",
            descriptor=Descriptor(name=site.name),
            address=site.name,
        )
    )


@functools.lru_cache(maxsize=CATALOG_CACHE_ENTRIES)
def _catalog_item(
    offer: Offer, currency: str, rate_minor_per_kwh: int
) -> tuple[Item, orjson.Fragment]:
    return _rendered(_item_at(offer, currency, rate_minor_per_kwh))


@functools.lru_cache(maxsize=CATALOG_CACHE_ENTRIES)
def _charger_fulfillment(charger_id: str, free: bool) -> tuple[Fulfillment, orjson.Fragment]:
    return _rendered(_fulfillment_of(charger_id, free))


def _item(offer: Offer, pricer: Pricer, now: datetime, selected: Scalar | None = None) -> Item:
    return _item_at(
        offer, pricer.currency, pricer.unit_price_minor_per_kwh(offer, now), selected=selected
    )


def _item_at(
    offer: Offer, currency: str, rate_minor_per_kwh: int, selected: Scalar | None = None
) -> Item:
    return Item(
        id=offer.item_id,
        descriptor=Descriptor(
            code="energy", name=f"{offer.connector_type} {offer.max_power_w / 1000:g} kW"
        ),
        price=Price(currency=f"{currency}/kWH", value=to_major(rate_minor_per_kwh, currency)),
        quantity=ItemQuantity(selected=QuantityValue(measure=selected)) if selected else None,
        tags=[
            _group(
                "Connector Specifications",
                [
                    _tag("connector Id", "connector-id", str(offer.connector_id)),
                    _tag("Charger Type", "charger-type", offer.current),
                    _tag("Connector Type", "connector-type", offer.connector_type),
                    _tag("Power Rating", "power-rating", f"{offer.max_power_w / 1000:g}kW"),
                    _tag("Charger Level", "charger-level", offer.level.value),
                    _tag("Availability", "availability", offer.availability.value),
                ],
            )
        ],
        location_ids=[offer.site.station_id],
        fulfillment_ids=[offer.charger_id],
    )


def _fulfillment(
    charger_id: str, offers: list[Offer], stops: list[Stop] | None = None
) -> Fulfillment:
    free = any(o.availability == Availability.available for o in offers)
    return _fulfillment_of(charger_id, free, stops)


def _fulfillment_of(charger_id: str, free: bool, stops: list[Stop] | None = None) -> Fulfillment:
    return Fulfillment(
        id=charger_id,
        type="CHARGING",
        stops=stops,
        tags=[
            _group(
                "Charging Point Specifications",
                [
                    _tag("Charger Id", "charger-id", charger_id),
                    _tag("Availability", "availability", "Available" if free else "Unavailable"),
                ],
            )
        ],
    )


def _group(name: str, tags: list[Tag]) -> TagGroup:
    return TagGroup.model_validate({"descriptor": Descriptor(name=name), "list": tags})


def _tag(name: str, code: str, value: str) -> Tag:
    # trusted values we built ourselves: skip validation (the hot path of large catalogs)
    return Tag.model_construct(
        descriptor=Descriptor.model_construct(name=name, code=code), value=value
    )


# -- select ------------------------------------------------------------------------------------


def quote_request(order: Order, catalog: Catalog, currency: str) -> QuoteRequest:
    """The domain quote request of a ``select`` order (provider/fulfillment ids checked)."""
    if not order.items or not order.items[0].id:
        msg = "select names no item"
        raise ItemNotFound(msg, paths="message.order.items[0].id")
    item = order.items[0]
    offer = catalog.offers.get(item.id or "")
    if offer is None:
        msg = f"no connector {item.id!r} in our catalog"
        raise ItemNotFound(msg, paths="message.order.items[0].id")
    if order.provider and order.provider.id and order.provider.id != offer.site.operator:
        msg = f"item {offer.item_id} is not offered by provider {order.provider.id!r}"
        raise ProviderNotFound(msg, paths="message.order.provider.id")
    fulfillment = order.fulfillments[0] if order.fulfillments else None
    if fulfillment and fulfillment.id and fulfillment.id != offer.charger_id:
        msg = f"fulfillment {fulfillment.id!r} does not serve item {offer.item_id}"
        raise FulfillmentUnavailable(msg, paths="message.order.fulfillments[0].id")
    mode, amount = _selected(item, currency)
    start, end = _window(fulfillment.stops or [] if fulfillment else [])
    return QuoteRequest(offer.item_id, mode, amount, start, end)


def _selected(item: Item, currency: str) -> tuple[Mode, int]:
    path = "message.order.items[0].quantity.selected.measure"
    measure = item.quantity.selected.measure if item.quantity and item.quantity.selected else None
    if measure is None:
        msg = "select needs items[0].quantity.selected.measure"
        raise InvalidRequest(msg, paths=path)
    unit = (measure.unit or "").strip()
    value = measure.value
    try:
        if unit.lower() in _ENERGY_WH:
            return Mode.energy, int((value * _ENERGY_WH[unit.lower()]).to_integral_value())
        if unit.lower() in _DURATION_S:
            return Mode.duration, int((value * _DURATION_S[unit.lower()]).to_integral_value())
    except DecimalException as exc:  # InvalidOperation, Overflow (``1e999999``), …
        msg = "quantity out of range"
        raise InvalidRequest(msg, paths=f"{path}.value") from exc
    if unit.upper() == currency:
        return Mode.budget, to_minor(value, currency, f"{path}.value")
    msg = f"unit {unit!r} is none of kWh, Wh, min, h or {currency}"
    raise InvalidRequest(msg, paths=f"{path}.unit")


def _window(stops: list[Stop]) -> tuple[datetime | None, datetime | None]:
    def at(kinds: tuple[str, ...]) -> datetime | None:
        for stop in stops:
            if (stop.type or "").lower() in kinds and stop.time is not None:
                return stop.time.timestamp or (stop.time.range.start if stop.time.range else None)
        return None

    return at(("start",)), at(("finish", "end"))


def on_select(
    q: Quote, pricer: Pricer, now: datetime, suggested: Sequence[Any] = ()
) -> OnSelectMessage:
    """The ``on_select`` order: item with its selection, fulfillment window, quote breakup, and
    cheaper start times (``suggested``: see :mod:`orders.domain.suggest`) as order tags."""
    cur = q.currency
    stops = [Stop(type="start", time=Time(timestamp=q.start))]
    if q.end is not None:
        stops.append(Stop(type="finish", time=Time(timestamp=q.end)))
    breakup = [
        _breakup_line(line.title, line.amount_minor, cur, line.energy_wh) for line in q.lines
    ]
    return OnSelectMessage(
        order=Order(
            provider=Provider(
                id=q.offer.site.operator, descriptor=Descriptor(name=q.offer.site.operator)
            ),
            items=[_item(q.offer, pricer, now, selected=_selection(q))],
            fulfillments=[_fulfillment(q.offer.charger_id, [q.offer], stops)],
            quote=wire.Quote(
                price=Price(currency=cur, value=to_major(q.total_minor, cur)),
                breakup=breakup,
                ttl=q.valid_until - now,
            ),
            tags=[_suggestion(s, cur) for s in suggested] or None,
        )
    )


def _suggestion(s: Any, currency: str) -> TagGroup:
    values = {
        "start": s.start.isoformat().replace("+00:00", "Z"),
        "end": s.end.isoformat().replace("+00:00", "Z"),
        "saving": f"{s.saving:.2f} {currency}",
        "saving-pct": f"{s.saving_pct:.1f}",
    }
    return TagGroup.model_validate(
        {
            "descriptor": {"code": "suggested-start", "name": "A cheaper time to charge"},
            "list": [{"descriptor": {"code": k}, "value": v} for k, v in values.items()],
        }
    )


def _selection(q: Quote) -> Scalar:
    if q.mode == Mode.energy:
        return Scalar(type="CONSTANT", value=plain(Decimal(q.requested).scaleb(-3)), unit="kWh")
    if q.mode == Mode.duration:
        return Scalar(type="CONSTANT", value=plain(Decimal(q.requested) / 60), unit="min")
    return Scalar(type="CONSTANT", value=to_major(q.requested, q.currency), unit=q.currency)


def _breakup_line(title: str, amount_minor: int, cur: str, energy_wh: int | None) -> BreakupLine:
    item = None
    if energy_wh is not None:
        estimate = Scalar(value=plain(Decimal(energy_wh).scaleb(-3)), unit="kWh")
        item = Item(
            descriptor=Descriptor(name="Estimated units consumed"),
            quantity=ItemQuantity(selected=QuantityValue(measure=estimate)),
        )
    return BreakupLine(
        title=title, item=item, price=Price(currency=cur, value=to_major(amount_minor, cur))
    )
