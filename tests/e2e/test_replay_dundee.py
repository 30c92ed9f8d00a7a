"""Real Dundee rows → OCPP simulators → central system → log → Bytewax → lake → SQL.

Every input row must be in exactly one of ``sessions`` and ``dead_letter``; each replayed session's
energy must equal its recorded kWh within 1 Wh; each rejected row must carry a reason.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from chargegrid.settings import load_settings
from chargegrid.sources.dundee import Rejected, SessionRow, read_sessions
from tests.e2e.conftest import DUNDEE_FILES, chargegrid
from warehouse.sql import query_rows

pytestmark = [pytest.mark.shared, pytest.mark.slow]
ROWS_PER_FILE = 200


def test_every_row_is_a_session_or_a_dead_letter_and_energy_is_exact(
    shared_data: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    files = [shared_data / "dundee" / name for name in DUNDEE_FILES]
    expected: list[SessionRow | Rejected] = []
    for path in files:  # the first rows of a winter export and of a summer (BST) one
        expected += list(read_sessions([path], limit=ROWS_PER_FILE))
        done = chargegrid(
            ["replay", "dundee", str(path), "--limit", str(ROWS_PER_FILE), "--embedded"],
            data_dir,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"rows read: {ROWS_PER_FILE}" in done.stdout

    settings = load_settings(data_dir=data_dir)
    _, sessions = query_rows(settings, "select id_tag, energy_wh, energy_quality from sessions")
    _, dead = query_rows(settings, "select source, reason, detail, raw from dead_letter")

    assert len(sessions) + len(dead) == len(expected) == 2 * ROWS_PER_FILE
    assert all(source == "replay:dundee" for source, *_ in dead), "the pipeline rejected none"
    assert all(reason and detail for _, reason, detail, _ in dead)

    energy_by_tag = {tag: wh for tag, wh, _ in sessions}
    assert len(energy_by_tag) == len(sessions), "each session once"
    replayed = [r for r in expected if isinstance(r, SessionRow)]
    rejected_raw = Counter(raw for *_, raw in dead)
    recorded_kwh = _recorded_kwh(files)
    for row in replayed:
        if row.ref in energy_by_tag:
            assert abs(energy_by_tag[row.ref] - recorded_kwh[row.event_id] * 1000) <= 1, row.ref
        else:
            assert rejected_raw[row.raw] == 1, f"{row.ref} neither replayed nor dead-lettered"
    for row in expected:
        if isinstance(row, Rejected):
            assert rejected_raw[row.raw] >= 1, f"{row.ref} ({row.reason}) missing"
    assert all(quality == "ok" for *_, quality in sessions)


def _recorded_kwh(files: list[Path]) -> dict[str, float]:
    """``Total kWh`` per charging event, read straight from the exports (not via our reader)."""
    out: dict[str, float] = {}
    for path in files:
        with path.open(newline="", encoding="utf-8-sig") as src:
            for row in csv.DictReader(src):
                if row["Total kWh"]:
                    out[row["Charging event"]] = float(row["Total kWh"])
    return out
