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


def encode_snapshot(snapshot: LiveSnapshot, *, power_history_json: bytes | None = None) -> bytes:
    """The snapshot file's bytes (JSON that :func:`read_snapshot` parses back).

    ``power_history_json``, when given, is the already-encoded ``power_history`` object
    (``{"charger/connector": [{"ts": ISO-8601, "power_w": W}, ...], ...}``) and replaces
    ``snapshot.power_history``: a producer holding thousands of points in columnar form encodes
    them in bulk instead of building one model per point.
    """
    if power_history_json is None:
        return snapshot.model_dump_json().encode()
    head = snapshot.model_dump_json(exclude={"power_history"}).encode()
    return b"".join((head[:-1], b',"power_history":', power_history_json, b"}"))


def write_snapshot(
    snapshot: LiveSnapshot, live_dir: Path, *, power_history_json: bytes | None = None
) -> Path:
    """Replace the snapshot file atomically (see :func:`encode_snapshot`)."""
    return write_snapshot_bytes(
        encode_snapshot(snapshot, power_history_json=power_history_json), live_dir
    )


def write_snapshot_bytes(content: bytes, live_dir: Path) -> Path:
    """Replace the snapshot file atomically with already-encoded ``content``."""
    live_dir.mkdir(parents=True, exist_ok=True)
    final = live_dir / SNAPSHOT_FILE
    tmp = live_dir / f".{SNAPSHOT_FILE}.{os.getpid()}.tmp"
    tmp.write_bytes(content)
    os.replace(tmp, final)
    return final


def read_snapshot(live_dir: Path) -> LiveSnapshot | None:
    """The latest snapshot, or None before the pipeline has written one."""
    path = live_dir / SNAPSHOT_FILE
    try:
        return LiveSnapshot.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
