"""The command line as a user meets it: clear one-line errors (exit 2), and publish → run → sql."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import chargegrid

EVENTS = [
    {"kind": "transaction_started", "charger_id": "CP1", "connector_id": 1,
     "transaction_id": "t1", "ts": "2024-05-01T10:00:00Z", "meter_start_wh": 1000},
    {"kind": "meter_value", "charger_id": "CP1", "connector_id": 1, "transaction_id": "t1",
     "ts": "2024-05-01T10:05:00Z", "energy_register_wh": 1500, "power_w": 6000},
    {"kind": "transaction_ended", "charger_id": "CP1", "connector_id": 1,
     "transaction_id": "t1", "ts": "2024-05-01T10:10:00Z", "meter_stop_wh": 2100},
]  # fmt: skip


def test_publish_run_and_query(tmp_path: Path) -> None:
    data = tmp_path / "var"
    src = tmp_path / "events.jsonl"
    src.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n{broken\n")
    published = chargegrid(["publish", "meter_readings", str(src)], data)
    assert published.returncode == 0, published.stderr
    assert "appended 4 records" in published.stdout
    ran = chargegrid(["pipeline", "run", "--until-drained"], data)
    assert ran.returncode == 0, ran.stderr
    out = chargegrid(
        ["sql", "select session_id, energy_wh from sessions", "--format", "json"], data
    )
    assert json.loads(out.stdout) == [{"session_id": "CP1/t1", "energy_wh": 1100.0}]
    dead = chargegrid(["sql", "select reason from dead_letter", "--format", "csv"], data)
    assert dead.stdout.splitlines() == ["reason", "undecodable"]


def test_a_bad_query_is_one_clear_message_and_exit_2(tmp_path: Path) -> None:
    out = chargegrid(["sql", "select nope from sessions"], tmp_path / "var")
    assert out.returncode == 2
    assert "nope" in out.stderr and "Traceback" not in out.stderr


def test_error_text_is_printed_as_is(tmp_path: Path) -> None:
    src = tmp_path / "[red]x.jsonl"
    src.write_text("{}\n")
    out = chargegrid(["publish", "[bold]nope[/bold]", str(src)], tmp_path / "var")
    assert out.returncode == 2
    assert "unknown topic '[bold]nope[/bold]'" in out.stderr


def test_an_unknown_topic_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    src = tmp_path / "e.jsonl"
    src.write_text("{}\n")
    out = chargegrid(["publish", "readings", str(src)], tmp_path / "var")
    assert out.returncode == 2
    assert "unknown topic 'readings'" in out.stderr and "meter_readings" in out.stderr


def test_replay_speed_must_be_positive_or_max(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("Charging event\n")
    out = chargegrid(["replay", "dundee", str(src), "--speed", "fast"], tmp_path / "var")
    assert out.returncode == 2
    assert "--speed" in out.stderr


def test_replay_of_a_file_that_is_not_an_export_names_it(tmp_path: Path) -> None:
    src = tmp_path / "other.csv"
    src.write_text("a,b\n1,2\n")
    out = chargegrid(["replay", "dundee", str(src)], tmp_path / "var")
    assert out.returncode == 2
    assert f"{src}: not a Dundee session export" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
