"""OCPP MeterValues accepted per second by the central system, simulators on the same machine.

The CSMS runs as ``chargegrid serve csms`` would (its own process, SQLite event log); the load
generator is the simulator fleet at speed None (next message as soon as the previous one is
answered) in this process. Figures: many connections (the target) and a single connection (the
per-round-trip baseline). Counts come from the event log, so only readings that landed count.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import emit  # noqa: E402
from chargegrid.eventbatch import expand  # noqa: E402
from chargegrid.eventlog import EventLog  # noqa: E402
from chargegrid.events import Topic  # noqa: E402
from chargegrid.inventory import Charger, Connector, Inventory, Station, save_inventory  # noqa: E402
from chargegrid.plans import PlannedSession  # noqa: E402
from chargers.fleet import run_fleet  # noqa: E402

TARGET_PER_S = 5_000.0
METER_INTERVAL_S = 60.0
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def estate(chargers: int) -> Inventory:
    return Inventory(
        stations=(Station(station_id="B", name="bench", lat=0.0, lon=0.0),),
        chargers=tuple(
            Charger(
                charger_id=f"B{i:05d}",
                station_id="B",
                connectors=(Connector(connector_id=1, max_power_w=22_000.0),),
            )
            for i in range(chargers)
        ),
    )


def plans(chargers: int, readings_each: int) -> list[PlannedSession]:
    minutes = readings_each * METER_INTERVAL_S / 60
    return [
        PlannedSession(
            ref=f"bench:{i}",
            charger_id=f"B{i:05d}",
            connector_id=1,
            id_tag="BENCH",
            plug_in=T0,
            plug_out=T0 + timedelta(minutes=minutes),
            energy_wh=int(minutes / 60 * 3_000),
            max_power_w=7_000.0,
        )
        for i in range(chargers)
    ]


def start_csms_process(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "CHARGEGRID_DATA_DIR": str(data_dir), "CHARGEGRID_CSMS_PORT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from chargegrid.cli import main; main()", "serve", "csms"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(ws://[\d.]+:\d+)", line)
    if match is None:
        proc.kill()
        raise RuntimeError(f"csms did not start: {line!r}")
    return proc, match.group(1)


def meter_values_logged(path: Path) -> int:
    with EventLog(path) as log:
        count = 0
        for p in range(log.partitions):
            for rec in log.read(Topic.meter_readings, p, 0, 10_000_000):
                count += sum(b'"meter_value"' in x for x in expand(rec.payload))
        return count


def measure(chargers: int, readings_each: int) -> tuple[float, int, float]:
    """(MeterValues per second, MeterValues logged, wall seconds) for one fleet run."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        inventory = estate(chargers)
        save_inventory(inventory, data_dir / "inventory.json")
        proc, url = start_csms_process(data_dir)
        try:
            began = time.perf_counter()
            report = asyncio.run(
                run_fleet(
                    url,
                    inventory,
                    plans(chargers, readings_each),
                    speed=None,
                    meter_interval_s=METER_INTERVAL_S,
                )
            )
            wall_s = time.perf_counter() - began
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        if report.failed:
            raise RuntimeError(f"sessions failed: {report.failed[:3]}")
        logged = meter_values_logged(data_dir / "eventlog.sqlite")
    return logged / wall_s, logged, wall_s


def main() -> None:
    single_per_s, single_n, single_s = measure(chargers=1, readings_each=3_000)
    emit(
        "ocpp.csms",
        "meter_values_per_s_single_connection",
        round(single_per_s),
        "1/s",
        readings=single_n,
        wall_s=round(single_s, 2),
    )
    many = 200
    many_per_s, many_n, many_s = measure(chargers=many, readings_each=200)
    emit(
        "ocpp.csms",
        "meter_values_per_s_many_connections",
        round(many_per_s),
        "1/s",
        target=f">= {TARGET_PER_S:.0f}",
        meets=many_per_s >= TARGET_PER_S,
        connections=many,
        readings=many_n,
        wall_s=round(many_s, 2),
        ratio_to_single=round(many_per_s / single_per_s, 2),
    )


if __name__ == "__main__":
    main()
