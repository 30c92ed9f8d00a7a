"""The BPP's action handlers: wire message → domain call → wire reply (through ``beckn_v1``)."""

from __future__ import annotations

from collections.abc import Callable

from chargegrid.clock import Clock
from chargegrid.settings import Settings
from orders import beckn_v1
from orders.domain.catalog import Catalog, EstateCatalog
from orders.domain.quote import FlatRatePricer, Pricer, quote
from orders.domain.search import search
from orders.models_v1 import SearchMessage, SelectMessage
from orders.protocol import Action, Inbound, Outcome, Router


def build_router(
    catalog: Callable[[], Catalog], pricer: Pricer, clock: Clock, *, corridor_m: float
) -> Router:
    """A router with every action this BPP implements so far (search, select)."""
    router = Router()

    @router.on(Action.search, SearchMessage)
    def on_search(request: Inbound[SearchMessage]) -> Outcome:
        query = beckn_v1.search_query(request.message.intent, corridor_m)
        offers = search(catalog(), query)
        return Outcome(message=beckn_v1.on_search(offers, pricer, clock.now()))

    @router.on(Action.select, SelectMessage)
    def on_select(request: Inbound[SelectMessage]) -> Outcome:
        current = catalog()
        wanted = beckn_v1.quote_request(request.message.order, current, pricer.currency)
        now = clock.now()
        return Outcome(message=beckn_v1.on_select(quote(current, wanted, pricer, now), pricer, now))

    return router


def estate_router(settings: Settings, clock: Clock) -> Router:
    """The router over the estate on disk, priced at the configured flat rate."""
    estate = EstateCatalog(settings.inventory_path, settings.live_dir)
    pricer = FlatRatePricer(
        settings.beckn_currency, settings.beckn_price_minor_per_kwh, settings.beckn_tax_bp
    )
    return build_router(estate.current, pricer, clock, corridor_m=settings.beckn_corridor_m)
