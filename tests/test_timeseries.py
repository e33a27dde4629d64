"""Tests of dispatchlab.cases.timeseries: the SimBench extract, attach_profiles, forecasts."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dispatchlab.cases import Case
from dispatchlab.cases import timeseries as ts

LOADS = ["residential", "commercial", "industrial", "agricultural"]
RES = ["pv_1", "pv_2", "wind_1", "wind_2"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def case() -> Case:
    """3 buses, a REF generator, 2 loads, one PV and one wind DER."""
    buses = {"bus_id": [1, 2, 3], "bus_type": ["REF", "PQ", "PQ"], "base_kv": [20.0] * 3}
    branches = {"branch_id": [0, 1], "from_bus": [1, 2], "to_bus": [2, 3],
                "r_pu": [0.01, 0.01], "x_pu": [0.05, 0.05]}  # fmt: skip
    gens = {"gen_id": [0], "bus": [1], "p_max_mw": [50.0]}
    loads = {"load_id": [10, 11], "bus": [2, 3], "p_mw": [4.0, 2.5], "q_mvar": [1.0, 0.5]}
    ders = {"der_id": [0, 1], "bus": [3, 2], "kind": ["pv", "wind"], "p_max_mw": [3.0, 5.0]}
    return Case("tiny", buses, branches, gens, loads, ders=ders)


# ------------------------------------------------------------------------------ profiles
def test_list_and_lengths():
    names = ts.list_profiles()
    assert set(LOADS + RES + [f"{n}_q" for n in LOADS]) == set(names)
    year = ts.profile("residential")
    assert len(year) == 35_136  # 2016 is a leap year: 366 × 96
    assert year.index[0] == pd.Timestamp("2016-01-01 00:00")
    assert year.index[-1] == pd.Timestamp("2016-12-31 23:45")
    assert year.index.freq == pd.Timedelta("15min")
    assert len(ts.profile("wind_1", step="1h")) == 8_784
    assert len(ts.profile("pv_1", step="1D")) == 366


def test_normalisation():
    for name in LOADS:
        p = ts.profile(name).to_numpy()
        assert abs(p.max() - 1.0) < 1e-9 and p.min() > 0
        assert abs(np.abs(ts.profile(f"{name}_q").to_numpy()).max() - 1.0) < 1e-9
    for name in RES:  # per-unit of installed power, left as in SimBench
        v = ts.profile(name).to_numpy()
        assert v.min() > -1e-4 and 0.5 < v.max() <= 1.0
    assert 0.06 < ts.profile("pv_1").mean() < 0.09  # a German PV capacity factor
    assert ts.profile_info("wind_2")["column"] == "renewables/WP2"


def test_resampling():
    q = ts.profile("commercial").to_numpy()
    hourly = ts.profile("commercial", step="1h").to_numpy()
    np.testing.assert_allclose(hourly, q.reshape(-1, 4).mean(axis=1), rtol=0, atol=1e-12)
    window = ts.profile("commercial", start="2016-06-01 10:00", periods=3, step="30min")
    i = 152 * 96 + 40  # 1 June is day 152 (0-based) of 2016, 10:00 is quarter-hour 40
    np.testing.assert_allclose(window.to_numpy(), q[i : i + 6].reshape(3, 2).mean(axis=1))
    fine = ts.profile("commercial", start="2016-06-01 10:00", periods=4, step="5min")
    np.testing.assert_allclose(fine.to_numpy(), q[i] + (q[i + 1] - q[i]) * np.arange(4) / 3)
    aware = ts.profile("commercial", start=pd.Timestamp("2016-06-01 09:00", tz="UTC"), periods=1)
    assert aware.iloc[0] == pytest.approx(q[i])  # 09:00 UTC = 10:00 CET


def test_errors():
    with pytest.raises(KeyError, match=r"did you mean \['residential'"):
        ts.profile("residental")
    with pytest.raises(KeyError, match="available"):
        ts.profile("nuclear")
    with pytest.raises(ValueError, match="lie within"):
        ts.profile("pv_1", start="2016-12-31 12:00", periods=96)
    with pytest.raises(ValueError, match="lie within"):
        ts.profile("pv_1", start="2015-12-31")


# ----------------------------------------------------------------------- attach_profiles
def test_attach_profiles(case):
    out = ts.attach_profiles(case, start="2016-06-01", periods=96)
    series = out.timeseries
    assert set(series.keys()) == {"load_p_mw", "load_q_mvar", "der_p_max_mw"}
    p, q, der = series["load_p_mw"], series["load_q_mvar"], series["der_p_max_mw"]
    assert len(series) == 96 and series.index[0] == pd.Timestamp("2016-06-01")
    np.testing.assert_allclose(p.max().to_numpy(), [4.0, 2.5])  # p_mw is the window peak
    np.testing.assert_allclose((q / p).to_numpy(), [[0.25, 0.2]] * 96)  # constant pf
    shape = ts.profile("residential", start="2016-06-01", periods=96)
    np.testing.assert_allclose(p[10].to_numpy(), 4.0 * shape / shape.max())
    pv = ts.profile("pv_1", start="2016-06-01", periods=96).clip(0, 1)
    np.testing.assert_allclose(der[0].to_numpy(), 3.0 * pv.to_numpy())
    assert der[1].max() <= 5.0 and der[0].max() > 0.3  # wind within capacity, sunny June day
    snap = out.at(5)
    assert snap.loads.at[10, "p_mw"] == p[10].iloc[5]
    assert snap.loads.at[11, "q_mvar"] == q[11].iloc[5]
    assert snap.ders.at[1, "p_max_mw"] == der[1].iloc[5]
    assert snap.meta["time"] == "2016-06-01 01:15:00"


def test_attach_options(case):
    year = ts.attach_profiles(case, normalize="year", load_profile={11: "industrial"})
    p = year.timeseries["load_p_mw"]
    assert list(p.columns) == [11]  # load 10 keeps its constant value
    shape = ts.profile("industrial", start="2016-06-01", periods=96)
    np.testing.assert_allclose(p[11], 2.5 * shape)
    assert p[11].max() < 2.5
    qp = ts.attach_profiles(case, q_profile=True, pv_profile=None, wind_profile=None)
    q = qp.timeseries["load_q_mvar"]
    assert "der_p_max_mw" not in qp.timeseries
    np.testing.assert_allclose(q.abs().max().to_numpy(), [1.0, 0.5])
    assert not np.allclose(q[10] / qp.timeseries["load_p_mw"][10], 0.25)
    hourly = ts.attach_profiles(case, start="2016-01-02", periods=24, step="1h")
    assert hourly.timeseries.step == pd.Timedelta("1h")
    with pytest.raises(KeyError, match="unknown load id"):
        ts.attach_profiles(case, load_profile={99: "residential"})
    with pytest.raises(KeyError, match="did you mean"):
        ts.attach_profiles(case, pv_profile="pv1")


def test_attach_seeded(case):
    def run(seed):
        return ts.attach_profiles(case, seed=seed, jitter=0.05, max_shift="1h").timeseries

    a, b, c = run(1), run(1), run(2)
    for key in a.keys():
        pd.testing.assert_frame_equal(a[key], b[key])
    assert not np.allclose(a["load_p_mw"], c["load_p_mw"])
    assert not np.allclose(a["load_p_mw"][10], a["load_p_mw"][11] / 2.5 * 4.0)
    np.testing.assert_allclose(a["load_p_mw"].max().to_numpy(), [4.0, 2.5])  # still the peak
    assert (a["der_p_max_mw"] >= 0).all().all() and (a["der_p_max_mw"][0] <= 3.0).all()


# ------------------------------------------------------------------------------ forecasts
def test_forecast_errors_model():
    horizon, rho, sigma = 24, 0.9, 0.1
    actual = pd.DataFrame(100.0, index=pd.RangeIndex(horizon * 20_000), columns=["a"])
    f = ts.forecast_errors(actual, horizon_steps=horizon, sigma=sigma, rho=rho, seed=3)
    again = ts.forecast_errors(actual, horizon_steps=horizon, sigma=sigma, rho=rho, seed=3)
    pd.testing.assert_frame_equal(f, again)
    rel = ((f["a"] - 100.0) / 100.0).to_numpy().reshape(20_000, horizon)  # rows: issues
    std = rel.std(axis=0)
    expected = ts.lead_time_std(np.arange(1, horizon + 1), sigma, rho)
    np.testing.assert_allclose(std, expected, rtol=0.05)
    assert std[-1] == pytest.approx(sigma, rel=0.1) and std[0] < 0.5 * sigma
    lag1 = np.corrcoef(rel[:, 10], rel[:, 11])[0, 1]
    assert lag1 == pytest.approx(rho * expected[10] / expected[11], abs=0.02)
    other = ts.forecast_errors(actual, horizon_steps=horizon, sigma=sigma, rho=rho, seed=4)
    assert not np.allclose(f, other)


def test_forecast_errors_bounds():
    pv = ts.profile("pv_1", start="2016-06-01", periods=96).to_frame() * 3.0
    f = ts.forecast_errors(
        pv, horizon_steps=96, sigma={"pv_1": 0.3}, seed=0, relative_to="capacity", upper=3.0
    )
    assert (f.to_numpy() >= 0).all() and (f.to_numpy() <= 3.0).all()
    assert f.index.equals(pv.index) and not np.allclose(f, pv)
    with pytest.raises(KeyError, match="sigma"):
        ts.forecast_errors(pv, horizon_steps=4, sigma={"x": 0.1}, seed=0)


def test_forecast_error_samples():
    cov = pd.DataFrame([[1.0, 0.6], [0.6, 2.0]], index=["a", "b"], columns=["a", "b"])
    x = ts.forecast_error_samples(20_000, cov, seed=7)
    assert list(x.columns) == ["a", "b"] and x.shape == (20_000, 2)
    np.testing.assert_allclose(np.cov(x.to_numpy().T), cov.to_numpy(), atol=0.06)
    np.testing.assert_array_equal(
        ts.forecast_error_samples(5, cov.to_numpy(), seed=1),
        ts.forecast_error_samples(5, cov.to_numpy(), seed=1),
    )


def test_chronological_split():
    index = pd.date_range("2016-01-01", periods=100, freq="1h")
    train, val, test = ts.chronological_split(index)
    assert (len(train), len(val), len(test)) == (70, 15, 15)
    assert train[-1] < val[0] and val[-1] < test[0]
    assert train.append(val).append(test).equals(index)
    assert [len(p) for p in ts.chronological_split(index[:96])] == [67, 14, 15]
    with pytest.raises(ValueError, match="sum to 1"):
        ts.chronological_split(index, (0.5, 0.2))
    with pytest.raises(ValueError, match="sorted"):
        ts.chronological_split(index[::-1])


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("simbench") is None, reason="needs simbench")
def test_extract_matches_simbench():
    """The shipped extract is what tools/make_profile_extract.py makes from SimBench."""
    script = ROOT / "tools" / "make_profile_extract.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
