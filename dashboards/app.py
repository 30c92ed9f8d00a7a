"""The operator's Dash app: a header with one link per page, then the current page.

Pages are modules under :mod:`dashboards.pages`, each with ``register(app, context)``; they are
added explicitly (``pages_folder=""``) so creating the app twice in one process works. Everything
is served locally (no CDN, no external stylesheet): the machines it runs on may be offline.
"""

from __future__ import annotations

import dash
from dash import Dash, dcc, html

from chargegrid.clock import Clock, SystemClock
from chargegrid.settings import Settings
from dashboards import context
from dashboards.pages import advice, live, quality, siting, utilisation

PAGES = (live, advice, utilisation, siting, quality)


def create_app(settings: Settings, *, clock: Clock | None = None) -> Dash:
    """A Dash app over ``settings``' data dir; ``clock`` (wall time) defaults to the system's."""
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        serve_locally=True,
        external_stylesheets=[],
        external_scripts=[],
        title="chargegrid",
        update_title="",
    )
    ctx = context.AppContext(settings=settings, clock=clock or SystemClock())
    context.attach(app.server, ctx)
    for page in PAGES:
        page.register(app, ctx)
    app.layout = _shell
    return app


def _shell() -> html.Div:
    """Header and nav (built per request from the page registry), then the page container."""
    links = [
        dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
        for page in dash.page_registry.values()
    ]
    return html.Div(
        className="shell",
        children=[
            html.Header(
                className="header",
                children=[html.Span("chargegrid", className="brand"), html.Nav(links)],
            ),
            html.Main(dash.page_container),
        ],
    )


def serve(settings: Settings) -> None:
    """Run the dashboard on ``settings.host:settings.dashboard_port`` (no debug reloader)."""
    app = create_app(settings)
    app.run(host=settings.host, port=settings.dashboard_port, debug=False, use_reloader=False)
