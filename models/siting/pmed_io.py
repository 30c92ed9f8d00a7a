"""OR-Library p-median instances (Beasley's ``pmed1`` … ``pmed40``) and their optimal values.

File format: a header ``n m p`` (vertices, edge lines, medians), then ``m`` lines ``i j c``: an
undirected edge between 1-based vertices ``i`` and ``j`` with integer length ``c``. Some vertex
pairs are listed more than once with different lengths; in Beasley's convention the **last**
listed length wins (the published optima hold for that graph, not for the minimum length).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.siting.errors import SitingError

OPTIMA_FILE = "pmedopt.txt"


@dataclass(frozen=True, slots=True)
class PmedInstance:
    """One instance as an undirected edge list (0-based vertices, one length per vertex pair)."""

    name: str
    n_vertices: int
    p: int
    tail: npt.NDArray[np.int64]
    head: npt.NDArray[np.int64]
    length: npt.NDArray[np.float64]
    duplicate_lines: int  # edge lines that overwrote an earlier length for the same pair


def _ints(path: Path, line_no: int, text: str, count: int) -> list[int]:
    fields = text.split()
    try:
        values = [int(f) for f in fields]
    except ValueError:
        values = []
    if len(values) != count:
        msg = f"{path}: line {line_no}: expected {count} integers, got {text.strip()!r}"
        raise SitingError(msg)
    return values


def read_pmed(path: Path) -> PmedInstance:
    """Parse one instance, last listed length winning for a repeated vertex pair.

    Raises :class:`SitingError` naming the file and line for a missing file, a bad header, a
    vertex outside ``1..n``, a negative length, or an edge count that disagrees with the header.
    """
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read a p-median instance ({exc})"
        raise SitingError(msg) from exc
    numbered = [(no, text) for no, text in enumerate(lines, start=1) if text.strip()]
    if not numbered:
        msg = f"{path}: empty file, expected a header 'n m p'"
        raise SitingError(msg)
    n, m, p = _ints(path, numbered[0][0], numbered[0][1], 3)
    if n < 1 or not 1 <= p <= n:
        msg = f"{path}: line {numbered[0][0]}: header needs n >= 1 and 1 <= p <= n, got {n} {m} {p}"
        raise SitingError(msg)
    edges: dict[tuple[int, int], float] = {}
    for no, text in numbered[1:]:
        i, j, c = _ints(path, no, text, 3)
        if not (1 <= i <= n and 1 <= j <= n):
            msg = f"{path}: line {no}: vertex outside 1..{n} in {text.strip()!r}"
            raise SitingError(msg)
        if c < 0:
            msg = f"{path}: line {no}: negative length {c}"
            raise SitingError(msg)
        edges[(min(i, j) - 1, max(i, j) - 1)] = float(c)  # last occurrence wins
    if len(numbered) - 1 != m:
        msg = f"{path}: header says {m} edge lines, file has {len(numbered) - 1}"
        raise SitingError(msg)
    pairs = np.array(list(edges), dtype=np.int64).reshape(-1, 2)
    return PmedInstance(
        name=path.stem,
        n_vertices=n,
        p=p,
        tail=pairs[:, 0].copy(),
        head=pairs[:, 1].copy(),
        length=np.array(list(edges.values()), dtype=np.float64),
        duplicate_lines=m - len(edges),
    )


def read_optima(path: Path) -> dict[str, float]:
    """``pmedopt.txt``: ``name value`` per line after a header line → ``{name: value}``."""
    out: dict[str, float] = {}
    for text in path.read_text(encoding="ascii").splitlines()[1:]:
        match = re.fullmatch(r"\s*(\S+)\s+(\d+(?:\.\d*)?)\s*", text)
        if match:
            out[match.group(1)] = float(match.group(2))
    return out


def optimum_beside(path: Path) -> float | None:
    """The published optimum for the instance file, from ``pmedopt.txt`` in the same folder."""
    table = path.parent / OPTIMA_FILE
    if not table.is_file():
        return None
    return read_optima(table).get(path.stem)
