"""Raw log payloads -> columnar good records + dead letters with a precise reason.

Two paths, one verdict:

* **Fast path** (the bulk): the batch's payloads are decoded together by polars' NDJSON reader
  against the topic's union schema, then every rule of the event models is checked as a vectorised
  expression. It only ever *accepts*: a row that breaks any rule, and every row of a chunk the
  reader refuses, goes to the slow path. Chunks the reader refuses are bisected so one bad record
  costs ``O(log n)`` fast parses, not a slow pass over the whole batch.
* **Slow path** (the suspects): ``orjson`` (then ``json``, which accepts ``NaN``) and the typed
  models of :mod:`chargegrid.events` give the :class:`~chargegrid.events.Reason`. A record the
  models accept is re-encoded canonically and decoded by the fast path, so good records have one
  columnar form whichever path they took.

Extra fields are refused by the models (``extra="forbid"``); the NDJSON reader ignores them, so the
fast path checks that the raw text has exactly as many ``:`` as the decoded row accounts for (one
per non-null field plus those inside string values) and sends any mismatch (an extra key, an
explicit ``null``, a duplicate key, an escaped colon) to the slow path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from typing import Any, get_args

import numpy as np
import numpy.typing as npt
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, TypeAdapter, ValidationError

from chargegrid.eventbatch import (
    MAGIC,
    BatchRecordError,
    decode_batch,
    json_record,
    row_json,
    seq_of,
    seqs_of,
    split_seq,
)
from chargegrid.eventlog import Payloads, count_byte
from chargegrid.events import (
    METER_RECORD,
    STATUS_RECORD,
    Boot,
    ConnectorStatus,
    ConnectorStatusValue,
    MeterValue,
    Reason,
    TransactionEnded,
    TransactionStarted,
    encode,
)

Offsets = Sequence[int] | npt.NDArray[np.int64]

INT32_MAX = 2**31 - 1
_COLON = ord(":")
_SMALLEST_BISECT = 16
TS_DTYPE = pl.Datetime("us", "UTC")


@dataclass(frozen=True, slots=True)
class Rejection:
    """One record for the dead-letter table: the untouched payload and why."""

    offset: int
    reason: Reason
    detail: str
    raw: bytes
    charger_id: str | None = None
    source: str = "pipeline"
    ts: datetime | None = None  # the record's own time (producer rejections); else judged-at


@dataclass(slots=True)
class Parsed:
    """Good records (one row each, offset order, ``ts`` as UTC Datetime) and rejections."""

    good: pl.DataFrame
    rejected: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True)
class TopicSpec:
    """What a valid record of one topic looks like, for both paths."""

    schema: dict[str, pl.DataType]  # union of every kind's fields (``ts`` as String)
    fields_of_kind: dict[str, frozenset[str]]  # fields a kind may carry besides kind/charger/ts
    required: dict[str, tuple[str, ...]]  # fields a kind must carry (non-null)
    adapter: TypeAdapter[Any]
    rules: Callable[[], pl.Expr]  # extra vectorised rules (True = fine)
    implausible: Callable[[Any], str | None]  # slow-path plausibility: detail, or None

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self.fields_of_kind)


def _len_between(column: str, low: int, high: int) -> pl.Expr:
    length = pl.col(column).str.len_chars()
    return (length >= low) & (length <= high)


def _nonneg(column: str) -> pl.Expr:
    return pl.col(column).is_null() | (pl.col(column).is_finite() & (pl.col(column) >= 0))


def _meter_rules() -> pl.Expr:
    kind = pl.col("kind")
    txn_ok = (
        pl.when(kind == "meter_value").then(True).otherwise(_len_between("transaction_id", 1, 64))
    )
    soc = pl.col("soc_pct")
    return reduce(
        lambda a, b: a & b,
        [
            txn_ok,
            pl.col("connector_id") <= INT32_MAX,
            pl.col("protocol").is_null() | pl.col("protocol").is_in(["ocpp1.6", "ocpp2.0.1"]),
            *(_nonneg(c) for c in ("meter_start_wh", "meter_stop_wh", "energy_register_wh")),
            *(_nonneg(c) for c in ("power_w", "current_a", "voltage_v")),
            soc.is_null() | (soc.is_finite() & (soc >= 0) & (soc <= 100)),
        ],
    )


def _meter_implausible(record: Any) -> str | None:
    if isinstance(record, MeterValue):
        for name in ("energy_register_wh", "power_w", "current_a", "voltage_v"):
            value = getattr(record, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                return f"{name}={value!r} is not a finite value >= 0"
        if record.soc_pct is not None and not (
            math.isfinite(record.soc_pct) and 0 <= record.soc_pct <= 100
        ):
            return f"soc_pct={record.soc_pct!r} is outside 0..100"
    if isinstance(record, MeterValue | TransactionStarted | TransactionEnded) and (
        record.connector_id > INT32_MAX
    ):
        return f"connector_id={record.connector_id} is out of range"
    return None


def _status_rules() -> pl.Expr:
    statuses = list(get_args(ConnectorStatusValue))
    protocols = list(get_args(Boot.model_fields["protocol"].annotation))
    return (
        (pl.col("connector_id").is_null() | (pl.col("connector_id") <= INT32_MAX))
        & (pl.col("status").is_null() | pl.col("status").is_in(statuses))
        & (pl.col("protocol").is_null() | pl.col("protocol").is_in(protocols))
    )


def _status_implausible(record: Any) -> str | None:
    if isinstance(record, ConnectorStatus) and record.connector_id > INT32_MAX:
        return f"connector_id={record.connector_id} is out of range"
    return None


_COMMON: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "charger_id": pl.String(),
    "ts": pl.String(),
}

METER_SPEC = TopicSpec(
    schema={
        **_COMMON,
        "connector_id": pl.Int64(),
        "transaction_id": pl.String(),
        "meter_start_wh": pl.Float64(),
        "id_tag": pl.String(),
        "protocol": pl.String(),
        "energy_register_wh": pl.Float64(),
        "power_w": pl.Float64(),
        "current_a": pl.Float64(),
        "voltage_v": pl.Float64(),
        "soc_pct": pl.Float64(),
        "context": pl.String(),
        "meter_stop_wh": pl.Float64(),
        "reason": pl.String(),
    },
    fields_of_kind={
        "transaction_started": frozenset(
            {"connector_id", "transaction_id", "meter_start_wh", "id_tag", "protocol"}
        ),
        "meter_value": frozenset(
            {
                "connector_id",
                "transaction_id",
                "energy_register_wh",
                "power_w",
                "current_a",
                "voltage_v",
                "soc_pct",
                "context",
            }
        ),
        "transaction_ended": frozenset(
            {"connector_id", "transaction_id", "meter_stop_wh", "reason"}
        ),
    },
    required={
        "transaction_started": ("connector_id", "transaction_id", "meter_start_wh"),
        "meter_value": ("connector_id",),
        "transaction_ended": ("connector_id", "transaction_id", "meter_stop_wh"),
    },
    adapter=METER_RECORD,
    rules=_meter_rules,
    implausible=_meter_implausible,
)

STATUS_SPEC = TopicSpec(
    schema={
        **_COMMON,
        "connector_id": pl.Int64(),
        "status": pl.String(),
        "error_code": pl.String(),
        "vendor": pl.String(),
        "model": pl.String(),
        "protocol": pl.String(),
        "accepted": pl.Boolean(),
    },
    fields_of_kind={
        "status": frozenset({"connector_id", "status", "error_code"}),
        "boot": frozenset({"vendor", "model", "protocol", "accepted"}),
        "heartbeat": frozenset(),
    },
    required={"status": ("connector_id", "status"), "boot": (), "heartbeat": ()},
    adapter=STATUS_RECORD,
    rules=_status_rules,
    implausible=_status_implausible,
)


_VALID_EXPR: dict[tuple[int, frozenset[str], frozenset[str]], tuple[pl.Expr, pl.Expr]] = {}


def _valid_expr(spec: TopicSpec, frame: pl.DataFrame) -> tuple[pl.Expr, pl.Expr]:
    """``(rules, colons)``: True where a decoded row satisfies every rule of its kind, and how many
    ``:`` its raw text holds if it has no field the decoded row does not account for (one per
    non-null field plus those inside string values).

    Built once per spec and per pattern of columns that are entirely null / never null in the
    frame (a batch of one kind leaves most optional columns empty): the null checks of such
    columns are constants, so the expression skips them instead of scanning them.
    """
    no_null = frozenset(c for c in spec.schema if frame.get_column(c).null_count() == 0)
    all_null = frozenset(
        c
        for c in spec.schema
        if c not in no_null and frame.get_column(c).null_count() == frame.height
    )
    key = (id(spec), all_null, no_null)
    expr = _VALID_EXPR.get(key)
    if expr is None:
        expr = _VALID_EXPR[key] = _build_valid_expr(spec, all_null, no_null)
    return expr


def _build_valid_expr(
    spec: TopicSpec, all_null: frozenset[str], no_null: frozenset[str]
) -> tuple[pl.Expr, pl.Expr]:
    def is_null(column: str) -> pl.Expr:
        if column in all_null or column in no_null:
            return pl.lit(column in all_null)
        return pl.col(column).is_null()

    checks = [
        pl.col("kind").is_in(sorted(spec.kinds)),
        _len_between("charger_id", 1, 64),
        pl.col("_ts").is_not_null(),
        pl.col("connector_id").is_null() | (pl.col("connector_id") >= 0),
        spec.rules(),
    ]
    optional = [c for c in spec.schema if c not in _COMMON]
    for kind, allowed in spec.fields_of_kind.items():
        present = [~is_null(c) for c in spec.required[kind]]
        absent = [is_null(c) for c in optional if c not in allowed]
        rule = reduce(lambda a, b: a & b, [*present, *absent], pl.lit(True))
        checks.append((pl.col("kind") != kind) | rule)
    non_null = pl.sum_horizontal(
        pl.lit(len(no_null), pl.Int64),
        *(pl.col(c).is_not_null().cast(pl.Int64) for c in spec.schema if c not in no_null),
    )
    in_values = pl.sum_horizontal(
        pl.lit(0, pl.Int64),
        *(
            pl.col(c).str.count_matches(":", literal=True).fill_null(0).cast(pl.Int64)
            for c, t in spec.schema.items()
            if t == pl.String() and c not in all_null
        ),
    )
    return reduce(lambda a, b: a & b, checks).fill_null(False), non_null + in_values


def _decode_chunk(payloads: Payloads, spec: TopicSpec) -> pl.DataFrame | None:
    """Decode with the NDJSON reader; None if it refuses or the row count does not match.

    Rows match payloads by position only if no payload spans lines (the reader skips blank
    lines, so ``[b'{..}\\n{..}', b'']`` would decode to two rows, the second one wrongly the
    empty record's): such a chunk is refused, and bisection isolates the multi-line payload.
    """
    if not payloads.single_lines:
        return None
    try:
        frame = pl.read_ndjson(payloads.joined, schema=spec.schema)
    except pl.exceptions.PolarsError:
        return None
    return frame if frame.height == len(payloads) else None


def _colons(payloads: Payloads) -> npt.NDArray[np.int64]:
    """How many ``:`` bytes each raw payload holds (one vectorised pass over the buffer)."""
    at = np.flatnonzero(np.frombuffer(payloads.data, np.uint8) == _COLON)
    return np.diff(np.searchsorted(at, payloads.starts))


def _colons_match_in_total(payloads: Payloads, expected: pl.Series) -> bool:
    """True if every row's raw ``:`` count equals ``expected`` (checked on the totals alone).

    Without escapes (no ``\\`` at all) a decoded value's ``:`` are all literal in the raw text,
    so no row holds fewer ``:`` than expected; equal totals then mean equal counts row by row.
    Otherwise (or if the totals differ) the caller counts per row.
    """
    if b"\\" in payloads.data:  # a single byte: memchr, unlike a two-byte search
        return False
    return count_byte(payloads.data, _COLON) == expected.sum()


def _fast(
    payloads: Payloads, index: Sequence[int], spec: TopicSpec
) -> tuple[list[pl.DataFrame], list[int]]:
    """Accepted frames (with ``_i`` = position in the batch) and positions of suspects."""
    frame = _decode_chunk(payloads, spec)
    if frame is None:
        if len(payloads) <= _SMALLEST_BISECT:
            return [], list(index)
        mid = len(payloads) // 2
        left_frames, left_bad = _fast(payloads[:mid], index[:mid], spec)
        right_frames, right_bad = _fast(payloads[mid:], index[mid:], spec)
        return left_frames + right_frames, left_bad + right_bad
    frame = frame.with_columns(
        pl.Series("_i", index, dtype=pl.Int64), _parse_ts(frame.get_column("ts")).alias("_ts")
    )
    rules, colons = _valid_expr(spec, frame)
    frame = frame.with_columns(rules.alias("_ok"), colons.alias("_colons"))
    if not _colons_match_in_total(payloads, frame.get_column("_colons")):
        raw = pl.Series("_raw_colons", _colons(payloads))
        frame = frame.with_columns(pl.col("_ok") & (pl.col("_colons") == raw))
    good = frame.filter(pl.col("_ok"))
    suspects = frame.filter(~pl.col("_ok")).get_column("_i").to_list()
    return [good], suspects


def _parse_ts(text: pl.Series) -> pl.Series:
    """ISO-8601 with a zone offset -> UTC microseconds; null where it is not one.

    Arrow's cast is several times faster than polars' strptime but refuses the whole column on
    one bad value; then polars decides row by row.
    """
    try:
        parsed = pc.cast(text.to_arrow(), pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:
        return text.str.to_datetime(
            format="%Y-%m-%dT%H:%M:%S%.f%#z", time_unit="us", time_zone="UTC", strict=False
        )
    return pl.Series(text.name, parsed)


def _loads(payload: bytes) -> object:
    """orjson, then the standard library (which accepts NaN/Infinity, for a precise reason)."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return json.loads(payload.decode("utf-8"))


def _describe(exc: ValidationError) -> str:
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or '<record>'}: {e['msg']}" for e in exc.errors()
    ]
    return "; ".join(parts[:4])


