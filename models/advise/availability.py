"""Connector availability from an occupancy forecast, for the availability-aware plan.

The demand forecast (:mod:`models.forecast`) predicts ``occupancy``: the mean number of a site's
``connectors`` plugged in during each hour. Reading each connector as busy with probability
``q = occupancy / connectors`` independently of the others (a binomial approximation: real
sessions cluster, so this is optimistic at busy hours), a connector is free for an arriving car
with probability ``1 - q ** connectors``. Any other source of per-hour probabilities (a
classifier, the operator's own rule) can be passed to the plan directly instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from models.advise.slots import AdviceInputError


def free_probability(occupancy: npt.ArrayLike, connectors: int) -> npt.NDArray[np.float64]:
    """Per-hour probability that at least one of ``connectors`` is free (see the module)."""
    if connectors < 1:
        msg = f"a site needs at least one connector, not {connectors}"
        raise AdviceInputError(msg)
    mean = np.asarray(occupancy, np.float64)
    if not np.all(np.isfinite(mean)) or np.any(mean < 0):
        msg = "occupancy forecast must be finite and non-negative"
        raise AdviceInputError(msg)
    busy = np.clip(mean / connectors, 0.0, 1.0)
    return np.asarray(1.0 - busy**connectors, np.float64)
