"""Helpers: publish typed events into a tmp event log, drain the pipeline, query the lake."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
from pydantic import BaseModel

from chargegrid.eventlog import EventLog
from chargegrid.events import (
    MeterValue,
    Topic,
    TransactionEnded,
    TransactionStarted,
    encode,
)
from chargegrid.settings import Settings, load_settings
from pipeline.runner import build_flow, execute
from tests.pipeline.kafka_mock import kafka_bootstrap, kafka_broker  # noqa: F401 (fixtures)
from warehouse.catalog import ensure_catalog

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return load_settings(data_dir=tmp_path / "var", log_partitions=2, epoch_interval_s=0.2)


def publish(
    settings: Settings, topic: Topic, records: Iterable[BaseModel | tuple[str, bytes]]
) -> int:
    rows = []
    for record in records:
        if isinstance(record, tuple):
            rows.append(record)
        else:
            rows.append((getattr(record, "charger_id", "") or "", encode(record)))
    with EventLog(settings.eventlog_path, settings.log_partitions) as log:
        return log.append(topic, rows, now_ms=0)


def drain(settings: Settings, **kwargs: Any) -> None:
    execute(settings, build_flow(settings, until_drained=True, **kwargs))


def sql(settings: Settings, query: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(ensure_catalog(settings)), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(query).fetchall()
    finally:
        con.close()


def session_events(
    charger: str,
    txn: str,
    registers_wh: list[float],
    *,
    start_wh: float = 1000.0,
    stop_wh: float | None = None,
    at: datetime = T0,
    connector_id: int = 1,
) -> list[BaseModel]:
    """A start, one reading per register value (60 s apart), and a stop."""
    events: list[BaseModel] = [
        TransactionStarted(
            charger_id=charger,
            ts=at,
            connector_id=connector_id,
            transaction_id=txn,
            meter_start_wh=start_wh,
            id_tag="TAG1",
        )
    ]
    for i, register in enumerate(registers_wh, start=1):
        events.append(
            MeterValue(
                charger_id=charger,
                ts=at + timedelta(seconds=60 * i),
                connector_id=connector_id,
                transaction_id=txn,
                energy_register_wh=register,
                power_w=7000.0 + i,
                soc_pct=min(100.0, 20.0 + i),
            )
        )
    events.append(
        TransactionEnded(
            charger_id=charger,
            ts=at + timedelta(seconds=60 * (len(registers_wh) + 1)),
            connector_id=connector_id,
            transaction_id=txn,
            meter_stop_wh=registers_wh[-1] if stop_wh is None else stop_wh,
        )
    )
    return events
