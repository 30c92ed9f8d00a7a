"""A simulated charge point (OCPP 1.6J or 2.0.1 client, on the same ``ocpp`` library).

A charger runs the planned sessions of its connectors as one time-ordered list of steps (sessions
on different connectors may overlap; the connection has one outstanding CALL at a time). Each
session: plug-in (status Preparing/Occupied, Authorize, StartTransaction or TransactionEvent
Started with a Transaction.Begin reading, status Charging), a reading every ``meter_interval_s``
of simulated time (energy register Wh, power W, current A, voltage V, SoC %), SuspendedEV once the
planned energy is delivered, and plug-out (a Transaction.End reading with the exact register,
StopTransaction / TransactionEvent Ended, Finishing, Available).

Time is simulated: message timestamps are plan times. :class:`Pace` decides how long to wait
before each step: with a speed, until a shared :class:`~chargegrid.clock.ScaledClock` reaches the
step's time (heartbeats are sent while idle); with ``None``, not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any, Literal, Protocol

from ocpp import exceptions as ox
from ocpp.messages import Call, MessageType
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as Client201
from ocpp.v201 import call_result as result201

from chargegrid.clock import ScaledClock
from chargegrid.events import iso
from chargegrid.inventory import CurrentType
from chargegrid.plans import PlannedSession
from chargers.curve import ChargeCurve, build_curve

ProtocolName = Literal["ocpp1.6", "ocpp2.0.1"]
VENDOR = "chargegrid"
MODEL_MAX_CHARS = 20  # chargePointModel (1.6) and model (2.0.1) are 20-character strings
AC_VOLTAGE_V = 230.0
DC_VOLTAGE_V = 400.0
SINGLE_PHASE_MAX_W = 7_400.0
MAX_TX_ID = 36  # OCPP 2.0.1 transactionId is an identifierString[36]


class ConnectionLost(Exception):
    """The WebSocket closed while the charger still had work."""


class StepKind(IntEnum):
    """Order of steps at the same instant: a car leaves before the next one arrives."""

    plug_out = 0
    sample = 1
    full = 2
    plug_in = 3


@dataclass
class SessionRun:
    """One planned session while it runs: its curve, transaction id and outcome."""

    plan: PlannedSession
    curve: ChargeCurve
    current: CurrentType = "AC"
    transaction_id: str | None = None
    seq_no: int = 0
    done: bool = False
    failure: str | None = None

    def at(self, t_s: float) -> datetime:
        return self.plan.plug_in + timedelta(seconds=t_s)

    @property
    def connector_id(self) -> int:
        return self.plan.connector_id


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    kind: StepKind
    order: int
    session: SessionRun
    t_s: float

    def key(self) -> tuple[datetime, int, int]:
        """Time, then departures before arrivals; a zero-length session (arrival and departure at
        one instant) goes with the departures, its own plug-in first (lower ``order``)."""
        instant = self.session.plan.duration_s == 0
        rank = int(StepKind.plug_out) if instant else int(self.kind)
        return (self.at, rank, self.order)


def session_steps(run: SessionRun, meter_interval_s: float, order: Iterable[int]) -> list[Step]:
    """The steps of one session, in time order."""
    ids = iter(order)
    duration_s = run.plan.duration_s
    steps = [Step(run.plan.plug_in, StepKind.plug_in, next(ids), run, 0.0)]
    done_s = run.curve.done_s
    full_pending = run.curve.energy_wh > 0 and done_s < duration_s
    for k in itertools.count(1):
        t_s = k * meter_interval_s
        if t_s >= duration_s:
            break
        # the battery filling exactly at a sample time is one reading, not two at one instant
        kind = StepKind.full if full_pending and t_s == done_s else StepKind.sample
        full_pending = full_pending and kind is not StepKind.full
        steps.append(Step(run.at(t_s), kind, next(ids), run, t_s))
    if full_pending:
        steps.append(Step(run.at(done_s), StepKind.full, next(ids), run, done_s))
    steps.append(Step(run.plan.plug_out, StepKind.plug_out, next(ids), run, duration_s))
    return sorted(steps, key=Step.key)


@dataclass(frozen=True, slots=True)
class Electrical:
    """What the meter shows at one instant."""

    register_wh: float
    power_w: float
    current_a: float
    voltage_v: float
    soc_pct: float


def electrical(run: SessionRun, t_s: float, *, final: bool = False) -> Electrical:
    curve = run.curve
    power_w = curve.power_w(t_s)
    if run.current == "DC":
        voltage_v, phases = DC_VOLTAGE_V, 1
    else:
        voltage_v, phases = AC_VOLTAGE_V, (3 if curve.plateau_w > SINGLE_PHASE_MAX_W else 1)
    register = float(curve.meter_stop_wh) if final else curve.register_wh(t_s)
    return Electrical(
        register_wh=register,
        power_w=power_w,
        current_a=power_w / voltage_v / phases,
        voltage_v=voltage_v,
        soc_pct=curve.soc_pct(t_s),
    )


def _wh_text(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.3f}"


class Pace(Protocol):
    """When steps happen in wall time."""

    async def until(self, at: datetime, stop: asyncio.Event) -> bool:
        """Wait until simulated time ``at``; False if ``stop`` was set meanwhile."""
        ...

    def idle_gap_s(self, since: datetime, until: datetime) -> float:
        """Simulated seconds between two instants (for heartbeats)."""
        ...

    @property
    def paced(self) -> bool: ...


class FastPace:
    """As fast as possible: never waits."""

    paced = False

    async def until(self, at: datetime, stop: asyncio.Event) -> bool:
        return not stop.is_set()

    def idle_gap_s(self, since: datetime, until: datetime) -> float:
        return 0.0


@dataclass
class ScaledPace:
    """Follows a shared :class:`ScaledClock`."""

    clock: ScaledClock
    paced = True

    async def until(self, at: datetime, stop: asyncio.Event) -> bool:
        wait_s = self.clock.wall_seconds_until(at)
        if wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait_s)
        return not stop.is_set()

    def idle_gap_s(self, since: datetime, until: datetime) -> float:
        return (until - since).total_seconds()


class _Dialect(Protocol):
    client: Any

    async def boot(self, model: str) -> tuple[bool, int]: ...
    async def heartbeat(self) -> None: ...
    async def status(self, connector_id: int, status: str, at: datetime) -> None: ...
    async def plug_in(self, run: SessionRun) -> None: ...
    async def sample(self, run: SessionRun, t_s: float, full: bool) -> None: ...
    async def plug_out(self, run: SessionRun) -> None: ...


class _Base:
    """Sends CALLs through an ``ocpp`` ChargePoint: its call lock (one outstanding CALL per
    connection), unique ids and response routing. Payloads are built as camelCase dicts
    directly; the library's dataclass round trip (``asdict`` + key renaming) cost more than
    everything else a simulated charger does. The central system validates every frame.
    """

    def __init__(self, client: Any, count: Callable[[], None]) -> None:
        self.client = client
        self._count = count

    async def _call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._count()
        cp = self.client
        call = Call(str(cp._unique_id_generator()), action, payload)
        async with cp._call_lock:
            await cp._send(call.to_json())
            response = await cp._get_specific_response(call.unique_id, cp._response_timeout)
        if response.message_type_id == MessageType.CallError:
            try:
                error = response.to_exception()
            except ox.UnknownCallErrorCodeError:
                error = ox.GenericError(response.error_description, response.error_details)
            raise error
        answer: dict[str, Any] = response.payload
        return answer


class Dialect16(_Base):
    """OCPP 1.6J messages of a simulated charge point."""

    async def boot(self, model: str) -> tuple[bool, int]:
        answer = await self._call(
            "BootNotification", {"chargePointModel": model, "chargePointVendor": VENDOR}
        )
        return answer["status"] == "Accepted", int(answer["interval"])

    async def heartbeat(self) -> None:
        await self._call("Heartbeat", {})

    async def status(self, connector_id: int, status: str, at: datetime) -> None:
        payload = {
            "connectorId": connector_id,
            "errorCode": "NoError",
            "status": status,
            "timestamp": iso(at),
        }
        await self._call("StatusNotification", payload)

    async def plug_in(self, run: SessionRun) -> None:
        plan = run.plan
        await self.status(plan.connector_id, "Preparing", plan.plug_in)
        auth = await self._call("Authorize", {"idTag": plan.id_tag})
        _accepted(auth["idTagInfo"], f"id tag {plan.id_tag}")
        start = await self._call(
            "StartTransaction",
            {
                "connectorId": plan.connector_id,
                "idTag": plan.id_tag,
                "meterStart": run.curve.meter_start_wh,
                "timestamp": iso(plan.plug_in),
            },
        )
        _accepted(start["idTagInfo"], "transaction")
        run.transaction_id = str(start["transactionId"])
        await self._meter(run, 0.0, "Transaction.Begin")
        state = "Charging" if run.curve.energy_wh > 0 else "SuspendedEV"
        await self.status(plan.connector_id, state, plan.plug_in)

    async def sample(self, run: SessionRun, t_s: float, full: bool) -> None:
        await self._meter(run, t_s, "Sample.Periodic")
        if full:
            await self.status(run.connector_id, "SuspendedEV", run.at(t_s))

    async def plug_out(self, run: SessionRun) -> None:
        plan = run.plan
        await self._meter(run, plan.duration_s, "Transaction.End", final=True)
        await self._call(
            "StopTransaction",
            {
                "meterStop": run.curve.meter_stop_wh,
                "timestamp": iso(plan.plug_out),
                "transactionId": int(run.transaction_id or 0),
                "reason": "EVDisconnected",
                "idTag": plan.id_tag,
            },
        )
        await self.status(plan.connector_id, "Finishing", plan.plug_out)
        await self.status(plan.connector_id, "Available", plan.plug_out)

    async def _meter(self, run: SessionRun, t_s: float, context: str, final: bool = False) -> None:
        e = electrical(run, t_s, final=final)
        values = [
            (_wh_text(e.register_wh), "Energy.Active.Import.Register", "Wh"),
            (f"{e.power_w:.1f}", "Power.Active.Import", "W"),
            (f"{e.current_a:.2f}", "Current.Import", "A"),
            (f"{e.voltage_v:.1f}", "Voltage", "V"),
            (f"{e.soc_pct:.1f}", "SoC", "Percent"),
        ]
        sampled = [
            {"value": v, "context": context, "measurand": m, "unit": u} for v, m, u in values
        ]
        payload: dict[str, Any] = {
            "connectorId": run.connector_id,
            "meterValue": [{"timestamp": iso(run.at(t_s)), "sampledValue": sampled}],
        }
        if run.transaction_id is not None:
            payload["transactionId"] = int(run.transaction_id)
        await self._call("MeterValues", payload)


def _accepted(info: dict[str, Any], what: str) -> None:
    if info["status"] != "Accepted":
        msg = f"{what} not accepted: {info['status']}"
        raise SessionRefused(msg)


def transaction_id_201(ref: str) -> str:
    """A charger-chosen 2.0.1 transaction id derived from the plan's ref (<= 36 chars)."""
    if len(ref) <= MAX_TX_ID:
        return ref
    return hashlib.sha1(ref.encode(), usedforsecurity=False).hexdigest()[:MAX_TX_ID]


