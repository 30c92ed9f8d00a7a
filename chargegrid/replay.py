"""``chargegrid replay``: recorded sessions → real OCPP simulators → central system → log.

Each replayable row becomes a :class:`PlannedSession` whose register moves by exactly the recorded
energy (in Wh). Rows that cannot be replayed are published to the ``dead_letter`` topic with a
reason code, so every input row ends up in exactly one of ``sessions`` and ``dead_letter``:

* the reader's own rejections (no end, sentinel date, end before start, ...; see the source module);
* ``energy_exceeds_outlet``: the energy cannot flow through the outlet's rated power in the time;
* ``overlapping_session``: starts before the previous session on the same connector ended.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chargegrid.clock import Clock, SystemClock
from chargegrid.eventlog import EventLog
from chargegrid.events import DeadLetter, Reason, Topic, encode
from chargegrid.inventory import Charger, Connector, Inventory, Station, load_inventory
from chargegrid.inventory import save_inventory as write_inventory
from chargegrid.plans import PlannedSession
from chargegrid.settings import Settings
from chargegrid.sources import dundee
from chargegrid.sources.dundee import Rejected, SessionRow

LOG = logging.getLogger(__name__)
MIN_BATTERY_WH = 60_000.0
SOC_CEILING_PCT = 80.0  # plans stay below the taper, so the outlet's power is the only limit


@dataclass(frozen=True)
class ReplayOptions:
    source: str
    paths: tuple[Path, ...]
    limit: int | None = None
    speed: float | None = None  # None: as fast as possible
    embedded: bool = False
    csms_url: str | None = None
    meter_interval_s: float = 300.0


@dataclass
class ReplayReport:
    rows: int = 0
    planned: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    completed: int = 0
    failed: int = 0
    wall_s: float = 0.0

    def summary(self) -> str:
        lines = [
            f"rows read: {self.rows}",
            f"replayed:  {self.planned} planned, {self.completed} completed, {self.failed} failed",
            f"rejected:  {sum(self.rejected.values())}",
        ]
        lines += [f"  {reason}: {n}" for reason, n in sorted(self.rejected.items())]
        lines.append(f"wall time: {self.wall_s:.1f} s")
        return "\n".join(lines) + "\n"


def plan_for(row: SessionRow) -> PlannedSession:
    """The simulated session that reproduces ``row`` (the battery is sized to stay below 80 %)."""
    battery_wh = max(MIN_BATTERY_WH, row.energy_wh * 100.0 / SOC_CEILING_PCT)
    soc_start = max(0.0, SOC_CEILING_PCT - row.energy_wh * 100.0 / battery_wh - 10.0)
    return PlannedSession(
        ref=row.ref,
        charger_id=row.cp_id,
        connector_id=row.connector_id,
        id_tag=row.ref[:20],
        plug_in=row.start,
        plug_out=row.end,
        energy_wh=row.energy_wh,
        max_power_w=row.outlet.power_w,
        battery_wh=battery_wh,
        soc_start_pct=soc_start,
    )


def _rejection(row: SessionRow, reason: Reason, detail: str) -> Rejected:
    return Rejected(row.ref, reason, detail, row.raw, row.cp_id)


def plan_rows(rows: Iterable[SessionRow | Rejected]) -> tuple[list[PlannedSession], list[Rejected]]:
    """Plans for the replayable rows; rejections for the rest (nothing dropped)."""
    from chargers.curve import feasible

    rejected: list[Rejected] = []
    by_connector: dict[tuple[str, int], list[PlannedSession]] = defaultdict(list)
    source_rows: dict[str, SessionRow] = {}
    for row in rows:
        if isinstance(row, Rejected):
            rejected.append(row)
            continue
        plan = plan_for(row)
        if not feasible(plan):
            detail = (
                f"{row.energy_wh} Wh in {plan.duration_s / 60:.0f} min exceeds "
                f"{row.outlet.power_w / 1000:g} kW outlet ({row.model})"
            )
            rejected.append(_rejection(row, Reason.energy_exceeds_outlet, detail))
            continue
        by_connector[(plan.charger_id, plan.connector_id)].append(plan)
        source_rows[plan.ref] = row
    plans: list[PlannedSession] = []
    for connector_plans in by_connector.values():
        connector_plans.sort(key=lambda p: (p.plug_in, p.plug_out))
        busy_until = None
        for plan in connector_plans:
            if busy_until is not None and plan.plug_in < busy_until.plug_out:
                detail = f"starts {plan.plug_in.isoformat()} while {busy_until.ref} is plugged in"
                rejected.append(
                    Rejected(
                        plan.ref, Reason.overlapping_session, detail, plan.ref, plan.charger_id
                    )
                )
                continue
            plans.append(plan)
            busy_until = plan
    return plans, rejected


def inventory_for(rows: list[SessionRow], locations: dict[str, dundee.CpLocation]) -> Inventory:
    """Chargers and connectors seen in the rows, placed at their charge point's location."""
    connectors: dict[str, dict[int, Connector]] = defaultdict(dict)
    models: dict[str, str] = {}
    sites: dict[str, str] = {}
    for row in rows:
        outlet = row.outlet
        connectors[row.cp_id][row.connector_id] = Connector(
            connector_id=row.connector_id,
            standard=outlet.standard,
            current="DC" if outlet.current == "DC" else "AC",
            max_power_w=outlet.power_w,
        )
        models[row.cp_id] = row.model
        sites[row.cp_id] = row.site
    stations: dict[str, Station] = {}
    chargers: list[Charger] = []
    for cp_id, by_id in sorted(connectors.items()):
        station_id = f"dundee-{cp_id}"
        loc = locations.get(cp_id)
        stations[station_id] = Station(
            station_id=station_id,
            name=sites[cp_id] or (loc.name if loc else cp_id),
            lat=loc.lat if loc else 0.0,
            lon=loc.lon if loc else 0.0,
            operator="Dundee City Council",
        )
        chargers.append(
            Charger(
                charger_id=cp_id,
                station_id=station_id,
                model=models[cp_id],
                connectors=tuple(by_id[k] for k in sorted(by_id)),
            )
        )
    return Inventory(stations=tuple(stations.values()), chargers=tuple(chargers))


