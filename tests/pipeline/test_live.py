"""Live snapshot: throttled by the injected clock, bounded history, written on close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from chargegrid.clock import FrozenClock
from chargegrid.live import (
    ConnectorLive,
    LiveSnapshot,
    PowerPoint,
    encode_snapshot,
    read_snapshot,
    write_snapshot_bytes,
)
from pipeline.live import HISTORY_POINTS, POINTS_SCHEMA, LiveDelta, LiveSink, LiveView

T = datetime(2025, 3, 1, tzinfo=UTC)
US = 1_000_000


def _delta(ts_s: float, power_w: float = 7000.0) -> LiveDelta:
    ts_us = int((T.timestamp() + ts_s) * US)
    return LiveDelta(
        connectors={"CH1/1": {"power_w": power_w, "last_reading_at": ts_us}},
        points=pl.DataFrame(
            {"charger_id": ["CH1"], "connector_id": [1], "ts_us": [ts_us], "power_w": [power_w]},
            schema=POINTS_SCHEMA,
        ),
        readings=1,
        event_time_us=ts_us,
    )


def test_writes_at_most_once_per_interval_and_on_close(tmp_path: Path) -> None:
    clock = FrozenClock(T)
    writes: list[datetime] = []
    sink = LiveSink(tmp_path, clock, interval_s=1.0, history_s=600, on_write=writes.append)
    part = sink.build_part("live", "live", None)
    part.write_batch([_delta(0)])
    assert len(writes) == 1
    clock.advance(0.5)
    part.write_batch([_delta(1, 5000.0)])
    assert len(writes) == 1  # throttled
    clock.advance(0.5)
    part.write_batch([_delta(2, 3000.0)])
    assert len(writes) == 2
    part.write_batch([_delta(3, 1000.0)])
    part.close()
    assert len(writes) == 3
    snapshot = read_snapshot(tmp_path)
    assert snapshot is not None
    assert snapshot.connectors[0].power_w == 1000.0
    assert snapshot.readings_total == 4
    assert snapshot.generated_at == clock.now()


def test_history_is_bounded_and_covers_the_window() -> None:
    view = LiveView()
    for s in range(0, 3600):
        view.apply(_delta(s), history_s=600)
    view.compact(history_s=600)
    points = view.points("CH1/1")
    assert len(points) <= HISTORY_POINTS + 1
    newest = points[-1][0]
    assert newest - points[0][0] <= 600 * US
    assert newest == int((T.timestamp() + 3599) * US)


def test_bulk_encoded_snapshot_reads_back_as_pydantic_would_write_it(tmp_path: Path) -> None:
    keys = ['CH"quote\\/1', "CHé-ünïcode/2", "CH3/1"]
    rows: dict[str, list[Any]] = {
        "charger_id": [k.rsplit("/", 1)[0] for k in keys for _ in range(3)],
        "connector_id": [int(k.rsplit("/", 1)[1]) for k in keys for _ in range(3)],
        "ts_us": [int(T.timestamp() * US) + i * 10_123_457 for i in range(9)],
        "power_w": [0.0, 0.1, 7200.0, 1e-7, 123456.789, 5e-324, 1e300, 3.0, 2.5],
    }
    view = LiveView(
        connectors={
            "CH3/1": {"power_w": 3.0, "last_reading_at": rows["ts_us"][-1], "status": "Charging"}
        },
        readings=9,
        dead_letters=2,
        event_time_us=rows["ts_us"][-1],
    )
    view.apply(LiveDelta(points=pl.DataFrame(rows, schema=POINTS_SCHEMA)), history_s=600)
    write_snapshot_bytes(view.encode(T, history_s=600), tmp_path)
    got = read_snapshot(tmp_path)
    assert got is not None
    expected = LiveSnapshot(
        generated_at=T,
        event_time=datetime.fromtimestamp(rows["ts_us"][-1] / US, UTC),
        connectors=[
            ConnectorLive(
                charger_id="CH3",
                connector_id=1,
                status="Charging",
                power_w=3.0,
                last_reading_at=datetime.fromtimestamp(rows["ts_us"][-1] / US, UTC),
            )
        ],
        power_history={
            key: [
                PowerPoint(ts=datetime.fromtimestamp(ts / US, UTC), power_w=w)
                for c, n, ts, w in zip(*rows.values(), strict=True)
                if f"{c}/{n}" == key
            ]
            for key in keys
        },
        readings_total=9,
        dead_letter_total=2,
    )
    assert got == expected
    assert LiveSnapshot.model_validate_json(encode_snapshot(expected)) == got


def test_history_keeps_the_newest_point_per_bucket_and_drops_old_ones() -> None:
    view = LiveView()
    for s, w in [(0, 1.0), (3, 2.0), (1, 3.0), (12, 4.0), (590, 5.0)]:
        view.apply(_delta(s, w), history_s=600)  # buckets of 10 s
    view.compact(history_s=600)
    t0 = int(T.timestamp() * US)
    assert view.points("CH1/1") == [(t0 + 3 * US, 2.0), (t0 + 12 * US, 4.0), (t0 + 590 * US, 5.0)]
    view.apply(_delta(605, 6.0), history_s=600)
    view.apply(_delta(609, 7.0), history_s=600)
    view.compact(history_s=600)
    assert view.points("CH1/1") == [(t0 + 12 * US, 4.0), (t0 + 590 * US, 5.0), (t0 + 609 * US, 7.0)]


def test_latest_reading_per_connector_from_transactions_equals_grouping_every_row() -> None:
    from pipeline.sessions import MeterResult
    from pipeline.step import _Groups, _meter_live

    at = datetime(2025, 3, 1, tzinfo=UTC)
    # CH1/1 had transaction 0 then 2 in the batch; CH2/1 transaction 1; log order interleaved
    rows = [("CH1", 1, 0, 10.0), ("CH2", 1, 1, 20.0), ("CH1", 1, 0, 11.0), ("CH1", 1, 2, 12.0),
            ("CH2", 1, 1, 21.0)]  # fmt: skip
    frame = pl.DataFrame(
        {
            "charger_id": [r[0] for r in rows],
            "connector_id": [r[1] for r in rows],
            "_g": [r[2] for r in rows],
            "ts": [at.replace(second=k) for k in range(len(rows))],
            "power_w": [r[3] for r in rows],
            "soc_pct": [None, 50.0, None, 60.0, None],
        }
    )
    result = MeterResult(frame, [], [], {}, [], ["CH1/T1", "CH2/T1", "CH1/T2"])
    fast, grouped = LiveDelta(), LiveDelta()
    groups = _Groups.of(result)
    _meter_live(result, fast, groups)
    everything = _Groups(groups.of_row * 0 - 1, groups.first, groups.last)  # no transactions
    _meter_live(result, grouped, everything)
    assert fast.connectors == grouped.connectors
    assert fast.connectors["CH1/1"]["power_w"] == 12.0
    assert fast.connectors["CH1/1"]["soc_pct"] == 60.0
    assert fast.connectors["CH2/1"]["power_w"] == 21.0


def test_power_history_thinned_in_the_step_folds_into_the_same_view() -> None:
    from pipeline.live import bucket_us
    from pipeline.sessions import MeterResult
    from pipeline.step import _Groups, _history_points

    history_s = 600.0
    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    # two transactions on CH1/1 and CH2/1 reading every 3 s, one power-less reading, and a
    # reading outside any transaction (CH3/1), interleaved as a log batch holds them
    rows = []
    for k in range(400):
        rows.append(("CH1", 1, 0, k * 3, 7000.0 + k))
        rows.append(("CH2", 1, 1, k * 3 + 1, None if k == 399 else 11000.0 + k))
    rows.append(("CH3", 1, None, 5, 500.0))
    frame = pl.DataFrame(
        {
            "charger_id": [r[0] for r in rows],
            "connector_id": [r[1] for r in rows],
            "_g": pl.Series([r[2] for r in rows], dtype=pl.Int64),
            "ts": [t0 + timedelta(seconds=r[3]) for r in rows],
            "power_w": [r[4] for r in rows],
        }
    )
    groups = _Groups.of(MeterResult(frame, [], [], {}, [], ["CH1/T1", "CH2/T1"]))
    thinned = _history_points(frame, groups, bucket_us(history_s))
    every = _history_points(frame, groups, None)
    assert 0 < thinned.height < every.height / 3  # 10 s buckets, a sample every 3 s
    views = []
    for points in (thinned, every):
        view = LiveView(event_time_us=int((t0 + timedelta(seconds=1200)).timestamp() * 1e6))
        view.apply(LiveDelta(points=points), history_s)
        view.compact(history_s)
        views.append(view.history)
    assert views[0].equals(views[1])
    assert views[0].filter(pl.col("charger_id") == "CH2")["power_w"][-1] == 11398.0
