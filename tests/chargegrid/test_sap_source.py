"""SAP Labs France reader on inline exports: `;` separator, BOM, offsets across DST, prices,
unknown SOC, idle time, open and unreadable rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargegrid.events import Reason
from chargegrid.sources.records import RowRejected, SessionRecord, SourceFormatError
from chargegrid.sources.sap import read_sessions
from tests.chargegrid.exports import write_export

HEADER = (
    "Type Lieu de charge;ID transaction;ID borne;ID connecteur borne;Date demarrage;"
    "Charge batterie demarrage (%);Date fin;Charge batterie fin (%);Duree inactivite totale (s);"
    "Duree totale (s);Prix total;Devise prix total;Source prix total;Statut inactivité;"
    "Consommation totale (Wh)"
)


def _read(tmp_path: Path, *rows: str, bom: bool = False) -> list[SessionRecord | RowRejected]:
    path = write_export(tmp_path / "conso-ve-sap0.csv", HEADER, rows, bom=bom)
    return list(read_sessions([path]))


def test_offsets_on_both_sides_of_dst_become_utc_and_price_rounds_to_cents(tmp_path: Path) -> None:
    [winter, summer] = _read(
        tmp_path,
        "Travail;1;SAP-Mougins-11;2;2018-03-23T09:49:02+01:00;0;2018-03-23T12:30:34+01:00;0;"
        "6332.0;9692.0;0.79296;EUR;simple;W;5664",
        "Domicile;2;HANNO-WB-02;1;2018-04-03T09:49:02+02:00;20;2018-04-03T10:00:00+02:00;90;"
        "0.0;658.0;0.125;EUR;simple;E;1000",
        bom=True,
    )
    assert isinstance(winter, SessionRecord) and isinstance(summer, SessionRecord)
    assert winter.started_at.isoformat() == "2018-03-23T08:49:02+00:00"
    assert summer.started_at.isoformat() == "2018-04-03T07:49:02+00:00"
    assert (winter.price_minor, winter.currency) == (79, "EUR")
    assert summer.price_minor == 12  # half-even
    assert winter.soc_start_pct is None and winter.flags == ("soc_unknown",)
    assert (summer.soc_start_pct, summer.soc_end_pct) == (20.0, 90.0)
    assert winter.charging_ended_at is not None
    assert (winter.ended_at - winter.charging_ended_at).total_seconds() == 6332.0
    assert (winter.rated_power_w, summer.rated_power_w) == (150_000.0, 22_000.0)
    assert (winter.line, summer.line) == (2, 3)


def test_idle_longer_than_the_transaction_leaves_charging_end_unknown(tmp_path: Path) -> None:
    [row] = _read(
        tmp_path,
        "Travail;3;SAP-Mougins-05;1;2019-01-01T10:00:00+01:00;30;2019-01-01T11:00:00+01:00;20;"
        "4000.0;3600.0;1.0;EUR;simple;I;7000",
    )
    assert isinstance(row, SessionRecord)
    assert row.charging_ended_at is None
    assert row.flags == ("soc_decreased", "idle_exceeds_duration")


def test_open_and_unreadable_rows_are_rejected_with_their_text(tmp_path: Path) -> None:
    open_row = "Travail;4;SAP-Mougins-05;1;2019-01-01T10:00:00+01:00;0;;;;;;;;;"
    naive = (
        "Travail;5;SAP-Mougins-05;1;2019-01-01T10:00:00;0;2019-01-01T11:00:00+01:00;0;"
        "0;3600;1.0;EUR;simple;I;7000"
    )
    rows = _read(tmp_path, open_row, naive)
    assert [(r.reason, r.line, r.raw) for r in rows if isinstance(r, RowRejected)] == [
        (Reason.no_end, 2, open_row),
        (Reason.unparseable_row, 3, naive),
    ]


def test_a_comma_file_without_sap_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "conso-ve-sap1.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"conso-ve-sap1\.csv: not a SAP Labs France"):
        list(read_sessions([path]))
