"""Registry: the client against the real file-backed registry app (in-process ASGI transport)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from chargegrid.clock import FrozenClock
from orders.errors import AuthenticationError
from orders.registry import (
    RegistryClient,
    RegistryFileError,
    RegistryStore,
    RegistryUnavailable,
    Subscription,
    registry_app,
)
from orders.signing import KeyPair

pytestmark = pytest.mark.anyio
NOW = datetime(2025, 1, 1, tzinfo=UTC)
KEYS = KeyPair.generate("bap.example", "k1")


def subscription(
    keys: KeyPair = KEYS, *, until: datetime = NOW + timedelta(days=1), status: str = "SUBSCRIBED"
) -> Subscription:
    return Subscription.model_validate(
        {
            "subscriber_id": keys.subscriber_id,
            "unique_key_id": keys.unique_key_id,
            "type": "BAP",
            "url": "http://127.0.0.1:1/bap",
            "signing_public_key": keys.public_key_b64,
            "valid_from": NOW - timedelta(days=1),
            "valid_until": until,
            "status": status,
        }
    )


def client_for(store: RegistryStore, clock: FrozenClock) -> RegistryClient:
    transport = httpx.ASGITransport(app=registry_app(store))
    return RegistryClient("http://registry", clock, httpx.AsyncClient(transport=transport))


async def test_lookup_returns_the_registered_public_key(tmp_path: Path) -> None:
    store = RegistryStore(tmp_path / "registry.json")
    store.add([subscription()])
    client = client_for(store, FrozenClock(NOW))
    assert await client.public_key("bap.example", "k1") == KEYS.public_key
    await client.aclose()


async def test_answer_is_cached_until_valid_until_then_looked_up_again(tmp_path: Path) -> None:
    store = RegistryStore(tmp_path / "registry.json")
    store.add([subscription(until=NOW + timedelta(minutes=10))])
    clock = FrozenClock(NOW)
    client = client_for(store, clock)
    await client.public_key("bap.example", "k1")
    await client.public_key("bap.example", "k1")
    assert client.lookups == 1
    renewed = KeyPair.generate("bap.example", "k1")
    store.add([subscription(renewed, until=NOW + timedelta(days=2))])
    clock.advance(10 * 60 + 1)
    assert await client.public_key("bap.example", "k1") == renewed.public_key
    assert client.lookups == 2
    await client.aclose()


@pytest.mark.parametrize(
    ("sub", "ask"),
    [
        (subscription(status="UNSUBSCRIBED"), ("bap.example", "k1")),
        (subscription(until=NOW - timedelta(seconds=1)), ("bap.example", "k1")),
        (subscription(), ("bap.example", "other-key")),
        (subscription(), ("someone.else", "k1")),
    ],
)
async def test_unknown_expired_or_unsubscribed_keys_are_not_trusted(
    tmp_path: Path, sub: Subscription, ask: tuple[str, str]
) -> None:
    store = RegistryStore(tmp_path / "registry.json")
    store.add([sub])
    client = client_for(store, FrozenClock(NOW))
    with pytest.raises(AuthenticationError, match="no subscribed key"):
        await client.public_key(*ask)
    await client.aclose()


async def test_unreachable_registry_is_a_registry_error_not_an_auth_failure() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = RegistryClient(
        "http://registry",
        FrozenClock(NOW),
        httpx.AsyncClient(transport=httpx.MockTransport(refuse)),
    )
    with pytest.raises(RegistryUnavailable):
        await client.public_key("bap.example", "k1")
    await client.aclose()


async def test_lookup_filters_on_every_field_given(tmp_path: Path) -> None:
    store = RegistryStore(tmp_path / "registry.json")
    bpp = subscription(KeyPair.generate("bpp.example", "k9")).model_copy(update={"type": "BPP"})
    store.add([subscription(), bpp])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=registry_app(store)), base_url="http://registry"
    ) as http:
        found = (await http.post("/lookup", json={"type": "BPP"})).json()
        everyone = (await http.post("/lookup", json={})).json()
        bad = await http.post("/lookup", content=b"[not json")
    assert [s["subscriber_id"] for s in found] == ["bpp.example"]
    assert len(everyone) == 2
    assert bad.status_code == 400


def test_adding_the_same_key_twice_replaces_it(tmp_path: Path) -> None:
    store = RegistryStore(tmp_path / "registry.json")
    store.add([subscription()])
    store.add([subscription(status="UNSUBSCRIBED")])
    assert [s.status for s in store.all()] == ["UNSUBSCRIBED"]


def test_add_file_accepts_one_subscriber_or_a_list_and_names_a_bad_file(tmp_path: Path) -> None:
    store = RegistryStore(tmp_path / "registry.json")
    one = tmp_path / "one.json"
    one.write_text(subscription().model_dump_json())
    assert store.add_file(one) == 1
    many = tmp_path / "many.json"
    many.write_text(
        json.dumps([json.loads(subscription(KeyPair.generate("b", "2")).model_dump_json())])
    )
    assert store.add_file(many) == 1
    assert len(store.all()) == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"subscriber_id": "x"}')
    with pytest.raises(RegistryFileError, match=r"bad\.json"):
        store.add_file(bad)
