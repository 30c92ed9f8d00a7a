"""One pipeline for every Beckn action.

``Bpp.receive`` is the synchronous half, the same for every action: verify the signature(s) over
the raw body → the signer must be ``context.bap_id`` → parse into typed models → validate the
context (domain, version, bpp_id, action vs path, timestamp/ttl) → duplicate ``message_id`` →
ACK. The asynchronous half runs the action's handler (registered with ``@router.on(Action.x,
MessageModel)``) and commits its state changes, its ``on_<action>`` callback and the inbox mark in
one transaction; the delivery loop signs and POSTs callbacks, retrying with backoff until expiry.

The transport (FastAPI routes in :mod:`orders.api`) only hands over path, headers and raw body.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from chargegrid.clock import Clock
from chargegrid.settings import Settings
from orders.errors import (
    ActionNotApplicable,
    AuthenticationError,
    BecknError,
    InternalError,
    InvalidRequest,
    OrderChanged,
    StaleRequest,
    as_beckn_error,
)
from orders.models_v1 import Context, Envelope, Identity, dump, dump_json
from orders.registry import Subscription
from orders.signing import SIGNED_HEADERS, AuthorizationHeader, KeyPair, verify
from orders.store import Callback, InboxEntry, OrderStore, OutboxRow, Persist

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
MAX_BACKOFF_S = 30.0
FIRST_BACKOFF_S = 0.5
DELIVERY_CONCURRENCY = 64  # callbacks in flight at once, all BAPs together
# callbacks in flight to one BAP (scheme://host:port): a slow or hanging BAP uses up its own
# slots only. One BAP's throughput is this over its response time (16 / 50 ms = 320/s); more
# connections cost CPU per callback in the HTTP client's pool (16 about twice 4)
BAP_CONCURRENCY = 16
CALLBACK_TIMEOUT_S = 10.0  # one callback POST (connect, send, answer)
CONFLICT_ATTEMPTS = 3  # a handler re-runs when its order changed under it (optimistic check)
# actions that change an order: serialised per transaction (the others read, or write no order)
ORDER_WRITERS = frozenset({"init", "confirm", "update", "cancel"})


def callback_client() -> httpx.AsyncClient:
    """The HTTP client callbacks are POSTed with: one pooled connection per delivery slot, each
    kept alive for reuse (httpx keeps 20 by default: above that, with more BAPs than one busy,
    connections would be closed after each callback and opened again for the next)."""
    return httpx.AsyncClient(
        timeout=CALLBACK_TIMEOUT_S,
        limits=httpx.Limits(
            max_connections=DELIVERY_CONCURRENCY, max_keepalive_connections=DELIVERY_CONCURRENCY
        ),
    )


def route_changes_order(action: str) -> bool:
    return action in ORDER_WRITERS


class Action(StrEnum):
    search = "search"
    select = "select"
    init = "init"
    confirm = "confirm"
    status = "status"
    track = "track"
    update = "update"
    cancel = "cancel"
    rating = "rating"
    support = "support"
    get_rating_categories = "get_rating_categories"
    get_cancellation_reasons = "get_cancellation_reasons"


@dataclass(frozen=True)
class Inbound(Generic[M]):
    """A verified, validated request as a handler sees it."""

    context: Context
    message: M


@dataclass
class Outcome:
    """What a handler answers: the ``on_<action>`` message or a business error, plus the state
    changes to commit together with the callback."""

    message: BaseModel | None = None
    error: BecknError | None = None
    persist: Persist | None = None
    # ``message`` already serialised (equal to ``dump_json(message)``), when a handler has it
    message_json: bytes | None = None


Handler = Callable[[Inbound[Any]], Outcome | Awaitable[Outcome]]
"""A synchronous handler runs in a worker thread; an ``async def`` one on the event loop (for
handlers that await a charger command)."""

# the callback of most actions is ``on_<action>``; core v1.1.1 names these two differently
CALLBACK_ACTION = {
    "get_rating_categories": "rating_categories",
    "get_cancellation_reasons": "cancellation_reasons",
}


def callback_action(action: str) -> str:
    return CALLBACK_ACTION.get(action, f"on_{action}")


# what an error callback carries as ``message`` (core v1.1.1): most ``on_*`` bodies require only
# ``context`` but require content inside a ``message`` when one is present, so none is sent; these
# require a ``message`` itself, and the meta ones the (here empty) list inside it
ERROR_MESSAGE: dict[str, dict[str, Any]] = {
    "on_rating": {},
    "cancellation_reasons": {"cancellation_reasons": []},
    "rating_categories": {"rating_categories": []},
}


def error_message(callback: str) -> dict[str, Any] | None:
    """The ``message`` of an error callback named ``callback``; None when it is left out."""
    content = ERROR_MESSAGE.get(callback)
    return dict(content) if content is not None else None


@dataclass(frozen=True)
class Route:
    message_model: type[BaseModel]
    handler: Handler


class Router:
    """Action → (message model, handler); one instance per BPP (no module-level registry)."""

    def __init__(self) -> None:
        self._routes: dict[Action, Route] = {}

    def on(self, action: Action, message_model: type[BaseModel]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if action in self._routes:
                msg = f"a handler for {action} is already registered"
                raise ValueError(msg)
            self._routes[action] = Route(message_model, handler)
            return handler

        return register

    def route(self, action: Action) -> Route | None:
        return self._routes.get(action)

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(self._routes)


class KeyDirectory(Protocol):
    """Where public keys come from (the registry client, with its cache)."""

    async def subscription(self, subscriber_id: str, unique_key_id: str) -> Subscription: ...


@dataclass(frozen=True)
class BppConfig:
    bpp_id: str
    bpp_uri: str
    domain: str
    versions: frozenset[str] = frozenset({"1.1.0"})
    skew_s: float = 30.0
    default_ttl_s: float = 30.0
    signature_ttl_s: int = 300

    @classmethod
    def from_settings(cls, settings: Settings) -> BppConfig:
        return cls(
            bpp_id=settings.bpp_id,
            bpp_uri=settings.bpp_uri,
            domain=settings.beckn_domain,
            skew_s=settings.beckn_skew_s,
            default_ttl_s=settings.beckn_default_ttl_s,
            signature_ttl_s=settings.beckn_signature_ttl_s,
        )


@dataclass(frozen=True)
class Reply:
    """The synchronous HTTP answer: status code, ACK/NACK body, extra headers."""

    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def acked(self) -> bool:
        return bool(self.body["message"]["ack"]["status"] == "ACK")


def ack() -> Reply:
    return Reply(200, {"message": {"ack": {"status": "ACK"}}})


def nack(error: BecknError, *, realm: str) -> Reply:
    headers = {}
    if isinstance(error, AuthenticationError):
        headers["WWW-Authenticate"] = f'Signature realm="{realm}",headers="{SIGNED_HEADERS}"'
    body = {"message": {"ack": {"status": "NACK"}}, "error": error.to_wire()}
    return Reply(error.http_status, body, headers)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def validation_paths(exc: ValidationError) -> tuple[str, str]:
    """(``paths``: the failing fields, comma-separated; a short human message)."""
    errors = exc.errors(include_url=False, include_input=False)
    paths = []
    for err in errors[:10]:
        path = ""
        for part in err["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        paths.append(path or "$")
    first = errors[0]["msg"] if errors else "invalid"
    return ", ".join(paths), f"schema-invalid body: {first}"


def parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        paths, message = validation_paths(exc)
        raise InvalidRequest(message, paths=paths) from exc


class Bpp:
    """The protocol edge of one BPP: receive → ACK/NACK; handle; deliver callbacks."""

    def __init__(
        self,
        *,
        router: Router,
        store: OrderStore,
        keys: KeyPair,
        directory: KeyDirectory,
        clock: Clock,
        config: BppConfig,
        http: httpx.AsyncClient,
        workers: int = 2,
        relay: Callable[[], int] | None = None,
    ) -> None:
        self.router = router
        self.store = store
        self.keys = keys
        self.directory = directory
        self.clock = clock
        self.config = config
        self.http = http
        self.workers = workers
        self.relay = relay  # copies committed order events to the event log (each delivery pass)
        self._queue: asyncio.Queue[InboxEntry] = asyncio.Queue()
        self._wake = asyncio.Event()  # an outbox scan is wanted now (not at the next poll)
        self._scanning = asyncio.Lock()  # one outbox scan at a time
        self._slots = asyncio.Semaphore(DELIVERY_CONCURRENCY)
        self._bap_slots: weakref.WeakValueDictionary[str, asyncio.Semaphore] = (
            weakref.WeakValueDictionary()
        )
        self._in_flight: dict[int, asyncio.Task[None]] = {}  # outbox id -> its delivery
        self._settled: set[int] = set()  # deliveries ended since the current scan began
        self._live = False  # the delivery loop runs: answers are sent as soon as committed
        self._serial: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # -- synchronous half ------------------------------------------------------------------

    async def receive(self, path_action: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        """ACK or NACK one request; never raises."""
        try:
            return await self._receive(
                path_action, body, {k.lower(): v for k, v in headers.items()}
            )
        except BecknError as exc:
            return nack(exc, realm=self.config.bpp_id)
        except Exception:
            log.exception("unexpected failure receiving %s", path_action[:64])
            return nack(InternalError(), realm=self.config.bpp_id)

    async def _receive(self, path_action: str, body: bytes, headers: dict[str, str]) -> Reply:
        action, route = self._route(path_action)
        signer = await self._authenticate(body, headers)
        bap_id = parse(Identity, body).context.bap_id
        if signer.subscriber_id != bap_id:
            msg = f"signer {signer.subscriber_id} is not context.bap_id {bap_id}"
            raise AuthenticationError(msg)
        envelope = parse(Envelope[route.message_model], body)  # type: ignore[name-defined]
        expires_at = self._check_context(envelope.context, action)
        entry = InboxEntry(bap_id, action.value, envelope.context.message_id, body)
        now_ms = ms(self.clock.now())
        accepted = await asyncio.to_thread(
            self.store.accept,
            entry,
            envelope.context.transaction_id,
            now_ms=now_ms,
            expires_ms=ms(expires_at),
        )
        if accepted:
            self._queue.put_nowait(entry)
        return ack()

    def _route(self, path_action: str) -> tuple[Action, Route]:
        try:
            action = Action(path_action)
        except ValueError:
            msg = f"no such Beckn action: {path_action[:64]!r}"
            raise InvalidRequest(msg, paths="context.action") from None
        route = self.router.route(action)
        if route is None:
            msg = f"{action} is not offered by this BPP"
            raise ActionNotApplicable(msg)
        return action, route

    async def _authenticate(self, body: bytes, headers: dict[str, str]) -> AuthorizationHeader:
        value = headers.get("authorization")
        if not value:
            msg = "missing Authorization header"
            raise AuthenticationError(msg)
        signer = await self._verify(body, value, role=None)
        gateway = headers.get("x-gateway-authorization")
        if gateway:
            await self._verify(body, gateway, role="BG")
        return signer

    async def _verify(self, body: bytes, value: str, role: str | None) -> AuthorizationHeader:
        header = AuthorizationHeader.parse(value)
        sub = await self.directory.subscription(header.subscriber_id, header.unique_key_id)
        if role is not None and sub.type != role:
            msg = f"{header.subscriber_id} is registered as {sub.type}, not {role}"
            raise AuthenticationError(msg)
        verify(body, header, sub.public_key_bytes(), self.clock.now(), self.config.skew_s)
        return header

    def _check_context(self, ctx: Context, action: Action) -> datetime:
        """Raise on an inconsistent context; return when the request expires."""
        cfg = self.config
        if ctx.action != action.value:
            msg = f"context.action {ctx.action!r} does not match the endpoint /{action}"
            raise InvalidRequest(msg, paths="context.action")
        if ctx.domain != cfg.domain:
            msg = f"domain {ctx.domain!r} is not served here (we serve {cfg.domain})"
            raise InvalidRequest(msg, paths="context.domain")
        if ctx.version not in cfg.versions:
            msg = (
                f"version {ctx.version!r} unsupported (we speak {', '.join(sorted(cfg.versions))})"
            )
            raise InvalidRequest(msg, paths="context.version")
        if ctx.bpp_id != cfg.bpp_id and (ctx.bpp_id is not None or action != Action.search):
            msg = f"context.bpp_id {ctx.bpp_id!r} is not this BPP ({cfg.bpp_id})"
            raise InvalidRequest(msg, paths="context.bpp_id")
        now = self.clock.now()
        skew = timedelta(seconds=cfg.skew_s)
        if ctx.timestamp > now + skew:
            msg = "context.timestamp lies in the future beyond the tolerated clock skew"
            raise StaleRequest(msg, paths="context.timestamp")
        expires_at = ctx.timestamp + (ctx.ttl or timedelta(seconds=cfg.default_ttl_s))
        if expires_at < now - skew:
            msg = "request is stale: context.timestamp + ttl has passed"
            raise StaleRequest(msg, paths="context.ttl")
        return expires_at

    # -- asynchronous half -----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serialised(self, bap_id: str, transaction_id: str) -> AsyncIterator[None]:
        """Hold the lock of one transaction (one order): its requests and unsolicited changes run
        one at a time, in arrival order, never interleaved around an awaited charger command."""
        key = f"{bap_id}\x1f{transaction_id}"
        lock = self._serial.get(key)
        if lock is None:
            lock = self._serial[key] = asyncio.Lock()
        async with lock:
            yield

    async def handle(self, entry: InboxEntry) -> None:
        """Run the handler for an accepted request and queue its callback (never raises).

        Order-changing requests (``ORDER_WRITERS``) of one transaction are serialised
        (:meth:`serialised`); a writer outside that lock (an operator, another process) is
        caught by the order's version check, and the handler runs again on the new state, at
        most ``CONFLICT_ATTEMPTS`` times."""
        route = self.router.route(Action(entry.action))
        assert route is not None
        envelope = Envelope[route.message_model].model_validate_json(entry.body)  # type: ignore[name-defined]
        request = Inbound(envelope.context, envelope.message)
        serial = (
            self.serialised(envelope.context.bap_id, envelope.context.transaction_id)
            if route_changes_order(entry.action)
            else contextlib.nullcontext()
        )
        async with serial:
            queued = await self._answer(entry, route, request)
        if queued is not None and self._live:
            self._dispatch(queued)  # committed: send it now, the poll is only the fallback
        if self.relay is not None:
            self._wake.set()  # a scan relays the order events just committed

    async def _answer(
        self, entry: InboxEntry, route: Route, request: Inbound[Any]
    ) -> OutboxRow | None:
        """Run the handler and commit its outcome with its callback (retried on a conflict);
        returns the queued callback."""
        ctx = request.context
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            outcome = await self._run(route, request)
            callback = self.callback(ctx, outcome)
            try:
                outbox_id = await asyncio.to_thread(
                    self.store.complete,
                    entry,
                    callback,
                    now_ms=ms(self.clock.now()),
                    persist=outcome.persist,
                )
            except OrderChanged as exc:
                if attempt < CONFLICT_ATTEMPTS:
                    continue
                return await self._complete_failed(entry, ctx, exc)
            except BecknError as exc:  # a business rule re-checked at commit time
                return await self._complete_failed(entry, ctx, exc)
            except Exception:
                log.exception(
                    "committing the outcome of %s failed; reporting an internal error",
                    entry.action,
                )
                return await self._complete_failed(entry, ctx, InternalError())
            return _queued(outbox_id, callback)
        return None

    async def _run(self, route: Route, request: Inbound[Any]) -> Outcome:
        try:
            if inspect.iscoroutinefunction(route.handler):
                outcome: Outcome = await route.handler(request)
                return outcome
            result = await asyncio.to_thread(route.handler, request)
            assert isinstance(result, Outcome)
            return result
        except Exception as exc:
            if not isinstance(exc, BecknError):
                log.exception("handler for %s failed", request.context.action)
            return Outcome(error=as_beckn_error(exc))

    async def _complete_failed(
        self, entry: InboxEntry, ctx: Context, error: BecknError
    ) -> OutboxRow | None:
        failed = self.callback(ctx, Outcome(error=error))
        outbox_id = await asyncio.to_thread(
            self.store.complete, entry, failed, now_ms=ms(self.clock.now())
        )
        return _queued(outbox_id, failed)

    def callback(
        self, ctx: Context, outcome: Outcome, *, message_id: str | None = None
    ) -> Callback:
        """The ``on_<action>`` callback answering ``ctx`` (same transaction/message ids)."""
        now = self.clock.now()
        name = callback_action(ctx.action)
        reply_ctx = ctx.model_copy(
            update={
                "action": name,
                "bpp_id": self.config.bpp_id,
                "bpp_uri": self.config.bpp_uri,
                "timestamp": now,
                "message_id": message_id or ctx.message_id,
            }
        )
        payload: dict[str, Any] = {"context": dump(reply_ctx)}
        if outcome.message is not None:  # large catalogs: serialised by pydantic, spliced in
            payload["message"] = orjson.Fragment(
                outcome.message_json
                if outcome.message_json is not None
                else dump_json(outcome.message)
            )
        elif (empty := error_message(name)) is not None:
            payload["message"] = empty
        if outcome.error is not None:
            payload["error"] = outcome.error.to_wire()
        ttl = ctx.ttl or timedelta(seconds=self.config.default_ttl_s)
        return Callback(
            action=name,
            url=f"{ctx.bap_uri.rstrip('/')}/{name}",
            transaction_id=ctx.transaction_id,
            message_id=reply_ctx.message_id,
            body=orjson.dumps(payload),
            expires_ms=ms(max(ctx.timestamp + ttl, now)) + int(self.config.skew_s * 1000),
        )

    async def deliver_due(self) -> int:
        """One delivery pass: every due callback is sent (joined, when already in flight) and
        its outcome recorded; returns how many were attempted."""
        tasks = await self._start_due()
        await asyncio.gather(*tasks)
        return len(tasks)

    async def _start_due(self) -> list[asyncio.Task[None]]:
        """Relay order events, expire callbacks past their ttl, start every due delivery."""
        async with self._scanning:
            if self.relay is not None:
                try:
                    await asyncio.to_thread(self.relay)
                except Exception:
                    log.exception("relaying order events failed; retried next pass")
            now_ms = ms(self.clock.now())
            await asyncio.to_thread(self.store.expire, now_ms)
            in_flight = dict(self._in_flight)  # their bodies are not read again
            # a delivery that ends while due() reads may still be read as pending: skip those
            self._settled.clear()
            rows = await asyncio.to_thread(self.store.due, now_ms, skip=in_flight.keys())
            started = [self._dispatch(row) for row in rows if row.id not in self._settled]
            return started + [task for task in in_flight.values() if not task.done()]

    def _dispatch(self, row: OutboxRow) -> asyncio.Task[None]:
        """Start delivering ``row`` unless it is already in flight (never sent twice at once).
        Deliveries run side by side (``BAP_CONCURRENCY`` per BAP, ``DELIVERY_CONCURRENCY`` in
        all): a slow BAP holds up no other."""
        task = self._in_flight.get(row.id)
        if task is None:
            task = asyncio.create_task(self._deliver_in_slot(row))
            self._in_flight[row.id] = task
        return task

    def _bap_slot(self, url: str) -> asyncio.Semaphore:
        try:
            parsed = urlsplit(url)
            key = f"{parsed.scheme}://{parsed.netloc}"
        except ValueError:  # no URL (its delivery is rejected as such): a slot of its own
            key = url
        slot = self._bap_slots.get(key)
        if slot is None:
            slot = self._bap_slots[key] = asyncio.Semaphore(BAP_CONCURRENCY)
        return slot

    async def _deliver_in_slot(self, row: OutboxRow) -> None:
        try:
            async with self._bap_slot(row.callback.url), self._slots:
                await self._deliver(row)
        except Exception:
            log.exception("delivering callback %s failed; a later pass retries it", row.id)
        finally:
            del self._in_flight[row.id]
            self._settled.add(row.id)

    async def _deliver(self, row: OutboxRow) -> None:
        cb = row.callback
        now = self.clock.now()
        auth = self.keys.authorization_at(cb.body, now, self.config.signature_ttl_s)
        headers = {"Authorization": auth, "Content-Type": "application/json"}
        try:
            response = await self.http.post(cb.url, content=cb.body, headers=headers)
        except httpx.HTTPError as exc:
            await self._retry(row, f"{exc.__class__.__name__}: {exc}")
            return
        except httpx.InvalidURL as exc:  # bap_uri passed the schema but is no URL: never retried
            reason = f"InvalidURL: {exc}"[:300]
            await asyncio.to_thread(
                self.store.settle, row.id, "rejected", now_ms=ms(now), error=reason
            )
            return
        if response.status_code >= 500 or response.status_code in (408, 429):
            await self._retry(row, f"HTTP {response.status_code}")
            return
        status, error = _ack_status(response)
        await asyncio.to_thread(self.store.settle, row.id, status, now_ms=ms(now), error=error)

    async def _retry(self, row: OutboxRow, error: str) -> None:
        backoff_s = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2**row.attempts)
        next_ms = ms(self.clock.now()) + int(backoff_s * 1000)
        await asyncio.to_thread(
            self.store.retry_later, row.id, next_attempt_ms=next_ms, error=error[:500]
        )

    # -- running -----------------------------------------------------------------------------

    def wake(self) -> None:
        """Start a delivery pass now (something was queued outside a handler)."""
        self._wake.set()

    async def resume(self) -> int:
        """Queue requests ACKed but not answered before a restart; returns how many."""
        pending = await asyncio.to_thread(self.store.unhandled, ms(self.clock.now()))
        for entry in pending:
            self._queue.put_nowait(entry)
        return len(pending)

    async def drain(self) -> int:
        """Handle every queued request now, in this task (tools and tests without workers)."""
        handled = 0
        while not self._queue.empty():
            await self.handle(self._queue.get_nowait())
            self._queue.task_done()
            handled += 1
        return handled

    async def idle(self) -> None:
        """Wait until every accepted request is handled, then make one delivery pass (tests)."""
        await self._queue.join()
        await self.deliver_due()

    @contextlib.asynccontextmanager
    async def running(self, poll_s: float = 0.25) -> AsyncIterator[Bpp]:
        """Handler workers and the delivery loop, for the lifetime of the context. Answers are
        sent as soon as they are committed; the loop also scans the outbox when woken
        (:meth:`wake`) and every ``poll_s`` (retries due, callbacks queued by other tools)."""
        await self.resume()
        tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        tasks.append(asyncio.create_task(self._delivery_loop(poll_s)))
        self._live = True
        try:
            yield self
        finally:
            self._live = False
            tasks += self._in_flight.values()  # unsettled rows stay pending: sent after restart
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            entry = await self._queue.get()
            try:
                await self.handle(entry)
            finally:
                self._queue.task_done()

    async def _delivery_loop(self, poll_s: float) -> None:
        while True:
            self._wake.clear()  # before the scan: a wake during it means one more scan
            try:
                await self._start_due()
            except Exception:
                log.exception("callback delivery pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll_s)


def _queued(outbox_id: int | None, callback: Callback) -> OutboxRow | None:
    return None if outbox_id is None else OutboxRow(outbox_id, callback, 0, "pending")


class _AckStatus(BaseModel):
    status: str


class _AckMessage(BaseModel):
    ack: _AckStatus


class _AckBody(BaseModel):
    message: _AckMessage


def _ack_status(response: httpx.Response) -> tuple[str, str | None]:
    """``delivered`` when the BAP ACKed; ``rejected`` (with why) when it NACKed or refused."""
    try:
        status: str | None = _AckBody.model_validate_json(response.content).message.ack.status
    except ValidationError:
        status = None
    if response.is_success and status == "ACK":
        return "delivered", None
    return "rejected", f"HTTP {response.status_code}: {response.text[:300]}"
