from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dash
from dash import dcc

from chargegrid.clock import FrozenClock
from chargegrid.inventory import Inventory
from chargegrid.live import LiveSnapshot
from chargegrid.settings import Settings, load_settings
from dashboards.app import PAGES, create_app
from dashboards.pages import live
from tests.dashboards.conftest import T0


def find(component: Any, component_id: str) -> Any:
    """The component with ``component_id`` in a Dash layout tree."""
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found = find(child, component_id)
            if found is not None:
                return found
    return None


def seeded_layout(app: dash.Dash) -> Any:
    with app.server.test_request_context("/"):
        return live.layout()


def test_index_is_served_without_cdn(settings: Settings) -> None:
    app = create_app(settings)
    html = app.server.test_client().get("/").get_data(as_text=True)
    assert "chargegrid" in html
    assert "cdn." not in html and "unpkg" not in html and "https://" not in html
    assert app.config.serve_locally is True


def test_live_page_seeds_from_snapshot(
    settings: Settings, snapshot: LiveSnapshot, inventory: Inventory
) -> None:
    layout = seeded_layout(create_app(settings))
    graph = find(layout, live.ID_POWER)
    assert isinstance(graph, dcc.Graph)
    assert {t.meta for t in graph.figure.data} == {"CP-1/1", "CP-1/2"}
    assert find(layout, live.ID_VERSION).data == snapshot.generated_at.isoformat()
    assert find(layout, "live-headline-dead").children[0].children == "5"


def test_live_page_seeds_from_lake_without_snapshot(settings: Settings, lake: Path) -> None:
    layout = seeded_layout(create_app(settings))
    figure = find(layout, live.ID_POWER).figure
    assert [t.meta for t in figure.data] == ["CP-2/1"]
    assert len(figure.data[0].x) == 5  # readings every 2 min, 10 min before the newest
    assert find(layout, "live-headline-readings").children[0].children == "16"


def test_live_page_waits_with_no_data(settings: Settings) -> None:
    layout = seeded_layout(create_app(settings))
    assert find(layout, live.ID_STATUS).children == "waiting for the pipeline…"
    assert not find(layout, live.ID_POWER).figure.data


def test_two_apps_in_one_process_keep_their_own_data(
    tmp_path: Path, settings: Settings, snapshot: LiveSnapshot
) -> None:
    other = load_settings(data_dir=tmp_path / "other")
    first, second = create_app(settings), create_app(other)
    assert find(seeded_layout(first), live.ID_POWER).figure.data
    assert not find(seeded_layout(second), live.ID_POWER).figure.data
    assert list(dash.page_registry) == [page.__name__ for page in PAGES]  # each once


def test_status_line_shows_event_time_and_staleness(
    settings: Settings, snapshot: LiveSnapshot
) -> None:
    clock = FrozenClock(snapshot.generated_at + timedelta(seconds=3))
    app = create_app(settings, clock=clock)
    assert find(seeded_layout(app), live.ID_STATUS).children == (
        "event time 2023-03-14 09:30:00 UTC · snapshot 3 s old"
    )
    clock.at = datetime(2025, 1, 1, 13, 0, tzinfo=UTC)
    assert find(seeded_layout(app), live.ID_STATUS).children.endswith("pipeline silent")


def test_build_view_in_event_time(settings: Settings, snapshot: LiveSnapshot, lake: Path) -> None:
    ctx = live.AppContext(settings=settings, clock=FrozenClock(T0 + timedelta(days=999)))
    view = live.build_view(ctx, snapshot)
    assert [r.duration_s for r in view.sessions] == [42 * 60]
    assert {h.key: h.value for h in view.headlines}["energy"] == "34.9 kWh"
