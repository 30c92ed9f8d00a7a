"""Shared test helpers: a small estate, a CSMS on 127.0.0.1:0 with a tmp event log, log readers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import TypeAdapter

from chargegrid.clock import FrozenClock
from chargegrid.eventbatch import expand
from chargegrid.eventlog import EventLog
from chargegrid.events import METER_RECORD, STATUS_RECORD, DeadLetter, Topic
from chargegrid.inventory import Charger, Connector, Inventory, Station
from chargegrid.settings import Settings
from chargers.server import CsmsHandle, start_csms

T0 = datetime(2024, 3, 30, 22, 0, tzinfo=UTC)
CLOCK_AT = datetime(2030, 1, 1, tzinfo=UTC)  # far from plan times: shows which time was used
T = TypeVar("T")


def estate(charger_ids: tuple[str, ...] = ("CP1", "CP2"), connectors: int = 2) -> Inventory:
    return Inventory(
        stations=(Station(station_id="S1", name="Depot", lat=56.46, lon=-2.97),),
        chargers=tuple(
            Charger(
                charger_id=cid,
                station_id="S1",
                connectors=tuple(
                    Connector(connector_id=n, max_power_w=22_000.0)
                    for n in range(1, connectors + 1)
                ),
            )
            for cid in charger_ids
        ),
    )


@dataclass
class Logged:
    meter: list[Any]
    status: list[Any]
    dead: list[DeadLetter]


def read_log(log: EventLog) -> Logged:
    def payloads(topic: Topic) -> list[bytes]:
        out: list[bytes] = []
        for p in range(log.partitions):
            out += [x for r in log.read(topic, p, 0, 1_000_000) for x in expand(r.payload)]
        return out

    dead = TypeAdapter(DeadLetter)
    return Logged(
        meter=[METER_RECORD.validate_json(b) for b in payloads(Topic.meter_readings)],
        status=[STATUS_RECORD.validate_json(b) for b in payloads(Topic.connector_status)],
        dead=[dead.validate_json(b) for b in payloads(Topic.dead_letter)],
    )


@contextlib.asynccontextmanager
async def csms(
    settings: Settings, inventory: Inventory | None = None
) -> AsyncIterator[tuple[CsmsHandle, EventLog]]:
    log = EventLog(settings.eventlog_path, partitions=2)
    handle = await start_csms(
        settings.model_copy(update={"csms_port": 0}),
        log,
        inventory or estate(),
        FrozenClock(CLOCK_AT),
    )
    try:
        yield handle, log
    finally:
        await handle.close()
        log.close()


def run_against_csms(
    settings: Settings,
    scenario: Callable[[CsmsHandle], Awaitable[T]],
    inventory: Inventory | None = None,
    timeout_s: float = 15.0,
) -> tuple[T, Logged]:
    """Start a CSMS, run ``scenario`` against it, stop it (flushing), return what was logged."""

    async def main() -> tuple[T, Logged]:
        async with csms(settings, inventory) as (handle, log):
            result = await asyncio.wait_for(scenario(handle), timeout_s)
            await handle.close()
            return result, read_log(log)

    return asyncio.run(main())
