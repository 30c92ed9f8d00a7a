"""Quotes offer cheaper start times when the tariff's price changes within the driver's window."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from chargegrid.clock import FrozenClock
from chargegrid.tariffs import load_tariff
from orders import beckn_v1
from orders.domain.quote import FlatRatePricer, Mode, QuoteRequest, quote
from orders.domain.suggest import suggested_starts
from orders.domain.tariff_pricer import TariffPricer
from orders.models_v1 import Context
from orders.protocol import Outcome
from tests.orders.openapi import validate_openapi
from tests.orders.support import BAP, BPP_ID, DOMAIN, catalog, make_bpp

TARIFFS = Path(__file__).resolve().parents[2] / "data" / "tariffs"
NOW = datetime(2023, 7, 17, 13, 30, tzinfo=UTC)  # a Monday, 14:30 in London
# 15:00-24:00 London: the 16:00-19:00 peak (0.55/kWh) is ahead, then 0.40, then 0.25 from 23:00
WINDOW = (datetime(2023, 7, 17, 14, 0, tzinfo=UTC), datetime(2023, 7, 17, 23, 0, tzinfo=UTC))


def _quote(pricer: object, end: datetime | None = WINDOW[1]) -> object:
    request = QuoteRequest("pe-charging-01", Mode.energy, 10_000, start=WINDOW[0], end=end)
    return quote(catalog(), request, pricer, NOW)  # type: ignore[arg-type]


def test_a_time_of_use_window_gets_cheaper_starts_inside_it() -> None:
    pricer = TariffPricer(load_tariff(TARIFFS / "uk_tou_vat.json"))
    q = _quote(pricer)
    found = suggested_starts(q, pricer)  # type: ignore[arg-type]
    assert 1 <= len(found) <= 3
    for s in found:
        assert WINDOW[0] <= s.start < s.end <= WINDOW[1]
        assert s.saving > 0 and s.saving_pct > 0
    starts = sorted(s.start for s in found)
    assert all(a < b for a, b in itertools.pairwise(starts))
    # starting at 15:00 runs into the peak; every suggestion starts after it began (16:00)
    assert all(s.start >= datetime(2023, 7, 17, 15, 0, tzinfo=UTC) for s in found)


def test_no_suggestion_for_a_flat_rate_or_without_an_end() -> None:
    flat = FlatRatePricer("INR", price_minor_per_kwh=1800, tax_bp=1800)
    assert suggested_starts(_quote(flat), flat) == []  # type: ignore[arg-type]
    tou = TariffPricer(load_tariff(TARIFFS / "uk_tou_vat.json"))
    assert suggested_starts(_quote(tou, end=None), tou) == []  # type: ignore[arg-type]


@pytest.mark.shared
def test_on_select_carries_them_as_order_tags_valid_in_core_v1_1_1(
    tmp_path: Path, beckn_dir: Path
) -> None:
    pricer = TariffPricer(load_tariff(TARIFFS / "uk_tou_vat.json"))
    q = _quote(pricer)
    found = suggested_starts(q, pricer)  # type: ignore[arg-type]
    message = beckn_v1.on_select(q, pricer, NOW, suggested=found)  # type: ignore[arg-type]
    context = Context(
        domain=DOMAIN,
        action="select",
        version="1.1.0",
        bap_id=BAP.subscriber_id,
        bap_uri="http://127.0.0.1:9/beckn",
        bpp_id=BPP_ID,
        transaction_id="t-s",
        message_id="m-s",
        timestamp=NOW,
    )
    bpp = make_bpp(tmp_path / "o.sqlite", FrozenClock(NOW), httpx.AsyncClient())
    body = orjson.loads(bpp.callback(context, Outcome(message=message)).body)
    validate_openapi(beckn_dir, body)
    groups = body["message"]["order"]["tags"]
    assert [g["descriptor"]["code"] for g in groups] == ["suggested-start"] * len(found)
    assert [t["descriptor"]["code"] for t in groups[0]["list"]] == [
        "start", "end", "saving", "saving-pct"
    ]  # fmt: skip
