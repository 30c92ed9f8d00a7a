"""The data dictionary documents exactly the catalog's views and columns, with their types."""

from __future__ import annotations

import csv
import io

import duckdb
from typer.testing import CliRunner

from chargegrid.cli import app
from chargegrid.settings import Settings
from warehouse import dictionary
from warehouse.catalog import refresh_catalog


def _catalog_columns(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    con = duckdb.connect(str(refresh_catalog(settings)), read_only=True)
    try:
        views = [
            v
            for (v,) in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        ]
        return {v: [(r[0], r[1]) for r in con.execute(f"DESCRIBE {v}").fetchall()] for v in views}
    finally:
        con.close()


def test_every_catalog_view_is_documented_and_nothing_else(settings: Settings) -> None:
    actual = _catalog_columns(settings)
    documented = {t.name for t in dictionary.TABLES}
    assert set(actual) - documented == set(), "views without documentation"
    assert documented - set(actual) == set(), "documentation of views that do not exist"


def test_documented_columns_match_view_columns_and_types(settings: Settings) -> None:
    actual = _catalog_columns(settings)
    for table in dictionary.TABLES:
        documented = [(c.name, c.type) for c in table.columns]
        assert documented == actual[table.name], table.name


def test_every_column_has_a_meaning_and_unit_named_columns_carry_units() -> None:
    for table in dictionary.TABLES:
        assert table.meaning
        for column in table.columns:
            assert column.meaning, f"{table.name}.{column.name}"
            for suffix, unit in (("_wh", "Wh"), ("_w", "W"), ("_pct", "%"), ("_min", "min")):
                if column.name.endswith(suffix):
                    assert column.unit == unit, f"{table.name}.{column.name}"


def test_data_dictionary_view_answers_sql(settings: Settings) -> None:
    con = duckdb.connect(str(refresh_catalog(settings)), read_only=True)
    got = con.execute(
        "SELECT unit, column_type FROM data_dictionary "
        "WHERE table_name = 'readings' AND column_name = 'power_w'"
    ).fetchall()
    total = con.execute("SELECT count(*) FROM data_dictionary").fetchone()
    con.close()
    assert got == [("W", "DOUBLE")]
    assert total == (sum(len(t.columns) for t in dictionary.TABLES),)


def test_cli_prints_markdown_and_csv(settings: Settings) -> None:
    runner = CliRunner()
    md = runner.invoke(app, ["catalog", "dictionary", "--data-dir", str(settings.data_dir)])
    assert md.exit_code == 0, md.output
    assert "## historical_sessions" in md.output
    assert "| energy_wh | BIGINT | Wh |" in md.output
    out = runner.invoke(app, ["catalog", "dictionary", "--format", "csv"])
    assert out.exit_code == 0, out.output
    parsed = list(csv.DictReader(io.StringIO(out.output)))
    assert len(parsed) == len(dictionary.rows())
    assert {"table_name", "column_name", "column_type", "unit", "meaning"} <= set(parsed[0])
