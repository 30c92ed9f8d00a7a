"""The siting error: bad instance files, infeasible requests, instances too large for a MILP."""

from __future__ import annotations

from chargegrid.errors import ChargegridError


class SitingError(ChargegridError):
    """A siting input or request that cannot be served; the message names the file/field."""
