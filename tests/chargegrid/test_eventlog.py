from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from chargegrid.eventlog import EventLog, EventLogError, Payloads, partition_for, table_name
from chargegrid.events import Topic


def test_offsets_are_ordered_per_partition_and_keys_keep_their_partition(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log.sqlite", partitions=4)
    records = [(f"CP{i % 7}", f"{i}".encode()) for i in range(100)]
    assert log.append(Topic.meter_readings, records, now_ms=1) == 100
    seen = 0
    for p in range(4):
        got = log.read(Topic.meter_readings, p, 0, 1000)
        assert [r.offset for r in got] == sorted(r.offset for r in got)
        assert all(partition_for(r.key, 4) == p for r in got)
        # one charger's records stay in append order
        for key in {r.key for r in got}:
            values = [int(r.payload) for r in got if r.key == key]
            assert values == sorted(values)
        seen += len(got)
    assert seen == 100


def test_read_after_offset_and_limit(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log.sqlite")
    log.append(Topic.connector_status, [("a", b"1"), ("a", b"2"), ("a", b"3")], now_ms=1)
    assert [r.payload for r in log.read(Topic.connector_status, 0, 1, 1)] == [b"2"]
    offsets, payloads = log.read_columns(Topic.connector_status, 0, 0, 10)
    assert offsets == [1, 2, 3] and payloads == [b"1", b"2", b"3"]
    assert log.end_offset(Topic.connector_status, 0) == 3
    assert log.end_offset(Topic.meter_readings, 0) == 0


def test_partition_count_is_fixed_at_creation(tmp_path: Path) -> None:
    EventLog(tmp_path / "log.sqlite", partitions=3).close()
    assert EventLog(tmp_path / "log.sqlite", partitions=8).partitions == 3
    with pytest.raises(EventLogError):
        EventLog(tmp_path / "log.sqlite").read(Topic.meter_readings, 3, 0, 1)


def test_retention_deletes_only_committed_and_old_rows_and_never_reuses_offsets(
    tmp_path: Path,
) -> None:
    log = EventLog(tmp_path / "log.sqlite")
    log.append(Topic.meter_readings, [("k", b"old")] * 5, now_ms=1_000)
    log.append(Topic.meter_readings, [("k", b"new")] * 5, now_ms=100_000)
    assert log.retain(now_ms=200_000, retention_s=10) == 0  # no consumer: nothing may go
    log.commit("pipeline", Topic.meter_readings, 0, 7)
    assert log.lag("pipeline") == 3
    # rows 1..5 are old and committed; 6..7 committed but too recent
    assert log.retain(now_ms=150_000, retention_s=60) == 5
    log.append(Topic.meter_readings, [("k", b"more")], now_ms=200_000)
    assert [r.offset for r in log.read(Topic.meter_readings, 0, 0, 100)] == list(range(6, 12))
    log.commit("pipeline", Topic.meter_readings, 0, 3)  # commits never move backwards
    assert log.committed("pipeline", Topic.meter_readings, 0) == 7


def test_concurrent_producers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"

    def produce(name: str) -> None:
        with EventLog(path) as log:
            for i in range(20):
                log.append(Topic.meter_readings, [(name, f"{i}".encode())] * 50, now_ms=i)

    threads = [threading.Thread(target=produce, args=(f"p{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert EventLog(path).end_offset(Topic.meter_readings, 0) == 4 * 20 * 50


ODD_PAYLOADS = [b'{"a":1}', b"", b"two\nlines", b"\xff\x00binary", b"\n", b"last"]


def test_read_batch_matches_read_columns_whatever_the_bytes(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log.sqlite")
    log.append(Topic.meter_readings, [("k", p) for p in ODD_PAYLOADS * 3], now_ms=1)
    for after, limit in [(0, 100), (0, 1), (2, 4), (17, 5), (18, 5)]:
        offsets, payloads = log.read_batch(Topic.meter_readings, 0, after, limit)
        expected = log.read_columns(Topic.meter_readings, 0, after, limit)
        assert (offsets.tolist(), list(payloads)) == expected
        assert payloads.joined == b"\n".join(expected[1])


def test_read_batch_without_newlines_in_payloads(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log.sqlite")
    log.append(Topic.meter_readings, [("k", b"%d" % i) for i in range(50)], now_ms=1)
    offsets, payloads = log.read_batch(Topic.meter_readings, 0, 10, 20)
    assert offsets.tolist() == list(range(11, 31))
    assert list(payloads) == [b"%d" % i for i in range(10, 30)]
    assert payloads.joined == b"\n".join(b"%d" % i for i in range(10, 30))


def test_read_batch_skips_gaps_left_by_retention(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log.sqlite")
    log.append(Topic.meter_readings, [("k", b"old")] * 5, now_ms=1_000)
    log.append(Topic.meter_readings, [("k", b"new%d" % i) for i in range(5)], now_ms=100_000)
    log.commit("pipeline", Topic.meter_readings, 0, 5)
    assert log.retain(now_ms=100_000, retention_s=60) == 5
    offsets, payloads = log.read_batch(Topic.meter_readings, 0, 0, 3)
    assert offsets.tolist() == [6, 7, 8] and list(payloads) == [b"new0", b"new1", b"new2"]
    # a hole inside the range (not made by retention, but possible in a hand-edited log)
    log._db.execute(f"DELETE FROM {table_name(Topic.meter_readings, 0)} WHERE offset = 9")
    offsets, payloads = log.read_batch(Topic.meter_readings, 0, 7, 10)
    assert offsets.tolist() == [8, 10] and list(payloads) == [b"new2", b"new4"]
    assert log.read_batch(Topic.meter_readings, 0, 10, 10)[0].size == 0


def test_read_batch_halves_a_batch_over_sqlites_string_limit(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log.sqlite")
    log.append(Topic.meter_readings, [("k", b"x" * 400) for _ in range(8)], now_ms=1)
    log._db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000)
    offsets, payloads = log.read_batch(Topic.meter_readings, 0, 0, 8)
    assert offsets.tolist() == [1, 2] and list(payloads) == [b"x" * 400] * 2


def test_payloads_index_slice_and_pack() -> None:
    packed = Payloads.of(ODD_PAYLOADS)
    assert len(packed) == len(ODD_PAYLOADS) and list(packed) == ODD_PAYLOADS
    assert packed[-1] == b"last" and packed[2] == b"two\nlines"
    assert list(packed[1:4]) == ODD_PAYLOADS[1:4] and list(packed[3:3]) == []
    assert list(packed[::2]) == ODD_PAYLOADS[::2]
    assert packed[1:4] == ODD_PAYLOADS[1:4]
    with pytest.raises(IndexError):
        packed[len(ODD_PAYLOADS)]


BIG = [bytes([i]) * 2000 + b"\n" + b"x" * i for i in range(1, 8)]  # binary-sized, newlines inside


def test_read_batch_of_large_records_keeps_them_as_parts(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log.sqlite")
    log.append(Topic.meter_readings, [("k", p) for p in BIG], now_ms=1)
    log._db.execute(f"DELETE FROM {table_name(Topic.meter_readings, 0)} WHERE offset = 3")
    offsets, payloads = log.read_batch(Topic.meter_readings, 0, 1, 4)
    expected = ([2, 4, 5], [BIG[1], BIG[3], BIG[4]])  # offsets 2..5, the hole at 3 skipped
    assert (offsets.tolist(), list(payloads)) == expected
    assert payloads._data is None  # not joined by the read
    assert [bytes(v) for v in payloads.views()] == expected[1]
    assert payloads.contains(bytes([4]) * 10) and not payloads.contains(bytes([1]) * 10)
    assert payloads._data is None  # nor by looking inside
    assert payloads.joined == b"\n".join(expected[1])


def test_read_batch_that_starts_small_and_goes_on_large(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log.sqlite")
    log.append(Topic.meter_readings, [("k", p) for p in [b'{"a":1}', *BIG]], now_ms=1)
    offsets, payloads = log.read_batch(Topic.meter_readings, 0, 0, 5)
    assert (offsets.tolist(), list(payloads)) == ([1, 2, 3, 4, 5], [b'{"a":1}', *BIG[:4]])
    assert payloads._parts is None  # one buffer: the first record decides


def test_payloads_as_parts_behave_as_one_buffer() -> None:
    parts, packed = Payloads.of_parts(list(ODD_PAYLOADS)), Payloads.of(ODD_PAYLOADS)
    assert parts == packed and list(parts) == ODD_PAYLOADS
    assert parts.starts.tolist() == packed.starts.tolist()
    assert parts[2] == b"two\nlines" and parts[-1] == b"last"
    assert list(parts[1:4]) == ODD_PAYLOADS[1:4] and parts[1:4] == packed[1:4]
    assert list(parts[::2]) == ODD_PAYLOADS[::2]
    assert [bytes(v) for v in packed.views()] == [bytes(v) for v in parts.views()] == ODD_PAYLOADS
    assert parts.contains(b"binary") and packed.contains(b"binary")
    assert not parts.contains(b"absent") and not packed.contains(b"absent")
    assert repr(parts) == repr(packed)
    with pytest.raises(IndexError):
        parts[len(ODD_PAYLOADS)]