class Dialect201(_Base):
    """OCPP 2.0.1 messages of a simulated charging station (EVSE id = connector id)."""

    async def boot(self, model: str) -> tuple[bool, int]:
        answer = await self._call(
            "BootNotification",
            {"chargingStation": {"vendorName": VENDOR, "model": model}, "reason": "PowerUp"},
        )
        return answer["status"] == "Accepted", int(answer["interval"])

    async def heartbeat(self) -> None:
        await self._call("Heartbeat", {})

    async def status(self, connector_id: int, status: str, at: datetime) -> None:
        payload = {
            "timestamp": iso(at),
            "connectorStatus": status,
            "evseId": connector_id,
            "connectorId": 1,
        }
        await self._call("StatusNotification", payload)

    async def plug_in(self, run: SessionRun) -> None:
        plan = run.plan
        await self.status(plan.connector_id, "Occupied", plan.plug_in)
        token = {"idToken": plan.id_tag, "type": "ISO14443"}
        auth = await self._call("Authorize", {"idToken": token})
        _accepted(auth["idTokenInfo"], f"id token {plan.id_tag}")
        run.transaction_id = transaction_id_201(plan.ref)
        state = "Charging" if run.curve.energy_wh > 0 else "SuspendedEV"
        await self._event(
            run,
            "Started",
            0.0,
            "Authorized",
            "Transaction.Begin",
            {"chargingState": state},
            evse={"id": plan.connector_id, "connectorId": 1},
            idToken=token,
        )

    async def sample(self, run: SessionRun, t_s: float, full: bool) -> None:
        if full:
            info = {"chargingState": "SuspendedEV"}
            await self._event(run, "Updated", t_s, "ChargingStateChanged", "Sample.Periodic", info)
        else:
            await self._event(run, "Updated", t_s, "MeterValuePeriodic", "Sample.Periodic")

    async def plug_out(self, run: SessionRun) -> None:
        plan = run.plan
        info = {"chargingState": "Idle", "stoppedReason": "EVDisconnected"}
        await self._event(
            run, "Ended", plan.duration_s, "EVDeparted", "Transaction.End", info, final=True
        )
        await self.status(plan.connector_id, "Available", plan.plug_out)

    async def _event(
        self,
        run: SessionRun,
        event_type: str,
        t_s: float,
        trigger: str,
        context: str,
        info: dict[str, str] | None = None,
        *,
        final: bool = False,
        **extra: Any,
    ) -> None:
        e = electrical(run, t_s, final=final)
        values = [
            (e.register_wh, "Energy.Active.Import.Register", "Wh"),
            (round(e.power_w, 1), "Power.Active.Import", "W"),
            (round(e.current_a, 2), "Current.Import", "A"),
            (e.voltage_v, "Voltage", "V"),
            (round(e.soc_pct, 1), "SoC", "Percent"),
        ]
        sampled = [
            {"value": v, "context": context, "measurand": m, "unitOfMeasure": {"unit": u}}
            for v, m, u in values
        ]
        at = iso(run.at(t_s))
        await self._call(
            "TransactionEvent",
            {
                "eventType": event_type,
                "timestamp": at,
                "triggerReason": trigger,
                "seqNo": run.seq_no,
                "transactionInfo": {"transactionId": run.transaction_id or "", **(info or {})},
                "meterValue": [{"timestamp": at, "sampledValue": sampled}],
                **extra,
            },
        )
        run.seq_no += 1


