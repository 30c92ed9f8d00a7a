"""ReserveNow / CancelReservation from the orders side through a running central system, over
OCPP 1.6 and 2.0.1, to a charge point (the ``ocpp`` library's) that implements reservations, and
to the simulator, which does not (its CallError reads as ``Unsupported``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import connect

from chargegrid.settings import Settings
from chargers.commands import CsmsCommands, ReserveStatus
from chargers.server import CsmsHandle
from chargers.simulator import SimulatedCharger, guarded
from tests.chargers.support import run_against_csms

EXPIRY = datetime(2026, 1, 1, 12, 15, tzinfo=UTC)


class Reservable16(ChargePoint16):  # type: ignore[misc]
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: list[tuple[Any, ...]] = []

    @on("ReserveNow")  # type: ignore[misc]
    def reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **_: Any
    ) -> Any:
        self.seen.append(("reserve", connector_id, expiry_date, id_tag, reservation_id))
        return result16.ReserveNow(status="Accepted")

    @on("CancelReservation")  # type: ignore[misc]
    def cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        self.seen.append(("cancel", reservation_id))
        return result16.CancelReservation(status="Accepted")

    async def boot(self) -> None:
        await self.call(call16.BootNotification(charge_point_model="R", charge_point_vendor="T"))


class Reservable201(ChargePoint201):  # type: ignore[misc]
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: list[tuple[Any, ...]] = []

    @on("ReserveNow")  # type: ignore[misc]
    def reserve_now(
        self, id: int, expiry_date_time: str, id_token: dict[str, str], **kw: Any
    ) -> Any:
        self.seen.append(("reserve", kw.get("evse_id"), expiry_date_time, id_token["id_token"], id))
        return result201.ReserveNow(status="Accepted")

    @on("CancelReservation")  # type: ignore[misc]
    def cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        self.seen.append(("cancel", reservation_id))
        return result201.CancelReservation(status="Accepted")

    async def boot(self) -> None:
        await self.call(
            call201.BootNotification(
                charging_station={"model": "R", "vendor_name": "T"}, reason="PowerUp"
            )
        )


async def until(predicate: Any) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    msg = "condition never held"
    raise AssertionError(msg)


@pytest.mark.parametrize(
    ("protocol", "kind"), [("ocpp1.6", Reservable16), ("ocpp2.0.1", Reservable201)]
)
def test_reserve_and_cancel_reach_a_charger_that_implements_them(
    settings: Settings, protocol: str, kind: type[Any]
) -> None:
    async def scenario(handle: CsmsHandle) -> tuple[Any, ...]:
        commands = CsmsCommands(handle.ctx)
        async with connect(f"{handle.url}/CP1", subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            cp = kind("CP1", ws)
            reader = asyncio.create_task(cp.start())
            try:
                await cp.boot()
                await until(lambda: "CP1" in handle.ctx.live)
                status = await commands.reserve("CP1", 2, "ORDER42", EXPIRY, 7)
                released = await commands.cancel_reservation("CP1", 7)
            finally:
                reader.cancel()
        return status, released, cp.seen

    (status, released, seen), _ = run_against_csms(settings, scenario)
    assert (status, released) == (ReserveStatus.accepted, True)
    assert seen == [("reserve", 2, "2026-01-01T12:15:00Z", "ORDER42", 7), ("cancel", 7)]


def test_the_simulator_has_no_reservations_and_says_so(settings: Settings) -> None:
    async def scenario(handle: CsmsHandle) -> tuple[Any, ...]:
        commands = CsmsCommands(handle.ctx)
        async with connect(f"{handle.url}/CP1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            sim = SimulatedCharger("CP1", "ocpp1.6", ws)  # type: ignore[arg-type]
            reader = asyncio.create_task(sim.dialect.client.start())
            out: list[tuple[Any, ...]] = []

            async def drive() -> None:
                await sim.boot()
                await until(lambda: "CP1" in handle.ctx.live)
                status = await commands.reserve("CP1", 1, "ORDER42", EXPIRY, 1)
                out.append((status, await commands.cancel_reservation("CP1", 1)))

            try:
                await guarded(reader, drive())
            finally:
                reader.cancel()
        return out[0]

    (status, released), _ = run_against_csms(settings, scenario)
    assert (status, released) == (ReserveStatus.unsupported, False)
