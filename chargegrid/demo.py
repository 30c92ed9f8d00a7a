"""``chargegrid demo``: the whole system, embedded, on a synthetic city at accelerated time.

Set-up: a city calibrated from real charging data (``models.city``) → inventory → a day of planned
sessions from a busy local hour. Then: pipeline and dashboard as child processes, the central system
and the simulator fleet in this process, all on loopback. Runs until the plans are done, the
``--duration`` has passed or Ctrl-C; then stops the fleet, flushes the central system, lets the
pipeline drain and stops every child.

The demo keeps its state in ``<data_dir>/demo`` and starts it afresh each run (simulated time
restarts, so old transactions would collide with new ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

from chargegrid.clock import Clock, SystemClock
from chargegrid.errors import ChargegridError
from chargegrid.eventlog import EventLog
from chargegrid.inventory import Inventory, save_inventory
from chargegrid.orchestrate import (
    Child,
    drain_pipeline,
    raise_fd_limit,
    start_pipeline,
    wait_for_port,
)
from chargegrid.plans import PlannedSession
from chargegrid.settings import Settings
from chargegrid.signals import sigterm_as_interrupt

MARKER = ".chargegrid-demo"
CITY_TZ = ZoneInfo("Europe/London")


# The operator's tariff (<data dir>/tariff.json): the BPP quotes and the stream bills with it
DEMO_TARIFF = Path(__file__).resolve().parents[1] / "data" / "tariffs" / "uk_tou_vat.json"
DEMO_CURRENCY = "GBP"
DEMO_STATUS_EVERY_S = 1.0  # the demo drivers charge ~2 s each (orders.bap.charge_once)
ORDERS_AFTER_S = 8.0  # wall seconds before the demo's drivers order (the live view fills first)


class DemoError(ChargegridError):
    """The demo cannot start (port taken, data dir not ours, ...)."""


@dataclass(frozen=True)
class DemoOptions:
    speed: float = 60.0
    stations: int = 12
    seed: int = 7
    duration_s: float | None = None
    simulated_hours: float = 24.0 * 7  # at 60x, almost three hours of wall time
    orders: bool = True  # a Beckn registry, BPP and BAP: drivers order through the network


def demo_settings(settings: Settings) -> Settings:
    """The demo's settings: its own folder and currency, and (unless set) an ``on_status`` every
    :data:`DEMO_STATUS_EVERY_S`, so the demo's drivers, charging a few seconds each, watch their
    energy arrive (at the default 30 s they would see none)."""
    update: dict[str, object] = {
        "data_dir": settings.data_dir / "demo",
        "beckn_currency": DEMO_CURRENCY,
    }
    if "beckn_status_every_s" not in settings.model_fields_set:
        update["beckn_status_every_s"] = DEMO_STATUS_EVERY_S
    return settings.model_copy(update=update)


def fresh_data_dir(settings: Settings) -> None:
    """Empty the demo's own folder; refuse to touch a folder the demo did not create."""
    root = settings.data_dir
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        msg = f"{root} exists and was not made by the demo; move it or pick another --data-dir"
        raise DemoError(msg)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / MARKER).write_text("state of `chargegrid demo`; wiped at every demo start\n")


def city(options: DemoOptions, clock: Clock) -> tuple[Inventory, list[PlannedSession], datetime]:
    """The city, its planned sessions and the simulated start: today's busiest local hour.

    The plans begin with connectors already mid-session (the model's warm start), so live power
    shows within seconds of starting.
    """
    from models.city import build_city, busy_start, load_params, plan_sessions

    params = load_params()
    origin = busy_start(params, clock.now().astimezone(CITY_TZ).date(), tz=CITY_TZ)
    inventory = build_city(params, stations=options.stations, seed=options.seed)
    end = origin + timedelta(hours=options.simulated_hours)
    plans = plan_sessions(params, inventory, start=origin, end=end, seed=options.seed)
    return inventory, plans, origin


def run_demo(settings: Settings, options: DemoOptions, clock: Clock | None = None) -> None:
    clock = clock or SystemClock()
    raise_fd_limit()
    out = Console()
    settings = demo_settings(settings)
    fresh_data_dir(settings)
    shutil.copy(DEMO_TARIFF, settings.data_dir / "tariff.json")
    inventory, plans, origin = city(options, clock)
    save_inventory(inventory, settings.inventory_path)
    connectors = sum(len(c.connectors) for c in inventory.chargers)
    out.print(
        f"synthetic city: {len(inventory.stations)} stations, {len(inventory.chargers)} chargers, "
        f"{connectors} connectors, {len(plans)} sessions planned from {origin:%Y-%m-%d %H:%M} UTC"
    )
    # The chargers run on simulated time, from today's busiest hour (possibly still ahead of the
    # wall clock) at ``speed`` x: the pipeline must not judge their readings as from the future.
    ahead_s = (origin + timedelta(hours=options.simulated_hours) - clock.now()).total_seconds()
    skew_s = max(settings.max_clock_skew_s, ahead_s + settings.max_clock_skew_s)
    # Ctrl-C, or SIGTERM (kill, timeout), at any point stops the children and the demo cleanly
    with sigterm_as_interrupt(), contextlib.suppress(KeyboardInterrupt):
        _run_children(settings, options, inventory, plans, origin, clock, out, skew_s)
    out.print(f'stopped. Query the demo: chargegrid sql --data-dir {settings.data_dir} "..."')


