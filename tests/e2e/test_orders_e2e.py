"""The driver's whole journey over real sockets: the BAP client (its own key, a loopback callback
receiver that verifies the BPP's signatures) → the BPP (keys looked up in a real file-backed
registry) → the central system → a simulated OCPP 1.6 charger that obeys remote start/stop and
meters the session → the final bill from those readings.

discover → quote → terms → confirm → start → live on_status → stop → final bill → rating →
support, for a kWh, a minutes and a money order, and a cancellation with a fee. Everything runs in
one event loop on 127.0.0.1 and is stopped at the end of each test.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import connect

from chargegrid.clock import SystemClock
from chargegrid.eventlog import EventLog
from chargegrid.inventory import Charger, Connector, Inventory, Station
from chargegrid.settings import Settings, load_settings
from chargers.commands import CsmsCommands
from chargers.server import start_csms
from chargers.simulator import RemoteRequest, SessionRun, SimulatedCharger
from orders.api import create_app
from orders.bap import (
    Bap,
    BapError,
    Driver,
    Offer,
    offers,
    order_step,
    place_order,
    require,
    settlement,
    tags,
)
from orders.bap import connected as bap_connected
from orders.domain.catalog import build_catalog
from orders.domain.quote import FlatRatePricer
from orders.handlers import OrderPolicy, build_router
from orders.keys import self_subscription
from orders.meter import EventLogMeter
from orders.protocol import Bpp, BppConfig
from orders.registry import RegistryClient, RegistryStore, registry_app
from orders.signing import KeyPair
from orders.store import OrderStore
from orders.timers import Timers
from tests.e2e.conftest import chargegrid

pytestmark = pytest.mark.anyio
POWER_W = 50_000.0
SAMPLE_AT_S = 120.0  # the charger reports a reading this far into each session (~1.7 kWh)
DELIVERED_WH = 3_000  # what each session delivers in all (its final reading)
ESTATE = Inventory(
    stations=(Station(station_id="S1", name="Depot", lat=56.46, lon=-2.97, operator="cg"),),
    chargers=(
        Charger(
            charger_id="CP1",
            station_id="S1",
            connectors=tuple(
                Connector(
                    connector_id=n, standard="IEC_62196_T2_COMBO", current="DC", max_power_w=POWER_W
                )
                for n in (1, 2)
            ),
        ),
    ),
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` on 127.0.0.1 (a free port) in this event loop; stopped on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(1000):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def operate(sim: SimulatedCharger, clock: SystemClock, energy_wh: int) -> None:
    """The charger's side: obey remote starts (plug in, report a reading) and stops (plug out)."""
    runs: dict[str, SessionRun] = {}
    while True:
        request: RemoteRequest = await sim.remote_requests.get()
        if request.kind == "start":
            run = await sim.start_remote_session(request, clock.now(), energy_wh, POWER_W)
            await sim.dialect.sample(run, SAMPLE_AT_S, full=True)
            runs[run.transaction_id or ""] = run
        elif request.transaction_id in runs:
            await sim.stop_remote_session(runs.pop(request.transaction_id))


@dataclass
class Network:
    settings: Settings
    bap: Bap
    store: OrderStore
    sim: SimulatedCharger

    def driver(self) -> Driver:
        return Driver(self.bap)


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    clock = SystemClock()
    settings = load_settings(
        data_dir=tmp_path / "var", csms_port=0, bpp_id="bpp.e2e", host="127.0.0.1"
    )
    registry_file = settings.registry_path  # the BAP registers its own key there
    bpp_keys = KeyPair.generate(settings.bpp_id)
    log = EventLog(settings.eventlog_path, partitions=2)
    csms = await start_csms(settings, log, ESTATE, clock)
    store = OrderStore(settings.orders_db_path)
    meter = EventLogMeter(log)
    catalog = build_catalog(ESTATE, None)
    router = build_router(
        lambda: catalog,
        FlatRatePricer("INR", price_minor_per_kwh=1800, tax_bp=1800),
        clock,
        corridor_m=2000.0,
        store=store,
        commands=CsmsCommands(csms.ctx),
        policy=OrderPolicy(dashboard_url="http://127.0.0.1:9"),
        meter=meter,
    )
    try:
        async with (
            serving(registry_app(RegistryStore(registry_file))) as registry_url,
            httpx.AsyncClient(timeout=30.0) as http,
        ):
            settings = settings.model_copy(update={"registry_url": registry_url})
            bpp = Bpp(
                router=router,
                store=store,
                keys=bpp_keys,
                directory=RegistryClient(registry_url, clock, http),
                clock=clock,
                config=BppConfig(
                    bpp_id=settings.bpp_id, bpp_uri="http://bpp.e2e", domain=settings.beckn_domain
                ),
                http=http,
            )
            timers = Timers(meter, status_every_s=0.2, escalate_every_s=60.0)
            async with serving(create_app(bpp, timers=timers)) as bpp_url:
                sub = self_subscription(settings, bpp_keys, clock, days=1)
                RegistryStore(registry_file).add([sub.model_copy(update={"url": bpp_url})])
                async with (
                    connect(f"{csms.url}/CP1", subprotocols=["ocpp1.6"]) as ws,  # type: ignore[list-item]
                    bap_connected(settings, clock, bpp_url=bpp_url) as bap,
                ):
                    sim = SimulatedCharger("CP1", "ocpp1.6", ws)  # type: ignore[arg-type]
                    reader = asyncio.create_task(sim.dialect.client.start())
                    await sim.boot()
                    worker = asyncio.create_task(operate(sim, clock, DELIVERED_WH))
                    try:
                        yield Network(settings, bap, store, sim)
                    finally:
                        worker.cancel()
                        reader.cancel()
                        await asyncio.gather(worker, reader, return_exceptions=True)
    finally:
        await csms.close()
        store.close()
        log.close()


