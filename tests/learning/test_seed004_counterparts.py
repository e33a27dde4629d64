"""seed004's interval-uncertainty OPF, DeepOPF MLP and LSTM forecast-then-dispatch counterparts
on test day 75 (the first of the test split)."""

from __future__ import annotations

import numpy as np
import pytest

from dispatchlab.learning.envs.transmission.env import TransmissionDispatchEnv
from dispatchlab.learning.methods.seed004 import counterparts as cp
from dispatchlab.learning.methods.seed004.compare import CompareConfig, oracle_policy, play_day


@pytest.fixture(scope="module")
def env():
    return TransmissionDispatchEnv(split="test")


@pytest.fixture(scope="module")
def oracle_day(env):
    return play_day(env, oracle_policy, 75)


def test_the_wind_interval_is_the_forecast_plus_minus_z_sigma_capacity(env) -> None:
    env.reset(options={"day": 75})
    eng = env.engine
    lo, hi = cp.wind_interval(eng)
    fc, cap = eng.forecast[75 * 96], eng.sys.wind_cap
    np.testing.assert_allclose(lo, np.clip(fc - 1.645 * 0.1 * cap, 0, cap))
    np.testing.assert_allclose(hi, np.clip(fc + 1.645 * 0.1 * cap, 0, cap))
    # the robust model: wind capped at lo, the down-reserve raised by the swing
    m, _ = cp.interval_model(eng, lo, float(np.sum(hi - lo)))
    assert "robust_reserve_down" in m.con_blocks
    row = m.con_blocks["robust_reserve_down"].start
    assert m.row_lb[row] == pytest.approx(eng.sys.reserve_dn + np.sum(hi - lo))


def test_interval_opf_costs_at_least_the_oracle_without_violations(env, oracle_day) -> None:
    row = play_day(env, cp.interval_opf_policy(), 75)
    # measured: oracle 145 726 $, interval OPF 145 884 $ (+0.11 %), 0.21 % curtailment
    assert oracle_day["cost_usd"] == pytest.approx(145_726, rel=1e-3)
    assert row["cost_usd"] == pytest.approx(145_884, rel=1e-3)
    assert row["cost_usd"] >= oracle_day["cost_usd"]
    assert row["violation_steps"] == 0


def test_deepopf_after_repair_delivers_no_violation(env) -> None:
    policy = cp.train_deepopf(None, days=2, seed=0, max_iter=100)
    assert policy.samples == 192 and policy.fit_mae < 0.2
    raw = play_day(env, policy, 75)
    safe = play_day(env, policy, 75, safety=True)
    assert raw["violation_steps"] > 48  # the MLP's own actions violate in most intervals
    assert safe["delivered_violations"] == 0 and safe["violation_steps"] == 0
    assert safe["repairs"] + safe["fallbacks"] == raw["violation_steps"]


def test_lstm_beats_persistence_and_dispatches_safely(env, oracle_day) -> None:
    policy = cp.train_lstm(None, epochs=30, seed=0)
    # measured on the 15 validation days: LSTM 0.53 MW, persistence 0.59 MW, the env's
    # 4-step-ahead forecast 1.92 MW (per plant and interval)
    assert policy.persistence_mae_mw == pytest.approx(0.5918, abs=1e-3)
    assert policy.mae_mw < policy.persistence_mae_mw
    row = play_day(env, policy, 75, safety=True)
    assert row["delivered_violations"] == 0 and row["violation_steps"] == 0
    # measured +2.0 % over the myopic oracle (the forecast error repaired every interval)
    assert oracle_day["cost_usd"] <= row["cost_usd"] <= 1.05 * oracle_day["cost_usd"]


def test_new_policies_are_valid_compare_names() -> None:
    cfg = CompareConfig(policies=("interval-opf", "deepopf", "deepopf-raw", "lstm-dispatch"))
    assert cfg.deepopf_days == 10
    with pytest.raises(ValueError, match=r"unknown policies.*qmx.*valid: .*qmix"):
        CompareConfig(policies=("qmx",))


def test_qmix_plays_grid_actions_through_a_discrete_view(env) -> None:
    from dispatchlab.learning.methods.seed004.qmix_grid import (
        GRID,
        DiscreteTransmissionEnv,
        to_box,
        train_qmix,
    )

    view = DiscreteTransmissionEnv(env)
    assert [view.action_space(a).n for a in ("gen_0", "wind_0", "storage_3", "lse_4")] == [
        7, 4, 5, 5
    ]  # fmt: skip
    np.testing.assert_array_equal(to_box({"gen_2": 6, "lse_5": 0})["gen_2"], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(to_box({"lse_5": 0})["lse_5"], [-1.0, -1.0])
    policy = train_qmix(None, steps=200, seed=0)
    env.reset(options={"day": 75})
    acts = policy(env, env.reset(options={"day": 75})[0])
    for a, v in acts.items():  # every action is a row of its kind's grid
        assert any(np.array_equal(v, row) for row in GRID[a.split("_")[0]])
    row = play_day(env, policy, 75)
    assert np.isfinite(row["cost_usd"]) and row["cost_usd"] > 145_726  # above the oracle
