"""Price slots: the prices a driver's stay runs through, one slot per price interval.

A :class:`Slots` is ``n`` back-to-back intervals ``[start_us[i], end_us[i])`` (UTC µs) covering a
stay from arrival to departure, each at one energy price ``price[i]`` (µminor of the tariff's
currency per kWh, may be negative) and, optionally, a carbon intensity ``carbon[i]`` (g CO₂/kWh).
The slot granularity is the price resolution: a time-of-use band, or an hour of a day-ahead
series; the first and last slots are cut at arrival and departure.

Slots come from a tariff through :func:`chargegrid.tariffs.compile_tariff` (the same compilation
the billing kernel uses), so DST days (23 or 25 hours, ENTSO-E's missing and repeated hours) and
holes in a price series behave exactly as in billing: a hole in the stay is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from chargegrid.errors import ChargegridError
from chargegrid.sources.entsoe import load_entsoe_prices
from chargegrid.tariffs import PriceSeries, Tariff, compile_tariff, to_us

US_PER_H = 3_600_000_000


class AdviceInputError(ChargegridError):
    """A charging request or its price/availability inputs cannot be used as given."""


@dataclass(frozen=True, slots=True)
class Slots:
    """Back-to-back price intervals of a stay (see the module docstring)."""

    start_us: npt.NDArray[np.int64]
    end_us: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]  # µminor/kWh (float: carbon-weighted objectives mix in)
    currency: str = "EUR"
    carbon: npt.NDArray[np.float64] | None = None  # g CO2/kWh
    origin: str = ""
    hours: npt.NDArray[np.float64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.start_us)
        if n == 0:
            msg = "no price slots: the stay is empty"
            raise AdviceInputError(msg)
        if len(self.end_us) != n or len(self.price) != n:
            msg = "slot starts, ends and prices must have one value per slot"
            raise AdviceInputError(msg)
        if np.any(self.end_us <= self.start_us) or np.any(self.start_us[1:] != self.end_us[:-1]):
            msg = "slots must be non-empty and back to back (no gap, no overlap)"
            raise AdviceInputError(msg)
        if not np.all(np.isfinite(self.price)):
            msg = "a slot price is missing (NaN) or infinite"
            raise AdviceInputError(msg)
        if self.carbon is not None and (
            len(self.carbon) != n or not np.all(np.isfinite(self.carbon))
        ):
            msg = "carbon intensity needs one finite value per slot"
            raise AdviceInputError(msg)
        hours = (self.end_us - self.start_us).astype(np.float64) / US_PER_H
        object.__setattr__(self, "hours", hours)

    def __len__(self) -> int:
        return len(self.start_us)

    @property
    def arrival_us(self) -> int:
        return int(self.start_us[0])

    @property
    def departure_us(self) -> int:
        return int(self.end_us[-1])

    def objective(self, carbon_price_per_kg: float = 0.0) -> npt.NDArray[np.float64]:
        """µminor/kWh to minimise: price plus ``carbon_price_per_kg`` (µminor per kg CO₂)
        times the carbon intensity, when a carbon series is given."""
        if carbon_price_per_kg == 0.0 or self.carbon is None:
            return self.price
        return self.price + carbon_price_per_kg * self.carbon / 1000.0


def slots_between(
    start_us: npt.NDArray[np.int64],
    end_us: npt.NDArray[np.int64],
    price: npt.NDArray[np.float64],
    arrival_us: int,
    departure_us: int,
    *,
    currency: str = "EUR",
    carbon: npt.NDArray[np.float64] | None = None,
    origin: str = "",
) -> Slots:
    """The slots of ``[arrival_us, departure_us)`` from a sorted price series; a stay that is
    not fully covered, or runs through a hole, is refused."""
    if departure_us <= arrival_us:
        msg = "departure must be after arrival"
        raise AdviceInputError(msg)
    first = int(np.searchsorted(end_us, arrival_us, side="right"))
    last = int(np.searchsorted(start_us, departure_us, side="left"))
    if first >= last or start_us[first] > arrival_us or end_us[last - 1] < departure_us:
        msg = f"{origin or 'prices'}: no price for part of the stay"
        raise AdviceInputError(msg)
    s = start_us[first:last].astype(np.int64).copy()
    e = end_us[first:last].astype(np.int64).copy()
    if np.any(s[1:] != e[:-1]):
        msg = f"{origin or 'prices'}: a price is missing inside the stay"
        raise AdviceInputError(msg)
    s[0], e[-1] = arrival_us, departure_us
    cut_carbon = None if carbon is None else np.asarray(carbon[first:last], np.float64)
    return Slots(
        s,
        e,
        np.asarray(price[first:last], np.float64),
        currency,
        cut_carbon,
        origin,
    )


def tariff_slots(
    tariff: Tariff,
    arrival: datetime,
    departure: datetime,
    prices: PriceSeries | None = None,
) -> Slots:
    """The stay's energy-price slots under ``tariff`` (µminor/kWh, net of tax).

    Per-minute and per-session prices are the same whenever the energy is delivered within a
    fixed stay, so they do not move the optimum; :func:`models.advise.billing.bill_plan` adds
    them (and taxes) when pricing a plan.
    """
    if arrival.tzinfo is None or departure.tzinfo is None:
        msg = "arrival and departure need a time zone (e.g. 2018-03-25T08:00+01:00)"
        raise AdviceInputError(msg)
    compiled = compile_tariff(tariff, arrival, departure, prices)
    bounds = compiled.boundaries_us
    return slots_between(
        bounds[:-1],
        bounds[1:],
        compiled.piece_price.astype(np.float64),
        to_us(arrival),
        to_us(departure),
        currency=tariff.currency,
        origin=f"tariff {tariff.id}",
    )


def refine(slots: Slots, bounds_us: npt.ArrayLike) -> Slots:
    """``slots`` split at every boundary of ``bounds_us`` inside the stay (e.g. the hours of an
    occupancy forecast), each piece keeping its slot's price and carbon."""
    cuts = np.asarray(bounds_us, np.int64)
    inner = cuts[(cuts > slots.arrival_us) & (cuts < slots.departure_us)]
    edges = np.unique(np.concatenate([slots.start_us, [slots.departure_us], inner]))
    owner = np.searchsorted(slots.start_us, edges[:-1], side="right") - 1
    carbon = None if slots.carbon is None else slots.carbon[owner]
    return Slots(
        edges[:-1].copy(),
        edges[1:].copy(),
        slots.price[owner],
        slots.currency,
        carbon,
        slots.origin,
    )


def per_slot(
    slots: Slots,
    start_us: npt.ArrayLike,
    end_us: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    what: str = "value",
) -> npt.NDArray[np.float64]:
    """The value of the interval ``[start_us[k], end_us[k])`` holding each slot's start (refine
    the slots at those intervals first so none straddles two); a slot no interval covers is
    refused."""
    starts = np.asarray(start_us, np.int64)
    ends = np.asarray(end_us, np.int64)
    vals = np.asarray(values, np.float64)
    k = np.searchsorted(starts, slots.start_us, side="right") - 1
    if np.any(k < 0) or np.any(ends[np.clip(k, 0, None)] < slots.end_us):
        msg = f"no {what} for part of the stay"
        raise AdviceInputError(msg)
    return np.asarray(vals[k], np.float64)


def load_prices(paths: list[Path]) -> PriceSeries | None:
    """ENTSO-E exports (files or folders of ``*.csv``) as one series; None when none given."""
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.csv")) if path.is_dir() else [path]
    return PriceSeries.concat([load_entsoe_prices(f) for f in files]) if files else None
