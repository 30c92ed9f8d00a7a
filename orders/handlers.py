"""The BPP's action handlers: wire message → domain call → wire reply (through the mappers).

Every state change goes through :mod:`orders.repo` inside the handler's ``Outcome.persist``, so the
order row, its order event and the ``on_*`` callback commit in one transaction. ``update`` is the
one ``async`` handler: it awaits the charger command (:class:`chargers.commands.ChargerCommands`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Protocol

from chargegrid.clock import Clock
from chargegrid.settings import Settings
from chargers.commands import ChargerCommands, ChargerOffline
from orders import beckn_v1, orders_v1, repo
from orders import models_v1 as wire
from orders.domain.catalog import Catalog, EstateCatalog
from orders.domain.orders import (
    Collector,
    Confirmation,
    Order,
    OrderState,
    PaymentMethod,
    PricedQuote,
    TermsOfService,
)
from orders.domain.orders import draft as draft_order
from orders.domain.quote import FlatRatePricer, Mode, Pricer, quote
from orders.domain.search import search
from orders.domain.suggest import suggested_starts
from orders.domain.support import (
    DriverResponse,
    RatingCategory,
    Ticket,
    TicketStatus,
    channel_of,
    driver_responds,
    driver_response,
    load_ticket,
    open_ticket,
    rating_category,
    rating_value,
    save_rating,
    save_ticket,
)
from orders.errors import (
    ActionNotApplicable,
    FulfillmentUnavailable,
    InvalidRequest,
    ItemNotFound,
    OrderNotFound,
    ProviderNotFound,
)
from orders.events import OrderEventKind
from orders.models_v1 import (
    CancellationReasonsMessage,
    CancelMessage,
    EmptyMessage,
    OrderMessage,
    OrderRef,
    RatingMessage,
    SearchMessage,
    SelectMessage,
    SupportMessage,
    UpdateMessage,
)
from orders.protocol import Action, Inbound, Outcome, Router
from orders.reservations import Reservations
from orders.store import OrderStore

log = logging.getLogger(__name__)

CANCELLATION_REASONS = {
    "1": "Charger not working",
    "2": "Plans changed",
    "3": "Found another charger",
    "4": "Price too high",
    "5": "Can't attend booking",
    "6": "Waited too long",
}


TARIFF_FILE = "tariff.json"  # in the data directory: quotes priced by the billing kernel
DEFAULT_TERMS = TermsOfService(
    id="chargegrid-tos", version="1", url="http://127.0.0.1:8050/terms/1"
)


class Meter(Protocol):
    def delivered_wh(self, charger_id: str, transaction_id: str | None) -> int | None:
        """Energy delivered in that charging session (Wh), None while unknown."""
        ...


class NoMeter:
    """No meter source: the final bill falls back to the quote, flagged ``metered=false``."""

    def delivered_wh(self, charger_id: str, transaction_id: str | None) -> int | None:
        return None


@dataclass(frozen=True)
class OrderPolicy:
    """The operator's commercial terms for every order."""

    terms: TermsOfService = DEFAULT_TERMS
    methods: tuple[PaymentMethod, ...] = (PaymentMethod.card, PaymentMethod.upi)
    collected_by: Collector = Collector.bpp
    free_cancellation_before: timedelta = timedelta(minutes=30)
    late_fee_bp: int = 1000
    charging_fee_bp: int = 3000
    transaction_wait_s: float = 10.0  # how long start/stop wait for the charger's transaction
    transaction_poll_s: float = 0.1  # to open (StartTransaction) or close (StopTransaction)
    reservation_grace: timedelta = timedelta(minutes=15)  # a reservation lapses this long
    # after the window starts when nobody plugs in (or at the window's end, if sooner)
    approval_over_minor: int | None = None  # totals above this are provisional (pending)
    dashboard_url: str = "http://127.0.0.1:8050"
    support_phone: str = "1800 1080"
    support_email: str = "support@chargegrid.local"
    new_id: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))

    @classmethod
    def from_settings(cls, settings: Settings) -> OrderPolicy:
        dashboard = f"http://{settings.host}:{settings.dashboard_port}"
        return cls(
            terms=TermsOfService(id="chargegrid-tos", version="1", url=f"{dashboard}/terms/1"),
            dashboard_url=dashboard,
        )


