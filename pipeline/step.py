"""The stateful step: one log batch in, lake rows and a live delta out.

Keyed by log partition (records of one charger share a partition, across topics), so the
transaction book of a partition sees its chargers' records in log order.

Data shape: ``LogBatch(topic, partition, offsets, payloads)`` -> :class:`StepOut` with Arrow
tables in the warehouse schemas (``readings``, ``sessions``, ``connector_status``,
``dead_letter``; absent when empty) and a :class:`~pipeline.live.LiveDelta`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
from pydantic import ValidationError

from chargegrid.clock import Clock
from chargegrid.eventbatch import INDEX_BITS, INDEX_MASK, seq_of
from chargegrid.events import DeadLetter, Reason, Topic
from pipeline.bills import PendingReadings, StreamBilling, TariffBook
from pipeline.checks import InventoryWatch, Rules, screen
from pipeline.kernels.energy import warm as warm_kernels
from pipeline.kernels.groups import group_bounds, newest_per_bucket
from pipeline.kernels.groups import warm as warm_group_kernels
from pipeline.live import LiveDelta
from pipeline.orders import OrderBook, order_events
from pipeline.parse import METER_SPEC, STATUS_SPEC, RawIndex, Rejection, parse_log_batch
from pipeline.sessions import MeterResult, TxnBook, process_meter
from pipeline.source import LogBatch
from pipeline.windows import (
    Presence,
    presence_windows,
    reading_presence,
    session_windows,
    windows_table,
)
from warehouse.schema import CONNECTOR_STATUS, DEAD_LETTER, READINGS, SESSIONS


@dataclass(slots=True)
class PartitionState:
    """Recovery state of one log partition's step (pickled by Bytewax at each epoch)."""

    book: TxnBook = field(default_factory=TxnBook)
    pending: PendingReadings = field(default_factory=PendingReadings)  # open sessions' readings
    orders: OrderBook = field(default_factory=OrderBook)  # last event seq per order
    presence: Presence = field(default_factory=Presence)  # liveness and outages (windows)


@dataclass(slots=True)
class StepOut:
    tables: dict[str, pa.Table] = field(default_factory=dict)
    live: LiveDelta = field(default_factory=LiveDelta)


def _us(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000)


