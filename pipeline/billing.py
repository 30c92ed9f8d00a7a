"""Billing adapter: warehouse rows → kernel arrays → itemised bills. The one place that does it.

Used by ``chargegrid bill`` (batch re-billing), by the Beckn order flow (:func:`quote_session`)
and, once wired, by the stream as sessions close (:func:`bill_sessions`).

Input shapes (polars frames, warehouse column names):

* readings: ``ts`` (tz-aware), ``energy_register_wh`` and/or ``power_w`` (nullable floats), and
  ``session_id`` — or ``charger_id`` + ``transaction_id``, joined as ``charger_id/transaction_id``.
  Readings without a session are not part of any bill and are ignored. With ``sessions``
  given, a reading may name its session by position instead: :data:`SESSION_INDEX`, the row of
  its session in ``sessions`` (what the stream hands over: integer keys, no id spelled out per
  reading; same bills).
* sessions (optional): ``session_id``, ``started_at``, ``ended_at``, ``meter_start_wh``,
  ``meter_stop_wh``. Meter start/stop become readings at plug-in/plug-out, and plug-in/plug-out
  bound the connected and idle time. A session without readings is still billed (fees, time).

Readings are ordered by time within a session (stable: equal times keep their file order), so
out-of-order arrival never changes a bill. The kernel's rules (duplicates, glitches, resets,
rollovers, gaps, power-only sessions) are in :mod:`pipeline.kernels.session_energy` and
:mod:`pipeline.kernels.billing`.

Output: ``Bills.lines`` (one row per breakup line; the lines of a session sum to its total) and
``Bills.sessions`` (one row per session: energy, quality, net, tax, total).

Several tariffs at once (a tariff per charger or station, :class:`chargegrid.tariffs.
TariffResolver`): :func:`bill_sessions_multi` — one kernel call per tariff, one table of lines
and one of sessions, both with a ``tariff_id`` column, and the sessions it could not bill.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from chargegrid.errors import ChargegridError
from chargegrid.tariffs import (
    CURRENCY_EXPONENT,
    BreakupLine,
    CompiledTariff,
    PriceSeries,
    Tariff,
    TariffError,
    compile_tariff,
    from_us,
    to_major,
)
from pipeline.kernels.billing import (
    A_CAP,
    A_CHARGING,
    A_CONNECTED,
    A_IDLE,
    A_MINIMUM,
    A_SESSION_FEE,
    T_CHARGING,
    T_CONNECTED,
    T_IDLE,
    UNKNOWN_US,
    BillArrays,
    bill_sessions_kernel,
)
from pipeline.kernels.groups import group_time_order
from pipeline.kernels.session_energy import Q_OUTSIDE_TARIFF, quality_names

MWH_PER_KWH = 1_000_000
MS_PER_MIN = 60_000

LINE_SCHEMA = {
    "session_id": pl.String,
    "line_no": pl.Int32,
    "code": pl.String,
    "quantity": pl.Float64,
    "unit": pl.String,
    "unit_price": pl.String,  # decimal major units per unit; null for adjustments and taxes
    "amount_minor": pl.Int64,
    "currency": pl.String,
}


SESSION_SCHEMA = pl.Schema(
    {
        "session_id": pl.String(),
        "tariff_id": pl.String(),
        "started_at": pl.Datetime("us", "UTC"),
        "ended_at": pl.Datetime("us", "UTC"),
        "energy_wh": pl.Float64(),
        "quality_flags": pl.Int32(),
        "quality": pl.String(),
        "net_minor": pl.Int64(),
        "tax_minor": pl.Int64(),
        "total_minor": pl.Int64(),
        "currency": pl.String(),
    }
)
MULTI_LINE_SCHEMA = {"tariff_id": pl.String, **LINE_SCHEMA}
UNBILLED_SCHEMA = {"session_id": pl.String, "charger_id": pl.String, "reason": pl.String}


SESSION_INDEX = "session_index"  # readings: row of the reading's session in ``sessions``


class BillingInputError(ChargegridError):
    """Readings or sessions cannot be billed as given (missing column, bad row)."""


@dataclass(frozen=True, slots=True)
class BillingOptions:
    """Energy rules (see :mod:`pipeline.kernels.session_energy`)."""

    reset_fraction: float = 0.5
    rollover_modulus_wh: float = 0.0  # e.g. 2**32 for a 32-bit Wh register; 0 = none
    gap_s: float = 900.0


@dataclass(frozen=True, slots=True)
class KernelInput:
    """Sessions as offset arrays: readings of session ``s`` are ``starts[s]:starts[s + 1]``."""

    session_ids: list[str]
    starts: npt.NDArray[np.int64]
    ts_us: npt.NDArray[np.int64]
    register_wh: npt.NDArray[np.float64]
    power_w: npt.NDArray[np.float64]
    plug_in_us: npt.NDArray[np.int64]
    plug_out_us: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Bills:
    """Itemised bills of many sessions under one tariff."""

    compiled: CompiledTariff
    lines: pl.DataFrame  # LINE_SCHEMA
    sessions: pl.DataFrame  # one row per session

    @property
    def tariff(self) -> Tariff:
        return self.compiled.tariff

    def breakup(self, session_id: str) -> list[BreakupLine]:
        """The session's lines as typed breakup lines (what a Beckn quote/bill carries)."""
        rows = self.lines.filter(pl.col("session_id") == session_id).sort("line_no")
        if rows.height == 0 and session_id not in set(self.sessions["session_id"]):
            msg = f"no session {session_id!r} in these bills"
            raise BillingInputError(msg)
        return [_breakup_line(row) for row in rows.iter_rows(named=True)]


