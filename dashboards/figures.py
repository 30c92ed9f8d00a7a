"""Pure builders for the dashboards: plain data in, plotly figures and row lists out.

No I/O, no clock, no Dash components: everything here is tested without a browser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import plotly.graph_objects as go

from chargegrid.inventory import Inventory
from chargegrid.live import ConnectorLive
from dashboards.data import PowerPoint, connector_key

WAITING = "waiting for the pipeline…"

# OCPP 1.6 ChargePointStatus and 2.0.1 ConnectorStatusEnum, plus our "Unknown".
STATUS_COLOURS: dict[str, str] = {
    "Available": "#2e7d32",
    "Preparing": "#0288d1",
    "Charging": "#1565c0",
    "SuspendedEV": "#7b1fa2",
    "SuspendedEVSE": "#ab47bc",
    "Finishing": "#00838f",
    "Reserved": "#f9a825",
    "Unavailable": "#616161",
    "Faulted": "#c62828",
    "Occupied": "#ef6c00",
    "Unknown": "#9e9e9e",
}
UNKNOWN_STATUS = "Unknown"


def status_colour(status: str) -> str:
    """Board colour for an OCPP status; anything unrecognised is shown as Unknown."""
    return STATUS_COLOURS.get(status, STATUS_COLOURS[UNKNOWN_STATUS])


def station_names(inventory: Inventory) -> dict[str, str]:
    """charger_id -> its station's name (the station id when the station is not listed)."""
    names = {s.station_id: s.name for s in inventory.stations}
    return {c.charger_id: names.get(c.station_id, c.station_id) for c in inventory.chargers}


def connector_label(key: str, stations: Mapping[str, str]) -> str:
    """``Station name · charger/connector`` when the charger's station is known, else the key."""
    station = stations.get(key.rsplit("/", 1)[0], "")
    return f"{station} · {key}" if station else key


def power_figure(
    series: Mapping[str, Sequence[PowerPoint]],
    *,
    end: datetime | None = None,
    window_s: float = 600.0,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Power per connector (kW) over event time: one line per connector.

    ``end`` is the newest event time (the snapshot's, not the wall clock); with it, the x axis
    shows ``[end - window_s, end]`` and older samples are dropped.
    """
    start = end - timedelta(seconds=window_s) if end is not None else None
    fig = go.Figure()
    for key in sorted(series):
        points = [p for p in series[key] if start is None or p.ts >= start]
        if not points:
            continue
        fig.add_trace(
            go.Scatter(
                x=[p.ts for p in points],
                y=[p.power_w / 1000.0 for p in points],
                mode="lines",
                name=(labels or {}).get(key, key),
                meta=key,
                line={"shape": "hv"},
            )
        )
    fig.update_layout(
        xaxis_title="event time (UTC)",
        yaxis_title="power (kW)",
        yaxis_rangemode="tozero",
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        legend_title_text="connector",
        uirevision="live-power",
        template="plotly_white",
    )
    if start is not None and end is not None:
        fig.update_xaxes(range=[start, end])
    if not fig.data:
        fig.add_annotation(text=WAITING, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


@dataclass(frozen=True)
class StatusTile:
    """One connector on the status board."""

    key: str
    label: str
    station: str
    status: str
    colour: str
    power_kw: float


def status_tiles(connectors: Sequence[ConnectorLive], inventory: Inventory) -> list[StatusTile]:
    """Board tiles, grouped by station name then charger and connector."""
    stations = station_names(inventory)
    tiles = []
    for c in connectors:
        key = connector_key(c.charger_id, c.connector_id)
        tiles.append(
            StatusTile(
                key=key,
                label=key,
                station=stations.get(c.charger_id, ""),
                status=c.status,
                colour=status_colour(c.status),
                power_kw=c.power_w / 1000.0,
            )
        )
    return sorted(tiles, key=lambda t: (t.station, t.key))


def status_counts(connectors: Sequence[ConnectorLive]) -> dict[str, int]:
    """Connectors per status, in the board's legend order (statuses with none left out)."""
    counts: dict[str, int] = {}
    for c in connectors:
        status = c.status if c.status in STATUS_COLOURS else UNKNOWN_STATUS
        counts[status] = counts.get(status, 0) + 1
    return {s: counts[s] for s in STATUS_COLOURS if s in counts}


@dataclass(frozen=True)
class SessionRow:
    """An active session as the table shows it (energy kWh, power kW, duration s)."""

    connector: str
    station: str
    transaction_id: str
    energy_kwh: float
    power_kw: float
    soc_pct: float | None
    duration_s: float | None


def session_rows(
    connectors: Sequence[ConnectorLive], inventory: Inventory, *, event_time: datetime | None
) -> list[SessionRow]:
    """Connectors with a transaction, longest-running first; durations in event time."""
    stations = station_names(inventory)
    rows = []
    for c in connectors:
        if not c.transaction_id:
            continue
        duration_s = None
        if event_time is not None and c.session_started_at is not None:
            duration_s = max(0.0, (event_time - c.session_started_at).total_seconds())
        key = connector_key(c.charger_id, c.connector_id)
        rows.append(
            SessionRow(
                connector=key,
                station=stations.get(c.charger_id, ""),
                transaction_id=c.transaction_id,
                energy_kwh=c.session_energy_wh / 1000.0,
                power_kw=c.power_w / 1000.0,
                soc_pct=c.soc_pct,
                duration_s=duration_s,
            )
        )
    return sorted(rows, key=lambda r: (-(r.duration_s or 0.0), r.connector))


def format_duration(seconds: float | None) -> str:
    """``1 h 05 min`` / ``12 min 03 s`` / ``–`` for unknown."""
    if seconds is None:
        return "–"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"


@dataclass(frozen=True)
class Headline:
    """One headline figure: a label, its formatted value and a stable id suffix."""

    key: str
    label: str
    value: str


def headlines(
    connectors: Sequence[ConnectorLive],
    *,
    energy_today_wh: float,
    readings_total: int,
    dead_letter_total: int,
) -> list[Headline]:
    """Connectors charging, total power now (kW), energy today (kWh), readings, dead letters."""
    charging = sum(1 for c in connectors if c.status == "Charging")
    power_kw = sum(c.power_w for c in connectors) / 1000.0
    return [
        Headline("charging", "connectors charging", f"{charging} / {len(connectors)}"),
        Headline("power", "total power now", f"{power_kw:,.1f} kW"),
        Headline("energy", "energy today", f"{energy_today_wh / 1000.0:,.1f} kWh"),
        Headline("readings", "readings", f"{readings_total:,}"),
        Headline("dead", "dead letters", f"{dead_letter_total:,}"),
    ]
