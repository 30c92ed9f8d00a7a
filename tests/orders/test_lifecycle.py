"""The order lifecycle through the pipeline: kWh, minutes and money orders, start/stop via the
charger-command interface, re-quoting updates, business errors with BECKN-005 codes, rating and
support rules, ticket escalation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chargegrid.clock import FrozenClock
from chargers.commands import FakeChargerCommands
from orders import notify
from orders.domain.support import answer_ticket, escalate_overdue, ticket_status
from orders.handlers import OrderPolicy, build_router
from orders.protocol import Bpp
from orders.reservations import Reservations
from orders.store import OrderStore
from tests.orders.support import (
    BAP,
    BPP_ID,
    DOMAIN,
    PRICER,
    T_EXAMPLE,
    RecordingBap,
    catalog,
    encode,
    frozen,
    make_bpp,
    sign,
)
from tests.orders.test_lifecycle_conformance import ACCEPTANCE

pytestmark = pytest.mark.anyio


class Meter:
    def __init__(self) -> None:
        self.wh: int | None = 10_000

    def delivered_wh(self, charger_id: str, transaction_id: str | None) -> int | None:
        return self.wh


@dataclass
class Harness:
    bpp: Bpp
    bap: RecordingBap
    clock: FrozenClock
    commands: FakeChargerCommands
    meter: Meter
    store: OrderStore
    n: int = 0

    @property
    def reservations(self) -> Reservations:
        """What an operator tool holds connectors with (the policy's default grace)."""
        return Reservations(self.store, self.commands, OrderPolicy().reservation_grace)

    async def send(
        self, action: str, message: dict[str, Any] | None, tx: str = "t-1"
    ) -> dict[str, Any]:
        self.n += 1
        ctx = {
            "domain": DOMAIN,
            "action": action,
            "version": "1.1.0",
            "bap_id": BAP.subscriber_id,
            "bap_uri": "http://bap.test",
            "bpp_id": BPP_ID,
            "bpp_uri": "https://example-bpp.com",
            "transaction_id": tx,
            "message_id": f"m-{self.n}",
            "timestamp": self.clock.now().isoformat(),
        }
        doc: dict[str, Any] = {"context": ctx}
        if message is not None:
            doc["message"] = message
        body = encode(doc)
        reply = await self.bpp.receive(action, body, sign(body, BAP, self.clock.now()))
        assert reply.acked, reply.body
        await self.bpp.idle()
        # the answer carries the request's message id (unsolicited callbacks queued earlier may
        # arrive after it: each is sent as soon as it is committed)
        out: dict[str, Any] = next(
            cb.json
            for cb in reversed(self.bap.received)
            if cb.json["context"]["message_id"] == ctx["message_id"]
        )
        return out

    async def order(
        self, measure: dict[str, str], tx: str = "t-1", item: str = "pe-charging-01", **extra: Any
    ) -> str:
        """select → init → confirm (paid); the order id."""
        items = [{"id": item, "quantity": {"selected": {"measure": measure}}}]
        await self.send("select", {"order": {"items": items, **extra}}, tx)
        init = await self.send("init", {"order": {"items": [{"id": item}]}}, tx)
        assert "error" not in init, init["error"]
        paid = [{"status": "PAID", "params": {"transaction_id": "pay-1"}}]
        confirm = {"order": {"items": [{"id": item}], "tags": [ACCEPTANCE], "payments": paid}}
        on_confirm = await self.send("confirm", confirm, tx)
        assert "error" not in on_confirm, on_confirm["error"]
        order_id: str = on_confirm["message"]["order"]["id"]
        return order_id

    async def update(self, order_id: str, code: str) -> dict[str, Any]:
        msg = {
            "update_target": "order.fulfillments[0].state",
            "order": {"id": order_id, "fulfillments": [{"state": {"descriptor": {"code": code}}}]},
        }
        return await self.send("update", msg)


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    clock = frozen()
    store = OrderStore(tmp_path / "o.sqlite")
    commands, meter = FakeChargerCommands(), Meter()
    fixed = catalog()
    router = build_router(
        lambda: fixed,
        PRICER,
        clock,
        corridor_m=2000.0,
        store=store,
        commands=commands,
        policy=OrderPolicy(dashboard_url="http://dash.test"),
        meter=meter,
    )
    bap = RecordingBap()
    bpp = make_bpp(tmp_path / "o.sqlite", clock, bap.client(), route=router)
    bpp.store = store
    async with bpp.running():
        yield Harness(bpp, bap, clock, commands, meter, store)


def settlement(doc: dict[str, Any]) -> dict[str, str]:
    tags = doc["message"]["order"]["tags"][-1]
    assert tags["descriptor"]["code"] == "settlement"
    return {t["descriptor"]["code"]: t["value"] for t in tags["list"]}


async def test_kwh_order_bills_the_metered_energy(h: Harness) -> None:
    order_id = await h.order({"value": "20", "unit": "kWh"})
    await h.update(order_id, "start-charging")
    end = await h.update(order_id, "end-charging")
    # paid 20 kWh = 188.80; delivered 10 kWh = 94.40; refund 94.40
    assert settlement(end) == {
        "billed": "94.40",
        "cancellation-fee": "0.00",
        "refund": "94.40",
        "currency": "INR",
        "metered": "true",
    }


async def test_an_overrun_is_never_billed_above_the_quote(h: Harness) -> None:
    order_id = await h.order({"value": "4", "unit": "kWh"})  # 37.76 quoted and paid
    await h.update(order_id, "start-charging")
    h.meter.wh = 6_000  # the charger did not stop at 4 kWh
    end = await h.update(order_id, "end-charging")
    assert (settlement(end)["billed"], settlement(end)["refund"]) == ("37.76", "0.00")


async def test_minutes_order_quotes_the_connector_power(h: Harness) -> None:
    order_id = await h.order({"value": "60", "unit": "min"})
    status = await h.send("status", {"order_id": order_id})
    assert status["message"]["order"]["quote"]["price"]["value"] == "283.20"  # 30 kWh


async def test_money_order_never_bills_above_the_budget(h: Harness) -> None:
    order_id = await h.order({"value": "50", "unit": "INR"})
    await h.update(order_id, "start-charging")
    h.meter.wh = 100_000  # the charger overran; the driver pays at most the budget
    end = await h.update(order_id, "end-charging")
    assert settlement(end)["billed"] == "50.00"
    assert settlement(end)["refund"] == "0.00"


async def test_unmetered_stop_bills_the_quote_and_says_so(h: Harness) -> None:
    order_id = await h.order({"value": "4", "unit": "kWh"})
    await h.update(order_id, "start-charging")
    h.meter.wh = None
    end = await h.update(order_id, "end-charging")
    assert settlement(end)["metered"] == "false"
    assert settlement(end)["billed"] == "37.76"


async def test_offline_or_refusing_charger_is_fulfillment_unavailable(h: Harness) -> None:
    order_id = await h.order({"value": "4", "unit": "kWh"})
    h.commands.offline.add("pe-charging")
    assert (await h.update(order_id, "start-charging"))["error"]["code"] == "30008"
    h.commands.offline.clear()
    h.commands.accept = False
    refused = await h.update(order_id, "start-charging")
    assert refused["error"]["code"] == "30008"
    assert "refused" in refused["error"]["message"]
    status = await h.send("status", {"order_id": order_id})
    assert status["message"]["order"]["fulfillments"][0]["state"]["descriptor"]["code"] == (
        "order-confirmed"
    )


async def test_stop_before_start_is_not_applicable(h: Harness) -> None:
    order_id = await h.order({"value": "4", "unit": "kWh"})
    assert (await h.update(order_id, "end-charging"))["error"]["code"] == "40001"


async def test_update_of_quantity_requotes_before_charging(h: Harness) -> None:
    order_id = await h.order({"value": "4", "unit": "kWh"})
    msg = {
        "update_target": "order.items[0].quantity",
        "order": {
            "id": order_id,
            "items": [
                {
                    "id": "pe-charging-01",
                    "quantity": {"selected": {"measure": {"value": "10", "unit": "kWh"}}},
                }
            ],
        },
    }
    updated = await h.send("update", msg)
    assert updated["message"]["order"]["quote"]["price"]["value"] == "94.40"
    too_much = {**msg}
    too_much["order"] = {
        "id": order_id,
        "items": [
            {"id": "x", "quantity": {"selected": {"measure": {"value": "900", "unit": "kWh"}}}}
        ],
        "fulfillments": [
            {
                "stops": [
                    {"type": "start", "time": {"timestamp": T_EXAMPLE.isoformat()}},
                    {
                        "type": "end",
                        "time": {"timestamp": (T_EXAMPLE + timedelta(hours=1)).isoformat()},
                    },
                ]
            }
        ],
    }
    assert (await h.send("update", too_much))["error"]["code"] == "40002"
    await h.update(order_id, "start-charging")
    assert (await h.send("update", msg))["error"]["code"] == "50002"


async def test_unknown_order_and_someone_elses_order_are_not_found(h: Harness) -> None:
    assert (await h.send("status", {"order_id": "nope"}))["error"]["code"] == "30010"
    assert (await h.send("cancel", {"order_id": "nope"}))["error"]["code"] == "30010"
    assert (await h.send("track", {"order_id": "nope"}))["error"]["code"] == "30010"


async def test_init_of_an_unknown_or_busy_connector_is_refused(h: Harness) -> None:
    unknown = await h.send(
        "init",
        {
            "order": {
                "items": [
                    {
                        "id": "zz",
                        "quantity": {"selected": {"measure": {"value": "4", "unit": "kWh"}}},
                    }
                ]
            }
        },
    )
    assert unknown["error"]["code"] == "30004"
    busy = await h.send(
        "init",
        {
            "order": {
                "items": [
                    {
                        "id": "cp-s2-02",
                        "quantity": {"selected": {"measure": {"value": "4", "unit": "kWh"}}},
                    }
                ]
            }
        },
        tx="t-2",
    )
    assert busy["error"]["code"] == "40002"
    no_quantity = await h.send("init", {"order": {"items": [{"id": "pe-charging-01"}]}}, tx="t-3")
    assert no_quantity["error"]["code"] == "30000"


async def test_confirm_before_init_and_unknown_cancellation_reason(h: Harness) -> None:
    confirm = {"order": {"items": [{"id": "pe-charging-01"}], "tags": [ACCEPTANCE]}}
    assert (await h.send("confirm", confirm, tx="t-9"))["error"]["code"] == "30010"
    order_id = await h.order({"value": "4", "unit": "kWh"})
    bad = await h.send("cancel", {"order_id": order_id, "cancellation_reason_id": "99"})
    assert bad["error"]["code"] == "30000"
    reasons = await h.send("get_cancellation_reasons", None)
    assert h.bap.received[-1].path == "cancellation_reasons"
    ids = [r["id"] for r in reasons["message"]["cancellation_reasons"]]
    ok = await h.send("cancel", {"order_id": order_id, "cancellation_reason_id": ids[1]})
    assert ok["message"]["order"]["status"] == "CANCELLED"


async def test_ratings_need_a_known_category_a_1_to_5_value_and_an_own_order(h: Harness) -> None:
    order_id = await h.order({"value": "4", "unit": "kWh"})
    good = {
        "ratings": [
            {"id": order_id, "rating_category": "order", "value": "4", "comment": "quick"},
            {"id": "example_provider_id", "rating_category": "Provider", "value": "5"},
            {"id": "anything", "rating_category": "Support", "value": "3"},
        ]
    }
    assert "error" not in await h.send("rating", good)
    for rating, code in [
        ({"id": order_id, "rating_category": "Vibes", "value": "4"}, "30000"),
        ({"id": order_id, "rating_category": "Order", "value": "6"}, "30000"),
        ({"id": "not-mine", "rating_category": "Fulfillment", "value": "2"}, "30010"),
    ]:
        assert (await h.send("rating", {"ratings": [rating]}))["error"]["code"] == code
    with h.store.reading() as db:
        rows = db.execute("SELECT category, value, comment FROM ratings ORDER BY id").fetchall()
    assert rows == [("Order", 4, "quick"), ("Provider", 5, None), ("Support", 3, None)]


async def test_unanswered_support_tickets_escalate_after_their_sla(h: Harness) -> None:
    phone = await h.send("support", {"support": {"ref_id": "t-1", "callback_phone": "+911234"}})
    chat = await h.send("support", {"support": {"ref_id": "t-1"}})
    phone_id = phone["message"]["support"]["url"].rsplit("/", 1)[1]
    chat_id = chat["message"]["support"]["url"].rsplit("/", 1)[1]
    with h.store.transaction() as db:
        assert escalate_overdue(db, T_EXAMPLE + timedelta(minutes=59)) == []
        assert escalate_overdue(db, T_EXAMPLE + timedelta(minutes=61)) == [phone_id]  # phone: 1 h
        assert answer_ticket(db, chat_id)
        assert escalate_overdue(db, T_EXAMPLE + timedelta(hours=5)) == []  # chat answered in time
        assert escalate_overdue(db, T_EXAMPLE + timedelta(hours=9)) == []  # escalated once only
        assert ticket_status(db, phone_id) == ("escalated", T_EXAMPLE + timedelta(minutes=61))


@pytest.fixture
async def approving(tmp_path: Path) -> AsyncIterator[Harness]:
    """A BPP where orders above 50 INR need the operator's approval."""
    clock = frozen()
    store = OrderStore(tmp_path / "o.sqlite")
    commands, meter = FakeChargerCommands(), Meter()
    fixed = catalog()
    router = build_router(
        lambda: fixed,
        PRICER,
        clock,
        corridor_m=2000.0,
        store=store,
        commands=commands,
        policy=OrderPolicy(approval_over_minor=5_000),
        meter=meter,
    )
    bap = RecordingBap()
    bpp = make_bpp(tmp_path / "o.sqlite", clock, bap.client(), route=router)
    bpp.store = store
    async with bpp.running():
        yield Harness(bpp, bap, clock, commands, meter, store)


async def test_provisional_order_is_pending_until_the_operator_approves(approving: Harness) -> None:
    h = approving
    order_id = await h.order({"value": "20", "unit": "kWh"})  # 188.80 INR > 50
    status = await h.send("status", {"order_id": order_id})
    code = status["message"]["order"]["fulfillments"][0]["state"]["descriptor"]["code"]
    assert code == "order-pending"
    assert (await h.update(order_id, "start-charging"))["error"]["code"] == "40001"
    await notify.approve(h.bpp, BAP.subscriber_id, order_id, reservations=h.reservations)
    await h.bpp.idle()
    unsolicited = h.bap.received[-1]
    assert unsolicited.path == "on_confirm"
    ctx = unsolicited.json["context"]
    assert ctx["transaction_id"] == "t-1"
    assert not ctx["message_id"].startswith("m-")  # a new message id
    order = unsolicited.json["message"]["order"]
    assert order["fulfillments"][0]["state"]["descriptor"]["code"] == "order-confirmed"
    assert "error" not in await h.update(order_id, "start-charging")


async def test_charging_orders_get_periodic_unsolicited_status(h: Harness) -> None:
    charging = await h.order({"value": "4", "unit": "kWh"})
    await h.order({"value": "4", "unit": "kWh"}, tx="t-2")  # confirmed, not charging
    await h.update(charging, "start-charging")
    before = len(h.bap.received)
    assert notify.status_tick(h.bpp, lambda order: 1_500) == 1
    await h.bpp.idle()
    [update] = h.bap.received[before:]
    assert update.path == "on_status"
    order = update.json["message"]["order"]
    assert order["id"] == charging
    details = {t["descriptor"]["code"]: t["value"] for t in order["tags"][-1]["list"]}
    assert details == {"energy-delivered": "1.5kWh"}