def _run_children(
    settings: Settings,
    options: DemoOptions,
    inventory: Inventory,
    plans: list[PlannedSession],
    origin: datetime,
    clock: Clock,
    out: Console,
    skew_s: float,
) -> None:
    """Start the pipeline, dashboard and Beckn servers, run the city, drain, stop them all
    (Beckn servers first, the dashboard last), also those started before an interruption."""
    pipeline: Child | None = None
    dashboard: Child | None = None
    beckn: list[Child] = []
    try:
        pipeline = start_pipeline(settings, {"CHARGEGRID_MAX_CLOCK_SKEW_S": f"{skew_s:.0f}"})
        dashboard = Child(
            "dashboard", ["serve", "dashboard", "--port", str(settings.dashboard_port)], settings
        ).start()
        if options.orders:
            beckn = _start_beckn(settings, clock)
        wait_for_port(settings.host, settings.dashboard_port, 60.0, dashboard)
        for child, port in zip(beckn, (settings.registry_port, settings.bpp_port), strict=False):
            wait_for_port(settings.host, port, 60.0, child)
        with EventLog(settings.eventlog_path, settings.log_partitions) as log:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_run(settings, options, log, inventory, plans, origin, clock, out))
            out.print("stopping: draining the pipeline ...")
            drain_pipeline(settings, pipeline, timeout_s=120.0)
    finally:
        for started in [*beckn, pipeline, dashboard]:
            if started is not None:
                started.stop()


def _start_beckn(settings: Settings, clock: Clock) -> list[Child]:
    """Our Beckn keys in a local file registry, the registry and the BPP as child processes."""
    from orders.keys import generate_keys, register_self

    generate_keys(settings)
    register_self(settings, clock)
    return [
        Child("registry", ["serve", "registry"], settings).start(),
        Child(
            "bpp",
            ["serve", "bpp"],
            settings,
            extra_env={
                "CHARGEGRID_BECKN_CURRENCY": settings.beckn_currency,
                "CHARGEGRID_BECKN_STATUS_EVERY_S": str(settings.beckn_status_every_s),
            },
        ).start(),
    ]


async def _demo_orders(settings: Settings, clock: Clock, out: Console, delay_s: float) -> None:
    """Drivers ordering through a real Beckn BAP (signed requests, verified callbacks): a kWh, a
    minutes and a money order at the first station, start to final bill, rating and support."""
    from orders.bap import run_orders

    await asyncio.sleep(delay_s)  # the live view must show the connectors free first
    for attempt in range(3):
        try:
            runs = await run_orders(settings, clock)
        except ChargegridError as exc:
            out.print(f"beckn orders: attempt {attempt + 1} failed: {exc}")
            await asyncio.sleep(delay_s)
            continue
        for run in runs:
            out.print(
                f"beckn order {run.order_id}: {run.quantity}, quoted {run.quoted}, "
                f"settled {run.settlement}, {run.live_updates} live on_status"
            )
        return


async def _run(
    settings: Settings,
    options: DemoOptions,
    log: EventLog,
    inventory: Inventory,
    plans: list[PlannedSession],
    origin: datetime,
    clock: Clock,
    out: Console,
) -> None:
    from chargers.fleet import run_fleet
    from chargers.server import start_csms

    csms = await start_csms(settings, log, inventory, clock)
    out.print(f"dashboard      http://{settings.host}:{settings.dashboard_port}/")
    out.print(f"central system {csms.url}/<charger_id>  (OCPP 1.6J and 2.0.1)")
    out.print(f"data           {settings.data_dir}  (event log, Parquet lake, DuckDB catalog)")
    out.print(f"speed          {options.speed:g}x simulated time. Ctrl-C stops everything.")
    fleet = asyncio.ensure_future(
        run_fleet(
            csms.url,
            inventory,
            plans,
            speed=options.speed,
            meter_interval_s=settings.meter_interval_s,
            protocol_of=lambda charger_id: "ocpp2.0.1" if charger_id.endswith("2") else "ocpp1.6",
            clock_origin=origin,
        )
    )
    orders = (
        asyncio.ensure_future(_demo_orders(settings, clock, out, ORDERS_AFTER_S))
        if options.orders
        else None
    )
    try:
        report = await asyncio.wait_for(fleet, options.duration_s)
        out.print(f"all planned sessions played: {report}")
    except TimeoutError:
        out.print(f"--duration {options.duration_s:g} s reached")
    finally:
        for task in (fleet, orders):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await csms.close()
