"""OR-Library reader (duplicate edges: the last listed length wins) and distance matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.siting.distances import graph_distances, haversine_km, road_km
from models.siting.errors import SitingError
from models.siting.pmed_io import optimum_beside, read_optima, read_pmed


def write(tmp_path: Path, text: str, name: str = "pmedX.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_repeated_pair_keeps_the_last_listed_length(tmp_path: Path) -> None:
    inst = read_pmed(write(tmp_path, " 3 4 1 \n 1 2 5 \n 2 3 7 \n 1 2 9 \n 2 1 4 \n"))
    lengths = dict(
        zip(zip(inst.tail.tolist(), inst.head.tolist(), strict=True), inst.length, strict=True)
    )
    assert lengths == {(0, 1): 4.0, (1, 2): 7.0}
    assert inst.duplicate_lines == 2
    assert (inst.n_vertices, inst.p) == (3, 1)


def test_last_wins_changes_shortest_paths(tmp_path: Path) -> None:
    inst = read_pmed(write(tmp_path, "3 3 1\n1 2 1\n2 3 1\n1 2 10\n"))
    dist = graph_distances(inst.n_vertices, inst.tail, inst.head, inst.length)
    assert dist[0, 1] == 10.0
    assert dist[0, 2] == 11.0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty file"),
        ("3 2\n1 2 1\n2 3 1\n", "line 1: expected 3 integers"),
        ("3 2 4\n1 2 1\n2 3 1\n", "1 <= p <= n"),
        ("3 2 1\n1 2 1\n2 4 1\n", "line 3: vertex outside 1..3"),
        ("3 2 1\n1 2 1\n2 3 x\n", "line 3: expected 3 integers"),
        ("3 2 1\n1 2 -1\n2 3 1\n", "line 2: negative length"),
        ("3 3 1\n1 2 1\n2 3 1\n", "header says 3 edge lines, file has 2"),
    ],
)
def test_malformed_instance_is_refused_naming_file_and_line(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SitingError, match=fragment) as info:
        read_pmed(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_siting_error(tmp_path: Path) -> None:
    with pytest.raises(SitingError, match="cannot read"):
        read_pmed(tmp_path / "absent.txt")


def test_optimum_is_read_from_the_table_beside_the_instance(tmp_path: Path) -> None:
    (tmp_path / "pmedopt.txt").write_text("Data file   Optimal solution value\npmedX 42\npmedY 7\n")
    path = write(tmp_path, "2 1 1\n1 2 3\n")
    assert optimum_beside(path) == 42.0
    assert read_optima(tmp_path / "pmedopt.txt") == {"pmedX": 42.0, "pmedY": 7.0}
    assert optimum_beside(write(tmp_path, "2 1 1\n1 2 3\n", "other.txt")) is None


def test_instance_without_optimum_table_has_no_optimum(tmp_path: Path) -> None:
    assert optimum_beside(write(tmp_path, "2 1 1\n1 2 3\n")) is None


def test_zero_length_edge_is_an_edge() -> None:
    dist = graph_distances(3, np.array([0, 1]), np.array([1, 2]), np.array([0.0, 2.0]))
    assert dist[0, 1] == 0.0
    assert dist[0, 2] == 2.0


def test_disconnected_graph_is_refused() -> None:
    with pytest.raises(SitingError, match="disconnected"):
        graph_distances(3, np.array([0]), np.array([1]), np.array([1.0]))


def test_one_degree_of_latitude_is_about_111_km() -> None:
    assert haversine_km(56.0, -3.0, 57.0, -3.0) == pytest.approx(111.195, abs=0.01)
    assert haversine_km(56.0, -3.0, 56.0, -3.0) == 0.0


def test_road_distance_is_candidate_major_and_scaled_by_detour() -> None:
    cand = np.array([[56.46, -2.97], [56.47, -3.0]])
    cli = np.array([[56.46, -2.97], [56.50, -2.90], [56.40, -3.1]])
    road = road_km(cand, cli, detour=1.25)
    assert road.shape == (2, 3)
    assert road[0, 0] == 0.0
    assert road[1, 2] == pytest.approx(1.25 * haversine_km(56.47, -3.0, 56.40, -3.1))


def test_detour_below_one_is_refused() -> None:
    with pytest.raises(SitingError, match="detour"):
        road_km(np.zeros((1, 2)), np.zeros((1, 2)), detour=0.9)


@pytest.mark.shared
def test_or_library_files_parse_with_their_duplicates(shared_data: Path) -> None:
    folder = shared_data.parent / "pmed"
    first, last = read_pmed(folder / "pmed1.txt"), read_pmed(folder / "pmed40.txt")
    assert (first.n_vertices, first.p, first.duplicate_lines) == (100, 5, 2)
    assert (last.n_vertices, last.p, last.duplicate_lines) == (900, 90, 321)
    assert optimum_beside(folder / "pmed40.txt") == 5128.0