class SessionRefused(Exception):
    """The central system refused the driver or the transaction."""


@dataclass(frozen=True)
class RemoteRequest:
    """A remote start (``connector_id``, ``id_tag``) or stop (``transaction_id``) the central
    system sent; the charger accepted it and acts on it outside the reader (see
    :meth:`SimulatedCharger.start_remote_session`)."""

    kind: Literal["start", "stop"]
    connector_id: int | None = None
    id_tag: str | None = None
    transaction_id: str | None = None


class _RemoteControlled:
    """Accepts remote start/stop and queues it: the reader task must not send CALLs itself."""

    remote: asyncio.Queue[RemoteRequest]

    def _queue(self, request: RemoteRequest) -> str:
        if request.kind == "start" and (request.connector_id or 0) < 1:
            return "Rejected"  # a simulated charger does not choose a connector for the driver
        self.remote.put_nowait(request)
        return "Accepted"


class RemoteClient16(_RemoteControlled, Client16):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remote = asyncio.Queue()

    @on("RemoteStartTransaction")
    def _remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any) -> Any:
        status = self._queue(RemoteRequest("start", connector_id, id_tag))
        return result16.RemoteStartTransaction(status=status)

    @on("RemoteStopTransaction")
    def _remote_stop(self, transaction_id: int, **_: Any) -> Any:
        status = self._queue(RemoteRequest("stop", transaction_id=str(transaction_id)))
        return result16.RemoteStopTransaction(status=status)


