"""Remote start/stop from the orders side (chargers.commands) through a running central system to
a simulated charger that answers them, over OCPP 1.6 and 2.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from chargegrid.settings import Settings
from chargers.commands import (
    ChargerOffline,
    CsmsCommands,
    FakeChargerCommands,
    HttpChargerCommands,
    control_token,
)
from chargers.server import CsmsHandle
from chargers.simulator import SimulatedCharger, guarded
from tests.chargers.support import T0, run_against_csms


async def until(predicate: Any) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    msg = "condition never held"
    raise AssertionError(msg)


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_remote_start_and_stop_reach_the_charger_and_open_and_close_a_transaction(
    settings: Settings, protocol: str
) -> None:
    async def scenario(handle: CsmsHandle) -> tuple[Any, ...]:
        commands = CsmsCommands(handle.ctx)
        async with connect(f"{handle.url}/CP1", subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            sim = SimulatedCharger("CP1", protocol, ws)  # type: ignore[arg-type]
            reader = asyncio.create_task(sim.dialect.client.start())

            out: list[tuple[Any, ...]] = []

            async def drive() -> None:
                await sim.boot()
                await until(lambda: "CP1" in handle.ctx.live)
                accepted = await commands.remote_start("CP1", 2, "ORDER42")
                request = await asyncio.wait_for(sim.remote_requests.get(), 5)
                run = await sim.start_remote_session(request, T0, 5_000, 11_000.0)
                await until(lambda: ("CP1", run.transaction_id) in handle.ctx.connectors)
                tx = await commands.transaction_on("CP1", 2)
                assert tx is not None
                stopped = await commands.remote_stop("CP1", tx)
                stop = await asyncio.wait_for(sim.remote_requests.get(), 5)
                await sim.stop_remote_session(run)
                refused = await commands.remote_start("CP1", 0, "ORDER42")
                out.append((accepted, request, tx == run.transaction_id, stopped, stop, refused))

            try:
                await guarded(reader, drive())
            finally:
                reader.cancel()
        await until(lambda: "CP1" not in handle.ctx.live)
        with pytest.raises(ChargerOffline):
            await commands.remote_start("CP1", 1, "ORDER42")
        return out[0]

    (accepted, request, same_tx, stopped, stop, refused), logged = run_against_csms(
        settings, scenario
    )
    assert accepted and stopped and same_tx
    assert not refused  # no connector named: the simulated charger does not pick one
    assert (request.kind, request.connector_id, request.id_tag) == ("start", 2, "ORDER42")
    assert stop.kind == "stop"
    kinds = [m.kind for m in logged.meter]
    assert (kinds[0], kinds[-1]) == ("transaction_started", "transaction_ended")
    assert {m.connector_id for m in logged.meter if m.kind == "transaction_started"} == {2}


def test_fake_commands_record_and_track_open_transactions() -> None:
    fake = FakeChargerCommands()

    async def run() -> None:
        assert await fake.remote_start("CP1", 1, "tag")
        tx = await fake.transaction_on("CP1", 1)
        assert tx == "1"
        assert await fake.remote_stop("CP1", tx)
        assert await fake.transaction_on("CP1", 1) is None
        fake.offline.add("CP1")
        with pytest.raises(ChargerOffline):
            await fake.remote_start("CP1", 1, "tag")

    asyncio.run(run())
    assert fake.calls == [("start", "CP1", "1", "tag"), ("stop", "CP1", "1")]


def test_bpp_in_another_process_commands_through_the_control_endpoint(settings: Settings) -> None:
    async def scenario(handle: CsmsHandle) -> tuple[Any, ...]:
        token = control_token(settings.data_dir, create=False)
        assert token is not None
        base = handle.url.replace("ws://", "http://")
        async with httpx.AsyncClient() as http:
            remote = HttpChargerCommands(base, token, http)
            intruder = HttpChargerCommands(base, "guess", http)
            async with connect(f"{handle.url}/CP1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
                sim = SimulatedCharger("CP1", "ocpp1.6", ws)
                reader = asyncio.create_task(sim.dialect.client.start())
                out: list[Any] = []

                async def drive() -> None:
                    await sim.boot()
                    await until(lambda: "CP1" in handle.ctx.live)
                    with pytest.raises(ChargerOffline, match="401"):
                        await intruder.remote_start("CP1", 1, "X")
                    out.append(await remote.remote_start("CP1", 1, "ORDER7"))
                    run = await sim.start_remote_session(
                        await sim.remote_requests.get(), T0, 1_000, 7_000.0
                    )
                    await until(lambda: ("CP1", run.transaction_id) in handle.ctx.connectors)
                    out.append(await remote.transaction_on("CP1", 1) == run.transaction_id)
                    out.append(await remote.remote_stop("CP1", str(run.transaction_id)))

                try:
                    await guarded(reader, drive())
                finally:
                    reader.cancel()
            with pytest.raises(ChargerOffline, match="409"):
                await remote.remote_start("CP2", 1, "X")  # never connected
        return tuple(out)

    result, _ = run_against_csms(settings, scenario)
    assert result == (True, True, True)
