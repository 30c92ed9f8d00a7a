"""Utilisation windows by event time: additive 15-minute partials per connector.

The stream does not hold windows open and wait for a watermark: it writes a *partial* row for
each (connector, 15-minute window) an event contributes to, as soon as the event is complete, to
the lake's ``utilisation_windows``. A window's value is the SUM of its partials (the catalog's
``windows_15m`` / ``windows_hourly`` views), so data arriving late for a window that looked
closed corrects it, and a charger whose clock is off only files its partials under its own
times: nothing waits for it.

What contributes, and when:

* a session, when it closes: ``occupied_s`` (plug-in to plug-out), ``charging_s`` (intervals
  between consecutive readings that delivered energy: power above ``Rules.charging_power_w`` or,
  without a power sample, a rising register), ``idle_after_full_s`` (``charging_ended_at`` to
  plug-out), ``energy_wh`` (each register increase, in the window of the reading that shows it;
  the stop value's in the window of the stop), ``sessions_started`` (in the window of the
  start) and ``revenue_minor`` (its bill's total, in the window of the stop).
* ``faulted_s``: a connector's ``Faulted``/``Unavailable`` interval, when a later status ends it
  (connector 0 = the whole charger).
* ``offline_s``: a charger silent for longer than ``Rules.offline_after_s`` (no heartbeat,
  status or reading): from its last message plus that allowance to its next message, filed
  under connector 0.

Intervals are split exactly at window boundaries; seconds are event-time seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from pipeline.checks import Rules
from pipeline.kernels.groups import NO_TIME, group_order, group_time_order, silent_gaps
from warehouse.schema import UTILISATION_WINDOWS

WINDOW = "15m"
WINDOW_US = 15 * 60 * 1_000_000
OUTAGE = ("Faulted", "Unavailable")
INTERVAL_METRICS = ("occupied_s", "charging_s", "idle_after_full_s", "faulted_s", "offline_s")
TS = pl.Datetime("us", "UTC")
_INTERVALS: dict[str, pl.DataType] = {
    "charger_id": pl.String(),
    "connector_id": pl.Int32(),
    "s": TS,
    "e": TS,
    "metric": pl.String(),
}


@dataclass(slots=True)
class Presence:
    """Per charger the latest message time, per connector an outage in progress (recovery
    state of the step)."""

    last_seen_us: dict[str, int] = field(default_factory=dict)
    outage_since_us: dict[tuple[str, int], int] = field(default_factory=dict)


def split_intervals(intervals: pl.DataFrame) -> pl.DataFrame:
    """``(charger_id, connector_id, s, e, metric)`` -> seconds per window and metric."""
    spans = intervals.filter(pl.col("e") > pl.col("s"))
    if not spans.height:
        return pl.DataFrame(
            schema={"charger_id": pl.String, "connector_id": pl.Int32, "window_start": TS}
        )
    exploded = spans.with_columns(
        pl.datetime_ranges(pl.col("s").dt.truncate(WINDOW), pl.col("e"), WINDOW).alias(
            "window_start"
        )
    ).explode("window_start")
    end = pl.col("window_start") + timedelta(minutes=15)
    seconds = (
        pl.min_horizontal("e", end) - pl.max_horizontal("s", "window_start")
    ).dt.total_microseconds() / 1e6
    return (
        exploded.with_columns(seconds.alias("_s"))
        .filter(pl.col("_s") > 0)
        .group_by("charger_id", "connector_id", "window_start")
        .agg(pl.col("_s").filter(pl.col("metric") == m).sum().alias(m) for m in INTERVAL_METRICS)
    )


def session_windows(
    sessions: list[dict[str, Any]],
    readings: pl.DataFrame,
    bills: pa.Table | None,
    rules: Rules,
) -> pl.DataFrame:
    """Partials of closed ``sessions`` (lake ``sessions`` rows, times in µs) from their
    ``readings`` (``_closed`` = index of the reading's session in ``sessions``, ts,
    energy_register_wh, power_w; :meth:`pipeline.bills.PendingReadings.take`) and bills."""
    frame = pl.DataFrame(
        [
            (
                s["charger_id"],
                s["connector_id"],
                s["transaction_id"],
                s["started_at"],
                s["ended_at"],
                s["charging_ended_at"],
                s["meter_start_wh"],
                s["meter_stop_wh"],
            )
            for s in sessions
        ],
        schema={
            "charger_id": pl.String,
            "connector_id": pl.Int32,
            "transaction_id": pl.String,
            "started_at": pl.Int64,
            "ended_at": pl.Int64,
            "charging_ended_at": pl.Int64,
            "meter_start_wh": pl.Float64,
            "meter_stop_wh": pl.Float64,
        },
        orient="row",
    ).with_columns(pl.col("started_at", "ended_at", "charging_ended_at").cast(TS))
    ids = ["charger_id", "connector_id"]
    frame = frame.with_row_index("_sid")
    occupied = frame.select(*ids, s="started_at", e="ended_at", metric=pl.lit("occupied_s"))
    idle = frame.filter(pl.col("charging_ended_at").is_not_null()).select(
        *ids, s="charging_ended_at", e="ended_at", metric=pl.lit("idle_after_full_s")
    )
    points = _session_points(frame, readings)
    session_ids = frame.select("_sid", *ids)
    charging = _charging_runs(points, rules).join(session_ids, on="_sid")
    charging = charging.select(*ids, "s", "e", metric=pl.lit("charging_s"))
    parts = [split_intervals(pl.concat([occupied, idle, charging]).cast(pl.Schema(_INTERVALS)))]
    # summed per session first (in NumPy), then per connector (a few rows per session)
    energy = _energy_by_window(points).join(session_ids, on="_sid")
    parts.append(energy.group_by(*ids, "window_start").agg(pl.col("energy_wh").sum()))
    started = frame.select(
        *ids, pl.col("started_at").dt.truncate(WINDOW).alias("window_start"),
        sessions_started=pl.lit(1, pl.Int64),
    )  # fmt: skip
    parts.append(started)
    if bills is not None:
        bills_frame = pl.from_arrow(bills)
        assert isinstance(bills_frame, pl.DataFrame)
        billed = bills_frame.filter(pl.col("status") == "billed")
        revenue = billed.join(
            frame.select(*ids, "transaction_id", session_id=pl.concat_str(
                "charger_id", "transaction_id", separator="/")),
            on=["session_id", "charger_id"],
        ).select(
            *ids, pl.col("ended_at").dt.truncate(WINDOW).alias("window_start"),
            revenue_minor="total_minor", currency="currency",
        )  # fmt: skip
        parts.append(revenue)
    return _combine(parts)


@dataclass(frozen=True, slots=True)
class Points:
    """Consecutive points of closed sessions, in (session, time) order: session (``_sid``),
    time (µs), register (Wh, NaN: none) and power (W, NaN: none; starts and stops have none);
    ``first`` marks each session's first point and ``delta`` is the register increase since the
    session's previous point (NaN at its first point or where either register is missing)."""

    sid: npt.NDArray[np.int64]
    ts_us: npt.NDArray[np.int64]
    wh: npt.NDArray[np.float64]
    power_w: npt.NDArray[np.float64]
    first: npt.NDArray[np.bool_]
    delta: npt.NDArray[np.float64]

    @classmethod
    def of(
        cls,
        sid: npt.NDArray[np.int64],
        ts_us: npt.NDArray[np.int64],
        wh: npt.NDArray[np.float64],
        power_w: npt.NDArray[np.float64],
    ) -> Points:
        first = np.ones(len(sid), bool)
        first[1:] = sid[1:] != sid[:-1]
        delta = np.empty(len(wh))
        delta[1:] = wh[1:] - wh[:-1]
        delta[first] = np.nan
        return cls(sid, ts_us, wh, power_w, first, delta)