def build_router(
    catalog: Callable[[], Catalog],
    pricer: Pricer,
    clock: Clock,
    *,
    corridor_m: float,
    store: OrderStore | None = None,
    commands: ChargerCommands | None = None,
    policy: OrderPolicy | None = None,
    meter: Meter | None = None,
) -> Router:
    """A router for search/select, plus the order lifecycle when given the ``store``."""
    router = Router()

    @router.on(Action.search, SearchMessage)
    def on_search(request: Inbound[SearchMessage]) -> Outcome:
        query = beckn_v1.search_query(request.message.intent, corridor_m)
        offers = search(catalog(), query)
        message, message_json = beckn_v1.on_search_rendered(offers, pricer, clock.now())
        return Outcome(message=message, message_json=message_json)

    @router.on(Action.select, SelectMessage)
    def on_select(request: Inbound[SelectMessage]) -> Outcome:
        current = catalog()
        wanted = beckn_v1.quote_request(request.message.order, current, pricer.currency)
        now = clock.now()
        ctx = request.context
        q = quote(current, wanted, pricer, now)
        return Outcome(
            message=beckn_v1.on_select(q, pricer, now, suggested=suggested_starts(q, pricer)),
            persist=repo.save_selection(ctx.bap_id, ctx.transaction_id, wanted),
        )

    if store is not None:
        Lifecycle(
            store=store,
            catalog=catalog,
            pricer=pricer,
            clock=clock,
            commands=commands,
            policy=policy or OrderPolicy(),
            meter=meter or NoMeter(),
        ).register(router)
    return router