def judge(payload: bytes, spec: TopicSpec) -> BaseModel | tuple[Reason, str, str | None]:
    """The typed verdict on one record: its model, or ``(reason, detail, charger_id)``."""
    try:
        obj = _loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        return Reason.undecodable, f"not UTF-8 JSON: {exc}", None
    if not isinstance(obj, dict):
        return Reason.schema_invalid, f"a JSON {type(obj).__name__}, not an object", None
    charger = obj.get("charger_id")
    charger_id = charger if isinstance(charger, str) else None
    kind = obj.get("kind")
    if isinstance(kind, str) and kind not in spec.kinds:
        return Reason.unknown_kind, f"kind {kind!r} is not one of {sorted(spec.kinds)}", charger_id
    try:
        record: BaseModel = spec.adapter.validate_python(obj)
    except ValidationError as exc:
        return Reason.schema_invalid, _describe(exc), charger_id
    detail = spec.implausible(record)
    if detail is not None:
        return Reason.implausible_value, detail, charger_id
    return record


def parse_batch(offsets: Offsets, payloads: Sequence[bytes], spec: TopicSpec) -> Parsed:
    """Split a batch into good rows (``offset`` column added, offset order) and rejections."""
    if not isinstance(payloads, Payloads):
        payloads = Payloads.of(payloads)
    frames, suspects = _fast(payloads, range(len(payloads)), spec)
    rejected: list[Rejection] = []
    canonical: list[bytes] = []
    canonical_index: list[int] = []
    for i in suspects:
        verdict = judge(payloads[i], spec)
        if isinstance(verdict, BaseModel):
            canonical.append(encode(verdict))
            canonical_index.append(i)
        else:
            reason, detail, charger_id = verdict
            rejected.append(Rejection(int(offsets[i]), reason, detail, payloads[i], charger_id))
    if canonical:
        again, still_bad = _fast(Payloads.of(canonical), canonical_index, spec)
        frames.extend(again)
        rejected.extend(
            Rejection(
                int(offsets[i]),
                Reason.schema_invalid,
                "refused after canonical re-encoding",
                payloads[i],
            )
            for i in still_bad
        )
    return Parsed(_assemble(frames, offsets, spec), sorted(rejected, key=lambda r: r.offset))


