"""BPP test helpers: keys, a fake key directory, a small estate, a BAP that records callbacks,
signing of request bodies, and servers on 127.0.0.1 that tests start and stop."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chargegrid.clock import Clock, FrozenClock
from chargegrid.inventory import Charger, Connector, Inventory, Station
from chargegrid.live import ConnectorLive, LiveSnapshot
from orders.domain.catalog import Catalog, build_catalog
from orders.domain.quote import FlatRatePricer
from orders.errors import AuthenticationError
from orders.handlers import build_router
from orders.protocol import Bpp, BppConfig, Router
from orders.registry import Subscription
from orders.signing import AuthorizationHeader, KeyPair, verify
from orders.store import OrderStore

BPP_ID = "example-bpp.com"
BPP_URI = "https://example-bpp.com"
DOMAIN = "ev-charging:uei"
T_EXAMPLE = datetime(2023, 7, 16, 4, 41, 16, tzinfo=UTC)  # the select example's timestamp

BAP = KeyPair.generate("example-bap.com", "bap-key-1")
BAP_SEARCH = KeyPair.generate("example-bap-id", "bap-key-2")  # the search example's bap_id
GATEWAY = KeyPair.generate("gateway.example", "bg-key-1")
BPP_KEYS = KeyPair.generate(BPP_ID, "bpp-key-1")
PRICER = FlatRatePricer("INR", price_minor_per_kwh=800, tax_bp=1800)


def subscription(keys: KeyPair, role: str = "BAP") -> Subscription:
    return Subscription.model_validate(
        {
            "subscriber_id": keys.subscriber_id,
            "unique_key_id": keys.unique_key_id,
            "type": role,
            "url": "http://127.0.0.1:1",
            "signing_public_key": keys.public_key_b64,
            "valid_from": datetime(2000, 1, 1, tzinfo=UTC),
            "valid_until": datetime(2100, 1, 1, tzinfo=UTC),
        }
    )


@dataclass
class StaticDirectory:
    """A fake registry: a fixed set of subscriptions."""

    subs: dict[tuple[str, str], Subscription] = field(default_factory=dict)

    @classmethod
    def of(cls, *entries: tuple[KeyPair, str]) -> StaticDirectory:
        return cls({(k.subscriber_id, k.unique_key_id): subscription(k, r) for k, r in entries})

    async def subscription(self, subscriber_id: str, unique_key_id: str) -> Subscription:
        try:
            return self.subs[(subscriber_id, unique_key_id)]
        except KeyError:
            msg = f"no subscribed key {unique_key_id} for {subscriber_id}"
            raise AuthenticationError(msg) from None


DIRECTORY = StaticDirectory.of((BAP, "BAP"), (BAP_SEARCH, "BAP"), (GATEWAY, "BG"))


def estate() -> Inventory:
    """Two stations near the search example's point (12.42, 77.33) and one 30 km away."""
    near = Station(
        station_id="S1",
        name="ABC Charging station, sector 47",
        lat=12.4301,
        lon=77.3302,
        operator="example_provider_id",
    )
    near2 = Station(
        station_id="S2", name="Plaza house", lat=12.4000, lon=77.3400, operator="other_operator"
    )
    far = Station(
        station_id="S3", name="Far away", lat=12.70, lon=77.33, operator="example_provider_id"
    )
    return Inventory(
        stations=(near, near2, far),
        chargers=(
            Charger(
                charger_id="pe-charging",
                station_id="S1",
                connectors=(
                    Connector(
                        connector_id=1,
                        standard="IEC_62196_T2_COMBO",
                        current="DC",
                        max_power_w=30_000,
                    ),
                    Connector(
                        connector_id=2, standard="IEC_62196_T2", current="AC", max_power_w=22_000
                    ),
                ),
            ),
            Charger(
                charger_id="cp-s2",
                station_id="S2",
                connectors=(
                    Connector(
                        connector_id=1,
                        standard="IEC_62196_T2_COMBO",
                        current="DC",
                        max_power_w=60_000,
                    ),
                    Connector(
                        connector_id=2,
                        standard="IEC_62196_T2_COMBO",
                        current="DC",
                        max_power_w=60_000,
                    ),
                ),
            ),
            Charger(
                charger_id="cp-far",
                station_id="S3",
                connectors=(
                    Connector(
                        connector_id=1,
                        standard="IEC_62196_T2_COMBO",
                        current="DC",
                        max_power_w=50_000,
                    ),
                ),
            ),
        ),
    )


