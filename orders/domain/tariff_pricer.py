"""A :class:`~orders.domain.quote.Pricer` backed by the billing kernel (``pipeline/billing.py``).

Quotes are priced by :func:`pipeline.billing.quote_session` — the same kernel as the final bill —
on a constant-power profile: ``energy_wh`` delivered at the connector's rated power from
``start``. Energy lines keep their energy (Wh); fees and taxes are separate lines.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from chargegrid.tariffs import Tariff
from orders.domain.catalog import Offer
from orders.domain.quote import LineKind, QuoteLine

MIN_DURATION = timedelta(seconds=1)


class TariffPricer:
    """Prices offers with one tariff (its currency is the quotes' currency)."""

    def __init__(self, tariff: Tariff) -> None:
        self.tariff = tariff

    @property
    def currency(self) -> str:
        return self.tariff.currency

    def unit_price_minor_per_kwh(self, offer: Offer, at: datetime) -> int:
        """The energy price of one kWh charged from ``at`` (fees and taxes excluded)."""
        return sum(
            line.amount_minor
            for line in self.lines(offer, 1000, at)
            if line.kind == LineKind.energy
        )

    def lines(self, offer: Offer, energy_wh: int, start: datetime) -> list[QuoteLine]:
        from pipeline.billing import quote_session

        power_w = offer.max_power_w if offer.max_power_w > 0 else 1.0
        duration = max(MIN_DURATION, timedelta(hours=energy_wh / power_w))
        out = []
        for line in quote_session(self.tariff, start, start + duration, float(energy_wh)):
            if line.code.startswith("energy"):
                wh = int(line.quantity * 1000) if line.unit.lower() == "kwh" else None
                out.append(QuoteLine(LineKind.energy, line.code, line.amount_minor, wh))
            elif line.code.startswith("tax"):
                out.append(QuoteLine(LineKind.tax, line.code, line.amount_minor))
            elif line.amount_minor != 0 or line.quantity != Decimal(0):
                out.append(QuoteLine(LineKind.fee, line.code, line.amount_minor))
        return out
