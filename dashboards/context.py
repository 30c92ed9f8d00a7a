"""What a running dashboard app knows: its settings and clock, kept on its Flask server.

Dash's page registry is process-global, so page layouts must not close over one app's settings;
they look the context up from the app serving the current request instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import flask

from chargegrid.clock import Clock
from chargegrid.settings import Settings

CONFIG_KEY = "CHARGEGRID_DASHBOARD"


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    clock: Clock


def attach(server: flask.Flask, context: AppContext) -> None:
    """Keep ``context`` on the app's Flask server."""
    server.config[CONFIG_KEY] = context


def current() -> AppContext | None:
    """The context of the app serving this request; None outside a request."""
    if not flask.has_app_context():
        return None
    context = flask.current_app.config.get(CONFIG_KEY)
    return context if isinstance(context, AppContext) else None