def _assemble(frames: list[pl.DataFrame], offsets: Offsets, spec: TopicSpec) -> pl.DataFrame:
    columns = [c for c in spec.schema if c != "ts"]
    if not frames:
        return empty_frame(spec)
    good = pl.concat(frames).sort("_i")
    offset_of = pl.Series("offsets", offsets, dtype=pl.Int64)
    return good.select(
        offset_of.gather(good.get_column("_i")).alias("offset"),
        pl.col("_ts").alias("ts"),
        *columns,
    )


def empty_frame(spec: TopicSpec) -> pl.DataFrame:
    """A zero-row frame with the good-records layout of ``spec``."""
    schema: dict[str, pl.DataType] = {"offset": pl.Int64(), "ts": TS_DTYPE}
    schema.update({c: t for c, t in spec.schema.items() if c != "ts"})
    return pl.DataFrame(schema=schema)


# -- log batches that may hold columnar batch records -----------------------------------------


@dataclass(slots=True)
class RawIndex:
    """The raw bytes behind a row's sequence number (:func:`chargegrid.eventbatch.seq_of`): the
    log record itself, or, for a row of a batch record, that row as a JSON record."""

    offsets: Offsets  # log offsets of the batch, ascending
    payloads: Payloads
    tables: dict[int, pa.RecordBatch] = field(default_factory=dict)  # decoded, by log offset

    def __call__(self, seq: int) -> bytes:
        offset, index = split_seq(int(seq))
        table = self.tables.get(offset)
        if table is not None:
            return row_json(table, index)
        return self.payloads[int(np.searchsorted(self.offsets, offset))]


