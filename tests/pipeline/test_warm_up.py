"""Kernel warm-up: the runner returns only once it is done, and it loads every kernel signature
a drain then calls (a signature it misses is loaded from Numba's cache mid-drain)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chargegrid.settings import Settings
from tests.pipeline.conftest import drain

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: in the test process, earlier tests have loaded signatures already.
SCRIPT = """
import json, sys
from pathlib import Path
from numba.core.registry import CPUDispatcher
from chargegrid.eventlog import EventLog, columnar_records
from chargegrid.events import Topic
from chargegrid.settings import load_settings
from pipeline.kernels import billing, energy, groups, session_energy
from pipeline.runner import build_flow, execute
from tests.pipeline.conftest import session_events

root = Path(sys.argv[1])
empty = load_settings(data_dir=root / "empty", log_partitions=2)
EventLog(empty.eventlog_path, empty.log_partitions).close()
execute(empty, build_flow(empty, until_drained=True))  # start-up, warm-up included

def signatures():
    return {
        f"{module.__name__}.{name}": sorted(map(str, kernel.signatures))
        for module in (billing, energy, groups, session_energy)
        for name, kernel in vars(module).items()
        if isinstance(kernel, CPUDispatcher)
    }

before = signatures()
settings = load_settings(data_dir=root / "run", log_partitions=2)
events = [
    e
    for i in range(4)
    for e in session_events(f"CH{i}", "T1", [1000.0 + 10 * k for k in range(1, 60)])
]
with EventLog(settings.eventlog_path, settings.log_partitions) as log:
    records = columnar_records([(e.charger_id, e) for e in events], log.partitions)
    log.append(Topic.meter_readings, records, now_ms=0)
execute(settings, build_flow(settings, until_drained=True))
after = signatures()
print(json.dumps({k: [s for s in v if s not in before.get(k, [])] for k, v in after.items()}))
"""


def test_the_runner_returns_once_the_kernels_are_warm(settings: Settings) -> None:
    drain(settings)  # an empty log: start-up and shutdown only
    warming = [t for t in threading.enumerate() if t.name == "warm-kernels" and t.is_alive()]
    assert warming == []


@pytest.mark.slow
def test_warm_up_loads_every_kernel_signature_a_drain_calls(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded_mid_drain = {
        k: v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items() if v
    }
    assert loaded_mid_drain == {}
