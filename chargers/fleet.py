"""Run many simulated chargers against a central system: one WebSocket connection per charger.

Plans are checked before anything connects: two plans overlapping on one connector raise
:class:`OverlappingPlans`, a plan the connector cannot deliver raises
:class:`~chargers.curve.InfeasiblePlan` (the replay layer filters both first). With a ``speed`` all
chargers follow one shared :class:`~chargegrid.clock.ScaledClock`; with ``None`` each charger sends
its next message as soon as the previous one is answered. A charger the central system refuses,
a refused session or a dropped connection is reported in the :class:`FleetReport`, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ocpp.exceptions import OCPPError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from chargegrid.clock import ScaledClock
from chargegrid.errors import ChargegridError
from chargegrid.inventory import Inventory
from chargegrid.plans import PlannedSession
from chargers.curve import charge_curve
from chargers.simulator import (
    ConnectionLost,
    FastPace,
    Pace,
    ProtocolName,
    ScaledPace,
    SessionRefused,
    SessionRun,
    SimulatedCharger,
    Step,
    guarded,
    session_steps,
)

MAX_CONCURRENT_HANDSHAKES = 100
REMOTE_ENERGY_WH = 40_000  # a remotely started vehicle's need; the remote stop usually comes first
STOPPED = "stopped before the session ended"


class OverlappingPlans(ChargegridError):
    """Two plans occupy the same connector at the same time (a caller bug)."""


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    ref: str
    charger_id: str
    connector_id: int
    completed: bool
    reason: str | None = None
    transaction_id: str | None = None


@dataclass
class FleetReport:
    """What a fleet run did: per-session outcomes, messages sent, wall time."""

    sessions: list[SessionOutcome] = field(default_factory=list)
    messages_sent: int = 0
    wall_s: float = 0.0
    chargers_rejected: list[str] = field(default_factory=list)
    remote_failures: list[str] = field(default_factory=list)  # remote starts/stops that failed

    @property
    def completed(self) -> int:
        return sum(s.completed for s in self.sessions)

    @property
    def failed(self) -> list[SessionOutcome]:
        return [s for s in self.sessions if not s.completed]

    def summary(self) -> str:
        return (
            f"{self.completed} sessions completed, {len(self.failed)} failed, "
            f"{self.messages_sent} messages in {self.wall_s:.1f} s"
        )


def check_overlaps(plans: Iterable[PlannedSession]) -> None:
    """Raise :class:`OverlappingPlans` if two plans share a connector in time (touching is ok)."""
    by_connector: dict[tuple[str, int], list[PlannedSession]] = defaultdict(list)
    for plan in plans:
        by_connector[(plan.charger_id, plan.connector_id)].append(plan)
    for (charger_id, connector_id), group in by_connector.items():
        group.sort(key=lambda p: (p.plug_in, p.plug_out))
        for before, after in itertools.pairwise(group):
            if after.plug_in < before.plug_out:
                msg = (
                    f"{charger_id} connector {connector_id}: plan {after.ref} plugs in at "
                    f"{after.plug_in.isoformat()} before {before.ref} plugs out at "
                    f"{before.plug_out.isoformat()}"
                )
                raise OverlappingPlans(msg)


def build_runs(
    inventory: Inventory, plans: Sequence[PlannedSession]
) -> dict[str, list[SessionRun]]:
    """Session runs per charger; each connector's register continues from session to session."""
    check_overlaps(plans)
    registers: dict[tuple[str, int], int] = defaultdict(int)
    runs: dict[str, list[SessionRun]] = defaultdict(list)
    for plan in sorted(plans, key=lambda p: (p.plug_in, p.ref)):
        charger = inventory.charger(plan.charger_id)
        connector = None if charger is None else charger.connector(plan.connector_id)
        cap_w = None if connector is None else connector.max_power_w
        key = (plan.charger_id, plan.connector_id)
        curve = charge_curve(plan, cap_w=cap_w, meter_start_wh=registers[key])
        registers[key] = curve.meter_stop_wh
        current = "AC" if connector is None else connector.current
        runs[plan.charger_id].append(SessionRun(plan=plan, curve=curve, current=current))
    return runs


