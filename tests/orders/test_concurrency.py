"""Two requests for the same order arriving together never interleave.

A slow charger makes ``update`` (start charging) await while a ``cancel`` for the same order
arrives from another thread. Without serialisation the cancel would commit in between and the
start, finding its order changed, would fail or run again (a second charger command). With it,
the cancel waits for the start and cancels a charging order (with the charging fee).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargers.commands import FakeChargerCommands
from orders import repo
from orders.api import create_app
from orders.domain.orders import OrderState
from orders.events import OrderEventKind
from orders.handlers import OrderPolicy, build_router
from orders.store import OrderStore
from tests.orders.support import (
    BAP,
    BPP_ID,
    DOMAIN,
    PRICER,
    RecordingBap,
    catalog,
    encode,
    frozen,
    make_bpp,
    serve,
    sign,
)
from tests.orders.test_lifecycle_conformance import ACCEPTANCE


@dataclass
class SlowCharger(FakeChargerCommands):
    """Accepts a start only after ``delay_s`` (a charger answering over a slow link)."""

    delay_s: float = 0.4

    async def remote_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        await asyncio.sleep(self.delay_s)
        return await super().remote_start(charger_id, connector_id, id_tag)


@dataclass
class Client:
    url: str
    bap: RecordingBap
    n: int = 0

    def post(self, action: str, message: dict[str, Any], message_id: str) -> None:
        clock = frozen()
        doc = {
            "context": {
                "domain": DOMAIN,
                "action": action,
                "version": "1.1.0",
                "bap_id": BAP.subscriber_id,
                "bap_uri": "http://bap.test",
                "bpp_id": BPP_ID,
                "transaction_id": "t-1",
                "message_id": message_id,
                "timestamp": clock.now().isoformat(),
            },
            "message": message,
        }
        body = encode(doc)
        reply = httpx.post(
            f"{self.url}/{action}", content=body, headers=sign(body, BAP, clock.now())
        )
        assert reply.json() == {"message": {"ack": {"status": "ACK"}}}, reply.text

    def answer(self, message_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for cb in list(self.bap.received):
                if cb.json["context"]["message_id"] == message_id:
                    return cb.json
            time.sleep(0.01)
        msg = f"no callback for {message_id}"
        raise AssertionError(msg)

    def call(self, action: str, message: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        self.post(action, message, f"m-{self.n}")
        return self.answer(f"m-{self.n}")


@pytest.fixture
def net(tmp_path: Path) -> Iterator[tuple[Client, OrderStore, SlowCharger]]:
    clock = frozen()
    store = OrderStore(tmp_path / "o.sqlite")
    charger = SlowCharger()
    fixed = catalog()
    router = build_router(
        lambda: fixed,
        PRICER,
        clock,
        corridor_m=2000.0,
        store=store,
        commands=charger,
        policy=OrderPolicy(dashboard_url="http://dash.test"),
    )
    bap = RecordingBap()
    bpp = make_bpp(tmp_path / "o.sqlite", clock, bap.client(), route=router)
    bpp.store = store
    with serve(create_app(bpp)) as url:
        yield Client(url, bap), store, charger


def confirmed(client: Client) -> str:
    item = "pe-charging-01"
    measure = {"value": "4", "unit": "kWh"}
    client.call(
        "select",
        {"order": {"items": [{"id": item, "quantity": {"selected": {"measure": measure}}}]}},
    )
    client.call("init", {"order": {"items": [{"id": item}]}})
    paid = [{"status": "PAID", "params": {"transaction_id": "pay-1"}}]
    on_confirm = client.call(
        "confirm", {"order": {"items": [{"id": item}], "tags": [ACCEPTANCE], "payments": paid}}
    )
    order_id: str = on_confirm["message"]["order"]["id"]
    return order_id


def test_concurrent_start_and_cancel_of_one_order_run_one_after_the_other(
    net: tuple[Client, OrderStore, SlowCharger],
) -> None:
    client, store, charger = net
    order_id = confirmed(client)
    start = {
        "update_target": "order.fulfillments[0].state",
        "order": {
            "id": order_id,
            "fulfillments": [{"state": {"descriptor": {"code": "start-charging"}}}],
        },
    }
    cancel = {"order_id": order_id, "cancellation_reason_id": "2"}
    started = threading.Event()

    def send_start() -> None:
        client.post("update", start, "m-start")
        started.set()  # ACKed: its handler is now waiting on the slow charger

    def send_cancel() -> None:
        assert started.wait(timeout=10)
        client.post("cancel", cancel, "m-cancel")

    threads = [threading.Thread(target=send_start), threading.Thread(target=send_cancel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    answers = {m: client.answer(m) for m in ("m-start", "m-cancel")}
    assert ["error" in a for a in answers.values()] == [False, False], answers
    events = [e for e in repo.order_events(store) if e.order_id == order_id]
    assert [e.version for e in events] == list(range(1, len(events) + 1))  # no version twice
    assert [e.kind for e in events][-2:] == [OrderEventKind.started, OrderEventKind.cancelled]
    final = repo.order_by_id(store, BAP.subscriber_id, order_id)
    assert final.version == events[-1].version
    assert [c[0] for c in charger.calls] == ["start"]  # commanded once, not again on a retry
    assert final.settlement is not None and final.settlement.fee_minor > 0  # cancelled mid-charge
    assert final.state == OrderState.cancelled
    assert len([c for c in charger.calls if c[0] == "start"]) <= 1
