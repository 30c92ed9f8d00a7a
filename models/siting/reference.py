"""Plain-Python p-median objective and interchange pass: the definitions the Numba kernels in
:mod:`models.siting.kernels` are tested against. Quadratic and slow on purpose: no caching.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def objective(
    dist: Sequence[Sequence[float]], weight: Sequence[float], sites: Sequence[int]
) -> float:
    """Sum over clients ``c`` of ``weight[c] * min(dist[j][c] for j in sites)``."""
    return sum(w * min(dist[j][c] for j in sites) for c, w in enumerate(weight) if w != 0.0)


def best_swap(
    dist: Sequence[Sequence[float]],
    weight: Sequence[float],
    sites: Sequence[int],
    fixed: frozenset[int] = frozenset(),
) -> tuple[int, int, float]:
    """Every (open ``i``, close ``r``) swap evaluated from scratch: the one lowering the objective
    most, as ``(i, r, delta)``; ``(-1, -1, inf)`` when there is none. ``fixed`` sites never close.
    """
    base = objective(dist, weight, sites)
    best: tuple[int, int, float] = (-1, -1, math.inf)
    for i in range(len(dist)):
        if i in sites:
            continue
        for r in sites:
            if r in fixed:
                continue
            trial = [i if j == r else j for j in sites]
            delta = objective(dist, weight, trial) - base
            if delta < best[2]:
                best = (i, r, delta)
    return best
