"""Tariffs as data: the immutable tariff model, its loader, and its compilation for the kernel.

A tariff file (JSON, ``data/tariffs/*.json``) is parsed into :class:`Tariff` and validated on
load; errors name the file and the field. Prices in files are decimal **major** units of the
tariff's ISO 4217 currency (``"0.15"`` GBP = 15 pence). Inside, prices become integers:

* energy prices: ``µminor`` per kWh (1e-6 minor unit; 0.14903 USD/kWh = 14_903_000), so any
  price with up to 6 decimals of the minor unit is exact; a finer price is refused, not rounded;
* per-minute prices: µminor per minute; fees, minimum and maximum: minor units;
* tax rates: parts per million of the net (20 % VAT = 200_000).

Energy pricing is either time-of-use (:class:`TouSchedule` list) or dynamic (a day-ahead price
series plus a margin, :class:`DynamicEnergy`). Time-of-use rules, evaluated in the tariff's IANA
time zone:

* a schedule applies on a local date when its season window (``MM-DD`` to ``MM-DD`` inclusive,
  wrapping the year end when start > end), its day kind (weekdays Mon–Fri / weekends / all) and
  its optional absolute ``valid_from``/``valid_until`` dates all match; the **first** matching
  schedule wins (acnportal's rule); every date must be covered by one, else the tariff is refused;
* a band runs from its local start time until the next band's start (the last one until the
  next local midnight, where the next date's schedule takes over);
* a band start that does not exist locally (spring-forward gap) begins when the clock reaches
  it, i.e. at the transition instant; one that happens twice (fall-back) begins at its first
  occurrence. So a 23-hour day has 23 hours of bands and a 25-hour day 25.

:func:`compile_tariff` turns a tariff and a UTC time range into flat arrays (band boundaries in
UTC microseconds, one price and one breakup line per piece) so the Numba kernel only walks sorted
integers. Line ``k`` of the breakup is ``energy:<band name>`` at one unit price.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from chargegrid.errors import ChargegridError
from chargegrid.inventory import Inventory

MICRO = 1_000_000  # µminor per minor unit; also ppm per unit rate
US_PER_S = 1_000_000
NO_MAXIMUM = -1  # maximum_minor when the tariff has no cap

# ISO 4217 minor-unit exponents of the currencies we accept.
CURRENCY_EXPONENT: dict[str, int] = {
    "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2,
    "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0, "JPY": 0, "KRW": 0,
    "KWD": 3, "MXN": 2, "NOK": 2, "NZD": 2, "PLN": 2, "SEK": 2, "SGD": 2, "THB": 2, "TRY": 2,
    "USD": 2, "ZAR": 2,
}  # fmt: skip

_MONTH_DAY = re.compile(r"^(\d{1,2})-(\d{1,2})$")
_HH_MM = re.compile(r"^(\d{1,2}):(\d{2})$")


class TariffError(ChargegridError):
    """A tariff file or a price series cannot be used; the message says which and where."""


Price = Annotated[Decimal, Field(allow_inf_nan=False)]
NonNegativePrice = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TouBand(_Frozen):
    """One time-of-use band: from local ``start`` (``HH:MM``) until the next band starts."""

    name: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.@-]+$")]
    start: str
    price_per_kwh: Price

    @field_validator("start")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        minutes_of_day(value)
        return value

    @property
    def start_minute(self) -> int:
        return minutes_of_day(self.start)


class TouSchedule(_Frozen):
    """The bands of the local dates this schedule covers (first matching schedule wins)."""

    name: Annotated[str, Field(min_length=1, max_length=60)]
    season_start: str = "01-01"  # MM-DD, inclusive
    season_end: str = "12-31"  # MM-DD, inclusive; before season_start = wraps the year end
    days: Literal["all", "weekdays", "weekends"] = "all"
    valid_from: date | None = None  # absolute dates (a price change), inclusive
    valid_until: date | None = None
    bands: Annotated[tuple[TouBand, ...], Field(min_length=1)]

    @field_validator("season_start", "season_end")
    @classmethod
    def _month_day(cls, value: str) -> str:
        month_day(value)
        return value

    @model_validator(mode="after")
    def _bands_cover_the_day(self) -> TouSchedule:
        starts = [band.start_minute for band in self.bands]
        if starts[0] != 0:
            msg = "the first band must start at 00:00"
            raise ValueError(msg)
        if any(b <= a for a, b in pairwise(starts)):
            msg = "band starts must be strictly increasing"
            raise ValueError(msg)
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            msg = "valid_until is before valid_from"
            raise ValueError(msg)
        return self

    def applies(self, day: date) -> bool:
        """Whether this schedule's season, day kind and validity cover local ``day``."""
        if self.valid_from and day < self.valid_from:
            return False
        if self.valid_until and day > self.valid_until:
            return False
        return self.recurs_on(day)

    def recurs_on(self, day: date) -> bool:
        """Whether the season window and day kind (ignoring validity dates) cover ``day``."""
        weekend = day.weekday() >= 5
        if (self.days == "weekdays" and weekend) or (self.days == "weekends" and not weekend):
            return False
        start, end = month_day(self.season_start), month_day(self.season_end)
        today = (day.month, day.day)
        if start <= end:
            return start <= today <= end
        return today >= start or today <= end


