"""Cheaper start times offered with a quote (the charging-time advisor, ``models.advise``).

When the driver gives a window (start and end of the stay) and the quote is priced by a tariff
whose price changes over the day, :func:`suggested_starts` lists up to three uninterrupted runs in
the window that would cost less than starting at once, with the saving. ``on_select`` carries them
as tag groups ``suggested-start`` on the order (codes ``start``, ``end``, ``saving``,
``saving-pct``). A flat rate, an immediate charge without an end, or a request the window cannot
hold gets none: the quote itself is never affected.
"""

from __future__ import annotations

from typing import Any

from chargegrid.errors import ChargegridError
from orders.domain.quote import Pricer, Quote


def suggested_starts(q: Quote, pricer: Pricer, count: int = 3) -> list[Any]:
    """:class:`models.advise.suggest.SuggestedStart` runs for ``q`` (empty when not applicable)."""
    tariff = getattr(pricer, "tariff", None)
    if tariff is None or q.end is None or q.offer.max_power_w <= 0 or q.energy_wh <= 0:
        return []
    from models.advise.suggest import suggest_starts

    try:
        return suggest_starts(
            tariff, q.start, q.end, q.energy_wh / 1000, q.offer.max_power_w / 1000, count=count
        )
    except ChargegridError:  # infeasible in the window, prices missing: no suggestion
        return []
