"""Meter readings: OCPP sampled values (1.6J and 2.0.1) -> :class:`chargegrid.events.MeterValue`.

One event per sampled timestamp, carrying every measurand we keep, in base units:
Energy.Active.Import.Register (Wh, kWh -> Wh), Power.Active.Import (W, kW -> W), Current.Import
(A), Voltage (V), SoC (%). Other measurands are not part of the event contract and are not kept.
Per-phase values without a total are combined: energy and power summed, current the largest
phase, voltage the mean. A value that is not a finite number, a unit that does not fit its
measurand, or a naive timestamp raises :class:`ReadingError` (the CSMS answers it with a
CallError and dead-letters the message).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chargegrid.events import MeterValue, Reason

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"
SOC = "SoC"
DEFAULT_CONTEXT = "Sample.Periodic"

# measurand -> (event field, {unit: factor to the base unit}, base unit)
_UNITS: dict[str, tuple[str, dict[str, float], str]] = {
    ENERGY: ("energy_register_wh", {"Wh": 1.0, "kWh": 1000.0}, "Wh"),
    POWER: ("power_w", {"W": 1.0, "kW": 1000.0}, "W"),
    CURRENT: ("current_a", {"A": 1.0}, "A"),
    VOLTAGE: ("voltage_v", {"V": 1.0}, "V"),
    SOC: ("soc_pct", {"Percent": 1.0}, "Percent"),
}
_PHASES = ("L1", "L2", "L3", "L1-N", "L2-N", "L3-N")


class ReadingError(ValueError):
    """A reading the CSMS cannot accept; ``reason`` is the dead-letter reason."""

    def __init__(self, detail: str, reason: Reason = Reason.schema_invalid) -> None:
        super().__init__(detail)
        self.reason = reason


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SampledValue16(_Model):
    value: str
    context: str = DEFAULT_CONTEXT
    format: str = "Raw"
    measurand: str = ENERGY
    phase: str | None = None
    unit: str | None = None


class MeterValue16(_Model):
    timestamp: AwareDatetime
    sampled_value: Annotated[tuple[SampledValue16, ...], Field(min_length=1)]


class UnitOfMeasure201(_Model):
    unit: str | None = None
    multiplier: int = 0


class SampledValue201(_Model):
    value: float
    context: str = DEFAULT_CONTEXT
    measurand: str = ENERGY
    phase: str | None = None
    unit_of_measure: UnitOfMeasure201 | None = None


class MeterValue201(_Model):
    timestamp: AwareDatetime
    sampled_value: Annotated[tuple[SampledValue201, ...], Field(min_length=1)]


_METER_VALUES_16: TypeAdapter[list[MeterValue16]] = TypeAdapter(list[MeterValue16])
_METER_VALUES_201: TypeAdapter[list[MeterValue201]] = TypeAdapter(list[MeterValue201])


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampled value in base units."""

    measurand: str
    value: float
    phase: str | None
    context: str


@dataclass(frozen=True, slots=True)
class Reading:
    """All samples of one timestamp."""

    ts: datetime
    samples: tuple[Sample, ...]


def _validated(adapter: TypeAdapter[Any], data: object) -> Any:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(p) for p in first["loc"])
        msg = f"meterValue/{where}: {first['msg']}"
        raise ReadingError(msg) from None


def _base_value(measurand: str, value: float, unit: str | None) -> float:
    if not math.isfinite(value):
        msg = f"{measurand} value {value!r} is not a finite number"
        raise ReadingError(msg, Reason.implausible_value)
    _, factors, base = _UNITS[measurand]
    factor = factors.get(unit or base)
    if factor is None:
        msg = f"{measurand} in unit {unit!r}; expected one of {sorted(factors)}"
        raise ReadingError(msg)
    return value * factor


def _sample_16(sv: SampledValue16) -> Sample | None:
    if sv.measurand not in _UNITS or sv.format == "SignedData":
        return None
    try:
        number = float(sv.value)
    except ValueError:
        msg = f"{sv.measurand} value {sv.value!r} is not a number"
        raise ReadingError(msg) from None
    return Sample(sv.measurand, _base_value(sv.measurand, number, sv.unit), sv.phase, sv.context)


def _sample_201(sv: SampledValue201) -> Sample | None:
    if sv.measurand not in _UNITS:
        return None
    uom = sv.unit_of_measure or UnitOfMeasure201()
    number = sv.value * 10.0**uom.multiplier
    return Sample(sv.measurand, _base_value(sv.measurand, number, uom.unit), sv.phase, sv.context)


def readings_16(meter_value: object) -> list[Reading]:
    """Parse a 1.6J ``meterValue`` list (snake_case keys)."""
    parsed: list[MeterValue16] = _validated(_METER_VALUES_16, meter_value)
    return [_reading(mv.timestamp, map(_sample_16, mv.sampled_value)) for mv in parsed]


def readings_201(meter_value: object) -> list[Reading]:
    """Parse a 2.0.1 ``meterValue`` list (snake_case keys)."""
    parsed: list[MeterValue201] = _validated(_METER_VALUES_201, meter_value)
    return [_reading(mv.timestamp, map(_sample_201, mv.sampled_value)) for mv in parsed]


def _reading(ts: datetime, samples: Iterable[Sample | None]) -> Reading:
    return Reading(ts=ts, samples=tuple(s for s in samples if s is not None))


def _combine(measurand: str, samples: Sequence[Sample]) -> float | None:
    totals = [s.value for s in samples if s.phase is None]
    if totals:
        return totals[-1]
    phases = [s.value for s in samples if s.phase in _PHASES]
    if not phases:
        return None
    if measurand in (ENERGY, POWER):
        return sum(phases)
    if measurand == CURRENT:
        return max(phases)
    return sum(phases) / len(phases)


def meter_event(
    reading: Reading, charger_id: str, connector_id: int, transaction_id: str | None
) -> MeterValue | None:
    """The event for one reading, or None when it has none of the measurands we keep."""
    fields: dict[str, float] = {}
    for measurand, (field, _, _) in _UNITS.items():
        value = _combine(measurand, [s for s in reading.samples if s.measurand == measurand])
        if value is not None:
            fields[field] = value
    if not fields:
        return None
    context = next((s.context for s in reading.samples), DEFAULT_CONTEXT)
    return MeterValue.model_validate(
        {
            "charger_id": charger_id,
            "ts": reading.ts,
            "connector_id": connector_id,
            "transaction_id": transaction_id,
            "context": context,
            **fields,
        }
    )


def register_of(reading: Reading) -> float | None:
    """The energy register (Wh) of a reading, if it has one."""
    return _combine(ENERGY, [s for s in reading.samples if s.measurand == ENERGY])
