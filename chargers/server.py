"""The thin WebSocket entry of the central system: ``ws://HOST:PORT/<charger_id>``.

It refuses what is not a charger connection (no id in the path, no supported OCPP subprotocol:
``ocpp2.0.1`` is preferred over ``ocpp1.6`` when both are offered) and hands each connection to
one protocol object from :mod:`chargers.csms`. Listens on ``settings.host`` (loopback unless
configured otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from chargegrid.clock import Clock, SystemClock
from chargegrid.eventlog import BatchingProducer, EventLog
from chargegrid.inventory import Inventory, load_inventory
from chargegrid.settings import Settings
from chargers.commands import ControlEndpoint, CsmsCommands, control_token
from chargers.csms import CsmsContext, CsmsStats, protocol_for
from chargers.transactions import FILE_NAME, TransactionRegistry

LOGGER = logging.getLogger("chargers.server")
SUBPROTOCOLS = [Subprotocol("ocpp2.0.1"), Subprotocol("ocpp1.6")]
MAX_CHARGER_ID = 64


def charger_id_of(path: str) -> str | None:
    """The charger id in a request path, or None when the path does not name exactly one."""
    name = unquote(urlsplit(path).path).strip("/")
    if not name or "/" in name or len(name) > MAX_CHARGER_ID:
        return None
    return name


def _check_request(connection: ServerConnection, request: Request) -> Response | None:
    if charger_id_of(request.path) is None:
        return connection.respond(HTTPStatus.NOT_FOUND, "expected ws://host:port/<charger_id>\n")
    return None


@dataclass
class CsmsHandle:
    """A running central system (in-process): where it listens and how to stop it."""

    url: str
    port: int
    ctx: CsmsContext
    _server: Server
    _closed: bool = False

    @property
    def stats(self) -> CsmsStats:
        return self.ctx.stats

    async def close(self) -> None:
        """Stop listening, close every connection, flush the producer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._server.close()
        await self._server.wait_closed()
        await self.ctx.producer.close()
        self.ctx.registry.close()


async def _serve_connection(ctx: CsmsContext, ws: ServerConnection) -> None:
    charger_id = charger_id_of(ws.request.path if ws.request else "")
    if charger_id is None or ws.subprotocol is None:  # both refused at the handshake already
        await ws.close(1002, "OCPP subprotocol and charger id required")
        return
    cp = protocol_for(ws.subprotocol)(charger_id, ws, ctx)
    ctx.stats.connections += 1
    ctx.live[charger_id] = cp
    LOGGER.info("%s connected (%s)", charger_id, ws.subprotocol)
    try:
        with contextlib.suppress(ConnectionClosed):
            await cp.start()
    finally:
        if ctx.live.get(charger_id) is cp:
            del ctx.live[charger_id]
    LOGGER.info("%s disconnected", charger_id)


async def start_csms(
    settings: Settings,
    log: EventLog,
    inventory: Inventory,
    clock: Clock,
    *,
    follow_inventory_file: bool = False,
) -> CsmsHandle:
    """Start serving on ``settings.host:settings.csms_port`` (0 = any free port).

    ``follow_inventory_file``: a charger missing from ``inventory`` is looked up again in
    ``settings.inventory_path`` when that file has changed (a standalone server learns of chargers
    that a later ``replay`` or estate update adds).
    """
    producer = BatchingProducer(log, now_ms=lambda: int(clock.now().timestamp() * 1000))
    producer.start()
    ctx = CsmsContext(
        inventory=inventory,
        clock=clock,
        producer=producer,
        registry=TransactionRegistry(settings.data_dir / FILE_NAME),
        heartbeat_interval_s=settings.heartbeat_interval_s,
        inventory_path=settings.inventory_path if follow_inventory_file else None,
    )

    async def handler(ws: ServerConnection) -> None:
        await _serve_connection(ctx, ws)

    # remote start/stop for the BPP in another process (chargers.commands.ControlEndpoint)
    token = control_token(settings.data_dir, create=True)
    control = ControlEndpoint(CsmsCommands(ctx), token or "")

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        answer: Response | None = await control.respond(connection, request)
        return answer if answer is not None else _check_request(connection, request)

    server = await ws_serve(
        handler,
        settings.host,
        settings.csms_port,
        subprotocols=SUBPROTOCOLS,
        process_request=process_request,
        compression=None,
    )
    port = int(next(iter(server.sockets)).getsockname()[1])
    return CsmsHandle(url=f"ws://{settings.host}:{port}", port=port, ctx=ctx, _server=server)


async def _serve_until_signalled(settings: Settings) -> None:
    inventory = load_inventory(settings.inventory_path)
    with EventLog(settings.eventlog_path, settings.log_partitions) as log:
        handle = await start_csms(
            settings, log, inventory, SystemClock(), follow_inventory_file=True
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"csms listening on {handle.url}/<charger_id>", flush=True)
        try:
            await stop.wait()
        finally:
            await handle.close()
        print(f"csms stopped; {handle.ctx.producer.appended} records appended", flush=True)


def serve(settings: Settings) -> None:
    """``chargegrid serve csms``: run until SIGINT/SIGTERM, then close cleanly and flush."""
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve_until_signalled(settings))
