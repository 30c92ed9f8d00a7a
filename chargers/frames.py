"""OCPP-J RPC frames: parse a raw WebSocket message and name what is wrong with it.

Every problem is an :class:`ocpp.exceptions.OCPPError` with the wire code the protocol version
defines, raised as a :class:`FrameRejected` that also carries the dead-letter :class:`Reason` and
the unique id to answer (``"-1"`` when the id could not be read, as OCPP 2.0.1 Part 4 asks).

Codes used (1.6J spells two of them differently from 2.0.1):

| problem | 1.6J | 2.0.1 |
|---|---|---|
| not JSON, not an array, id unreadable | FormationViolation | RpcFrameworkError |
| unknown MessageTypeId | ProtocolError | MessageTypeNotSupported |
| CALL with the wrong number of elements | ProtocolError | RpcFrameworkError |
| action the version does not define | NotSupported | NotSupported |
| action defined but not served here | NotImplemented | NotImplemented |
| payload: a required field missing | ProtocolError | ProtocolError |
| payload: wrong JSON type | TypeConstraintViolation | TypeConstraintViolation |
| payload: value out of enum/length/range | PropertyConstraintViolation | same |
| payload: unknown field, other structure | FormationViolation | FormatViolation |
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError as SchemaError
from ocpp import exceptions as ox
from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator
from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201

from chargegrid.events import Reason
from chargers.fastschema import call_check

UNREADABLE_ID = "-1"
_MAX_DESCRIPTION = 255


class RpcFrameworkError(ox.OCPPError):
    """2.0.1: the frame is not a valid RPC message (e.g. its MessageId cannot be read)."""

    code = "RpcFrameworkError"
    default_description = "Content of the call is not a valid RPC Request"


class MessageTypeNotSupportedError(ox.OCPPError):
    """2.0.1: a MessageTypeId this implementation does not support."""

    code = "MessageTypeNotSupported"
    default_description = "A message with a Message Type Number not supported was received"


@dataclass(frozen=True, slots=True)
class Reject:
    """Why a frame is refused: the wire error, the dead-letter reason, and the id to answer."""

    error: ox.OCPPError
    reason: Reason
    unique_id: str = UNREADABLE_ID


class FrameRejected(Exception):
    """Raised by :func:`parse` and :func:`check_call`; ``reject`` says how to answer."""

    def __init__(self, reject: Reject) -> None:
        super().__init__(reject.error.code)
        self.reject = reject


def _is_16(version: str) -> bool:
    return version == "1.6"


def _format_error(version: str, cause: str) -> ox.OCPPError:
    cls = ox.FormationViolationError if _is_16(version) else ox.FormatViolationError
    return cls(details={"cause": cause[:_MAX_DESCRIPTION]})


def _framework_error(version: str, cause: str) -> ox.OCPPError:
    if _is_16(version):
        return ox.FormationViolationError(details={"cause": cause})
    return RpcFrameworkError(details={"cause": cause})


def _refuse(error: ox.OCPPError, reason: Reason, unique_id: str = UNREADABLE_ID) -> FrameRejected:
    return FrameRejected(Reject(error, reason, unique_id))


def parse(raw: str | bytes, version: str) -> Call | CallResult | CallError:
    """A frame as the library's message object; raises :class:`FrameRejected`."""
    try:
        msg = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _refuse(_framework_error(version, "not JSON"), Reason.undecodable) from None
    if not isinstance(msg, list) or not msg:
        raise _refuse(_framework_error(version, "not a JSON array"), Reason.schema_invalid)
    unique_id = msg[1] if len(msg) > 1 and isinstance(msg[1], str) and msg[1] else None
    if unique_id is None:
        raise _refuse(
            _framework_error(version, "MessageId missing or not a string"), Reason.schema_invalid
        )
    kind = msg[0]
    if kind == MessageType.Call:
        return _call(msg, unique_id, version)
    if kind == MessageType.CallResult and len(msg) == 3:
        return CallResult(unique_id, msg[2])
    if kind == MessageType.CallError and len(msg) == 5:
        return CallError(unique_id, *msg[2:])
    if kind in (MessageType.CallResult, MessageType.CallError):
        raise _refuse(
            _framework_error(version, "wrong number of elements"), Reason.schema_invalid, unique_id
        )
    error: ox.OCPPError = (
        ox.ProtocolError(details={"cause": f"MessageTypeId {kind!r} is not valid"})
        if _is_16(version)
        else MessageTypeNotSupportedError(details={"cause": f"MessageTypeId {kind!r}"})
    )
    raise _refuse(error, Reason.schema_invalid, unique_id)


def _call(msg: list[Any], unique_id: str, version: str) -> Call:
    if len(msg) != 4:
        error: ox.OCPPError = (
            ox.ProtocolError(details={"cause": "a CALL has 4 elements"})
            if _is_16(version)
            else RpcFrameworkError(details={"cause": "a CALL has 4 elements"})
        )
        raise _refuse(error, Reason.schema_invalid, unique_id)
    action, payload = msg[2], msg[3]
    if not isinstance(action, str):
        raise _refuse(
            _format_error(version, "Action is not a string"), Reason.schema_invalid, unique_id
        )
    if not isinstance(payload, dict):
        raise _refuse(
            ox.TypeConstraintViolationError(details={"cause": "payload is not an object"}),
            Reason.schema_invalid,
            unique_id,
        )
    return Call(unique_id, action, payload)


def unknown_action(call: Call, version: str) -> FrameRejected:
    """The error for an action this server has no handler for."""
    actions = Action16 if _is_16(version) else Action201
    known = call.action in {a.value for a in actions}
    error: ox.OCPPError = (
        ox.NotImplementedError(details={"cause": f"{call.action} is not served here"})
        if known
        else ox.NotSupportedError(details={"cause": f"{call.action} is not OCPP {version}"})
    )
    return _refuse(error, Reason.unknown_kind, call.unique_id)


def check_call(call: Call, version: str) -> None:
    """Validate a CALL's payload against the spec's JSON schema; raise :class:`FrameRejected`.

    The compiled check of :mod:`chargers.fastschema` passes valid payloads quickly; anything it
    does not pass is judged by ``jsonschema``, which names the error.
    """
    fast = call_check(call.action, version)
    if fast is not None and fast(call.payload):
        return
    validator = get_validator(MessageType.Call, call.action, version)
    error = next(iter(validator.iter_errors(call.payload)), None)
    if error is not None:
        raise _refuse(_schema_error(error, version), Reason.schema_invalid, call.unique_id)


_PROPERTY_VALIDATORS = frozenset(
    {"enum", "maxLength", "minLength", "maximum", "minimum", "pattern", "multipleOf"}
)


def _schema_error(error: SchemaError, version: str) -> ox.OCPPError:
    where = "/".join(str(p) for p in error.absolute_path) or "payload"
    details = {"cause": f"{where}: {error.message}"[:_MAX_DESCRIPTION]}
    if error.validator == "type":
        return ox.TypeConstraintViolationError(details=details)
    if error.validator == "required":
        return ox.ProtocolError(details=details)
    if error.validator in _PROPERTY_VALIDATORS:
        return ox.PropertyConstraintViolationError(details=details)
    return _format_error(version, details["cause"])


def call_error(unique_id: str, error: ox.OCPPError) -> str:
    """The CALLERROR frame for ``error``: its code, description and short details only."""
    return CallError(unique_id, error.code, error.description, error.details).to_json()
