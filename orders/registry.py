"""Beckn registry: a ``/lookup`` client with a cache, and a small file-backed registry server.

The client asks ``POST {registry}/lookup`` with ``{"subscriber_id", "unique_key_id"}`` (the v1
registry API's ``Subscription`` filter) and keeps each answer until its ``valid_until``. Only
``SUBSCRIBED`` entries inside ``[valid_from, valid_until]`` are trusted.

The server (``chargegrid serve registry``) keeps subscribers in one JSON file (a list of
:class:`Subscription`) and answers ``/lookup`` by filtering on any field given; it is meant for
local and test networks, not for a production network (it does no ``/subscribe`` challenge).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chargegrid.clock import Clock
from chargegrid.errors import ChargegridError
from orders.errors import AuthenticationError, InternalError

Role = Literal["BAP", "BPP", "BG"]
Status = Literal[
    "INITIATED", "UNDER_SUBSCRIPTION", "SUBSCRIBED", "EXPIRED", "UNSUBSCRIBED", "INVALID_SSL"
]


class RegistryFileError(ChargegridError):
    """The registry file or a subscriber given to it is invalid."""


class RegistryUnavailable(InternalError):
    default_description = "Registry unavailable"


class Subscription(BaseModel):
    """One signing key of one network participant (v1 registry ``Subscription``)."""

    model_config = ConfigDict(extra="ignore")

    subscriber_id: Annotated[str, Field(min_length=1)]
    unique_key_id: Annotated[str, Field(min_length=1)]
    type: Role
    url: str
    domain: str | None = None
    signing_public_key: str
    encr_public_key: str | None = None
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    status: Status = "SUBSCRIBED"

    def public_key_bytes(self) -> bytes:
        try:
            return base64.b64decode(self.signing_public_key, validate=True)
        except (binascii.Error, ValueError) as exc:
            msg = f"registry key of {self.subscriber_id} is not base64"
            raise AuthenticationError(msg) from exc

    def trusted_at(self, now: datetime) -> bool:
        return self.status == "SUBSCRIBED" and self.valid_from <= now <= self.valid_until


class LookupRequest(BaseModel):
    """Filter of a ``/lookup``: every field given must match."""

    model_config = ConfigDict(extra="ignore")

    subscriber_id: str | None = None
    unique_key_id: str | None = None
    type: Role | None = None
    domain: str | None = None

    def matches(self, sub: Subscription) -> bool:
        wanted = self.model_dump(exclude_none=True)
        return all(getattr(sub, field) == value for field, value in wanted.items())


SUBSCRIPTIONS = TypeAdapter(list[Subscription])


class RegistryClient:
    """Looks up public keys on a registry and caches each entry until its ``valid_until``."""

    def __init__(self, base_url: str, clock: Clock, client: httpx.AsyncClient | None = None):
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self._client = client or httpx.AsyncClient(timeout=5.0)
        self._cache: dict[tuple[str, str], Subscription] = {}
        self.lookups = 0  # round trips made (the cache's effect is observable)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def subscription(self, subscriber_id: str, unique_key_id: str) -> Subscription:
        """The trusted entry for this key, or :class:`AuthenticationError` when there is none."""
        now = self.clock.now()
        cached = self._cache.get((subscriber_id, unique_key_id))
        if cached is not None and cached.trusted_at(now):
            return cached
        self._cache.pop((subscriber_id, unique_key_id), None)
        for sub in await self._lookup(
            LookupRequest(subscriber_id=subscriber_id, unique_key_id=unique_key_id)
        ):
            if (sub.subscriber_id, sub.unique_key_id) == (subscriber_id, unique_key_id) and (
                sub.trusted_at(now)
            ):
                self._cache[(subscriber_id, unique_key_id)] = sub
                return sub
        msg = f"no subscribed key {unique_key_id} for {subscriber_id} in the registry"
        raise AuthenticationError(msg)

    async def public_key(self, subscriber_id: str, unique_key_id: str) -> bytes:
        sub = await self.subscription(subscriber_id, unique_key_id)
        return sub.public_key_bytes()

    async def _lookup(self, request: LookupRequest) -> list[Subscription]:
        self.lookups += 1
        try:
            response = await self._client.post(
                f"{self.base_url}/lookup", json=request.model_dump(exclude_none=True)
            )
            response.raise_for_status()
            return SUBSCRIPTIONS.validate_json(response.content)
        except (httpx.HTTPError, ValidationError) as exc:
            raise RegistryUnavailable from exc


# -- file-backed registry ----------------------------------------------------------------------


class RegistryStore:
    """Subscribers in one JSON file; writes are atomic, reads see the file's latest content."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def all(self) -> list[Subscription]:
        if not self.path.exists():
            return []
        try:
            return SUBSCRIPTIONS.validate_json(self.path.read_bytes())
        except ValidationError as exc:
            msg = f"{self.path}: invalid registry file: {exc}"
            raise RegistryFileError(msg) from exc

    def lookup(self, request: LookupRequest) -> list[Subscription]:
        return [sub for sub in self.all() if request.matches(sub)]

    def add(self, subs: list[Subscription]) -> None:
        """Insert or replace (same ``subscriber_id`` and ``unique_key_id``) ``subs``."""
        with self._lock:
            by_key = {(s.subscriber_id, s.unique_key_id): s for s in self.all()}
            by_key.update({(s.subscriber_id, s.unique_key_id): s for s in subs})
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(SUBSCRIPTIONS.dump_json(list(by_key.values()), indent=1))
            os.replace(tmp, self.path)

    def add_file(self, source: Path) -> int:
        """Add the subscriber object (or list of them) in ``source``; returns how many."""
        try:
            data: Any = json.loads(source.read_text())
            subs = SUBSCRIPTIONS.validate_python(data if isinstance(data, list) else [data])
        except (OSError, ValueError) as exc:
            msg = f"{source}: not a subscriber (or list of subscribers): {exc}"
            raise RegistryFileError(msg) from exc
        self.add(subs)
        return len(subs)


def registry_app(store: RegistryStore) -> FastAPI:
    """FastAPI app answering ``POST /lookup`` from ``store``."""
    app = FastAPI(title="chargegrid registry", docs_url=None, redoc_url=None)

    @app.post("/lookup")
    async def lookup(request: Request) -> Response:
        try:
            query = LookupRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return JSONResponse({"error": {"code": "400", "message": str(exc)}}, status_code=400)
        found = store.lookup(query)
        return Response(SUBSCRIPTIONS.dump_json(found), media_type="application/json")

    return app


def serve_registry(path: Path, host: str, port: int) -> None:
    """Run the file-backed registry in the foreground (uvicorn) until interrupted."""
    import uvicorn

    uvicorn.run(registry_app(RegistryStore(path)), host=host, port=port, log_level="warning")
