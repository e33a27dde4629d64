"""seed004 causal analysis: g-computation recovers a known ATE on a synthetic SCM, the placebo
vanishes, the sensitivity statistics match their closed forms, bad input is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dispatchlab.learning.methods.seed004.causal import (
    Contrast,
    adjustment_set,
    g_computation,
    leave_one_covariate_out,
    placebo,
    robustness_value,
)


def _synthetic(days: int = 30, seed: int = 0) -> pd.DataFrame:
    """hour → T, hour → Y, T → Y with Y = 3·T + 12·sin(2π h/24) + noise: the hour confounds
    (T is high when Y's baseline is high), the true effect of T on Y is 3 per unit."""
    rng = np.random.default_rng(seed)
    hour = np.tile(np.arange(0, 24, 0.5), days)
    day = np.repeat(np.arange(days), 48)
    season = np.sin(2 * np.pi * hour / 24)
    t = 10 + 2 * season + rng.normal(0, 2.0, len(hour))
    y = 3 * t + 12 * season + rng.normal(0, 1.0, len(hour))
    return pd.DataFrame({"day": day, "hour": hour, "t": t, "y": y})


def test_g_computation_recovers_a_known_ate():
    data = _synthetic()
    p50, p90 = np.percentile(data["t"], [50, 90])
    contrast = Contrast("t", lambda t: np.full_like(t, p90), lambda t: np.full_like(t, p50), "")
    truth = 3 * (p90 - p50)
    est = g_computation(data, contrast, "y", ["hour"], n_boot=50)
    assert est.covers(truth)
    assert est.ate == pytest.approx(truth, rel=0.1)
    # without the hour the estimate is confounded: far above the truth and outside its CI
    naive = g_computation(data, contrast, "y", [], n_boot=50)
    assert naive.ate > truth * 1.3 and not naive.covers(truth)
    # the placebo (T permuted within 4-h blocks) keeps the hour and loses the effect
    fake = placebo(data, contrast, "y", ["hour"], n_perm=10)
    assert abs(fake.ate) < 0.15 * truth
    # dropping the only confounder moves the estimate toward the naive one
    loco = leave_one_covariate_out(data, contrast, "y", ["hour"])
    assert loco["hour"] == pytest.approx(naive.ate, rel=1e-9)


def test_shift_contrast_on_units():
    data = _synthetic(seed=1)
    contrast = Contrast("t", lambda t: 1.1 * t, lambda t: t, "×1.1")
    units = data[data["day"] >= 25]
    est = g_computation(data, contrast, "y", ["hour"], units=units, n_boot=50)
    truth = 3 * 0.1 * units["t"].mean()
    assert est.covers(truth)


def test_robustness_value_matches_closed_form():
    data = _synthetic(seed=2)
    out = robustness_value(data, "t", "y", [])
    fit = stats.linregress(data["t"], data["y"])
    assert out["linear_coef"] == pytest.approx(fit.slope, rel=1e-9)
    assert out["t_stat"] == pytest.approx(fit.slope / fit.stderr, rel=1e-9)
    f2 = out["t_stat"] ** 2 / (len(data) - 2)
    assert out["robustness_value"] == pytest.approx(0.5 * (np.sqrt(f2**2 + 4 * f2) - f2))
    assert out["linear_coef"] > 3.5  # confounded by the hour
    # adjusted for the hour: the true 3, and a confounder would have to explain 97.5 % of the
    # residual variance of both T and Y to bring it to zero
    adjusted = robustness_value(data, "t", "y", ["hour"])
    assert adjusted["linear_coef"] == pytest.approx(3.0, abs=0.05)
    assert adjusted["robustness_value"] == pytest.approx(0.975, abs=0.005)


def test_adjustment_sets_of_the_scm():
    assert adjustment_set("wind_mw") == ["hour", "load_mw"]
    assert adjustment_set("load_mw") == ["hour", "wind_mw"]
    assert adjustment_set("line_stress_pct") == ["dispatch_mw", "hour", "load_mw", "wind_mw"]
    assert adjustment_set("dispatch_mw") == [
        "hour",
        "load_mw",
        "net_load_mw",
        "reserve_mw",
        "wind_mw",
    ]
    with pytest.raises(ValueError, match="'weather' is not a variable of the SCM"):
        adjustment_set("weather")


def test_constant_treatment_is_refused():
    data = _synthetic()
    data["t"] = 5.0
    contrast = Contrast("t", lambda t: t + 1, lambda t: t, "")
    with pytest.raises(ValueError, match=r"treatment column 't' is constant \(5.0\)"):
        g_computation(data, contrast, "y", ["hour"], n_boot=2)
    with pytest.raises(ValueError, match=r"no column\(s\) \['nope'\]"):
        g_computation(_synthetic(), contrast, "y", ["nope"], n_boot=2)


def test_interventions_change_what_they_name():
    from dispatchlab.cases.library import load_case
    from dispatchlab.learning.methods.seed004.causal_data import intervene

    case = load_case("ieee30-seed004")
    ts = case.timeseries
    loaded = intervene(case, "load").timeseries
    np.testing.assert_allclose(loaded["load_p_mw"].to_numpy(), 1.1 * ts["load_p_mw"].to_numpy())
    rated = intervene(case, "lines").branches["rate_a_mva"]
    np.testing.assert_allclose(rated.to_numpy(), 0.9 * case.branches["rate_a_mva"].to_numpy())
    windy = intervene(case, "wind", wind_mw=69.0).timeseries["der_p_max_mw"]
    # 58, 42 and 38 MW plants share 69 MW by capacity: 29, 21, 19 MW in every interval
    np.testing.assert_allclose(windy[[0, 1, 2]].to_numpy()[[0, 500]], [[29, 21, 19]] * 2)
    with pytest.raises(ValueError, match="unknown intervention 'weather'; use one of wind"):
        intervene(case, "weather")
    with pytest.raises(ValueError, match=r"do\(wind\) needs a level wind_mw ≥ 0, got None"):
        intervene(case, "wind")


def test_exact_dispatch_table_and_a_simulated_effect():
    from dispatchlab.cases.library import load_case
    from dispatchlab.learning.methods.seed004.causal_data import dispatch_table, simulate_effect

    case = load_case("ieee30-seed004")
    day = dispatch_table(case, [80])
    assert len(day) == 96 and set(day["congestion"].unique()) <= {0.0, 1.0}
    assert day["line_stress_pct"].max() <= 100.0 + 1e-6
    assert 30.0 < day["cost_usd_per_mwh"].mean() < 70.0  # fuel at 38–82 $/MWh, wind at 2
    np.testing.assert_allclose(day["net_load_mw"], day["load_mw"] - day["wind_mw"])
    diff = simulate_effect(case, [80], "load")
    assert diff["cost_usd_per_mwh"].mean() > 0.5  # 10 % more load climbs the merit order