def bill_sessions(
    readings: pl.DataFrame,
    tariff: Tariff,
    *,
    sessions: pl.DataFrame | None = None,
    prices: PriceSeries | None = None,
    options: BillingOptions | None = None,
) -> Bills:
    """Bill every session found in ``readings`` (and ``sessions``) under ``tariff``.

    The stream calls this with the sessions that closed in a batch and their readings; batch
    re-billing with a whole table. Raises :class:`BillingInputError` naming the column/row.
    """
    options = options or BillingOptions()
    data = kernel_input(readings, sessions)
    compiled = _compile_for(tariff, data, prices)
    out = _kernel(data, compiled, options)
    energy_mwh, energy_minor, time_ms, amount_minor, tax_minor, total, total_mwh, quality = out
    if np.any(quality & Q_OUTSIDE_TARIFF):  # compile covers the data: a bug, not bad input
        msg = "internal: a session fell outside the compiled tariff range"
        raise AssertionError(msg)
    arrays = _Arrays(energy_mwh, energy_minor, time_ms, amount_minor, tax_minor)
    lines = _lines(compiled, data.session_ids, arrays)
    summary = _summary(compiled, data, total_mwh, quality, tax_minor, total)
    return Bills(compiled, lines, summary)


def warm(tariff: Tariff, at: datetime) -> None:
    """Load the billing kernel from Numba's cache, its one-thread and its parallel path (each
    ~0.05-0.3 s on first call; a stream's first big batch of closing sessions takes the
    parallel one), on a one-hour session at ``at`` under ``tariff``."""
    readings = pl.DataFrame(
        {"session_id": ["warm"] * 2, "ts": [at, at + timedelta(hours=1)], "power_w": [7e3, 7e3]}
    )
    data = kernel_input(readings)
    compiled = _compile_for(tariff, data, None)
    for parallel in (False, True):
        _kernel(data, compiled, BillingOptions(), parallel=parallel)


def _kernel(
    data: KernelInput,
    compiled: CompiledTariff,
    options: BillingOptions,
    *,
    parallel: bool | None = None,
) -> BillArrays:
    return bill_sessions_kernel(
        data.starts,
        data.ts_us,
        data.register_wh,
        data.power_w,
        data.plug_in_us,
        data.plug_out_us,
        compiled.boundaries_us,
        compiled.piece_line,
        compiled.piece_price,
        len(compiled.line_names),
        compiled.fees,
        compiled.tax_ppm,
        options.reset_fraction,
        options.rollover_modulus_wh,
        options.gap_s,
        parallel=parallel,
    )


def quote_session(
    tariff: Tariff,
    start: datetime,
    end: datetime,
    energy_wh: float,
    *,
    prices: PriceSeries | None = None,
) -> list[BreakupLine]:
    """Quote ``energy_wh`` delivered at constant power from ``start`` to ``end`` (plug-out at
    ``end``): the same kernel as the final bill, on a two-point profile."""
    if end <= start:
        msg = f"quote: end {end.isoformat()} must be after start {start.isoformat()}"
        raise BillingInputError(msg)
    readings = pl.DataFrame(
        {
            "session_id": ["quote", "quote"],
            "ts": [start, end],
            "energy_register_wh": [0.0, float(energy_wh)],
        }
    )
    return bill_sessions(readings, tariff, prices=prices).breakup("quote")


# -- many tariffs (a tariff per charger) ---------------------------------------------------------

TariffFor = Callable[
    [str], Tariff
]  # charger_id -> Tariff, e.g. a chargegrid.tariffs.TariffResolver


@dataclass(frozen=True, slots=True)
class MultiBills:
    """Bills of sessions under several tariffs (see :func:`bill_sessions_multi`)."""

    lines: pl.DataFrame  # MULTI_LINE_SCHEMA: tariff_id + LINE_SCHEMA, sorted by session, line
    sessions: pl.DataFrame  # SESSION_SCHEMA (has tariff_id), sorted by session_id
    unbilled: pl.DataFrame  # UNBILLED_SCHEMA: sessions no tariff could bill, with the reason
    by_tariff: dict[str, Bills]  # per tariff id: the single-tariff bills (breakup, explain)

    def bills_of(self, session_id: str) -> Bills:
        """The single-tariff bills holding ``session_id``."""
        rows = self.sessions.filter(pl.col("session_id") == session_id)
        if rows.height == 0:
            reason = self.unbilled.filter(pl.col("session_id") == session_id)["reason"]
            why = f": {reason[0]}" if reason.len() else ""
            msg = f"no bill for session {session_id!r}{why}"
            raise BillingInputError(msg)
        return self.by_tariff[rows["tariff_id"][0]]


