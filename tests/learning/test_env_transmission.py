"""The transmission-dispatch environment (seed004): API, reward formula, oracle, flows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import dispatchlab as dl
from dispatchlab.learning.envs import make_env
from dispatchlab.learning.envs.transmission.env import (
    TransmissionDispatchEnv,
    VectorTransmissionDispatchEnv,
)
from dispatchlab.solvers.network import dc_network

DAY = 64  # a validation-split weekday (days 60–74): 2016-05-04, 210 MW at noon


@pytest.fixture(scope="module")
def env():
    return TransmissionDispatchEnv(split="validation")


def _idle(env, gen_reserve: float = -1.0):
    """Units hold their output, wind at full output, storage idle, no DR, no interruption."""
    out = {}
    for a in env.agents:
        kind = a.split("_")[0]
        out[a] = {
            "gen": np.array([0.0, gen_reserve, gen_reserve]),
            "wind": np.array([1.0]),
            "storage": np.array([0.0, -1.0]),
            "lse": np.array([-1.0, -1.0]),  # p_min = 0: no reduction
        }[kind]
    return out


def test_parallel_api(env):
    from pettingzoo.test import parallel_api_test

    parallel_api_test(env, num_cycles=100)


def test_spaces_split_and_state_layout(env):
    obs, _ = env.reset(seed=0)
    assert env.days.tolist() == list(range(60, 75))
    assert len(env.possible_agents) == 13
    assert all(18 <= o.shape[0] <= 32 for o in obs.values())
    assert env.state().shape == (119,)
    assert env.action_space("gen_0").shape == (3,)
    assert env.action_space("storage_3").shape == (2,)
    assert env.action_space("lse_4").shape == (2,)
    assert make_env("transmission-dispatch", split="test").days.tolist() == list(range(75, 90))


def test_reward_equals_eq4_on_hand_built_state(env):
    env.reset(options={"day": DAY})
    eng = env.engine
    s, st = eng.sys, eng.state
    st.t = st.t + 48  # noon
    t = int(st.t[0])
    load, wind = s.load_mw[t], s.wind_mw[t]
    # hand-built outputs: the slack unit (0, bus 1) at 40 MW, the others leaving it 60 MW
    frac = (load.sum() - 60.0 - s.p_min[1:].sum()) / (s.p_max[1:] - s.p_min[1:]).sum()
    st.p_prev = np.r_[40.0, s.p_min[1:] + frac * (s.p_max[1:] - s.p_min[1:])][None, :]
    act = _idle(env)
    act.update({a: np.array([-1.0]) for a in env.agents if a.startswith("wind")})  # spill all
    reward, info = env.evaluate(act)
    p = st.p_prev[0].copy()
    p[0] = 60.0  # the slack takes the 20 MW mismatch: 4 MW beyond its 16 MW ramp
    cost = ((s.c2 * p**2 + s.c1 * p) * 0.25).sum() + 25.0 * (s.co2 * p * 0.25).sum()
    cost += 20.0 * wind.sum() * 0.25  # curtailment price × spilled MWh
    inj = np.zeros(30)
    np.add.at(inj, s.gen_bus, p)
    np.add.at(inj, s.load_bus, -load)
    flow = dc_network(eng.case).flows_pu(inj / 100.0) * 100.0
    over = np.maximum(np.abs(flow) - s.rate, 0.0).sum()
    shortfall = 15.0 + 10.0  # nobody offers reserve
    expected = -cost / 1000.0 - 18.0 * over - 10.0 * shortfall - 10.0 * 4.0 - 10.0 * 20.0
    v = info["violations"]
    assert 0.0 <= frac <= 1.0
    assert reward == pytest.approx(expected, rel=1e-9)
    assert v["reserve_shortfall_mw"] == pytest.approx(25.0)
    assert v["balance_mw"] == pytest.approx(20.0)
    assert v["ramp_mw"] == pytest.approx(4.0)
    assert v["line_overload_mw"] == pytest.approx(over)
    m = info["metrics"]
    assert m["total_cost_usd"] == pytest.approx(cost)
    assert m["curtailment_rate"] == pytest.approx(1.0)
    assert m["ramp_violation_rate"] == pytest.approx(1 / 6)
    assert m["carbon_intensity_t_per_mwh"] == pytest.approx((s.co2 * p).sum() / load.sum())


def test_oracle_beats_random_actions_with_zero_violations(env):
    env.reset(options={"day": DAY})
    for _ in range(40):  # 10:00, when load is up and the reserve matters
        env.step(env.oracle().action)
    best = env.oracle()
    reward, info = env.evaluate(best.action)
    assert max(info["violations"].values()) < 1e-5
    assert info["metrics"]["total_cost_usd"] == pytest.approx(best.objective, rel=1e-6)
    rng = np.random.default_rng(0)
    randoms = [
        env.evaluate({a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.agents})[0]
        for _ in range(1000)
    ]
    assert reward >= max(randoms)
    assert max(randoms) < reward - 1.0  # the random ones pay penalties
    # penalties < 1e-3, so the reward is the cost: ≈ 44 $/MWh of fuel, carbon and wind O&M
    # (2 070 $ at 10:00 for 186 MW; the wind covers part of it)
    cost = info["metrics"]["total_cost_usd"]
    assert reward == pytest.approx(-cost / 1000.0, abs=1e-3)
    mwh = env.engine.sys.load_mw[int(env.engine.state.t[0])].sum() * 0.25
    assert 40.0 < cost / mwh < 60.0


def test_oracle_flows_equal_dcopf_flows(env):
    env.reset(options={"day": DAY})
    env.step(env.oracle().action)
    best = env.oracle()
    eng = env.engine
    t = int(eng.state.t[0])
    _, out, _ = eng.evaluate(_stack(env, best.action))
    # the oracle's dispatch fixed in a snapshot of the case; solve's DC-OPF must give its flows
    snap = eng.case.at(t)
    gens = snap.gens
    gens["p_min_mw"] = out["gen_p"][0]
    gens["p_max_mw"] = out["gen_p"][0]
    gens.loc[eng.sys.gen_ids[eng.sys.slack], ["p_min_mw", "p_max_mw"]] = [0.0, 200.0]
    ders = snap.ders
    fixed = np.r_[out["wind_p"][0], out["sto_p"][0], out["lse_p"][0]]
    ids = np.r_[eng.sys.wind_ids, eng.sys.sto_ids, eng.sys.lse_ids]
    ders.loc[ids, "kind"] = "flexible_load"
    ders.loc[ids, ["p_min_mw", "p_max_mw"]] = np.c_[fixed, fixed]
    loads = snap.loads
    loads["p_mw"] = out["served"][0]
    res = dl.solve(
        snap.replace(gens=gens, ders=ders, loads=loads),
        "dcopf",
        reserves=False,
        line_limits=False,
        allow_shedding=False,
    )
    assert str(res.status) == "optimal"
    flows = pd.Series(out["flow"][0], index=eng.sys.branch_ids)
    np.testing.assert_allclose(flows.to_numpy(), res.branch["p_mw"].reindex(flows.index), atol=1e-6)
    assert res.gen["p_mw"].iloc[eng.sys.slack] == pytest.approx(out["gen_p"][0, 0], abs=1e-6)


def _stack(env, action: dict) -> dict:
    from dispatchlab.learning.envs.transmission.env import _gather

    return _gather(env.engine, action, env.agents, None)[0]


def test_reproducible_and_case_untouched(env):
    before = env.engine.case.case_hash()
    runs = []
    for _ in range(2):
        env.reset(seed=7)
        rng = np.random.default_rng(1)
        rewards = []
        for _ in range(5):
            act = {a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.agents}
            _obs, rew, *_ = env.step(act)
            rewards.append(rew["gen_0"])
        runs.append((rewards, env.state().copy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert env.engine.case.case_hash() == before


def test_bad_actions_raise_or_are_reported(env):
    env.reset(options={"day": DAY})
    act = _idle(env)
    with pytest.raises(KeyError, match="no action for agent 'gen_0'"):
        env.step({k: v for k, v in act.items() if k != "gen_0"})
    with pytest.raises(ValueError, match=r"'wind_0' must have shape \(1,\)"):
        env.step({**act, "wind_0": np.array([1.0, 0.0])})
    with pytest.raises(ValueError, match="'lse_4' has a non-finite entry"):
        env.step({**act, "lse_4": np.array([np.nan, 0.0])})
    with pytest.raises(KeyError, match="unknown or finished agent"):
        env.step({**act, "gen_99": np.zeros(3)})
    _, info = env.evaluate({**act, "storage_3": np.array([1.5, 0.0])})
    assert info["clipped_actions"] == {"storage_3": pytest.approx(0.5)}
    with pytest.raises(ValueError, match="not in the 'validation' split"):
        env.reset(options={"day": 3})
    with pytest.raises(TypeError, match="unknown option"):
        TransmissionDispatchEnv(splitt="test")


def test_vector_env_matches_single_env(env):
    days = [60, 66, 74]
    vec = VectorTransmissionDispatchEnv(3, split="validation")
    vec.reset(options={"days": days})
    rng = np.random.default_rng(2)
    acts = [{a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.possible_agents}]
    acts += [{a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.possible_agents}]
    single = []
    for day in days:
        env.reset(options={"day": day})
        single.append([env.step(a)[1]["gen_0"] for a in acts])
    for k, a in enumerate(acts):
        batch = {name: np.tile(v, (3, 1)) for name, v in a.items()}
        _, rew, *_, info = vec.step(batch)
        np.testing.assert_allclose(rew["gen_0"], [s[k] for s in single], rtol=1e-12)
    assert vec.state().shape == (3, 119)
    assert set(info["metrics"]) >= {"cost_usd", "curtailment_rate", "overload_rate"}


def test_a_fractional_day_is_refused(env):
    with pytest.raises(ValueError, match="the day must be an integer"):
        env.reset(options={"day": 3.7})


def test_random_steps_never_book_negative_output_or_emissions():
    # Random actions over a whole day often over-generate at night (the slack unit would go
    # below its p_min): the surplus is spilled from wind, the rest dumped and reported, never
    # booked as negative output that earns fuel cost and CO2 back.
    env = TransmissionDispatchEnv(split="validation")
    env.reset(seed=3, options={"day": DAY})
    s, rng = env.engine.sys, np.random.default_rng(7)
    over_steps = 0
    for _ in range(96):
        act = {a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.agents}
        _, out, _ = env.engine.evaluate(_stack(env, act))
        _, _, _, _, info = env.step(act)
        m, v = info["gen_0"]["metrics"], info["gen_0"]["violations"]
        assert (out["gen_p"][0] >= s.p_min - 1e-9).all()
        assert m["emissions_t"] >= 0.0 and m["carbon_cost_usd"] >= 0.0
        assert m["overgeneration_mwh"] == pytest.approx(v["slack_capacity_mw"] * s.dt_h)
        if m["overgeneration_mwh"] > 1e-6:
            over_steps += 1
            assert out["gen_p"][0][s.slack] == pytest.approx(s.p_min[s.slack])
    assert over_steps > 0  # the case the fix is about did occur