class DynamicEnergy(_Frozen):
    """Energy at a day-ahead price series (given at compile time) plus a margin per kWh."""

    band: Annotated[str, Field(min_length=1, max_length=40)] = "spot"
    margin_per_kwh: Price = Decimal(0)


class IdleFee(_Frozen):
    """Price per minute connected after charging finished, beyond ``grace_minutes``."""

    price_per_minute: NonNegativePrice
    grace_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 0


class Tax(_Frozen):
    """A tax on the net total (after minimum/cap), e.g. VAT 20 %."""

    name: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]
    rate_percent: Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]

    @field_validator("rate_percent")
    @classmethod
    def _four_decimals(cls, value: Decimal) -> Decimal:
        if value.scaleb(4) != value.scaleb(4).to_integral_value():
            msg = "tax rate_percent has more than 4 decimals"
            raise ValueError(msg)
        return value

    @property
    def ppm(self) -> int:
        """Rate in parts per million of the net."""
        return int(self.rate_percent.scaleb(4))


class Tariff(_Frozen):
    """A complete tariff; see the module docstring for the rules. Immutable."""

    id: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")]
    name: str
    currency: str
    timezone: str
    energy: tuple[TouSchedule, ...] = ()
    dynamic: DynamicEnergy | None = None
    price_per_minute_charging: NonNegativePrice = Decimal(0)
    price_per_minute_connected: NonNegativePrice = Decimal(0)
    session_fee: NonNegativePrice = Decimal(0)
    idle: IdleFee | None = None
    minimum_charge: NonNegativePrice = Decimal(0)
    maximum_charge: NonNegativePrice | None = None
    taxes: tuple[Tax, ...] = ()
    source: str | None = None  # where the figures come from (tariff book URL, ...)
    notes: str | None = None

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if value not in CURRENCY_EXPONENT:
            msg = f"unknown or unsupported ISO 4217 currency {value!r}"
            raise ValueError(msg)
        return value

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"unknown IANA time zone {value!r}"
            raise ValueError(msg) from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Tariff:
        if bool(self.energy) == (self.dynamic is not None):
            msg = "give exactly one of 'energy' (time-of-use schedules) or 'dynamic'"
            raise ValueError(msg)
        if self.maximum_charge is not None and self.maximum_charge < self.minimum_charge:
            msg = "maximum_charge is below minimum_charge"
            raise ValueError(msg)
        self._check_coverage()
        self._check_precision()
        return self

    def _check_coverage(self) -> None:
        """Every month-day × day kind is covered (validity dates are checked when billing)."""
        if not self.energy:
            return
        day = date(2024, 1, 1)  # a leap year: every month-day, each with both day kinds
        for _ in range(366 + 7):
            if not any(s.recurs_on(day) for s in self.energy):
                msg = f"no energy schedule covers {day:%m-%d} on {day:%A}s"
                raise ValueError(msg)
            day += timedelta(days=1)

    def _check_precision(self) -> None:
        """Every price is exact in the kernel's integer units (see the module docstring)."""
        rates = [self.price_per_minute_charging, self.price_per_minute_connected]
        rates += [band.price_per_kwh for s in self.energy for band in s.bands]
        if self.dynamic:
            rates.append(self.dynamic.margin_per_kwh)
        if self.idle:
            rates.append(self.idle.price_per_minute)
        for rate in rates:
            micro_minor(rate, self.currency)
        for amount in (self.session_fee, self.minimum_charge, self.maximum_charge):
            if amount is not None:
                minor(amount, self.currency)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def schedule_for(self, day: date) -> TouSchedule | None:
        """The first schedule that applies on local ``day`` (None if none)."""
        return next((s for s in self.energy if s.applies(day)), None)


