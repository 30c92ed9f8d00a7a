"""The Live page in headless Chromium: seeded on first render, then refreshed from the snapshot."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chargegrid.clock import FrozenClock
from chargegrid.inventory import Inventory
from chargegrid.live import LiveSnapshot, write_snapshot
from chargegrid.settings import Settings
from dashboards.app import create_app
from tests.dashboards.conftest import T0, free_port, make_snapshot

pytestmark = pytest.mark.browser

SCREENSHOT = Path(os.environ.get("CHARGEGRID_LIVE_SCREENSHOT", "/tmp/live.png"))

FIGURE_POINTS = """
const graph = document.querySelector('#live-power .js-plotly-plot');
if (!graph || !graph.data) { return null; }
return graph.data.map(t => [t.meta, t.x.length, t.y[t.y.length - 1]]);
"""


def traces(dash_duo: Any) -> list[list[Any]] | None:
    result: list[list[Any]] | None = dash_duo.driver.execute_script(FIGURE_POINTS)
    return result


def test_live_page_seeds_then_refreshes(
    dash_duo: Any, settings: Settings, snapshot: LiveSnapshot, inventory: Inventory, lake: Path
) -> None:
    clock = FrozenClock(snapshot.generated_at + timedelta(seconds=1))
    dash_duo.start_server(create_app(settings, clock=clock), port=free_port())

    dash_duo.wait_for_element("#live-power .js-plotly-plot .scatterlayer path.js-line", timeout=10)
    assert sorted(t[0] for t in traces(dash_duo) or []) == ["CP-1/1", "CP-1/2"]
    tiles = dash_duo.find_elements("#live-board .live-tile")
    assert [t.get_attribute("data-status") for t in tiles] == ["Charging", "Available", "Faulted"]
    dash_duo.wait_for_text_to_equal("#live-headline-charging .value", "1 / 3")
    dash_duo.wait_for_contains_text("#live-sessions", "tx-1")
    dash_duo.driver.save_screenshot(str(SCREENSHOT))

    newer = make_snapshot(T0 + timedelta(minutes=1), charging_w=11_000.0)
    newer.generated_at += timedelta(seconds=5)
    newer.connectors[2].status = "Available"
    newer.power_history["CP-2/1"] = newer.power_history["CP-1/1"]
    write_snapshot(newer, settings.live_dir)

    dash_duo.wait_for_text_to_equal("#live-headline-power .value", "11.0 kW", timeout=10)
    dash_duo.wait_for_contains_text("#live-status", "09:31:00", timeout=5)
    statuses = [t.get_attribute("data-status") for t in dash_duo.find_elements(".live-tile")]
    assert statuses == ["Charging", "Available", "Available"]
    assert sorted(t[0] for t in traces(dash_duo) or []) == ["CP-1/1", "CP-1/2", "CP-2/1"]
    assert dash_duo.get_logs() == []


def test_live_page_before_the_pipeline_then_first_snapshot(
    dash_duo: Any, settings: Settings
) -> None:
    dash_duo.start_server(create_app(settings), port=free_port())
    dash_duo.wait_for_text_to_equal("#live-status", "waiting for the pipeline…", timeout=10)
    dash_duo.wait_for_contains_text(
        "#live-power .annotation", "waiting for the pipeline", timeout=10
    )
    assert traces(dash_duo) == []
    dash_duo.wait_for_contains_text("#live-board", "waiting for the pipeline")

    write_snapshot(make_snapshot(), settings.live_dir)
    dash_duo.wait_for_element("#live-power .scatterlayer path.js-line", timeout=10)
    assert len(dash_duo.find_elements("#live-board .live-tile")) == 3