def bill_sessions_multi(
    readings: pl.DataFrame,
    sessions: pl.DataFrame,
    tariff_for: TariffFor,
    *,
    prices: PriceSeries | None = None,
    options: BillingOptions | None = None,
) -> MultiBills:
    """Bill each session of ``sessions`` under the tariff of its charger, one kernel call per
    tariff.

    * ``sessions``: the lake ``sessions`` schema (``warehouse.schema.SESSIONS``); it lists what
      to bill. Needs ``session_id`` and ``charger_id``; with ``started_at`` and ``ended_at``
      (both or neither) plug-in/plug-out bound the connected and idle time, and
      ``meter_start_wh``/``meter_stop_wh`` are used when present. Other columns are ignored.
    * ``readings``: the lake ``readings`` schema plus ``session_id`` (or ``charger_id`` +
      ``transaction_id``): all the readings of those sessions. Readings of sessions not listed
      are ignored (they are not billed here, and nothing is dropped from the lake).
    * ``tariff_for(charger_id)``: called once per distinct charger.
      :class:`~chargegrid.errors.ChargegridError` from it (no tariff for that charger) or from
      billing one tariff's group (e.g. a dynamic tariff without prices for the period) does
      not fail the call: those sessions come back in ``unbilled`` with the reason, for the
      stream to dead-letter. A malformed frame (missing column, naive timestamps) raises
      :class:`BillingInputError`, as :func:`bill_sessions` does.

    Each group is billed by :func:`bill_sessions`, so a session's bill is the same whether it is
    billed alone, with its tariff group, or in a batch with other tariffs.

    In the stream, per batch of closed sessions (build the resolver once, not per batch)::

        resolver = TariffResolver(load_inventory(settings.inventory_path),
                                  load_tariff_dir(tariff_dir), default=operator_tariff)
        multi = bill_sessions_multi(batch_readings, closed_sessions, resolver)
        # multi.lines / multi.sessions -> the lake; multi.unbilled -> dead letters (reason)

    Cost: about 25 ms per call for a handful of sessions under three tariffs, mostly polars
    overhead of building small frames (the kernel itself is microseconds); 1,000 sessions with
    121k readings take about 160 ms.
    """
    missing = {"session_id", "charger_id"} - set(sessions.columns)
    plugged = {"started_at", "ended_at"} <= set(sessions.columns)
    if missing:
        msg = f"sessions need columns {sorted(missing)} to pick tariffs per charger"
        raise BillingInputError(msg)
    listed = sessions.with_columns(pl.col("session_id", "charger_id").cast(pl.String))
    _refuse_nulls(listed, "charger_id", "sessions", "charger_id")
    indexed = SESSION_INDEX in readings.columns and plugged
    if indexed:
        readings = _checked_index(readings, listed.height)
    elif SESSION_INDEX in readings.columns:
        readings = _index_to_id(readings, listed)
    else:
        readings = _with_session_id(readings)
    tariff_ids, unbilled = _resolve(listed, tariff_for)
    by_tariff: dict[str, Bills] = {}
    for tariff_id, (tariff, ids) in tariff_ids.items():
        if indexed:
            group, group_readings = _indexed_group(listed, readings, ids)
        else:
            group = listed.filter(pl.col("session_id").is_in(ids))
            group_readings = readings.filter(pl.col("session_id").is_in(ids))
        try:
            bills = bill_sessions(
                group_readings,
                tariff,
                sessions=group if plugged else None,
                prices=prices,
                options=options,
            )
        except TariffError as exc:
            unbilled.append(group.select("session_id", "charger_id", reason=pl.lit(str(exc))))
            continue
        by_tariff[tariff_id] = bills
        unbilled += _not_in(bills, group, "no readings and no plug-in time")
    return _multi(by_tariff, unbilled)


def _not_in(bills: Bills, group: pl.DataFrame, reason: str) -> list[pl.DataFrame]:
    """Listed sessions the bills lack (only without plug times: no readings, nothing to bill)."""
    lacking = group.join(bills.sessions.select("session_id"), on="session_id", how="anti")
    if lacking.height == 0:
        return []
    return [lacking.select("session_id", "charger_id", reason=pl.lit(reason))]


def _checked_index(readings: pl.DataFrame, sessions: int) -> pl.DataFrame:
    """``readings`` with :data:`SESSION_INDEX` as Int64, rows without one left out; an index
    that is not a row of the ``sessions`` frame is refused."""
    dtype = readings.schema[SESSION_INDEX]
    if not dtype.is_integer():
        msg = f"readings: {SESSION_INDEX!r} must be an integer column, not {dtype}"
        raise BillingInputError(msg)
    index = pl.col(SESSION_INDEX)
    rows = readings.filter(index.is_not_null()).with_columns(index.cast(pl.Int64))
    bad = rows.filter((index < 0) | (index >= sessions))
    if bad.height:
        msg = (
            f"readings: {SESSION_INDEX} {bad[SESSION_INDEX][0]} is not a row of the "
            f"{sessions} sessions"
        )
        raise BillingInputError(msg)
    return rows