def charger_steps(runs: list[SessionRun], meter_interval_s: float) -> list[Step]:
    order = itertools.count()
    steps = [s for run in runs for s in session_steps(run, meter_interval_s, order)]
    return sorted(steps, key=Step.key)


@dataclass
class _Fleet:
    csms_url: str
    inventory: Inventory
    runs: dict[str, list[SessionRun]]
    meter_interval_s: float
    protocol_of: Callable[[str], ProtocolName]
    stop: asyncio.Event
    report: FleetReport
    handshakes: asyncio.Semaphore
    booted: asyncio.Barrier
    origin: datetime
    horizon: datetime  # chargers stay connected until the last planned plug-out
    pace: Pace | None = None
    make_pace: Callable[[], Pace] = FastPace

    def _pace(self) -> Pace:
        if self.pace is None:
            self.pace = self.make_pace()
        return self.pace

    async def charger(self, charger_id: str) -> None:
        runs = self.runs[charger_id]
        charger = self.inventory.charger(charger_id)
        protocol = self.protocol_of(charger_id)
        steps = charger_steps(runs, self.meter_interval_s)
        sim: SimulatedCharger | None = None
        passed = False

        async def arrive() -> None:
            """Chargers wait for each other once booted: the shared clock starts for all."""
            nonlocal passed
            if not passed:
                passed = True
                with contextlib.suppress(asyncio.BrokenBarrierError):
                    await self.booted.wait()

        try:
            async with self.handshakes:
                ws = await connect(
                    f"{self.csms_url}/{charger_id}",
                    subprotocols=[Subprotocol(protocol)],
                    compression=None,
                    open_timeout=30,
                )
            async with ws:
                model = "sim" if charger is None else charger.model or "sim"
                sim = SimulatedCharger(charger_id, protocol, ws, model)
                reader = asyncio.create_task(sim.dialect.client.start())
                try:
                    await guarded(reader, self._drive(sim, runs, steps, arrive))
                finally:
                    reader.cancel()
        except (OSError, InvalidHandshake, ConnectionClosed, ConnectionLost, TimeoutError) as exc:
            _fail(runs, f"connection: {type(exc).__name__}: {exc}")
        except OCPPError as exc:
            _fail(runs, f"central system answered {type(exc).__name__}: {exc.description}")
        finally:
            if sim is not None:
                self.report.messages_sent += sim.messages
            await arrive()

    async def _drive(
        self,
        sim: SimulatedCharger,
        runs: list[SessionRun],
        steps: list[Step],
        arrive: Callable[[], Awaitable[None]],
    ) -> None:
        accepted = await sim.boot()
        if not accepted:
            self.report.chargers_rejected.append(sim.charger_id)
            _fail(runs, "boot rejected by the central system")
            return
        first = min((r.plan.plug_in for r in runs), default=self.origin)
        await sim.announce(self._connector_ids(sim.charger_id, runs), first)
        await arrive()
        obey = asyncio.create_task(self._obey(sim))
        try:
            await sim.run(steps, self._pace(), self.stop)
            _fail([r for r in runs if not r.done], STOPPED)
            await sim.idle_until(self.horizon, self._pace(), self.stop)
        finally:
            while not obey.done():  # Python 3.11's wait_for can swallow a cancellation: insist
                obey.cancel()
                await asyncio.wait({obey}, timeout=0.1)

    def _now(self) -> datetime:
        pace = self._pace()
        return pace.clock.now() if isinstance(pace, ScaledPace) else datetime.now(UTC)

    async def _obey(self, sim: SimulatedCharger) -> None:
        """Remote starts and stops from the central system (a Beckn order, an operator): plug a
        vehicle in on that connector, report readings at the meter interval, plug out on stop.
        The central system only starts connectors it believes free; a refusal or a lost reply
        ends that session, never the charger. A session's meter is ended by an event, never
        cancelled mid-CALL (its reply would be left for the next CALL to trip over)."""
        charger = self.inventory.charger(sim.charger_id)
        power = {c.connector_id: c.max_power_w for c in charger.connectors} if charger else {}
        running: dict[str, tuple[SessionRun, asyncio.Event, asyncio.Task[None]]] = {}
        try:
            while True:
                request = await sim.remote_requests.get()
                try:
                    if request.kind == "start":
                        max_w = power.get(request.connector_id or 0, 7_400.0)
                        run = await sim.start_remote_session(
                            request, self._now(), REMOTE_ENERGY_WH, max_w
                        )
                        ended = asyncio.Event()
                        meter = asyncio.create_task(self._meter_remote(sim, run, ended))
                        running[run.transaction_id or ""] = (run, ended, meter)
                    elif request.transaction_id in running:
                        run, ended, meter = running.pop(request.transaction_id or "")
                        ended.set()
                        await asyncio.wait({meter})  # never cancels it (see above)
                        await sim.stop_remote_session(run)
                except (OCPPError, SessionRefused, TimeoutError) as exc:
                    self.report.remote_failures.append(f"{sim.charger_id}: {exc!r}")
        finally:
            for _, ended, _ in running.values():
                ended.set()

    async def _meter_remote(
        self, sim: SimulatedCharger, run: SessionRun, ended: asyncio.Event
    ) -> None:
        pace = self._pace()
        t_s = 0.0
        with contextlib.suppress(OCPPError, TimeoutError):
            while not (ended.is_set() or self.stop.is_set()):
                t_s += self.meter_interval_s
                if pace.paced and not await pace.until(run.at(t_s), ended):
                    return
                await sim.dialect.sample(run, t_s, full=False)
                if not pace.paced:  # as fast as possible: one reading, then wait for the stop
                    return

    def _connector_ids(self, charger_id: str, runs: list[SessionRun]) -> list[int]:
        """Every connector the estate lists for the charger, and any a plan names."""
        charger = self.inventory.charger(charger_id)
        listed = {c.connector_id for c in charger.connectors} if charger else set()
        return sorted(listed | {r.connector_id for r in runs})


