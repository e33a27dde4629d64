"""voltage-control (seed001) and voltage-control-discrete (seed002) environments."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from dispatchlab import load_case
from dispatchlab.learning.envs import make_env
from dispatchlab.learning.envs.voltage.costs import CostWeights, step_costs
from dispatchlab.learning.envs.voltage.discrete import (
    DiscreteVoltageControlEnv,
    VectorDiscreteVoltageControlEnv,
    perception_state,
)
from dispatchlab.learning.envs.voltage.env import VectorVoltageControlEnv, VoltageControlEnv
from dispatchlab.learning.envs.voltage.pf import MatOp
from dispatchlab.solvers.powerflow import run_ac_powerflow


def _zeros(env) -> dict:
    return {a: np.zeros(env.action_space(a).shape) for a in env.possible_agents}


def _advance(env, steps: int) -> None:
    for _ in range(steps):
        env.step(_zeros(env))


# ----------------------------------------------------------------------------- API


def test_parallel_api_both():
    parallel_api_test(VoltageControlEnv(), num_cycles=30)
    parallel_api_test(DiscreteVoltageControlEnv(dt_h=1.0), num_cycles=30)
    parallel_api_test(DiscreteVoltageControlEnv(dt_h=1.0, observation="continuous"), 30)


def test_registry_builds_both_forms():
    env = make_env("voltage-control", seed=3)
    assert env.possible_agents[:2] == ["mt13", "mt21"] and len(env.possible_agents) == 11
    venv = make_env("voltage-control-discrete", num_envs=2)
    assert venv.possible_agents == ["oltc", "cb10", "cb12", "cb29", "svg15"]
    assert venv.action_space("oltc").n == 11 and venv.action_space("svg15").n == 13


# ------------------------------------------------------------------------ rewards


def test_step_costs_match_paper_formulas_by_hand():
    w = CostWeights()
    vm = np.array([[1.0, 0.97, 1.07]])
    mean_prev = np.array([[1.0, 0.96, 1.05]])
    region = MatOp(np.array([[1.0], [1.0], [0.0]]))  # one agent observing buses 1, 2
    c = step_costs(vm, np.array([0.02]), mean_prev, 3, 24, w, region)
    # loss 44·0.02; over-limit 1000·0.01/0.12; fluctuation 500/24·(2/3)·(0.01² + 0.02²);
    # in-band reward 5·(1 + (1 − 0.5²) + 0): 1.07 is outside the band and earns nothing
    assert c.loss[0] == pytest.approx(0.88)
    assert c.res[0] == pytest.approx(83.333333333)
    assert c.flu[0] == pytest.approx(500 / 24 * 2 / 3 * 0.0005)
    assert c.rew[0] == pytest.approx(8.75)
    assert c.total[0] == pytest.approx(0.88 + 83.333333333 + 0.0069444444 - 8.75)
    assert c.region[0, 0] == pytest.approx(500 / 24 * 2 / 3 * 0.0001)
    assert c.rewards()[0, 0] == pytest.approx(-(c.total[0] + 500 / 24 * 2 / 3 * 0.0001))


def test_env_rewards_and_episode_fluctuation_equal_paper():
    env = VoltageControlEnv()
    env.reset(seed=4)
    core, w = env.core, env.config.weights
    rng = np.random.default_rng(0)
    vms, flu = [], 0.0
    while env.agents:
        mean_prev, t = core.vm_mean.copy(), core.t + 1
        act = {a: env.action_space(a).sample() * rng.uniform() for a in env.agents}
        _, rewards, _, _, infos = env.step(act)
        loss_pu = infos["mt13"]["metrics"]["loss_mw"] / env.case.base_mva
        c = step_costs(core.vm, np.array([loss_pu]), mean_prev, t, 24, w, core.region_mask)
        assert [rewards[a] for a in env.possible_agents] == pytest.approx(c.rewards()[0], 1e-12)
        assert infos["mt13"]["metrics"]["cost"] == pytest.approx(c.total[0], 1e-12)
        vms.append(core.vm[0].copy())
        flu += c.flu[0]
    u = np.array(vms)
    paper = w.c_vol_flu * ((u - u.mean(axis=0)) ** 2).sum() / len(u)  # Σ_n (1/T) Σ_t (U − Ū)²
    assert len(u) == 24 and flu == pytest.approx(paper, rel=1e-10)


# ------------------------------------------------------------------------- oracles


def test_continuous_oracle_beats_random_actions_and_is_feasible():
    env = VoltageControlEnv()
    env.reset(seed=1)
    _advance(env, 9)  # 09:00: PV and wind available, the MT ramp window binds
    core = env.core
    oracle = env.oracle()
    rng = np.random.default_rng(7)
    lo = np.r_[core.p_min, core.q_min] - 0.05
    hi = np.r_[core.p_max, core.q_max] + 0.05
    best = np.inf
    for _ in range(1000):
        x = rng.uniform(lo, hi)
        p, q, _ = core.project(x[None, : len(lo) // 2], x[None, len(lo) // 2 :])
        best = min(best, float(core.evaluate(p, q)[1].total[0]))
    _, _, _, _, infos = env.step(oracle.action)
    info = infos["mt13"]
    assert oracle.result.info["ipopt_status"] == "Solve_Succeeded"
    assert info["metrics"]["cost"] == pytest.approx(oracle.objective, abs=1e-9)
    assert oracle.objective <= best
    assert info["violations"] == dict.fromkeys(info["violations"], 0.0)
    assert info["projection"] == {} and info["metrics"]["compliance_rate"] == 1.0


def test_discrete_oracle_is_exhaustive_optimum():
    env = DiscreteVoltageControlEnv()
    env.reset(seed=2)
    _advance_discrete(env, 70)  # 17:30, evening peak
    core = env.core
    oracle = env.oracle()
    assert oracle.info["evaluated"] == 11 * 5**3 * 13
    rng = np.random.default_rng(3)
    grid = np.stack([rng.integers(0, k, 1000) for k in core.n_options], axis=1)
    random_cost = core.evaluate(grid, core._loads(core.t))["cost"]
    _, rewards, _, _, infos = env.step(oracle.action)
    assert -rewards["oltc"] == pytest.approx(oracle.objective, abs=1e-9)  # batch vs single sweep
    assert oracle.objective <= random_cost.min()
    assert infos["oltc"]["violations"] == {"voltage_band_pu": 0.0}


def _advance_discrete(env, steps: int) -> None:
    for _ in range(steps):
        env.step(dict(zip(env.possible_agents, env.core.init_pos.tolist(), strict=True)))


# ------------------------------------------------------------ seeds, vector, the Case


def test_reproducible_by_seed_and_case_not_mutated():
    case = load_case("ieee33-seed001")
    before = case.case_hash()
    runs = []
    for seed in (5, 5, 6):
        env = VoltageControlEnv(case)
        env.reset(seed=seed)
        for i, a in enumerate(env.possible_agents):
            env.action_space(a).seed(i)
        rewards = [env.step({a: env.action_space(a).sample() for a in env.agents})[1]["mt13"]]
        runs.append((env.state().copy(), rewards))
    env.oracle()
    assert np.array_equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert not np.array_equal(runs[0][0], runs[2][0])
    assert case.case_hash() == before


def test_vector_equals_single_env():
    venv = VectorVoltageControlEnv(3)
    obs_v, _ = venv.reset(seed=10)
    rng = np.random.default_rng(1)
    singles = [VoltageControlEnv() for _ in range(3)]
    obs_s = [e.reset(seed=10 + i)[0] for i, e in enumerate(singles)]
    for _ in range(3):
        acts = {a: rng.uniform(-0.2, 0.2, (3, venv.action_space(a).shape[0])) for a in venv.agents}
        obs_v, rew_v, _, _, _ = venv.step(acts)
        for i, e in enumerate(singles):
            obs_s, rew_s, _, _, _ = e.step({a: x[i] for a, x in acts.items()})
            for a in venv.possible_agents:
                np.testing.assert_allclose(obs_v[a][i], obs_s[a], rtol=1e-6, atol=1e-7)
                assert rew_v[a][i] == pytest.approx(rew_s[a], rel=1e-9)
    dv = VectorDiscreteVoltageControlEnv(2, dt_h=1.0)
    dv.reset(seed=3)
    ds = DiscreteVoltageControlEnv(dt_h=1.0)
    ds.reset(seed=4)
    _, rv, _, _, _ = dv.step({a: np.array([1, 2]) for a in dv.possible_agents})
    _, rs, _, _, _ = ds.step(dict.fromkeys(ds.possible_agents, 2))
    assert rv["oltc"][1] == pytest.approx(rs["oltc"], rel=1e-9)


# --------------------------------------------------------------------- bad actions


def test_bad_actions_give_clear_errors_and_projection_is_reported():
    env = VoltageControlEnv()
    env.reset(seed=0)
    act = _zeros(env)
    with pytest.raises(KeyError, match="missing agent"):
        env.step({k: v for k, v in act.items() if k != "svc8"})
    with pytest.raises(ValueError, match="'mt13' must have shape"):
        env.step({**act, "mt13": np.zeros(3)})
    with pytest.raises(ValueError, match="'pv15' has a non-finite"):
        env.step({**act, "pv15": np.array([np.nan, 0.0])})
    _, _, _, _, infos = env.step({**act, "mt13": np.array([0.5, 0.0])})  # > p_max and ramp
    info = infos["mt13"]
    assert info["projection"]["mt13"]["requested"] == [0.5, 0.0]
    assert info["violations"]["p_bounds_mw"] == pytest.approx(0.3)
    assert info["violations"]["ramp_mw"] == pytest.approx(0.1)  # 0.2 clipped to 0 + 0.1 MW/h
    denv = DiscreteVoltageControlEnv(dt_h=1.0)
    denv.reset(seed=0)
    ok = dict.fromkeys(denv.possible_agents, 0)
    with pytest.raises(ValueError, match=r"'oltc' must lie in 0…10"):
        denv.step({**ok, "oltc": 11})
    with pytest.raises(ValueError, match="'cb10' must be an integer"):
        denv.step({**ok, "cb10": 1.5})
    with pytest.raises(KeyError, match="unknown agent"):
        denv.step({**ok, "tap": 1})
    with pytest.raises(TypeError, match="unknown option"):
        VoltageControlEnv(step_minutes=5)


def test_perception_states():
    x = np.array([0.94, 0.95, 0.969, 1.0, 1.029, 1.049, 1.05, 1.2])
    assert perception_state(x, 0.95, 1.05).tolist() == [0, 0, 1, 3, 4, 5, 6, 6]


# ------------------------------------------------------------- power flow vs pandapower


def test_power_flow_matches_pandapower_seed001():
    env = VoltageControlEnv()
    env.reset(seed=2)
    _advance(env, 11)
    rng = np.random.default_rng(0)
    env.step({a: rng.uniform(-1, 1, env.action_space(a).shape) * 0.1 for a in env.agents})
    core, t = env.core, env.core.t - 1
    loads, ders = env.case.loads, env.case.ders
    loads["p_mw"], loads["q_mvar"] = core.load_p[0, t], core.load_q[0, t]
    ders.loc[core.der_ids, "p_mw"], ders.loc[core.der_ids, "q_mvar"] = (
        core.p_prev[0],
        core.q_prev[0],
    )
    ref = run_ac_powerflow(env.case.replace(loads=loads, ders=ders, timeseries=None))
    np.testing.assert_allclose(core.vm[0], ref.bus["vm_pu"].to_numpy(), atol=1e-6)


def test_power_flow_matches_pandapower_seed002_with_tap_and_capacitors():
    env = DiscreteVoltageControlEnv(dt_h=1.0)
    env.reset(seed=1)
    _advance_discrete(env, 12)
    pos = {"oltc": 1, "cb10": 4, "cb12": 2, "cb29": 3, "svg15": 10}
    env.step(pos)
    core, t, case = env.core, env.core.t - 1, env.case
    loads, ders, br = case.loads, case.ders, case.branches
    loads["p_mw"], loads["q_mvar"] = core.load_p[0, t], core.load_q[0, t]
    ders.loc[core.dgs.index, "p_mw"] = core.dg_p[0, t]
    for name, k in pos.items():
        if name != "oltc":
            ders.loc[ders["name"].str.lower() == name, "q_mvar"] = core.options[
                core.agents.index(name)
            ][k]
    br.loc[core.flow.head_branch(), "tap_ratio"] = core.taps[pos["oltc"]]
    variant = case.replace(loads=loads, ders=ders, branches=br, timeseries=None)
    ref = run_ac_powerflow(variant)
    assert core.taps[1] == pytest.approx(0.98)
    np.testing.assert_allclose(core.last["vm"][0], ref.bus["vm_pu"].to_numpy(), atol=1e-6)
    assert core.last["loss_mw"][0] == pytest.approx(ref.loss_mw, abs=1e-7)