def dead_letters(rejected: list[Rejected], source: str, clock: Clock) -> list[tuple[str, bytes]]:
    now = clock.now()
    return [
        (
            r.cp_id or "",
            encode(
                DeadLetter(
                    source=f"replay:{source}",
                    reason=r.reason,
                    detail=r.detail,
                    raw=r.raw,
                    ts=now,
                    charger_id=r.cp_id,
                )
            ),
        )
        for r in rejected
    ]


def run_replay(
    settings: Settings, options: ReplayOptions, clock: Clock | None = None
) -> ReplayReport:
    """Plan, publish rejections, drive the simulators; with ``embedded`` also run CSMS+pipeline."""
    from chargegrid.orchestrate import drain_pipeline, raise_fd_limit, start_pipeline

    raise_fd_limit()
    clock = clock or SystemClock()
    started = time.monotonic()
    rows = list(dundee.read_sessions(list(options.paths), options.limit))
    good = [r for r in rows if isinstance(r, SessionRow)]
    plans, rejected = plan_rows(rows)
    report = ReplayReport(rows=len(rows), planned=len(plans))
    report.rejected.update(r.reason.value for r in rejected)

    inventory = inventory_for(good, dundee.locations_beside(list(options.paths)))
    write_inventory(
        load_inventory(settings.inventory_path).merged(inventory), settings.inventory_path
    )
    with EventLog(settings.eventlog_path, settings.log_partitions) as log:
        log.append(Topic.dead_letter, dead_letters(rejected, options.source, clock), now_ms=_ms())
        pipeline = start_pipeline(settings) if options.embedded else None
        try:
            completed, failed = asyncio.run(_drive(settings, options, log, inventory, plans, clock))
            report.completed, report.failed = completed, failed
            if pipeline is not None:
                drain_pipeline(settings, pipeline)
        finally:
            if pipeline is not None:
                pipeline.stop()
    report.wall_s = time.monotonic() - started
    return report


async def _drive(
    settings: Settings,
    options: ReplayOptions,
    log: EventLog,
    inventory: Inventory,
    plans: list[PlannedSession],
    clock: Clock,
) -> tuple[int, int]:
    from chargers.fleet import run_fleet
    from chargers.server import start_csms

    csms = None
    url = options.csms_url
    if options.embedded or url is None:
        csms = await start_csms(settings.model_copy(update={"csms_port": 0}), log, inventory, clock)
        url = csms.url
    try:
        result = await run_fleet(
            url, inventory, plans, speed=options.speed, meter_interval_s=options.meter_interval_s
        )
    finally:
        if csms is not None:
            await csms.close()
    for outcome in result.failed:
        LOG.warning("session %s not replayed: %s", outcome.ref, outcome.reason)
    return result.completed, len(result.failed)


def _ms() -> int:
    return time.time_ns() // 1_000_000
