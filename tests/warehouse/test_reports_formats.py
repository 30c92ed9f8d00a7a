"""Report files: CSV rows, XLSX sheets/headers/formats, HTML offline in Chromium, the CLI, and
a report over real imported history."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from chargegrid.cli import app
from chargegrid.settings import Settings
from tests.browser import chrome_options
from tests.warehouse import report_fixtures
from warehouse.importers.run import run_import
from warehouse.reports.run import report_utilisation, utilisation_tables
from warehouse.reports.utilisation import parse_range

RANGE = parse_range("2024-03-01", "2024-03-02")


@pytest.fixture
def built(settings: Settings) -> Settings:
    report_fixtures.build(settings)
    return settings


def test_csv_stacks_grains_with_machine_column_names(built: Settings, tmp_path: Path) -> None:
    out = tmp_path / "u.csv"
    counts = report_utilisation(built, RANGE, "station", ["day", "month"], "csv", out)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == counts["day"] + counts["month"] == 4 + 2
    assert {r["grain"] for r in rows} == {"day", "month"}
    assert {"energy_kwh", "occupied_pct", "uptime_pct", "revenue_minor"} <= set(rows[0])


def test_xlsx_has_a_sheet_per_grain_units_in_headers_frozen_header(
    built: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "u.xlsx"
    report_utilisation(built, RANGE, "connector", ["day", "week", "month"], "xlsx", out)
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["day", "week", "month"]
    sheet = book["day"]
    headers = [c.value for c in sheet[1]]
    assert "energy (kWh)" in headers
    assert "occupied (%)" in headers
    assert "uptime, NEVI trailing 12 months (%)" in headers
    assert sheet.freeze_panes == "A2"
    energy = headers.index("energy (kWh)") + 1
    assert sheet.cell(row=2, column=energy).number_format == "#,##0.00"
    assert sheet.max_row == 1 + 7  # 4 ports × 2 days, less A/2 on day 1 (not yet seen)
    assert sheet.max_row - 1 == len(utilisation_tables(built, RANGE, "connector", ["day"])["day"])


@pytest.fixture
def chrome() -> Iterator[Any]:
    from selenium import webdriver

    driver = webdriver.Chrome(options=chrome_options())
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.browser
def test_html_renders_plotly_offline_without_any_network_request(
    built: Settings, tmp_path: Path, chrome: Any
) -> None:
    out = tmp_path / "u.html"
    report_utilisation(built, RANGE, "station", ["day", "week"], "html", out)
    chrome.get(out.as_uri())
    chrome.set_script_timeout(20)
    plots = chrome.execute_async_script(
        "const done = arguments[0];"
        "const t0 = Date.now();"
        "(function poll(){ const n = document.querySelectorAll('.main-svg').length;"
        " if (n > 0 || Date.now() - t0 > 15000) done(n); else setTimeout(poll, 100); })();"
    )
    assert plots > 0, "Plotly drew nothing"
    urls = chrome.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    remote = [u for u in urls if not u.startswith(("file:", "data:", "blob:"))]
    assert remote == []
    assert chrome.execute_script("return typeof Plotly") == "object"


def test_cli_writes_the_report_and_refuses_a_bad_range(built: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "r.csv"
    base = ["report", "utilisation", "--data-dir", str(built.data_dir), "-o", str(out)]
    ok = runner.invoke(app, [*base, "--from", "2024-03-01", "--to", "2024-03-02", "--by", "site"])
    assert ok.exit_code == 0, ok.output
    assert "day: 4 rows" in ok.output  # sites S1 and A (a station is its own site) × 2 days
    bad = runner.invoke(app, [*base, "--from", "2024-03-03", "--to", "2024-03-02"])
    assert bad.exit_code != 0
    intervals = runner.invoke(
        app,
        [
            "report",
            "intervals",
            "--data-dir",
            str(built.data_dir),
            "-o",
            str(tmp_path / "i.csv"),
            "--from",
            "2024-03-01",
            "--to",
            "2024-03-01",
        ],
    )
    assert intervals.exit_code == 0, intervals.output


@pytest.mark.shared
def test_report_on_imported_dundee_history(settings: Settings, shared_data: Path) -> None:
    run_import(settings, "dundee", [shared_data / "dundee"])
    rng = parse_range("2018-01-01", "2018-12-31", "import:dundee")
    (month,) = utilisation_tables(settings, rng, "site", ["month"]).values()
    rows = month.to_pylist()
    assert rows and all(r["uptime_pct"] is None for r in rows)
    assert all(0 <= r["occupied_pct"] <= 100 for r in rows if r["occupied_pct"] is not None)
    import duckdb

    con = duckdb.connect(str(settings.catalog_path), read_only=True)
    (expected,) = con.execute(
        "SELECT count(*) FROM historical_sessions WHERE source = 'dundee' "
        "AND started_at >= TIMESTAMPTZ '2018-01-01 00:00:00+00' "
        "AND started_at < TIMESTAMPTZ '2019-01-01 00:00:00+00'"
    ).fetchone()
    con.close()
    assert sum(r["sessions"] for r in rows) == expected
