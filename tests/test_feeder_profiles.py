"""One profile path for the seed001 / seed002 feeders (issue 16): the case's day, its year pool
and an environment episode carry the same loads; the feeder total is an aggregate shape; the
×10 reading of seed001 holds the voltage band where the kW reading cannot."""

from __future__ import annotations

import numpy as np
import pytest

import dispatchlab as dl
from dispatchlab.cases.scenarios import select_days, year_pool
from dispatchlab.learning.envs import make_env

QUIET = {"load_noise": 0.0, "renewable_noise": 0.0}


@pytest.fixture(scope="module")
def case():
    return dl.load_case("ieee33-seed001")


@pytest.fixture(scope="module")
def pool(case):
    return year_pool(case)


def test_pool_day_equals_case_day_and_episode(case, pool) -> None:
    day = select_days(pool, ["2016-07-15"]).timeseries["load_p_mw"]
    own = case.timeseries["load_p_mw"]
    np.testing.assert_array_equal(day.to_numpy(), own.to_numpy())
    # the 2016-07-15: 0.53 MW in the pool but 2.65 MW in the env; now one size
    assert own.sum(axis=1).max() == pytest.approx(2.920, abs=1e-3)
    env = make_env("voltage-control", profiles={"days": ("2016-01-10", "2016-07-15"), **QUIET})
    for i, date in enumerate(("2016-01-10", "2016-07-15")):
        env.reset(seed=3, options={"day": date})
        want = select_days(pool, [date]).timeseries["load_p_mw"].to_numpy()
        np.testing.assert_allclose(env.core.load_p[0], want, rtol=0, atol=1e-12)
        by_index = env.core.load_p.copy()
        env.reset(seed=3, options={"day": i})
        np.testing.assert_array_equal(env.core.load_p, by_index)
    plain = make_env("voltage-control", profiles=QUIET)  # the case's own series
    plain.reset(seed=3)
    np.testing.assert_allclose(plain.core.load_p[0], own.to_numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"not one of the env's profile days \['2016-01-10'"):
        env.reset(options={"day": "2016-02-01"})


def test_feeder_total_is_an_aggregate_shape_at_annual_scale(case, pool) -> None:
    total = pool.timeseries["load_p_mw"].sum(axis=1)
    assert total.max() == pytest.approx(case.loads["p_mw"].sum(), rel=1e-12)  # 3.715 MW
    # one household profile on all 32 loads gave min / peak 0.014 (hourly 0.023)
    assert total.min() / total.max() == pytest.approx(0.295, abs=0.005)
    assert total.mean() / total.max() == pytest.approx(0.557, abs=0.005)


def test_kw_reading_violates_and_mw_reading_holds_the_band() -> None:
    """seed001's DistFlow optimum, AC-verified: at nominal load (the feeder's annual peak,
    3.715 MW) the kW reading leaves buses below 0.94 p.u.; the ×10 reading (MT 2 MW, PV / wind
    1 MW, SVC ±1 Mvar) holds the band over the case's 24 h."""
    kw = dl.solve(dl.load_case("ieee33-seed001"), "distflow", objective="seed001")
    mw_case = dl.load_case("ieee33-seed001-mw")
    mw = dl.solve(mw_case, "distflow", objective="seed001", periods=24)
    assert kw.info["ac_voltage_violations"] == 3
    assert kw.info["ac_vm_min_pu"] == pytest.approx(0.9353, abs=1e-3)
    assert mw.info["periods"] == 24 and mw.info["ac_voltage_violations"] == 0
    assert mw.info["ac_vm_min_pu"] == pytest.approx(0.9824, abs=1e-3)
    mt = mw_case.ders[mw_case.ders["kind"] == "microturbine"]
    assert mt[["p_max_mw", "s_max_mva", "ramp_mw_per_h"]].iloc[0].tolist() == [2.0, 2.5, 1.0]
    env = make_env("voltage-control", case="ieee33-seed001-mw")
    assert env.action_space("mt13").high.tolist() == [2.0, 1.5]
