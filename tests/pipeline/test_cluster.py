"""The same log drained by 1 process and by a 2-process Bytewax cluster on loopback: same lake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chargegrid.events import ConnectorStatus, Topic
from chargegrid.settings import Settings, load_settings
from pipeline.cluster import ClusterConfigError, ClusterSpec, LocalCluster
from tests.pipeline.conftest import T0, drain, publish, session_events, sql

PARTITIONS = 4
ENV = {"CHARGEGRID_LOG_PARTITIONS": str(PARTITIONS), "CHARGEGRID_EPOCH_INTERVAL_S": "0.2"}


def _fill(settings: Settings) -> None:
    events: list[Any] = []
    for c in range(12):
        registers = [1000.0 + 25.0 * k for k in range(1, 30)]
        events += session_events(f"CH{c:02d}", f"T{c}", registers, stop_wh=registers[-1] + c)
    # bad records, on several partitions: undecodable, schema-invalid, register backwards
    events += [(f"CH{c:02d}", b"{not json") for c in range(4)]
    events += [("CH05", b'{"kind": "meter_value", "charger_id": "CH05"}')]
    events += session_events("CH99", "TX", [1500.0, 1400.0, 1600.0])
    publish(settings, Topic.meter_readings, events)
    statuses = [
        ConnectorStatus(charger_id=f"CH{c:02d}", ts=T0, connector_id=1, status="Charging")
        for c in range(12)
    ]
    publish(settings, Topic.connector_status, statuses)


def _results(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "readings": sql(
            settings,
            "SELECT log_partition, log_offset, charger_id, energy_register_wh FROM readings "
            "ORDER BY 1, 2",
        ),
        "sessions": sql(
            settings, "SELECT session_id, energy_wh, readings FROM sessions ORDER BY 1"
        ),
        "dead_letter": sql(
            settings,
            "SELECT topic, log_partition, log_offset, reason FROM dead_letter ORDER BY 1, 2, 3",
        ),
        "connector_status": sql(
            settings, "SELECT charger_id, status FROM connector_status ORDER BY 1"
        ),
    }


@pytest.mark.timeout(180)
def test_two_process_cluster_equals_one_process(tmp_path: Path) -> None:
    single = load_settings(data_dir=tmp_path / "single", log_partitions=PARTITIONS)
    clustered = load_settings(data_dir=tmp_path / "cluster", log_partitions=PARTITIONS)
    for s in (single, clustered):
        _fill(s)
    drain(single)
    with LocalCluster(clustered.data_dir, 2, env=ENV) as cluster:
        cluster.wait(timeout_s=150)

    expected, got = _results(single), _results(clustered)
    assert len(expected["readings"]) == 12 * 29 + 2  # the backwards reading is dead-lettered
    assert len(expected["sessions"]) == 13
    assert len(expected["dead_letter"]) >= 6
    assert got == expected
    # process 1 looked for recovery partitions in its own directory; all are with process 0
    assert not any((clustered.data_dir / "recovery-1").iterdir())
    assert any(clustered.recovery_dir.glob("part-*.sqlite3"))


def test_cluster_resumes_on_one_process(tmp_path: Path) -> None:
    """A cluster's recovery state is complete on process 0: a later single-process run over
    more input carries on without re-reading anything."""
    settings = load_settings(data_dir=tmp_path / "var", log_partitions=PARTITIONS)
    publish(settings, Topic.meter_readings, session_events("CH01", "T1", [1010.0, 1020.0]))
    with LocalCluster(settings.data_dir, 2, env=ENV) as cluster:
        cluster.wait(timeout_s=150)
    publish(settings, Topic.meter_readings, session_events("CH02", "T2", [1030.0, 1040.0]))
    drain(settings)
    assert sql(settings, "SELECT count(*), count(DISTINCT session_id) FROM sessions") == [(2, 2)]
    assert sql(settings, "SELECT count(*) FROM readings") == [(4,)]


@pytest.mark.parametrize(
    ("process_id", "addresses", "expected"),
    [
        (None, None, ClusterSpec()),
        (0, None, ClusterSpec()),
        (None, "127.0.0.1:5000", ClusterSpec(0, ("127.0.0.1:5000",))),
        (1, "a:1;b:2", ClusterSpec(1, ("a:1", "b:2"))),
        (1, " a:1 ; b:2 ;", ClusterSpec(1, ("a:1", "b:2"))),
    ],
)
def test_cluster_spec_parses_bytewax_addresses(
    process_id: int | None, addresses: str | None, expected: ClusterSpec
) -> None:
    assert ClusterSpec.parse(process_id, addresses) == expected


@pytest.mark.parametrize(
    ("process_id", "addresses", "fragment"),
    [
        (1, None, "needs --addresses"),
        (2, "a:1;b:2", "not in 0..1"),
        (-1, "a:1;b:2", "not in 0..1"),
        (None, "a:1;b:2", "say which one"),
        (0, "a:1;a:1", "repeat"),
        (0, "a;b:2", "not host:port"),
        (0, "a:99999;b:2", "not host:port"),
    ],
)
def test_cluster_spec_refuses_bad_options(
    process_id: int | None, addresses: str, fragment: str
) -> None:
    with pytest.raises(ClusterConfigError, match=fragment):
        ClusterSpec.parse(process_id, addresses)


def test_only_process_zero_holds_the_recovery_partitions(tmp_path: Path) -> None:
    base = tmp_path / "recovery"
    spec = ClusterSpec.parse(1, "a:1;b:2")
    assert not spec.is_primary and spec.recovery_dir(base) == tmp_path / "recovery-1"
    assert spec.cli_kwargs() == {"process_id": 1, "addresses": ["a:1", "b:2"]}
    assert ClusterSpec().recovery_dir(base) == base and ClusterSpec().cli_kwargs() == {}