@dataclass(slots=True)
class Decoded:
    """The batch records of a log batch, decoded (:func:`decode_records`): which records are
    JSON, the decoded tables by log offset, all their rows as one batch, and records that did
    not decode."""

    json_at: list[int]  # positions (in the log batch) of single JSON records
    tables: dict[int, pa.RecordBatch]  # decoded batch records, by log offset (ascending)
    rows: _Checked | None  # every decoded row, in log order, checked (None: no batch record)
    rejected: list[Rejection]


@dataclass(frozen=True, slots=True)
class _Checked:
    """Decoded rows of batch records as a frame (``offset`` = sequence numbers, ``_ts`` = the
    decoded time) and, per row, whether it passes every rule of :func:`_valid_expr`."""

    frame: pl.DataFrame
    ok: pl.Series


def decode_records(offsets: Offsets, payloads: Payloads, spec: TopicSpec) -> Decoded:
    """Decode the batch records of a log batch and check their rows (:func:`_checked`). Pure,
    and mostly outside the interpreter lock: the source calls it in its read-ahead thread for
    the next batch while the step works on the current one."""
    offsets = np.asarray(offsets, np.int64)
    json_at: list[int] = []
    rejected: list[Rejection] = []
    tables: dict[int, pa.RecordBatch] = {}
    for i, payload in enumerate(payloads.views()):
        if payload[:4] != MAGIC:
            json_at.append(i)
            continue
        offset = int(offsets[i])
        if spec is not METER_SPEC:
            detail = "a columnar batch record on a topic that takes single JSON records only"
            rejected.append(Rejection(seq_of(offset), Reason.undecodable, detail, bytes(payload)))
            continue
        try:
            tables[offset] = decode_batch(payload)
        except BatchRecordError as exc:
            rejected.append(Rejection(seq_of(offset), Reason.undecodable, str(exc), bytes(payload)))
    rows = _checked(tables, spec) if tables else None
    return Decoded(json_at, tables, rows, rejected)


