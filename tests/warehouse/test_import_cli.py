"""``chargegrid import`` on the command line: closing report, views, typed errors (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

ITEM = {
    "sessionID": "s1",
    "siteID": "0002",
    "stationID": "2-39-78-362",
    "spaceID": "CA-496",
    "connectionTime": "Wed, 25 Apr 2018 11:08:04 GMT",
    "disconnectTime": "Wed, 25 Apr 2018 13:20:10 GMT",
    "doneChargingTime": None,
    "kWhDelivered": 7.932,
    "timezone": "America/Los_Angeles",
    "userID": None,
    "userInputs": None,
}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chargegrid.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "500"},  # rich wraps messages at the terminal width
    )


def test_import_prints_the_report_and_the_views_answer(tmp_path: Path) -> None:
    folder = tmp_path / "acn"
    folder.mkdir()
    (folder / "one.json").write_text(json.dumps({"_meta": {}, "_items": [ITEM]}), "utf-8")
    (folder / "two.json").write_text(json.dumps([ITEM, {**ITEM, "sessionID": "s2"}]), "utf-8")
    data = tmp_path / "var"

    done = _cli("import", "acn", str(folder), "--data-dir", str(data))

    assert done.returncode == 0, done.stderr
    assert "rejected: duplicate" in done.stdout
    with duckdb.connect(str(data / "catalog.duckdb"), read_only=True) as con:
        count = con.execute("select count(*) from historical_sessions").fetchone()
        stations = con.execute("select station_id from registry_stations").fetchall()
    assert count == (2,)
    assert stations == [("2-39-78-362",)]

    again = _cli("import", "acn", str(folder), "--data-dir", str(data))
    assert again.returncode == 0, again.stderr
    assert "skipped: one.json" in again.stdout and "already imported" in again.stdout
    replaced = _cli("import", "acn", str(folder / "one.json"), "--replace", "--data-dir", str(data))
    assert replaced.returncode == 0, replaced.stderr
    with duckdb.connect(str(data / "catalog.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from historical_sessions").fetchone() == (1,)


def test_a_wrong_file_exits_2_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "conso-ve-sap0.csv"
    bad.write_text("hello,world\n1,2\n", encoding="utf-8")

    done = _cli("import", "sap", str(bad), "--data-dir", str(tmp_path / "var"))

    assert done.returncode == 2
    assert "conso-ve-sap0.csv" in done.stderr and "not a SAP Labs France" in done.stderr
    assert "Traceback" not in done.stderr