def _index_to_id(readings: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """Readings that name their session by row, given the ids (sessions without plug times)."""
    rows = _checked_index(readings, sessions.height)
    ids = sessions.get_column("session_id").gather(rows.get_column(SESSION_INDEX))
    return rows.drop(SESSION_INDEX).with_columns(ids.alias("session_id"))


def _indexed_group(
    listed: pl.DataFrame, readings: pl.DataFrame, ids: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The sessions ``ids`` and their readings, :data:`SESSION_INDEX` renumbered to rows of the
    group (all the sessions: as given)."""
    if len(ids) == listed.height:
        return listed, readings
    member = listed.get_column("session_id").is_in(ids).to_numpy()
    rows = np.flatnonzero(member)
    renumber = np.full(listed.height, -1, np.int64)
    renumber[rows] = np.arange(len(rows))
    index = readings.get_column(SESSION_INDEX).to_numpy()
    keep = member[index]
    group_readings = readings.filter(pl.Series(keep)).with_columns(
        pl.Series(SESSION_INDEX, renumber[index[keep]], pl.Int64)
    )
    return listed.filter(pl.Series(member)), group_readings


def _with_session_id(readings: pl.DataFrame) -> pl.DataFrame:
    if "session_id" in readings.columns:
        return readings.with_columns(pl.col("session_id").cast(pl.String))
    if not {"charger_id", "transaction_id"} <= set(readings.columns):
        msg = "readings need a 'session_id' column, or 'charger_id' and 'transaction_id'"
        raise BillingInputError(msg)
    return readings.with_columns(
        session_id=pl.concat_str("charger_id", pl.lit("/"), "transaction_id")
    )


def _resolve(
    sessions: pl.DataFrame, tariff_for: TariffFor
) -> tuple[dict[str, tuple[Tariff, list[str]]], list[pl.DataFrame]]:
    """Sessions grouped by tariff id (one lookup per charger), and those without a tariff."""
    groups: dict[str, tuple[Tariff, list[str]]] = {}
    unbilled: list[pl.DataFrame] = []
    per_charger = sessions.group_by("charger_id", maintain_order=True).agg("session_id")
    for charger_id, ids in per_charger.iter_rows():
        try:
            tariff = tariff_for(charger_id)
        except ChargegridError as exc:
            reason = f"no tariff: {exc}"
            unbilled.append(
                pl.DataFrame(
                    {"session_id": ids, "charger_id": charger_id, "reason": reason},
                    schema=UNBILLED_SCHEMA,
                )
            )
            continue
        known, members = groups.setdefault(tariff.id, (tariff, []))
        if known != tariff:
            msg = f"two different tariffs share the id {tariff.id!r}"
            raise BillingInputError(msg)
        members.extend(ids)
    return groups, unbilled


def _multi(by_tariff: dict[str, Bills], unbilled: list[pl.DataFrame]) -> MultiBills:
    lines = [
        bills.lines.select(pl.lit(tariff_id, pl.String).alias("tariff_id"), pl.all())
        for tariff_id, bills in by_tariff.items()
    ]
    summaries = [bills.sessions for bills in by_tariff.values()]
    return MultiBills(
        lines=pl.concat([pl.DataFrame(schema=MULTI_LINE_SCHEMA), *lines]).sort(
            "session_id", "line_no"
        ),
        sessions=pl.concat([pl.DataFrame(schema=SESSION_SCHEMA), *summaries]).sort("session_id"),
        unbilled=pl.concat([pl.DataFrame(schema=UNBILLED_SCHEMA), *unbilled]).sort("session_id"),
        by_tariff=by_tariff,
    )


# -- rows → arrays --------------------------------------------------------------------------------


def kernel_input(readings: pl.DataFrame, sessions: pl.DataFrame | None = None) -> KernelInput:
    """Readings (+ sessions) → offset arrays sorted by session, then time (stable)."""
    if sessions is not None and SESSION_INDEX in readings.columns:
        return _indexed_input(readings, sessions)
    if SESSION_INDEX in readings.columns:
        msg = f"readings with {SESSION_INDEX!r} need the sessions they index"
        raise BillingInputError(msg)
    rows = _reading_rows(readings)
    plugs = None
    if sessions is not None:
        plugs = _session_rows(sessions)
        rows = pl.concat([rows, _meter_rows(plugs)], how="vertical")
    # sessions in id order; rows sorted by (session index, time): integer keys sort far faster
    # than the ids themselves, and the order is the same
    keys = rows["session_id"].unique()
    if plugs is not None:
        keys = pl.concat([keys, plugs["session_id"]]).unique()
    index = pl.DataFrame({"session_id": keys.sort()}).with_row_index("_k")
    rows = rows.join(index, on="session_id", how="left", maintain_order="left")
    # by (session, time), ties in row order: a counting sort, then only the sessions whose rows
    # are not already in time order (here: the plug-in/plug-out rows appended at the end)
    first = np.iinfo(np.int64).min  # a missing time sorts first, as polars sorts nulls
    order = group_time_order(
        rows["_k"].cast(pl.Int64).to_numpy(),
        index.height,
        rows["ts_us"].cast(pl.Int64).fill_null(first).to_numpy(),
    )
    rows = rows[order]
    counts = index.join(rows.group_by("_k").len(), on="_k", how="left").fill_null(0).sort("_k")
    starts = np.concatenate([[0], np.cumsum(counts["len"].to_numpy())]).astype(np.int64)
    plug_in, plug_out = _plug_arrays(counts["session_id"], plugs)
    return KernelInput(
        session_ids=counts["session_id"].to_list(),
        starts=starts,
        ts_us=rows["ts_us"].to_numpy().astype(np.int64),
        register_wh=rows["register_wh"].to_numpy().astype(np.float64),
        power_w=rows["power_w"].to_numpy().astype(np.float64),
        plug_in_us=plug_in,
        plug_out_us=plug_out,
    )


def _indexed_input(readings: pl.DataFrame, sessions: pl.DataFrame) -> KernelInput:
    """:func:`kernel_input` for readings keyed by :data:`SESSION_INDEX`: the same arrays, built
    from integer keys (sessions in id order, rows by (session, time), ties in row order: the
    readings, then each session's meter start and stop rows, as the general path has them)."""
    plugs = _session_rows(sessions)
    rows = _checked_index(readings, plugs.height)
    _require_columns(rows)
    values = rows.select(
        _epoch_us("ts"),
        _float_or_nan(rows, "energy_register_wh").alias("register_wh"),
        _float_or_nan(rows, "power_w").alias("power_w"),
    )
    if values["ts_us"].null_count():
        row = int(values["ts_us"].is_null().arg_max() or 0)
        session = sessions["session_id"][int(rows[SESSION_INDEX][row])]
        msg = f"readings: row {row} (session {session!r}) has no 'ts'"
        raise BillingInputError(msg)
    by_id = plugs.get_column("session_id").arg_sort().to_numpy()  # sessions in id order
    rank = np.empty(plugs.height, np.int64)
    rank[by_id] = np.arange(plugs.height)
    meter = _meter_rows(plugs.with_row_index("_row"))
    keys = np.concatenate(
        [rank[rows.get_column(SESSION_INDEX).to_numpy()], rank[meter["_row"].to_numpy()]]
    )
    ts_us = np.concatenate([values["ts_us"].to_numpy(), meter["ts_us"].to_numpy()])
    register = np.concatenate([values["register_wh"].to_numpy(), meter["register_wh"].to_numpy()])
    power = np.concatenate([values["power_w"].to_numpy(), meter["power_w"].to_numpy()])
    order = group_time_order(keys, plugs.height, ts_us)
    counts = np.bincount(keys, minlength=plugs.height)
    ordered = plugs[by_id]
    return KernelInput(
        session_ids=ordered["session_id"].to_list(),
        starts=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        ts_us=ts_us[order],
        register_wh=register[order].astype(np.float64, copy=False),
        power_w=power[order].astype(np.float64, copy=False),
        plug_in_us=ordered["plug_in_us"].fill_null(UNKNOWN_US).to_numpy().astype(np.int64),
        plug_out_us=ordered["plug_out_us"].fill_null(UNKNOWN_US).to_numpy().astype(np.int64),
    )


def _require_columns(readings: pl.DataFrame) -> None:
    cols = set(readings.columns)
    if "ts" not in cols:
        msg = "readings need a 'ts' column (tz-aware timestamps)"
        raise BillingInputError(msg)
    if not cols & {"energy_register_wh", "power_w"}:
        msg = "readings need 'energy_register_wh' and/or 'power_w'"
        raise BillingInputError(msg)
    _require_aware(readings, "ts", "readings")


def _reading_rows(readings: pl.DataFrame) -> pl.DataFrame:
    cols = set(readings.columns)
    if "session_id" not in cols:
        if not {"charger_id", "transaction_id"} <= cols:
            msg = "readings need a 'session_id' column, or 'charger_id' and 'transaction_id'"
            raise BillingInputError(msg)
        readings = readings.with_columns(
            session_id=pl.concat_str("charger_id", pl.lit("/"), "transaction_id")
        )
    _require_columns(readings)
    rows = readings.filter(pl.col("session_id").is_not_null()).select(
        pl.col("session_id").cast(pl.String),
        _epoch_us("ts"),
        _float_or_nan(readings, "energy_register_wh").alias("register_wh"),
        _float_or_nan(readings, "power_w").alias("power_w"),
    )
    _refuse_nulls(rows, "ts_us", "readings", "ts")
    return rows


def _session_rows(sessions: pl.DataFrame) -> pl.DataFrame:
    need = {"session_id", "started_at", "ended_at"}
    if not need <= set(sessions.columns):
        msg = f"sessions need columns {sorted(need)}; got {sessions.columns}"
        raise BillingInputError(msg)
    for col in ("started_at", "ended_at"):
        _require_aware(sessions, col, "sessions")
    rows = sessions.select(
        pl.col("session_id").cast(pl.String),
        _epoch_us("started_at").alias("plug_in_us"),
        _epoch_us("ended_at").alias("plug_out_us"),
        _float_or_nan(sessions, "meter_start_wh").alias("meter_start_wh"),
        _float_or_nan(sessions, "meter_stop_wh").alias("meter_stop_wh"),
    )
    _refuse_nulls(rows, "plug_in_us", "sessions", "started_at")
    duplicated = rows.filter(pl.col("session_id").is_duplicated())
    if duplicated.height:
        msg = f"sessions: session_id {duplicated['session_id'][0]!r} appears more than once"
        raise BillingInputError(msg)
    return rows


def _meter_rows(plugs: pl.DataFrame) -> pl.DataFrame:
    """Meter start/stop as readings at plug-in/plug-out (open sessions: start only)."""
    ids = [c for c in ("session_id", "_row") if c in plugs.columns]
    start = plugs.select(
        *ids,
        pl.col("plug_in_us").alias("ts_us"),
        pl.col("meter_start_wh").alias("register_wh"),
        pl.lit(float("nan")).alias("power_w"),
    )
    stop = plugs.filter(pl.col("plug_out_us").is_not_null()).select(
        *ids,
        pl.col("plug_out_us").alias("ts_us"),
        pl.col("meter_stop_wh").alias("register_wh"),
        pl.lit(float("nan")).alias("power_w"),
    )
    return pl.concat([start, stop]).filter(pl.col("register_wh").is_not_nan())


def _plug_arrays(
    ids: pl.Series, plugs: pl.DataFrame | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    if plugs is None:
        unknown = np.full(len(ids), UNKNOWN_US, np.int64)
        return unknown, unknown.copy()
    joined = pl.DataFrame({"session_id": ids}).join(plugs, on="session_id", how="left")
    plug_in = joined["plug_in_us"].fill_null(UNKNOWN_US).to_numpy().astype(np.int64)
    plug_out = joined["plug_out_us"].fill_null(UNKNOWN_US).to_numpy().astype(np.int64)
    return plug_in, plug_out


def _epoch_us(col: str) -> pl.Expr:
    return pl.col(col).dt.convert_time_zone("UTC").dt.epoch("us").alias("ts_us")


def _float_or_nan(frame: pl.DataFrame, col: str) -> pl.Expr:
    if col not in frame.columns:
        return pl.lit(float("nan"), pl.Float64)
    return pl.col(col).cast(pl.Float64).fill_null(float("nan"))


def _require_aware(frame: pl.DataFrame, col: str, what: str) -> None:
    dtype = frame.schema[col]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        msg = f"{what}: column {col!r} must be a tz-aware timestamp, not {dtype}"
        raise BillingInputError(msg)


def _refuse_nulls(rows: pl.DataFrame, col: str, what: str, name: str) -> None:
    nulls = rows[col].is_null()
    if nulls.any():
        row = int(nulls.arg_max() or 0)
        msg = f"{what}: row {row} (session {rows['session_id'][row]!r}) has no {name!r}"
        raise BillingInputError(msg)


def _compile_for(tariff: Tariff, data: KernelInput, prices: PriceSeries | None) -> CompiledTariff:
    """The tariff flattened over every instant the sessions touch."""
    times = [data.ts_us]
    for plug in (data.plug_in_us, data.plug_out_us):
        times.append(plug[plug != UNKNOWN_US])
    every = np.concatenate(times)
    if every.size == 0:
        lo = hi = 0
    else:
        lo, hi = int(every.min()), int(every.max())
    if tariff.dynamic is not None:
        return compile_tariff(tariff, from_us(lo), from_us(hi), prices)
    return compile_tariff(tariff, from_us(lo) - timedelta(days=1), from_us(hi), prices)


# -- arrays → tables ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Arrays:
    energy_mwh: npt.NDArray[np.int64]
    energy_minor: npt.NDArray[np.int64]
    time_ms: npt.NDArray[np.int64]
    amount_minor: npt.NDArray[np.int64]
    tax_minor: npt.NDArray[np.int64]


def _lines(compiled: CompiledTariff, ids: list[str], arrays: _Arrays) -> pl.DataFrame:
    """One frame of breakup lines, in a fixed order per session (energy, time, fees, tax)."""
    tariff = compiled.tariff
    cur = tariff.currency
    parts: list[pl.DataFrame] = []
    order = 0
    for k, name in enumerate(compiled.line_names):
        mwh, minor_ = arrays.energy_mwh[:, k], arrays.energy_minor[:, k]
        price = compiled.line_price_micro_minor_per_kwh[k]
        unit_price = None if price is None else _rate(price, cur)
        keep = mwh != 0
        prices_ = (
            [unit_price] * int(keep.sum())
            if unit_price is not None
            else [_average(v, e, cur) for v, e in zip(minor_[keep], mwh[keep], strict=True)]
        )
        parts.append(
            _part(
                ids, keep, order, f"energy:{name}", mwh / MWH_PER_KWH, "kWh", prices_, minor_, cur
            )
        )
        order += 1
    timed = (
        ("time_charging", T_CHARGING, A_CHARGING, tariff.price_per_minute_charging),
        ("time_connected", T_CONNECTED, A_CONNECTED, tariff.price_per_minute_connected),
        ("idle", T_IDLE, A_IDLE, tariff.idle.price_per_minute if tariff.idle else Decimal(0)),
    )
    for code, t_col, a_col, rate in timed:
        minutes = arrays.time_ms[:, t_col] / MS_PER_MIN
        keep = np.full(len(ids), rate > 0) & (arrays.time_ms[:, t_col] > 0)
        amount = arrays.amount_minor[:, a_col]
        parts.append(_part(ids, keep, order, code, minutes, "min", str(rate), amount, cur))
        order += 1
    fee = arrays.amount_minor[:, A_SESSION_FEE]
    ones = np.ones(len(ids))
    fee_price = str(tariff.session_fee)
    parts.append(_part(ids, fee != 0, order, "session_fee", ones, "session", fee_price, fee, cur))
    for code, col in (("minimum_adjustment", A_MINIMUM), ("cap_adjustment", A_CAP)):
        amount = arrays.amount_minor[:, col]
        parts.append(_part(ids, amount != 0, order + 1, code, ones, "session", None, amount, cur))
    for k, tax in enumerate(tariff.taxes):
        percent = np.full(len(ids), float(tax.rate_percent))
        keep = np.ones(len(ids), bool)
        amount = arrays.tax_minor[:, k]
        code = f"tax:{tax.name}"
        parts.append(_part(ids, keep, order + 2 + k, code, percent, "% of net", None, amount, cur))
    lines = pl.concat(parts, how="vertical")
    lines = lines.sort("session_id", "line_no", maintain_order=True)
    return lines.with_columns(
        pl.int_range(pl.len()).over("session_id").cast(pl.Int32).alias("line_no")
    )


def _part(
    ids: list[str],
    keep: npt.NDArray[np.bool_],
    order: int,
    code: str,
    quantity: npt.NDArray[np.float64],
    unit: str,
    unit_price: str | list[str] | None,
    amount: npt.NDArray[np.int64],
    currency: str,
) -> pl.DataFrame:
    n = int(keep.sum())
    price_col = unit_price if isinstance(unit_price, list) else [unit_price] * n
    return pl.DataFrame(
        {
            "session_id": pl.Series(ids).filter(pl.Series(keep)),
            "line_no": [order] * n,
            "code": [code] * n,
            "quantity": quantity[keep].astype(np.float64),
            "unit": [unit] * n,
            "unit_price": price_col,
            "amount_minor": amount[keep],
            "currency": [currency] * n,
        },
        schema=LINE_SCHEMA,
    )


def _rate(micro_minor_per_unit: int, currency: str) -> str:
    """µminor per unit → exact decimal major units per unit."""
    value = to_major(micro_minor_per_unit, currency).scaleb(-6).normalize()
    minor_digits = Decimal(1).scaleb(-CURRENCY_EXPONENT[currency])
    return f"{max(value.quantize(minor_digits), value, key=_digits):f}"


def _digits(value: Decimal) -> int:
    return -int(value.as_tuple().exponent)


def _average(amount_minor: int, mwh: int, currency: str) -> str:
    """Average price per kWh of a line (to 1e-6 minor), for dynamic energy lines."""
    micro = round(Decimal(int(amount_minor)) * MWH_PER_KWH * 1_000_000 / Decimal(int(mwh)))
    return _rate(micro, currency)


def _summary(
    compiled: CompiledTariff,
    data: KernelInput,
    total_mwh: npt.NDArray[np.int64],
    quality: npt.NDArray[np.int32],
    tax_minor: npt.NDArray[np.int64],
    total: npt.NDArray[np.int64],
) -> pl.DataFrame:
    tax = tax_minor.sum(axis=1) if tax_minor.shape[1] else np.zeros(len(total), np.int64)
    flags = pl.Series("quality_flags", quality)
    first, last = _first_last(data)
    return pl.DataFrame(
        {
            "session_id": data.session_ids,
            "tariff_id": [compiled.tariff.id] * len(total),
            "started_at": pl.Series(first).cast(pl.Datetime("us", "UTC")),
            "ended_at": pl.Series(last).cast(pl.Datetime("us", "UTC")),
            "energy_wh": total_mwh / 1000.0,
            "quality_flags": flags,
            "quality": [",".join(quality_names(int(q))) or "ok" for q in quality],
            "net_minor": total - tax,
            "tax_minor": tax,
            "total_minor": total,
            "currency": [compiled.tariff.currency] * len(total),
        },
        schema=SESSION_SCHEMA,
    )


def _first_last(data: KernelInput) -> tuple[list[int | None], list[int | None]]:
    """Plug-in/plug-out, else first/last reading time, per session (None if neither)."""
    n = len(data.session_ids)
    has = data.starts[1:] > data.starts[:-1]
    first_ts = np.where(has, data.ts_us[np.minimum(data.starts[:-1], len(data.ts_us) - 1)], 0)
    last_ts = np.where(has, data.ts_us[np.maximum(data.starts[1:] - 1, 0)], 0)
    first = np.where(data.plug_in_us != UNKNOWN_US, data.plug_in_us, first_ts)
    last = np.where(data.plug_out_us != UNKNOWN_US, data.plug_out_us, last_ts)
    known_first = has | (data.plug_in_us != UNKNOWN_US)
    known_last = has | (data.plug_out_us != UNKNOWN_US)
    return (
        [int(first[s]) if known_first[s] else None for s in range(n)],
        [int(last[s]) if known_last[s] else None for s in range(n)],
    )


def _breakup_line(row: dict[str, object]) -> BreakupLine:
    price = row["unit_price"]
    return BreakupLine(
        code=str(row["code"]),
        quantity=Decimal(repr(row["quantity"])),
        unit=str(row["unit"]),
        unit_price=None if price is None else Decimal(str(price)),
        amount_minor=int(str(row["amount_minor"])),
        currency=str(row["currency"]),
    )


# -- explanation for support agents ---------------------------------------------------------------


def explain(bills: Bills, session_id: str) -> str:
    """A plain-text account of one session's bill a support agent can read to a driver."""
    tariff = bills.tariff
    rows = bills.sessions.filter(pl.col("session_id") == session_id)
    if rows.height == 0:
        msg = f"no session {session_id!r} in these bills"
        raise BillingInputError(msg)
    summary = rows.row(0, named=True)
    cur = tariff.currency
    out = [
        f"Session  {session_id}",
        f"Tariff   {tariff.name} [{tariff.id}]",
        f"Time     {_local(summary['started_at'], tariff)} to {_local(summary['ended_at'], tariff)}"
        f" ({tariff.timezone})",
        f"Energy   {summary['energy_wh'] / 1000:.3f} kWh, data quality: {summary['quality']}",
        "",
    ]
    for line in bills.breakup(session_id):
        price = "" if line.unit_price is None else f" × {line.unit_price} {cur}/{line.unit}"
        qty = f"{line.quantity:.3f} {line.unit}" if line.unit != "session" else ""
        out.append(f"  {line.code:<24} {qty:>16}{price:<22} {line.amount:>10} {cur}")
    out.append(
        f"  {'total':<24} {'':>16}{'':<22} {to_major(summary['total_minor'], cur):>10} {cur}"
    )
    out += ["", *_explain_rules(tariff)]
    return "\n".join(out)


def _local(moment: datetime | None, tariff: Tariff) -> str:
    return "?" if moment is None else f"{moment.astimezone(tariff.zone):%Y-%m-%d %H:%M:%S %Z}"


def _explain_rules(tariff: Tariff) -> list[str]:
    notes = [
        "Each line is rounded once to the minor unit (half to even); taxes are computed on the",
        "net total of the rounded lines after any minimum/cap adjustment.",
    ]
    if tariff.idle:
        notes.append(
            f"Idle time is charged after charging stops, beyond {tariff.idle.grace_minutes} min."
        )
    if tariff.minimum_charge:
        notes.append(f"Minimum charge per session: {tariff.minimum_charge} {tariff.currency}.")
    if tariff.maximum_charge is not None:
        notes.append(f"Maximum charge per session: {tariff.maximum_charge} {tariff.currency}.")
    return notes


# -- files (the ``chargegrid bill`` command) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BillFiles:
    """Inputs and outputs of one ``chargegrid bill`` run.

    Without ``inventory`` every session is billed under ``tariff``. With it, each session
    under its charger's tariff (charger, else station, else ``tariff`` as the default), the
    tariffs found by id in ``tariff_dirs`` (a later directory's id replaces an earlier one's);
    the output then has a ``tariff_id`` column.
    """

    tariff: Path | None
    readings: Path
    output: Path | None = None
    sessions: Path | None = None
    prices: tuple[Path, ...] = ()
    explain: str | None = None
    inventory: Path | None = None
    tariff_dirs: tuple[Path, ...] = ()


def bill_files(files: BillFiles, options: BillingOptions | None = None) -> str:
    """Bill a readings Parquet file; write the lines table; return what to print."""
    from chargegrid.sources.entsoe import load_entsoe_prices

    prices = (
        PriceSeries.concat([load_entsoe_prices(p) for p in files.prices]) if files.prices else None
    )
    readings = _read_parquet(files.readings)
    sessions = _read_parquet(files.sessions) if files.sessions else None
    if files.inventory is not None:
        return _bill_files_multi(files, files.inventory, readings, sessions, prices, options)
    if files.tariff is None:
        msg = "give --tariff FILE, or --inventory FILE to take tariffs per charger"
        raise BillingInputError(msg)
    from chargegrid.tariffs import load_tariff

    tariff = load_tariff(files.tariff)
    bills = bill_sessions(readings, tariff, sessions=sessions, prices=prices, options=options)
    out = []
    if files.output is not None:
        files.output.parent.mkdir(parents=True, exist_ok=True)
        bills.lines.write_parquet(files.output)
        total = int(bills.sessions["total_minor"].sum())
        out.append(
            f"billed {bills.sessions.height} sessions ({bills.lines.height} lines, total "
            f"{to_major(total, tariff.currency)} {tariff.currency}) -> {files.output}"
        )
    if files.explain is not None:
        out.append(explain(bills, files.explain))
    return "\n".join(out)


def _bill_files_multi(
    files: BillFiles,
    inventory: Path,
    readings: pl.DataFrame,
    sessions: pl.DataFrame | None,
    prices: PriceSeries | None,
    options: BillingOptions | None,
) -> str:
    from chargegrid.inventory import load_inventory
    from chargegrid.tariffs import TariffResolver, load_tariff, load_tariff_dir

    if not inventory.exists():
        msg = f"{inventory}: no such inventory file"
        raise BillingInputError(msg)
    book: dict[str, Tariff] = {}
    for directory in files.tariff_dirs:
        book |= load_tariff_dir(directory)
    default = load_tariff(files.tariff) if files.tariff else None
    resolver = TariffResolver(load_inventory(inventory), book, default)
    if sessions is None:
        sessions = _sessions_of(readings)
    multi = bill_sessions_multi(readings, sessions, resolver, prices=prices, options=options)
    out = []
    if files.output is not None:
        files.output.parent.mkdir(parents=True, exist_ok=True)
        multi.lines.write_parquet(files.output)
        totals = (
            multi.sessions.group_by("currency").agg(pl.col("total_minor").sum()).sort("currency")
        )
        money = ", ".join(f"{to_major(int(t), c)} {c}" for c, t in totals.iter_rows()) or "0"
        out.append(
            f"billed {multi.sessions.height} sessions under {len(multi.by_tariff)} tariffs "
            f"({multi.lines.height} lines, total {money}) -> {files.output}"
        )
    for session_id, reason in multi.unbilled.select("session_id", "reason").iter_rows():
        out.append(f"not billed: {session_id}: {reason}")
    if files.explain is not None:
        out.append(explain(multi.bills_of(files.explain), files.explain))
    return "\n".join(out)


def _sessions_of(readings: pl.DataFrame) -> pl.DataFrame:
    """Session → charger from the readings themselves (no sessions file given)."""
    if "charger_id" not in readings.columns:
        msg = "readings need a 'charger_id' column to pick tariffs per charger"
        raise BillingInputError(msg)
    keyed = _with_session_id(readings).filter(pl.col("session_id").is_not_null())
    return keyed.select("session_id", "charger_id").unique("session_id", keep="first")


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        msg = f"{path}: not a readable Parquet file ({type(exc).__name__})"
        raise BillingInputError(msg) from None
