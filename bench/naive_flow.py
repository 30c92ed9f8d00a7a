"""The pipeline's work done the naive way, for ``bench_pipeline``'s ratio: one Bytewax item per
record, a pydantic model per record, transaction state per key in Python, one dict per lake row.

Same input (the same event log, batch records expanded to their JSON records), same judgement
(schema validation, readings matched to open transactions, energy per session from the register),
same output (the readings and sessions rows written to Parquet in the lake's schemas). No
recovery, no live view, no dead-letter screening beyond the schema: the naive flow is given every
advantage it can take.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pyarrow as pa
import pyarrow.parquet as pq
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main
from pydantic import ValidationError

from chargegrid.eventbatch import expand
from chargegrid.events import METER_RECORD, MeterValue, TransactionEnded, TransactionStarted
from chargegrid.settings import Settings
from pipeline.source import LogBatch, LogSource, SourceConfig
from warehouse.schema import READINGS, SESSIONS

FLUSH_ROWS = 50_000


def _records(batch: LogBatch) -> Iterator[tuple[int, bytes]]:
    for offset, payload in zip(batch.offsets, batch.payloads, strict=True):
        for record in expand(payload):
            yield int(offset), record


def _parse(item: tuple[int, bytes]) -> Any:
    try:
        return METER_RECORD.validate_json(item[1])
    except ValidationError:
        return None


def _txn_step(state: dict[str, Any] | None, event: Any) -> tuple[dict[str, Any] | None, Any]:
    if isinstance(event, TransactionStarted):
        return {"start": event, "last": event.meter_start_wh, "readings": 0, "max_w": 0.0}, None
    if state is None:
        return None, None
    if isinstance(event, MeterValue):
        if event.energy_register_wh is not None and event.energy_register_wh >= state["last"]:
            state["last"] = event.energy_register_wh
        state["readings"] += 1
        state["max_w"] = max(state["max_w"], event.power_w or 0.0)
        return state, ("reading", event)
    assert isinstance(event, TransactionEnded)
    start: TransactionStarted = state["start"]
    row = {
        "session_id": f"{start.charger_id}/{start.transaction_id}",
        "charger_id": start.charger_id,
        "connector_id": start.connector_id,
        "transaction_id": start.transaction_id,
        "id_tag": start.id_tag,
        "started_at": start.ts,
        "ended_at": event.ts,
        "meter_start_wh": start.meter_start_wh,
        "meter_stop_wh": event.meter_stop_wh,
        "energy_wh": event.meter_stop_wh - start.meter_start_wh,
        "energy_quality": "ok",
        "readings": state["readings"],
        "max_power_w": state["max_w"],
        "stop_reason": event.reason,
    }
    return None, ("session", row)


class _Writer(StatelessSinkPartition[Any]):
    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._rows: dict[str, list[dict[str, Any]]] = {"readings": [], "sessions": []}
        self._files = 0

    def write_batch(self, items: list[Any]) -> None:
        for kind, value in items:
            if kind == "reading":
                row = value.model_dump()
                row.update(log_partition=0, log_offset=0, log_index=0)
                self._rows["readings"].append(row)
            else:
                self._rows["sessions"].append(value)
        if len(self._rows["readings"]) >= FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        for table, schema in (("readings", READINGS), ("sessions", SESSIONS)):
            rows = self._rows[table]
            if rows:
                columns = {name: [r.get(name) for r in rows] for name in schema.names}
                pq.write_table(
                    pa.Table.from_pydict(columns, schema=schema),
                    self._dir / f"{table}-{self._files}.parquet",
                    compression="zstd",
                )
                self._files += 1
                rows.clear()

    def close(self) -> None:
        self._flush()


class _Sink(DynamicSink[Any]):
    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Writer:
        return _Writer(self._dir)


def run_naive(settings: Settings, out_dir: Path) -> None:
    """Drain ``settings``' event log the naive way into Parquet files under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    source = LogSource(
        SourceConfig(settings.eventlog_path, settings.log_partitions, until_drained=lambda: True)
    )
    flow = Dataflow("naive")
    records = op.flat_map("records", op.input("log", flow, source), _records)
    events = op.filter("valid", op.map("parse", records, _parse), lambda e: e is not None)
    keyed = op.key_on("by_txn", events, lambda e: f"{e.charger_id}/{e.transaction_id}")
    rows = op.filter_map("txn", op.stateful_map("state", keyed, _txn_step), lambda kv: kv[1])
    op.output("lake", rows, _Sink(out_dir))
    run_main(flow)
