"""The central system against real ``ocpp``-library charge points and raw WebSocket frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from ocpp import exceptions as ox
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from ocpp.v16.datatypes import MeterValue, SampledValue
from ocpp.v201 import ChargePoint as Client201
from ocpp.v201 import call as call201
from ocpp.v201.datatypes import (
    ChargingStationType,
    EVSEType,
    IdTokenType,
    MeterValueType,
    SampledValueType,
    TransactionType,
    UnitOfMeasureType,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from chargegrid.events import (
    Boot,
    ConnectorStatus,
    Heartbeat,
    Reason,
    TransactionEnded,
    TransactionStarted,
)
from chargegrid.events import (
    MeterValue as MeterEvent,
)
from chargegrid.settings import Settings
from chargers.server import CsmsHandle
from tests.chargers.support import CLOCK_AT, run_against_csms

TS = "2024-03-30T22:00:00Z"
TS2 = "2024-03-30T22:01:00Z"


@asynccontextmanager
async def client(
    handle: CsmsHandle, cls: type[Any], charger_id: str, subprotocol: str
) -> AsyncIterator[Any]:
    async with connect(f"{handle.url}/{charger_id}", subprotocols=[subprotocol]) as ws:  # type: ignore[list-item]
        cp = cls(charger_id, ws)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()


@asynccontextmanager
async def raw(
    handle: CsmsHandle, charger_id: str, subprotocol: str
) -> AsyncIterator[ClientConnection]:
    async with connect(f"{handle.url}/{charger_id}", subprotocols=[subprotocol]) as ws:  # type: ignore[list-item]
        yield ws


async def exchange(ws: ClientConnection, frame: str) -> list[Any]:
    await ws.send(frame)
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return answer


def sampled(
    value: str, measurand: str, unit: str, context: str = "Sample.Periodic"
) -> SampledValue:
    return SampledValue(value=value, measurand=measurand, unit=unit, context=context)  # type: ignore[arg-type]


def test_16_session_lands_in_the_log(settings: Settings) -> None:
    async def scenario(handle: CsmsHandle) -> dict[str, Any]:
        async with client(handle, Client16, "CP1", "ocpp1.6") as cp:
            boot = await cp.call(
                call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )
            beat = await cp.call(call16.Heartbeat())
            await cp.call(call16.StatusNotification(1, "NoError", "Preparing", timestamp=TS))
            auth = await cp.call(call16.Authorize(id_tag="TAG1"))
            start = await cp.call(call16.StartTransaction(1, "TAG1", 1000, TS))
            tx = start.transaction_id
            reading = MeterValue(
                timestamp=TS2,
                sampled_value=[
                    sampled("1.5", "Energy.Active.Import.Register", "kWh"),
                    sampled("7.2", "Power.Active.Import", "kW"),
                    sampled("31.3", "Current.Import", "A"),
                    sampled("230", "Voltage", "V"),
                    sampled("55", "SoC", "Percent"),
                ],
            )
            await cp.call(call16.MeterValues(1, [reading], transaction_id=tx))
            await cp.call(
                call16.StopTransaction(2500, "2024-03-30T23:00:00Z", tx, reason="EVDisconnected")
            )
            return {"boot": boot, "beat": beat, "auth": auth, "tx": tx}

    out, logged = run_against_csms(settings, scenario)
    assert out["boot"].status == "Accepted"
    assert out["boot"].interval == settings.heartbeat_interval_s
    assert out["beat"].current_time.startswith("2030-01-01")  # the injected clock
    assert out["auth"].id_tag_info["status"] == "Accepted"
    tx = str(out["tx"])
    started, value, ended = logged.meter
    assert isinstance(started, TransactionStarted)
    assert (started.transaction_id, started.meter_start_wh, started.id_tag) == (tx, 1000, "TAG1")
    assert started.ts.isoformat() == "2024-03-30T22:00:00+00:00"  # the charger's time
    assert isinstance(value, MeterEvent)
    assert (value.energy_register_wh, value.power_w, value.current_a) == (1500.0, 7200.0, 31.3)
    assert (value.voltage_v, value.soc_pct, value.transaction_id) == (230.0, 55.0, tx)
    assert isinstance(ended, TransactionEnded)
    assert (ended.connector_id, ended.meter_stop_wh, ended.reason) == (1, 2500, "EVDisconnected")
    kinds = [type(e) for e in logged.status]
    assert kinds == [Boot, Heartbeat, ConnectorStatus]
    assert logged.status[0].ts == CLOCK_AT and logged.status[0].accepted
    assert logged.dead == []


def test_16_transaction_ids_stay_unique_across_restarts(settings: Settings) -> None:
    async def one_start(handle: CsmsHandle) -> int:
        async with client(handle, Client16, "CP1", "ocpp1.6") as cp:
            start = await cp.call(call16.StartTransaction(1, "TAG1", 0, TS))
            return int(start.transaction_id)

    first, _ = run_against_csms(settings, one_start)
    second, _ = run_against_csms(settings, one_start)
    assert second > first


def test_201_session_lands_in_the_log(settings: Settings) -> None:
    def tx_event(
        event_type: str, seq: int, ts: str, values: list[tuple[float, str, str]], **kw: Any
    ) -> Any:
        meter = [
            MeterValueType(
                timestamp=ts,
                sampled_value=[
                    SampledValueType(
                        value=v,
                        measurand=m,  # type: ignore[arg-type]
                        context="Transaction.End" if event_type == "Ended" else "Sample.Periodic",  # type: ignore[arg-type]
                        unit_of_measure=UnitOfMeasureType(unit=u),
                    )
                    for v, m, u in values
                ],
            )
        ]
        return call201.TransactionEvent(
            event_type=event_type,  # type: ignore[arg-type]
            timestamp=ts,
            trigger_reason="MeterValuePeriodic",  # type: ignore[arg-type]
            seq_no=seq,
            meter_value=meter if values else None,
            **kw,
        )

    async def scenario(handle: CsmsHandle) -> Any:
        async with client(handle, Client201, "CP2", "ocpp2.0.1") as cp:
            boot = await cp.call(
                call201.BootNotification(
                    charging_station=ChargingStationType(vendor_name="V", model="M"),
                    reason="PowerUp",  # type: ignore[arg-type]
                )
            )
            await cp.call(call201.StatusNotification(TS, "Occupied", 2, 1))  # type: ignore[arg-type]
            await cp.call(
                tx_event(
                    "Started",
                    0,
                    TS,
                    [(0.0, "Energy.Active.Import.Register", "Wh")],
                    transaction_info=TransactionType(
                        transaction_id="demo:7", charging_state="Charging"
                    ),  # type: ignore[arg-type]
                    evse=EVSEType(id=2, connector_id=1),
                    id_token=IdTokenType(id_token="TAG9", type="ISO14443"),  # type: ignore[arg-type]
                )
            )
            await cp.call(
                tx_event(
                    "Updated",
                    1,
                    TS2,
                    [
                        (1.25, "Energy.Active.Import.Register", "kWh"),
                        (11.0, "Power.Active.Import", "kW"),
                    ],
                    transaction_info=TransactionType(transaction_id="demo:7"),
                )
            )
            await cp.call(
                tx_event(
                    "Ended",
                    2,
                    "2024-03-30T23:00:00Z",
                    [(4000.0, "Energy.Active.Import.Register", "Wh")],
                    transaction_info=TransactionType(
                        transaction_id="demo:7", stopped_reason="EVDisconnected"
                    ),  # type: ignore[arg-type]
                )
            )
            return boot

    boot, logged = run_against_csms(settings, scenario)
    assert boot.status == "Accepted"
    started, begin, update, end_value, ended = logged.meter
    assert isinstance(started, TransactionStarted)
    assert (started.transaction_id, started.connector_id, started.protocol) == (
        "demo:7",
        2,
        "ocpp2.0.1",
    )
    assert started.id_tag == "TAG9"
    assert (update.energy_register_wh, update.power_w, update.connector_id) == (1250.0, 11000.0, 2)
    assert end_value.context == "Transaction.End"
    assert isinstance(ended, TransactionEnded)
    assert (ended.meter_stop_wh, ended.connector_id, ended.reason) == (4000.0, 2, "EVDisconnected")
    statuses = [e.status for e in logged.status if isinstance(e, ConnectorStatus)]
    assert statuses == ["Occupied", "Charging"]
    assert begin.energy_register_wh == 0.0


def test_unknown_charger_is_rejected_and_logged(settings: Settings) -> None:
    async def scenario(handle: CsmsHandle) -> tuple[Any, Any]:
        async with client(handle, Client16, "STRANGER", "ocpp1.6") as cp:
            boot = await cp.call(
                call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )
            with pytest.raises(ox.SecurityError) as info:
                await cp.call(call16.StartTransaction(1, "TAG1", 0, TS), suppress=False)
            return boot, info.value

    (boot, _), logged = run_against_csms(settings, scenario)
    assert boot.status == "Rejected"
    assert [(b.charger_id, b.accepted) for b in logged.status] == [("STRANGER", False)]
    assert logged.meter == []
    assert [(d.reason, d.charger_id) for d in logged.dead] == [(Reason.unknown_charger, "STRANGER")]


def meter_frame(uid: str, value: str, ts: str = "2024-01-01T00:00:00Z") -> str:
    reading = {"timestamp": ts, "sampledValue": [{"value": value}]}
    return json.dumps([2, uid, "MeterValues", {"connectorId": 1, "meterValue": [reading]}])


MALFORMED_16 = [
    ("this is not json", "-1", "FormationViolation", Reason.undecodable),
    ('{"a": 1}', "-1", "FormationViolation", Reason.schema_invalid),
    ('[2, "m1", "Heartbeat"]', "m1", "ProtocolError", Reason.schema_invalid),
    ('[9, "m2", "Heartbeat", {}]', "m2", "ProtocolError", Reason.schema_invalid),
    ('[2, "m3", "FlyToTheMoon", {}]', "m3", "NotSupported", Reason.unknown_kind),
    ('[2, "m4", "GetConfiguration", {}]', "m4", "NotImplemented", Reason.unknown_kind),
    (
        '[2, "m5", "StartTransaction", {"connectorId": "one", "idTag": "T", "meterStart": 0, '
        '"timestamp": "2024-01-01T00:00:00Z"}]',
        "m5",
        "TypeConstraintViolation",
        Reason.schema_invalid,
    ),
    (
        '[2, "m6", "StatusNotification", {"connectorId": 1, "errorCode": "NoError"}]',
        "m6",
        "ProtocolError",
        Reason.schema_invalid,
    ),
    (
        '[2, "m7", "StatusNotification", '
        '{"connectorId": 1, "errorCode": "NoError", "status": "Dancing"}]',
        "m7",
        "PropertyConstraintViolation",
        Reason.schema_invalid,
    ),
    ('[2, "m8", "Heartbeat", {"extra": 1}]', "m8", "FormationViolation", Reason.schema_invalid),
    (
        meter_frame("m9", "lots"),
        "m9",
        "PropertyConstraintViolation",
        Reason.schema_invalid,
    ),
    (
        meter_frame("m10", "NaN"),
        "m10",
        "PropertyConstraintViolation",
        Reason.implausible_value,
    ),
    (
        meter_frame("m11", "12", ts="2024-01-01T00:00:00"),
        "m11",
        "PropertyConstraintViolation",
        Reason.schema_invalid,
    ),
]


@pytest.mark.parametrize(("frame", "uid", "code", "reason"), MALFORMED_16)
def test_16_malformed_frame_gets_call_error_and_connection_keeps_serving(
    settings: Settings, frame: str, uid: str, code: str, reason: Reason
) -> None:
    async def scenario(handle: CsmsHandle) -> tuple[list[Any], list[Any]]:
        async with raw(handle, "CP1", "ocpp1.6") as ws:
            error = await exchange(ws, frame)
            ok = await exchange(ws, '[2, "next", "Heartbeat", {}]')
            return error, ok

    (error, ok), logged = run_against_csms(settings, scenario)
    assert error[:3] == [4, uid, code]
    assert isinstance(error[3], str) and isinstance(error[4], dict)
    assert ok[:2] == [3, "next"] and "currentTime" in ok[2]
    assert [d.reason for d in logged.dead] == [reason]
    assert logged.dead[0].raw == frame
    assert logged.meter == []


MALFORMED_201 = [
    ("not json either", "-1", "RpcFrameworkError"),
    ("[2]", "-1", "RpcFrameworkError"),
    ('[2, "a1", "Heartbeat", {}, 5]', "a1", "RpcFrameworkError"),
    ('[7, "a2", "Heartbeat", {}]', "a2", "MessageTypeNotSupported"),
    ('[2, "a3", "StartTransaction", {}]', "a3", "NotSupported"),
    ('[2, "a4", "Heartbeat", {"x": true}]', "a4", "FormatViolation"),
    ('[2, "a5", "TransactionEvent", {"eventType": "Started"}]', "a5", "ProtocolError"),
]


@pytest.mark.parametrize(("frame", "uid", "code"), MALFORMED_201)
def test_201_malformed_frame_gets_call_error(
    settings: Settings, frame: str, uid: str, code: str
) -> None:
    async def scenario(handle: CsmsHandle) -> tuple[list[Any], list[Any]]:
        async with raw(handle, "CP2", "ocpp2.0.1") as ws:
            return await exchange(ws, frame), await exchange(ws, '[2, "n", "Heartbeat", {}]')

    (error, ok), logged = run_against_csms(settings, scenario)
    assert error[:3] == [4, uid, code]
    assert ok[:2] == [3, "n"]
    assert len(logged.dead) == 1


def test_call_results_from_the_charger_are_not_errors(settings: Settings) -> None:
    async def scenario(handle: CsmsHandle) -> list[Any]:
        async with raw(handle, "CP1", "ocpp1.6") as ws:
            await ws.send('[3, "unsolicited", {}]')
            return await exchange(ws, '[2, "h", "Heartbeat", {}]')

    ok, logged = run_against_csms(settings, scenario)
    assert ok[:2] == [3, "h"]
    assert logged.dead == []


def test_connection_without_ocpp_subprotocol_or_charger_id_is_refused(settings: Settings) -> None:
    async def scenario(handle: CsmsHandle) -> list[int]:
        statuses = []
        for url, protocols in [
            (f"{handle.url}/CP1", None),
            (f"{handle.url}/CP1", ["ocpp0.1"]),
            (f"{handle.url}/", ["ocpp1.6"]),
            (f"{handle.url}/a/b", ["ocpp1.6"]),
        ]:
            with pytest.raises(InvalidStatus) as info:
                async with connect(url, subprotocols=protocols):  # type: ignore[arg-type]
                    pass
            statuses.append(info.value.response.status_code)
        return statuses

    statuses, _ = run_against_csms(settings, scenario)
    assert statuses == [400, 400, 404, 404]


def test_201_preferred_when_both_offered(settings: Settings) -> None:
    async def scenario(handle: CsmsHandle) -> str | None:
        async with connect(f"{handle.url}/CP1", subprotocols=["ocpp1.6", "ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            return ws.subprotocol

    chosen, _ = run_against_csms(settings, scenario)
    assert chosen == "ocpp2.0.1"


def test_many_chargers_are_served_concurrently(settings: Settings) -> None:
    from tests.chargers.support import estate

    ids = tuple(f"CP{i}" for i in range(50))

    async def one(handle: CsmsHandle, cid: str) -> str:
        async with client(handle, Client16, cid, "ocpp1.6") as cp:
            boot = await cp.call(
                call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )
            for _ in range(5):
                await cp.call(call16.Heartbeat())
            return str(boot.status)

    async def scenario(handle: CsmsHandle) -> list[str]:
        return list(await asyncio.gather(*(one(handle, cid) for cid in ids)))

    statuses, logged = run_against_csms(settings, scenario, inventory=estate(ids))
    assert statuses == ["Accepted"] * 50
    assert len(logged.status) == 50 * 6


def test_a_following_csms_learns_chargers_added_to_the_inventory_file(
    settings: Settings,
) -> None:
    from chargegrid.clock import FrozenClock
    from chargegrid.eventlog import EventLog
    from chargegrid.inventory import Inventory, save_inventory
    from chargers.server import start_csms
    from tests.chargers.support import estate

    async def boot(handle: CsmsHandle, charger_id: str) -> str:
        async with client(handle, Client16, charger_id, "ocpp1.6") as cp:
            answer = await cp.call(
                call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )
            return str(answer.status)

    async def scenario() -> list[str]:
        save_inventory(Inventory(), settings.inventory_path)
        with EventLog(settings.eventlog_path) as log:
            handle = await start_csms(
                settings.model_copy(update={"csms_port": 0}),
                log,
                Inventory(),
                FrozenClock(CLOCK_AT),
                follow_inventory_file=True,
            )
            try:
                before = await boot(handle, "CP1")
                save_inventory(estate(("CP1",)), settings.inventory_path)
                return [before, await boot(handle, "CP1")]
            finally:
                await handle.close()

    assert asyncio.run(scenario()) == ["Rejected", "Accepted"]
