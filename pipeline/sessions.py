"""Transaction state of one log partition: readings matched to open transactions, sessions out.

One :class:`TxnBook` per log partition (a charger's records always share a partition, so its
transactions are all here, in order). Per batch, the rare start/stop records are walked in
Python; the readings are matched to transactions with one join and their energy folded by the
Numba kernel in one call, in log order (:func:`pipeline.kernels.energy.fold_readings`).

Rules:
* ``transaction_started`` for a transaction already open or already closed -> ``duplicate``.
* ``transaction_ended`` for a transaction already closed -> ``duplicate``; never opened ->
  ``unknown_transaction``.
* a reading naming a transaction that is not open at that point of the log (never started,
  started later, already ended) -> ``unknown_transaction``; a reading without a transaction id is
  a plain reading (idle meter values are legitimate).
* a reading whose register steps back a little -> ``register_backwards`` (see the kernel for
  glitch vs reset).
* an exact duplicate of an earlier reading of its transaction (same connector, ``ts``,
  register and context), in this batch or as the last reading of an earlier one -> ``duplicate``.
* a reading older than the latest reading of its transaction seen so far (within or across
  batches) -> ``out_of_order``. Equal times are in order.
* readings outside any transaction (idle meter values) get the same two rules per connector.
* a register in kWh where Wh is expected -> ``unit_mismatch``. The rule: the transaction started
  at ``meter_start_wh >= 1000`` and the register is below 1/100 of it while 1000 x the register is
  at least 99% of it (a real meter reset restarts near 0 instead, and is kept as a reset).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from chargegrid.events import Reason, session_id
from pipeline.checks import Rules
from pipeline.kernels.energy import FLAG_GLITCH, NO_TIME, fold_readings
from pipeline.kernels.groups import increasing_by_group
from pipeline.parse import Rejection

CLOSED_MEMORY = 200_000  # closed transaction keys remembered for duplicate detection
_INF = np.iinfo(np.int64).max


@dataclass(slots=True)
class OpenTxn:
    """A transaction in progress and its energy state (see :mod:`pipeline.kernels.energy`)."""

    charger_id: str
    connector_id: int
    transaction_id: str
    id_tag: str | None
    started_at_us: int
    meter_start_wh: float
    last_wh: float
    seg_start_wh: float
    closed_wh: float = 0.0
    max_power_w: float = math.nan
    charging_until_us: int = -1  # the latest reading that delivered energy (-1: none yet)
    readings: int = 0
    resets: int = 0
    glitches: int = 0
    last_ts_us: int = -(2**62)  # the latest reading's time so far (microseconds since epoch)
    last_reading_wh: float = math.nan  # that reading's register
    last_context: str = ""  # and its context (a periodic sample and a stop sample may share a ts)

    @property
    def energy_wh(self) -> float:
        return self.closed_wh + (self.last_wh - self.seg_start_wh)

    @property
    def quality(self) -> str:
        if self.resets:
            return "reset"
        if self.glitches:
            return "backwards"
        return "ok" if self.readings else "no_readings"


@dataclass(slots=True)
class TxnBook:
    """Open transactions by ``charger_id/transaction_id``, plus recently closed keys."""

    open: dict[str, OpenTxn] = field(default_factory=dict)
    closed: dict[str, None] = field(default_factory=dict)
    # latest reading outside a transaction per charger_id/connector_id: (ts µs, register, context)
    idle: dict[str, tuple[int, float, str]] = field(default_factory=dict)

    def close(self, key: str) -> OpenTxn:
        txn = self.open.pop(key)
        self.closed[key] = None
        if len(self.closed) > CLOSED_MEMORY:
            del self.closed[next(iter(self.closed))]
        return txn


@dataclass(slots=True)
class MeterResult:
    readings: pl.DataFrame  # accepted readings (good-frame layout + ``_g``, see ``groups``)
    sessions: list[dict[str, Any]]  # SESSIONS rows
    rejected: list[Rejection]
    touched: dict[str, OpenTxn]  # transactions whose state changed (still open)
    ended: list[OpenTxn]
    groups: list[str] = field(default_factory=list)  # session id of each ``_g`` in readings


Raw = Callable[[int], bytes]  # a row's sequence number -> its raw record (parse.RawIndex)


def _reject(raw: Raw, seq: int, reason: Reason, detail: str, charger: str | None) -> Rejection:
    return Rejection(seq, reason, detail, raw(seq), charger)


@dataclass(slots=True)
class _Walk:
    """What the start/stop walk found: validity interval per key, ends, rejections."""

    lo: dict[str, int] = field(default_factory=dict)  # reading offset must be > lo
    hi: dict[str, int] = field(default_factory=dict)  # ... and < hi
    ends: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)


def _walk_events(book: TxnBook, events: pl.DataFrame, raw: Raw) -> _Walk:
    walk = _Walk()
    for key in book.open:
        walk.lo[key] = -1
    for row in events.iter_rows(named=True):
        key = session_id(row["charger_id"], row["transaction_id"])
        if row["kind"] == "transaction_started":
            if key in book.open or key in book.closed or key in walk.ends:
                walk.rejected.append(
                    _reject(
                        raw,
                        row["offset"],
                        Reason.duplicate,
                        f"transaction {key} already started",
                        row["charger_id"],
                    )
                )
                continue
            ts_us = _us(row["ts"])
            book.open[key] = OpenTxn(
                row["charger_id"],
                row["connector_id"],
                row["transaction_id"],
                row["id_tag"],
                ts_us,
                row["meter_start_wh"],
                last_wh=row["meter_start_wh"],
                seg_start_wh=row["meter_start_wh"],
            )
            walk.lo[key] = row["offset"]
        elif key in book.open and key not in walk.ends:
            walk.hi[key] = row["offset"]
            walk.ends[key] = row
        else:
            reason = (
                Reason.duplicate
                if key in book.closed or key in walk.ends
                else Reason.unknown_transaction
            )
            walk.rejected.append(
                _reject(
                    raw,
                    row["offset"],
                    reason,
                    f"stop for transaction {key} not open",
                    row["charger_id"],
                )
            )
    return walk


def _us(ts: Any) -> int:
    return int(ts.timestamp() * 1_000_000) if ts is not None else 0


def process_meter(
    book: TxnBook, good: pl.DataFrame, raw: Raw, rules: Rules | None = None
) -> MeterResult:
    """Apply one batch of good meter records (offset order) to ``book``."""
    rules = rules or Rules()
    is_reading = pl.col("kind") == "meter_value"
    events = good.filter(~is_reading)
    walk = _walk_events(book, events, raw)
    keys = sorted(walk.lo)
    txns = [book.open[k] for k in keys]
    intervals = pl.DataFrame(
        {
            "charger_id": [t.charger_id for t in txns],
            "transaction_id": [t.transaction_id for t in txns],
            "_g": np.arange(len(keys), dtype=np.int64),
            "_lo": [walk.lo[k] for k in keys],
            "_hi": [walk.hi.get(k, _INF) for k in keys],
        },
        schema={
            "charger_id": pl.String,
            "transaction_id": pl.String,
            "_g": pl.Int64,
            "_lo": pl.Int64,
            "_hi": pl.Int64,
        },
    )
    readings = good.filter(is_reading).join(
        intervals, on=["charger_id", "transaction_id"], how="left", maintain_order="left"
    )
    no_txn, in_txn = readings.select(
        pl.col("transaction_id").is_null().alias("no_txn"),
        ((pl.col("offset") > pl.col("_lo")) & (pl.col("offset") < pl.col("_hi")))
        .fill_null(False)
        .alias("in_txn"),
    ).get_columns()
    rejected = list(walk.rejected)
    if not (no_txn | in_txn).all():
        unknown = readings.filter(~no_txn & ~in_txn)
        missing = unknown.select("offset", "charger_id", "transaction_id").iter_rows()
        rejected += [
            _reject(
                raw, o, Reason.unknown_transaction, f"no open transaction {session_id(c, t)}", c
            )
            for o, c, t in missing
        ]
    in_open = readings if in_txn.all() else readings.filter(~no_txn & in_txn)
    screened: Screened = []
    if _clean(book, keys, in_open):
        matched = in_open
    else:
        matched, screened = _screen_in_txn(book, in_open)
    idle = readings.filter(no_txn) if no_txn.any() else readings.clear()
    _, idle_screened = _screen_idle(book, idle)
    screened += idle_screened
    rejected.extend(_reject(raw, o, reason, detail, c) for o, reason, detail, c in screened)
    screened_offsets = [o for o, *_ in screened]
    glitch_offsets = _fold_energy(book, keys, matched, walk, rules)
    if glitch_offsets:
        glitched = matched.filter(pl.col("offset").is_in(glitch_offsets))
        rejected.extend(
            _reject(
                raw,
                o,
                Reason.register_backwards,
                f"energy register stepped back to {r} Wh",
                c,
            )
            for o, r, c in glitched.select("offset", "energy_register_wh", "charger_id").iter_rows()
        )
    keep = no_txn | in_txn
    if glitch_offsets or screened_offsets:
        offsets = readings.get_column("offset")
        keep = (no_txn | (in_txn & ~offsets.is_in(glitch_offsets))) & ~offsets.is_in(
            screened_offsets
        )
    accepted = readings if keep.all() else readings.filter(keep)
    ended = [book.close(k) for k in walk.ends]
    sessions = [
        _session_row(txn, walk.ends[session_id(txn.charger_id, txn.transaction_id)])
        for txn in ended
    ]
    touched = {k: book.open[k] for k in keys if k in book.open}
    return MeterResult(
        accepted.drop("_lo", "_hi"),
        sessions,
        sorted(rejected, key=lambda r: r.offset),
        touched,
        ended,
        keys,
    )


def _clean(book: TxnBook, keys: list[str], matched: pl.DataFrame) -> bool:
    """True if no rule of :func:`_screen_in_txn` can fire, decided in one vectorised pass: each
    transaction's readings have strictly increasing times, the first one later than the last
    reading of an earlier batch (so no duplicate and nothing out of order: both need a time not
    after an earlier one), and no register looks like kWh. The usual batch; the others take the
    full screen."""
    if not matched.height:
        return True
    groups = matched.get_column("_g").to_numpy()
    ts_us = matched.get_column("ts").dt.epoch("us").to_numpy()
    txns = [book.open[k] for k in keys]
    last_us = np.array([txn.last_ts_us for txn in txns], np.int64)
    if not increasing_by_group(groups, ts_us, last_us):
        return False
    start = np.array([txn.meter_start_wh for txn in txns], np.float64)[groups]
    register = matched.get_column("energy_register_wh").to_numpy()
    with np.errstate(invalid="ignore"):
        kwh = (start >= 1000) & (register < start / 100) & (register * 1000 >= start * 0.99)
    return not bool(np.any(kwh))


Screened = list[tuple[int, Reason, str, str]]  # (seq, reason, detail, charger) per rejection
_STATE_SCHEMA = {
    "_key": pl.String,
    "_last_us": pl.Int64,
    "_last_wh": pl.Float64,
    "_last_ctx": pl.String,
    "_start": pl.Float64,
}


def _screen_in_txn(book: TxnBook, matched: pl.DataFrame) -> tuple[pl.DataFrame, Screened]:
    """Split readings matched to open transactions into kept ones and (offset, reason, detail,
    charger) for duplicates, out-of-order readings and kWh registers (rules in the docstring)."""
    if not matched.height:
        return matched, []
    matched = matched.with_columns(
        pl.concat_str(["charger_id", "transaction_id"], separator="/").alias("_key")
    )
    keys = matched.get_column("_key").unique().to_list()
    state = [
        (k, t.last_ts_us, t.last_reading_wh, t.last_context, t.meter_start_wh)
        for k in keys
        for t in (book.open[k],)
    ]
    return _screen(matched, state, "transaction")


def _screen_idle(book: TxnBook, idle: pl.DataFrame) -> tuple[pl.DataFrame, Screened]:
    """The same duplicate and out-of-order rules for readings outside any transaction, per
    connector (``charger_id/connector_id``); remembers each connector's latest kept reading."""
    if not idle.height:
        return idle, []
    idle = idle.with_columns(
        pl.concat_str(["charger_id", "connector_id"], separator="/").alias("_key")
    )
    keys = idle.get_column("_key").unique().to_list()
    state = [(k, *book.idle.get(k, (-(2**62), math.nan, "")), None) for k in keys]
    kept, screened = _screen(idle, state, "connector")
    last = (
        kept.with_columns(pl.concat_str(["charger_id", "connector_id"], separator="/").alias("k"))
        .group_by("k")
        .agg(
            pl.col("ts").dt.epoch("us").max(),
            pl.col("energy_register_wh").last(),
            pl.col("context").fill_null("Sample.Periodic").last(),
        )
    )
    for key, us, wh, ctx in last.iter_rows():
        previous = book.idle.get(key, (-(2**62), math.nan, ""))[0]
        book.idle[key] = (max(us, previous), math.nan if wh is None else wh, ctx)
    return kept, screened


