"""Replay real sessions with real day-ahead prices: what would the advice have saved?

Each session (Dundee or Perth & Kinross exports, read by :mod:`chargegrid.sources`) gives a
stay (plug-in to plug-out), the energy it took and the outlet's rated power. Its cost is the
energy cost under a dynamic tariff: ENTSO-E BZN|BE day-ahead price plus the tariff's margin
(default ``data/tariffs/be_dynamic_spot.json``: +0.12 EUR/kWh). Per-minute, per-session fees and
VAT do not depend on when the energy flows inside a fixed stay, so they are left out (VAT only
scales every figure alike).

**Dates.** The sessions are placed at their own UTC instants when the price series covers
them (Dundee 2017-09..2018-09 and Perth 2016-09..2019-08 are inside BE 2016..2021), so a UK
18:00 arrival meets the Belgian 19:00 price (both countries change clocks at the same instants).
A stay outside the price period is moved by whole 52-week blocks (364 days) into it, which keeps
its weekday and UTC hour of day; the report counts such shifted sessions.

**Information.** Day-ahead prices for local day D (Europe/Brussels) are published at 13:00 on
D - 1. A plan made at arrival knows the prices up to the end of today (arrival before 13:00)
or tomorrow (from 13:00); a later slot is forecast by the last known price at the same hour of
day (t - 24 h·k for the smallest k that is known; 24 h in UTC, so one local hour off across a
clock change). Strategies:

* ``immediate``: full power from arrival until the need is met (the baseline);
* ``exact @arrival`` / ``window @arrival``: planned once at arrival with that information;
* ``exact replanned``: the exact plan, re-made with the remaining need at each 13:00 publication
  that falls inside the stay (what an app that follows the market would do);
* ``oracle exact`` / ``oracle window``: planned knowing every price of the stay (the bound).

Savings % = (immediate cost - strategy cost) / immediate cost, summed over sessions (the same
saving as a share of the day-ahead part alone, without the margin, is printed beside it);
regret % = (strategy cost - oracle exact cost) / oracle exact cost. Sessions left out are counted by
reason: no energy, empty stay, more energy than the rated power allows in the stay (the rating
guessed from the charger model is below what it delivered), or no price for part of the stay.
Every plan charges at the outlet's rated power, which is optimistic for cars that draw less.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from chargegrid.sources.dundee import OutletModel, Rejected
from chargegrid.sources.entsoe import BRUSSELS
from chargegrid.tariffs import (
    CURRENCY_EXPONENT,
    PriceSeries,
    Tariff,
    load_tariff,
    micro_minor,
    to_us,
)
from models.advise.plan import (
    InfeasibleRequestError,
    Plan,
    cheapest_plan,
    cheapest_window,
    immediate_plan,
)
from models.advise.slots import AdviceInputError, Slots, load_prices, refine, slots_between

US_PER_DAY = 86_400_000_000
SHIFT_US = 364 * US_PER_DAY  # 52 weeks: keeps weekday and UTC hour
DEFAULT_TARIFF = Path(__file__).resolve().parents[2] / "data" / "tariffs" / "be_dynamic_spot.json"
STRATEGIES = (
    "immediate",
    "exact @arrival",
    "window @arrival",
    "exact replanned",
    "oracle exact",
    "oracle window",
)
INFORMATION = {
    "immediate": "none",
    "exact @arrival": "day-ahead published by arrival + same-hour naive beyond",
    "window @arrival": "day-ahead published by arrival + same-hour naive beyond",
    "exact replanned": "as @arrival, re-planned at each 13:00 publication",
    "oracle exact": "every price of the stay (hindsight)",
    "oracle window": "every price of the stay (hindsight)",
}


@dataclass(frozen=True, slots=True)
class Stay:
    """One replayed session: UTC µs plug-in/out, energy taken (kWh), rated power (kW)."""

    ref: str
    arrival_us: int
    departure_us: int
    energy_kwh: float
    power_kw: float


@dataclass(frozen=True, slots=True)
class Market:
    """A price series plus a margin (µminor/kWh) as flat arrays, and the publication rule."""

    start_us: npt.NDArray[np.int64]
    end_us: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]  # µminor/kWh, spot + margin
    currency: str
    margin: float = 0.0  # µminor/kWh included in ``price``
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo(BRUSSELS))
    publish_at: time = time(13, 0)

    @staticmethod
    def of(series: PriceSeries, tariff: Tariff) -> Market:
        margin = 0
        if tariff.dynamic is not None:
            margin = micro_minor(tariff.dynamic.margin_per_kwh, tariff.currency)
        if series.currency != tariff.currency:
            msg = f"prices are in {series.currency}, tariff {tariff.id} in {tariff.currency}"
            raise AdviceInputError(msg)
        price = (series.price_micro_minor_per_kwh + margin).astype(np.float64)
        return Market(series.start_us, series.end_us, price, tariff.currency, float(margin))

    def known_until_us(self, at_us: int) -> int:
        """End (UTC µs) of the prices published by ``at_us``."""
        local = datetime.fromtimestamp(at_us / 1e6, UTC).astimezone(self.zone)
        days = 2 if local.time() >= self.publish_at else 1
        midnight = datetime.combine(local.date() + timedelta(days=days), time(), self.zone)
        return to_us(midnight)

    def publications_us(self, after_us: int, before_us: int) -> list[int]:
        """Publication instants strictly inside ``(after_us, before_us)``."""
        day = datetime.fromtimestamp(after_us / 1e6, UTC).astimezone(self.zone).date()
        found: list[int] = []
        while True:
            at = to_us(datetime.combine(day, self.publish_at, self.zone))
            if at >= before_us:
                return found
            if at > after_us:
                found.append(at)
            day += timedelta(days=1)

    def believed(self, slots: Slots, known_until_us: int) -> npt.NDArray[np.float64]:
        """Slot prices as seen with prices known until ``known_until_us``: the real price if
        published, else the last published price at the same hour of day."""
        starts = slots.start_us
        late = starts >= known_until_us
        k = np.where(late, (starts - known_until_us) // US_PER_DAY + 1, 0)
        looked = starts - k * US_PER_DAY
        i = np.clip(np.searchsorted(self.start_us, looked, side="right") - 1, 0, None)
        found = (self.start_us[i] <= looked) & (looked < self.end_us[i])
        guess = np.where(found, self.price[i], np.nan)
        known = slots.price[~late]
        fallback = float(known.mean()) if len(known) else float(np.nanmean(guess))
        return np.where(late, np.where(np.isnan(guess), fallback, guess), slots.price)


@dataclass
class Evaluation:
    """Totals per strategy (µminor), sessions used, and why others were left out."""

    currency: str
    margin: float = 0.0  # µminor/kWh
    cost: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STRATEGIES, 0.0))
    sessions: int = 0
    energy_kwh: float = 0.0
    shifted: int = 0
    fully_known: int = 0
    left_out: Counter[str] = field(default_factory=Counter)

    def savings_pct(self, strategy: str) -> float:
        base = self.cost["immediate"]
        return 100.0 * (base - self.cost[strategy]) / abs(base) if base else 0.0

    def wholesale_savings_pct(self, strategy: str) -> float:
        """Savings as a share of the immediate cost without the margin (the spot part)."""
        base = self.cost["immediate"] - self.margin * self.energy_kwh
        return 100.0 * (self.cost["immediate"] - self.cost[strategy]) / abs(base) if base else 0.0

    def regret_pct(self, strategy: str) -> float:
        oracle = self.cost["oracle exact"]
        return 100.0 * (self.cost[strategy] - oracle) / abs(oracle) if oracle else 0.0

    def major(self, strategy: str) -> float:
        return self.cost[strategy] / 1e6 / 10 ** CURRENCY_EXPONENT[self.currency]

    def table(self) -> str:
        """The report: one row per strategy."""
        head = (
            f"{'strategy':<16} {'cost ' + self.currency:>12} {'savings %':>10} "
            f"{'of spot %':>10} {'regret %':>9}"
        )
        rows = [head + "  information used", "-" * (len(head) + 40)]
        for name in STRATEGIES:
            rows.append(
                f"{name:<16} {self.major(name):>12,.2f} {self.savings_pct(name):>10.2f} "
                f"{self.wholesale_savings_pct(name):>10.2f} {self.regret_pct(name):>9.2f}  "
                f"{INFORMATION[name]}"
            )
        left = ", ".join(f"{reason} {n}" for reason, n in self.left_out.most_common()) or "none"
        rows += [
            "",
            f"sessions: {self.sessions:,} ({self.energy_kwh:,.0f} kWh); prices fully known at "
            f"arrival for {self.fully_known:,}; moved by 52-week blocks into the price period: "
            f"{self.shifted:,}",
            f"left out: {left}",
            f"cost: energy at day-ahead price + margin {self.margin / 1e6:g} minor/kWh, net of "
            "fees and tax; savings % of that cost, 'of spot %' of its day-ahead part only; "
            "regret % above the oracle exact plan",
        ]
        return "\n".join(rows)


def session_costs(stay: Stay, market: Market) -> dict[str, float]:
    """Realised energy cost (µminor) of each strategy for one stay."""
    actual = slots_between(
        market.start_us, market.end_us, market.price, stay.arrival_us, stay.departure_us
    )
    actual = refine(actual, market.publications_us(stay.arrival_us, stay.departure_us))
    need, kw = stay.energy_kwh, stay.power_kw
    seen = _seen(actual, market.believed(actual, market.known_until_us(stay.arrival_us)))
    plans: dict[str, Plan] = {
        "immediate": immediate_plan(actual, need, kw),
        "exact @arrival": cheapest_plan(seen, need, kw),
        "window @arrival": cheapest_window(seen, need, kw),
        "oracle exact": cheapest_plan(actual, need, kw),
        "oracle window": cheapest_window(actual, need, kw),
    }
    costs = {name: float(np.dot(plan.energy_kwh, actual.price)) for name, plan in plans.items()}
    costs["exact replanned"] = float(np.dot(replanned_energy(actual, stay, market), actual.price))
    return costs


def _seen(slots: Slots, believed: npt.NDArray[np.float64]) -> Slots:
    return Slots(slots.start_us, slots.end_us, believed, slots.currency)


def replanned_energy(actual: Slots, stay: Stay, market: Market) -> npt.NDArray[np.float64]:
    """Energy per slot of the exact plan re-made at each publication inside the stay (the
    slots are cut at the publications, so each slot is wholly before or after one)."""
    energy = np.zeros(len(actual))
    remaining = stay.energy_kwh
    first = 0
    cuts = market.publications_us(stay.arrival_us, stay.departure_us)
    for now_us, until_us in zip([stay.arrival_us, *cuts], [*cuts, None], strict=True):
        part = Slots(actual.start_us[first:], actual.end_us[first:], actual.price[first:])
        seen = _seen(part, market.believed(part, market.known_until_us(now_us)))
        planned = cheapest_plan(seen, remaining, stay.power_kw).energy_kwh
        stop = len(part) if until_us is None else int(np.searchsorted(part.start_us, until_us))
        energy[first : first + stop] = planned[:stop]
        remaining -= float(planned[:stop].sum())
        first += stop
        if remaining <= 1e-9:
            break
    return energy


def place(stay: Stay, market: Market) -> tuple[Stay, bool]:
    """The stay moved by whole 52-week blocks into the price period (unchanged when inside)."""
    lo, hi = int(market.start_us[0]), int(market.end_us[-1])
    shift = 0
    if stay.arrival_us < lo:
        shift = -(-(lo - stay.arrival_us) // SHIFT_US) * SHIFT_US  # ceil, forwards
    elif stay.departure_us > hi:
        shift = (-(stay.departure_us - hi) // SHIFT_US) * SHIFT_US  # ceil, backwards
    if shift == 0:
        return stay, False
    moved = Stay(
        stay.ref, stay.arrival_us + shift, stay.departure_us + shift, stay.energy_kwh, stay.power_kw
    )
    return moved, True


def evaluate(stays: Iterable[Stay | str], market: Market) -> Evaluation:
    """Replay every stay (a ``str`` is a left-out session's reason) and total the costs."""
    result = Evaluation(market.currency, market.margin)
    for stay in stays:
        if isinstance(stay, str):
            result.left_out[stay] += 1
            continue
        placed, shifted = place(stay, market)
        try:
            costs = session_costs(placed, market)
        except InfeasibleRequestError:
            result.left_out["above_rated_power"] += 1
            continue
        except AdviceInputError:
            result.left_out["no_price"] += 1
            continue
        for name, value in costs.items():
            result.cost[name] += value
        result.sessions += 1
        result.energy_kwh += placed.energy_kwh
        result.shifted += shifted
        result.fully_known += market.known_until_us(placed.arrival_us) >= placed.departure_us
    return result


def stays_from(source: str, paths: list[Path], limit: int | None = None) -> Iterator[Stay | str]:
    """Sessions of a Dundee or Perth export as stays (or the reason one is left out)."""
    if source == "dundee":
        from chargegrid.sources.dundee import read_sessions
    elif source == "perth":
        from chargegrid.sources.perth import read_sessions  # type: ignore[assignment]
    else:
        msg = f"unknown session source {source!r}: use dundee or perth"
        raise AdviceInputError(msg)
    for row in read_sessions(paths, limit):
        if isinstance(row, Rejected):
            yield f"rejected_{row.reason}"
            continue
        yield _stay(row)


class _Session(Protocol):
    """What Dundee's and Perth's session rows share."""

    @property
    def ref(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def energy_wh(self) -> int: ...
    @property
    def outlet(self) -> OutletModel: ...


def _stay(row: _Session) -> Stay | str:
    if row.energy_wh <= 0:
        return "no_energy"
    if row.end <= row.start:
        return "empty_stay"
    power_kw = row.outlet.power_w / 1000.0
    stay = Stay(row.ref, to_us(row.start), to_us(row.end), row.energy_wh / 1000.0, power_kw)
    hours = (stay.departure_us - stay.arrival_us) / 3.6e9
    if stay.energy_kwh > power_kw * hours:
        return "above_rated_power"
    return stay


def load_market(price_paths: list[Path], tariff_path: Path = DEFAULT_TARIFF) -> Market:
    """ENTSO-E exports (files or folders of ``*.csv``) plus a dynamic tariff's margin."""
    series = load_prices(price_paths)
    if series is None:
        msg = f"no ENTSO-E price files in {', '.join(map(str, price_paths))}"
        raise AdviceInputError(msg)
    return Market.of(series, load_tariff(tariff_path))


def evaluate_files(
    source: str,
    paths: list[Path],
    price_paths: list[Path],
    tariff_path: Path = DEFAULT_TARIFF,
    limit: int | None = None,
) -> Evaluation:
    """``chargegrid advise evaluate``: read, replay, total."""
    market = load_market(price_paths, tariff_path)
    return evaluate(stays_from(source, paths, limit), market)