def parse_log_batch(
    offsets: Offsets, payloads: Payloads, spec: TopicSpec, decoded: Decoded | None = None
) -> tuple[Parsed, RawIndex]:
    """:func:`parse_batch` for a batch of log records, some of which may be batch records.

    Good rows and rejections carry sequence numbers (``offset << 20 | row``) in ``offset``.
    Batch records are decoded (no parse), checked by the same vectorised rules as decoded JSON,
    and their suspect rows judged as JSON records by the slow path, so both encodings get one
    verdict. A batch record that does not decode, or one on a topic other than
    ``meter_readings``, is dead-lettered whole as ``undecodable``. ``decoded``: this batch's
    :func:`decode_records`, if the source already did it.
    """
    offsets = np.asarray(offsets, np.int64)
    raw = RawIndex(offsets, payloads)
    if not payloads.contains(MAGIC):
        return parse_batch(seqs_of(offsets), payloads, spec), raw
    if decoded is None:
        decoded = decode_records(offsets, payloads, spec)
    raw.tables = decoded.tables
    rejected = list(decoded.rejected)
    parts: list[pl.DataFrame] = []
    if decoded.json_at:
        index = np.asarray(decoded.json_at, np.int64)
        text = Payloads.of([payloads[int(i)] for i in index])
        parsed = parse_batch(seqs_of(offsets[index]), text, spec)
        parts.append(parsed.good)
        rejected += parsed.rejected
    if decoded.rows is not None:
        good, bad = _batch_rows(decoded.rows, spec)
        parts.append(good)
        rejected += bad
    good = _merged(parts) if parts else empty_frame(spec)
    return Parsed(good, sorted(rejected, key=lambda r: r.offset)), raw