def minutes_of_day(text: str) -> int:
    """``"HH:MM"`` → minutes after local midnight (00:00–23:59)."""
    match = _HH_MM.match(text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        msg = f"time of day must be HH:MM between 00:00 and 23:59, not {text!r}"
        raise ValueError(msg)
    return int(match[1]) * 60 + int(match[2])


def month_day(text: str) -> tuple[int, int]:
    """``"MM-DD"`` (zero padding optional, as in acnportal files) → ``(month, day)``."""
    match = _MONTH_DAY.match(text)
    if match:
        month, day = int(match[1]), int(match[2])
        try:
            date(2024, month, day)
        except ValueError:
            pass
        else:
            return month, day
    msg = f"season date must be MM-DD, not {text!r}"
    raise ValueError(msg)


def micro_minor(price: Decimal, currency: str) -> int:
    """Major units → integer µminor units; raises if that would lose precision."""
    scaled = price.scaleb(CURRENCY_EXPONENT[currency] + 6)
    if scaled != scaled.to_integral_value():
        msg = f"price {price} {currency} is finer than 1e-6 of a minor unit"
        raise ValueError(msg)
    return int(scaled)


def minor(amount: Decimal, currency: str) -> int:
    """Major units → integer minor units; raises if that would lose precision."""
    scaled = amount.scaleb(CURRENCY_EXPONENT[currency])
    if scaled != scaled.to_integral_value():
        msg = f"amount {amount} {currency} is finer than the currency's minor unit"
        raise ValueError(msg)
    return int(scaled)


def to_major(amount_minor: int, currency: str) -> Decimal:
    """Integer minor units → Decimal major units (exact)."""
    return Decimal(amount_minor).scaleb(-CURRENCY_EXPONENT[currency])


def parse_tariff(text: str | bytes, origin: str = "<tariff>") -> Tariff:
    """Parse and validate tariff JSON; errors name ``origin`` and the field."""
    try:
        return Tariff.model_validate_json(text)
    except ValidationError as exc:
        raise TariffError(_describe(exc, origin)) from None


def load_tariff(path: Path) -> Tariff:
    """Read a tariff file (JSON); errors name the file and the field."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read tariff file ({exc.strerror})"
        raise TariffError(msg) from None
    return parse_tariff(text, str(path))


def load_tariff_dir(directory: Path) -> dict[str, Tariff]:
    """Every ``*.json`` tariff of ``directory`` by its id; two files with one id are refused."""
    if not directory.is_dir():
        msg = f"{directory}: not a tariff directory"
        raise TariffError(msg)
    found: dict[str, Tariff] = {}
    origin: dict[str, Path] = {}
    for path in sorted(directory.glob("*.json")):
        tariff = load_tariff(path)
        if tariff.id in found:
            msg = f"tariff id {tariff.id!r} is in both {origin[tariff.id]} and {path}"
            raise TariffError(msg)
        found[tariff.id], origin[tariff.id] = tariff, path
    return found


class UnresolvedTariffError(TariffError):
    """No tariff applies to a charger (not in the inventory, or no tariff and no default)."""


class TariffResolver:
    """Which tariff bills a charger's sessions: the charger's ``tariff_id``, else its
    station's, else ``default`` (e.g. the operator's ``<data dir>/tariff.json``).

    ``tariffs`` maps tariff ids to tariffs (e.g. :func:`load_tariff_dir`). Every id the inventory
    names must be among them: a dangling reference is refused when the resolver is built, not
    when a session closes. A charger missing from the inventory gets the default. Calling the
    resolver is :meth:`tariff_for`, so it can be passed wherever a ``charger_id -> Tariff``
    callable is expected.
    """

    __slots__ = ("_by_charger", "_by_station", "_tariffs", "default")

    def __init__(
        self, inventory: Inventory, tariffs: dict[str, Tariff], default: Tariff | None = None
    ) -> None:
        self._tariffs = dict(tariffs)
        self.default = default
        self._by_station = {s.station_id: s.tariff_id for s in inventory.stations}
        self._by_charger = {c.charger_id: (c.station_id, c.tariff_id) for c in inventory.chargers}
        named = [(f"station {k}", v) for k, v in self._by_station.items()]
        named += [(f"charger {k}", v[1]) for k, v in self._by_charger.items()]
        for who, tariff_id in named:
            if tariff_id is not None and tariff_id not in self._tariffs:
                known = ", ".join(sorted(self._tariffs)) or "none"
                msg = f"inventory: {who} names tariff {tariff_id!r}; known tariffs: {known}"
                raise TariffError(msg)

    def tariff_id_for(self, charger_id: str) -> str:
        """The id of the tariff billing ``charger_id`` (see the class docstring)."""
        return self.tariff_for(charger_id).id

    def tariff_for(self, charger_id: str) -> Tariff:
        """The tariff billing ``charger_id``; :class:`UnresolvedTariffError` if none applies."""
        station_id, own = self._by_charger.get(charger_id, (None, None))
        chosen = own or self._by_station.get(station_id or "")
        if chosen is not None:
            return self._tariffs[chosen]
        if self.default is None:
            where = "is not in the inventory" if station_id is None else "has no tariff"
            msg = f"charger {charger_id!r} {where} and there is no default tariff"
            raise UnresolvedTariffError(msg)
        return self.default

    __call__ = tariff_for


def _describe(exc: ValidationError, origin: str) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "(file)"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return f"{origin}: invalid tariff: " + "; ".join(parts)


# -- a bill's breakup (shared with the Beckn quote) ------------------------------------------------


class BreakupLine(_Frozen):
    """One line of a bill or quote. ``code`` is one of ``energy:<band>``, ``time_charging``,
    ``time_connected``, ``idle``, ``session_fee``, ``minimum_adjustment``, ``cap_adjustment``,
    ``tax:<name>``. ``quantity`` is in ``unit`` (kWh, min, session, % of net); ``unit_price`` in
    major units per ``unit`` (None for adjustments and taxes; the average for a dynamic energy
    line). The lines of a bill sum to its total."""

    code: str
    quantity: Decimal
    unit: str
    unit_price: Decimal | None
    amount_minor: int
    currency: str

    @property
    def amount(self) -> Decimal:
        """The amount in major units (exact)."""
        return to_major(self.amount_minor, self.currency)

    def beckn_breakup_item(self) -> dict[str, object]:
        """The line as a Beckn ``quote.breakup`` entry (title + price)."""
        return {
            "title": self.code,
            "price": {"currency": self.currency, "value": str(self.amount)},
        }


# -- price series (dynamic tariffs) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """Wholesale prices: interval ``i`` covers ``[start_us[i], end_us[i])`` UTC at
    ``price_micro_minor_per_kwh[i]``. Intervals are sorted and do not overlap; a hole is a
    missing price (billing across it is refused)."""

    start_us: npt.NDArray[np.int64]
    end_us: npt.NDArray[np.int64]
    price_micro_minor_per_kwh: npt.NDArray[np.int64]
    currency: str
    origin: str

    def __post_init__(self) -> None:
        if len(self.start_us) and (
            np.any(self.end_us <= self.start_us) or np.any(self.start_us[1:] < self.end_us[:-1])
        ):
            msg = f"{self.origin}: price intervals must be sorted and not overlap"
            raise TariffError(msg)

    @staticmethod
    def concat(series: list[PriceSeries]) -> PriceSeries:
        """Join series (e.g. one file per year), sorted by start."""
        if not series:
            msg = "no price series given for a dynamic tariff"
            raise TariffError(msg)
        ordered = sorted(series, key=lambda s: int(s.start_us[0]) if len(s.start_us) else 0)
        currencies = {s.currency for s in ordered}
        if len(currencies) > 1:
            msg = f"price series in different currencies: {sorted(currencies)}"
            raise TariffError(msg)
        return PriceSeries(
            np.concatenate([s.start_us for s in ordered]),
            np.concatenate([s.end_us for s in ordered]),
            np.concatenate([s.price_micro_minor_per_kwh for s in ordered]),
            ordered[0].currency,
            ", ".join(s.origin for s in ordered),
        )


# -- compilation for the kernel -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledTariff:
    """A tariff flattened over ``[boundaries_us[0], boundaries_us[-1])`` for the kernel.

    Piece ``j`` is ``[boundaries_us[j], boundaries_us[j + 1])`` UTC µs, priced
    ``piece_price[j]`` µminor/kWh and billed on breakup line ``piece_line[j]`` (adjacent pieces
    of the same line are merged). ``fees`` is the kernel's scalar vector (see ``FEE_*``).
    """

    tariff: Tariff
    boundaries_us: npt.NDArray[np.int64]
    piece_line: npt.NDArray[np.int64]
    piece_price: npt.NDArray[np.int64]
    line_names: tuple[str, ...]
    line_price_micro_minor_per_kwh: tuple[int | None, ...]  # None: varies (dynamic)
    fees: npt.NDArray[np.int64]
    tax_ppm: npt.NDArray[np.int64]

    @property
    def tax_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tariff.taxes)


# Indices into CompiledTariff.fees (all integers).
FEE_CHARGING_MICRO_PER_MIN = 0
FEE_CONNECTED_MICRO_PER_MIN = 1
FEE_IDLE_MICRO_PER_MIN = 2
FEE_IDLE_GRACE_MS = 3
FEE_SESSION_MINOR = 4
FEE_MINIMUM_MINOR = 5
FEE_MAXIMUM_MINOR = 6  # NO_MAXIMUM = none
N_FEES = 7


def fee_vector(tariff: Tariff) -> npt.NDArray[np.int64]:
    """The tariff's scalar prices in the kernel's integer units."""
    cur = tariff.currency
    idle = tariff.idle
    return np.array(
        [
            micro_minor(tariff.price_per_minute_charging, cur),
            micro_minor(tariff.price_per_minute_connected, cur),
            micro_minor(idle.price_per_minute, cur) if idle else 0,
            idle.grace_minutes * 60_000 if idle else 0,
            minor(tariff.session_fee, cur),
            minor(tariff.minimum_charge, cur),
            NO_MAXIMUM if tariff.maximum_charge is None else minor(tariff.maximum_charge, cur),
        ],
        np.int64,
    )


def tax_vector(tariff: Tariff) -> npt.NDArray[np.int64]:
    """Tax rates in parts per million of the net (exact: at most 4 decimals of a percent)."""
    return np.array([tax.ppm for tax in tariff.taxes], np.int64)


def compile_tariff(
    tariff: Tariff, start: datetime, end: datetime, prices: PriceSeries | None = None
) -> CompiledTariff:
    """Flatten ``tariff`` over at least ``[start, end]`` (tz-aware) for the billing kernel.

    Time-of-use bands are laid out per local date (one day of margin each side); a dynamic
    tariff takes ``prices`` (required, same currency) plus its margin, and refuses a range
    with a missing price.
    """
    if start.tzinfo is None or end.tzinfo is None:
        msg = "compile_tariff needs tz-aware start and end"
        raise TariffError(msg)
    if end < start:
        msg = f"compile_tariff: end {end} is before start {start}"
        raise TariffError(msg)
    if tariff.dynamic is not None:
        pieces = _dynamic_pieces(tariff, tariff.dynamic, start, end, prices)
    else:
        pieces = _tou_pieces(tariff, start, end)
    return _assemble(tariff, pieces)


Piece = tuple[int, str, int]  # (start µs UTC, band name, price µminor/kWh)


def _tou_pieces(tariff: Tariff, start: datetime, end: datetime) -> list[tuple[int, str, int]]:
    zone = tariff.zone
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    pieces: list[Piece] = []
    day = first
    while day <= last:
        schedule = tariff.schedule_for(day)
        if schedule is None:
            msg = f"tariff {tariff.id}: no energy schedule covers {day.isoformat()}"
            raise TariffError(msg)
        for band in schedule.bands:
            at = local_instant_us(day, band.start_minute, zone)
            pieces.append((at, band.name, micro_minor(band.price_per_kwh, tariff.currency)))
        day += timedelta(days=1)
    end_us = local_instant_us(last + timedelta(days=1), 0, zone)
    return [*_drop_empty(pieces), (end_us, "", 0)]


def _drop_empty(pieces: list[Piece]) -> list[Piece]:
    """Bands squeezed to nothing by a spring-forward gap (same start as the next) vanish."""
    return [p for p, q in zip(pieces, [*pieces[1:], None], strict=True) if q is None or q[0] > p[0]]


def _dynamic_pieces(
    tariff: Tariff,
    dynamic: DynamicEnergy,
    start: datetime,
    end: datetime,
    prices: PriceSeries | None,
) -> list[Piece]:
    if prices is None:
        msg = f"tariff {tariff.id} is dynamic: give a price series (e.g. --prices FILE.csv)"
        raise TariffError(msg)
    if prices.currency != tariff.currency:
        msg = f"prices are in {prices.currency}, tariff {tariff.id} in {tariff.currency}"
        raise TariffError(msg)
    lo_us, hi_us = to_us(start), to_us(end)
    first = int(np.searchsorted(prices.end_us, lo_us, side="right"))
    last = int(np.searchsorted(prices.start_us, hi_us, side="right"))
    if first >= last or prices.start_us[first] > lo_us or prices.end_us[last - 1] < hi_us:
        msg = f"{prices.origin}: no price for part of {start.isoformat()} .. {end.isoformat()}"
        raise TariffError(msg)
    starts = prices.start_us[first:last]
    ends = prices.end_us[first:last]
    holes = np.nonzero(starts[1:] != ends[:-1])[0]
    if len(holes):
        hole = datetime.fromtimestamp(int(ends[holes[0]]) / US_PER_S, UTC)
        msg = f"{prices.origin}: price missing from {hole.isoformat()}"
        raise TariffError(msg)
    margin = micro_minor(dynamic.margin_per_kwh, tariff.currency)
    values = prices.price_micro_minor_per_kwh[first:last] + margin
    pieces: list[Piece] = [
        (int(s), dynamic.band, int(v)) for s, v in zip(starts, values, strict=True)
    ]
    return [*pieces, (int(ends[-1]), "", 0)]


def _assemble(tariff: Tariff, pieces: list[Piece]) -> CompiledTariff:
    """Merge adjacent equal pieces and number the breakup lines."""
    dynamic = tariff.dynamic is not None
    lines: dict[tuple[str, int], int] = {}
    bounds: list[int] = []
    piece_line: list[int] = []
    piece_price: list[int] = []
    for at, name, price in pieces[:-1]:
        key = (name, 0 if dynamic else price)
        line = lines.setdefault(key, len(lines))
        if piece_line and piece_line[-1] == line and piece_price[-1] == price:
            continue
        bounds.append(at)
        piece_line.append(line)
        piece_price.append(price)
    bounds.append(pieces[-1][0])
    return CompiledTariff(
        tariff=tariff,
        boundaries_us=np.array(bounds, np.int64),
        piece_line=np.array(piece_line, np.int64),
        piece_price=np.array(piece_price, np.int64),
        line_names=tuple(name for name, _ in lines),
        line_price_micro_minor_per_kwh=tuple(None if dynamic else p for _, p in lines),
        fees=fee_vector(tariff),
        tax_ppm=tax_vector(tariff),
    )


def to_us(moment: datetime) -> int:
    """tz-aware datetime → integer µs since the Unix epoch (UTC)."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def from_us(value_us: int) -> datetime:
    """Integer µs since the epoch → tz-aware UTC datetime."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(value_us))


def local_instant_us(day: date, minute: int, zone: ZoneInfo) -> int:
    """The UTC instant (µs) at which local wall time ``day`` + ``minute`` is first reached.

    Ambiguous (fall-back) → first occurrence; non-existent (spring-forward gap) → the moment
    the clock jumps past it.
    """
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    at_first, at_second = to_us(first), to_us(second)
    if at_first <= at_second:  # unambiguous (equal) or fall-back (first occurrence earlier)
        return at_first
    # In a gap: fold=1 maps before the jump, fold=0 after; find the jump (whole seconds).
    lo, hi = at_second // US_PER_S, at_first // US_PER_S
    while hi - lo > 1:
        mid = (lo + hi) // 2
        local = from_us(mid * US_PER_S).astimezone(zone).replace(tzinfo=None)
        if local >= wall:
            hi = mid
        else:
            lo = mid
    return hi * US_PER_S


def load_json(path: Path) -> object:
    """Read JSON naming the file on failure (importers use it)."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        msg = f"{path}: not readable JSON ({exc})"
        raise TariffError(msg) from None