@dataclass
class Lifecycle:
    """init … support over the order store."""

    store: OrderStore
    catalog: Callable[[], Catalog]
    pricer: Pricer
    clock: Clock
    commands: ChargerCommands | None
    policy: OrderPolicy
    meter: Meter

    def register(self, router: Router) -> None:
        router.on(Action.init, OrderMessage)(self.init)
        router.on(Action.confirm, OrderMessage)(self.confirm)
        router.on(Action.status, OrderRef)(self.status)
        router.on(Action.track, OrderRef)(self.track)
        router.on(Action.update, UpdateMessage)(self.update)
        router.on(Action.cancel, CancelMessage)(self.cancel)
        router.on(Action.rating, RatingMessage)(self.rating)
        router.on(Action.support, SupportMessage)(self.support)
        router.on(Action.get_rating_categories, EmptyMessage)(self.rating_categories)
        router.on(Action.get_cancellation_reasons, EmptyMessage)(self.cancellation_reasons)

    # -- helpers -----------------------------------------------------------------------------

    def _checked_provider(self, order: wire.Order, item_id: str, cat: Catalog) -> None:
        offer = cat.offers.get(item_id)
        if offer is None:
            msg = f"no connector {item_id!r} in our catalog"
            raise ItemNotFound(msg, paths="message.order.items[0].id")
        if order.provider and order.provider.id and order.provider.id != offer.site.operator:
            msg = f"item {item_id} is not offered by provider {order.provider.id!r}"
            raise ProviderNotFound(msg, paths="message.order.provider.id")

    def _order(self, ctx: wire.Context, order_id: str) -> Order:
        return repo.order_by_id(self.store, ctx.bap_id, order_id)

    def _reply(self, order: Order, kind: OrderEventKind | None = None) -> Outcome:
        return Outcome(
            message=orders_v1.order_message(order),
            persist=repo.saving((order, kind)) if kind is not None else None,
        )

    # -- init / confirm ----------------------------------------------------------------------

    def init(self, request: Inbound[OrderMessage]) -> Outcome:
        ctx, order = request.context, request.message.order
        existing = repo.order_of_transaction(self.store, ctx.bap_id, ctx.transaction_id)
        if existing is not None and existing.state != OrderState.draft:
            msg = f"transaction {ctx.transaction_id} already has order {existing.id}"
            raise ActionNotApplicable(msg)
        selection = repo.load_selection(self.store, ctx.bap_id, ctx.transaction_id)
        wanted = orders_v1.init_request(order, selection, self.pricer.currency)
        cat = self.catalog()
        self._checked_provider(order, wanted.item_id, cat)
        now = self.clock.now()
        q = quote(cat, wanted, self.pricer, now)
        p = self.policy
        new = draft_order(
            order_id=existing.id if existing else p.new_id(),
            transaction_id=ctx.transaction_id,
            bap_id=ctx.bap_id,
            bap_uri=ctx.bap_uri,
            q=q,
            unit_price_minor_per_kwh=self.pricer.unit_price_minor_per_kwh(q.offer, now),
            terms=p.terms,
            methods=p.methods,
            collected_by=p.collected_by,
            free_cancellation_before=p.free_cancellation_before,
            late_fee_bp=p.late_fee_bp,
            charging_fee_bp=p.charging_fee_bp,
            now=now,
        )
        if existing is not None:  # init again: a new draft replaces the old one (next version)
            new = new.model_copy(update={"version": existing.version + 1})
        return Outcome(
            message=orders_v1.order_message(new, reveal_id=False),
            persist=repo.saving((new, OrderEventKind.drafted)),
        )

    async def confirm(self, request: Inbound[OrderMessage]) -> Outcome:
        ctx, order = request.context, request.message.order
        current = repo.order_of_transaction(self.store, ctx.bap_id, ctx.transaction_id)
        if current is None:
            msg = f"no initialised order in transaction {ctx.transaction_id}: send init first"
            raise OrderNotFound(msg)
        if current.state != OrderState.draft:  # confirm repeated: answer with the order
            return self._reply(current)
        item = order.items[0].id if order.items else None
        if item and item != current.item_id:
            msg = f"confirm names {item}, the order is for {current.item_id}"
            raise ItemNotFound(msg, paths="message.order.items[0].id")
        limit = self.policy.approval_over_minor
        confirmed = current.confirm(
            orders_v1.acceptance(order, ctx.timestamp),
            self.clock.now(),
            needs_approval=limit is not None and current.quote.total_minor > limit,
            payment_reference=orders_v1.payment_reference(order),
        )
        if confirmed.confirmation == Confirmation.advance:
            confirmed = await self.reserve(confirmed)
        kind = (
            OrderEventKind.pending
            if confirmed.state == OrderState.pending
            else OrderEventKind.confirmed
        )
        return self._reply(confirmed, kind)

    @property
    def reservations(self) -> Reservations:
        return Reservations(self.store, self.commands, self.policy.reservation_grace)

    async def reserve(self, order: Order) -> Order:
        return await self.reservations.reserve(order)

    async def release(self, order: Order) -> None:
        await self.reservations.release(order)

    # -- status / track ----------------------------------------------------------------------

    def status(self, request: Inbound[OrderRef]) -> Outcome:
        return self._reply(self._order(request.context, request.message.order_id))

    def track(self, request: Inbound[OrderRef]) -> Outcome:
        order = self._order(request.context, request.message.order_id)
        url = f"{self.policy.dashboard_url.rstrip('/')}/track/{order.id}"
        active = "active" if order.state == OrderState.active else "inactive"
        return Outcome(
            message=wire.OnTrackMessage(tracking=wire.Tracking(id=order.id, url=url, status=active))
        )

    # -- update --------------------------------------------------------------------------------

    async def update(self, request: Inbound[UpdateMessage]) -> Outcome:
        ctx, msg = request.context, request.message
        order_id = msg.order.id
        current = (
            self._order(ctx, order_id)
            if order_id
            else repo.order_of_transaction(self.store, ctx.bap_id, ctx.transaction_id)
        )
        if current is None:
            text = "update names no order and the transaction has none"
            raise OrderNotFound(text, paths="message.order.id")
        target = msg.update_target.lower()
        code = orders_v1.fulfillment_code(msg.order)
        if "state" in target and code in orders_v1.START_CODES:
            return await self._start(current)
        if "state" in target and code in orders_v1.STOP_CODES:
            return await self._stop(current)
        if "quantity" in target or "stops" in target:
            return await self._modify(current, msg.order)
        text = f"cannot update {msg.update_target!r} with state {code!r}"
        raise InvalidRequest(text, paths="message.update_target")

    def _need_commands(self) -> ChargerCommands:
        if self.commands is None:
            msg = "remote start/stop is not available at this BPP"
            raise FulfillmentUnavailable(msg)
        return self.commands

    async def _start(self, order: Order) -> Outcome:
        if order.state != OrderState.confirmed:
            msg = f"order {order.id} is {order.state}; only a confirmed order can start charging"
            raise ActionNotApplicable(msg)
        commands = self._need_commands()
        try:
            accepted = await commands.remote_start(
                order.charger_id, order.connector_id, order.id_tag
            )
        except ChargerOffline as exc:
            raise FulfillmentUnavailable(str(exc)) from exc
        if not accepted:
            msg = f"charger {order.charger_id} refused to start connector {order.connector_id}"
            raise FulfillmentUnavailable(msg)
        tx = await self._transaction_change(commands, order, before=None)
        return self._reply(order.start(tx, self.clock.now()), OrderEventKind.started)

    async def _transaction_change(
        self, commands: ChargerCommands, order: Order, *, before: str | None
    ) -> str | None:
        """The connector's transaction once it differs from ``before`` (the charger opened or
        closed it after our command), or as it stands after ``transaction_wait_s``."""
        tries = max(1, int(self.policy.transaction_wait_s / self.policy.transaction_poll_s))
        tx = before
        for attempt in range(tries):
            tx = await commands.transaction_on(order.charger_id, order.connector_id)
            if tx != before or attempt == tries - 1:
                break
            await asyncio.sleep(self.policy.transaction_poll_s)
        return tx

    async def _stop(self, order: Order) -> Outcome:
        if order.state != OrderState.active:
            msg = f"order {order.id} is {order.state}; only an active order can stop charging"
            raise ActionNotApplicable(msg)
        commands = self._need_commands()
        tx = order.charging_transaction_id or await commands.transaction_on(
            order.charger_id, order.connector_id
        )
        if tx is not None:
            try:
                accepted = await commands.remote_stop(order.charger_id, tx)
            except ChargerOffline as exc:
                raise FulfillmentUnavailable(str(exc)) from exc
            if not accepted:
                msg = f"charger {order.charger_id} refused to stop transaction {tx}"
                raise FulfillmentUnavailable(msg)
            await self._transaction_change(commands, order, before=tx)  # its final reading
        delivered = self.meter.delivered_wh(order.charger_id, tx)
        metered = delivered is not None
        energy_wh = delivered if delivered is not None else order.quote.energy_wh
        billed = self._bill(order, energy_wh)
        done = order.stop(energy_wh, billed, self.clock.now(), metered=metered)
        return self._reply(done, OrderEventKind.completed)

    def _bill(self, order: Order, energy_wh: int) -> int:
        """The price of ``energy_wh`` on the order's connector, capped by the quoted total (and a
        budget): the driver never pays more than was agreed, whatever the charger overran."""
        offer = self.catalog().offers.get(order.item_id)
        if offer is None:  # connector gone from the estate: bill at the order's own unit rate
            ratio_minor = order.quote.total_minor * energy_wh
            total = ratio_minor // order.quote.energy_wh if order.quote.energy_wh else 0
        else:
            total = sum(
                x.amount_minor for x in self.pricer.lines(offer, energy_wh, order.window_start)
            )
        if order.mode == Mode.budget:
            total = min(total, order.amount)
        return min(total, order.quote.total_minor)  # an overrun is ours: never above the quote

    async def _modify(self, order: Order, update: wire.Order) -> Outcome:
        wanted = orders_v1.modified_request(order, update, self.pricer.currency)
        cat = self.catalog()
        now = self.clock.now()
        q = quote(cat, wanted, self.pricer, now)
        priced = PricedQuote.of(q, self.pricer.unit_price_minor_per_kwh(q.offer, now))
        new = order.modify(q.start, q.end, q.mode, q.requested, priced, now)
        held = order.reservation_id
        if held is not None and (new.window_start, new.window_end) != (
            order.window_start,
            order.window_end,
        ):  # the hold follows the window (same id: the charger replaces it)
            cleared = new.model_copy(update={"reservation_id": None, "reservation_status": None})
            new = await self.reservations.reserve(cleared, replacing=held)
        return self._reply(new, OrderEventKind.modified)

    # -- cancel --------------------------------------------------------------------------------

    async def cancel(self, request: Inbound[CancelMessage]) -> Outcome:
        ctx, msg = request.context, request.message
        order = self._order(ctx, msg.order_id)
        reason_id = msg.cancellation_reason_id
        if reason_id is not None and reason_id not in CANCELLATION_REASONS:
            text = f"unknown cancellation_reason_id {reason_id!r} (see get_cancellation_reasons)"
            raise InvalidRequest(text, paths="message.cancellation_reason_id")
        reason = (
            msg.descriptor.short_desc
            if msg.descriptor and msg.descriptor.short_desc
            else CANCELLATION_REASONS.get(reason_id or "")
        )
        cancelled = order.cancel(reason, self.clock.now())
        if order.state == OrderState.confirmed:
            await self.release(order)
        return self._reply(cancelled, OrderEventKind.cancelled)

    # -- rating / support ----------------------------------------------------------------------

    def rating(self, request: Inbound[RatingMessage]) -> Outcome:
        ctx = request.context
        checked = []
        for i, r in enumerate(request.message.ratings):
            category = rating_category(r.rating_category, i)
            value = rating_value(r.value, i)
            if category in (RatingCategory.order, RatingCategory.fulfillment):
                self._order(ctx, r.id)  # OrderNotFound for someone else's or no order
            checked.append((r.id, category, value, r.comment))
        now = self.clock.now()

        def persist(db: sqlite3.Connection) -> None:
            for ref, category, value, comment in checked:
                save_rating(db, ctx.bap_id, ref, category, value, comment, now)

        form = wire.FeedbackForm(url=f"{self.policy.dashboard_url.rstrip('/')}/feedback")
        return Outcome(
            message=wire.OnRatingMessage(
                feedback_form=wire.FeedbackFormRef(form=form, required=False)
            ),
            persist=persist,
        )

    def support(self, request: Inbound[SupportMessage]) -> Outcome:
        """A new ticket, or the driver's confirm/reopen of a resolved one (``ticket`` tags)."""
        ctx, s = request.context, request.message.support
        answer = orders_v1.ticket_request(s)
        if answer is not None:
            return self._driver_responds(ctx, *answer)
        ref = s.ref_id or ctx.transaction_id
        ticket = open_ticket(
            self.policy.new_id(),
            ctx.bap_id,
            ref,
            channel_of(s.channel or ("phone" if s.callback_phone else None)),
            self.clock.now(),
            transaction_id=ctx.transaction_id,
            bap_uri=ctx.bap_uri,
        )

        def persist(db: sqlite3.Connection) -> None:
            save_ticket(db, ticket)

        return Outcome(message=self._support_message(ticket), persist=persist)

    def _driver_responds(self, ctx: wire.Context, ticket_id: str, text: str) -> Outcome:
        response = driver_response(text)
        with self.store.reading() as db:  # refuse early (a typed error, not a failed commit)
            current = load_ticket(db, ticket_id, ctx.bap_id)
        if current.status != TicketStatus.resolved:
            msg = f"ticket {ticket_id} is {current.status}; only a resolved ticket can be answered"
            raise ActionNotApplicable(msg, paths="message.support.tags")
        now = self.clock.now()
        after = replace(
            current,
            status=TicketStatus.closed if response == DriverResponse.confirm else TicketStatus.open,
            reopened=current.reopened + (response == DriverResponse.reopen),
        )

        def persist(db: sqlite3.Connection) -> None:
            driver_responds(db, ticket_id, ctx.bap_id, response, now)

        return Outcome(message=self._support_message(after), persist=persist)

    def _support_message(self, ticket: Ticket) -> wire.OnSupportMessage:
        return wire.OnSupportMessage(
            support=wire.Support(
                ref_id=ticket.ref_id,
                phone=self.policy.support_phone,
                email=self.policy.support_email,
                url=f"{self.policy.dashboard_url.rstrip('/')}/support/{ticket.id}",
            )
        )

    def rating_categories(self, request: Inbound[EmptyMessage]) -> Outcome:
        return Outcome(
            message=wire.RatingCategoriesMessage(
                rating_categories=[c.value for c in RatingCategory]
            )
        )

    def cancellation_reasons(self, request: Inbound[EmptyMessage]) -> Outcome:
        return Outcome(
            message=CancellationReasonsMessage(
                cancellation_reasons=[
                    wire.Option(id=k, descriptor=wire.Descriptor(short_desc=v))
                    for k, v in CANCELLATION_REASONS.items()
                ]
            )
        )


def estate_router(
    settings: Settings,
    clock: Clock,
    store: OrderStore | None = None,
    commands: ChargerCommands | None = None,
    meter: Meter | None = None,
) -> Router:
    """The router over the estate on disk, priced at the configured flat rate."""
    estate = EstateCatalog(settings.inventory_path, settings.live_dir)
    pricer: Pricer = FlatRatePricer(
        settings.beckn_currency, settings.beckn_price_minor_per_kwh, settings.beckn_tax_bp
    )
    tariff_file = settings.data_dir / TARIFF_FILE
    if tariff_file.exists():  # the billing kernel prices quotes with the operator's tariff
        from chargegrid.tariffs import load_tariff
        from orders.domain.tariff_pricer import TariffPricer

        pricer = TariffPricer(load_tariff(tariff_file))
    return build_router(
        estate.current,
        pricer,
        clock,
        corridor_m=settings.beckn_corridor_m,
        store=store,
        commands=commands,
        policy=OrderPolicy.from_settings(settings),
        meter=meter,
    )
