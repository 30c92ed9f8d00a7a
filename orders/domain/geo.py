"""Distances on the Earth for search: haversine, and point-to-polyline for route corridors."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

EARTH_RADIUS_M = 6_371_008.8
LatLon = tuple[float, float]


def distance_m(a: LatLon, b: LatLon) -> float:
    """Great-circle distance in metres (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def distance_to_polyline_m(point: LatLon, line: Sequence[LatLon]) -> float:
    """Shortest distance in metres from ``point`` to the polyline through ``line``.

    Each segment is projected onto a local equirectangular plane centred on ``point`` (accurate to
    well under 1 % for segments of a few hundred km away from the poles).
    """
    if len(line) == 1:
        return distance_m(point, line[0])
    lat0 = math.radians(point[0])

    def xy(p: LatLon) -> tuple[float, float]:
        dlon = (p[1] - point[1] + 540.0) % 360.0 - 180.0
        return (
            math.radians(dlon) * math.cos(lat0) * EARTH_RADIUS_M,
            math.radians(p[0] - point[0]) * EARTH_RADIUS_M,
        )

    best = math.inf
    for a, b in itertools.pairwise(line):
        (ax, ay), (bx, by) = xy(a), xy(b)
        dx, dy = bx - ax, by - ay
        seg2 = dx * dx + dy * dy
        t = 0.0 if seg2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / seg2))
        best = min(best, math.hypot(ax + t * dx, ay + t * dy))
    return best
