"""``chargegrid site pmed`` and ``chargegrid site propose`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import chargegrid
from tests.models.test_siting_geo import write_export

# a path 1-2-3-4-5 whose pair 1-2 is listed twice: the last length (10) wins, so the 1-median
# is vertex 3 with cost 10+1 + 1 + 1 + 2 = 15 (with the first length it would be 6)
PATH_GRAPH = "5 5 1\n1 2 1\n2 3 1\n3 4 1\n4 5 1\n2 1 10\n"


def test_pmed_prints_objective_gap_and_time(tmp_path: Path) -> None:
    (tmp_path / "pmedopt.txt").write_text("Data file   Optimal solution value\nsquare 15\n")
    (tmp_path / "square.txt").write_text(PATH_GRAPH)
    out = chargegrid(["site", "pmed", str(tmp_path / "square.txt")], tmp_path / "var")
    assert out.returncode == 0, out.stderr
    assert "objective 15  optimum 15  gap 0.000 %" in out.stdout
    assert "sites 3" in out.stdout


def test_pmed_with_another_p_has_no_optimum(tmp_path: Path) -> None:
    (tmp_path / "pmedopt.txt").write_text("Data file   Optimal solution value\nsquare 15\n")
    (tmp_path / "square.txt").write_text(PATH_GRAPH)
    out = chargegrid(["site", "pmed", str(tmp_path / "square.txt"), "-p", "2"], tmp_path / "var")
    assert out.returncode == 0, out.stderr
    assert "p=2  objective 4  optimum unknown" in out.stdout


def test_pmed_bad_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("4 2 1\n1 2 1\n")
    out = chargegrid(["site", "pmed", str(bad)], tmp_path / "var")
    assert out.returncode == 2
    assert "header says 2 edge lines" in out.stderr
    assert "Traceback" not in out.stderr


def test_pmed_p_beyond_vertices_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "square.txt").write_text(PATH_GRAPH)
    out = chargegrid(["site", "pmed", str(tmp_path / "square.txt"), "-p", "9"], tmp_path / "var")
    assert out.returncode == 2
    assert "-p 9 must be between 1 and 5" in out.stderr


def test_propose_prints_before_and_after_and_json(tmp_path: Path) -> None:
    export = write_export(tmp_path)
    args = [
        "site",
        "propose",
        "--source",
        "dundee",
        str(export),
        "-k",
        "2",
        "--starts",
        "2",
        "--days",
        "0",
    ]
    text = chargegrid(args, tmp_path / "var")
    assert text.returncode == 0, text.stderr
    assert "before: mean service distance" in text.stdout
    assert "after adding 2" in text.stdout
    data = json.loads(chargegrid([*args, "--json"], tmp_path / "var").stdout)
    assert data["after_mean_service_km"] < data["before_mean_service_km"]
    assert len(data["heatmap"]["proposed"]) == 2


def test_propose_on_a_file_that_is_not_an_export_is_exit_2(tmp_path: Path) -> None:
    write_export(tmp_path)
    locations = tmp_path / "cp-locations_enriched.csv"
    out = chargegrid(
        ["site", "propose", "--source", "dundee", str(locations), "-k", "1"], tmp_path / "var"
    )
    assert out.returncode == 2
    assert "not a Dundee session export" in out.stderr
