"""The live snapshot: the pipeline rewrites it atomically about once a second; dashboards read it.

Small by design (one entry per connector plus a bounded power history), so a dashboard can poll it
every second without touching the warehouse.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict

SNAPSHOT_FILE = "connectors.json"


class ConnectorLive(BaseModel):
    model_config = ConfigDict(extra="forbid")

    charger_id: str
    connector_id: int
    status: str = "Unknown"
    status_at: AwareDatetime | None = None
    power_w: float = 0.0
    soc_pct: float | None = None
    transaction_id: str | None = None
    session_started_at: AwareDatetime | None = None
    session_energy_wh: float = 0.0
    last_reading_at: AwareDatetime | None = None


class PowerPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ts: AwareDatetime
    power_w: float


class LiveSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generated_at: AwareDatetime  # wall-clock time of writing
    event_time: AwareDatetime | None = None  # newest event time seen (simulated time in demos)
    connectors: list[ConnectorLive] = []
    # "charger_id/connector_id" -> power samples over the last ``live_history_s`` of event time
    power_history: dict[str, list[PowerPoint]] = {}
    readings_total: int = 0
    dead_letter_total: int = 0


def write_snapshot(snapshot: LiveSnapshot, live_dir: Path) -> Path:
    """Replace the snapshot file atomically."""
    live_dir.mkdir(parents=True, exist_ok=True)
    final = live_dir / SNAPSHOT_FILE
    tmp = live_dir / f".{SNAPSHOT_FILE}.{os.getpid()}.tmp"
    tmp.write_text(snapshot.model_dump_json())
    os.replace(tmp, final)
    return final


def read_snapshot(live_dir: Path) -> LiveSnapshot | None:
    """The latest snapshot, or None before the pipeline has written one."""
    path = live_dir / SNAPSHOT_FILE
    try:
        return LiveSnapshot.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
