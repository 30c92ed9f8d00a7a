"""ACN-Data JSON through the importer: both published shapes, a session repeated across files,
open sessions, idempotent re-import, and the catalog views over the result."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from chargegrid.settings import Settings
from chargegrid.sources.records import SourceFormatError
from warehouse.importers.run import run_import


def _item(session: str, connect: str, disconnect: str | None, kwh: float | None, **extra: object):
    return {
        "_id": f"oid-{session}",
        "clusterID": "0039",
        "connectionTime": connect,
        "disconnectTime": disconnect,
        "doneChargingTime": extra.pop("done", None),
        "kWhDelivered": kwh,
        "sessionID": session,
        "siteID": "0002",
        "spaceID": "CA-496",
        "stationID": extra.pop("station", "2-39-78-362"),
        "timezone": "America/Los_Angeles",
        "userID": extra.pop("user", None),
        "userInputs": extra.pop("inputs", None),
    }


A = _item(
    "2_39_78_362_2018-04-25 11:08:04.400812",
    "Wed, 25 Apr 2018 11:08:04 GMT",
    "Wed, 25 Apr 2018 13:20:10 GMT",
    7.932,
    done="Wed, 25 Apr 2018 13:21:10 GMT",  # after the disconnect: clipped, flagged
    user="000000022",
    inputs=[{"kWhRequested": 10.0, "userID": 22, "paymentRequired": True}],
)
B = _item(
    "2_39_95_27_2018-04-25 13:45:09.617470",
    "Wed, 25 Apr 2018 13:45:09 GMT",
    "Thu, 26 Apr 2018 00:56:16 GMT",
    10.013,
    done="Wed, 25 Apr 2018 16:03:54 GMT",
    station="2-39-95-27",
)
OPEN = _item("open-1", "Wed, 25 Apr 2018 14:00:00 GMT", None, None)
C = _item(
    "2_39_79_380_2018-04-26 01:00:00.000000",
    "Thu, 26 Apr 2018 01:00:00 GMT",
    "Thu, 26 Apr 2018 02:30:00 GMT",
    3.5,
)


@pytest.fixture
def acn_files(tmp_path: Path) -> list[Path]:
    """An ``{"_meta", "_items"}`` export and a bare array that repeats session A."""
    export = tmp_path / "acn_caltech_2018-04.json"
    export.write_text(
        json.dumps({"_meta": {"site": "caltech", "min_kWh": None}, "_items": [A, B, OPEN]}),
        encoding="utf-8",
    )
    bare = tmp_path / "acn_extra.json"
    bare.write_text(json.dumps([C, A]), encoding="utf-8")
    return [export, bare]


def _catalog(settings: Settings) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(settings.catalog_path), read_only=True)


def test_both_shapes_and_a_duplicate_across_files_import_once(
    settings: Settings, acn_files: list[Path]
) -> None:
    report = run_import(settings, "acn", acn_files)

    assert report.rows_read == 5
    assert report.rows_imported == 3
    assert dict(report.rejected) == {"duplicate": 1, "no_end": 1}
    assert report.energy_wh == 7932 + 10013 + 3500
    with _catalog(settings) as con:
        rows = con.execute(
            "select session_id, started_at, ended_at, charging_ended_at, energy_wh, user_id, flags"
            " from historical_sessions order by started_at"
        ).fetchall()
        rejects = con.execute("select file, line, reason from import_rejects order by 1").fetchall()
    assert [r[0] for r in rows] == [f"acn:{x['sessionID']}" for x in (A, B, C)]
    first = rows[0]
    assert first[1].isoformat() == "2018-04-25T11:08:04+00:00"
    assert first[3] == first[2]  # done after disconnect -> the disconnect
    assert first[5] == "000000022"
    assert first[6] == ["done_after_disconnect"]
    assert rows[1][3].isoformat() == "2018-04-25T16:03:54+00:00"
    assert rejects == [
        ("acn_caltech_2018-04.json", 3, "no_end"),
        ("acn_extra.json", 2, "duplicate"),
    ]


def test_reimporting_the_same_files_is_a_no_op_by_content(
    settings: Settings, acn_files: list[Path]
) -> None:
    run_import(settings, "acn", acn_files)
    lake_files = sorted(p.relative_to(settings.lake_dir) for p in settings.lake_dir.rglob("*"))
    with _catalog(settings) as con:
        before = con.execute("select * from historical_sessions order by session_id").fetchall()
        rejects = con.execute("select count(*) from import_rejects").fetchone()

    renamed = acn_files[0].with_name("copy_of_the_april_export.json")
    renamed.write_bytes(acn_files[0].read_bytes())  # same content, another name
    report = run_import(settings, "acn", [*reversed(acn_files), renamed])

    with _catalog(settings) as con:
        after = con.execute("select * from historical_sessions order by session_id").fetchall()
        assert con.execute("select count(*) from import_rejects").fetchone() == rejects
    assert after == before
    assert (report.rows_read, report.rows_imported, report.new_sessions) == (0, 0, 0)
    assert sorted(report.files_skipped) == sorted([*(f.name for f in acn_files), renamed.name])
    assert report.sessions == 3  # what the lake holds
    assert sorted(p.relative_to(settings.lake_dir) for p in settings.lake_dir.rglob("*")) == (
        lake_files
    )


def test_an_overlapping_delivery_merges_without_duplicates(
    settings: Settings, acn_files: list[Path], tmp_path: Path
) -> None:
    run_import(settings, "acn", acn_files[:1])  # A, B (+ an open session)
    later = tmp_path / "acn_later.json"
    later.write_text(json.dumps([B, C]), encoding="utf-8")  # repeats B, adds C
    report = run_import(settings, "acn", [later])
    assert (report.rows_read, report.new_sessions, report.already_in_lake) == (2, 1, 1)
    assert dict(report.rejected) == {"duplicate": 1}
    assert report.sessions == 3 and report.energy_wh == 7932 + 10013 + 3500
    with _catalog(settings) as con:
        (detail,) = con.execute(
            "select detail from import_rejects where file = 'acn_later.json'"
        ).fetchone() or ("",)
    assert "acn_caltech_2018-04.json" in detail and "imported earlier" in detail
    table = "\n".join(str(row) for row in report.table().columns[0].cells)
    assert "duplicates of sessions already in lake" in table


def test_replace_makes_a_delivery_the_whole_source(
    settings: Settings, acn_files: list[Path]
) -> None:
    run_import(settings, "acn", acn_files)
    run_import(settings, "acn", acn_files[1:], replace=True)  # a smaller delivery replaces

    with _catalog(settings) as con:
        (count,) = con.execute("select count(*) from historical_sessions").fetchone() or (0,)
    assert count == 2


def test_a_file_that_is_not_acn_json_is_refused_naming_it(
    settings: Settings, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"_items": [', encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"broken\.json: line 1: not JSON"):
        run_import(settings, "acn", [bad])
    other = tmp_path / "object.json"
    other.write_text('{"sessions": []}', encoding="utf-8")
    with pytest.raises(SourceFormatError, match="not an ACN-Data session export"):
        run_import(settings, "acn", [other])
