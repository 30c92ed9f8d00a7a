"""Distance matrices for siting, always candidate-major: ``dist[j, c]`` from candidate ``j`` to
client (demand point) ``c``.

Two sources: great-circle distance (haversine, km) times a detour factor that stands in for the
road network, or shortest paths on a given graph (SciPy ``csgraph``, Dijkstra from every source).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_array
from scipy.sparse.csgraph import shortest_path

from models.siting.errors import SitingError

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)
DEFAULT_DETOUR = 1.3  # road distance / great-circle distance, a common urban circuity figure

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def haversine_km(
    lat1_deg: npt.ArrayLike,
    lon1_deg: npt.ArrayLike,
    lat2_deg: npt.ArrayLike,
    lon2_deg: npt.ArrayLike,
) -> FloatArray:
    """Great-circle distance in km between points in degrees (NumPy broadcasting applies)."""
    lat1, lon1, lat2, lon2 = (
        np.radians(np.asarray(a, dtype=np.float64))
        for a in (lat1_deg, lon1_deg, lat2_deg, lon2_deg)
    )
    half = (
        np.sin((lat2 - lat1) / 2.0) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2.0) ** 2
    )
    return np.asarray(2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(half, 0.0, 1.0))))


def road_km(
    candidates_latlon: FloatArray, clients_latlon: FloatArray, detour: float = DEFAULT_DETOUR
) -> FloatArray:
    """``dist[j, c]`` in km: haversine between candidate ``j`` and client ``c`` times ``detour``.

    Both inputs are ``(k, 2)`` arrays of (latitude, longitude) in degrees; ``detour >= 1``.
    """
    if detour < 1.0:
        msg = f"detour factor must be >= 1 (road >= straight line), got {detour}"
        raise SitingError(msg)
    cand = np.asarray(candidates_latlon, dtype=np.float64)
    cli = np.asarray(clients_latlon, dtype=np.float64)
    great = haversine_km(cand[:, None, 0], cand[:, None, 1], cli[None, :, 0], cli[None, :, 1])
    return np.ascontiguousarray(great * detour)


def graph_distances(
    n_vertices: int, tail: IntArray, head: IntArray, length: FloatArray
) -> FloatArray:
    """All-pairs shortest-path lengths of an undirected graph (one length per vertex pair).

    Zero-length edges count as edges. Raises :class:`SitingError` when the graph is disconnected
    (a p-median cost would be infinite).
    """
    # explicit zeros in sparse input are edges for csgraph; pairs must be unique (COO sums repeats)
    graph = coo_array((length, (tail, head)), shape=(n_vertices, n_vertices)).tocsr()
    dist = shortest_path(graph, method="D", directed=False)
    if not np.isfinite(dist).all():
        src, dst = (int(v) + 1 for v in np.argwhere(~np.isfinite(dist))[0])
        msg = f"graph is disconnected: vertex {dst} cannot be reached from vertex {src}"
        raise SitingError(msg)
    return np.ascontiguousarray(dist, dtype=np.float64)