def _table(frame: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    return frame.select(schema.names).to_arrow().cast(schema)


def readings_table(readings: pl.DataFrame, partition: int) -> pa.Table:
    frame = readings.with_columns(
        pl.col("context").fill_null("Sample.Periodic"),
        pl.lit(partition, pl.Int32).alias("log_partition"),
        (pl.col("offset") // (1 << INDEX_BITS)).alias("log_offset"),
        (pl.col("offset") % (1 << INDEX_BITS)).cast(pl.Int32).alias("log_index"),
    )
    return _table(frame, READINGS)


def dead_letter_table(
    rejected: Sequence[Rejection], topic: str, partition: int, judged_at: datetime
) -> pa.Table:
    """Rows for the dead-letter table; ``raw`` keeps undecodable bytes as backslash escapes."""
    rows = [
        {
            "ts": r.ts or judged_at,
            "topic": topic,
            "log_partition": partition,
            "log_offset": r.offset >> INDEX_BITS,
            "log_index": r.offset & INDEX_MASK,
            "source": r.source,
            "reason": r.reason.value,
            "detail": r.detail,
            "charger_id": r.charger_id,
            "raw": r.raw.decode("utf-8", errors="backslashreplace"),
        }
        for r in rejected
    ]
    return pa.Table.from_pylist(rows, schema=DEAD_LETTER)


def _history_points(frame: pl.DataFrame, groups: _Groups, bucket_us: int | None) -> pl.DataFrame:
    """Power samples for the live history (:data:`~pipeline.live.POINTS_SCHEMA`). The live view
    keeps the newest point per connector per ``bucket_us`` of event time; with a bucket, only a
    transaction's newest sample per bucket leaves the step (a reading outside any transaction
    always does), so the view folds in a few points per connector, not every reading."""
    power = frame.get_column("power_w")
    keep = power.is_not_null().to_numpy()
    if bucket_us is not None:
        ts_us = frame.get_column("ts").dt.epoch("us").to_numpy()
        keep = newest_per_bucket(groups.of_row, ts_us, keep, bucket_us, len(groups.first))
    return frame.filter(pl.Series(keep)).select(
        "charger_id", "connector_id", pl.col("ts").dt.epoch("us").alias("ts_us"), "power_w"
    )


@dataclass(frozen=True, slots=True)
class _Groups:
    """Accepted readings by transaction: ``_g`` per row (-1: in none), and each transaction's
    first and last row (its kept readings are in time order, so its earliest and latest)."""

    of_row: npt.NDArray[np.int64]
    first: npt.NDArray[np.int64]
    last: npt.NDArray[np.int64]

    @classmethod
    def of(cls, result: MeterResult) -> _Groups:
        of_row = result.readings.get_column("_g").fill_null(-1).cast(pl.Int64).to_numpy()
        first, last = group_bounds(of_row, len(result.groups))
        return cls(of_row, first, last)


def _last_rows(frame: pl.DataFrame, groups: _Groups) -> list[int] | None:
    """Rows holding each connector's latest reading of the batch, in log order, taken from each
    transaction's last row; None when that does not hold (a reading outside any transaction,
    or a transaction whose readings name more than one connector)."""
    if np.any(groups.of_row < 0):
        return None
    connector = frame.get_column("connector_id").fill_null(-1).to_numpy()
    if np.any(connector[groups.first[groups.of_row]] != connector):
        return None
    return np.sort(groups.last[groups.last >= 0]).tolist()


def _meter_live(
    result: MeterResult, live: LiveDelta, groups: _Groups, bucket_us: int | None = None
) -> None:
    frame = result.readings
    if frame.height:
        latest = frame.select("charger_id", "connector_id", "ts", "power_w", "soc_pct")
        rows = _last_rows(frame, groups)
        last = (
            latest.group_by("charger_id", "connector_id", maintain_order=True).last()
            if rows is None
            else latest[rows]
        )
        for row in last.iter_rows(named=True):
            fields: dict[str, Any] = {
                "power_w": row["power_w"] or 0.0,
                "last_reading_at": _us(row["ts"]),
            }
            if row["soc_pct"] is not None:
                fields["soc_pct"] = row["soc_pct"]
            live.connectors[f"{row['charger_id']}/{row['connector_id']}"] = fields
        live.points = _history_points(frame, groups, bucket_us)
        live.event_time_us = _us(frame.get_column("ts").max())  # type: ignore[arg-type]
    for txn in result.touched.values():
        live.connectors.setdefault(f"{txn.charger_id}/{txn.connector_id}", {}).update(
            transaction_id=txn.transaction_id,
            session_started_at=txn.started_at_us,
            session_energy_wh=txn.energy_wh,
        )
    for txn in result.ended:
        live.connectors.setdefault(f"{txn.charger_id}/{txn.connector_id}", {}).update(
            transaction_id=None, session_started_at=None, session_energy_wh=0.0, power_w=0.0
        )
    live.readings += frame.height


@dataclass(frozen=True)
class Checks:
    """What the stateless reading checks (:mod:`pipeline.checks`) judge against."""

    clock: Clock
    inventory: InventoryWatch
    rules: Rules = field(default_factory=Rules)
    billing: StreamBilling | None = None  # bill sessions as they close (None: no bills)
    live_bucket_us: int | None = None  # live history: newest power sample per bucket (None: all)


def _screened(
    good: pl.DataFrame, raw: RawIndex, checks: Checks
) -> tuple[pl.DataFrame, list[Rejection]]:
    verdicts = screen(good, checks.inventory.current(), checks.clock.now(), checks.rules)
    if not verdicts.rows:
        return good, []
    bad = [o for o, *_ in verdicts.rows]
    rejected = [
        Rejection(o, reason, detail, raw(o), charger)
        for o, reason, detail, charger in verdicts.rows
    ]
    return good.filter(~pl.col("offset").is_in(bad)), rejected


def _meter(state: PartitionState, batch: LogBatch, out: StepOut, checks: Checks) -> list[Rejection]:
    parsed, raw = parse_log_batch(batch.offsets, batch.payloads, METER_SPEC, batch.decoded)
    good, screened = _screened(parsed.good, raw, checks)
    result = process_meter(state.book, good, raw, checks.rules)
    if result.readings.height:
        out.tables["readings"] = readings_table(result.readings, batch.partition)
    if result.sessions:
        out.tables["sessions"] = pa.Table.from_pylist(result.sessions, schema=SESSIONS)
    state.pending.add(result.readings, result.groups)
    groups = _Groups.of(result)
    windows = [_reading_presence(state, result.readings, groups, checks)]
    if result.sessions:
        taken = state.pending.take([s["session_id"] for s in result.sessions])
        if checks.billing is not None:
            out.tables |= checks.billing.bill(taken, result.sessions)
        bills = out.tables.get("bills")
        windows.append(session_windows(result.sessions, taken, bills, checks.rules))
    _add_windows(out, windows)
    _meter_live(result, out.live, groups, checks.live_bucket_us)
    return sorted(parsed.rejected + screened + result.rejected, key=lambda r: r.offset)


def _reading_presence(
    state: PartitionState, readings: pl.DataFrame, groups: _Groups, checks: Checks
) -> pl.DataFrame:
    """Readings show a charger is there: each one is a sign of life (offline partials)."""
    chargers, codes = _charger_codes(readings, groups)
    ts_us = readings.get_column("ts").dt.epoch("us").to_numpy()
    return reading_presence(state.presence, chargers, codes, ts_us, checks.rules)


def _charger_codes(
    readings: pl.DataFrame, groups: _Groups
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The batch's chargers, and per reading the index of its charger: from each transaction's
    first row (one lookup per transaction), by name only for readings outside a transaction."""
    code_of: dict[str, int] = {}
    present = np.flatnonzero(groups.first >= 0)
    names = readings.get_column("charger_id").gather(groups.first[present]).to_list()
    group_code = np.full(len(groups.first), -1, np.int64)
    for group, name in zip(present.tolist(), names, strict=True):
        group_code[group] = code_of.setdefault(name, len(code_of))
    codes = np.full(readings.height, -1, np.int64)
    inside = groups.of_row >= 0
    codes[inside] = group_code[groups.of_row[inside]]
    outside = np.flatnonzero(~inside)
    if len(outside):
        idle = readings.get_column("charger_id").gather(outside)
        for name in idle.unique(maintain_order=True).to_list():
            code_of.setdefault(name, len(code_of))
        codes[outside] = idle.replace_strict(code_of, return_dtype=pl.Int64).to_numpy()
    return list(code_of), codes


def _add_windows(out: StepOut, parts: list[pl.DataFrame]) -> None:
    rows = [p for p in parts if p.height]
    if rows:
        out.tables["utilisation_windows"] = windows_table(pl.concat(rows, how="diagonal_relaxed"))


def _status(
    state: PartitionState, batch: LogBatch, out: StepOut, checks: Checks
) -> list[Rejection]:
    parsed, _ = parse_log_batch(batch.offsets, batch.payloads, STATUS_SPEC)
    good = parsed.good.with_columns(pl.col("error_code").fill_null("NoError"))
    if good.height:
        out.tables["connector_status"] = _table(good, CONNECTOR_STATUS)
        messages = good.select(
            "charger_id",
            pl.col("connector_id").fill_null(0),
            "ts",
            pl.when(pl.col("kind") == "status").then(pl.col("status")).alias("status"),
        )
        _add_windows(out, [presence_windows(state.presence, messages, checks.rules)])
        statuses = good.filter(pl.col("kind") == "status")
        last = statuses.group_by("charger_id", "connector_id", maintain_order=True).last()
        for row in last.iter_rows(named=True):
            out.live.connectors[f"{row['charger_id']}/{row['connector_id']}"] = {
                "status": row["status"],
                "status_at": _us(row["ts"]),
            }
    return parsed.rejected


def _producer_rejections(batch: LogBatch) -> list[Rejection]:
    """Records producers dead-lettered keep their reason; a malformed one is judged here."""
    rejected = []
    for offset, payload in zip(batch.offsets, batch.payloads, strict=True):
        try:
            letter = DeadLetter.model_validate_json(payload)
        except ValidationError as exc:
            reason = (
                Reason.undecodable
                if exc.errors()[0]["type"] == "json_invalid"
                else Reason.schema_invalid
            )
            detail = f"bad dead-letter record: {exc.errors()[0]['msg']}"
            rejected.append(Rejection(seq_of(int(offset)), reason, detail, payload))
            continue
        rejected.append(
            Rejection(
                seq_of(int(offset)),
                letter.reason,
                letter.detail,
                letter.raw.encode(),
                letter.charger_id,
                source=letter.source,
                ts=letter.ts,
            )
        )
    return rejected


def _warm(billing: StreamBilling | None) -> None:
    warm_kernels()
    warm_group_kernels()
    if billing is not None:
        billing.warm()


_warming: list[threading.Thread] = []


def wait_for_warm_up() -> None:
    """Block until every kernel warm-up started by :func:`make_step` is done: the runner calls
    it before returning, so a run's time includes its start-up (a short run would otherwise
    return with the cache loads still going, and they would compete with whatever runs next)."""
    while _warming:
        _warming.pop().join()


Step = Callable[[PartitionState | None, LogBatch], tuple[PartitionState, StepOut]]


def make_step(
    clock: Clock,
    *,
    inventory_path: Path | None = None,
    rules: Rules | None = None,
    tariffs: TariffBook | None = None,
    live_bucket_us: int | None = None,
) -> Step:
    """The ``stateful_map`` mapper; ``clock`` stamps when the pipeline judged a record and is
    what readings from the future are judged against; ``inventory_path`` (re-read on change)
    lists the known chargers and connectors (``None``: every charger is known); ``tariffs``
    (see :mod:`pipeline.bills`) bill sessions as they close (``None``: no bills);
    ``live_bucket_us``: the live history's point spacing (:func:`pipeline.live.bucket_us`),
    finer samples are thinned in the step (``None``: every sample goes to the live view)."""
    watch = InventoryWatch(inventory_path)
    billing = StreamBilling(tariffs, watch) if tariffs is not None else None
    checks = Checks(clock, watch, rules or Rules(), billing, live_bucket_us)
    # Numba loads compiled kernels on first call (~0.3 s each): do it while the flow starts up.
    warming = threading.Thread(target=_warm, args=(billing,), name="warm-kernels", daemon=True)
    warming.start()
    _warming.append(warming)

    def step(state: PartitionState | None, batch: LogBatch) -> tuple[PartitionState, StepOut]:
        state = state or PartitionState()
        out = StepOut()
        if not len(batch.offsets):
            return state, out
        if batch.topic == Topic.meter_readings:
            rejected = _meter(state, batch, out, checks)
        elif batch.topic == Topic.connector_status:
            rejected = _status(state, batch, out, checks)
        elif batch.topic == Topic.order_events:
            table, rejected = order_events(
                state.orders, batch.offsets, batch.payloads, batch.partition
            )
            if table is not None:
                out.tables["order_events"] = table
        else:
            rejected = _producer_rejections(batch)
        if rejected:
            out.tables["dead_letter"] = dead_letter_table(
                rejected, batch.topic, batch.partition, clock.now()
            )
            out.live.dead_letters += len(rejected)
        return state, out

    return step
