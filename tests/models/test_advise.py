"""Charging advice: plans against brute-force optima, DST days, negative prices, bad input."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from chargegrid.sources.entsoe import load_entsoe_prices
from chargegrid.tariffs import PriceSeries, Tariff, load_tariff, parse_tariff, to_us
from models.advise.billing import bill_plan
from models.advise.plan import (
    InfeasibleRequestError,
    availability_plan,
    cheapest_plan,
    cheapest_window,
    immediate_plan,
)
from models.advise.slots import US_PER_H, AdviceInputError, Slots, per_slot, refine, tariff_slots
from models.advise.suggest import suggest_starts

TARIFFS = Path(__file__).resolve().parents[2] / "data" / "tariffs"
T0 = datetime(2019, 6, 3, tzinfo=UTC)  # a Monday
US_PER_MIN = 60_000_000


def make_slots(minutes: list[int], prices: list[float], carbon: list[float] | None = None) -> Slots:
    edges = to_us(T0) + np.cumsum([0, *minutes]).astype(np.int64) * US_PER_MIN
    return Slots(
        edges[:-1],
        edges[1:],
        np.array(prices, np.float64),
        "EUR",
        None if carbon is None else np.array(carbon, np.float64),
    )


def entsoe_csv(tmp_path: Path, rows: list[tuple[str, str]]) -> PriceSeries:
    lines = ['"MTU (CET)","Day-ahead Price [EUR/MWh]","BZN|BE"']
    lines += [f'"{mtu}","{price}"' for mtu, price in rows]
    path = tmp_path / "prices.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_entsoe_prices(path)


def hourly_rows(day: str, prices: list[str]) -> list[tuple[str, str]]:
    """One ENTSO-E row per local hour label of ``day`` (dd.mm.yyyy); a 25-value list repeats
    02:00 (fall-back) and a 24-value list on a spring day keeps 02:00 with an empty price."""
    labels = [f"{day} {h:02d}:00 - {day} {h + 1:02d}:00" for h in range(23)]
    after = (datetime.strptime(day, "%d.%m.%Y") + timedelta(days=1)).strftime("%d.%m.%Y")  # noqa: DTZ007
    labels.append(f"{day} 23:00 - {after} 00:00")
    if len(prices) == 25:
        labels.insert(3, labels[2])
    return list(zip(labels, prices, strict=True))


def dynamic_tariff(margin: str = "0") -> Tariff:
    return parse_tariff(
        '{"id": "spot", "name": "spot", "currency": "EUR", "timezone": "Europe/Brussels",'
        f' "dynamic": {{"margin_per_kwh": "{margin}"}}}}'
    )


# -- brute-force optima ---------------------------------------------------------------------------


def brute_exact(capacity_units: list[int], prices: list[float], need_units: int) -> float:
    """Cheapest integer allocation (the LP optimum: the constraint matrix is totally unimodular)."""
    best = float("inf")
    for alloc in itertools.product(*(range(c + 1) for c in capacity_units)):
        if sum(alloc) == need_units:
            best = min(best, float(np.dot(alloc, prices)))
    return best


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.integers(-5, 10)),
        min_size=1,
        max_size=5,
    ),
    st.integers(1, 2),
    st.data(),
)
def test_exact_plan_matches_brute_force(
    pieces: list[tuple[int, int]], power_kw: int, data: st.DataObject
) -> None:
    hours = [h for h, _ in pieces]
    prices = [float(p) for _, p in pieces]
    capacity = [h * power_kw for h in hours]
    need = data.draw(st.integers(1, sum(capacity)))
    plan = cheapest_plan(make_slots([60 * h for h in hours], prices), float(need), power_kw)
    assert plan.cost_micro_minor == pytest.approx(brute_exact(capacity, prices, need), abs=1e-9)
    assert plan.total_kwh == pytest.approx(need)
    assert np.all(plan.energy_kwh <= np.array(capacity) + 1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 6), st.integers(-5, 10)), min_size=1, max_size=6),
    st.data(),
)
def test_window_plan_matches_brute_force(
    pieces: list[tuple[int, int]], data: st.DataObject
) -> None:
    minutes = [10 * m for m, _ in pieces]
    per_minute = np.repeat([float(p) for _, p in pieces], minutes)
    run_min = data.draw(st.integers(1, len(per_minute)))
    power_kw = 6.0  # 0.1 kWh per minute
    brute = min(
        per_minute[s : s + run_min].sum() / 10.0 for s in range(len(per_minute) - run_min + 1)
    )
    plan = cheapest_window(make_slots(minutes, [p for _, p in pieces]), run_min / 10.0, power_kw)
    assert plan.cost_micro_minor == pytest.approx(brute, abs=1e-9)
    (start, end), *rest = plan.intervals_h()
    assert rest == []
    assert end - start == pytest.approx(run_min / 60.0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.integers(-5, 10), st.sampled_from([0.0, 0.25, 0.5, 1.0])),
        min_size=1,
        max_size=6,
    ),
    st.floats(0.05, 1.0),
)
def test_availability_plan_matches_linear_programme(
    pieces: list[tuple[int, int, float]], share: float
) -> None:
    hours = np.array([h for h, _, _ in pieces], np.float64)
    prices = np.array([p for _, p, _ in pieces], np.float64)
    free = np.array([q for _, _, q in pieces], np.float64)
    power_kw = 2.0
    possible = float(np.dot(free, hours) * power_kw)
    if possible == 0:
        return
    need = share * possible
    slots = make_slots([int(60 * h) for h in hours], list(prices))
    plan = availability_plan(slots, need, power_kw, free)
    lp = linprog(
        c=free * prices,
        A_eq=[free],  # the car takes its need, no more, even at negative prices
        b_eq=[need],
        bounds=list(zip([0.0] * len(hours), power_kw * hours, strict=True)),
        method="highs",
    )
    assert lp.status == 0
    assert plan.cost_micro_minor == pytest.approx(lp.fun, abs=1e-6)
    assert plan.expected_kwh.sum() == pytest.approx(need)


def test_availability_plan_with_free_connector_is_the_exact_plan() -> None:
    slots = make_slots([60, 60, 60, 60], [5.0, 1.0, 3.0, 2.0])
    sure = availability_plan(slots, 5.0, 2.0, np.ones(4))
    exact = cheapest_plan(slots, 5.0, 2.0)
    assert np.allclose(sure.energy_kwh, exact.energy_kwh)


def test_availability_plan_books_more_when_the_connector_may_be_taken() -> None:
    slots = make_slots([60, 60, 60], [1.0, 2.0, 9.0])
    plan = availability_plan(slots, 2.0, 2.0, [0.5, 1.0, 1.0])
    assert plan.energy_kwh.tolist() == pytest.approx([2.0, 1.0, 0.0])
    assert plan.expected_kwh.sum() == pytest.approx(2.0)
    assert plan.total_kwh > 2.0


# -- behaviour at boundaries ----------------------------------------------------------------------


def test_partial_last_slot_charges_from_its_start() -> None:
    plan = cheapest_plan(make_slots([60, 60, 60], [3.0, 1.0, 2.0]), 3.0, 2.0)
    assert plan.energy_kwh.tolist() == pytest.approx([0.0, 2.0, 1.0])
    assert plan.intervals_h() == [(1.0, 2.5)]


def test_ties_go_to_the_earlier_slot() -> None:
    plan = cheapest_plan(make_slots([60, 60, 60], [2.0, 1.0, 1.0]), 1.0, 2.0)
    assert plan.energy_kwh.tolist() == pytest.approx([0.0, 1.0, 0.0])
    window = cheapest_window(make_slots([60, 60], [1.0, 1.0]), 1.0, 2.0)
    assert window.window_h == (0.0, 0.5)


def test_negative_prices_are_filled_first() -> None:
    slots = make_slots([60] * 6, [30.0, 10.0, -20.0, -5.0, 0.0, 40.0])
    plan = cheapest_plan(slots, 3.0, 2.0)
    assert plan.energy_kwh.tolist() == pytest.approx([0, 0, 2.0, 1.0, 0, 0])
    assert plan.cost_micro_minor < 0
    window = cheapest_window(slots, 4.0, 2.0)
    assert window.window_h == pytest.approx((2.0, 4.0))


def test_carbon_weight_moves_the_plan() -> None:
    slots = make_slots([60, 60], [1.0, 2.0], carbon=[500.0, 100.0])
    assert cheapest_plan(slots, 1.0, 1.0).energy_kwh.tolist() == [1.0, 0.0]
    green = cheapest_plan(slots, 1.0, 1.0, carbon_price_per_kg=10.0)
    assert green.energy_kwh.tolist() == [0.0, 1.0]
    assert green.cost_micro_minor == 2.0  # the cost stays the money paid


def test_infeasible_request_says_what_is_possible() -> None:
    slots = make_slots([60, 30], [1.0, 1.0])
    with pytest.raises(InfeasibleRequestError, match=r"at most 10\.500 kWh") as caught:
        cheapest_plan(slots, 12.0, 7.0)
    assert caught.value.possible_kwh == pytest.approx(10.5)
    with pytest.raises(InfeasibleRequestError, match=r"at most 3\.500 kWh"):
        availability_plan(slots, 5.0, 7.0, [0.5, 0.0])


@pytest.mark.parametrize(("kwh", "kw"), [(0.0, 7.0), (-1.0, 7.0), (5.0, 0.0), (float("nan"), 7)])
def test_bad_request_is_refused(kwh: float, kw: float) -> None:
    with pytest.raises(AdviceInputError):
        cheapest_window(make_slots([60], [1.0]), kwh, kw)


def test_bad_slots_are_refused() -> None:
    with pytest.raises(AdviceInputError, match="back to back"):
        Slots(np.array([0, 10]), np.array([5, 20]), np.array([1.0, 2.0]))
    with pytest.raises(AdviceInputError, match="missing"):
        make_slots([60], [float("nan")])
    with pytest.raises(AdviceInputError, match="one value in"):
        availability_plan(make_slots([60], [1.0]), 1.0, 2.0, [1.5])


def test_refine_splits_slots_and_per_slot_maps_values() -> None:
    slots = make_slots([90, 30], [1.0, 2.0])
    hours = to_us(T0) + np.arange(3, dtype=np.int64) * US_PER_H
    fine = refine(slots, hours)
    assert fine.hours.tolist() == [1.0, 0.5, 0.5]
    assert fine.price.tolist() == [1.0, 1.0, 2.0]
    free = per_slot(fine, hours[:-1], hours[1:], [0.9, 0.4], what="occupancy forecast")
    assert free.tolist() == [0.9, 0.4, 0.4]
    with pytest.raises(AdviceInputError, match="occupancy forecast"):
        per_slot(fine, hours[:1], hours[1:2], [0.9], what="occupancy forecast")


# -- tariffs, DST, billing ------------------------------------------------------------------------


def test_tou_spring_forward_day_has_23_hours_of_slots() -> None:
    tariff = load_tariff(TARIFFS / "uk_tou_vat.json")
    arrival = datetime(2019, 3, 31, 0, 0, tzinfo=UTC)  # a Sunday: 00:00 GMT .. 00:00 BST
    departure = datetime(2019, 3, 31, 23, 0, tzinfo=UTC)
    slots = tariff_slots(tariff, arrival, departure)
    assert slots.hours.sum() == pytest.approx(23.0)
    assert set(slots.price.tolist()) == {30_000_000.0}  # weekend band 0.30 GBP/kWh in µpence


def test_tou_plan_waits_for_the_off_peak_band() -> None:
    tariff = load_tariff(TARIFFS / "uk_tou_vat.json")
    arrival = datetime(2019, 6, 3, 17, 0, tzinfo=UTC)  # Monday 18:00 BST, in the peak band
    slots = tariff_slots(tariff, arrival, arrival + timedelta(hours=12))
    plan = cheapest_plan(slots, 14.0, 7.0)
    (start, _end), *_ = plan.intervals_us()
    assert datetime.fromtimestamp(start / 1e6, UTC) == datetime(2019, 6, 3, 22, 0, tzinfo=UTC)
    assert plan.cost == pytest.approx(14 * 0.25)


def test_fall_back_day_uses_the_cheaper_repeated_hour(tmp_path: Path) -> None:
    prices = ["50"] * 25
    prices[3] = "-10"  # 02:00-03:00 the second time (winter time): 01:00-02:00 UTC
    series = entsoe_csv(tmp_path, hourly_rows("27.10.2019", prices))
    arrival = datetime(2019, 10, 26, 22, 0, tzinfo=UTC)  # 00:00 CEST
    slots = tariff_slots(dynamic_tariff(), arrival, arrival + timedelta(hours=25), series)
    assert slots.hours.sum() == pytest.approx(25.0)
    plan = cheapest_plan(slots, 7.0, 7.0)
    (start, end), *_ = plan.intervals_us()
    assert (start, end) == (
        to_us(datetime(2019, 10, 27, 1, 0, tzinfo=UTC)),
        to_us(datetime(2019, 10, 27, 2, 0, tzinfo=UTC)),
    )


def test_spring_forward_day_skips_the_missing_hour(tmp_path: Path) -> None:
    prices = [str(40 - h) for h in range(24)]
    prices[2] = ""  # 02:00-03:00 does not exist on 31.03.2019
    series = entsoe_csv(tmp_path, hourly_rows("31.03.2019", prices))
    arrival = datetime(2019, 3, 30, 23, 0, tzinfo=UTC)  # 00:00 CET
    slots = tariff_slots(dynamic_tariff(), arrival, arrival + timedelta(hours=23), series)
    assert slots.hours.sum() == pytest.approx(23.0)
    plan = cheapest_window(slots, 14.0, 7.0)  # two hours: the last two are the cheapest
    assert plan.intervals_us() == [
        (
            to_us(datetime(2019, 3, 31, 20, 0, tzinfo=UTC)),
            to_us(datetime(2019, 3, 31, 22, 0, tzinfo=UTC)),
        )
    ]


def test_bill_plan_energy_line_is_the_plan_cost(tmp_path: Path) -> None:
    series = entsoe_csv(tmp_path, hourly_rows("03.06.2019", [str(30 + (h % 5)) for h in range(24)]))
    tariff = load_tariff(TARIFFS / "be_dynamic_spot.json")
    arrival = datetime(2019, 6, 3, 6, 0, tzinfo=UTC)
    slots = tariff_slots(tariff, arrival, arrival + timedelta(hours=8), series)
    for plan in (cheapest_plan(slots, 17.0, 7.4), immediate_plan(slots, 17.0, 7.4)):
        lines = {line.code: line for line in bill_plan(plan, tariff, series)}
        assert lines["energy:spot"].quantity == Decimal("17.0")
        assert float(lines["energy:spot"].amount) == pytest.approx(plan.cost, abs=0.006)
        assert lines["time_connected"].quantity == Decimal(480)


def test_missing_price_in_the_stay_is_refused(tmp_path: Path) -> None:
    prices = ["30"] * 24
    prices[10] = "n/e"
    series = entsoe_csv(tmp_path, hourly_rows("03.06.2019", prices))
    arrival = datetime(2019, 6, 3, 5, 0, tzinfo=UTC)
    with pytest.raises(Exception, match="missing"):
        tariff_slots(dynamic_tariff(), arrival, arrival + timedelta(hours=10), series)


# -- suggested starts -----------------------------------------------------------------------------


def test_suggest_starts_are_cheaper_distinct_and_sorted(tmp_path: Path) -> None:
    prices = ["80"] * 24
    for hour, price in ((12, "10"), (13, "10"), (16, "-5"), (17, "20")):
        prices[hour] = price
    series = entsoe_csv(tmp_path, hourly_rows("03.06.2019", prices))
    start = datetime(2019, 6, 3, 7, 0, tzinfo=UTC)  # 09:00 CEST
    found = suggest_starts(
        dynamic_tariff(), start, start + timedelta(hours=12), 7.0, 7.0, prices=series
    )
    assert [s.start.hour for s in found] == [14, 10, 11]  # 16:00, 12:00, 13:00 CEST
    assert all(s.saving > 0 for s in found)
    assert [s.energy_cost for s in found] == sorted(s.energy_cost for s in found)
    assert found[0].energy_cost == pytest.approx(-0.035)
    for a, b in itertools.combinations(found, 2):
        assert a.end <= b.start or b.end <= a.start


def test_suggest_starts_on_a_flat_price_is_empty() -> None:
    tariff = load_tariff(TARIFFS / "dundee_flat.json")
    start = datetime(2019, 6, 3, 7, 0, tzinfo=UTC)
    assert suggest_starts(tariff, start, start + timedelta(hours=6), 10.0, 7.0) == []


def test_free_probability_from_an_occupancy_forecast() -> None:
    from models.advise.availability import free_probability

    assert free_probability([0.0, 1.0, 2.0, 5.0], 2).tolist() == pytest.approx(
        [1.0, 0.75, 0.0, 0.0]
    )
    assert free_probability([0.5], 1).tolist() == [0.5]
    with pytest.raises(AdviceInputError):
        free_probability([-1.0], 2)
    with pytest.raises(AdviceInputError):
        free_probability([1.0], 0)
