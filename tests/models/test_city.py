"""The synthetic city: parameters, estate, and planned sessions (no ../shared needed)."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from chargegrid.inventory import Inventory
from chargegrid.plans import PlannedSession
from models.city import (
    DUNDEE,
    FEASIBLE_POWER_FRACTION,
    SOC_CEILING_PCT,
    WARM_WINDOW_S,
    CityParams,
    CityParamsError,
    _Sampler,
    _segments,
    build_city,
    busy_start,
    class_of,
    load_params,
    plan_sessions,
)

REPO = Path(__file__).resolve().parents[2]
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def params() -> CityParams:
    return load_params()


@pytest.fixture(scope="module")
def city(params: CityParams) -> Inventory:
    return build_city(params, stations=12, seed=7)


def _haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


# ---------------------------------------------------------------- parameters


def test_default_params_load_from_any_cwd(params: CityParams, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_params() == params
    assert set(params.classes) == {"slow", "fast", "rapid"}
    assert params.sessions_used == sum(p.kept for p in params.provenance)


def test_packaged_copy_is_the_committed_params() -> None:
    committed = REPO / "data" / "city" / "params.json"
    packaged = REPO / "models" / "city_params.json"
    assert committed.read_bytes() == packaged.read_bytes()
    assert load_params(committed) == load_params()


def test_params_record_provenance_and_exclusions(params: CityParams) -> None:
    for source in params.provenance:
        assert source.licence == "Open Government Licence v3.0 (UK)"
        assert source.rows == source.kept + sum(source.excluded.values())
        assert sum(f.rows for f in source.files) == source.rows
    dundee = next(p for p in params.provenance if p.dataset == "dundee")
    assert len(dundee.files) == 4
    assert dundee.rows == 67_112
    assert {"open_session", "sentinel_end", "impossible_energy"} <= set(dundee.excluded)


def test_class_medians_are_plausible(params: CityParams) -> None:
    slow, rapid = params.classes["slow"], params.classes["rapid"]
    assert slow.duration_min.median > rapid.duration_min.median
    assert 3.0 < rapid.energy_kwh.median < 30.0
    assert sum(params.class_mix["dundee"].values()) == pytest.approx(1.0, abs=1e-3)


def test_invalid_params_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "params.json"
    bad.write_text('{"schema_version": 1}')
    with pytest.raises(CityParamsError, match=r"params\.json"):
        load_params(bad)
    with pytest.raises(CityParamsError, match=r"missing\.json"):
        load_params(tmp_path / "missing.json")


def test_unsorted_quantiles_are_rejected(params: CityParams) -> None:
    raw = params.model_dump()
    raw["classes"]["slow"]["duration_min"]["quantiles"].reverse()
    with pytest.raises(ValueError, match="non-decreasing"):
        CityParams.model_validate(raw)


# ---------------------------------------------------------------- the estate


def test_build_city_is_deterministic(params: CityParams, city: Inventory) -> None:
    assert build_city(params, stations=12, seed=7) == city
    assert build_city(params, stations=12, seed=8) != city


def test_city_ids_unique_short_and_linked(city: Inventory) -> None:
    station_ids = [s.station_id for s in city.stations]
    charger_ids = [c.charger_id for c in city.chargers]
    assert len(set(station_ids)) == len(station_ids) == 12
    assert len(set(charger_ids)) == len(charger_ids)
    assert all(re.fullmatch(r"CG-S\d{3}-\d", c) and len(c) <= 20 for c in charger_ids)
    assert {c.station_id for c in city.chargers} == set(station_ids)
    per_station = Counter(c.station_id for c in city.chargers)
    assert all(1 <= n <= 4 for n in per_station.values())
    assert len({s.name for s in city.stations}) == 12


@pytest.mark.parametrize("centre", [DUNDEE, (51.5072, -0.1276)])
def test_stations_lie_within_the_calibrated_radius(params: CityParams, centre) -> None:
    city = build_city(params, stations=60, seed=3, centre=centre)
    limit_km = params.sites.radius_km_quantiles[-1] + 0.05
    assert all(_haversine_km(centre, (s.lat, s.lon)) <= limit_km for s in city.stations)


def test_connectors_follow_their_class(params: CityParams) -> None:
    city = build_city(params, stations=60, seed=5)
    classes = Counter(class_of(c.connectors[0]) for c in city.chargers)
    assert set(classes) == {"slow", "fast", "rapid"}
    for charger in city.chargers:
        spec = params.classes[class_of(charger.connectors[0])]
        assert {c.max_power_w for c in charger.connectors} == {spec.rated_w}
        assert {c.current for c in charger.connectors} == {spec.current}
        assert [c.connector_id for c in charger.connectors] == list(
            range(1, len(charger.connectors) + 1)
        )


def test_a_city_needs_a_station(params: CityParams) -> None:
    with pytest.raises(ValueError, match="at least one station"):
        build_city(params, stations=0, seed=1)


# ---------------------------------------------------------------- planned sessions


def _check_plans(plans: list[PlannedSession], city: Inventory, start: datetime) -> None:
    """Invariants every plan list must hold: the simulator can execute each plan as written."""
    by_connector: dict[tuple[str, int], list[PlannedSession]] = defaultdict(list)
    for plan in plans:
        charger = city.charger(plan.charger_id)
        assert charger is not None
        connector = charger.connector(plan.connector_id)
        assert connector is not None
        assert plan.plug_in >= start
        assert plan.max_power_w <= connector.max_power_w
        limit_wh = FEASIBLE_POWER_FRACTION * plan.max_power_w * plan.duration_s / 3600.0
        assert plan.energy_wh <= limit_wh + 1e-6, plan
        soc_end = plan.soc_start_pct + 100.0 * plan.energy_wh / plan.battery_wh
        assert soc_end <= SOC_CEILING_PCT + 1e-6, plan
        assert re.fullmatch(r"TAG\d{4}", plan.id_tag)
        by_connector[(plan.charger_id, plan.connector_id)].append(plan)
    for sessions in by_connector.values():
        sessions.sort(key=lambda p: p.plug_in)
        for before, after in itertools.pairwise(sessions):
            assert before.plug_out <= after.plug_in, (before.ref, after.ref)


def test_plans_are_feasible_and_never_overlap(params: CityParams, city: Inventory) -> None:
    start = datetime(2026, 6, 1, 6, tzinfo=UTC)
    plans = plan_sessions(params, city, start=start, end=start + timedelta(days=7), seed=11)
    assert len(plans) > 100
    _check_plans(plans, city, start)
    assert [p.ref for p in plans] == [f"demo:{n}" for n in range(1, len(plans) + 1)]
    assert plans == sorted(plans, key=lambda p: p.plug_in)


def test_plans_are_deterministic(params: CityParams, city: Inventory) -> None:
    start = datetime(2026, 6, 1, 6, tzinfo=UTC)
    one = plan_sessions(params, city, start=start, end=start + timedelta(days=1), seed=4)
    two = plan_sessions(params, city, start=start, end=start + timedelta(days=1), seed=4)
    other = plan_sessions(params, city, start=start, end=start + timedelta(days=1), seed=5)
    assert one == two
    assert one != other


def test_no_id_tag_is_used_twice_at_once(params: CityParams, city: Inventory) -> None:
    start = datetime(2026, 6, 1, 6, tzinfo=UTC)
    plans = plan_sessions(params, city, start=start, end=start + timedelta(days=3), seed=2)
    by_tag: dict[str, list[PlannedSession]] = defaultdict(list)
    for plan in plans:
        by_tag[plan.id_tag].append(plan)
    for sessions in by_tag.values():
        for before, after in itertools.pairwise(sessions):
            assert before.plug_out <= after.plug_in


@pytest.mark.slow
def test_arrivals_follow_the_calibrated_hourly_profile(params: CityParams) -> None:
    """Eight weeks, 40 stations, fixed seed: kept plug-ins per local hour ≈ calibrated rate.

    Drivers balk at busy connectors; the generating rate is raised by 1/(1 - occupancy) so the
    plans should show the calibrated (post-balking) rate. Per hour within 4 sigma, per class
    within 4 sigma + 5 %, and the daily shape correlates.
    """
    city = build_city(params, stations=40, seed=1)
    start = datetime(2026, 1, 5, tzinfo=LONDON)  # a Monday
    plans = plan_sessions(
        params, city, start=start, end=start + timedelta(weeks=8), seed=3, warm_start=False
    )
    classes = {
        (c.charger_id, k.connector_id): class_of(k) for c in city.chargers for k in c.connectors
    }
    connectors = Counter(classes.values())
    observed = {kind: defaultdict(lambda: np.zeros(24)) for kind in ("weekday", "weekend")}
    for plan in plans:
        local = plan.plug_in.astimezone(LONDON)
        kind = "weekend" if local.weekday() >= 5 else "weekday"
        observed[kind][classes[(plan.charger_id, plan.connector_id)]][local.hour] += 1
    for kind, days in (("weekday", 40), ("weekend", 16)):
        for cls, n in connectors.items():
            profile = getattr(params.classes[cls].arrivals_per_connector_hour, kind)
            expected = np.array(profile) * n * days
            seen = observed[kind][cls]
            assert np.all(np.abs(seen - expected) <= 4 * np.sqrt(expected) + 2), (kind, cls)
            total = expected.sum()
            assert abs(seen.sum() - total) <= 4 * math.sqrt(total) + 0.05 * total, (kind, cls)
            if total > 1000:
                assert np.corrcoef(seen, expected)[0, 1] > 0.9, (kind, cls)


def test_fall_back_day_has_25_hours_of_arrivals(params: CityParams) -> None:
    """25 Oct 2026 (Europe/London): local 01:00-02:00 happens twice, both at the 01h rate."""
    sampler = _Sampler(params, "rapid", LONDON)
    day = datetime(2026, 10, 25, tzinfo=LONDON)
    edges = _segments(day, datetime(2026, 10, 26, tzinfo=LONDON))
    assert (edges[-1] - edges[0]) == timedelta(hours=25)
    rates = sampler.generating_rates(edges).reshape(25, 4).sum(axis=1)
    spec = params.classes["rapid"]
    per_hour = [
        spec.arrivals_per_connector_hour.weekend[h] / max(0.5, 1 - spec.occupancy.weekend[h])
        for h in [0, 1, 1, *range(2, 24)]
    ]
    assert rates == pytest.approx(per_hour)


def test_spring_forward_day_has_23_hours(params: CityParams) -> None:
    sampler = _Sampler(params, "slow", LONDON)
    edges = _segments(datetime(2026, 3, 29, tzinfo=LONDON), datetime(2026, 3, 30, tzinfo=LONDON))
    assert len(sampler.generating_rates(edges)) == 23 * 4


def test_plans_across_both_dst_changes_are_valid(params: CityParams, city: Inventory) -> None:
    for day in (date(2026, 3, 29), date(2026, 10, 25)):
        start = datetime.combine(day, datetime.min.time(), tzinfo=LONDON) - timedelta(hours=6)
        plans = plan_sessions(params, city, start=start, end=start + timedelta(hours=36), seed=9)
        _check_plans(plans, city, start)
        assert all(p.plug_in.utcoffset() == timedelta(0) for p in plans)


@pytest.mark.parametrize("local_hour", [3, 13])
def test_warm_start_charges_from_the_first_minutes(
    params: CityParams, city: Inventory, local_hour: int
) -> None:
    """At 60x, plans plugging in within 2 simulated minutes show power within 2 wall seconds."""
    start = datetime(2026, 11, 24, local_hour, tzinfo=LONDON)
    plans = plan_sessions(params, city, start=start, end=start + timedelta(hours=2), seed=7)
    early = [p for p in plans if p.plug_in <= start + timedelta(seconds=WARM_WINDOW_S)]
    assert len(early) >= 3
    assert all(p.energy_wh > 0 for p in early)
    cold = plan_sessions(
        params, city, start=start, end=start + timedelta(hours=2), seed=7, warm_start=False
    )
    assert len(early) > len(
        [p for p in cold if p.plug_in <= start + timedelta(seconds=WARM_WINDOW_S)]
    )


def test_busy_start_is_a_busy_afternoon_hour(params: CityParams) -> None:
    start = busy_start(params, date(2026, 11, 24))
    local = start.astimezone(LONDON)
    assert local.date() == date(2026, 11, 24)
    assert (local.minute, local.second) == (0, 0)
    assert 9 <= local.hour <= 18


def test_bad_windows_are_refused(params: CityParams, city: Inventory) -> None:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="after start"):
        plan_sessions(params, city, start=start, end=start, seed=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_sessions(
            params, city, start=start.replace(tzinfo=None), end=start + timedelta(1), seed=1
        )
    with pytest.raises(ValueError, match="id_tags"):
        plan_sessions(params, city, start=start, end=start + timedelta(1), seed=1, id_tags=0)


def test_the_simulator_accepts_every_plan(params: CityParams) -> None:
    """Cross-check with the simulator's own charging curve (taper above 80 % SoC)."""
    curve = pytest.importorskip("chargers.curve")
    start = datetime(2026, 10, 24, 16, tzinfo=UTC)
    city = build_city(params, stations=30, seed=2)
    plans = plan_sessions(params, city, start=start, end=start + timedelta(days=2), seed=2)
    assert [p.ref for p in plans if not curve.feasible(p)] == []