async def discover(d: Driver) -> Offer:
    found = offers(await d.search("56.460000,-2.970000", 5, "CCS2"))
    assert [o.item_id for o in found] == ["CP1-01", "CP1-02"]
    return found[0]


async def journey(net: Network, value: str, unit: str) -> dict[str, Any]:
    """Every step of one order; what it showed along the way."""
    d = net.driver()
    offer = await discover(d)
    on_select = require(await d.select(offer, value, unit))
    quote = on_select["order"]["quote"]
    on_init = await d.init(offer)
    terms = tags(require(on_init)["order"], "terms-of-service")
    assert (terms["terms-id"], terms["terms-version"]) == ("chargegrid-tos", "1")
    on_confirm = require(await d.confirm(offer, on_init))
    assert on_confirm["order"]["fulfillments"][0]["state"]["descriptor"]["code"] == (
        "order-confirmed"
    )
    mark = len(net.bap.inbox)
    started = require(await d.start())
    live = await d.live_status(mark, timeout_s=20)  # unsolicited, while charging
    while (live_tags := tags(require(live)["order"], "charging-details")).get(
        "energy-delivered", "0kWh"
    ) == "0kWh":  # the driver watches until the charger has reported energy
        live = await d.live_status(net.bap.inbox.index(live) + 1, timeout_s=20)
    end = await d.stop()
    bill = settlement(end)
    rated = require(await d.rate(4, "fine"))
    helped = require(await d.support("+441234567"))
    return {
        "quote": quote,
        "selected": on_select["order"]["items"][0]["quantity"]["selected"]["measure"],
        "started": started,
        "live": live,
        "live_tags": live_tags,
        "bill": bill,
        "paid": Decimal(quote["price"]["value"]),
        "rated": rated,
        "helped": helped,
        "driver": d,
    }


def check_bill(seen: dict[str, Any]) -> Decimal:
    bill = seen["bill"]
    billed = Decimal(bill["billed"])
    assert bill["metered"] == "true"  # from the charger's readings in the event log
    assert Decimal(0) < billed <= seen["paid"]
    assert Decimal(bill["refund"]) == seen["paid"] - billed
    assert bill["cancellation-fee"] == "0.00"
    assert seen["live"].context["message_id"] != seen["started"].get("message_id")
    assert seen["live"].context["transaction_id"] == seen["driver"].transaction_id
    assert seen["rated"]["feedback_form"]["form"]["url"].endswith("/feedback")
    assert "/support/" in seen["helped"]["support"]["url"]
    return billed


async def test_kwh_order_end_to_end(net: Network) -> None:
    seen = await journey(net, "4", "kWh")
    assert seen["quote"]["price"]["value"] == "84.96"  # 4 kWh x 18 INR + 18 % tax
    billed = check_bill(seen)
    assert billed < seen["paid"]  # at most 3 kWh were delivered
    assert seen["live_tags"]["energy-delivered"].endswith("kWh")
    assert not net.bap.refused  # every BPP callback carried a valid signature


async def test_minutes_order_end_to_end(net: Network) -> None:
    seen = await journey(net, "10", "min")
    assert (seen["selected"]["value"], seen["selected"]["unit"]) == ("10", "min")
    # 10 min at 50 kW = 8.333 kWh (whole Wh) at 18 INR + 18 % tax
    assert seen["quote"]["price"]["value"] == "176.99"
    check_bill(seen)


async def test_money_order_end_to_end(net: Network) -> None:
    seen = await journey(net, "30", "INR")  # a budget below what 2.5 kWh would cost
    assert seen["paid"] == Decimal("30.00")
    assert check_bill(seen) == Decimal("30.00")  # charged until the budget; never above it
    assert seen["bill"]["refund"] == "0.00"


async def test_cancellation_with_a_fee(net: Network) -> None:
    d = net.driver()
    offer = await discover(d)
    quote = require(await d.select(offer, "4", "kWh"))["order"]["quote"]
    await d.confirm(offer, await d.init(offer))
    await asyncio.sleep(0.01)  # past the free-cancellation cutoff of an order starting now
    cancelled = await d.cancel("2")
    bill = settlement(cancelled)
    paid = Decimal(quote["price"]["value"])
    assert Decimal(bill["cancellation-fee"]) == (paid / 10).quantize(Decimal("0.01"))
    assert Decimal(bill["refund"]) == paid - Decimal(bill["cancellation-fee"])
    assert require(cancelled)["order"]["status"] == "CANCELLED"
    with pytest.raises(BapError, match=r"40001|50001"):  # a cancelled order cannot start
        require(await d.start())


async def test_command_line_steps_continue_an_order_by_its_ids(net: Network) -> None:
    """``bap order`` then ``bap step start|status|stop`` (each a new BAP session by ids)."""
    placed = await place_order(net.driver(), "CP1-02", "2 kWh")
    order = require(placed[-1])["order"]
    tx = placed[-1].context["transaction_id"]
    started = await order_step(net.driver(), "start", tx, order["id"])
    assert require(started)["order"]["fulfillments"][0]["state"]["descriptor"]["code"] == (
        "charging-started"
    )
    stopped = await order_step(net.driver(), "stop", tx, order["id"])
    assert settlement(stopped)["metered"] == "true"
    with pytest.raises(BapError, match="unknown step"):
        await order_step(net.driver(), "dance", tx, order["id"])


def test_a_bad_quantity_is_a_clear_error(tmp_path: Path) -> None:
    done = chargegrid(["bap", "order", "CP1-01", "four kWh"], tmp_path / "var", timeout_s=60)
    assert done.returncode == 2
    assert "is not a number" in done.stderr
