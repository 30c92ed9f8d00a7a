"""Run the stream: event log -> validate -> sessions -> Parquet lake + live snapshot.

One Bytewax worker (DESIGN.md: more workers were measured slower on 2 cores), recovery always on.
Ctrl-C and SIGTERM stop it between batches; files in the lake are only ever renamed into place and
the sinks are idempotent across resume, so any stop (even ``kill -9``) leaves a consistent lake and
the next run carries on from the last committed epoch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

from chargegrid.clock import Clock, SystemClock
from chargegrid.errors import ChargegridError
from chargegrid.settings import Settings
from chargegrid.signals import sigterm_as_interrupt
from pipeline.bills import TariffBook
from pipeline.checks import Rules
from pipeline.cluster import ClusterSpec
from pipeline.live import LiveSink, bucket_us
from pipeline.logs import log_source
from pipeline.memory import keep_freed_memory
from pipeline.sinks import LakeSink, SinkConfig
from pipeline.source import SourceConfig
from pipeline.step import StepOut, make_step, wait_for_warm_up
from warehouse import lake
from warehouse.catalog import refresh_catalog
from warehouse.schema import TABLES

_log = logging.getLogger(__name__)
_EMPTY = {name: schema.empty_table() for name, schema in TABLES.items()}


class RecoveryStateMissing(ChargegridError):
    """The lake has pipeline output but the recovery state that makes it resumable is gone."""


def _lake_items(item: tuple[str, StepOut]) -> list[tuple[str, object]]:
    tables = item[1].tables
    # An empty batch (a tick) still reaches every table's sink, so age-based flushes run.
    return list((tables or _EMPTY).items())


def build_flow(
    settings: Settings,
    *,
    until_drained: bool | Callable[[], bool],
    clock: Clock | None = None,
    batch_rows: int = 200_000,
    sink: SinkConfig | None = None,
    on_live_write: Callable[[datetime], None] | None = None,
) -> Dataflow:
    """The dataflow; ``until_drained`` may be a callable polled whenever the log is empty."""
    clock = clock or SystemClock()
    drained = until_drained if callable(until_drained) else _drain_check(settings, until_drained)
    source = log_source(
        settings,
        SourceConfig(
            log_path=settings.eventlog_path,
            partitions=settings.log_partitions,
            until_drained=drained,
            batch_rows=batch_rows,
            retention_s=settings.log_retention_s,
            tick_s=min(0.25, settings.live_interval_s / 2),
            clock=clock,
        ),
    )
    flow = Dataflow("chargegrid")
    batches = op.input("log", flow, source)
    keyed = op.key_on("by_partition", batches, lambda batch: str(batch.partition))
    tariffs = (
        TariffBook.for_data_dir(settings.data_dir, settings.default_tariff_id)
        if settings.bill_in_stream
        else None
    )
    step = make_step(
        clock,
        inventory_path=settings.inventory_path,
        rules=Rules.of(settings),
        tariffs=tariffs,
        live_bucket_us=bucket_us(settings.live_history_s),
    )
    outs = op.stateful_map("transactions", keyed, step)
    op.output(
        "lake",
        op.flat_map("to_lake", outs, _lake_items),
        LakeSink(sink or SinkConfig(settings.lake_dir, clock)),
    )
    live = LiveSink(
        settings.live_dir,
        clock,
        interval_s=settings.live_interval_s,
        history_s=settings.live_history_s,
        on_write=on_live_write or (lambda _at: None),
    )
    op.output("live", op.map("to_live", outs, lambda item: ("live", item[1].live)), live)
    return flow


def _drain_check(settings: Settings, until_drained: bool) -> Callable[[], bool]:
    flag = settings.drain_flag
    return lambda: until_drained or flag.exists()


class CatalogRefresh:
    """The catalog's refresh at pipeline start, in a thread while the flow starts and runs: its
    views read the lake by glob, so an existing catalog already shows what the run writes; the
    refresh adds what a newer version defines and materialises closed days. A failed refresh
    leaves the previous catalog in place and is reported, not fatal (the next refresh retries)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="catalog-refresh", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            refresh_catalog(self._settings)
        except Exception as exc:  # reported by join(); the stream goes on
            self.error = exc

    def join(self) -> None:
        self._thread.join()
        if self.error is not None:
            _log.warning("catalog refresh at pipeline start failed: %s", self.error)


def prepare(settings: Settings) -> CatalogRefresh:
    """Lake directories, schema files, the recovery store (once), and the catalog's refresh,
    which runs alongside the flow (returned, to be joined when the run ends; a reader that needs
    a missing catalog meanwhile waits for it, see :func:`warehouse.catalog.ensure_catalog`)."""
    lake.ensure_lake(settings.lake_dir)
    recovery = settings.recovery_dir
    if not recovery.exists():
        if any(lake.pipeline_files(settings.lake_dir, t) for t in TABLES):
            msg = (
                f"{settings.lake_dir} holds pipeline output but {recovery} is missing; restore it, "
                f"or delete {settings.lake_dir} to rebuild the lake from the event log"
            )
            raise RecoveryStateMissing(msg)
        recovery.mkdir(parents=True)
        init_db_dir(recovery, 1)
    return CatalogRefresh(settings)


def execute(settings: Settings, flow: Dataflow, *, cluster: ClusterSpec | None = None) -> None:
    """Run ``flow`` on one worker with recovery; returns on drain, Ctrl-C or SIGTERM.

    In a cluster (:mod:`pipeline.cluster`) only process 0 prepares the lake, catalog and
    recovery partitions; every process runs one worker."""
    keep_freed_memory()  # batches reuse freed memory instead of faulting it in again
    cluster = cluster or ClusterSpec()
    recovery = cluster.recovery_dir(settings.recovery_dir)
    refreshing = None
    if cluster.is_primary:
        refreshing = prepare(settings)
    else:
        recovery.mkdir(parents=True, exist_ok=True)
    try:
        with sigterm_as_interrupt():
            cli_main(
                flow,
                workers_per_process=1,
                epoch_interval=timedelta(seconds=settings.epoch_interval_s),
                recovery_config=RecoveryConfig(recovery),
                **cluster.cli_kwargs(),
            )
    except KeyboardInterrupt:
        return
    finally:
        wait_for_warm_up()
        if refreshing is not None:
            refreshing.join()


def run(settings: Settings, *, until_drained: bool, cluster: ClusterSpec | None = None) -> None:
    """``chargegrid pipeline run``: stream until drained (or, without it, until stopped)."""
    execute(settings, build_flow(settings, until_drained=until_drained), cluster=cluster)
