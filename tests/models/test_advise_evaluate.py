"""Replay evaluation and the ``chargegrid advise`` commands, on small fixtures and real data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chargegrid.cli import app
from chargegrid.tariffs import PriceSeries, load_tariff, parse_tariff, to_us
from models.advise.evaluate import (
    DEFAULT_TARIFF,
    STRATEGIES,
    US_PER_DAY,
    Market,
    Stay,
    evaluate,
    evaluate_files,
    place,
    replanned_energy,
    session_costs,
)
from models.advise.plan import InfeasibleRequestError, cheapest_plan
from models.advise.slots import refine, slots_between

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
US_PER_H = 3_600_000_000
DAY0 = datetime(2018, 3, 5, tzinfo=UTC)  # a Monday; Brussels is UTC+1 until 25 March


def synthetic_market(days: int = 14, seed: int = 1) -> Market:
    """Hourly prices with a daily shape plus noise (µcent/kWh), from DAY0."""
    hours = np.arange(days * 24)
    start = to_us(DAY0) + hours.astype(np.int64) * US_PER_H
    shape = 5e6 * np.sin(2 * np.pi * (hours % 24 - 7) / 24)
    noise = np.random.default_rng(seed).normal(0, 2e6, len(hours))
    return Market(start, start + US_PER_H, 15e6 + shape + noise, "EUR")


def stay_at(hour: float, hours: float, kwh: float, kw: float = 7.0) -> Stay:
    arrival = to_us(DAY0) + int(hour * US_PER_H)
    return Stay("t", arrival, arrival + int(hours * US_PER_H), kwh, kw)


def test_known_prices_follow_the_13h_publication() -> None:
    market = synthetic_market()
    before = to_us(datetime(2018, 3, 6, 11, 59, tzinfo=UTC))  # 12:59 CET
    after = to_us(datetime(2018, 3, 6, 12, 0, tzinfo=UTC))  # 13:00 CET
    assert market.known_until_us(before) == to_us(datetime(2018, 3, 6, 23, 0, tzinfo=UTC))
    assert market.known_until_us(after) == to_us(datetime(2018, 3, 7, 23, 0, tzinfo=UTC))
    assert market.publications_us(before, after + 3 * US_PER_DAY) == [
        after + k * US_PER_DAY for k in range(3)
    ]


def test_unpublished_slots_are_believed_at_the_last_published_same_hour() -> None:
    market = synthetic_market()
    arrival = to_us(datetime(2018, 3, 6, 8, 0, tzinfo=UTC))  # 09:00 CET: today known
    slots = slots_between(
        market.start_us, market.end_us, market.price, arrival, arrival + 40 * US_PER_H
    )
    known_until = market.known_until_us(arrival)
    seen = market.believed(slots, known_until)
    late = slots.start_us >= known_until
    assert np.array_equal(seen[~late], slots.price[~late])
    for i in np.nonzero(late)[0]:
        earlier = int(slots.start_us[i])
        while earlier >= known_until:
            earlier -= US_PER_DAY
        j = int(np.searchsorted(market.start_us, earlier))
        assert seen[i] == market.price[j]


def test_oracle_exact_is_never_beaten() -> None:
    market = synthetic_market()
    rng = np.random.default_rng(3)
    for _ in range(40):
        hours = float(rng.uniform(1, 60))
        stay = stay_at(float(rng.uniform(0, 200)), hours, float(rng.uniform(0.1, 7 * hours)))
        costs = session_costs(stay, market)
        assert set(costs) == set(STRATEGIES)
        for name, cost in costs.items():
            assert cost >= costs["oracle exact"] - 1e-6, name
        assert costs["oracle exact"] <= costs["oracle window"] + 1e-6


def test_replanning_delivers_the_need_and_equals_the_oracle_when_all_is_known() -> None:
    market = synthetic_market()
    stay = stay_at(36, 30, 60.0)  # arrives 13:00 CET: everything until departure is published
    slots = slots_between(
        market.start_us, market.end_us, market.price, stay.arrival_us, stay.departure_us
    )
    energy = replanned_energy(slots, stay, market)
    assert energy.sum() == pytest.approx(60.0)
    assert np.allclose(energy, cheapest_plan(slots, 60.0, 7.0).energy_kwh)
    long_stay = stay_at(20, 60, 100.0)  # crosses three publications
    cut = refine(
        slots_between(
            market.start_us,
            market.end_us,
            market.price,
            long_stay.arrival_us,
            long_stay.departure_us,
        ),
        market.publications_us(long_stay.arrival_us, long_stay.departure_us),
    )
    energy = replanned_energy(cut, long_stay, market)
    assert energy.sum() == pytest.approx(100.0)
    assert np.all(energy <= 7.0 * cut.hours + 1e-9)


def test_stays_outside_the_prices_move_by_52_weeks() -> None:
    market = synthetic_market(days=400)
    stay = stay_at(-24 * 364 + 30, 5, 10.0)  # a year before the prices start
    moved, shifted = place(stay, market)
    assert shifted
    assert moved.arrival_us - stay.arrival_us == 364 * US_PER_DAY
    weekday = datetime.fromtimestamp(stay.arrival_us / 1e6, UTC).weekday()
    assert datetime.fromtimestamp(moved.arrival_us / 1e6, UTC).weekday() == weekday
    assert place(stay_at(30, 5, 10.0), market) == (stay_at(30, 5, 10.0), False)


def test_evaluate_totals_and_left_out_reasons() -> None:
    market = synthetic_market()
    stays: list[Stay | str] = [stay_at(h, 10, 20.0) for h in range(5, 200, 13)]
    stays += ["no_energy", stay_at(400, 5, 10.0)]  # the last: no price (after the series)
    result = evaluate(stays, market)
    assert result.sessions == len(stays) - 2
    assert result.left_out == {"no_energy": 1, "no_price": 1}
    assert result.savings_pct("oracle exact") >= result.savings_pct("exact @arrival") > 0
    assert result.regret_pct("oracle exact") == 0.0
    text = result.table()
    assert "exact replanned" in text and "regret %" in text


def dundee_export(path: Path) -> Path:
    rows = [
        "Charging event,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Cost,"
        "Site,Group,Model",
        "1,50001,1,05/03/2018,17:10,06/03/2018,07:40,14.2,,Site A,,APT 7kW Dual Outlet",
        "2,50001,2,05/03/2018,09:00,05/03/2018,17:00,21.0,,Site A,,APT 22kW Dual Outlet",
        "3,50002,1,06/03/2018,12:00,06/03/2018,12:30,0,,Site B,,APT 7kW Dual Outlet",
        "4,50002,1,06/03/2018,12:00,06/03/2018,12:30,30,,Site B,,APT 7kW Dual Outlet",
        "5,50003,1,07/03/2018,18:30,,,,,Site C,,APT 7kW Dual Outlet",
    ]
    path.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    return path


def entsoe_export(path: Path, days: int = 10) -> Path:
    lines = ['"MTU (CET)","Day-ahead Price [EUR/MWh]","BZN|BE"']
    start = datetime(2018, 3, 4)  # noqa: DTZ001 - CET wall time, before the March change
    for h in range(days * 24):
        a, b = start + timedelta(hours=h), start + timedelta(hours=h + 1)
        price = 60 - 40 * (a.hour < 6) + 30 * (17 <= a.hour < 20) - 70 * (a.hour == 3)
        lines.append(f'"{a:%d.%m.%Y %H:%M} - {b:%d.%m.%Y %H:%M}","{price}.00"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_evaluate_files_on_a_dundee_fixture(tmp_path: Path) -> None:
    export = dundee_export(tmp_path / "cpdata.csv")
    prices = entsoe_export(tmp_path / "prices.csv")
    result = evaluate_files("dundee", [export], [prices])
    assert result.sessions == 2
    assert result.left_out == {"no_energy": 1, "above_rated_power": 1, "rejected_no_end": 1}
    assert result.savings_pct("exact @arrival") > 10  # evening arrival: waits for the night
    assert result.cost["oracle exact"] < 0 or result.regret_pct("exact @arrival") >= 0


def test_cli_advise_evaluate_and_plan(tmp_path: Path) -> None:
    export = dundee_export(tmp_path / "cpdata.csv")
    prices = entsoe_export(tmp_path / "prices.csv")
    runner = CliRunner()
    out = runner.invoke(
        app, ["advise", "evaluate", "--source", "dundee", str(export), "--prices", str(prices)]
    )
    assert out.exit_code == 0, out.output
    assert "savings %" in out.output and "sessions: 2 " in out.output
    out = runner.invoke(
        app,
        [
            "advise", "plan", "--arrival", "2018-03-05T18:00+01:00",
            "--departure", "2018-03-06T08:00+01:00", "--kwh", "14", "--kw", "7",
            "--prices", str(prices), "--free", ",".join(["1"] * 14),
        ],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    exact = next(line for line in out.output.splitlines() if line.startswith("exact"))
    assert exact.endswith("06 00:00–01:00, 06 03:00–04:00")  # -10 EUR/MWh at 03, earliest 20
    out = runner.invoke(
        app,
        [
            "advise", "plan", "--arrival", "2018-03-05T18:00+01:00",
            "--departure", "2018-03-05T19:00+01:00", "--kwh", "14", "--kw", "7",
            "--prices", str(prices),
        ],
    )  # fmt: skip
    assert isinstance(out.exception, InfeasibleRequestError)  # main() prints it, exits 2
    assert "at most 7.000 kWh" in str(out.exception)


def test_margin_comes_from_the_tariff() -> None:
    tariff = load_tariff(DEFAULT_TARIFF)
    zero = parse_tariff(
        '{"id": "z", "name": "z", "currency": "EUR", "timezone": "Europe/Brussels",'
        ' "dynamic": {"margin_per_kwh": "0"}}'
    )
    series = PriceSeries(
        np.array([0], np.int64), np.array([US_PER_H], np.int64), np.array([5], np.int64), "EUR", "t"
    )
    assert Market.of(series, tariff).price[0] == 5 + 12_000_000
    assert Market.of(series, zero).price[0] == 5


@pytest.mark.skipif(not (SHARED / "dundee").is_dir(), reason="needs ../shared/data")
def test_real_dundee_sessions_with_real_be_prices() -> None:
    result = evaluate_files(
        "dundee",
        [SHARED / "dundee" / "cp-data-dec-mar-2018.csv"],
        [SHARED / "prices_entsoe_be" / "Day-ahead Prices_201801010000-201901010000.csv"],
        limit=1500,
    )
    assert result.sessions > 1000
    for name in STRATEGIES:
        assert result.cost[name] >= result.cost["oracle exact"] - 1e-3, name
    assert result.savings_pct("exact @arrival") > 0
    assert result.regret_pct("exact @arrival") < result.regret_pct("immediate")