def _fail(runs: Iterable[SessionRun], reason: str) -> None:
    for run in runs:
        if run.failure is None and not run.done:
            run.failure = reason


async def run_fleet(
    csms_url: str,
    inventory: Inventory,
    plans: Sequence[PlannedSession],
    *,
    speed: float | None,
    meter_interval_s: float,
    protocol_of: Callable[[str], ProtocolName] = lambda charger_id: "ocpp1.6",
    clock_origin: datetime | None = None,
    stop: asyncio.Event | None = None,
) -> FleetReport:
    """Execute ``plans`` over real OCPP against ``csms_url`` (``ws://host:port``).

    ``speed``: simulated seconds per wall second (all chargers share one clock starting at
    ``clock_origin``, default the earliest plug-in) or None for as fast as possible.
    ``stop``: set it to end early; unfinished sessions are reported as failed.
    """
    if speed is not None and speed <= 0:
        msg = f"speed must be positive or None, not {speed}"
        raise ValueError(msg)
    if meter_interval_s <= 0:
        msg = f"meter_interval_s must be positive, not {meter_interval_s}"
        raise ValueError(msg)
    runs = build_runs(inventory, plans)
    report = FleetReport()
    started = time.monotonic()
    if runs:
        for charger in inventory.chargers:  # idle chargers boot and report Available too
            runs.setdefault(charger.charger_id, [])
        origin = clock_origin or min(p.plug_in for p in plans)
        fleet = _Fleet(
            csms_url=csms_url.rstrip("/"),
            inventory=inventory,
            runs=runs,
            meter_interval_s=meter_interval_s,
            protocol_of=protocol_of,
            stop=stop or asyncio.Event(),
            report=report,
            handshakes=asyncio.Semaphore(MAX_CONCURRENT_HANDSHAKES),
            booted=asyncio.Barrier(len(runs)),
            origin=origin,
            horizon=max(p.plug_out for p in plans),
            make_pace=FastPace if speed is None else lambda: ScaledPace(ScaledClock(origin, speed)),
        )
        await asyncio.gather(*(fleet.charger(cid) for cid in runs))
    report.wall_s = time.monotonic() - started
    report.sessions = [_outcome(run) for charger_runs in runs.values() for run in charger_runs]
    return report


def _outcome(run: SessionRun) -> SessionOutcome:
    return SessionOutcome(
        ref=run.plan.ref,
        charger_id=run.plan.charger_id,
        connector_id=run.plan.connector_id,
        completed=run.done and run.failure is None,
        reason=run.failure,
        transaction_id=run.transaction_id,
    )
