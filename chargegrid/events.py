"""Event contracts: what producers append to the event log and the pipeline consumes.

Every record on the log is one JSON object (UTF-8 bytes). Producers build these models and
serialise them with :func:`encode`; the pipeline decodes raw bytes and dead-letters anything that
does not parse into one of them, with a :class:`Reason`.

Units are in the field names: energy in Wh, power in W, current in A, voltage in V, state of charge
in percent; all times tz-aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter


class Topic(StrEnum):
    """Event-log topics. Records of one charger always land in the same partition."""

    meter_readings = "meter_readings"  # transaction_started, meter_value, transaction_ended
    connector_status = "connector_status"  # status, boot, heartbeat
    order_events = "order_events"  # Beckn order lifecycle (orders/)
    dead_letter = "dead_letter"  # records a producer rejected before the pipeline


class Reason(StrEnum):
    """Why a record went to the dead-letter table instead of the warehouse."""

    undecodable = "undecodable"  # not UTF-8 JSON
    schema_invalid = "schema_invalid"  # JSON, but fields missing or mistyped
    unknown_kind = "unknown_kind"
    unknown_transaction = "unknown_transaction"  # reading/stop for a transaction never started
    duplicate = "duplicate"
    register_backwards = "register_backwards"
    implausible_value = "implausible_value"  # NaN, negative power, ...
    unknown_connector = "unknown_connector"  # a connector the inventory does not list
    out_of_order = "out_of_order"  # older than the transaction's last reading
    future_timestamp = "future_timestamp"  # later than the pipeline clock plus the tolerated skew
    unit_mismatch = "unit_mismatch"  # kWh sent where Wh is expected
    unknown_order = "unknown_order"  # an order event for an order whose creation was never seen
    # replay / import rejections (producer side)
    no_end = "no_end"
    end_before_start = "end_before_start"
    energy_missing = "energy_missing"
    energy_negative = "energy_negative"
    energy_exceeds_outlet = "energy_exceeds_outlet"
    unknown_charger = "unknown_charger"
    sentinel_date = "sentinel_date"
    unparseable_row = "unparseable_row"
    overlapping_session = "overlapping_session"
    test_site = "test_site"
    zero_duration = "zero_duration"  # plugged out the minute it plugged in
    zero_energy = "zero_energy"  # plugged in, nothing delivered
    not_ev_charging = "not_ev_charging"  # a registry row for another fuel


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    charger_id: Annotated[str, Field(min_length=1, max_length=64)]
    ts: AwareDatetime


class TransactionStarted(_Event):
    kind: Literal["transaction_started"] = "transaction_started"
    connector_id: Annotated[int, Field(ge=0)]
    transaction_id: Annotated[str, Field(min_length=1, max_length=64)]
    meter_start_wh: Annotated[float, Field(ge=0)]
    id_tag: str | None = None
    protocol: Literal["ocpp1.6", "ocpp2.0.1"] = "ocpp1.6"


class MeterValue(_Event):
    kind: Literal["meter_value"] = "meter_value"
    connector_id: Annotated[int, Field(ge=0)]
    transaction_id: str | None = None
    energy_register_wh: float | None = None
    power_w: float | None = None
    current_a: float | None = None
    voltage_v: float | None = None
    soc_pct: float | None = None
    context: str = "Sample.Periodic"


class TransactionEnded(_Event):
    kind: Literal["transaction_ended"] = "transaction_ended"
    connector_id: Annotated[int, Field(ge=0)]
    transaction_id: Annotated[str, Field(min_length=1, max_length=64)]
    meter_stop_wh: Annotated[float, Field(ge=0)]
    reason: str = "Local"


ConnectorStatusValue = Literal[
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
    "Occupied",
]


class ConnectorStatus(_Event):
    kind: Literal["status"] = "status"
    connector_id: Annotated[int, Field(ge=0)]
    status: ConnectorStatusValue
    error_code: str = "NoError"


class Boot(_Event):
    kind: Literal["boot"] = "boot"
    vendor: str = ""
    model: str = ""
    protocol: Literal["ocpp1.6", "ocpp2.0.1"] = "ocpp1.6"
    accepted: bool = True


class Heartbeat(_Event):
    kind: Literal["heartbeat"] = "heartbeat"


class DeadLetter(BaseModel):
    """A record a producer (CSMS, replay, importer) rejected, with the untouched input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["dead_letter"] = "dead_letter"
    source: str  # e.g. "replay:dundee", "csms"
    reason: Reason
    detail: str
    raw: str
    ts: AwareDatetime
    charger_id: str | None = None


MeterRecord = Annotated[
    TransactionStarted | MeterValue | TransactionEnded, Field(discriminator="kind")
]
StatusRecord = Annotated[ConnectorStatus | Boot | Heartbeat, Field(discriminator="kind")]

METER_RECORD: TypeAdapter[TransactionStarted | MeterValue | TransactionEnded] = TypeAdapter(
    MeterRecord
)
STATUS_RECORD: TypeAdapter[ConnectorStatus | Boot | Heartbeat] = TypeAdapter(StatusRecord)


def encode(event: BaseModel) -> bytes:
    """Serialise an event for the log (compact JSON, UTC ISO-8601 times)."""
    return event.model_dump_json(exclude_none=True).encode()


def partition_key(event: _Event | DeadLetter) -> str:
    """Records of one charger share a key, hence a partition, hence an order."""
    return event.charger_id or ""


def session_id(charger_id: str, transaction_id: str) -> str:
    """Warehouse key of a charging session."""
    return f"{charger_id}/{transaction_id}"


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")
