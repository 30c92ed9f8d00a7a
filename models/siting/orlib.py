"""Solve an OR-Library p-median file and compare with its published optimum (CLI and bench)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.siting.errors import SitingError
from models.siting.pmed_io import optimum_beside, read_pmed
from models.siting.pmedian import SolverOptions, instance_distances, solve


@dataclass(frozen=True, slots=True)
class PmedRun:
    name: str
    n_vertices: int
    p: int
    objective: float
    optimum: float | None  # published, for the file's own p only
    seconds: float  # shortest paths + search, wall clock
    cpu_seconds: float  # the same span in process CPU time (all threads)
    sites: tuple[int, ...]  # 1-based vertex numbers, as in the file

    @property
    def gap_pct(self) -> float | None:
        """(objective - optimum) / optimum in per cent, when the optimum is known."""
        if self.optimum is None or self.optimum == 0:
            return None
        return 100.0 * (self.objective - self.optimum) / self.optimum

    def summary(self) -> str:
        gap = (
            "optimum unknown"
            if self.gap_pct is None
            else (f"optimum {self.optimum:g}  gap {self.gap_pct:.3f} %")
        )
        return (
            f"{self.name}  n={self.n_vertices} p={self.p}  objective {self.objective:g}  "
            f"{gap}  time {self.seconds:.2f} s"
        )


def run_pmed(path: Path, p: int | None = None, options: SolverOptions | None = None) -> PmedRun:
    """Read, build all-pairs shortest paths, solve; the optimum only applies to the file's p."""
    started, started_cpu = time.perf_counter(), time.process_time()
    instance = read_pmed(path)
    p = instance.p if p is None else p
    if not 1 <= p <= instance.n_vertices:
        msg = f"{path}: -p {p} must be between 1 and {instance.n_vertices}"
        raise SitingError(msg)
    dist = instance_distances(instance)
    found = solve(dist, np.ones(instance.n_vertices), p, options=options)
    return PmedRun(
        name=instance.name,
        n_vertices=instance.n_vertices,
        p=p,
        objective=found.objective,
        optimum=optimum_beside(path) if p == instance.p else None,
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - started_cpu,
        sites=tuple(j + 1 for j in found.sites),
    )
