"""Callback delivery: an answer is sent as soon as it is committed (not at the next poll), a slow
or broken BAP holds up no other, and overlapping scans never send one callback twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from orders.protocol import DELIVERY_CONCURRENCY, Bpp, callback_client
from tests.orders.support import (
    BAP,
    T_EXAMPLE,
    encode,
    frozen,
    make_bpp,
    search_body,
    serve,
    sign,
)

pytestmark = pytest.mark.anyio


class Baps:
    """BAPs behind one transport: ``slow.test`` hangs until released, the others ACK at once."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []  # (host, message_id)
        self.release = asyncio.Event()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "slow.test":
            await self.release.wait()
        mid = orjson.loads(request.content)["context"]["message_id"]
        self.received.append((request.url.host, mid))
        return httpx.Response(200, json={"message": {"ack": {"status": "ACK"}}})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


async def search_from(bpp: Bpp, bap_uri: str, message_id: str) -> None:
    body = encode(search_body(T_EXAMPLE, bap_uri, message_id=message_id))
    assert (await bpp.receive("search", body, sign(body, BAP, T_EXAMPLE))).acked


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout_s)


async def test_an_answer_is_sent_when_committed_without_waiting_for_a_poll(
    tmp_path: Path,
) -> None:
    baps = Baps()
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), baps.client())
    async with bpp.running(poll_s=3600):  # no poll would ever send it
        await search_from(bpp, "http://fast.test", "m-1")
        await until(lambda: baps.received == [("fast.test", "m-1")])


async def test_a_hanging_bap_holds_up_no_other_bap(tmp_path: Path) -> None:
    baps = Baps()
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), baps.client())
    slow = [f"m-slow-{i}" for i in range(DELIVERY_CONCURRENCY + 4)]  # more than all slots
    async with bpp.running(poll_s=0.01):
        for mid in slow:
            await search_from(bpp, "http://slow.test", mid)
        await asyncio.sleep(0.05)  # their deliveries hang; scans keep running
        await search_from(bpp, "http://fast.test", "m-fast")
        await until(lambda: ("fast.test", "m-fast") in baps.received)
        assert not any(host == "slow.test" for host, _ in baps.received)
        baps.release.set()
        await bpp.idle()  # joins the deliveries in flight
    assert sorted(mid for _, mid in baps.received) == sorted([*slow, "m-fast"])
    assert {r.status for r in bpp.store.outbox()} == {"delivered"}


async def test_scans_overlapping_direct_sends_never_send_a_callback_twice(tmp_path: Path) -> None:
    baps = Baps()
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), baps.client())
    async with bpp.running(poll_s=0.0005):  # the outbox is scanned all the time
        for i in range(60):
            await search_from(bpp, "http://fast.test", f"m-{i}")
        await bpp.idle()
        await bpp.deliver_due()
    assert Counter(mid for _, mid in baps.received) == Counter(f"m-{i}" for i in range(60))
    assert [r.attempts for r in bpp.store.outbox()] == [1] * 60


async def test_an_uncallable_bap_uri_is_rejected_once_and_blocks_nothing(tmp_path: Path) -> None:
    baps = Baps()
    bpp = make_bpp(tmp_path / "o.sqlite", frozen(), baps.client())
    async with bpp.running(poll_s=0.01):
        await search_from(bpp, "http://[::1", "m-bad")  # matches the schema's pattern, no URL
        await search_from(bpp, "http://fast.test", "m-ok")
        await bpp.idle()
        await until(lambda: ("fast.test", "m-ok") in baps.received)
    statuses = {r.callback.message_id: (r.status, r.attempts) for r in bpp.store.outbox()}
    assert statuses == {"m-bad": ("rejected", 1), "m-ok": ("delivered", 1)}


async def test_callback_connections_are_kept_for_reuse_beyond_twenty_in_flight() -> None:
    """40 callbacks in flight at once, twice: the second round reuses the first round's 40
    connections (httpx's default pool keeps 20 and would open 20 more)."""
    ports: set[int] = set()
    app = FastAPI()

    @app.post("/on_search")
    async def on_search(request: Request) -> JSONResponse:
        assert request.client is not None
        ports.add(request.client.port)
        await asyncio.sleep(0.2)  # all of a round in flight together
        return JSONResponse({"message": {"ack": {"status": "ACK"}}})

    with serve(app) as url:
        async with callback_client() as http:
            for _ in range(2):
                replies = await asyncio.gather(
                    *(http.post(f"{url}/on_search", content=b"{}") for _ in range(40))
                )
                assert all(r.status_code == 200 for r in replies)
    assert len(ports) == 40