def _session_points(frame: pl.DataFrame, readings: pl.DataFrame) -> Points:
    """Each session's start, readings and stop (``frame``: ``_sid`` = row, ``started_at``,
    ``ended_at``, meter start/stop; ``readings``: ``_closed`` = its session's row, ``ts``,
    ``energy_register_wh``, ``power_w``), ordered by (session, time, that order).

    Kept readings of a transaction are in time order in the log (the step screens out duplicates
    and readings out of order), so a linear stable grouping by session gives that order; only when
    a session's points still step back in time (a reading stamped before its start, or after its
    stop) do they take the full sort."""
    n = frame.height
    sessions = np.arange(n, dtype=np.int64)
    nothing = np.full(n, np.nan)
    sid = np.concatenate([sessions, _ints(readings, "_closed"), sessions])
    ts_us = np.concatenate(
        [_epoch(frame, "started_at"), _epoch(readings, "ts"), _epoch(frame, "ended_at")]
    )
    wh = np.concatenate(
        [
            _floats(frame, "meter_start_wh"),
            _floats(readings, "energy_register_wh"),
            _floats(frame, "meter_stop_wh"),
        ]
    )
    power = np.concatenate([nothing, _floats(readings, "power_w"), nothing])
    order = group_order(sid, n)
    grouped_sid, grouped_ts = sid[order], ts_us[order]
    if not np.all((grouped_ts[1:] >= grouped_ts[:-1]) | (grouped_sid[1:] != grouped_sid[:-1])):
        order = np.lexsort((ts_us, sid))  # stable: ties keep (start, readings, stop) order
    return Points.of(sid[order], ts_us[order], wh[order], power[order])


