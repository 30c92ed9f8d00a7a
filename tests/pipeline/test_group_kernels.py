"""The linear per-group passes (pipeline/kernels/groups.py) against NumPy references, and the
merge of offset-ordered frames the parser uses instead of a sort."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.bills import PendingReadings
from pipeline.kernels.groups import (
    NO_TIME,
    group_bounds,
    group_order,
    group_time_order,
    increasing_by_group,
    silent_gaps,
)
from pipeline.parse import _merged

GROUPS = st.integers(1, 12).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.integers(0, n - 1), max_size=200))
)


@settings(max_examples=150, deadline=None)
@given(GROUPS)
def test_group_order_is_a_stable_sort(case: tuple[int, list[int]]) -> None:
    n_groups, values = case
    groups = np.array(values, np.int64)
    assert group_order(groups, n_groups).tolist() == np.argsort(groups, kind="stable").tolist()


def _increasing_reference(groups: np.ndarray, values: np.ndarray, before: np.ndarray) -> bool:
    last = {g: int(before[g]) for g in range(len(before))}
    for g, v in zip(groups.tolist(), values.tolist(), strict=True):
        if v <= last[g]:
            return False
        last[g] = v
    return True


@settings(max_examples=200, deadline=None)
@given(GROUPS, st.data())
def test_increasing_by_group_matches_reference(
    case: tuple[int, list[int]], data: st.DataObject
) -> None:
    n_groups, values = case
    groups = np.array(values, np.int64)
    ts = np.array(
        data.draw(st.lists(st.integers(0, 30), min_size=len(values), max_size=len(values))),
        np.int64,
    )
    before = np.array(
        data.draw(st.lists(st.integers(-3, 5), min_size=n_groups, max_size=n_groups)), np.int64
    )
    assert increasing_by_group(groups, ts, before) == _increasing_reference(groups, ts, before)


def test_increasing_by_group_sees_a_repeat_and_the_earlier_batch() -> None:
    groups = np.array([0, 1, 0, 1], np.int64)
    assert increasing_by_group(groups, np.array([5, 6, 7, 8], np.int64), np.array([4, 5], np.int64))
    assert not increasing_by_group(
        groups, np.array([5, 6, 7, 6], np.int64), np.array([4, 5], np.int64)
    )
    assert not increasing_by_group(
        groups, np.array([5, 6, 7, 8], np.int64), np.array([4, 6], np.int64)
    )
    ro = np.array([5, 6, 7, 8], np.int64)
    ro.setflags(write=False)  # polars hands out read-only arrays
    assert increasing_by_group(groups, ro, np.array([4, 5], np.int64))


@settings(max_examples=150, deadline=None)
@given(st.sets(st.integers(0, 400), max_size=150), st.data())
def test_merged_frames_are_in_offset_order_with_every_row(
    offsets: set[int], data: st.DataObject
) -> None:
    ordered = sorted(offsets)
    left_mask = data.draw(st.lists(st.booleans(), min_size=len(ordered), max_size=len(ordered)))
    left = [o for o, m in zip(ordered, left_mask, strict=True) if m]
    right = [o for o, m in zip(ordered, left_mask, strict=True) if not m]

    def frame(rows: list[int]) -> pl.DataFrame:
        return pl.DataFrame(
            {"offset": rows, "label": [f"r{o}" for o in rows]},
            schema={"offset": pl.Int64, "label": pl.String},
        )

    merged = _merged([frame(left), frame(right)])
    assert merged.get_column("offset").to_list() == ordered
    assert merged.get_column("label").to_list() == [f"r{o}" for o in ordered]


@settings(max_examples=150, deadline=None)
@given(GROUPS, st.data(), st.booleans())
def test_group_time_order_is_a_stable_sort_on_both(
    case: tuple[int, list[int]], data: st.DataObject, presorted: bool
) -> None:
    n_groups, values = case
    groups = np.array(values, np.int64)
    times = data.draw(st.lists(st.integers(-5, 20), min_size=len(values), max_size=len(values)))
    ts = np.array(sorted(times) if presorted else times, np.int64)
    want = np.lexsort((ts, groups))  # stable: ties keep row order
    assert group_time_order(groups, n_groups, ts).tolist() == want.tolist()


def test_pending_readings_snapshot_copy_is_independent() -> None:
    """Bytewax deep-copies the step state at each snapshot; the copy shares the (immutable)
    frame but later adds and takes on the live state must not change it."""

    def batch(g: list[int | None], wh: list[float]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "_g": g,
                "ts": [datetime(2025, 1, 1, 0, 0, k, tzinfo=UTC) for k in range(len(g))],
                "energy_register_wh": wh,
                "power_w": [None] * len(g),
            },
            schema={
                "_g": pl.Int64,
                "ts": pl.Datetime("us", "UTC"),
                "energy_register_wh": pl.Float64,
                "power_w": pl.Float64,
            },
        )

    live = PendingReadings()
    live.add(batch([0, 1, None, 0], [1.0, 2.0, 9.0, 3.0]), ["CH1/T1", "CH2/T1"])
    snap = copy.deepcopy(live)
    live.add(batch([0], [4.0]), ["CH2/T1"])
    taken = live.take(["CH1/T1"])
    assert taken.columns == ["_closed", "ts", "energy_register_wh", "power_w"]
    assert taken.select("_closed", "energy_register_wh").rows() == [(0, 1.0), (0, 3.0)]
    assert live.take(["CH2/T1"]).get_column("energy_register_wh").to_list() == [2.0, 4.0]
    # the snapshot still holds both sessions as they were when it was taken
    assert snap.take(["CH2/T1", "CH1/T1"]).select("_closed", "energy_register_wh").rows() == [
        (1, 1.0),
        (0, 2.0),
        (1, 3.0),
    ]


def test_group_bounds_skip_rows_in_no_group() -> None:
    first, last = group_bounds(np.array([1, -1, 0, 1, -1, 1], np.int64), 3)
    assert first.tolist() == [2, 0, -1]
    assert last.tolist() == [2, 5, -1]


def test_silent_gaps_compare_each_time_with_the_latest_before_it() -> None:
    # code 0, last seen at 0: -3 (older: no gap, no update), then in time order 5, 20 (silent
    # since 5), 30 (exactly the allowance: not silent), 31; code 1, never seen: 100, 200;
    # code 2 is not in the batch
    codes = np.array([0, 1, 0, 0, 1, 0, 0], np.int64)
    ts = np.array([5, 100, 30, 20, 200, 31, -3], np.int64)
    last_seen = np.array([0, NO_TIME, 7], np.int64)
    order = group_time_order(codes, 3, ts)
    gaps = silent_gaps(codes, ts, order, last_seen, 10)
    assert gaps.tolist() == [[0, 5, 20], [1, 100, 200]]
    assert last_seen.tolist() == [31, 200, 7]
