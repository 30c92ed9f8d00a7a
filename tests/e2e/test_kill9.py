"""SIGKILL the pipeline at three points of a live replay; the warehouse (readings, per-session
energy, bills) equals a clean run's.

The workload (a few hundred connectors, ~100k readings, some bad records) is published into the
event log in thirds while ``chargegrid pipeline run`` follows it as a child process. Each kill is
triggered by what the lake shows (the first readings file; about half, then most, of the readings
rows), never by a fixed sleep alone. After the last restart the drain flag lets the run stop at
the end of the log. A clean run of the same log with ``--until-drained`` is the reference.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel

from chargegrid.eventlog import EventLog, columnar_records
from chargegrid.events import MeterValue, Topic, TransactionEnded, TransactionStarted
from chargegrid.settings import Settings, load_settings
from tests.e2e.conftest import ROOT
from warehouse import lake

pytestmark = pytest.mark.slow

T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
CHARGERS = 150  # x 2 connectors = 300 sessions
STEPS = 330  # readings per session
PARTITIONS = 2
WAIT_S = 120.0


def _env(data_dir: Path, epoch_s: float = 0.2) -> dict[str, str]:
    return {
        **os.environ,
        "CHARGEGRID_DATA_DIR": str(data_dir),
        "CHARGEGRID_LOG_PARTITIONS": str(PARTITIONS),
        "CHARGEGRID_EPOCH_INTERVAL_S": str(epoch_s),
    }


def _settings(data_dir: Path) -> Settings:
    return load_settings(data_dir=data_dir, log_partitions=PARTITIONS, epoch_interval_s=0.2)


def _workload() -> list[tuple[str, bytes | BaseModel]]:
    """Records in event-time order: every session interleaved with the others, some bad. Events
    are published as the central system's producer writes them (columnar batch records), the bad
    records as raw bytes."""
    records: list[tuple[str, bytes | BaseModel]] = []

    def add(event: Any) -> None:
        records.append((event.charger_id, event))

    sessions = [(f"K{c:03d}", k) for c in range(CHARGERS) for k in (1, 2)]
    for charger, conn in sessions:
        add(
            TransactionStarted(
                charger_id=charger,
                ts=T0,
                connector_id=conn,
                transaction_id=f"T{conn}",
                meter_start_wh=1000.0 * conn,
            )
        )
    for step in range(1, STEPS + 1):
        for n, (charger, conn) in enumerate(sessions):
            register = 1000.0 * conn + step * (10.0 + n % 7)
            if (n + step) % 97 == 0:
                register -= 13.0 + n % 7  # a small step back: a glitch, dead-lettered
            add(
                MeterValue(
                    charger_id=charger,
                    ts=T0 + timedelta(seconds=60 * step),
                    connector_id=conn,
                    transaction_id=f"T{conn}",
                    energy_register_wh=register,
                    power_w=600.0 + n,
                )
            )
        if step % 50 == 0:
            records.append((f"K{step % CHARGERS:03d}", b"not json at step %d" % step))
    for n, (charger, conn) in enumerate(sessions):
        add(
            TransactionEnded(
                charger_id=charger,
                ts=T0 + timedelta(seconds=60 * (STEPS + 1)),
                connector_id=conn,
                transaction_id=f"T{conn}",
                meter_stop_wh=1000.0 * conn + STEPS * (10.0 + n % 7),
            )
        )
    return records


def _publish(settings: Settings, records: list[tuple[str, bytes | BaseModel]], chunk: int) -> None:
    with EventLog(settings.eventlog_path, settings.log_partitions) as log:
        for i in range(0, len(records), chunk):
            packed = columnar_records(records[i : i + chunk], log.partitions)
            log.append(Topic.meter_readings, packed, now_ms=_now_ms())


def _now_ms() -> int:
    return int(time.time() * 1000)


def _lake_readings(settings: Settings) -> int:
    """Rows in the readings files now in the lake (files may vanish under us: resume)."""
    rows = 0
    for _seq, path in lake.pipeline_files(settings.lake_dir, "readings"):
        try:
            rows += pq.ParquetFile(path).metadata.num_rows
        except (FileNotFoundError, OSError):
            continue
    return rows


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert proc.poll() is None, f"pipeline exited (rc {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _start(data_dir: Path, log: Path, epoch_s: float = 0.2) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "chargegrid.cli", "pipeline", "run"],
        cwd=ROOT,
        env=_env(data_dir, epoch_s),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _kill9(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=WAIT_S)


def _facts(settings: Settings) -> dict[str, Any]:
    con = duckdb.connect(str(settings.catalog_path), read_only=True)
    try:

        def rows(query: str) -> list[tuple[Any, ...]]:
            return con.execute(query).fetchall()

        return {
            "readings": rows(
                "SELECT count(*), count(DISTINCT (log_partition, log_offset, log_index)), "
                "sum(energy_register_wh) FROM readings"
            )[0],
            "sessions": rows(
                "SELECT session_id, energy_wh, readings, energy_quality, max_power_w "
                "FROM sessions ORDER BY session_id"
            ),
            "dead_letter": rows(
                "SELECT reason, count(*), count(DISTINCT (log_partition, log_offset, log_index)) "
                "FROM dead_letter GROUP BY reason ORDER BY reason"
            ),
            "bills": rows(
                "SELECT session_id, tariff_id, status, energy_wh, total_minor FROM bills "
                "ORDER BY session_id"
            ),
            "bill_lines": rows("SELECT count(*), sum(amount_minor) FROM bill_lines")[0],
        }
    finally:
        con.close()


def _cleanup(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        _kill9(proc)


def test_sigkill_at_three_points_changes_nothing(tmp_path: Path) -> None:
    records = _workload()
    thirds = [records[i * len(records) // 3 : (i + 1) * len(records) // 3] for i in range(3)]
    readings_total = CHARGERS * 2 * STEPS

    reference = _settings(tmp_path / "ref")
    _publish(reference, records, chunk=20_000)
    clean = subprocess.run(
        [sys.executable, "-m", "chargegrid.cli", "pipeline", "run", "--until-drained"],
        cwd=ROOT,
        env=_env(reference.data_dir),
        capture_output=True,
        timeout=WAIT_S,
        check=False,
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    expected = _facts(reference)

    crashed = _settings(tmp_path / "run")
    log = tmp_path / "run.log"
    # The last run's epochs are longer than the test: the sink's age flush (5 s) writes files
    # mid-epoch, so that kill lands with files past the committed state, which resume discards.
    triggers: list[tuple[str, float, Callable[[], bool]]] = [
        ("the first readings file", 0.2, lambda: _lake_readings(crashed) > 0),
        ("half the readings", 0.2, lambda: _lake_readings(crashed) >= readings_total // 2),
        ("most readings", 600.0, lambda: _lake_readings(crashed) >= readings_total * 3 // 4),
    ]
    proc: subprocess.Popen[bytes] | None = None
    try:
        for third, (what, epoch_s, trigger) in zip(thirds, triggers, strict=True):
            proc = _start(crashed.data_dir, log, epoch_s)
            _publish(crashed, third, chunk=2_000)
            _wait_for(trigger, proc, what)
            _kill9(proc)
            assert proc.returncode == -signal.SIGKILL
        crashed.drain_flag.parent.mkdir(parents=True, exist_ok=True)
        crashed.drain_flag.touch()
        proc = _start(crashed.data_dir, log)
        assert proc.wait(timeout=WAIT_S) == 0, log.read_text(errors="replace")
    finally:
        _cleanup(proc)

    got = _facts(crashed)
    count, distinct, _ = got["readings"]
    assert count == distinct  # no reading twice
    assert count == expected["readings"][0] > 0
    assert got == expected
    assert len(got["sessions"]) == CHARGERS * 2
    assert len(got["bills"]) == CHARGERS * 2  # revenue: every session billed once
    assert all(status == "billed" and total > 0 for _, _, status, _, total in got["bills"])
    reasons = {reason: n for reason, n, _ in got["dead_letter"]}
    assert reasons.keys() == {"register_backwards", "undecodable"}
    assert reasons["undecodable"] == STEPS // 50
    assert all(n == distinct for _, n, distinct in got["dead_letter"])