def _ints(frame: pl.DataFrame, col: str) -> npt.NDArray[np.int64]:
    return frame.get_column(col).cast(pl.Int64).to_numpy()


def _epoch(frame: pl.DataFrame, col: str) -> npt.NDArray[np.int64]:
    return frame.get_column(col).dt.epoch("us").to_numpy()


def _floats(frame: pl.DataFrame, col: str) -> npt.NDArray[np.float64]:
    return frame.get_column(col).cast(pl.Float64).fill_null(np.nan).to_numpy()


def _delivered(points: Points, rules: Rules) -> npt.NDArray[np.bool_]:
    """Per point: did the interval since the session's previous point deliver energy? Power above
    ``rules.charging_power_w``, or without a power sample a register above the previous one."""
    with np.errstate(invalid="ignore"):
        on = np.where(
            np.isnan(points.power_w), points.delta > 0, points.power_w > rules.charging_power_w
        )
    return on & ~points.first


def _charging_runs(points: Points, rules: Rules) -> pl.DataFrame:
    """Runs of consecutive delivering intervals, one span each (``_sid``, ``s``, ``e``): from the
    point before the run's first to its last. A session's first point never delivers, so no run
    crosses sessions."""
    on = _delivered(points, rules)
    edges = np.diff(on.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    first, stop = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return pl.DataFrame(
        {
            "_sid": points.sid[first],
            "s": points.ts_us[first - 1],
            "e": points.ts_us[stop - 1],
        },
        schema={"_sid": pl.UInt32, "s": pl.Int64, "e": pl.Int64},
    ).with_columns(pl.col("s", "e").cast(TS))


def _energy_by_window(points: Points) -> pl.DataFrame:
    """Register increases summed per session and 15-minute window of the point that shows them
    (``_sid``, ``window_start``, ``energy_wh``); windows without an increase have no row."""
    with np.errstate(invalid="ignore"):
        rising = points.delta > 0
    sid, ts_us, delta = points.sid[rising], points.ts_us[rising], points.delta[rising]
    window = ts_us - ts_us % WINDOW_US  # points of a session are in time order: runs of windows
    change = np.ones(len(sid), bool)
    change[1:] = (sid[1:] != sid[:-1]) | (window[1:] != window[:-1])
    at = np.flatnonzero(change)
    return pl.DataFrame(
        {
            "_sid": sid[at],
            "window_start": window[at],
            "energy_wh": np.add.reduceat(delta, at) if len(at) else np.empty(0),
        },
        schema={"_sid": pl.UInt32, "window_start": pl.Int64, "energy_wh": pl.Float64},
    ).with_columns(pl.col("window_start").cast(TS))


def presence_windows(presence: Presence, messages: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """Outage and offline partials from a batch of ``messages`` (charger_id, connector_id, ts,
    status; status null for anything but a status notification), in event-time order."""
    rows: list[tuple[str, int, int, int, str]] = []
    allowance_us = int(rules.offline_after_s * 1_000_000)
    ordered = messages.sort("ts").select(
        "charger_id", "connector_id", pl.col("ts").dt.epoch("us"), "status"
    )
    for charger, connector, ts_us, status in ordered.iter_rows():
        last = presence.last_seen_us.get(charger)
        if last is not None and ts_us - last > allowance_us:
            rows.append((charger, 0, last + allowance_us, ts_us, "offline_s"))
        if last is None or ts_us > last:
            presence.last_seen_us[charger] = ts_us
        if status is None:
            continue
        key = (charger, int(connector or 0))
        since = presence.outage_since_us.get(key)
        if status in OUTAGE:
            if since is None:
                presence.outage_since_us[key] = ts_us
        elif since is not None:
            del presence.outage_since_us[key]
            rows.append((key[0], key[1], since, ts_us, "faulted_s"))
    return _interval_windows(rows)


def _interval_windows(rows: list[tuple[str, int, int, int, str]]) -> pl.DataFrame:
    """Partials of ``(charger_id, connector_id, s, e, metric)`` intervals (times in µs)."""
    if not rows:
        return _combine([])
    intervals = pl.DataFrame(
        rows, schema={**_INTERVALS, "s": pl.Int64(), "e": pl.Int64()}, orient="row"
    ).with_columns(pl.col("s", "e").cast(TS))
    return _combine([split_intervals(intervals)])


def reading_presence(
    presence: Presence,
    chargers: list[str],
    codes: npt.NDArray[np.int64],
    ts_us: npt.NDArray[np.int64],
    rules: Rules,
) -> pl.DataFrame:
    """Offline partials from a batch of readings: what :func:`presence_windows` makes of every
    reading as a message, without a Python step per reading. ``codes[i]`` is the index in
    ``chargers`` of reading ``i``'s charger, ``ts_us[i]`` its time. Every reading counts, not only
    each charger's first and last of the batch: a batch can span hours of a charger's readings,
    and only a silence longer than ``rules.offline_after_s`` between two of them is offline."""
    if not len(codes):
        return _combine([])
    last_seen = np.array([presence.last_seen_us.get(c, NO_TIME) for c in chargers], np.int64)
    before = last_seen.copy()
    order = group_time_order(codes, len(chargers), ts_us)
    allowance_us = int(rules.offline_after_s * 1_000_000)
    gaps = silent_gaps(codes, ts_us, order, last_seen, allowance_us)
    for c in np.flatnonzero(last_seen != before).tolist():
        presence.last_seen_us[chargers[c]] = int(last_seen[c])
    return _interval_windows(
        [(chargers[c], 0, latest + allowance_us, t, "offline_s") for c, latest, t in gaps.tolist()]
    )


_EMPTY = pl.from_arrow(UTILISATION_WINDOWS.empty_table())


def _combine(parts: list[pl.DataFrame]) -> pl.DataFrame:
    assert isinstance(_EMPTY, pl.DataFrame)
    rows = [p for p in parts if p.height]
    if not rows:
        return _EMPTY
    frame = pl.concat([_EMPTY, *rows], how="diagonal_relaxed")
    counts = [
        c
        for c in _EMPTY.columns
        if c not in ("charger_id", "connector_id", "window_start", "currency")
    ]
    return frame.with_columns(pl.col(counts).fill_null(0))


def windows_table(frame: pl.DataFrame) -> pa.Table:
    return frame.select(UTILISATION_WINDOWS.names).to_arrow().cast(UTILISATION_WINDOWS)
