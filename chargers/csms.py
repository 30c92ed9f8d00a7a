"""The central system's protocol side, free of any transport (STYLE.md §1).

One :class:`CentralSystem16` / :class:`CentralSystem201` per charger connection: it needs only an
object with ``recv()``/``send()``. Every accepted reading and status change becomes a
``chargegrid.events`` record handed to the shared :class:`~chargegrid.eventlog.BatchingProducer`,
keyed by charger id: transactions and readings on ``meter_readings``, status/boot/heartbeat on
``connector_status``. Anything refused is answered with a CallError (see :mod:`chargers.frames`
for the codes) and, with its raw frame, dead-lettered on ``dead_letter``; the connection stays up.

Event times are the charger's own timestamps (simulated or historical time); the injected clock
is used only where the message has none (boot, heartbeat, a 1.6 status without timestamp) and for
``currentTime`` answers. Only chargers in the inventory are served: an unknown charger's
BootNotification is answered ``Rejected`` (and logged as a Boot with ``accepted=False``); any other
call from it gets a ``SecurityError``, as OCPP 2.0.1 B02/B03 prescribe for unaccepted stations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from ocpp import exceptions as ox
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.messages import Call, CallResult
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action as Action16
from ocpp.v16.enums import AuthorizationStatus, RegistrationStatus
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from ocpp.v201.datatypes import IdTokenInfoType
from ocpp.v201.enums import Action as Action201
from ocpp.v201.enums import AuthorizationStatusEnumType, RegistrationStatusEnumType
from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError

from chargegrid.clock import Clock
from chargegrid.eventlog import BatchingProducer
from chargegrid.events import (
    Boot,
    ConnectorStatus,
    DeadLetter,
    Heartbeat,
    Reason,
    Topic,
    TransactionEnded,
    TransactionStarted,
    iso,
)
from chargegrid.inventory import Inventory, load_inventory
from chargers import frames
from chargers.readings import (
    Reading,
    ReadingError,
    meter_event,
    readings_16,
    readings_201,
    register_of,
)
from chargers.transactions import TransactionRegistry

LOGGER = logging.getLogger("chargers.csms")
SOURCE = "csms"
UNKNOWN_CONNECTOR = 0

_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
# 2.0.1 chargingState -> the connector status the event contract knows
_CHARGING_STATE = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "EVConnected": "Preparing",
}


class Connection(Protocol):
    async def recv(self) -> str | bytes: ...

    async def send(self, message: str) -> None: ...


@dataclass
class CsmsStats:
    """Counters over all connections (for tests, logs and the benchmark)."""

    calls_accepted: int = 0
    calls_rejected: int = 0
    meter_values: int = 0
    connections: int = 0


@dataclass
class _OpenStart:
    """A 2.0.1 transaction whose Started event carried no energy register yet."""

    ts: datetime
    connector_id: int
    id_tag: str | None


@dataclass
class CsmsContext:
    """What every connection shares: estate, clock, producer, transaction ids, counters."""

    inventory: Inventory
    clock: Clock
    producer: BatchingProducer
    registry: TransactionRegistry
    heartbeat_interval_s: int = 300
    stats: CsmsStats = field(default_factory=CsmsStats)
    connectors: dict[tuple[str, str], int] = field(default_factory=dict)
    last_register_wh: dict[tuple[str, str], float] = field(default_factory=dict)
    open_starts: dict[tuple[str, str], _OpenStart] = field(default_factory=dict)
    # charger id -> its protocol object while connected (chargers.commands calls through it)
    live: dict[str, Any] = field(default_factory=dict)

    inventory_path: Path | None = None  # when set, a changed file is re-read for new chargers
    _inventory_mtime_ns: int | None = None

    def knows(self, charger_id: str) -> bool:
        """Is the charger in the estate? Re-reads the inventory file once it has changed."""
        if self.inventory.charger(charger_id) is not None:
            return True
        if self.inventory_path is None:
            return False
        try:
            mtime_ns = self.inventory_path.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        if mtime_ns != self._inventory_mtime_ns:
            self.inventory = load_inventory(self.inventory_path)
            self._inventory_mtime_ns = mtime_ns
        return self.inventory.charger(charger_id) is not None

    def emit(self, topic: Topic, event: BaseModel, charger_id: str) -> None:
        self.producer.put_event(topic, charger_id, event)

    def dead_letter(self, charger_id: str, reason: Reason, detail: str, raw: str | bytes) -> None:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")
        letter = DeadLetter(
            source=SOURCE,
            reason=reason,
            detail=detail,
            raw=text,
            ts=self.clock.now(),
            charger_id=charger_id,
        )
        self.emit(Topic.dead_letter, letter, charger_id)

    async def connector_of(self, charger_id: str, transaction_id: str) -> int:
        """The connector of a running transaction (memory, then the registry, else 0)."""
        key = (charger_id, transaction_id)
        if key not in self.connectors:
            found = await asyncio.to_thread(self.registry.connector_of, charger_id, transaction_id)
            self.connectors[key] = UNKNOWN_CONNECTOR if found is None else found
        return self.connectors[key]

    def forget(self, charger_id: str, transaction_id: str) -> None:
        key = (charger_id, transaction_id)
        self.connectors.pop(key, None)
        self.last_register_wh.pop(key, None)
        self.open_starts.pop(key, None)


_SNAKE: dict[str, str] = {}


def _snake(data: Any) -> Any:
    """camelCase -> snake_case keys, recursively (the library's rules, memoised per key)."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            name = _SNAKE.get(key)
            if name is None:
                name = _SNAKE[key] = next(iter(camel_to_snake_case({key: None})))
            out[name] = _snake(value)
        return out
    if isinstance(data, list):
        return [_snake(v) for v in data]
    return data


def parse_timestamp(text: str) -> datetime:
    """A tz-aware timestamp from the wire; naive or malformed raises :class:`ReadingError`."""
    try:
        return _TIMESTAMP.validate_python(text)
    except ValidationError:
        msg = f"timestamp {text!r} is not an ISO 8601 time with a UTC offset"
        raise ReadingError(msg) from None


Handler = Callable[..., Awaitable[Any]]


class _CentralSystem:
    """Routing shared by both versions: frame -> admit -> schema -> handler -> answer."""

    _ocpp_version: ClassVar[str]
    _protocol: ClassVar[str]
    _boot_action: ClassVar[str]
    route_map: dict[str, dict[str, Any]]
    _response_queue: asyncio.Queue[Any]
    id: str
    _send: Callable[[str], Awaitable[None]]  # from ocpp's ChargePoint

    def __init__(self, charger_id: str, connection: Connection, ctx: CsmsContext) -> None:
        super().__init__(charger_id, connection, logger=LOGGER)  # type: ignore[call-arg]
        self.ctx = ctx
        self.known = ctx.knows(charger_id)
        self._raw: str | bytes = ""

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Answer one frame; never raises for bad input (the connection stays up)."""
        unique_id = frames.UNREADABLE_ID
        try:
            msg = frames.parse(raw_msg, self._ocpp_version)
            if not isinstance(msg, Call):
                self._response_queue.put_nowait(msg)
                return
            unique_id, self._raw = msg.unique_id, raw_msg
            handler = self._admit(msg)
            response = await handler(**_snake(msg.payload))
        except frames.FrameRejected as exc:
            await self._refuse(exc.reject, raw_msg)
            return
        except ReadingError as exc:
            error = ox.PropertyConstraintViolationError(details={"cause": str(exc)[:255]})
            await self._refuse(frames.Reject(error, exc.reason, unique_id), raw_msg)
            return
        except Exception:
            LOGGER.exception("%s: internal error on %r", self.id, raw_msg)
            self.ctx.stats.calls_rejected += 1
            await self._send(frames.call_error(unique_id, ox.InternalError()))
            return
        self.ctx.stats.calls_accepted += 1
        payload = snake_to_camel_case(remove_nones(serialize_as_dict(response)))
        await self._send(CallResult(unique_id, payload).to_json())

    def _admit(self, call: Call) -> Handler:
        routes = self.route_map.get(call.action)
        if routes is None or "_on_action" not in routes:
            raise frames.unknown_action(call, self._ocpp_version)
        if not self.known and call.action != self._boot_action:
            error = ox.SecurityError(details={"cause": f"charger {self.id!r} is not registered"})
            raise frames.FrameRejected(frames.Reject(error, Reason.unknown_charger, call.unique_id))
        frames.check_call(call, self._ocpp_version)
        handler: Handler = routes["_on_action"]
        return handler

    async def _refuse(self, reject: frames.Reject, raw: str | bytes) -> None:
        self.ctx.stats.calls_rejected += 1
        self.ctx.dead_letter(
            self.id, reject.reason, f"{reject.error.code}: {reject.error.details}", raw
        )
        await self._send(frames.call_error(reject.unique_id, reject.error))

    # -- shared handler bodies -------------------------------------------------------------

    def _boot(self, vendor: str, model: str) -> tuple[str, bool]:
        now = self.ctx.clock.now()
        event = Boot(
            charger_id=self.id,
            ts=now,
            vendor=vendor,
            model=model,
            protocol=self._protocol,  # type: ignore[arg-type]
            accepted=self.known,
        )
        self.ctx.emit(Topic.connector_status, event, self.id)
        return iso(now), self.known

    def _heartbeat(self) -> str:
        now = self.ctx.clock.now()
        self.ctx.emit(Topic.connector_status, Heartbeat(charger_id=self.id, ts=now), self.id)
        return iso(now)

    def _status(self, connector_id: int, status: str, ts: datetime, error_code: str) -> None:
        event = ConnectorStatus(
            charger_id=self.id,
            ts=ts,
            connector_id=connector_id,
            status=status,  # type: ignore[arg-type]
            error_code=error_code,
        )
        self.ctx.emit(Topic.connector_status, event, self.id)

    def _readings(
        self, readings: list[Reading], connector_id: int, transaction_id: str | None
    ) -> None:
        for reading in readings:
            event = meter_event(reading, self.id, connector_id, transaction_id)
            if event is None:
                continue
            self.ctx.stats.meter_values += 1
            self.ctx.emit(Topic.meter_readings, event, self.id)
            register = register_of(reading)
            if transaction_id is not None and register is not None:
                self.ctx.last_register_wh[(self.id, transaction_id)] = register

    def _started(
        self,
        ts: datetime,
        connector_id: int,
        transaction_id: str,
        meter_start_wh: float,
        id_tag: str | None,
    ) -> None:
        event = TransactionStarted(
            charger_id=self.id,
            ts=ts,
            connector_id=connector_id,
            transaction_id=transaction_id,
            meter_start_wh=meter_start_wh,
            id_tag=id_tag,
            protocol=self._protocol,  # type: ignore[arg-type]
        )
        self.ctx.emit(Topic.meter_readings, event, self.id)

    def _ended(
        self,
        ts: datetime,
        connector_id: int,
        transaction_id: str,
        meter_stop_wh: float,
        reason: str,
    ) -> None:
        event = TransactionEnded(
            charger_id=self.id,
            ts=ts,
            connector_id=connector_id,
            transaction_id=transaction_id,
            meter_stop_wh=meter_stop_wh,
            reason=reason,
        )
        self.ctx.emit(Topic.meter_readings, event, self.id)
        self.ctx.forget(self.id, transaction_id)


_ACCEPTED_16 = IdTagInfo(status=AuthorizationStatus.accepted)


class CentralSystem16(_CentralSystem, ChargePoint16):
    """OCPP 1.6J central system for one charge point."""

    _protocol = "ocpp1.6"
    _boot_action = Action16.boot_notification.value

    @on(Action16.boot_notification, skip_schema_validation=True)
    async def on_boot(
        self, charge_point_vendor: str, charge_point_model: str, **_: Any
    ) -> result16.BootNotification:
        now, accepted = self._boot(charge_point_vendor, charge_point_model)
        status = RegistrationStatus.accepted if accepted else RegistrationStatus.rejected
        return result16.BootNotification(
            current_time=now, interval=self.ctx.heartbeat_interval_s, status=status
        )

    @on(Action16.heartbeat, skip_schema_validation=True)
    async def on_heartbeat(self, **_: Any) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=self._heartbeat())

    @on(Action16.status_notification, skip_schema_validation=True)
    async def on_status(
        self,
        connector_id: int,
        error_code: str,
        status: str,
        timestamp: str | None = None,
        **_: Any,
    ) -> result16.StatusNotification:
        ts = self.ctx.clock.now() if timestamp is None else _ts(timestamp)
        self._status(connector_id, status, ts, error_code)
        return result16.StatusNotification()

    @on(Action16.authorize, skip_schema_validation=True)
    async def on_authorize(self, id_tag: str, **_: Any) -> result16.Authorize:
        return result16.Authorize(id_tag_info=_ACCEPTED_16)

    @on(Action16.start_transaction, skip_schema_validation=True)
    async def on_start(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> result16.StartTransaction:
        ts = _ts(timestamp)
        tx = await asyncio.to_thread(self.ctx.registry.allocate, self.id, connector_id)
        self.ctx.connectors[(self.id, str(tx))] = connector_id
        self._started(ts, connector_id, str(tx), meter_start, id_tag)
        return result16.StartTransaction(transaction_id=tx, id_tag_info=_ACCEPTED_16)

    @on(Action16.meter_values, skip_schema_validation=True)
    async def on_meter_values(
        self,
        connector_id: int,
        meter_value: list[dict[str, Any]],
        transaction_id: int | None = None,
        **_: Any,
    ) -> result16.MeterValues:
        readings = readings_16(meter_value)
        tx = None if transaction_id is None else str(transaction_id)
        self._readings(readings, connector_id, tx)
        return result16.MeterValues()

    @on(Action16.stop_transaction, skip_schema_validation=True)
    async def on_stop(
        self,
        meter_stop: int,
        timestamp: str,
        transaction_id: int,
        reason: str | None = None,
        id_tag: str | None = None,
        transaction_data: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> result16.StopTransaction:
        ts = _ts(timestamp)
        readings = readings_16(transaction_data or [])
        tx = str(transaction_id)
        connector_id = await self.ctx.connector_of(self.id, tx)
        self._readings(readings, connector_id, tx)
        self._ended(ts, connector_id, tx, meter_stop, reason or "Local")
        return result16.StopTransaction(id_tag_info=None if id_tag is None else _ACCEPTED_16)


_ACCEPTED_201 = IdTokenInfoType(status=AuthorizationStatusEnumType.accepted)


class CentralSystem201(_CentralSystem, ChargePoint201):
    """OCPP 2.0.1 central system for one charging station (EVSE id = our connector id)."""

    _protocol = "ocpp2.0.1"
    _boot_action = Action201.boot_notification.value

    @on(Action201.boot_notification, skip_schema_validation=True)
    async def on_boot(
        self, charging_station: dict[str, Any], **_: Any
    ) -> result201.BootNotification:
        now, accepted = self._boot(charging_station["vendor_name"], charging_station["model"])
        status = (
            RegistrationStatusEnumType.accepted if accepted else RegistrationStatusEnumType.rejected
        )
        return result201.BootNotification(
            current_time=now, interval=self.ctx.heartbeat_interval_s, status=status
        )

    @on(Action201.heartbeat, skip_schema_validation=True)
    async def on_heartbeat(self, **_: Any) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=self._heartbeat())

    @on(Action201.status_notification, skip_schema_validation=True)
    async def on_status(
        self, timestamp: str, connector_status: str, evse_id: int, **_: Any
    ) -> result201.StatusNotification:
        self._status(evse_id, connector_status, _ts(timestamp), "NoError")
        return result201.StatusNotification()

    @on(Action201.authorize, skip_schema_validation=True)
    async def on_authorize(self, **_: Any) -> result201.Authorize:
        return result201.Authorize(id_token_info=_ACCEPTED_201)

    @on(Action201.meter_values, skip_schema_validation=True)
    async def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **_: Any
    ) -> result201.MeterValues:
        self._readings(readings_201(meter_value), evse_id, None)
        return result201.MeterValues()

    @on(Action201.transaction_event, skip_schema_validation=True)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        transaction_info: dict[str, Any],
        meter_value: list[dict[str, Any]] | None = None,
        evse: dict[str, Any] | None = None,
        id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> result201.TransactionEvent:
        ts = _ts(timestamp)
        readings = readings_201(meter_value or [])
        tx: str = transaction_info["transaction_id"]
        connector_id = await self._evse_of(tx, evse)
        if event_type == "Started":
            id_tag = None if id_token is None else id_token["id_token"]
            self.ctx.open_starts[(self.id, tx)] = _OpenStart(ts, connector_id, id_tag)
        self._close_open_start(tx, readings)
        self._readings(readings, connector_id, tx)
        state = transaction_info.get("charging_state")
        if state in _CHARGING_STATE:
            self._status(connector_id, _CHARGING_STATE[state], ts, "NoError")
        if event_type == "Ended":
            self._end_201(ts, connector_id, tx, transaction_info.get("stopped_reason"))
        return result201.TransactionEvent(id_token_info=None if id_token is None else _ACCEPTED_201)

    async def _evse_of(self, tx: str, evse: dict[str, Any] | None) -> int:
        if evse is None:
            return await self.ctx.connector_of(self.id, tx)
        connector_id = int(evse["id"])
        key = (self.id, tx)
        if key not in self.ctx.connectors:
            await asyncio.to_thread(self.ctx.registry.remember, self.id, tx, connector_id)
            self.ctx.connectors[key] = connector_id
        return connector_id

    def _close_open_start(self, tx: str, readings: list[Reading]) -> None:
        """Log TransactionStarted once the first energy register of the transaction is known."""
        start = self.ctx.open_starts.get((self.id, tx))
        register = next((r for r in map(register_of, readings) if r is not None), None)
        if start is None or register is None:
            return
        del self.ctx.open_starts[(self.id, tx)]
        self._started(start.ts, start.connector_id, tx, register, start.id_tag)

    def _end_201(self, ts: datetime, connector_id: int, tx: str, reason: str | None) -> None:
        stop = self.ctx.last_register_wh.get((self.id, tx))
        if stop is None:
            detail = f"transaction {tx} ended without any energy register reading"
            self.ctx.dead_letter(self.id, Reason.energy_missing, detail, self._raw)
            self.ctx.forget(self.id, tx)
            return
        self._ended(ts, connector_id, tx, stop, reason or "Local")


def _ts(text: str) -> datetime:
    return parse_timestamp(text)


def protocol_for(subprotocol: str) -> type[CentralSystem16] | type[CentralSystem201]:
    """The protocol class for a negotiated WebSocket subprotocol."""
    return CentralSystem201 if subprotocol == "ocpp2.0.1" else CentralSystem16