def live(statuses: dict[tuple[str, int], str], at: datetime = T_EXAMPLE) -> LiveSnapshot:
    return LiveSnapshot(
        generated_at=at,
        connectors=[
            ConnectorLive(charger_id=c, connector_id=n, status=s) for (c, n), s in statuses.items()
        ],
    )


ALL_FREE = {
    ("pe-charging", 1): "Available",
    ("pe-charging", 2): "Available",
    ("cp-s2", 1): "Available",
    ("cp-s2", 2): "Charging",
    ("cp-far", 1): "Available",
}


def catalog(statuses: dict[tuple[str, int], str] | None = None) -> Catalog:
    return build_catalog(estate(), live(ALL_FREE if statuses is None else statuses))


def router(clock: Clock, cat: Catalog | None = None) -> Router:
    fixed = cat or catalog()
    return build_router(lambda: fixed, PRICER, clock, corridor_m=2000.0)


def make_bpp(
    db: Path,
    clock: Clock,
    http: httpx.AsyncClient,
    *,
    cat: Catalog | None = None,
    route: Router | None = None,
) -> Bpp:
    return Bpp(
        router=route or router(clock, cat),
        store=OrderStore(db),
        keys=BPP_KEYS,
        directory=DIRECTORY,
        clock=clock,
        config=BppConfig(bpp_id=BPP_ID, bpp_uri=BPP_URI, domain=DOMAIN, skew_s=30.0),
        http=http,
    )


def sign(body: bytes, keys: KeyPair, now: datetime, ttl_s: int = 300) -> dict[str, str]:
    return {
        "Authorization": keys.authorization_at(body, now, ttl_s),
        "Content-Type": "application/json",
    }


def encode(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)


def search_body(now: datetime, bap_uri: str, **context: Any) -> dict[str, Any]:
    ctx = {
        "domain": DOMAIN,
        "action": "search",
        "version": "1.1.0",
        "bap_id": BAP.subscriber_id,
        "bap_uri": bap_uri,
        "transaction_id": "t-1",
        "message_id": "m-1",
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "ttl": "PT30S",
        **context,
    }
    intent = {
        "fulfillment": {
            "stops": [
                {
                    "location": {
                        "circle": {
                            "gps": "12.423423,77.325647",
                            "radius": {"type": "CONSTANT", "value": "5", "unit": "km"},
                        }
                    }
                }
            ],
            "tags": [{"list": [{"descriptor": {"code": "connector-type"}, "value": "CCS2"}]}],
        }
    }
    return {
        "context": {k: v for k, v in ctx.items() if v is not None},
        "message": {"intent": intent},
    }


# -- a BAP that records callbacks ----------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc

    def verify_signature(self, keys: KeyPair, now: datetime) -> None:
        header = AuthorizationHeader.parse(self.headers["authorization"])
        assert header.subscriber_id == keys.subscriber_id
        verify(self.body, header, keys.public_key, now, skew_s=0)


@dataclass
class RecordingBap:
    """Answers every callback with ACK (or with ``status_code`` while it is set) and keeps it."""

    received: list[Received] = field(default_factory=list)
    status_code: int = 200
    nack: bool = False

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def callback(path: str, request: Request) -> JSONResponse:
            self.received.append(Received(path, dict(request.headers), await request.body()))
            status = "NACK" if self.nack else "ACK"
            return JSONResponse(
                {"message": {"ack": {"status": status}}}, status_code=self.status_code
            )

        return app

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app()))


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 (free port) in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            msg = "test server did not start"
            raise RuntimeError(msg)
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def frozen(at: datetime = T_EXAMPLE) -> FrozenClock:
    return FrozenClock(at)


def later(clock: FrozenClock, seconds: float) -> datetime:
    return clock.at + timedelta(seconds=seconds)


def set_at(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    """Replace the value at ``path`` (keys and list indexes) inside a request document."""
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
