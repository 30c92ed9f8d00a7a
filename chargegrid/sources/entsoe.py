"""ENTSO-E Transparency Platform day-ahead price CSV exports → :class:`PriceSeries`.

Format: header ``"MTU (CET)","Day-ahead Price [EUR/MWh]","BZN|BE"`` (three names) while data
rows have two fields (ragged); MTU is ``"dd.mm.yyyy HH:MM - dd.mm.yyyy HH:MM"`` in local time
of the bidding zone (CET/CEST despite the label). Rules:

* the currency comes from the price header (``[EUR/MWh]``); prices are exact decimals in
  currency/MWh, stored as µminor/kWh (69.49 EUR/MWh = 6,949,000 µcent/kWh), negatives kept;
* the spring-forward interval (a local hour that does not exist) is skipped whether or not it
  has a price; the fall-back hour appears twice with the same label: the first row is the
  first occurrence (summer time), the second the repeat (winter time);
* ``n/e`` (not available) and empty prices elsewhere are holes: billing across one is refused;
* a file with no price at all (e.g. an area without data, every value ``n/e``) is refused, as
  is a malformed MTU or price, naming the file and line.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from chargegrid.tariffs import CURRENCY_EXPONENT, PriceSeries, TariffError, to_us

BRUSSELS = "Europe/Brussels"
_MTU = re.compile(
    r"^(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}) - (\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2})$"
)
_PRICE_HEADER = re.compile(r"\[([A-Za-z]+)/MWh\]")
MISSING = {"", "n/e", "N/A", "-"}


def load_entsoe_prices(path: Path, timezone: str = BRUSSELS) -> PriceSeries:
    """Read one ENTSO-E day-ahead CSV export (see the module docstring for the rules)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read ENTSO-E export ({exc})"
        raise TariffError(msg) from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or len(rows[0]) < 2 or not rows[0][0].startswith("MTU"):
        msg = f"{path}: line 1: not an ENTSO-E day-ahead export (expected an 'MTU' header)"
        raise TariffError(msg)
    starts, ends, values = _intervals(path, rows[1:], ZoneInfo(timezone))
    if not starts:
        msg = f"{path}: no prices at all (every value missing or 'n/e'): an area without data?"
        raise TariffError(msg)
    currency = _currency(path, rows[0][1])
    prices = [_micro_minor_per_kwh(path, line, value, currency) for line, value in values]
    return PriceSeries(
        np.array(starts, np.int64),
        np.array(ends, np.int64),
        np.array(prices, np.int64),
        currency,
        str(path),
    )


def _currency(path: Path, header: str) -> str:
    match = _PRICE_HEADER.search(header)
    code = match[1] if match else ""
    if code not in CURRENCY_EXPONENT:
        msg = f"{path}: line 1: price column {header!r} names no known currency"
        raise TariffError(msg)
    return code


def _intervals(
    path: Path, rows: list[list[str]], zone: ZoneInfo
) -> tuple[list[int], list[int], list[tuple[int, str]]]:
    """Interval starts/ends (UTC µs) and their ``(line, price text)``."""
    starts: list[int] = []
    ends: list[int] = []
    prices: list[tuple[int, str]] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        label = row[0]
        repeat = label in seen
        seen.add(label)
        start, end = _mtu(path, line, label, zone, repeat)
        if start is None or end is None:
            continue  # a local hour that does not exist (spring forward)
        value = row[1].strip() if len(row) > 1 else ""
        if value in MISSING:
            continue
        starts.append(start)
        ends.append(end)
        prices.append((line, value))
    return starts, ends, prices


def _mtu(
    path: Path, line: int, label: str, zone: ZoneInfo, repeat: bool
) -> tuple[int | None, int | None]:
    """The interval in UTC µs; ``(None, None)`` for a non-existent local hour."""
    match = _MTU.match(label.strip())
    if not match:
        msg = f"{path}: line {line}: MTU {label!r} is not 'dd.mm.yyyy HH:MM - dd.mm.yyyy HH:MM'"
        raise TariffError(msg)
    g = [int(x) for x in match.groups()]
    try:
        wall_start = datetime(g[2], g[1], g[0], g[3], g[4])  # noqa: DTZ001 - local wall time
        wall_end = datetime(g[7], g[6], g[5], g[8], g[9])  # noqa: DTZ001
    except ValueError as exc:
        msg = f"{path}: line {line}: MTU {label!r}: {exc}"
        raise TariffError(msg) from None
    start = wall_start.replace(tzinfo=zone, fold=int(repeat))
    if not _exists(start):
        return None, None
    if repeat and to_us(start) == to_us(start.replace(fold=0)):
        msg = f"{path}: line {line}: MTU {label!r} repeats but is not a fall-back hour"
        raise TariffError(msg)
    duration = wall_end - wall_start
    if duration.total_seconds() <= 0:
        msg = f"{path}: line {line}: MTU {label!r} ends before it starts"
        raise TariffError(msg)
    start_us = to_us(start)
    return start_us, start_us + (duration.days * 86_400 + duration.seconds) * 1_000_000


def _exists(moment: datetime) -> bool:
    """Whether a local wall time exists (is not skipped by a spring-forward)."""
    utc = moment.astimezone(ZoneInfo("UTC"))
    return utc.astimezone(moment.tzinfo).replace(tzinfo=None) == moment.replace(tzinfo=None)


def _micro_minor_per_kwh(path: Path, line: int, value: str, currency: str) -> int:
    """currency/MWh decimal → µminor/kWh (exact: 1 /MWh = 10**(exponent + 3) µminor/kWh)."""
    try:
        price = Decimal(value)
    except InvalidOperation:
        msg = f"{path}: line {line}: price {value!r} is not a number"
        raise TariffError(msg) from None
    if not price.is_finite():
        msg = f"{path}: line {line}: price {value!r} is not finite"
        raise TariffError(msg)
    scaled = price.scaleb(CURRENCY_EXPONENT[currency] + 3)
    if scaled != scaled.to_integral_value():
        msg = f"{path}: line {line}: price {value!r} is finer than 1e-6 minor/kWh"
        raise TariffError(msg)
    return int(scaled)
