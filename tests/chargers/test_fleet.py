"""Simulators -> CSMS -> event log, over real WebSockets."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from chargegrid.events import ConnectorStatus, MeterValue, TransactionEnded, TransactionStarted
from chargegrid.plans import PlannedSession
from chargegrid.settings import Settings
from chargers.curve import InfeasiblePlan
from chargers.fleet import FleetReport, OverlappingPlans, build_runs, run_fleet
from chargers.server import CsmsHandle
from chargers.simulator import ProtocolName
from tests.chargers.support import T0, estate, run_against_csms


def plan(
    ref: str,
    charger_id: str = "CP1",
    connector_id: int = 1,
    start_min: float = 0,
    minutes: float = 60,
    energy_wh: int = 5_000,
    max_power_w: float = 11_000.0,
) -> PlannedSession:
    plug_in = T0 + timedelta(minutes=start_min)
    return PlannedSession(
        ref=ref,
        charger_id=charger_id,
        connector_id=connector_id,
        id_tag=f"TAG-{ref[-4:]}",
        plug_in=plug_in,
        plug_out=plug_in + timedelta(minutes=minutes),
        energy_wh=energy_wh,
        max_power_w=max_power_w,
    )


PLANS = [
    plan("demo:1", energy_wh=5_003),
    plan("demo:2", connector_id=2, start_min=10, minutes=90, energy_wh=12_345),  # overlaps demo:1
    plan("demo:3", start_min=60, minutes=30, energy_wh=777),  # touches demo:1 on connector 1
    plan(
        "demo:4", charger_id="CP2", start_min=5, minutes=120, energy_wh=20_000, max_power_w=50_000
    ),
]


def fleet_run(
    settings: Settings, plans: list[PlannedSession], protocol: ProtocolName, **kw: object
) -> tuple[FleetReport, object]:
    inventory = kw.get("inventory") or estate()

    async def scenario(handle: CsmsHandle) -> FleetReport:
        return await run_fleet(
            handle.url,
            inventory,  # type: ignore[arg-type]
            plans,
            speed=kw.get("speed"),  # type: ignore[arg-type]
            meter_interval_s=300,
            protocol_of=lambda _: protocol,
            stop=kw.get("stop"),  # type: ignore[arg-type]
        )

    return run_against_csms(settings, scenario, inventory=inventory)  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_exact_register_delta_through_the_whole_path(
    settings: Settings, protocol: ProtocolName
) -> None:
    report, logged = fleet_run(settings, PLANS, protocol)
    assert report.completed == len(PLANS), report.failed
    assert report.messages_sent > 0
    meter = logged.meter  # type: ignore[attr-defined]
    starts = {e.transaction_id: e for e in meter if isinstance(e, TransactionStarted)}
    ends = {e.transaction_id: e for e in meter if isinstance(e, TransactionEnded)}
    by_ref = {o.ref: o.transaction_id for o in report.sessions}
    for p in PLANS:
        tx = by_ref[p.ref]
        assert tx in starts and tx in ends
        assert ends[tx].meter_stop_wh - starts[tx].meter_start_wh == p.energy_wh
        assert starts[tx].ts == p.plug_in and ends[tx].ts == p.plug_out
        assert (starts[tx].charger_id, ends[tx].connector_id) == (p.charger_id, p.connector_id)
        values = [e for e in meter if isinstance(e, MeterValue) and e.transaction_id == tx]
        registers = [v.energy_register_wh for v in values]
        assert registers == sorted(registers)
        assert values[0].context == "Transaction.Begin" and values[-1].context == "Transaction.End"
        assert registers[-1] - registers[0] == p.energy_wh
        assert all(v.power_w is not None and v.power_w <= p.max_power_w for v in values)
        assert all(v.soc_pct is not None and v.voltage_v is not None for v in values)
    assert logged.dead == []  # type: ignore[attr-defined]


def test_16_connector_register_continues_across_sessions(settings: Settings) -> None:
    _report, logged = fleet_run(settings, PLANS, "ocpp1.6")
    starts = [e for e in logged.meter if isinstance(e, TransactionStarted)]  # type: ignore[attr-defined]
    on_cp1_c1 = [s for s in starts if s.charger_id == "CP1" and s.connector_id == 1]
    assert [s.meter_start_wh for s in on_cp1_c1] == [0, 5_003]


def test_16_status_sequence_of_a_session(settings: Settings) -> None:
    quick = [plan("demo:9", minutes=120, energy_wh=2_000, max_power_w=11_000)]  # full after ~11 min
    report, logged = fleet_run(settings, quick, "ocpp1.6")
    assert report.completed == 1
    statuses = [
        e.status
        for e in logged.status  # type: ignore[attr-defined]
        if isinstance(e, ConnectorStatus) and (e.charger_id, e.connector_id) == ("CP1", 1)
    ]
    assert statuses == [
        "Available",
        "Preparing",
        "Charging",
        "SuspendedEV",
        "Finishing",
        "Available",
    ]


def test_every_charger_of_the_estate_boots_and_reports_its_connectors(settings: Settings) -> None:
    report, logged = fleet_run(settings, [plan("demo:30")], "ocpp1.6")  # only CP1/1 has a plan
    assert report.completed == 1
    available = {
        (e.charger_id, e.connector_id)
        for e in logged.status  # type: ignore[attr-defined]
        if isinstance(e, ConnectorStatus) and e.status == "Available"
    }
    assert available == {("CP1", 1), ("CP1", 2), ("CP2", 1), ("CP2", 2)}


def test_refused_charger_is_reported_not_raised(settings: Settings) -> None:
    stranger = [plan("demo:5", charger_id="STRANGER"), plan("demo:6", charger_id="CP1")]
    report, _logged = fleet_run(settings, stranger, "ocpp2.0.1")
    assert report.chargers_rejected == ["STRANGER"]
    failed = {o.ref: o.reason for o in report.failed}
    assert list(failed) == ["demo:5"]
    assert "rejected" in (failed["demo:5"] or "")
    assert report.completed == 1


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_a_model_name_longer_than_the_protocol_allows_still_boots(
    settings: Settings, protocol: ProtocolName
) -> None:
    base = estate(("CP1",))
    long_model = base.model_copy(
        update={
            "chargers": (base.chargers[0].model_copy(update={"model": "APT Triple Rapid Charger"}),)
        }
    )
    report, _logged = fleet_run(settings, PLANS[:1], protocol, inventory=long_model)
    assert report.completed == 1, report.failed


def test_a_call_error_on_one_charger_is_reported_and_the_others_carry_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chargers.simulator

    monkeypatch.setattr(chargers.simulator, "MODEL_MAX_CHARS", 100)  # send the too-long model
    base = estate()
    cp1 = base.chargers[0].model_copy(update={"model": "APT Triple Rapid Charger"})
    inventory = base.model_copy(update={"chargers": (cp1, base.chargers[1])})
    plans = [plan("demo:7"), plan("demo:8", charger_id="CP2")]
    report, _logged = fleet_run(settings, plans, "ocpp1.6", inventory=inventory)
    assert report.completed == 1
    failed = {o.ref: o.reason or "" for o in report.failed}
    assert list(failed) == ["demo:7"]
    assert "PropertyConstraintViolation" in failed["demo:7"]


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_zero_length_sessions_start_before_they_stop(
    settings: Settings, protocol: ProtocolName
) -> None:
    plans = [
        plan("demo:20", minutes=30, energy_wh=1_000),
        plan("demo:21", start_min=30, minutes=0, energy_wh=0),  # plugged in and out at once
        plan("demo:22", start_min=30, minutes=0, energy_wh=0),
        plan("demo:23", start_min=30, minutes=20, energy_wh=500),
    ]
    report, logged = fleet_run(settings, plans, protocol)
    assert report.completed == 4, report.failed
    meter = logged.meter  # type: ignore[attr-defined]
    open_tx: set[str] = set()
    for event in meter:
        if isinstance(event, TransactionStarted):
            assert not open_tx, "one transaction at a time on the connector"
            open_tx.add(event.transaction_id)
        elif isinstance(event, TransactionEnded):
            assert event.transaction_id in open_tx
            open_tx.remove(event.transaction_id)
    assert sum(isinstance(e, TransactionEnded) for e in meter) == 4


def test_unreachable_csms_is_reported(settings: Settings) -> None:
    report = asyncio.run(
        run_fleet("ws://127.0.0.1:9", estate(), PLANS[:1], speed=None, meter_interval_s=60)
    )
    assert report.completed == 0
    assert "connection" in (report.failed[0].reason or "")


def test_overlapping_plans_on_one_connector_raise_before_connecting() -> None:
    clash = [plan("a:1", minutes=60), plan("a:2", start_min=30)]
    with pytest.raises(OverlappingPlans, match="a:2"):
        build_runs(estate(), clash)
    with pytest.raises(OverlappingPlans):
        asyncio.run(run_fleet("ws://127.0.0.1:9", estate(), clash, speed=None, meter_interval_s=60))


def test_plan_above_connector_power_is_infeasible() -> None:
    greedy = [plan("a:3", minutes=60, energy_wh=40_000, max_power_w=50_000)]  # estate: 22 kW
    with pytest.raises(InfeasiblePlan):
        build_runs(estate(), greedy)


def test_paced_fleet_follows_simulated_time_and_stops_early(settings: Settings) -> None:
    long_plans = [plan("demo:7", minutes=600, energy_wh=10_000)]  # 10 h simulated

    async def scenario(handle: CsmsHandle) -> tuple[FleetReport, float]:
        stop = asyncio.Event()
        began = time.monotonic()
        task = asyncio.create_task(
            run_fleet(
                handle.url,
                estate(),
                long_plans,
                speed=3600.0,  # 1 wall second = 1 simulated hour
                meter_interval_s=600,
                stop=stop,
            )
        )
        await asyncio.sleep(1.5)
        stop.set()
        report = await task
        return report, time.monotonic() - began

    (report, wall_s), logged = run_against_csms(settings, scenario)
    assert wall_s < 3.0
    assert report.completed == 0
    assert report.failed[0].reason == "stopped before the session ended"
    readings = [e for e in logged.meter if isinstance(e, MeterValue)]
    # about 1.5 simulated hours at one reading per 10 minutes, plus the Transaction.Begin one
    assert 6 <= len(readings) <= 12
    assert all(r.ts <= T0 + timedelta(hours=2) for r in readings)


def test_paced_fleet_completes_on_time(settings: Settings) -> None:
    short = [plan("demo:8", minutes=60, energy_wh=3_000)]

    async def scenario(handle: CsmsHandle) -> tuple[FleetReport, float]:
        began = time.monotonic()
        report = await run_fleet(handle.url, estate(), short, speed=3600.0, meter_interval_s=600)
        return report, time.monotonic() - began

    (report, wall_s), _ = run_against_csms(settings, scenario)
    assert report.completed == 1
    assert 0.9 <= wall_s < 3.0


@pytest.mark.slow
def test_thousands_of_connectors_in_one_process(settings: Settings) -> None:
    from chargegrid.orchestrate import raise_fd_limit

    assert raise_fd_limit() >= 4_000
    chargers = tuple(f"F{i:04d}" for i in range(1_000))
    inventory = estate(chargers, connectors=2)  # 2,000 connectors
    plans = [
        plan(f"fleet:{i}", charger_id=cid, connector_id=1 + i % 2, minutes=10, energy_wh=500)
        for i, cid in enumerate(chargers)
    ]

    async def scenario(handle: CsmsHandle) -> FleetReport:
        return await run_fleet(handle.url, inventory, plans, speed=None, meter_interval_s=300)

    report, logged = run_against_csms(settings, scenario, inventory=inventory, timeout_s=120)
    assert report.completed == len(plans), report.failed[:3]
    ends = [e for e in logged.meter if isinstance(e, TransactionEnded)]
    assert len(ends) == len(plans)
    available = {
        (e.charger_id, e.connector_id)
        for e in logged.status
        if isinstance(e, ConnectorStatus) and e.status == "Available"
    }
    assert len(available) == 2_000


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_fleet_chargers_obey_remote_start_and_stop(settings: Settings, protocol: str) -> None:
    """A Beckn order (or an operator) starts a session on an idle fleet connector: the simulated
    charger plugs in, meters at the interval and plugs out on the remote stop."""
    from chargers.commands import CsmsCommands

    # one planned session much later keeps the fleet connected and paced meanwhile
    later = [plan("demo:late", start_min=600, minutes=10, energy_wh=500)]

    async def scenario(handle: CsmsHandle) -> tuple[bool, bool, FleetReport]:
        commands = CsmsCommands(handle.ctx)
        stop = asyncio.Event()
        fleet = asyncio.create_task(
            run_fleet(
                handle.url,
                estate(),
                later,
                speed=600.0,  # 10 simulated minutes per wall second
                meter_interval_s=60,
                protocol_of=lambda _: protocol,  # type: ignore[arg-type, return-value]
                clock_origin=T0,
                stop=stop,
            )
        )
        for _ in range(500):
            if "CP1" in handle.ctx.live:
                break
            await asyncio.sleep(0.01)
        started = await commands.remote_start("CP1", 2, "ORDER7")
        tx = None
        for _ in range(500):
            tx = await commands.transaction_on("CP1", 2)
            if tx is not None:
                break
            await asyncio.sleep(0.01)
        assert tx is not None, f"the fleet charger never started the transaction: {started}"
        await asyncio.sleep(0.5)  # ~5 simulated minutes of readings
        stopped = await commands.remote_stop("CP1", tx)
        for _ in range(500):
            if await commands.transaction_on("CP1", 2) is None:
                break
            await asyncio.sleep(0.01)
        stop.set()
        return started, stopped, await fleet

    (started, stopped, report), logged = run_against_csms(settings, scenario, timeout_s=30)
    assert started and stopped and not report.remote_failures
    begun = [e for e in logged.meter if isinstance(e, TransactionStarted) and e.connector_id == 2]
    ended = [e for e in logged.meter if isinstance(e, TransactionEnded) and e.connector_id == 2]
    readings = [
        e
        for e in logged.meter
        if isinstance(e, MeterValue) and e.connector_id == 2 and e.transaction_id is not None
    ]
    assert len(begun) == len(ended) == 1 and begun[0].id_tag == "ORDER7"
    assert len(readings) >= 2  # metered at the interval while it charged
    assert ended[0].meter_stop_wh > begun[0].meter_start_wh
