"""Billing in the stream: each session is billed under its charger's tariff as it closes.

The same implementation as ``chargegrid bill`` and the Beckn final bill
(:func:`pipeline.billing.bill_sessions_multi`, one Numba kernel call per tariff and batch), on
the session's own readings: the step keeps the readings of open transactions in its recovery
state (:class:`PendingReadings`) and hands a session's readings to billing when its stop arrives,
so a bill never waits for the lake and a restart re-bills nothing twice (the lake sinks are
idempotent per epoch).

Which tariff: the charger's ``tariff_id`` in the inventory, else its station's, else the
operator's default: ``<data dir>/tariff.json`` if present, else the tariff
``Settings.default_tariff_id`` (see :class:`chargegrid.tariffs.TariffResolver`). Tariffs are
found by id in the repository's ``data/tariffs`` and ``<data dir>/tariffs``. A session no tariff
can bill (a dangling reference, a dynamic tariff without prices) is written to ``bills`` with
``status = 'unbilled'`` and the reason, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from chargegrid.errors import ChargegridError
from chargegrid.tariffs import Tariff, TariffResolver, load_tariff, load_tariff_dir
from pipeline.billing import SESSION_INDEX, bill_sessions_multi
from pipeline.billing import warm as warm_billing
from pipeline.checks import InventoryWatch
from warehouse.schema import BILL_LINES, BILLS

REPO_TARIFFS = Path(__file__).resolve().parents[1] / "data" / "tariffs"
_WARM_AT = datetime(2025, 1, 6, 9, tzinfo=UTC)


@dataclass(frozen=True)
class TariffBook:
    """Where the stream finds tariffs (see the module docstring)."""

    directories: tuple[Path, ...]
    default_path: Path | None = None  # the operator's tariff.json
    default_id: str | None = None

    @classmethod
    def for_data_dir(cls, data_dir: Path, default_id: str | None) -> TariffBook:
        directories = tuple(d for d in (REPO_TARIFFS, data_dir / "tariffs") if d.is_dir())
        return cls(directories, data_dir / "tariff.json", default_id)

    def load(self) -> tuple[dict[str, Tariff], Tariff | None]:
        tariffs: dict[str, Tariff] = {}
        for directory in self.directories:
            tariffs |= load_tariff_dir(directory)
        if self.default_path is not None and self.default_path.exists():
            return tariffs, load_tariff(self.default_path)
        if self.default_id is None:
            return tariffs, None
        if self.default_id not in tariffs:
            known = ", ".join(sorted(tariffs)) or "none"
            msg = f"default tariff {self.default_id!r} is not among the tariffs ({known})"
            raise ChargegridError(msg)
        return tariffs, tariffs[self.default_id]


class StreamBilling:
    """Bills sessions as they close; the resolver follows the inventory file."""

    def __init__(self, book: TariffBook, inventory: InventoryWatch) -> None:
        self._book = book
        self._inventory = inventory
        self._tariffs, self._default = book.load()
        self._resolver: TariffResolver | None = None
        self._resolver_of: object = None
        self._problem: str | None = None

    def _current(self) -> TariffResolver | str:
        inventory = self._inventory.current()
        if inventory is not self._resolver_of:
            self._resolver_of = inventory
            try:
                self._resolver, self._problem = (
                    TariffResolver(inventory, self._tariffs, self._default),
                    None,
                )
            except ChargegridError as exc:  # the inventory names a tariff that does not exist
                self._resolver, self._problem = None, str(exc)
        return self._resolver if self._resolver is not None else str(self._problem)

    def warm(self) -> None:
        """Load the billing kernels (a tiny bill under a tariff that needs no prices)."""
        for tariff in [self._default, *self._tariffs.values()]:
            if tariff is None:
                continue
            try:
                warm_billing(tariff, _WARM_AT)
            except ChargegridError:
                continue  # e.g. a dynamic tariff without prices
            return

    def bill(self, readings: pl.DataFrame, sessions: list[dict[str, Any]]) -> dict[str, pa.Table]:
        """``bills`` and ``bill_lines`` rows for closed ``sessions`` (lake ``sessions`` rows)
        from their ``readings`` (:meth:`PendingReadings.take`)."""
        frame = pl.DataFrame(
            [
                {k: s[k] for k in ("session_id", "charger_id", "started_at", "ended_at")}
                | {"meter_start_wh": s["meter_start_wh"], "meter_stop_wh": s["meter_stop_wh"]}
                for s in sessions
            ],
            schema={
                "session_id": pl.String,
                "charger_id": pl.String,
                "started_at": pl.Int64,
                "ended_at": pl.Int64,
                "meter_start_wh": pl.Float64,
                "meter_stop_wh": pl.Float64,
            },
            orient="row",
        ).with_columns(pl.col("started_at", "ended_at").cast(pl.Datetime("us", "UTC")))
        resolver = self._current()
        if isinstance(resolver, str):
            unbilled = frame.select("session_id", pl.lit(resolver).alias("reason"))
            return _tables(frame, None, None, unbilled)
        bills = bill_sessions_multi(readings.rename({"_closed": SESSION_INDEX}), frame, resolver)
        billed = bills.sessions.join(frame.select("session_id", "charger_id"), on="session_id")
        lines = bills.lines.join(frame.select("session_id", "started_at"), on="session_id")
        return _tables(frame, billed, lines, bills.unbilled.select("session_id", "reason"))


def _tables(
    frame: pl.DataFrame,
    billed: pl.DataFrame | None,
    lines: pl.DataFrame | None,
    unbilled: pl.DataFrame,
) -> dict[str, pa.Table]:
    parts = []
    if unbilled.height:
        nothing = {c: None for c in ("tariff_id", "energy_wh", "quality", "currency")}
        rows = frame.join(unbilled, on="session_id").with_columns(
            *(pl.lit(None).alias(c) for c in (*nothing, "net_minor", "tax_minor", "total_minor")),
            status=pl.lit("unbilled"),
            detail=pl.col("reason"),
        )
        parts.append(_arrow(rows, BILLS))
    if billed is not None and billed.height:
        rows = billed.with_columns(status=pl.lit("billed"), detail=pl.lit(None, pl.String))
        parts.append(_arrow(rows, BILLS))
    out: dict[str, pa.Table] = {}
    if parts:
        out["bills"] = pa.concat_tables(parts)
    if lines is not None and lines.height:
        out["bill_lines"] = _arrow(lines, BILL_LINES)
    return out


def _arrow(frame: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    return frame.select(schema.names).to_arrow().cast(schema)


_PENDING_SCHEMA: dict[str, pl.DataType] = {
    "_key": pl.Int64(),
    "ts": pl.Datetime("us", "UTC"),
    "energy_register_wh": pl.Float64(),
    "power_w": pl.Float64(),
}


@dataclass(slots=True)
class PendingReadings:
    """Readings of open transactions, kept until their session closes and is billed (part of the
    step's recovery state, so pickled at every epoch: a row is an integer session key and three
    numbers, no strings)."""

    keys: dict[str, int] = field(default_factory=dict)  # open session id -> _key
    next_key: int = 0
    frame: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_PENDING_SCHEMA))

    def __deepcopy__(self, memo: dict[int, object]) -> PendingReadings:
        """Bytewax deep-copies the state at every snapshot: the frame is immutable (``add`` and
        ``take`` replace it), so the copy shares it instead of copying every pending row."""
        return PendingReadings(dict(self.keys), self.next_key, self.frame)

    def add(self, readings: pl.DataFrame, sessions: list[str]) -> None:
        """Keep ``readings`` of open transactions: ``_g`` (null outside a transaction) is the
        index of each row's session id in ``sessions``."""
        rows = readings.filter(pl.col("_g").is_not_null())
        if not rows.height:
            return
        keys = np.array([self._key(sid) for sid in sessions], np.int64)
        groups = rows.get_column("_g").cast(pl.Int64).to_numpy()
        frame = rows.select(
            pl.Series("_key", keys[groups], pl.Int64), "ts", "energy_register_wh", "power_w"
        )
        self.frame = pl.concat([self.frame, frame], rechunk=False)

    def _key(self, session: str) -> int:
        key = self.keys.get(session)
        if key is None:
            key = self.keys[session] = self.next_key
            self.next_key += 1
        return key

    def take(self, sessions: list[str]) -> pl.DataFrame:
        """Remove and return the readings of the closed ``sessions`` (session ids), in log order:
        ``_closed`` (the index of the reading's session in ``sessions``), ``ts``,
        ``energy_register_wh``, ``power_w``. Integer keys only: billing and the windows take the
        index as it is (:data:`pipeline.billing.SESSION_INDEX`), no id is spelled out per row."""
        index = {self.keys.pop(sid): i for i, sid in enumerate(sessions) if sid in self.keys}
        mine = pl.col("_key").is_in(list(index))
        taken = self.frame.filter(mine)
        if index:
            self.frame = self.frame.filter(~mine)
            if self.frame.n_chunks() > 64:
                self.frame = self.frame.rechunk()
        return taken.select(
            pl.col("_key").replace_strict(index, return_dtype=pl.Int64).alias("_closed"),
            "ts",
            "energy_register_wh",
            "power_w",
        )