def _checked(tables: dict[int, pa.RecordBatch], spec: TopicSpec) -> _Checked:
    """Rows of decoded batch records as one frame with sequence numbers, and the verdict of the
    vectorised rules per row (polars works outside the interpreter lock: the read-ahead thread
    does this for the next batch)."""
    counts = np.fromiter((t.num_rows for t in tables.values()), np.int64, len(tables))
    firsts = np.cumsum(counts) - counts  # row of each record's first row in the batch
    index = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(firsts, counts)
    seqs = seqs_of(np.repeat(np.fromiter(tables, np.int64, len(tables)), counts), index)
    frame = pl.from_arrow(pa.concat_batches(list(tables.values())))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_columns(pl.col("ts").alias("_ts"), pl.Series("offset", seqs))
    rules, _ = _valid_expr(spec, frame)
    return _Checked(frame, frame.select(rules).to_series())


def _batch_rows(rows: _Checked, spec: TopicSpec) -> tuple[pl.DataFrame, list[Rejection]]:
    """Good rows of decoded batch records (good-records layout) and rejected suspects."""
    frame, ok = rows.frame, rows.ok
    columns = [c for c in spec.schema if c != "ts"]
    if ok.all():
        return frame.select("offset", "ts", *columns), []
    frame = frame.with_columns(ok.alias("_ok"))
    good = frame.filter(pl.col("_ok")).select("offset", "ts", *columns)
    suspects = frame.filter(~pl.col("_ok"))
    # Judged as the JSON records they stand for: one verdict whatever the encoding.
    again = parse_batch(
        suspects.get_column("offset").to_numpy(),
        Payloads.of(
            [json_record(row) for row in suspects.drop("offset", "_ts", "_ok").rows(named=True)]
        ),
        spec,
    )
    if again.good.height:
        good = _merged([good, again.good])
    return good, again.rejected


_MAX_RUNS = 64  # interleaved runs above which a merge of slices costs more than a sort


def _merged(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Frames each in ``offset`` order as one frame in ``offset`` order.

    Usually one part is large (rows of batch records) and the other holds a few JSON records
    (starts, stops) that fall between its rows in a few places: then the result is slices of the
    large part with the runs of the small one between them, no row copied; a sort otherwise."""
    merged = parts[0]
    for part in parts[1:]:
        merged = _merge_two(merged, part)
    return merged


def _merge_two(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    if not a.height or not b.height:
        return a if b.height == 0 else b
    big, small = (a, b) if a.height >= b.height else (b, a)
    at = np.searchsorted(big.get_column("offset").to_numpy(), small.get_column("offset").to_numpy())
    cuts = np.flatnonzero(np.diff(at)) + 1  # where the next run of the small part starts
    if len(cuts) >= _MAX_RUNS:
        return pl.concat([a, b]).sort("offset")
    pieces: list[pl.DataFrame] = []
    done = 0
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(at)], strict=True):
        where = int(at[lo])
        pieces += [big.slice(done, where - done), small.slice(lo, hi - lo)]
        done = where
    pieces.append(big.slice(done))
    return pl.concat([p for p in pieces if p.height], rechunk=False)
