"""Remote start/stop from the orders side (chargers.commands) through a running central system to
a simulated charger that answers them, over OCPP 1.6 and 2.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import connect

from chargegrid.settings import Settings
from chargers.commands import ChargerOffline, CsmsCommands, FakeChargerCommands
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
                await until(lambda: commands.transaction_on("CP1", 2) is not None)
                tx = commands.transaction_on("CP1", 2)
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
        tx = fake.transaction_on("CP1", 1)
        assert tx == "1"
        assert await fake.remote_stop("CP1", tx)
        assert fake.transaction_on("CP1", 1) is None
        fake.offline.add("CP1")
        with pytest.raises(ChargerOffline):
            await fake.remote_start("CP1", 1, "tag")

    asyncio.run(run())
    assert fake.calls == [("start", "CP1", "1", "tag"), ("stop", "CP1", "1")]
