"""A small real Beckn BAP: signs requests with its own key, sends them to a BPP, and receives the
BPP's ``on_*`` callbacks on a loopback receiver that verifies their signatures.

:class:`Bap` is the protocol half (sign, send, receive, verify, wait for the callback answering a
``message_id``, or for an unsolicited one); :class:`Driver` speaks for an EV driver in one
transaction (search, select, init, confirm with the terms accepted, start, stop, status, cancel,
rating, support). :func:`run_orders` places a few orders against a running BPP (the demo uses
it); ``chargegrid bap ...`` drives each step from the terminal.

Callbacks whose signature does not verify, whose signer is not ``context.bpp_id`` or whose
``bap_id`` is not ours are refused with 401/400 and a NACK, and never reach the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from chargegrid.clock import Clock, SystemClock
from chargegrid.errors import ChargegridError
from chargegrid.inventory import load_inventory
from chargegrid.settings import Settings
from orders.errors import AuthenticationError, BecknError, InvalidRequest
from orders.models_v1 import Identity
from orders.protocol import KeyDirectory
from orders.registry import RegistryClient, RegistryStore, Subscription
from orders.signing import (
    AuthorizationHeader,
    KeyFileError,
    KeyPair,
    load_keypair,
    save_keypair,
    verify,
)


class BapError(ChargegridError):
    """The BPP NACKed a request, or its callback did not arrive in time."""


@dataclass(frozen=True)
class BapConfig:
    bap_id: str
    bpp_id: str
    bpp_uri: str  # the BPP's base URL: requests go to ``<bpp_uri>/<action>``
    domain: str = "ev-charging:uei"
    version: str = "1.1.0"
    ttl_s: int = 30
    signature_ttl_s: int = 300
    skew_s: float = 30.0


@dataclass(frozen=True)
class Received:
    """One verified callback."""

    action: str
    body: dict[str, Any]

    @property
    def context(self) -> dict[str, Any]:
        ctx: dict[str, Any] = self.body["context"]
        return ctx

    @property
    def message(self) -> dict[str, Any]:
        msg: dict[str, Any] = self.body.get("message") or {}
        return msg

    @property
    def error(self) -> dict[str, Any] | None:
        err: dict[str, Any] | None = self.body.get("error")
        return err


def _ack(status: str, error: BecknError | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": {"ack": {"status": status}}}
    if error is not None:
        body["error"] = error.to_wire()
    return body


@dataclass
class Bap:
    """Sends signed requests; receives and verifies callbacks (see the module doc)."""

    config: BapConfig
    keys: KeyPair
    directory: KeyDirectory  # where the BPP's public key comes from (a registry)
    clock: Clock
    http: httpx.AsyncClient
    inbox: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why callbacks were refused
    callback_uri: str = ""  # set by :meth:`receiving`
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    # -- receiving ---------------------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI(title="chargegrid BAP", docs_url=None, redoc_url=None, openapi_url=None)

        @app.post("/{action}")
        async def callback(action: str, request: Request) -> Response:
            body = await request.body()
            try:
                doc = await self._verified(body, request.headers)
            except BecknError as exc:
                self.refused.append(f"{action}: {exc}")
                return Response(
                    orjson.dumps(_ack("NACK", exc)),
                    status_code=exc.http_status,
                    media_type="application/json",
                )
            async with self._arrived:
                self.inbox.append(Received(action, doc))
                self._arrived.notify_all()
            return Response(orjson.dumps(_ack("ACK")), media_type="application/json")

        return app

    async def _verified(self, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        value = headers.get("authorization")
        if not value:
            msg = "callback without an Authorization header"
            raise AuthenticationError(msg)
        header = AuthorizationHeader.parse(value)
        sub = await self.directory.subscription(header.subscriber_id, header.unique_key_id)
        verify(body, header, sub.public_key_bytes(), self.clock.now(), self.config.skew_s)
        try:
            ident = Identity.model_validate_json(body)
            doc: dict[str, Any] = orjson.loads(body)
        except ValueError as exc:
            msg = "callback body is not a Beckn message"
            raise InvalidRequest(msg) from exc
        if ident.context.bap_id != self.config.bap_id:
            msg = f"callback for {ident.context.bap_id}, not us"
            raise InvalidRequest(msg, paths="context.bap_id")
        if header.subscriber_id != doc["context"].get("bpp_id"):
            msg = f"signer {header.subscriber_id} is not context.bpp_id"
            raise AuthenticationError(msg)
        return doc

    @contextlib.asynccontextmanager
    async def receiving(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the callback receiver on ``host:port`` (0: a free port) in this event loop for
        the lifetime of the context; yields (and sets) the callback URI."""
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        server = uvicorn.Server(uvicorn.Config(self.app(), log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if task.done():
                    task.result()
                    msg = "the BAP callback receiver stopped before listening"
                    raise BapError(msg)
                await asyncio.sleep(0.01)
            self.callback_uri = f"http://{host}:{sock.getsockname()[1]}"
            yield self.callback_uri
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task
            sock.close()

    # -- sending -----------------------------------------------------------------------------

    def context(self, action: str, transaction_id: str, message_id: str) -> dict[str, Any]:
        cfg = self.config
        return {
            "domain": cfg.domain,
            "action": action,
            "version": cfg.version,
            "bap_id": cfg.bap_id,
            "bap_uri": self.callback_uri,
            "bpp_id": cfg.bpp_id,
            "bpp_uri": cfg.bpp_uri,
            "transaction_id": transaction_id,
            "message_id": message_id,
            "timestamp": self.clock.now().isoformat().replace("+00:00", "Z"),
            "ttl": f"PT{cfg.ttl_s}S",
        }

    async def send(self, action: str, message: dict[str, Any] | None, transaction_id: str) -> str:
        """Sign and POST one request; returns its ``message_id``. BapError on a NACK."""
        if not self.callback_uri:
            msg = "start the callback receiver first (Bap.receiving)"
            raise BapError(msg)
        message_id = str(uuid.uuid4())
        doc: dict[str, Any] = {"context": self.context(action, transaction_id, message_id)}
        if message is not None:
            doc["message"] = message
        body = orjson.dumps(doc)
        auth = self.keys.authorization_at(body, self.clock.now(), self.config.signature_ttl_s)
        url = f"{self.config.bpp_uri.rstrip('/')}/{action}"
        try:
            response = await self.http.post(
                url,
                content=body,
                headers={"Authorization": auth, "Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            msg = f"BPP unreachable at {url}: {type(exc).__name__}"
            raise BapError(msg) from exc
        if response.status_code != 200 or b'"ACK"' not in response.content:
            msg = f"{action} NACKed by the BPP (HTTP {response.status_code}): {response.text[:300]}"
            raise BapError(msg)
        return message_id

    async def wait_for(
        self,
        *,
        message_id: str | None = None,
        action: str | None = None,
        transaction_id: str | None = None,
        after: int = 0,
        timeout_s: float = 15.0,
    ) -> Received:
        """The first callback (from inbox index ``after``) matching every given field."""

        def match() -> Received | None:
            for cb in self.inbox[after:]:
                ctx = cb.context
                if message_id is not None and ctx.get("message_id") != message_id:
                    continue
                if action is not None and cb.action != action:
                    continue
                if transaction_id is not None and ctx.get("transaction_id") != transaction_id:
                    continue
                return cb
            return None

        async def arrival() -> Received:
            async with self._arrived:
                while (found := match()) is None:
                    await self._arrived.wait()
                return found

        try:
            return await asyncio.wait_for(arrival(), timeout_s)
        except TimeoutError:
            what = message_id or action or "callback"
            msg = f"no {what} from the BPP within {timeout_s:.0f} s"
            raise BapError(msg) from None

    async def ask(
        self,
        action: str,
        message: dict[str, Any] | None,
        transaction_id: str,
        timeout_s: float = 15.0,
    ) -> Received:
        """Send a request and wait for the callback answering it."""
        message_id = await self.send(action, message, transaction_id)
        return await self.wait_for(message_id=message_id, timeout_s=timeout_s)


# -- a driver ------------------------------------------------------------------------------------


def tags(node: Mapping[str, Any], code: str) -> dict[str, str]:
    """The ``code`` tag group of ``node`` as {code: value} ({} when absent)."""
    for group in node.get("tags") or []:
        if (group.get("descriptor") or {}).get("code") == code:
            return {t["descriptor"]["code"]: t["value"] for t in group.get("list") or []}
    return {}


def state_code(order: Mapping[str, Any]) -> str:
    """The fulfillment state code of an order (``order-confirmed``, ``charging-start`` …)."""
    code: str = order["fulfillments"][0]["state"]["descriptor"]["code"]
    return code


def require(cb: Received) -> dict[str, Any]:
    """The callback's message; BapError when it carries an error instead."""
    if cb.error is not None:
        msg = f"{cb.action}: {cb.error.get('code')} {cb.error.get('message')}"
        raise BapError(msg)
    return cb.message


def all_tags(node: Mapping[str, Any]) -> dict[str, str]:
    """Every tag of ``node`` across its groups as {code: value}."""
    return {
        t["descriptor"]["code"]: t["value"]
        for group in node.get("tags") or []
        for t in group.get("list") or []
        if (t.get("descriptor") or {}).get("code") and "value" in t
    }


@dataclass(frozen=True)
class Offer:
    """A connector from an ``on_search`` catalog."""

    provider_id: str
    item_id: str
    fulfillment_id: str  # the charger
    connector_type: str
    availability: str


def _provider(offer: Offer) -> dict[str, Any]:
    return {"provider": {"id": offer.provider_id}} if offer.provider_id else {}


def offer_of(item_id: str, charger_id: str = "") -> Offer:
    """An offer known only by its item id (the command line): no provider named."""
    return Offer("", item_id, charger_id, "", "")


def offers(on_search: Received) -> list[Offer]:
    """Every connector an ``on_search`` catalog offers, in catalog order."""
    out = []
    for provider in require(on_search)["catalog"].get("providers") or []:
        for item in provider.get("items") or []:
            spec = all_tags(item)
            out.append(
                Offer(
                    provider["id"],
                    item["id"],
                    (item.get("fulfillment_ids") or [""])[0],
                    spec.get("connector-type", ""),
                    spec.get("availability", ""),
                )
            )
    return out


@dataclass
class Driver:
    """One driver's transaction with the BPP."""

    bap: Bap
    transaction_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    order_id: str | None = None

    async def search(
        self, gps: str, radius_km: float, connector_type: str | None = None
    ) -> Received:
        fulfillment: dict[str, Any] = {
            "stops": [
                {
                    "location": {
                        "circle": {
                            "gps": gps,
                            "radius": {"type": "CONSTANT", "value": str(radius_km), "unit": "km"},
                        }
                    }
                }
            ]
        }
        if connector_type:
            fulfillment["tags"] = [
                {"list": [{"descriptor": {"code": "connector-type"}, "value": connector_type}]}
            ]
        return await self.bap.ask(
            "search", {"intent": {"fulfillment": fulfillment}}, self.transaction_id
        )

    async def select(
        self, offer: Offer, value: Decimal | int | str, unit: str, start: datetime | None = None
    ) -> Received:
        """A quote for ``value`` ``unit`` (kWh, min or the currency code) on ``offer``."""
        measure = {"type": "CONSTANT", "value": str(value), "unit": unit}
        order: dict[str, Any] = {
            **_provider(offer),
            "items": [{"id": offer.item_id, "quantity": {"selected": {"measure": measure}}}],
        }
        if start is not None:
            stops = [{"type": "start", "time": {"timestamp": start.isoformat()}}]
            order["fulfillments"] = [{"id": offer.fulfillment_id, "stops": stops}]
        return await self.bap.ask("select", {"order": order}, self.transaction_id)

    async def init(self, offer: Offer) -> Received:
        order = {**_provider(offer), "items": [{"id": offer.item_id}]}
        return await self.bap.ask("init", {"order": order}, self.transaction_id)

    async def confirm(
        self, offer: Offer, on_init: Received, payment_ref: str = "pay-1"
    ) -> Received:
        """Accept the terms ``on_init`` offered (id, version, now) and confirm, paid."""
        terms = tags(require(on_init)["order"], "terms-of-service")
        acceptance = {
            "descriptor": {"code": "terms-acceptance"},
            "list": [
                {"descriptor": {"code": "terms-id"}, "value": terms["terms-id"]},
                {"descriptor": {"code": "terms-version"}, "value": terms["terms-version"]},
                {
                    "descriptor": {"code": "accepted-at"},
                    "value": self.bap.clock.now().isoformat(),
                },
            ],
        }
        order = {
            **_provider(offer),
            "items": [{"id": offer.item_id}],
            "tags": [acceptance],
            "payments": [{"status": "PAID", "params": {"transaction_id": payment_ref}}],
        }
        cb = await self.bap.ask("confirm", {"order": order}, self.transaction_id)
        self.order_id = require(cb)["order"]["id"]
        return cb

    def _order_id(self) -> str:
        if self.order_id is None:
            msg = "no order yet: confirm first (or pass the order id)"
            raise BapError(msg)
        return self.order_id

    async def _fulfillment(self, code: str) -> Received:
        message = {
            "update_target": "order.fulfillments[0].state",
            "order": {
                "id": self._order_id(),
                "fulfillments": [{"state": {"descriptor": {"code": code}}}],
            },
        }
        return await self.bap.ask("update", message, self.transaction_id, timeout_s=45.0)

    async def start(self) -> Received:
        return await self._fulfillment("start-charging")

    async def stop(self) -> Received:
        return await self._fulfillment("end-charging")

    async def status(self) -> Received:
        return await self.bap.ask("status", {"order_id": self._order_id()}, self.transaction_id)

    async def track(self) -> Received:
        return await self.bap.ask("track", {"order_id": self._order_id()}, self.transaction_id)

    async def cancel(self, reason_id: str = "2") -> Received:
        message = {"order_id": self._order_id(), "cancellation_reason_id": reason_id}
        return await self.bap.ask("cancel", message, self.transaction_id, timeout_s=45.0)

    async def rate(self, value: int, comment: str | None = None) -> Received:
        rating: dict[str, Any] = {
            "id": self._order_id(),
            "rating_category": "Order",
            "value": str(value),
        }
        if comment:
            rating["comment"] = comment
        return await self.bap.ask("rating", {"ratings": [rating]}, self.transaction_id)

    async def support(self, phone: str | None = None) -> Received:
        support: dict[str, Any] = {"ref_id": self._order_id()}
        if phone:
            support["callback_phone"] = phone
        return await self.bap.ask("support", {"support": support}, self.transaction_id)

    async def live_status(self, after: int, timeout_s: float = 30.0) -> Received:
        """The next unsolicited ``on_status`` of this transaction (from inbox index ``after``)."""
        return await self.bap.wait_for(
            action="on_status",
            transaction_id=self.transaction_id,
            after=after,
            timeout_s=timeout_s,
        )


def settlement(cb: Received) -> dict[str, str]:
    """The ``settlement`` tags of an order callback (billed, fee, refund, currency, metered)."""
    return tags(require(cb)["order"], "settlement")


# -- wiring: our BAP identity, a connected client, a few demo orders -----------------------------

DEFAULT_BAP_ID = "bap.chargegrid.local"
BAP_KEYS_DIR = "bap_keys"  # under the data directory, next to the BPP's ``keys``


def bap_keys(settings: Settings, clock: Clock, bap_id: str = DEFAULT_BAP_ID) -> KeyPair:
    """Our BAP key pair (generated on first use, file mode 0600) registered as type BAP in the
    local file-backed registry, so the BPP can verify what we sign."""
    directory = settings.data_dir / BAP_KEYS_DIR
    try:
        keys = load_keypair(directory)
    except KeyFileError:
        if (directory / "signing_key.json").exists():
            raise  # damaged: never overwrite a key silently
        keys = KeyPair.generate(bap_id)
        save_keypair(keys, directory)
    now = clock.now()
    RegistryStore(settings.registry_path).add(
        [
            Subscription(
                subscriber_id=keys.subscriber_id,
                unique_key_id=keys.unique_key_id,
                type="BAP",
                url=f"http://{settings.host}",
                domain=settings.beckn_domain,
                signing_public_key=keys.public_key_b64,
                valid_from=now - timedelta(minutes=5),
                valid_until=now + timedelta(days=365),
            )
        ]
    )
    return keys


@contextlib.asynccontextmanager
async def connected(
    settings: Settings,
    clock: Clock,
    *,
    bpp_url: str | None = None,
    directory: KeyDirectory | None = None,
    keys: KeyPair | None = None,
) -> AsyncIterator[Bap]:
    """A :class:`Bap` for the BPP of ``settings`` (or ``bpp_url``) with its callback receiver
    running on ``settings.host``; keys from :func:`bap_keys`, BPP keys from the registry."""
    config = BapConfig(
        bap_id=(keys.subscriber_id if keys else DEFAULT_BAP_ID),
        bpp_id=settings.bpp_id,
        bpp_uri=bpp_url or f"http://{settings.host}:{settings.bpp_port}",
        domain=settings.beckn_domain,
    )
    async with httpx.AsyncClient(timeout=60.0) as http:
        bap = Bap(
            config,
            keys or bap_keys(settings, clock),
            directory or RegistryClient(settings.registry_url, clock, http),
            clock,
            http,
        )
        async with bap.receiving(settings.host):
            yield bap


@dataclass(frozen=True)
class OrderRun:
    """What one demo order did: its ids, the quote, the settlement and the live updates seen."""

    transaction_id: str
    order_id: str
    quantity: str
    quoted: str
    settlement: dict[str, str]
    live_updates: int


async def nearest_offers(driver: Driver, gps: str, radius_km: float) -> list[Offer]:
    found = [o for o in offers(await driver.search(gps, radius_km)) if o.availability]
    return [o for o in found if o.availability == "Available"] or found


async def charge_once(
    bap: Bap,
    offer: Offer,
    value: Decimal | int | str,
    unit: str,
    *,
    charge_s: float = 2.0,
) -> OrderRun:
    """select → init → confirm → start → (live on_status) → stop → rating → support."""
    driver = Driver(bap)
    quote = require(await driver.select(offer, value, unit))["order"]["quote"]["price"]
    on_init = await driver.init(offer)
    await driver.confirm(offer, on_init)
    mark = len(bap.inbox)
    require(await driver.start())
    live = 0
    with contextlib.suppress(BapError):  # a BPP with a long status interval sends none
        await driver.live_status(mark, timeout_s=charge_s)
        live = sum(
            1
            for cb in bap.inbox[mark:]
            if cb.action == "on_status" and cb.context["transaction_id"] == driver.transaction_id
        )
    end = await driver.stop()
    require(await driver.rate(5, "quick and easy"))
    require(await driver.support())
    assert driver.order_id is not None
    return OrderRun(
        driver.transaction_id,
        driver.order_id,
        f"{value} {unit}",
        f"{quote['value']} {quote['currency']}",
        settlement(end),
        live,
    )


async def run_orders(
    settings: Settings,
    clock: Clock,
    *,
    gps: str | None = None,
    radius_km: float = 10.0,
    bpp_url: str | None = None,
) -> list[OrderRun]:
    """A kWh, a minutes and a money order against the running BPP of ``settings`` (the demo's
    hook). ``gps`` defaults to the first station of the inventory."""
    if gps is None:
        station = load_inventory(settings.inventory_path).stations[0]
        gps = f"{station.lat:.6f},{station.lon:.6f}"
    async with connected(settings, clock, bpp_url=bpp_url) as bap:
        found = await nearest_offers(Driver(bap), gps, radius_km)
        if not found:
            msg = f"no connector within {radius_km} km of {gps}"
            raise BapError(msg)
        runs = []
        for i, (value, unit) in enumerate(
            [("2", "kWh"), ("10", "min"), ("100", settings.beckn_currency)]
        ):
            runs.append(await charge_once(bap, found[i % len(found)], value, unit))
        return runs


# -- the command line (``chargegrid bap ...``) ---------------------------------------------------

Step = Callable[[Driver], Awaitable[Received | list[Received]]]


async def bap_session(settings: Settings, bpp_url: str | None, step: Step) -> list[str]:
    """Run one command-line ``step`` with a connected BAP; the callbacks as JSON lines, then the
    transaction and order ids to continue with."""
    async with connected(settings, SystemClock(), bpp_url=bpp_url) as bap:
        driver = Driver(bap)
        result = await step(driver)
    answers = result if isinstance(result, list) else [result]
    lines = [orjson.dumps(cb.body).decode() for cb in answers]
    if driver.order_id:
        lines.append(f"transaction {driver.transaction_id} order {driver.order_id}")
    return lines


def parse_quantity(text: str) -> tuple[str, str]:
    """``"4 kWh"`` → (``"4"``, ``"kWh"``); a clear error otherwise."""
    parts = text.split()
    if len(parts) != 2:
        msg = f"quantity {text!r}: give a number and a unit, e.g. '4 kWh', '30 min', '100 INR'"
        raise BapError(msg)
    try:
        Decimal(parts[0])
    except ArithmeticError:
        msg = f"quantity {text!r}: {parts[0]!r} is not a number"
        raise BapError(msg) from None
    return parts[0], parts[1]


async def place_order(driver: Driver, item_id: str, quantity: str) -> list[Received]:
    """select → init → confirm (terms accepted, paid) for ``quantity`` on ``item_id``."""
    value, unit = parse_quantity(quantity)
    offer = offer_of(item_id)
    selected = await driver.select(offer, value, unit)
    require(selected)
    on_init = await driver.init(offer)
    confirmed = await driver.confirm(offer, on_init)
    return [selected, on_init, confirmed]


ORDER_STEPS = ("start", "stop", "status", "track", "cancel", "rate", "support")


async def order_step(driver: Driver, action: str, transaction_id: str, order_id: str) -> Received:
    """One step of an existing order (``ORDER_STEPS``)."""
    driver.transaction_id, driver.order_id = transaction_id, order_id
    steps: dict[str, Callable[[], Awaitable[Received]]] = {
        "start": driver.start,
        "stop": driver.stop,
        "status": driver.status,
        "track": driver.track,
        "cancel": driver.cancel,
        "rate": lambda: driver.rate(5),
        "support": driver.support,
    }
    if action not in steps:
        msg = f"unknown step {action!r}: one of {', '.join(ORDER_STEPS)}"
        raise BapError(msg)
    return await steps[action]()
