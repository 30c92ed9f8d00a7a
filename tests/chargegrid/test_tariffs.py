"""The tariff model: validation on load, schedule selection, DST-correct compilation."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import ValidationError

from chargegrid.tariffs import (
    BreakupLine,
    PriceSeries,
    Tariff,
    TariffError,
    compile_tariff,
    from_us,
    load_tariff,
    local_instant_us,
    micro_minor,
    to_us,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "tariffs"
LONDON = ZoneInfo("Europe/London")
FLAT = [{"name": "all", "bands": [{"name": "flat", "start": "00:00", "price_per_kwh": "0.2"}]}]


def doc(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "t",
        "name": "t",
        "currency": "GBP",
        "timezone": "Europe/London",
        "energy": FLAT,
    }
    base.update(fields)
    return base


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "tariff.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda p: p.name)
def test_every_authored_tariff_loads(path: Path) -> None:
    assert load_tariff(path).currency in {"GBP", "EUR"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"currency": "XYZ"}, "currency: unknown or unsupported ISO 4217 currency 'XYZ'"),
        ({"timezone": "Mars/Olympus"}, "timezone: unknown IANA time zone"),
        ({"energy": []}, "exactly one of 'energy'"),
        ({"dynamic": {"margin_per_kwh": "0.1"}}, "exactly one of 'energy'"),
        (
            {
                "energy": [
                    {"name": "a", "bands": [{"name": "x", "start": "01:00", "price_per_kwh": "1"}]}
                ]
            },
            "first band must start at 00:00",
        ),
        (
            {
                "energy": [
                    {
                        "name": "a",
                        "bands": [
                            {"name": "x", "start": "00:00", "price_per_kwh": "1"},
                            {"name": "y", "start": "25:00", "price_per_kwh": "1"},
                        ],
                    }
                ]
            },
            "energy.0.bands.1.start: time of day must be HH:MM",
        ),
        (
            {"energy": [{**FLAT[0], "days": "weekdays"}]},
            "no energy schedule covers 01-06 on Saturdays",
        ),
        (
            {"energy": [{**FLAT[0], "season_start": "02-30"}]},
            "season date must be MM-DD",
        ),
        ({"session_fee": "0.001"}, "finer than the currency's minor unit"),
        ({"price_per_minute_charging": "0.000000001"}, "finer than 1e-6 of a minor unit"),
        ({"session_fee": "-1"}, "session_fee: Input should be greater than or equal to 0"),
        ({"minimum_charge": "5", "maximum_charge": "2"}, "maximum_charge is below minimum"),
        ({"taxes": [{"name": "VAT", "rate_percent": "20.00001"}]}, "more than 4 decimals"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
    ],
)
def test_invalid_tariff_is_refused_naming_file_and_field(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, doc(**fields))
    with pytest.raises(TariffError) as caught:
        load_tariff(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_unreadable_and_non_json_files_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(TariffError, match="cannot read"):
        load_tariff(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TariffError, match=r"bad\.json: invalid tariff"):
        load_tariff(bad)


def test_tariff_is_immutable() -> None:
    t = Tariff.model_validate(doc())
    with pytest.raises(ValidationError):
        t.name = "changed"  # type: ignore[misc]


def test_prices_become_exact_integers() -> None:
    assert micro_minor(Decimal("0.14903"), "USD") == 14_903_000
    assert micro_minor(Decimal("-0.5"), "EUR") == -50_000_000
    assert micro_minor(Decimal("12"), "JPY") == 12_000_000


def test_season_window_wrapping_the_year_end() -> None:
    t = Tariff.model_validate(
        doc(
            energy=[
                {**FLAT[0], "name": "winter", "season_start": "10-1", "season_end": "5-31"},
                {**FLAT[0], "name": "summer", "season_start": "06-01", "season_end": "09-30"},
            ]
        )
    )
    names = {d: t.schedule_for(d).name for d in [date(2024, 12, 31), date(2025, 1, 1)]}  # type: ignore[union-attr]
    assert set(names.values()) == {"winter"}
    assert t.schedule_for(date(2024, 9, 30)).name == "summer"  # type: ignore[union-attr]
    assert t.schedule_for(date(2024, 10, 1)).name == "winter"  # type: ignore[union-attr]


def test_weekday_weekend_selection_and_first_match_wins() -> None:
    t = Tariff.model_validate(
        doc(
            energy=[
                {**FLAT[0], "name": "weekday", "days": "weekdays"},
                {**FLAT[0], "name": "any", "days": "all"},
            ]
        )
    )
    assert t.schedule_for(date(2024, 1, 12)).name == "weekday"  # type: ignore[union-attr]
    assert t.schedule_for(date(2024, 1, 13)).name == "any"  # type: ignore[union-attr]


def test_band_start_in_spring_forward_gap_begins_at_the_jump() -> None:
    at = local_instant_us(date(2024, 3, 31), 90, LONDON)  # 01:30 does not exist
    assert from_us(at) == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)


def test_band_start_in_fall_back_hour_begins_at_first_occurrence() -> None:
    at = local_instant_us(date(2024, 10, 27), 90, LONDON)  # 01:30 happens twice
    assert from_us(at) == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)


def test_compiled_boundaries_are_utc_instants_of_local_band_starts() -> None:
    t = load_tariff(DATA / "uk_tou_vat.json")
    c = compile_tariff(t, datetime(2024, 7, 2, tzinfo=UTC), datetime(2024, 7, 2, 12, tzinfo=UTC))
    starts = [from_us(b) for b in c.boundaries_us]
    assert datetime(2024, 7, 2, 6, 0, tzinfo=UTC) in starts  # 07:00 BST
    assert datetime(2024, 7, 2, 15, 0, tzinfo=UTC) in starts  # 16:00 BST
    assert np.all(np.diff(c.boundaries_us) > 0)
    names = [c.line_names[k] for k in c.piece_line]
    assert all(a != b for a, b in itertools.pairwise(names))  # merged neighbours


def test_schedule_validity_gap_is_refused_when_billing() -> None:
    t = Tariff.model_validate(doc(energy=[{**FLAT[0], "valid_until": "2024-01-31"}]))
    with pytest.raises(TariffError, match="no energy schedule covers 2024-02-"):
        compile_tariff(t, datetime(2024, 1, 30, tzinfo=UTC), datetime(2024, 2, 3, tzinfo=UTC))


def _series(prices: list[int], start: datetime, currency: str = "EUR") -> PriceSeries:
    s0 = to_us(start)
    starts = np.array([s0 + k * 3_600_000_000 for k in range(len(prices))], np.int64)
    return PriceSeries(starts, starts + 3_600_000_000, np.array(prices, np.int64), currency, "test")


def test_dynamic_tariff_prices_each_hour_at_spot_plus_margin() -> None:
    t = load_tariff(DATA / "be_dynamic_spot.json")
    series = _series([-50_000_000, 1_000_000, 2_000_000], datetime(2024, 1, 1, tzinfo=UTC))
    c = compile_tariff(
        t, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 3, tzinfo=UTC), series
    )
    assert c.line_names == ("spot",)
    assert c.piece_price.tolist() == [-38_000_000, 13_000_000, 14_000_000]


def test_dynamic_tariff_refuses_missing_prices_and_other_currencies() -> None:
    t = load_tariff(DATA / "be_dynamic_spot.json")
    jan = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(TariffError, match="give a price series"):
        compile_tariff(t, jan, jan)
    with pytest.raises(TariffError, match="prices are in GBP"):
        compile_tariff(t, jan, jan, _series([1], jan, "GBP"))
    with pytest.raises(TariffError, match="no price for part of"):
        compile_tariff(t, jan, datetime(2024, 1, 1, 5, tzinfo=UTC), _series([1, 2], jan))
    holed = PriceSeries.concat(
        [_series([1], jan), _series([2], datetime(2024, 1, 1, 2, tzinfo=UTC))]
    )
    with pytest.raises(TariffError, match="price missing from 2024-01-01T01:00:00"):
        compile_tariff(t, jan, datetime(2024, 1, 1, 2, 30, tzinfo=UTC), holed)


def test_breakup_line_money_is_exact_and_beckn_shaped() -> None:
    line = BreakupLine(
        code="energy:peak",
        quantity=Decimal("7"),
        unit="kWh",
        unit_price=Decimal("0.55"),
        amount_minor=385,
        currency="GBP",
    )
    assert line.amount == Decimal("3.85")
    assert line.beckn_breakup_item() == {
        "title": "energy:peak",
        "price": {"currency": "GBP", "value": "3.85"},
    }
