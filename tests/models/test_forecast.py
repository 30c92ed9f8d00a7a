"""Forecasting: hourly series, past-only features, baselines, metrics and the walk-forward loop."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from models.forecast import metrics
from models.forecast.backtest import (
    MODEL,
    BacktestConfig,
    BacktestError,
    local_midnights,
    score,
    smooth_hours,
    walk_forward,
)
from models.forecast.baselines import baseline
from models.forecast.features import (
    COLUMNS,
    MIN_HISTORY_H,
    Calendar,
    LeakageError,
    design,
    week_ratio,
)
from models.forecast.model import (
    GEOMETRIC_SHIFT,
    MAX_BINS,
    QUANTILES,
    SCALES,
    Bins,
    ModelConfig,
    ModelConfigError,
    QuantileModel,
    order_around_median,
    scale_level,
)
from models.forecast.series import Level, Panel, build, charging_s
from models.forecast.sessions import Session

LONDON = "Europe/London"
T0 = datetime(2018, 1, 1, tzinfo=UTC)


def _session(
    start_h: float,
    plugged_h: float,
    kwh: float,
    site: str = "A",
    port: str = "1/1",
    power_w: float = 7_000.0,
    current: str = "AC",
) -> Session:
    start = T0 + timedelta(hours=start_h)
    return Session(
        site, port, start, start + timedelta(hours=plugged_h), round(kwh * 1000), power_w, current
    )


def _synthetic_panel(weeks: int = 10, series: int = 3, seed: int = 1) -> Panel:
    """Hourly demand with a daily and weekly shape and Poisson noise, per site."""
    hours = pd.date_range("2018-01-01", periods=weeks * 168, freq="h", tz="UTC")
    local = hours.tz_convert(LONDON)
    shape = 1 + np.sin((local.hour.to_numpy() - 6) / 24 * 2 * np.pi)
    shape = shape * np.where(local.day_of_week.to_numpy() >= 5, 0.5, 1.0)
    rng = np.random.default_rng(seed)
    y = np.stack([rng.poisson(3 * (s + 1) * shape).astype(float) for s in range(series)])
    return Panel(
        tuple(f"s{s}" for s in range(series)), hours, LONDON, y, y / 5, np.full_like(y, 2.0)
    )


def _calendar(panel: Panel) -> Calendar:
    return Calendar.of(panel.local, "GB", "SCT")


SMALL = BacktestConfig(test_days=14, retrain_days=7, train_days=28, model=ModelConfig(max_iter=30))


# -- hourly series ------------------------------------------------------------------------------


def test_energy_is_spread_over_the_estimated_charging_time_and_conserved() -> None:
    # 14 kWh on a 22 kW AC post: cars take 7.4 kW on AC → 1.89 h of charging in a 5 h plug-in
    sessions = (_session(0.5, 5.0, 14.0, power_w=22_000.0),)
    panel = build(sessions, "UTC")
    assert panel.energy_kwh.sum() == pytest.approx(14.0)
    charge_h = charging_s(sessions[0]) / 3600
    assert charge_h == pytest.approx(14 / 7.4)
    assert panel.energy_kwh[0, 0] == pytest.approx(14.0 / charge_h * 0.5)
    assert panel.energy_kwh[0, 3] == 0.0  # plugged in, not charging


def test_occupancy_counts_connectors_plugged_in_per_hour() -> None:
    sessions = (_session(1.0, 2.0, 1.0), _session(1.5, 1.0, 1.0, port="1/2"))
    panel = build(sessions, "UTC")
    assert panel.occupancy[0, :4].tolist() == pytest.approx([0.0, 1.5, 1.5, 0.0])


def test_recorded_charging_time_is_used_when_the_source_has_it() -> None:
    start = T0 + timedelta(hours=2)
    session = Session("A", "x", start, start + timedelta(hours=4), 6_000, 6_600.0, "AC", 7200.0)
    panel = build((session,), "UTC")
    assert panel.energy_kwh[0, 2:5].tolist() == pytest.approx([3.0, 3.0, 0.0])


def test_sites_are_rows_and_city_is_their_sum() -> None:
    sessions = (_session(1, 1, 2, site="A"), _session(3, 1, 5, site="B"))
    sites, city = build(sessions, "UTC"), build(sessions, "UTC", "city")
    assert sites.names == ("A", "B") and city.names == ("city",)
    assert city.energy_kwh[0] == pytest.approx(sites.energy_kwh.sum(axis=0))


def test_ports_count_only_plug_ins_of_the_last_28_days_before_the_hour() -> None:
    sessions = (_session(0, 1, 1, port="p1"), _session(30 * 24, 1, 1, port="p2"))
    ports = build(sessions, "UTC").ports[0]
    assert ports[0] == 0  # nothing before the first hour
    assert ports[1] == 1
    assert ports[28 * 24] == 1 and ports[28 * 24 + 1] == 0
    assert ports[30 * 24 + 1] == 1


def test_local_midnights_are_one_per_day_across_both_dst_changes() -> None:
    hours = pd.date_range("2018-03-20", "2018-11-10", freq="h", tz="UTC", inclusive="left")
    cal = Calendar.of(hours.tz_convert(LONDON), "GB", "SCT")
    midnights = hours[local_midnights(cal)].tz_convert(LONDON)
    assert (
        len(midnights) == len(set(midnights.date)) == (date(2018, 11, 10) - date(2018, 3, 20)).days
    )
    assert set(midnights.hour) == {0}


def test_scottish_bank_holidays_are_flagged() -> None:
    hours = pd.date_range("2018-01-01", "2018-01-03", freq="h", tz="UTC", inclusive="left")
    cal = Calendar.of(hours.tz_convert(LONDON), "GB", "SCT")
    assert cal.holiday[:24].all() and cal.holiday[24:].all()  # 1 and 2 January in Scotland


# -- past-only features --------------------------------------------------------------------------


@pytest.mark.parametrize("horizon_h", [24, 168])
def test_features_for_an_origin_do_not_change_when_every_later_hour_is_garbled(
    horizon_h: int,
) -> None:
    panel = _synthetic_panel()
    cal = _calendar(panel)
    origin = int(local_midnights(cal)[local_midnights(cal) > MIN_HISTORY_H][3])
    garbled = panel.energy_kwh.copy()
    garbled[:, origin:] = np.random.default_rng(5).uniform(100, 200, garbled[:, origin:].shape)
    ports = panel.ports.copy()
    ports[:, origin + 1 :] = 99.0
    origins = np.array([origin])
    clean = design(panel.energy_kwh, panel.ports, cal, origins, horizon_h)
    dirty = design(garbled, ports, cal, origins, horizon_h)
    np.testing.assert_array_equal(clean.x, dirty.x)
    assert not np.array_equal(clean.y, dirty.y)  # the targets did change: the test can fail


def test_each_scale_s_level_is_its_window_s_mean_before_the_origin_and_ignores_later_hours() -> (
    None
):
    panel = _synthetic_panel()
    y, cal, origin = panel.energy_kwh, _calendar(panel), 6 * 168
    garbled = y.copy()
    garbled[:, origin:] = 500.0
    clean, dirty = (
        design(v, panel.ports, cal, np.array([origin]), 24).flat()[0] for v in (y, garbled)
    )
    series_0 = clean[:, COLUMNS.index("series")] == 0
    week, days3 = scale_level(clean, "week"), scale_level(clean, "days3")
    assert week[series_0] == pytest.approx(y[0, origin - 168 : origin].mean())
    assert days3[series_0] == pytest.approx(y[0, origin - 72 : origin].mean())
    for scale in SCALES:
        np.testing.assert_array_equal(scale_level(clean, scale), scale_level(dirty, scale))


def test_an_unknown_last_week_falls_back_to_four_weeks_and_three_days_to_the_week() -> None:
    x = np.full((2, len(COLUMNS)), np.nan)
    x[:, COLUMNS.index("mean_672h")] = 4.0
    x[1, COLUMNS.index("mean_168h")] = 2.0
    np.testing.assert_array_equal(scale_level(x, "week"), [4.0, 2.0])
    np.testing.assert_array_equal(scale_level(x, "days3"), [4.0, 2.0])


def test_recent_level_features_are_the_weighted_means_of_hours_before_the_origin() -> None:
    panel = _synthetic_panel()
    y = panel.energy_kwh
    origin = 6 * 168
    rows = design(y, panel.ports, _calendar(panel), np.array([origin]), 168)
    x = rows.x[0, 0]  # series 0, the only origin: (horizon, columns)
    col = {c: x[:, COLUMNS.index(c)] for c in ("mean_72h", "ewm_day", "ewm_week")}
    assert col["mean_72h"][100] == pytest.approx(y[0, origin - 72 : origin].mean())
    k = 30  # day 2 of the horizon: the same hour of day was last seen 48 h earlier
    days = y[0, origin + k - 48 - 24 * np.arange(14)]
    assert col["ewm_day"][k] == pytest.approx(np.average(days, weights=0.7 ** np.arange(14)))
    weeks = y[0, origin + k - 168 * np.arange(1, 5)]
    assert col["ewm_week"][k] == pytest.approx(np.average(weeks, weights=0.5 ** np.arange(4)))


def test_slot_share_is_the_decayed_mean_of_the_slot_s_hours_over_their_previous_week() -> None:
    panel = _synthetic_panel()
    y, cal = panel.energy_kwh, _calendar(panel)
    origin = 6 * 168
    x = design(y, panel.ports, cal, np.array([origin]), 24).x[0, 0]
    k = 13
    t = np.flatnonzero(cal.slot[:origin] == cal.slot[origin + k])
    t = t[t >= 168]  # the first week has no week before it
    previous_week = np.array([y[0, h - 168 : h].mean() for h in t])
    expected = np.average(y[0, t] / previous_week, weights=0.5 ** ((origin - t) / (26 * 168)))
    assert x[k, COLUMNS.index("slot_share")] == pytest.approx(expected)


def test_slot_share_keeps_the_weekly_shape_of_a_growing_network_where_the_slot_mean_lags() -> None:
    panel = _synthetic_panel()
    cal = _calendar(panel)
    flat = (1.0 + cal.slot % 24 + 5.0 * (cal.slot >= 5 * 24)).astype(float)[None, :]
    grown = flat * 1.01 ** (np.arange(flat.shape[1]) / 24)  # +1 % a day: x1.9 in 9 weeks
    origin = np.array([9 * 168])
    before = design(flat, panel.ports[:1], cal, origin, 24).x[0, 0]
    after = design(grown, panel.ports[:1], cal, origin, 24).x[0, 0]
    share, mean = COLUMNS.index("slot_share"), COLUMNS.index("slot_mean")
    level = COLUMNS.index("mean_168h")
    # relative to the level the model divides by, the slot mean of the grown network sinks ...
    sunk = (after[:, mean] / after[:, level]) / (before[:, mean] / before[:, level])
    assert np.all(sunk < 0.8)
    # ... while its share only carries the growth since the middle of the week before each hour
    ratio = after[:, share] / before[:, share]
    assert np.all((ratio > 1.0) & (ratio < 1.01**4))
    assert np.ptp(ratio) < 0.01


def test_week_ratio_is_unknown_without_a_week_before_or_demand_in_it() -> None:
    y = np.ones((1, 400))
    y[0, 200:368] = 0.0  # a silent week: the hour after it has no week to be a share of
    y[0, 380] = np.nan
    ratio = week_ratio(y)
    assert np.isnan(ratio[0, :168]).all()
    assert ratio[0, 168] == 1.0
    assert np.isnan(ratio[0, 368]) and ratio[0, 369] == pytest.approx(168.0)
    assert np.isnan(ratio[0, 380])


def test_the_last_hour_before_the_origin_moves_the_recency_features() -> None:
    panel = _synthetic_panel()
    cal = _calendar(panel)
    origin = np.array([6 * 168])
    nudged = panel.energy_kwh.copy()
    nudged[:, origin[0] - 1] += 50.0  # the origin's lag 1: read, so the features must move
    clean = design(panel.energy_kwh, panel.ports, cal, origin, 24).x[0, 0]
    moved = design(nudged, panel.ports, cal, origin, 24).x[0, 0]
    for name in ("lag_1", "mean_24h", "mean_72h", "ewm_day", "day_mean_7"):
        c = COLUMNS.index(name)
        assert not np.array_equal(clean[:, c], moved[:, c]), name


def test_an_origin_without_four_weeks_of_history_is_refused() -> None:
    panel = _synthetic_panel()
    with pytest.raises(LeakageError, match="history"):
        design(panel.energy_kwh, panel.ports, _calendar(panel), np.array([100]), 24)


def test_baselines_read_the_lags_they_are_named_after() -> None:
    panel = _synthetic_panel()
    y = panel.energy_kwh
    origin = 6 * 168
    rows = design(y, panel.ports, _calendar(panel), np.array([origin]), 168)
    k = np.arange(168)
    np.testing.assert_array_equal(
        baseline("seasonal_naive_168", rows.x)[0, 0], y[0, origin + k - 168]
    )
    np.testing.assert_array_equal(
        baseline("persistence", rows.x)[0, 0], np.full(168, y[0, origin - 1])
    )
    day = baseline("seasonal_naive_24", rows.x)[0, 0]
    assert day[0] == y[0, origin - 24] and day[30] == y[0, origin + 30 - 48]
    slot = baseline("weekday_hour_mean", rows.x)[0, 0, 0]
    assert slot == pytest.approx(y[0, origin - 168 :: -168].mean())


# -- model ---------------------------------------------------------------------------------------


def _growing_rows() -> tuple[np.ndarray, np.ndarray]:
    panel = _synthetic_panel(weeks=8, series=1)
    y = (panel.energy_kwh + 1.0) * np.linspace(1.0, 2.0, panel.energy_kwh.shape[1])
    origins = local_midnights(_calendar(panel))[28:52]
    return design(y, panel.ports[:1], _calendar(panel), origins, 24).flat()


def test_the_median_is_the_geometric_mean_of_each_scale_s_median() -> None:
    x, y = _growing_rows()
    fit, test = slice(0, 20 * 24), slice(20 * 24, None)
    config = ModelConfig(quantiles=(0.5,), max_iter=20, min_samples_leaf=20, p50_leaves=(7, 3))
    alone = np.array(
        [
            QuantileModel(replace(config, scales=(s,))).fit(x[fit], y[fit]).predict(x[test])
            for s in SCALES
        ]
    )
    together = QuantileModel(replace(config, scales=SCALES)).fit(x[fit], y[fit]).predict(x[test])
    geometric = np.exp(np.log(alone + GEOMETRIC_SHIFT).mean(axis=0)) - GEOMETRIC_SHIFT
    np.testing.assert_allclose(together, geometric)
    assert not np.allclose(alone[0], alone[2])  # the scales differ: the test can fail
    assert not np.allclose(together, alone.mean(axis=0))  # not the arithmetic mean


def test_one_scale_s_median_is_its_models_mean_unchanged() -> None:
    x, y = _growing_rows()
    config = ModelConfig(quantiles=(0.5,), max_iter=20, min_samples_leaf=20, p50_leaves=(7, 3))
    model = QuantileModel(config).fit(x, y)
    by_hand = np.mean([m.predict(model._views[0].codes(x)) for m in model._p50[0]], axis=0)
    np.testing.assert_array_equal(
        model.predict(x)[:, 0], np.maximum(by_hand * model._views[0].level(x), 0)
    )


def test_a_crossing_interval_moves_to_the_median_and_the_median_stays() -> None:
    values = np.array(
        [
            [4.5, 0.2, 9.0],  # the P10 model above the P50: lowered to it, not swapped in
            [1.0, 3.0, 2.0],  # the P90 below the P50: raised to it
            [5.0, 4.0, 1.0],  # both ends crossed (and each other)
            [1.0, 2.0, 3.0],  # ordered: unchanged
        ]
    )
    out = order_around_median(values, QUANTILES)
    np.testing.assert_array_equal(out[:, 1], values[:, 1])
    np.testing.assert_array_equal(
        out, [[0.2, 0.2, 9.0], [1.0, 3.0, 3.0], [1.0, 4.0, 5.0], [1, 2, 3]]
    )
    np.testing.assert_array_equal(order_around_median(values, (0.1, 0.3, 0.9)), np.sort(values))


def test_scales_must_be_known_and_at_least_one() -> None:
    with pytest.raises(ModelConfigError, match="scales"):
        ModelConfig(scales=())
    with pytest.raises(ModelConfigError, match="scales"):
        ModelConfig(scales=("month",))  # type: ignore[arg-type]


def test_bins_keep_order_and_missing_values_and_follow_the_weights() -> None:
    rng = np.random.default_rng(2)
    x = np.zeros((4000, len(COLUMNS)))
    x[:, COLUMNS.index("lag_1")] = rng.uniform(0, 1, 4000)  # continuous: 4000 distinct values
    x[:, COLUMNS.index("series")] = rng.integers(0, 3, 4000)
    x[::7, COLUMNS.index("lag_1")] = np.nan
    weight = np.where(x[:, COLUMNS.index("lag_1")] > 0.5, 9.0, 1.0)  # 90 % of weight above 0.5
    bins = Bins.of(x, weight)
    codes = bins.codes(x)
    lag, code = x[:, COLUMNS.index("lag_1")], codes[:, COLUMNS.index("lag_1")]
    known = ~np.isnan(lag)
    assert np.isnan(code[~known]).all()
    order = np.argsort(lag[known])
    assert np.all(np.diff(code[known][order]) >= 0)  # monotone: the same splits are possible
    assert len(np.unique(code[known])) <= MAX_BINS
    edges = bins.edges[COLUMNS.index("lag_1")]
    assert edges is not None and np.mean(edges > 0.5) == pytest.approx(0.9, abs=0.02)
    np.testing.assert_array_equal(codes[:, COLUMNS.index("series")], x[:, COLUMNS.index("series")])
    few = bins.edges[COLUMNS.index("lag_2")]  # one distinct value: no threshold
    assert few is not None and len(few) == 0


# -- metrics -------------------------------------------------------------------------------------


def test_metrics_on_known_values() -> None:
    y, f = np.array([1.0, 2.0, np.nan, 4.0]), np.array([2.0, 2.0, 9.0, 1.0])
    assert metrics.mae(y, f) == pytest.approx(4 / 3)
    assert metrics.rmse(y, f) == pytest.approx(np.sqrt(10 / 3))
    assert metrics.wape(y, f) == pytest.approx(4 / 7)
    assert metrics.pinball(y, f, 0.9) == pytest.approx((0.1 * 1 + 0 + 0.9 * 3) / 3)
    assert metrics.coverage(y, f - 1, f + 1) == pytest.approx(2 / 3)
    weekly = np.tile(np.arange(168.0), 3)
    assert metrics.seasonal_scale(weekly) == 0.0
    assert metrics.seasonal_scale(weekly + np.arange(len(weekly))) == pytest.approx(168.0)


# -- walk-forward --------------------------------------------------------------------------------


def test_walk_forward_model_beats_seasonal_naive_on_a_seasonal_series() -> None:
    panel = _synthetic_panel()
    forecasts = walk_forward(panel, "energy", _calendar(panel), SMALL)
    rows = {r.method: r for r in score(forecasts)}
    assert len(forecasts.origins) == 14
    assert rows[MODEL].mase < 0.85 * rows["seasonal_naive_168"].mase
    assert 0.6 < (rows[MODEL].coverage or 0) < 0.95
    assert (forecasts.quantiles[0] <= forecasts.quantiles[1]).all()
    assert (forecasts.quantiles[1] <= forecasts.quantiles[2]).all()


@pytest.mark.parametrize("level", ["site", "city"])
def test_forecasts_at_an_origin_ignore_everything_from_that_origin_on(level: Level) -> None:
    panel = _synthetic_panel()
    cal = _calendar(panel)
    clean = walk_forward(panel, "energy", cal, SMALL, level)  # the city: every scale's level
    first = int(clean.origins[0])
    garbled = panel.energy_kwh.copy()
    garbled[:, first:] = np.random.default_rng(9).uniform(1, 50, garbled[:, first:].shape)
    dirty_panel = Panel(
        panel.names, panel.hours, panel.time_zone, garbled, panel.occupancy, panel.ports
    )
    dirty = walk_forward(dirty_panel, "energy", cal, SMALL, level)
    np.testing.assert_array_equal(clean.quantiles[:, :, 0], dirty.quantiles[:, :, 0])
    assert not np.array_equal(clean.quantiles[:, :, -1], dirty.quantiles[:, :, -1])


def test_smoothing_mixes_each_hour_with_its_neighbours_within_one_origin_only() -> None:
    p50 = np.zeros((1, 2, 24))
    p50[0, 0, 5] = 10.0
    p50[0, 1, 0] = 10.0  # the first hour of the next origin: nothing leaks back into the day before
    out = smooth_hours(p50, 0.1)
    np.testing.assert_allclose(out[0, 0, 4:7], [1.0, 8.0, 1.0])
    assert out[0, 0].sum() == pytest.approx(10.0) and out[0, 0, 23] == 0.0
    np.testing.assert_allclose(out[0, 1, :2], [8.0 / 0.9, 1.0])  # one neighbour: renormalised
    np.testing.assert_allclose(smooth_hours(np.full((3, 24), 4.0), 0.1), 4.0)


def test_a_city_s_p50_is_smoothed_over_hours_and_its_sites_are_not() -> None:
    panel = _synthetic_panel()
    cal = _calendar(panel)
    unsmoothed = replace(SMALL, city_hour_smoothing=0.0)
    levels: tuple[tuple[Level, bool], ...] = (("city", True), ("site", False))
    for level, changed in levels:
        plain = walk_forward(panel, "energy", cal, unsmoothed, level)
        smoothed = walk_forward(panel, "energy", cal, SMALL, level)
        expected = plain.quantiles.copy()
        if changed:
            expected[1] = smooth_hours(plain.quantiles[1], SMALL.city_hour_smoothing)
            expected = np.moveaxis(
                order_around_median(np.moveaxis(expected, 0, -1), QUANTILES), -1, 0
            )
        np.testing.assert_allclose(smoothed.quantiles, expected)
        np.testing.assert_array_equal(smoothed.point[MODEL], smoothed.quantiles[1])
        assert np.array_equal(smoothed.point[MODEL], plain.point[MODEL]) is not changed


def test_city_hour_smoothing_must_leave_the_hour_itself_the_largest_weight() -> None:
    for weight in (-0.1, 0.5):
        with pytest.raises(BacktestError, match="city_hour_smoothing"):
            BacktestConfig(city_hour_smoothing=weight)


def test_too_little_data_is_a_clear_error() -> None:
    panel = _synthetic_panel(weeks=5)
    with pytest.raises(BacktestError, match="too few"):
        walk_forward(panel, "energy", _calendar(panel), SMALL)


def test_feature_columns_are_unique() -> None:
    assert len(set(COLUMNS)) == len(COLUMNS)


def test_week_ahead_uses_non_overlapping_weekly_origins_and_full_168_hour_horizons() -> None:
    panel = _synthetic_panel(weeks=12)
    config = BacktestConfig.for_horizon(
        "week", test_days=21, retrain_days=7, train_days=28, model=ModelConfig(max_iter=30)
    )
    forecasts = walk_forward(panel, "occupancy", _calendar(panel), config)
    assert forecasts.y.shape[1:] == (3, 168)
    assert np.diff(forecasts.origins).tolist() == [168, 168]
    rows = {r.method: r for r in score(forecasts)}
    assert rows[MODEL].mae < rows["seasonal_naive_168"].mae


def test_an_unknown_horizon_is_refused() -> None:
    with pytest.raises(BacktestError, match="'day' or 'week'"):
        BacktestConfig.for_horizon("month")


# -- gaps in the exports and the like-for-like city ---------------------------------------------


def test_a_day_without_plug_ins_in_a_busy_network_is_unknown_not_zero() -> None:
    # 24 plug-ins a day for 20 days except day 10: an export gap, not a day of zero demand
    sessions = tuple(
        _session(d * 24 + h + 0.25, 0.5, 3.0) for d in range(20) if d != 10 for h in range(24)
    )
    panel = build(sessions, "UTC")
    day10 = slice(10 * 24, 11 * 24)
    assert np.isnan(panel.energy_kwh[0, day10]).all()
    assert np.isnan(panel.occupancy[0, day10]).all()
    assert panel.unknown.sum() == 24
    assert not np.isnan(panel.energy_kwh[0, 9 * 24 : 10 * 24]).any()


def test_a_quiet_site_s_empty_day_stays_a_zero() -> None:
    sessions = tuple(_session(d * 24 + 9, 1.0, 3.0) for d in range(20) if d != 10)
    panel = build(sessions, "UTC")
    assert not panel.unknown.any()
    assert panel.energy_kwh[0, 10 * 24 : 11 * 24].sum() == 0.0


def test_unknown_hours_are_left_out_of_means_and_the_scale_and_become_nan_lags() -> None:
    panel = _synthetic_panel(weeks=6, series=1)
    y = panel.energy_kwh.copy()
    gap = slice(4 * 168 + 24, 4 * 168 + 48)
    y[:, gap] = np.nan
    origin = np.array([4 * 168 + 72])
    rows = design(y, panel.ports, _calendar(panel), origin, 24).x[0, 0]
    known = y[0, origin[0] - 168 : origin[0]]
    assert rows[:, COLUMNS.index("mean_168h")] == pytest.approx(np.nanmean(known))
    assert not np.isnan(rows[:, COLUMNS.index("slot_mean")]).any()
    assert np.isnan(rows[:, COLUMNS.index("lag_day2")]).all()  # the same hours two days back
    expected = np.nanmean(np.abs(y[0, 168:] - y[0, :-168]))
    assert metrics.seasonal_scale(y[0]) == pytest.approx(expected)


def test_the_city_is_the_sum_of_the_judged_sites_and_names_the_rest() -> None:
    panel = _synthetic_panel(weeks=10, series=3)
    opened_late = panel.energy_kwh.copy()
    opened_late[2, : -10 * 24] = 0.0  # site s2 opens 10 days before the end: inside the test
    panel = Panel(panel.names, panel.hours, LONDON, opened_late, opened_late / 5, panel.ports)
    city = walk_forward(panel, "energy", _calendar(panel), SMALL, "city")
    assert city.names == ("city",) and city.excluded == ("s2",)
    first = int(city.origins[0])
    assert np.nansum(city.y) == pytest.approx(
        panel.energy_kwh[:2, first : first + len(city.origins) * 24].sum()
    )
