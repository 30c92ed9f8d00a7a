"""FastAPI transport of the BPP: every ``POST /<action>`` goes through :class:`Bpp.receive`.

Routes only hand over path, headers and raw body (the signature covers the exact bytes) and turn
the :class:`Reply` into an HTTP response. Handler workers and callback delivery live as long as the
app (its lifespan).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from typing import TYPE_CHECKING

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from chargegrid.clock import Clock, SystemClock
from chargegrid.settings import Settings
from orders.errors import InternalError
from orders.protocol import Bpp, BppConfig, KeyDirectory, Reply, Router, callback_client, nack
from orders.registry import RegistryClient
from orders.signing import load_keypair
from orders.store import OrderStore

if TYPE_CHECKING:
    from orders.timers import Timers

log = logging.getLogger(__name__)


def _response(reply: Reply) -> Response:
    return Response(
        orjson.dumps(reply.body),
        status_code=reply.status_code,
        headers=reply.headers,
        media_type="application/json",
    )


def create_app(bpp: Bpp, *, timers: Timers | None = None) -> FastAPI:
    """The ASGI app serving ``bpp``; its lifespan runs the workers, the delivery loop and, when
    given, the background ``timers`` (periodic on_status, ticket escalation)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with bpp.running(), timers.running(bpp) if timers else nullcontext():
            yield

    app = FastAPI(
        title="chargegrid BPP", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.post("/{action}")
    async def receive(action: str, request: Request) -> Response:
        body = await request.body()
        return _response(await bpp.receive(action, body, request.headers))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.error("unexpected %s outside the pipeline", exc.__class__.__name__)
        return _response(nack(InternalError(), realm=bpp.config.bpp_id))

    return app


def build_bpp(
    settings: Settings,
    router: Router,
    *,
    clock: Clock | None = None,
    directory: KeyDirectory | None = None,
    http: httpx.AsyncClient | None = None,
    store: OrderStore | None = None,
    relay: Callable[[], int] | None = None,
) -> Bpp:
    """A :class:`Bpp` wired from settings: our key pair, the order store, the registry."""
    clock = clock or SystemClock()
    return Bpp(
        router=router,
        relay=relay,
        store=store or OrderStore(settings.orders_db_path),
        keys=load_keypair(settings.keys_dir),
        directory=directory or RegistryClient(settings.registry_url, clock),
        clock=clock,
        config=BppConfig.from_settings(settings),
        http=http or callback_client(),
    )


def serve_bpp(settings: Settings) -> None:
    """Run the BPP in the foreground (uvicorn on ``settings.host:bpp_port``) until interrupted."""
    import uvicorn

    from chargegrid.eventlog import EventLog
    from chargers.commands import HttpChargerCommands, control_token
    from orders.domain.catalog import EstateCatalog
    from orders.faults import FaultWatch
    from orders.handlers import OrderPolicy, estate_router
    from orders.meter import EventLogMeter
    from orders.repo import EventRelay
    from orders.reservations import Reservations
    from orders.timers import Timers

    clock = SystemClock()
    store = OrderStore(settings.orders_db_path)
    log_ = EventLog(settings.eventlog_path, settings.log_partitions)
    relay = EventRelay(store, log_, lambda: int(clock.now().timestamp() * 1000))
    # the CSMS runs in another process: remote start/stop through its control endpoint
    token = control_token(settings.data_dir, create=True) or ""
    commands = HttpChargerCommands(
        f"http://{settings.host}:{settings.csms_port}", token, httpx.AsyncClient(timeout=40.0)
    )
    meter = EventLogMeter(log_)
    router = estate_router(settings, clock, store, commands, meter)
    policy = OrderPolicy.from_settings(settings)
    faults = FaultWatch(
        EstateCatalog(settings.inventory_path, settings.live_dir).current,
        Reservations(store, commands, policy.reservation_grace),
    )
    timers = Timers(
        meter,
        status_every_s=settings.beckn_status_every_s,
        escalate_every_s=settings.support_escalate_every_s,
        faults=faults,
    )
    bpp = build_bpp(settings, router, clock=clock, store=store, relay=relay.relay)
    app = create_app(bpp, timers=timers)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.bpp_port,
        log_level="warning",
        loop="uvloop",  # pinned; ~11% less CPU per search than asyncio + h11 (bench_beckn)
        http="httptools",
    )
