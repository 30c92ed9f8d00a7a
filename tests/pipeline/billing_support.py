"""Helpers shared by the billing tests: build tariffs and sessions, run kernel or reference."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from chargegrid.tariffs import CompiledTariff, Tariff, compile_tariff, load_tariff, to_us
from pipeline.kernels.billing import (
    UNKNOWN_US,
    BillArrays,
    bill_sessions_kernel,
    bill_sessions_reference,
)

TARIFFS = Path(__file__).resolve().parents[2] / "data" / "tariffs"
Reading = tuple[datetime, float, float]  # (ts, register_wh or NaN, power_w or NaN)
NAN = math.nan


def tariff(name: str) -> Tariff:
    return load_tariff(TARIFFS / f"{name}.json")


def make_tariff(**fields: Any) -> Tariff:
    """A tariff from keyword fields (GBP, Europe/London, flat 0.20/kWh unless given)."""
    base: dict[str, Any] = {
        "id": "test",
        "name": "test",
        "currency": "GBP",
        "timezone": "Europe/London",
        "energy": [
            {"name": "all", "bands": [{"name": "flat", "start": "00:00", "price_per_kwh": "0.20"}]}
        ],
    }
    base.update(fields)
    return Tariff.model_validate(base)


def steady(start: datetime, minutes: int, power_w: float, step_min: float = 1.0) -> list[Reading]:
    """Register readings of a constant-power session, every ``step_min`` minutes."""
    steps = int(minutes / step_min)
    out = []
    for k in range(steps + 1):
        at = start + timedelta(minutes=k * step_min)
        out.append((at, 10_000.0 + power_w * k * step_min / 60.0, NAN))
    return out


def run(
    compiled: CompiledTariff,
    sessions: Sequence[Sequence[Reading]],
    plugs: Sequence[tuple[datetime | None, datetime | None]] | None = None,
    *,
    reference: bool = False,
    reset_fraction: float = 0.5,
    rollover_modulus_wh: float = 0.0,
    gap_s: float = 900.0,
    parallel: bool | None = None,
    out: BillArrays | None = None,
) -> BillArrays:
    """Bill ``sessions`` (readings in the given order) with the kernel or the reference
    (``parallel``: the kernel's threading choice, None = by batch size; ``out``: the kernel's
    output arrays to write into)."""
    sizes = [len(s) for s in sessions]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    flat = [r for s in sessions for r in s]
    ts = np.array([to_us(r[0]) for r in flat], np.int64)
    reg = np.array([r[1] for r in flat], np.float64)
    pw = np.array([r[2] for r in flat], np.float64)
    plugs = plugs or [(None, None)] * len(sessions)
    plug_in = np.array([to_us(a) if a else UNKNOWN_US for a, _ in plugs], np.int64)
    plug_out = np.array([to_us(b) if b else UNKNOWN_US for _, b in plugs], np.int64)
    kernel = partial(bill_sessions_kernel, parallel=parallel, out=out)
    fn = bill_sessions_reference if reference else kernel
    return fn(
        starts,
        ts,
        reg,
        pw,
        plug_in,
        plug_out,
        compiled.boundaries_us,
        compiled.piece_line,
        compiled.piece_price,
        len(compiled.line_names),
        compiled.fees,
        compiled.tax_ppm,
        reset_fraction,
        rollover_modulus_wh,
        gap_s,
    )


def compiled_for(t: Tariff, start: datetime, end: datetime) -> CompiledTariff:
    return compile_tariff(t, start - timedelta(days=1), end + timedelta(days=1))


def energy_by_line(compiled: CompiledTariff, out: BillArrays, s: int = 0) -> dict[str, int]:
    """mWh per line name (summed over equal names), zero lines left out."""
    result: dict[str, int] = {}
    for k, name in enumerate(compiled.line_names):
        if out[0][s, k]:
            result[name] = result.get(name, 0) + int(out[0][s, k])
    return result


def minor_by_line(compiled: CompiledTariff, out: BillArrays, s: int = 0) -> dict[str, int]:
    result: dict[str, int] = {}
    for k, name in enumerate(compiled.line_names):
        if out[0][s, k]:
            result[name] = result.get(name, 0) + int(out[1][s, k])
    return result


def price(value: str) -> Decimal:
    return Decimal(value)
