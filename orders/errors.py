"""One error hierarchy for the BPP, with the BECKN-005 code on the class.

:func:`wire_error` is the only place that turns an exception into the wire ``error`` object;
anything that is not a :class:`BecknError` becomes :class:`InternalError` without leaking its text.
Codes 30000-50004 are BECKN-005 Draft-01. BECKN-005 has no code for a bad signature, a stale
request or an internal failure; we use the values the ONDC network assigns in the same BPP range
(30016 invalid signature, 30022 stale request, 31001 internal error).
"""

from __future__ import annotations

from typing import Any, ClassVar

from chargegrid.errors import ChargegridError


class BecknError(ChargegridError):
    """A request we refuse (NACK) or a business failure reported in the ``on_*`` callback."""

    code: ClassVar[str] = "30000"
    default_description: ClassVar[str] = "Invalid request error"
    http_status: ClassVar[int] = 400  # of a synchronous NACK (401 auth, 503 internal)

    def __init__(self, message: str | None = None, *, paths: str | None = None) -> None:
        self.description = message or self.default_description
        self.paths = paths
        super().__init__(self.description)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.description}
        if self.paths:
            out["paths"] = self.paths
        return out


class InvalidRequest(BecknError):
    """Schema-invalid body or inconsistent context (``paths`` names the field)."""


class AuthenticationError(BecknError):
    code = "30016"
    default_description = "Invalid signature"
    http_status = 401


class StaleRequest(BecknError):
    code = "30022"
    default_description = "Stale request: context timestamp/ttl outside the accepted window"


class ProviderNotFound(BecknError):
    code = "30001"
    default_description = "Provider not found"


class LocationNotFound(BecknError):
    code = "30002"
    default_description = "Provider location not found"


class ItemNotFound(BecknError):
    code = "30004"
    default_description = "Item not found"


class FulfillmentUnavailable(BecknError):
    code = "30008"
    default_description = "Fulfillment unavailable"


class OrderNotFound(BecknError):
    code = "30010"
    default_description = "Order not found"


class BusinessError(BecknError):
    code = "40000"
    default_description = "Business error"


class ActionNotApplicable(BecknError):
    code = "40001"
    default_description = "Action not applicable"


class QuantityUnavailable(BecknError):
    code = "40002"
    default_description = "Item quantity unavailable"


class QuoteUnavailable(BecknError):
    code = "40003"
    default_description = "Quote unavailable"


class CancellationNotPossible(BecknError):
    code = "50001"
    default_description = "Cancellation not possible"


class UpdateNotPossible(BecknError):
    code = "50002"
    default_description = "Updation not possible"


class OrderChanged(UpdateNotPossible):
    """The order changed between reading and writing it (optimistic version check failed)."""

    default_description = "The order changed meanwhile; send the request again"


class RatingNotPossible(BecknError):
    code = "50003"
    default_description = "Rating not possible"


class InternalError(BecknError):
    code = "31001"
    default_description = "Internal error"
    http_status = 503


def as_beckn_error(exc: BaseException) -> BecknError:
    """``exc`` itself when it is a :class:`BecknError`; otherwise an opaque internal error."""
    if isinstance(exc, BecknError):
        return exc
    return InternalError()


def wire_error(exc: BaseException) -> dict[str, Any]:
    """The Beckn ``error`` object for ``exc`` (the one conversion point)."""
    return as_beckn_error(exc).to_wire()
