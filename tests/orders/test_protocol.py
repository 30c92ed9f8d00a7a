"""The one pipeline: authentication, parsing, context checks, duplicates, callbacks, outbox."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from orders.api import create_app
from orders.errors import BecknError
from orders.models_v1 import SearchMessage
from orders.protocol import Action, Bpp, Inbound, Outcome, Reply, Router
from tests.orders.support import (
    BAP,
    BPP_ID,
    BPP_KEYS,
    GATEWAY,
    T_EXAMPLE,
    RecordingBap,
    encode,
    frozen,
    make_bpp,
    search_body,
    serve,
    sign,
)

pytestmark = pytest.mark.anyio
BAP_URI = "http://bap.test/beckn"


async def send(bpp: Bpp, body: bytes, headers: dict[str, str], action: str = "search") -> Reply:
    return await bpp.receive(action, body, headers)


def signed_search(**context: Any) -> tuple[bytes, dict[str, str]]:
    body = encode(search_body(T_EXAMPLE, BAP_URI, **context))
    return body, sign(body, BAP, T_EXAMPLE)


def error_of(reply: Reply) -> dict[str, Any]:
    assert not reply.acked
    error: dict[str, Any] = reply.body["error"]
    return error


async def test_signed_search_is_acked_and_answered_by_a_signed_on_search(tmp_path: Path) -> None:
    bap = RecordingBap()
    clock = frozen()
    bpp = make_bpp(tmp_path / "o.sqlite", clock, bap.client())
    async with bpp.running():
        reply = await send(bpp, *signed_search())
        await bpp.idle()
    assert (reply.status_code, reply.acked) == (200, True)
    [cb] = bap.received
    assert cb.path == "beckn/on_search"
    cb.verify_signature(BPP_KEYS, T_EXAMPLE)
    ctx = cb.json["context"]
    assert (ctx["action"], ctx["transaction_id"], ctx["message_id"]) == ("on_search", "t-1", "m-1")
    assert (ctx["bpp_id"], ctx["bap_id"]) == (BPP_ID, BAP.subscriber_id)
    assert "error" not in cb.json


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing Authorization"),
        ({"Authorization": "Bearer x"}, "Signature"),
        (
            {"Authorization": BAP.authorization(b"{}", created=1689482476, expires=1689482776)},
            "does not verify",
        ),
        ({"Authorization": BAP.authorization(b"x", created=1, expires=2)}, "expired"),
    ],
)
async def test_unauthenticated_requests_get_401_nack_with_www_authenticate(
    tmp_path: Path, headers: dict[str, str], why: str
) -> None:
    bap = RecordingBap()
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), bap.client())
    body, _ = signed_search()
    reply = await send(bpp, body, headers)
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"].startswith("Signature ")
    assert error_of(reply)["code"] == "30016"
    assert why in error_of(reply)["message"]


async def test_key_unknown_to_the_registry_is_refused(tmp_path: Path) -> None:
    from orders.signing import KeyPair

    stranger = KeyPair.generate(BAP.subscriber_id, "not-registered")
    body, _ = signed_search()
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), RecordingBap().client())
    reply = await send(bpp, body, sign(body, stranger, T_EXAMPLE))
    assert (reply.status_code, error_of(reply)["code"]) == (401, "30016")


async def test_signer_must_be_the_context_bap_id(tmp_path: Path) -> None:
    body = encode(search_body(T_EXAMPLE, BAP_URI, bap_id="someone-else.com"))
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), RecordingBap().client())
    reply = await send(bpp, body, sign(body, BAP, T_EXAMPLE))
    assert reply.status_code == 401
    assert "is not context.bap_id" in error_of(reply)["message"]


async def test_gateway_signature_is_verified_when_present(tmp_path: Path) -> None:
    body, headers = signed_search()
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), RecordingBap().client())
    good = {**headers, "X-Gateway-Authorization": GATEWAY.authorization_at(body, T_EXAMPLE, 60)}
    assert (await send(bpp, body, good)).acked
    forged = {
        **headers,
        "X-Gateway-Authorization": GATEWAY.authorization_at(b"other", T_EXAMPLE, 60),
    }
    assert (await send(bpp, body, forged)).status_code == 401
    not_a_gateway = {
        **headers,
        "X-Gateway-Authorization": BAP.authorization_at(body, T_EXAMPLE, 60),
    }
    reply = await send(bpp, body, not_a_gateway)
    assert reply.status_code == 401
    assert "not BG" in error_of(reply)["message"]


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["context"].pop("message_id"), "context.message_id"),
        (lambda d: d["context"].update(timestamp="yesterday"), "context.timestamp"),
        (lambda d: d["context"].update(ttl="ten minutes"), "context.ttl"),
        (lambda d: d["context"].update(bap_uri="ftp://x"), "context.bap_uri"),
        (
            lambda d: d["message"]["intent"]["fulfillment"]["stops"][0]["location"][
                "circle"
            ].update(gps="north"),
            "message.intent.fulfillment.stops[0].location.circle.gps",
        ),
        (lambda d: d["message"].pop("intent"), "message.intent"),
    ],
)
async def test_schema_invalid_bodies_are_nacked_naming_the_field(
    tmp_path: Path, mutate: Any, path: str
) -> None:
    doc = search_body(T_EXAMPLE, BAP_URI)
    mutate(doc)
    body = encode(doc)
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), RecordingBap().client())
    reply = await send(bpp, body, sign(body, BAP, T_EXAMPLE))
    assert reply.status_code == 400
    assert error_of(reply)["code"] == "30000"
    assert path in error_of(reply)["paths"]


async def test_body_that_is_not_json_is_nacked(tmp_path: Path) -> None:
    body = b"\xff not json"
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), RecordingBap().client())
    reply = await send(bpp, body, sign(body, BAP, T_EXAMPLE))
    assert (reply.status_code, error_of(reply)["code"]) == (400, "30000")


@pytest.mark.parametrize(
    ("context", "action", "path"),
    [
        ({"domain": "retail"}, "search", "context.domain"),
        ({"version": "2.0.0"}, "search", "context.version"),
        ({"bpp_id": "another-bpp.com"}, "search", "context.bpp_id"),
        ({"action": "select"}, "search", "context.action"),
    ],
)
async def test_inconsistent_context_is_nacked(
    tmp_path: Path, context: dict[str, str], action: str, path: str
) -> None:
    body, headers = signed_search(**context)
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), RecordingBap().client())
    reply = await send(bpp, body, headers, action)
    assert (reply.status_code, error_of(reply)["paths"]) == (400, path)


@pytest.mark.parametrize(
    ("age_s", "ttl", "acked"),
    [
        (-31, "PT30S", False),  # 31 s in the future: beyond the 30 s skew
        (-29, "PT30S", True),
        (59, "PT30S", True),  # expired 29 s ago: inside the skew
        (61, "PT30S", False),  # expired 31 s ago
        (600, "PT10M", True),
        (900, None, False),  # default ttl 30 s
    ],
)
async def test_timestamp_and_ttl_window(
    tmp_path: Path, age_s: int, ttl: str | None, acked: bool
) -> None:
    clock = frozen()
    clock.advance(age_s)
    body = encode(search_body(T_EXAMPLE, BAP_URI, ttl=ttl))
    bpp = make_bpp(tmp_path / "o.sqlite", clock, RecordingBap().client())
    reply = await send(bpp, body, sign(body, BAP, clock.now()))
    assert reply.acked is acked
    if not acked:
        assert error_of(reply)["code"] == "30022"


async def test_duplicate_message_id_is_reacked_but_not_executed_again(tmp_path: Path) -> None:
    bap = RecordingBap()
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), bap.client())
    body, headers = signed_search()
    async with bpp.running():
        first = await send(bpp, body, headers)
        await bpp.idle()
        second = await send(bpp, body, headers)
        await bpp.idle()
    assert first.acked and second.acked
    assert len(bap.received) == 1


async def test_unknown_path_and_unimplemented_action(tmp_path: Path) -> None:
    body, headers = signed_search()
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), RecordingBap().client(), route=Router())
    unknown = await send(bpp, body, headers, "teleport")
    assert (unknown.status_code, error_of(unknown)["code"]) == (400, "30000")
    missing = await send(bpp, body, headers, "search")
    assert error_of(missing)["code"] == "40001"


async def test_unexpected_handler_failure_becomes_an_opaque_internal_error(tmp_path: Path) -> None:
    router = Router()

    @router.on(Action.search, SearchMessage)
    def explode(_: Inbound[SearchMessage]) -> Outcome:
        msg = "secret database password in a stack trace"
        raise RuntimeError(msg)

    bap = RecordingBap()
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), bap.client(), route=router)
    async with bpp.running():
        assert (await send(bpp, *signed_search())).acked
        await bpp.idle()
    [cb] = bap.received
    assert cb.json["error"]["code"] == "31001"
    assert b"secret" not in cb.body


async def test_business_error_travels_in_the_callback(tmp_path: Path) -> None:
    router = Router()

    @router.on(Action.search, SearchMessage)
    def refuse(_: Inbound[SearchMessage]) -> Outcome:
        return Outcome(error=BecknError("nothing today"))

    bap = RecordingBap()
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), bap.client(), route=router)
    async with bpp.running():
        await send(bpp, *signed_search())
        await bpp.idle()
    assert bap.received[0].json["error"] == {"code": "30000", "message": "nothing today"}


# -- outbox ------------------------------------------------------------------------------------


async def test_failed_delivery_is_retried_with_backoff_until_the_bap_acks(tmp_path: Path) -> None:
    bap = RecordingBap(status_code=503)
    clock = frozen()
    bpp = make_bpp(tmp_path / "o.sqlite", clock, bap.client())
    async with bpp.running(poll_s=3600):
        await send(bpp, *signed_search())
        await bpp.idle()
        assert len(bap.received) == 1
        await bpp.deliver_due()  # backoff not elapsed: nothing sent
        assert len(bap.received) == 1
        bap.status_code = 200
        clock.advance(0.5)
        await bpp.deliver_due()
    assert len(bap.received) == 2
    assert [r.status for r in bpp.store.outbox()] == ["delivered"]
    assert bpp.store.outbox()[0].attempts == 2


async def test_nacked_callback_is_not_retried_and_unsent_one_expires(tmp_path: Path) -> None:
    bap = RecordingBap(nack=True)
    clock = frozen()
    bpp = make_bpp(tmp_path / "o.sqlite", clock, bap.client())
    async with bpp.running(poll_s=3600):
        await send(bpp, *signed_search())
        await bpp.idle()
        bap.nack, bap.status_code = False, 500
        await send(bpp, *signed_search(message_id="m-2"))
        await bpp.idle()
        clock.advance(120)  # ttl 30 s + skew 30 s have passed
        await bpp.deliver_due()
    assert [r.status for r in bpp.store.outbox()] == ["rejected", "expired"]


async def test_restart_loses_no_acked_request_and_no_queued_callback(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite"
    clock = frozen()
    down = RecordingBap(status_code=503)
    first = make_bpp(db, clock, down.client())
    # ACKed, then the process dies before any handler runs (no workers were started)
    assert (await send(first, *signed_search(message_id="m-a"))).acked
    # and one answered whose callback could not be delivered yet
    async with first.running(poll_s=3600):
        await send(first, *signed_search(message_id="m-b"))
        await first.idle()
    first.store.close()

    bap = RecordingBap()
    second = make_bpp(db, clock, bap.client())
    clock.advance(1)
    async with second.running(poll_s=3600):
        await second.idle()
    assert sorted(r.json["context"]["message_id"] for r in bap.received) == ["m-a", "m-b"]
    assert {r.status for r in second.store.outbox()} == {"delivered"}


# -- over real HTTP ----------------------------------------------------------------------------


async def test_real_servers_bap_to_bpp_and_back(tmp_path: Path) -> None:
    bap = RecordingBap()
    clock = frozen()
    with serve(bap.app()) as bap_url:
        # the BPP's client is first used (and bound) inside the server's own event loop
        bpp = make_bpp(tmp_path / "o.sqlite", clock, httpx.AsyncClient())
        async with httpx.AsyncClient() as http:
            with serve(create_app(bpp)) as bpp_url:
                body = encode(search_body(T_EXAMPLE, f"{bap_url}/beckn"))
                response = await http.post(
                    f"{bpp_url}/search", content=body, headers=sign(body, BAP, T_EXAMPLE)
                )
                unauthenticated = await http.post(f"{bpp_url}/search", content=body)
                for _ in range(200):
                    if bap.received:
                        break
                    await asyncio.sleep(0.02)
    assert response.status_code == 200
    assert response.json() == {"message": {"ack": {"status": "ACK"}}}
    assert unauthenticated.status_code == 401
    assert "WWW-Authenticate" in unauthenticated.headers
    [cb] = bap.received
    assert cb.path == "beckn/on_search"
    cb.verify_signature(BPP_KEYS, T_EXAMPLE)
