"""The Advice page: plans for typed inputs, the chart of prices and chosen slots, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chargegrid.clock import FrozenClock
from chargegrid.settings import Settings
from dashboards.app import create_app
from dashboards.pages import advice
from tests.dashboards.conftest import free_port
from tests.dashboards.test_app import find
from warehouse.reference_schema import PRICES

MONDAY_17 = "2019-06-03T17:00+01:00"  # BST, in the UK tariff's peak band
TUESDAY_07 = "2019-06-04T07:00+01:00"


def test_tou_plan_waits_for_off_peak(settings: Settings) -> None:
    view = advice.build_view(settings, MONDAY_17, TUESDAY_07, 14.0, 7.0, "uk-tou-ac-2024")
    assert view.message.startswith("cheapest: 3.50 GBP")
    assert [row[0] for row in view.rows] == ["immediate", "exact", "window"]
    assert view.rows[1][3] == "03 Jun 23:00–01:00"
    price, *bars = view.figure.data
    assert price.meta == "price" and price.line.shape == "hv"
    assert max(price.y) == pytest.approx(0.55) and min(price.y) == pytest.approx(0.25)
    exact = next(bar for bar in bars if bar.meta == "exact")
    assert sum(exact.y) == pytest.approx(14.0)
    assert len(exact.x) == len(price.x) - 1  # one bar per slot


@pytest.mark.parametrize(
    ("arrival", "kwh", "tariff", "message"),
    [
        ("2019-06-03T17:00", 14.0, "uk-tou-ac-2024", "no UTC offset"),
        ("yesterday", 14.0, "uk-tou-ac-2024", "not an ISO 8601"),
        (MONDAY_17, 200.0, "uk-tou-ac-2024", "at most 98.000 kWh"),
        (MONDAY_17, None, "uk-tou-ac-2024", "must be a positive number"),
        (MONDAY_17, 14.0, "nope", "unknown tariff"),
        (MONDAY_17, 14.0, "be-dynamic-spot", "chargegrid import entsoe"),
    ],
)
def test_bad_input_gives_a_message_not_an_error(
    settings: Settings, arrival: str, kwh: float | None, tariff: str, message: str
) -> None:
    view = advice.build_view(settings, arrival, TUESDAY_07, kwh, 7.0, tariff)
    assert message in view.message
    assert view.rows == [] and view.figure.data == ()


def write_prices(settings: Settings, start: datetime, eur_per_mwh: list[int]) -> None:
    rows = [
        {
            "source": "entsoe",
            "zone": "BE",
            "started_at": start + timedelta(hours=h),
            "ended_at": start + timedelta(hours=h + 1),
            "price_micro_minor_per_kwh": p * 100_000,
            "price_per_mwh": float(p),
            "currency": "EUR",
            "file": "t.csv",
        }
        for h, p in enumerate(eur_per_mwh)
    ]
    folder = settings.lake_dir / "imported_prices" / "source=entsoe"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=PRICES), folder / "data.parquet")


def test_dynamic_tariff_uses_imported_prices_negative_first(settings: Settings) -> None:
    start = datetime(2019, 6, 3, 0, 0, tzinfo=UTC)
    write_prices(settings, start, [50] * 10 + [-20] + [40] * 13)
    view = advice.build_view(
        settings, "2019-06-03T05:00Z", "2019-06-03T15:00Z", 7.0, 7.0, "be-dynamic-spot"
    )
    assert view.rows[1][3] == "03 Jun 12:00–13:00"  # 10:00 UTC, the negative hour, in CEST
    assert view.rows[1][1] == "0.70 EUR"  # 7 kWh x (-0.02 spot + 0.12 margin)
    assert "EUR" in view.message


def test_page_is_registered_and_seeded(settings: Settings) -> None:
    app = create_app(settings, clock=FrozenClock(datetime(2019, 6, 3, 16, 20, tzinfo=UTC)))
    with app.server.test_request_context(advice.PATH):
        layout = advice.layout()
    assert find(layout, advice.ID_ARRIVAL).value == "2019-06-03T17:00:00+00:00"
    assert find(layout, advice.ID_TARIFF).value == "uk-tou-ac-2024"
    assert len(find(layout, advice.ID_CHART).figure.data) == 4
    response = app.server.test_client().get(advice.PATH)
    assert response.status_code == 200


@pytest.mark.browser
def test_operator_types_a_request_and_sees_the_plan(dash_duo: Any, settings: Settings) -> None:
    clock = FrozenClock(datetime(2019, 6, 3, 16, 20, tzinfo=UTC))
    dash_duo.start_server(create_app(settings, clock=clock), port=free_port())
    dash_duo.driver.get(dash_duo.server_url + advice.PATH)
    dash_duo.wait_for_contains_text(f"#{advice.ID_TABLE}", "exact", timeout=10)
    typed = ((advice.ID_DEPARTURE, TUESDAY_07), (advice.ID_KWH, "14"), (advice.ID_KW, "7"))
    for element_id, value in typed:
        box = dash_duo.find_element(f"#{element_id}")
        dash_duo.clear_input(box)
        box.send_keys(value)
    dash_duo.find_element(f"#{advice.ID_GO}").click()
    dash_duo.wait_for_contains_text(f"#{advice.ID_MESSAGE}", "cheapest: 3.50 GBP", timeout=10)
    dash_duo.wait_for_contains_text(f"#{advice.ID_TABLE}", "03 Jun 23:00–01:00", timeout=5)
    bars = dash_duo.find_elements(f"#{advice.ID_CHART} .barlayer .trace")
    assert len(bars) == 3
    assert dash_duo.get_logs() == []