class RemoteClient201(_RemoteControlled, Client201):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remote = asyncio.Queue()

    @on("RequestStartTransaction")
    def _remote_start(
        self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None, **_: Any
    ) -> Any:
        tag = str(id_token.get("id_token", ""))
        status = self._queue(RemoteRequest("start", evse_id, tag))
        return result201.RequestStartTransaction(status=status)

    @on("RequestStopTransaction")
    def _remote_stop(self, transaction_id: str, **_: Any) -> Any:
        status = self._queue(RemoteRequest("stop", transaction_id=transaction_id))
        return result201.RequestStopTransaction(status=status)


def client_for(
    protocol: ProtocolName, charger_id: str, connection: Any, count: Callable[[], None]
) -> _Dialect:
    """The dialect object (wrapping an ``ocpp`` client) for a negotiated subprotocol."""
    if protocol == "ocpp2.0.1":
        return Dialect201(RemoteClient201(charger_id, connection, response_timeout=30), count)
    return Dialect16(RemoteClient16(charger_id, connection, response_timeout=30), count)


class SimulatedCharger:
    """One charger's connection and its sessions; reports outcomes on the :class:`SessionRun`s."""

    def __init__(
        self, charger_id: str, protocol: ProtocolName, connection: Any, model: str = "sim"
    ) -> None:
        self.charger_id = charger_id
        self.model = model[:MODEL_MAX_CHARS]
        self.messages = 0
        self.heartbeat_interval_s = 300.0
        self.dialect = client_for(protocol, charger_id, connection, self.count)
        self._last_sent: datetime | None = None

    def count(self) -> None:
        self.messages += 1

    async def boot(self) -> bool:
        accepted, interval = await self.dialect.boot(self.model)
        self.heartbeat_interval_s = float(interval) if interval > 0 else self.heartbeat_interval_s
        return accepted

    async def announce(self, connector_ids: Iterable[int], at: datetime) -> None:
        for connector_id in connector_ids:
            await self.dialect.status(connector_id, "Available", at)
        self._last_sent = at

    async def run(self, steps: list[Step], pace: Pace, stop: asyncio.Event) -> None:
        """Execute the steps in order; a failing session skips its own remaining steps."""
        for step in steps:
            run = step.session
            if run.failure is not None:
                continue
            await self._heartbeats_until(step.at, pace, stop)
            if not await pace.until(step.at, stop):
                return
            await self._step(step)
            self._last_sent = step.at

    async def idle_until(self, at: datetime, pace: Pace, stop: asyncio.Event) -> None:
        """Stay connected and heartbeat (when paced) until simulated time ``at`` or ``stop``."""
        await self._heartbeats_until(at, pace, stop)
        await pace.until(at, stop)

    async def _heartbeats_until(self, at: datetime, pace: Pace, stop: asyncio.Event) -> None:
        if not pace.paced or self._last_sent is None:
            return
        interval = timedelta(seconds=self.heartbeat_interval_s)
        while pace.idle_gap_s(self._last_sent, at) > self.heartbeat_interval_s:
            beat_at = self._last_sent + interval
            if not await pace.until(beat_at, stop):
                return
            await self.dialect.heartbeat()
            self._last_sent = beat_at

    @property
    def remote_requests(self) -> asyncio.Queue[RemoteRequest]:
        """Remote start/stop requests the central system sent and the charger accepted."""
        queue: asyncio.Queue[RemoteRequest] = self.dialect.client.remote
        return queue

    async def start_remote_session(
        self, request: RemoteRequest, at: datetime, plan_energy_wh: int, max_power_w: float
    ) -> SessionRun:
        """Plug in and start the transaction a remote start asked for (at simulated ``at``)."""
        assert request.kind == "start" and request.connector_id and request.id_tag
        # room for the taper: twice the time at full power, plus a minute
        duration_s = 2 * plan_energy_wh / max_power_w * 3600 + 60 if max_power_w > 0 else 60.0
        plan = PlannedSession(
            ref=f"remote:{self.charger_id}:{request.connector_id}",
            charger_id=self.charger_id,
            connector_id=request.connector_id,
            id_tag=request.id_tag[:20],
            plug_in=at,
            plug_out=at + timedelta(seconds=duration_s),
            energy_wh=plan_energy_wh,
            max_power_w=max_power_w,
        )
        run = SessionRun(plan, build_curve(plan))
        await self.dialect.plug_in(run)
        return run

    async def stop_remote_session(self, run: SessionRun) -> None:
        """End a remotely started session (final reading, stop, Available)."""
        await self.dialect.plug_out(run)
        run.done = True

    async def _step(self, step: Step) -> None:
        run = step.session
        try:
            if step.kind is StepKind.plug_in:
                await self.dialect.plug_in(run)
            elif step.kind is StepKind.plug_out:
                await self.dialect.plug_out(run)
                run.done = True
            else:
                await self.dialect.sample(run, step.t_s, full=step.kind is StepKind.full)
        except (ox.OCPPError, SessionRefused, TimeoutError) as exc:
            run.failure = f"{type(exc).__name__}: {exc}"


async def guarded(reader: asyncio.Task[Any], work: Awaitable[None]) -> None:
    """Run ``work``; if the connection's reader task ends first, raise :class:`ConnectionLost`."""
    me = asyncio.current_task()
    lost = False

    def on_reader_done(_: asyncio.Task[Any]) -> None:
        nonlocal lost
        lost = True
        if me is not None:
            me.cancel()

    reader.add_done_callback(on_reader_done)
    try:
        await work
    except asyncio.CancelledError:
        if lost and me is not None and me.uncancel() == 0:
            raise ConnectionLost from None
        raise
    finally:
        reader.remove_done_callback(on_reader_done)
