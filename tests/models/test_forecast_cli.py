"""``chargegrid forecast backtest`` as a user meets it: a table with the baselines, clear errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import chargegrid

HEADER = (
    "Charging event,CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Cost,Site,"
    "Group,Model\r\n"
)


def _dundee_export(path: Path, days: int = 140, seed: int = 4) -> Path:
    """Two sites; more plug-ins on weekday daytimes than at night or at weekends."""
    rng = np.random.default_rng(seed)
    rows, event = [], 1
    for d in range(days):
        day = date(2018, 1, 1) + timedelta(days=d)
        for hour in range(24):
            rate = (2.0 if 8 <= hour < 19 else 0.3) * (0.5 if day.weekday() >= 5 else 1.0)
            for _ in range(rng.poisson(rate)):
                minute = int(rng.integers(60))
                stay = int(rng.integers(20, 180))
                end = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) + timedelta(
                    minutes=stay
                )
                site = "Lochee Hub, Dundee" if event % 3 else "Dock Street, Dundee"
                rows.append(
                    f"{event},5091{event % 4},1,{day:%d/%m/%Y},{hour:02d}:{minute:02d},"
                    f'{end:%d/%m/%Y},{end:%H:%M},{stay / 60 * 6:.2f},0,"{site}",G,APT 22kW Dual'
                )
                event += 1
    path.write_text(HEADER + "\r\n".join(rows) + "\r\n")
    return path


@pytest.mark.slow  # a full default backtest (3 refits × 3 quantiles): ~10-20 s here
def test_backtest_prints_the_model_beside_every_baseline(tmp_path: Path) -> None:
    export = _dundee_export(tmp_path / "dundee.csv")
    out = chargegrid(
        ["forecast", "backtest", "--source", "dundee", "--level", "city", "--target", "energy",
         str(export)],
        tmp_path / "var",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "energy (kWh per hour) · day-ahead · level city (1 series: all sites)" in out.stdout
    methods = [line.split()[0] for line in out.stdout.splitlines() if line[:1].islower()]
    for name in ("persistence", "seasonal_naive_24", "seasonal_naive_168", "weekday_hour_mean",
                 "gbm_p50"):  # fmt: skip
        assert name in methods
    assert "MASE" in out.stdout and "P10-P90" in out.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Site,Latitude,Longitude\nx,1,2\n", "not a Perth & Kinross export"),
        ("CP ID,Connector,Start Date,Start Time,End Date,End Time,Total kWh,Site,Model\n"
         "1,1,01/01/2018,10:00,01/01/2018,11:00,3,S,M\n", "too few"),
    ],
)  # fmt: skip
def test_bad_or_short_input_is_one_clear_message_and_exit_2(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(content)
    out = chargegrid(["forecast", "backtest", "--source", "perth", str(path)], tmp_path / "var")
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def _acn_export(path: Path, days: int = 126, seed: int = 5) -> Path:
    """ACN-Data JSON (``_meta``/``_items``), two stations; RFC 1123 GMT times; one repeat."""
    import json
    from email.utils import format_datetime

    rng = np.random.default_rng(seed)
    items = []
    for d in range(days):
        for hour in range(24):
            rate = (1.5 if 15 <= hour < 24 else 0.2) * (0.4 if (d % 7) >= 5 else 1.0)
            for _ in range(rng.poisson(rate)):
                start = datetime(2019, 1, 1, tzinfo=UTC) + timedelta(days=d, hours=hour)
                stay = timedelta(minutes=int(rng.integers(60, 480)))
                items.append({
                    "sessionID": f"s{len(items)}", "siteID": "0002",
                    "stationID": f"CA-49{len(items) % 2}", "spaceID": "CA-1",
                    "connectionTime": format_datetime(start, usegmt=True),
                    "disconnectTime": format_datetime(start + stay, usegmt=True),
                    "doneChargingTime": format_datetime(start + stay / 2, usegmt=True),
                    "kWhDelivered": round(float(rng.uniform(3, 20)), 3),
                    "timezone": "America/Los_Angeles", "userID": None, "userInputs": None,
                })  # fmt: skip
    items.append(dict(items[-1]))  # the same session delivered twice
    path.write_text(json.dumps({"_meta": {"total": len(items)}, "_items": items}))
    return path


def test_acn_sessions_keep_their_charging_time_and_are_read_once(tmp_path: Path) -> None:
    from models.forecast.sessions import load

    loaded = load("acn", [_acn_export(tmp_path / "acn.json", days=3)])
    assert loaded.rejected == {"duplicate": 1}
    first = loaded.sessions[0]
    assert first.site == "0002" and first.port.startswith("CA-49")
    assert first.charging_s == pytest.approx(first.plugged_s / 2, abs=1.0)
    assert loaded.time_zone == "America/Los_Angeles"


@pytest.mark.slow  # one default backtest, one target: ~10 s here
def test_backtest_reads_acn_data_json(tmp_path: Path) -> None:
    export = _acn_export(tmp_path / "acn.json")
    out = chargegrid(
        ["forecast", "backtest", "--source", "acn", "--level", "city", "--target", "occupancy",
         str(export)],
        tmp_path / "var",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "left out: duplicate 1" in out.stdout
    assert "acn · occupancy" in out.stdout and "gbm_p50" in out.stdout


@pytest.mark.slow  # a day-ahead and a week-ahead backtest, one target: ~20 s here
def test_both_horizons_print_day_ahead_beside_week_ahead(tmp_path: Path) -> None:
    from models.forecast.run import backtest_files

    export = _acn_export(tmp_path / "acn.json")
    _, results = backtest_files("acn", [export], "city", "both", ["occupancy"])
    text = results[0].text
    assert "· day-ahead ·" in text and "· week-ahead ·" in text
    summary = text.split("day-ahead beside week-ahead")[1].splitlines()
    assert "week MAE" in summary[1]
    model = next(line for line in summary if line.startswith("gbm_p50")).split()
    assert len(model) == 7  # method, then MAE/MASE/rMAE for each horizon
