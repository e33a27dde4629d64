"""Tests of dispatchlab.cases.scenarios (+ _stress, _labels): splits, extreme scenarios,
stress scenarios and seed004 labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from dispatchlab import solve
from dispatchlab.cases import Case, TimeSeries
from dispatchlab.cases import scenarios as sc
from dispatchlab.cases import scenarios_stress as ss
from dispatchlab.cases.timeseries import attach_profiles
from dispatchlab.learning.envs.transmission import labels as sl


@pytest.fixture(scope="module")
def tiny() -> Case:
    """3 buses, a REF generator, 2 loads, one PV and one wind DER (no series)."""
    buses = {"bus_id": [1, 2, 3], "bus_type": ["REF", "PQ", "PQ"], "base_kv": [20.0] * 3}
    branches = {"branch_id": [0, 1], "from_bus": [1, 2], "to_bus": [2, 3],
                "r_pu": [0.01, 0.01], "x_pu": [0.05, 0.05], "rate_a_mva": [40.0, 20.0]}  # fmt: skip
    gens = {"gen_id": [0], "bus": [1], "p_max_mw": [60.0], "cost_c1_usd_per_mwh": [20.0]}
    loads = {"load_id": [10, 11], "bus": [2, 3], "p_mw": [8.0, 5.0], "q_mvar": [2.0, 1.0]}
    ders = {"der_id": [0, 1], "bus": [3, 2], "kind": ["pv", "wind"], "p_max_mw": [3.0, 5.0]}
    return Case("tiny", buses, branches, gens, loads, ders=ders)


@pytest.fixture(scope="module")
def year(tiny) -> Case:
    """A year of 2016 at 4 h (6 steps a day): small vectors, all four seasons."""
    return sc.year_pool(tiny, step="4h", seed=0)


def _series_case(tiny: Case, wind: np.ndarray, step: str = "15min") -> Case:
    index = pd.date_range("2016-03-01", periods=len(wind), freq=step)
    frames = {
        "load_p_mw": pd.DataFrame({10: 8.0, 11: 5.0}, index=index),
        "der_p_max_mw": pd.DataFrame({0: 1.0, 1: wind}, index=index),
    }
    return tiny.with_timeseries(TimeSeries(frames))


# ---------------------------------------------------------------------------------- splits
def test_day_split_counts_disjoint_and_ordered():
    index = pd.date_range("2016-03-01", periods=90 * 96, freq="15min")
    train, val, test = sc.day_split(index, (60, 15, 15))
    assert (len(train), len(val), len(test)) == (60 * 96, 15 * 96, 15 * 96)
    assert train[-1] < val[0] and val[-1] < test[0]
    assert train[-1] == pd.Timestamp("2016-04-29 23:45") and test[0] == pd.Timestamp("2016-05-15")
    assert len(train.union(val).union(test)) == len(index)
    frac = sc.day_split(index, (0.5, 0.25, 0.25))
    assert [len(p) // 96 for p in frac] == [45, 22, 23]  # floor of cumulative day fractions


def test_split_errors_and_leakage_check():
    index = pd.date_range("2016-03-01", periods=10 * 24, freq="h")
    with pytest.raises(ValueError, match="sum to the 10 days"):
        sc.day_split(index, (6, 3))
    with pytest.raises(ValueError, match="shares 1 timestamp"):
        sc.check_no_leakage(index[:5], index[4:8])
    with pytest.raises(ValueError, match="look-ahead leakage"):
        sc.check_no_leakage(index[5:8], index[:5])


def test_split_case_keeps_other_data(year):
    parts = sc.split_case(year, (300, 33, 33))
    assert [len(p.timeseries) for p in parts] == [300 * 6, 33 * 6, 33 * 6]
    assert parts[2].timeseries.index[-1] == pd.Timestamp("2016-12-31 20:00")
    assert parts[0].equals(year)  # tables untouched
    two = sc.select_days(year, ["2016-03-02", "2016-03-01"])
    assert len(two.timeseries) == 12 and two.timeseries.index[0] == pd.Timestamp("2016-03-01")
    with pytest.raises(ValueError, match="2016-03-01 is followed by 2016-03-05"):
        sc.select_days(year, ["2016-03-01", "2016-03-05"])
    with pytest.raises(KeyError, match="2017-01-01"):
        sc.select_days(year, ["2017-01-01"])


# ---------------------------------------------------------------------- extreme scenarios
def test_extreme_scenarios_deterministic_and_counts(year):
    a = sc.extreme_scenarios(year, n_per_cluster=2, k_range=(2, 5), seed=3)
    b = sc.extreme_scenarios(year, n_per_cluster=2, k_range=(2, 5), seed=3)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert list(a.seasons.index) == ["DJF", "MAM", "JJA", "SON"]
    assert a.seasons["n_days"].tolist() == [91, 92, 92, 91]  # 2016 is a leap year
    counts = a.table.groupby(["season", "cluster", "role"]).size().unstack()
    assert (counts["centre"] == 1).all() and (counts["extreme"] == 2).all()
    assert len(a.table) == 3 * int(a.seasons["k"].sum())
    assert a.table.groupby(["season", "cluster"])["day"].nunique().eq(3).all()
    seasons = sc.season_of(pd.DatetimeIndex(a.table["day"]))
    assert (seasons == a.table["season"].to_numpy()).all()
    assert len(a.coach_days) == int(a.seasons["k"].sum())
    train, test = a.train_test(n_test=1, seed=0)
    assert len(test) == 1 and len(train) == len(a.days) - 1 and test[0] not in train


def test_k_is_the_best_admissible_silhouette_and_centres_are_means(year):
    res = sc.extreme_scenarios(year, n_per_cluster=1, k_range=(2, 6), seed=0)
    profiles = sc.daily_profiles(year)
    summer = profiles[sc.season_of(profiles.index) == "JJA"]
    x = sc._standardize(summer.to_numpy(), 3)
    scores = {
        k: silhouette_score(x, KMeans(k, n_init=10, random_state=0, tol=0.0).fit(x).labels_)
        for k in range(2, 7)
    }
    k = int(res.seasons.loc["JJA", "k"])
    admissible = res.k_scores.query("season == 'JJA' and admissible")["k"].tolist()
    assert 2 <= k <= 6 and k == max(admissible, key=scores.get)
    assert res.seasons.loc["JJA", "silhouette"] == pytest.approx(scores[k], abs=1e-12)
    labels = res.labels.loc[summer.index, "cluster"]
    for c in range(k):
        mean = summer[labels.to_numpy() == c].mean(axis=0).unstack("variable")
        pd.testing.assert_frame_equal(res.centres[("JJA", c)], mean)
    # the centre day is the member nearest to the centre, extremes are farther
    jja = res.table[res.table["season"] == "JJA"]
    for _, g in jja.groupby("cluster"):
        assert g.loc[g["role"] == "centre", "distance"].iloc[0] < g["distance"].max()


def test_fixed_k_and_errors(year, tiny):
    a = sc.extreme_scenarios(year, n_per_cluster=1, k_range=(3, 3), seed=0)
    assert (a.seasons["k"] == 3).all()
    with pytest.raises(ValueError, match="n_per_cluster \\+ 1 = 60 days"):
        sc.extreme_scenarios(year, n_per_cluster=59, k_range=(2, 3))
    with pytest.raises(ValueError, match="k_range"):
        sc.extreme_scenarios(year, k_range=(1, 3))
    short = attach_profiles(tiny, start="2016-06-01", periods=20, step="1h")
    with pytest.raises(ValueError, match="shorter than one day"):
        sc.extreme_scenarios(short)
    partial = attach_profiles(tiny, start="2016-06-01 06:00", periods=48, step="1h")
    with pytest.raises(ValueError, match="whole days starting at 00:00"):
        sc.daily_profiles(partial)
    with pytest.raises(ValueError, match="no time series"):
        sc.extreme_scenarios(tiny)


def test_daily_profiles_totals(year):
    prof = sc.daily_profiles(year)
    assert prof.columns.get_level_values("variable").unique().tolist() == [
        "load_p_mw", "pv_p_max_mw", "wind_p_max_mw"]  # fmt: skip
    ts = year.timeseries
    first = ts["load_p_mw"].iloc[:6].sum(axis=1).to_numpy()
    np.testing.assert_allclose(prof.loc["2016-01-01", "load_p_mw"].to_numpy(), first)
    assert prof["pv_p_max_mw"].to_numpy().max() <= 3.0 and prof.shape == (366, 18)


# ------------------------------------------------------------------------------- stresses
def test_scale_pv_changes_only_pv_by_factor(year):
    before = year.timeseries
    low = ss.scale_pv(year, 0.6, start="2016-06-01", duration="1D")
    after = low.timeseries
    pd.testing.assert_frame_equal(after["load_p_mw"], before["load_p_mw"])
    old, new = before["der_p_max_mw"], after["der_p_max_mw"]
    pd.testing.assert_series_equal(new[1], old[1])  # wind untouched
    day = (old.index >= "2016-06-01") & (old.index < "2016-06-02")
    np.testing.assert_allclose(new.loc[day, 0], 0.6 * old.loc[day, 0])
    np.testing.assert_array_equal(new.loc[~day, 0], old.loc[~day, 0])
    assert year.timeseries["der_p_max_mw"].equals(old)  # input not mutated
    high = ss.scale_pv(year, 1.4, cap=False)
    np.testing.assert_allclose(high.timeseries["der_p_max_mw"][0], 1.4 * old[0])
    capped = ss.scale_pv(year, 10.0)
    assert capped.timeseries["der_p_max_mw"][0].max() == 3.0
    n_over = int((10.0 * old[0] > 3.0).sum())
    assert capped.meta["stress"]["capped_values"] == n_over > 0


def test_pv_fluctuation_and_load_step(year):
    old = year.timeseries
    f = ss.pv_fluctuation(year, 0.4, seed=7).timeseries["der_p_max_mw"]
    ratio = (f[0] / old["der_p_max_mw"][0])[old["der_p_max_mw"][0] > 0]
    assert 0.6 <= ratio.min() < 0.7 and 1.3 < ratio.max() <= 1.4
    assert f.equals(ss.pv_fluctuation(year, 0.4, seed=7).timeseries["der_p_max_mw"])
    step = ss.load_step(year, 1.3, at="2016-07-01 12:00", duration="8h").timeseries
    p, p0 = step["load_p_mw"], old["load_p_mw"]
    hit = (p0.index >= "2016-07-01 12:00") & (p0.index < "2016-07-01 20:00")
    assert hit.sum() == 2
    np.testing.assert_allclose(p.loc[hit].to_numpy(), 1.3 * p0.loc[hit].to_numpy())
    np.testing.assert_array_equal(p.loc[~hit].to_numpy(), p0.loc[~hit].to_numpy())
    pd.testing.assert_frame_equal(step["der_p_max_mw"], old["der_p_max_mw"])
    with pytest.raises(KeyError, match="not a step"):
        ss.load_step(year, 1.3, at="2016-07-01 13:00")
    with pytest.raises(ValueError, match="PV factor"):
        ss.scale_pv(year, -0.4)


# --------------------------------------------------------------------------------- labels
def test_labels_on_known_ramps(tiny):
    # wind (MW) at 15 min: flat, a 20 MW hour, a 40 MW hour, flat
    wind = np.concatenate([np.full(8, 10.0), np.linspace(10, 30, 5)[1:], np.full(4, 30.0),
                           np.linspace(30, 70, 5)[1:], np.full(4, 70.0)])  # fmt: skip
    case = _series_case(tiny, wind)
    ramp = sl.wind_ramp(case)
    assert ramp.iloc[:4].isna().all()
    assert ramp.max() == pytest.approx(40.0) and ramp.iloc[11] == pytest.approx(20.0)
    index = pd.Series(10.0, index=case.timeseries.index)
    index.iloc[19] = 15.0  # one congested interval, also the steepest ramp
    index.iloc[5] = 13.0  # between the two thresholds: not normal, not congested
    lab = sl.label_intervals(case, congestion=index)
    # ramps: NaN×4, 0×4, 5 10 15 20, 15 10 5 0, 10 20 30 40, 30 20 10 0
    n, i = "normal", "intermediate"
    expected = ["no_ramp_history"] * 4 + [n, i, n, n] + [n, n, n, i] + [n] * 4
    expected += [n, i, i, "congestion", i, i, n, n]
    assert lab["label"].tolist() == expected
    assert lab["high_wind_volatility"].sum() == 1 and lab["normal"].sum() == 13
    assert lab.loc[lab.index[19], "label"] == "congestion"
    assert lab.loc[lab.index[19], "high_wind_volatility"]  # overlapping sets are kept
    days = sl.label_days(lab)
    assert days["label"].tolist() == ["congestion"]
    assert days["wind_ramp_1h_max_mw"].iloc[0] == pytest.approx(40.0)


def test_congestion_index_is_the_dcopf_lmp_spread(tiny):
    # a second, dear unit behind branch 1 (2–3, 20 MW): at 25 MW on bus 3 the line binds
    gens = {"gen_id": [0, 1], "bus": [1, 3], "p_max_mw": [60.0, 30.0],
            "cost_c1_usd_per_mwh": [20.0, 80.0]}  # fmt: skip
    two = Case("tiny2", tiny.buses, tiny.branches, gens, tiny.loads, ders=tiny.ders)
    index = pd.date_range("2016-03-01", periods=3, freq="15min")
    frames = {
        "load_p_mw": pd.DataFrame({10: 8.0, 11: [5.0, 25.0, 19.0]}, index=index),
        "der_p_max_mw": pd.DataFrame({0: 1.0, 1: 5.0}, index=index),
    }
    case = two.with_timeseries(TimeSeries(frames))
    ci = sl.congestion_index(case)
    lmp = solve(case.at(1), "dcopf").bus["lmp_usd_per_mwh"]
    assert ci.iloc[1] == pytest.approx(lmp.max() - lmp.min())
    # 25 − 1 MW PV > 20 MW: bus 3 pays the dear unit's 80, bus 1 the cheap unit's 20
    assert ci.tolist() == pytest.approx([0.0, 60.0, 0.0], abs=1e-4)  # 19 − 1 < 20: no binding


def test_label_errors(tiny):
    case = _series_case(tiny, np.zeros(8))
    with pytest.raises(ValueError, match="must share the index"):
        sl.label_intervals(case, congestion=pd.Series([1.0, 2.0]))
    with pytest.raises(ValueError, match="whole number"):
        sl.wind_ramp(case, window="20min")