def _screen(
    matched: pl.DataFrame, state_rows: list[tuple[Any, ...]], what: str
) -> tuple[pl.DataFrame, Screened]:
    """The duplicate / out-of-order / kWh verdicts of rows keyed by ``_key`` against the
    state (latest time, register and context seen per key before this batch)."""
    state = pl.DataFrame(
        state_rows,
        schema=_STATE_SCHEMA,
        orient="row",
    )
    register = pl.col("energy_register_wh")
    ts_us = pl.col("ts").dt.epoch("us")
    frame = matched.join(state, on="_key", how="left", maintain_order="left").with_columns(
        ts_us.alias("_us"),
        pl.max_horizontal(ts_us.cum_max().shift(1).over("_key"), pl.col("_last_us")).alias("_max"),
    )
    context = pl.col("context").fill_null("Sample.Periodic")
    same_as_last = (
        (pl.col("_us") == pl.col("_last_us"))
        & (register == pl.col("_last_wh"))
        & (context == pl.col("_last_ctx"))
    )
    repeated = ~pl.struct("_key", "connector_id", "_us", register, context).is_first_distinct()
    kwh = (
        (pl.col("_start") >= 1000)
        & (register < pl.col("_start") / 100)
        & (register * 1000 >= pl.col("_start") * 0.99)
    )
    verdict = (
        pl.when(repeated | same_as_last.fill_null(False))
        .then(pl.lit(Reason.duplicate.value))
        .when(pl.col("_us") < pl.col("_max"))
        .then(pl.lit(Reason.out_of_order.value))
        .when(kwh.fill_null(False))
        .then(pl.lit(Reason.unit_mismatch.value))
    )
    frame = frame.with_columns(verdict.alias("_verdict"))
    bad = frame.filter(pl.col("_verdict").is_not_null())
    screened = [
        (o, Reason(v), _screen_detail(Reason(v), what, k, r), c)
        for o, v, k, r, c in bad.select(
            "offset", "_verdict", "_key", "energy_register_wh", "charger_id"
        ).iter_rows()
    ]
    kept = frame.filter(pl.col("_verdict").is_null()).drop(
        "_key", "_last_us", "_last_wh", "_last_ctx", "_start", "_us", "_max", "_verdict"
    )
    return kept, screened


