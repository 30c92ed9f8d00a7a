"""Quotes priced by the billing kernel through the Pricer protocol."""

from __future__ import annotations

from pathlib import Path

from chargegrid.tariffs import load_tariff
from orders.domain.quote import LineKind, Mode, QuoteRequest, quote
from orders.domain.tariff_pricer import TariffPricer
from tests.orders.support import T_EXAMPLE, catalog

TARIFFS = Path(__file__).resolve().parents[2] / "data" / "tariffs"


def test_flat_tariff_quote_prices_energy_and_applies_the_session_minimum() -> None:
    pricer = TariffPricer(load_tariff(TARIFFS / "dundee_flat.json"))
    big = quote(catalog(), QuoteRequest("pe-charging-01", Mode.energy, 20_000), pricer, T_EXAMPLE)
    assert big.currency == "GBP"
    assert big.total_minor == 300  # 20 kWh x £0.15
    energy = [line for line in big.lines if line.kind == LineKind.energy]
    assert sum(line.energy_wh or 0 for line in energy) == 20_000
    small = quote(catalog(), QuoteRequest("pe-charging-01", Mode.energy, 1_000), pricer, T_EXAMPLE)
    assert small.total_minor == 200  # the £2.00 minimum charge
    assert pricer.unit_price_minor_per_kwh(small.offer, T_EXAMPLE) == 15


def test_budget_quote_stays_within_the_budget_with_the_kernel() -> None:
    pricer = TariffPricer(load_tariff(TARIFFS / "dundee_flat.json"))
    q = quote(catalog(), QuoteRequest("pe-charging-01", Mode.budget, 500), pricer, T_EXAMPLE)
    assert q.total_minor <= 500
    assert q.energy_wh >= 33_000  # £5 buys 33.3 kWh at £0.15