def _screen_detail(reason: Reason, what: str, key: str, register_wh: float | None) -> str:
    if reason is Reason.duplicate:
        return f"reading repeats an earlier reading of {what} {key}"
    if reason is Reason.out_of_order:
        return f"reading is older than the latest reading of {what} {key}"
    return f"energy register {register_wh} looks like kWh (transaction {key} is in Wh)"


def _fold_energy(
    book: TxnBook, keys: list[str], matched: pl.DataFrame, walk: _Walk, rules: Rules
) -> list[int]:
    """Fold the matched readings (log order) and stop values into their transactions with the
    Numba kernel in one call; record each one's latest accepted reading (time, register,
    context) for the next batch. Returns the glitches' offsets."""
    if not keys:
        return []
    txns = [book.open[k] for k in keys]
    key_index = {k: i for i, k in enumerate(keys)}
    end_keys = list(walk.ends)
    registers = matched.get_column("energy_register_wh").fill_null(math.nan).to_numpy()
    (
        last, seg, closed, pmax, resets, glitches, kept, charging_us, last_row, latest_us, flags,
    ) = fold_readings(
        np.ascontiguousarray(matched.get_column("_g").to_numpy(), np.int64),
        np.ascontiguousarray(matched.get_column("ts").dt.epoch("us").to_numpy(), np.int64),
        np.ascontiguousarray(registers, np.float64),
        np.ascontiguousarray(matched.get_column("power_w").fill_null(math.nan).to_numpy()),
        np.array([key_index[k] for k in end_keys], np.int64),
        np.array([walk.ends[k]["meter_stop_wh"] for k in end_keys], np.float64),
        np.array([t.last_wh for t in txns], np.float64),
        np.array([t.seg_start_wh for t in txns], np.float64),
        np.array([t.closed_wh for t in txns], np.float64),
        np.array([t.max_power_w for t in txns], np.float64),
        rules.reset_fraction,
        rules.charging_power_w,
    )  # fmt: skip
    seen = last_row >= 0
    contexts = (  # per transaction: its last kept reading's context (row 0 stands in for none)
        matched.get_column("context")
        .gather(np.where(seen, last_row, 0))
        .fill_null("Sample.Periodic")
        .to_list()
        if matched.height
        else []
    )
    for g, txn in enumerate(txns):
        txn.last_wh, txn.seg_start_wh, txn.closed_wh = (
            float(last[g]),
            float(seg[g]),
            float(closed[g]),
        )
        txn.max_power_w = float(pmax[g])
        txn.resets += int(resets[g])
        txn.glitches += int(glitches[g])
        txn.readings += int(kept[g])
        if charging_us[g] != NO_TIME:
            txn.charging_until_us = max(txn.charging_until_us, int(charging_us[g]))
        if seen[g]:
            txn.last_ts_us = max(txn.last_ts_us, int(latest_us[g]))
            txn.last_reading_wh = float(registers[last_row[g]])
            txn.last_context = contexts[g]
    glitched = flags == FLAG_GLITCH
    if not glitched.any():
        return []
    return matched.get_column("offset").filter(pl.Series(glitched)).to_list()


def _session_row(txn: OpenTxn, end: dict[str, Any]) -> dict[str, Any]:
    return {
        "session_id": session_id(txn.charger_id, txn.transaction_id),
        "charger_id": txn.charger_id,
        "connector_id": txn.connector_id,
        "transaction_id": txn.transaction_id,
        "id_tag": txn.id_tag,
        "started_at": txn.started_at_us,
        "ended_at": _us(end["ts"]),
        "meter_start_wh": txn.meter_start_wh,
        "meter_stop_wh": end["meter_stop_wh"],
        "energy_wh": txn.energy_wh,
        "energy_quality": txn.quality,
        "readings": txn.readings,
        "max_power_w": None if math.isnan(txn.max_power_w) else txn.max_power_w,
        "stop_reason": end["reason"],
        "charging_ended_at": txn.charging_until_us if txn.charging_until_us >= 0 else None,
    }
