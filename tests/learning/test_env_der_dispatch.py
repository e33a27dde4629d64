"""der-dispatch (seed000): API, reward formula, exact prices, oracle, scaling, vector env."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dispatchlab as dl
from dispatchlab.learning.envs import make_env
from dispatchlab.learning.envs.der_dispatch.core import day_ahead_mw
from dispatchlab.learning.envs.der_dispatch.env import (
    OBS_FIELDS,
    DERDispatchEnv,
    PriceState,
    VectorDERDispatchEnv,
)
from dispatchlab.learning.envs.der_dispatch.prices import exact_lmps, price_network
from dispatchlab.learning.envs.der_dispatch.units import build_units


@pytest.fixture(scope="module")
def case():
    return dl.load_case("ieee33-seed000")


def _flat_price(values: dict[int, float], default: float):
    """A price model: ``default`` $/MWh at every bus, ``values`` at some (bus id -> price)."""

    def model(state: PriceState) -> np.ndarray:
        lmp = np.full((len(state.time_h), len(state.bus_ids)), default)
        for bus, price in values.items():
            lmp[:, np.flatnonzero(state.bus_ids == bus)] = price
        return lmp

    return model


def test_parallel_api(case):
    from pettingzoo.test import parallel_api_test

    env = DERDispatchEnv(case, horizon_h=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(env, num_cycles=6)
    env = DERDispatchEnv(case, horizon_h=0.5, action_mode="continuous")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(env, num_cycles=3)
    assert env.unit_kinds["pv_0"] == "pv" and env.unit_kinds["flex_2"] == "flexible_load"
    assert env.observation_layout["storage"] == OBS_FIELDS
    assert env.state().shape == env.state_space.shape
    assert make_env("der-dispatch", horizon_h=0.5).n_units == 12


def test_reward_is_eq2_minus_eq3_by_hand(case):
    # storage ESS6 starts at 0.15 MWh: band 0.12–1.08 MWh of 1.2 MWh (z 0.1–0.9), η = 0.95
    ders = case.ders
    ders.loc[ders["name"] == "ESS6", "e_init_mwh"] = 0.15
    edited = case.replace(ders=ders)
    env = DERDispatchEnv(
        edited,
        action_mode="continuous",
        price_model=_flat_price({6: 55.0}, 40.0),
        horizon_h=1.0,
    )
    obs = env.reset_arrays(seed=7)
    names = env.possible_agents
    s0, s1, f0 = names.index("storage_0"), names.index("storage_1"), names.index("flex_0")
    assert obs[s0, 0] == pytest.approx(0.125)  # z = 0.15 / 1.2
    assert obs[s0, 7] == pytest.approx(55.0 / 20.0)  # LMP / price_scale (the case's λ0 = 20)
    act = np.zeros(env.n_units)
    act[s0] = 1.0  # discharge at the top of the range: 0.3 MW
    act[s1] = 1.0
    act[f0] = -1.0  # flexible load consumes 0.1 MW more
    _, rew, _, info = env.step_arrays(act)
    # storage_0: 55 $/MWh · 0.3 MW · 0.25 h = 4.125 $; E' = 0.15 − 0.075/0.95 = 0.0710526 MWh,
    # 0.0489474 MWh under the band → eq. 3 penalty 1000 $/MWh · 0.0489474 = 48.9474 $
    assert rew[s0] == pytest.approx(4.125 - 48.947368, abs=1e-5)
    # storage_1 (bus 16, 40 $/MWh, starts at 0.6 MWh, stays in band): 40 · 0.3 · 0.25 = 3.0
    assert rew[s1] == pytest.approx(3.0)
    # flexible load: (40 − 30 bid) · (−0.1) · 0.25 = −0.25
    assert rew[f0] == pytest.approx(-0.25)
    assert info["violations"]["soc_mwh"] == pytest.approx(0.0489474, abs=1e-6)
    assert info["p_mw"][s0] == pytest.approx(0.3)


def test_pv_reward_and_metrics(case):
    env = DERDispatchEnv(case, price_model=_flat_price({}, 30.0), horizon_h=12.0)
    env.reset_arrays(seed=1)
    zeros = np.zeros(env.n_units, int)
    for _ in range(40):  # to 10:00, PV available
        obs, *_ = env.step_arrays(zeros)
    pv = [i for i, a in enumerate(env.possible_agents) if env.unit_kinds[a] == "pv"]
    avail = obs[pv, 3] * 0.25  # p_max_pu × rated 0.25 MW
    assert avail.sum() > 0.05
    act = zeros.copy()
    act[pv] = 4  # top level = all available PV
    act[pv[0]] = 0  # pv_0 curtails fully
    _, rew, _, info = env.step_arrays(act)
    np.testing.assert_allclose(rew[pv[1:]], 30.0 * avail[1:] * 0.25, rtol=1e-6)
    assert rew[pv[0]] == 0.0
    m = info["metrics"]
    assert m["pv_integration_rate"] == pytest.approx(avail[1:].sum() / avail.sum(), rel=1e-5)
    assert m["pv_curtailed_mw"] == pytest.approx(avail[0], rel=1e-5)
    assert m["reserve_cost_usd_per_h"] == pytest.approx(50.0 * m["net_power_deviation_mw"])
    dev = abs(m["substation_p_mw"] - m["day_ahead_substation_p_mw"])
    assert m["net_power_deviation_mw"] == pytest.approx(dev)


def test_exact_prices_equal_solve_dlmp(case):
    """The batched DLMP LP gives solve(case.at(t), "dlmp")'s prices (loss and voltage parts)."""
    units = build_units(case, None, (0.1, 0.9))
    for v_limits, t in ((None, 48), ((0.976, 1.05), 0)):
        pn = price_network(case, units, v_limits=v_limits)
        snap = case.at(t)
        pos = {b: i for i, b in enumerate(pn.net.bus_ids)}
        lp, lq, pv = (np.zeros((1, pn.net.n)) for _ in range(3))
        loads = snap.loads
        np.add.at(lp[0], [pos[b] for b in loads["bus"]], loads["p_mw"].to_numpy())
        np.add.at(lq[0], [pos[b] for b in loads["bus"]], loads["q_mvar"].to_numpy())
        d = snap.ders[snap.ders["kind"] == "pv"]
        np.add.at(pv[0], [pos[b] for b in d["bus"]], d["p_max_mw"].to_numpy())
        state = PriceState(np.zeros(1), pn.net.bus_ids, lp, lq, pv, 0 * lp, 1 + 0 * lp, 0 * lp)
        ours = exact_lmps(pn, state, np.array([20.0]))[0]
        kw = {} if v_limits is None else {"v_limits": v_limits}
        ref = dl.solve(snap, "dlmp", **kw).bus
        np.testing.assert_allclose(ours, ref["dlmp_usd_per_mwh"].to_numpy(), atol=1e-6)
        if v_limits is not None:  # the voltage limit binds: a real congestion price
            assert ref["dlmp_voltage_usd_per_mwh"].abs().max() > 20.0


def _score(env, actions: np.ndarray):
    """Sum reward and violation total of many candidate actions on the env's current state,
    with the env's own mapping, reward and batched AC power flow (nothing is stepped)."""
    core = env.core
    p = core.outputs(actions.astype(float))[0]
    rew, _, outside = core.rewards(p, rows=slice(0, 1))
    n = len(actions)
    flow = core.grid.power_flow(np.repeat(core.load_p, n, 0), np.repeat(core.load_q, n, 0), p)
    viol = sum(core.grid.violations(flow).values()) + outside.sum(axis=1)
    return rew.sum(axis=1), viol


@pytest.mark.parametrize("mode", ["discrete", "continuous"])
def test_oracle_beats_random_actions(case, mode):
    """At 00:00 no network limit binds: the oracle beats every one of 1 000 random actions;
    later (0.4–0.8 MW of load, storage draining) it beats every feasible one."""
    env = DERDispatchEnv(case, action_mode=mode, horizon_h=2.0)
    env.reset(seed=3)
    hash0 = case.case_hash()
    rng = np.random.default_rng(0)
    for k in range(3):
        oracle = env.oracle()
        if mode == "discrete":
            cand = rng.integers(0, env.config.n_levels, (1000, env.n_units))
        else:
            cand = rng.uniform(-1, 1, (1000, env.n_units))
        scores, viol = _score(env, cand)
        _, rew, _, _, infos = env.step(oracle.action)
        total = sum(rew.values())  # the env's reward for the oracle's action (its objective
        # is that same reward by construction, so it is compared with the candidates instead)
        info = infos["pv_0"]
        assert all(v == 0.0 for v in info["violations"].values()), info["violations"]
        if k == 0:
            assert total >= scores.max() - 1e-9
        else:
            assert (viol <= 1e-9).sum() > 50
            assert total >= scores[viol <= 1e-9].max() - 1e-9
    assert case.case_hash() == hash0


@pytest.mark.parametrize(
    ("v_limits", "binding"), [(None, "substation_mw"), ((0.9, 1.0), "voltage_pu")]
)
@pytest.mark.parametrize("mode", ["continuous", "discrete"])
def test_oracle_respects_binding_network_limit(case, v_limits, binding, mode):
    """At 45 $/MWh every unit wants to export, but the substation cannot take power back
    (p_min = 0) or, with a 1.0 p.u. cap, the far buses' voltage rises too high: the oracle
    stops at the limit (AC-checked) and still beats every feasible random action."""
    env = DERDispatchEnv(
        case,
        price_model=_flat_price({}, 45.0),
        action_mode=mode,
        horizon_h=1.0,
        v_limits=v_limits,
    )
    env.reset_arrays(seed=0)
    top = np.full((1, env.n_units), 1.0 if mode == "continuous" else 4)
    score_top, _ = _score(env, top)
    oracle = env.oracle()
    rng = np.random.default_rng(1)
    if mode == "continuous":
        cand = rng.uniform(-1, 1, (1000, env.n_units))
    else:
        cand = rng.integers(0, 5, (1000, env.n_units))
    scores, viol = _score(env, cand)
    feasible = viol <= 0.0
    assert feasible.sum() > 50
    _, rew, _, info = env.step_arrays(oracle.info["action_array"])
    assert sum(info["violations"].values()) == 0.0, info["violations"]
    assert rew.sum() >= scores[feasible].max() - 1e-9
    assert rew.sum() < score_top[0]  # the limit costs reward: it binds
    if binding == "substation_mw" and mode == "continuous":
        assert 0.0 <= info["metrics"]["substation_p_mw"] < 1e-3  # p_min = 0, small cushion
    if binding == "voltage_pu":
        assert 0.999 < env.core.vm[0].max() <= 1.0


def test_reproducible_by_seed(case):
    env = DERDispatchEnv(case, horizon_h=1.0, action_mode="continuous", seed=11)
    runs = []
    for _ in range(2):
        obs = [env.reset_arrays(seed=5)]
        rng = np.random.default_rng(2)
        for _ in range(4):
            o, r, _, _ = env.step_arrays(rng.uniform(-1, 1, env.n_units))
            obs.append(o)
            obs.append(r[None, :].astype(np.float32))
        runs.append(np.concatenate([x.ravel() for x in obs]))
    np.testing.assert_array_equal(runs[0], runs[1])
    other = DERDispatchEnv(case, horizon_h=1.0, action_mode="continuous").reset_arrays(seed=6)
    assert not np.array_equal(other, runs[0][: other.size].reshape(other.shape))
    # no seed: drawn from the env's seeded RNG, so two envs with seed=11 agree
    a = DERDispatchEnv(case, horizon_h=1.0, seed=11).reset_arrays()
    b = DERDispatchEnv(case, horizon_h=1.0, seed=11).reset_arrays()
    np.testing.assert_array_equal(a, b)


def test_case_not_mutated(case):
    h = case.case_hash()
    env = DERDispatchEnv(case, horizon_h=0.5, n_units=60)
    env.reset(seed=0)
    env.oracle()
    env.step_arrays(np.full(env.n_units, 2))
    assert case.case_hash() == h


def test_500_units_build_and_step(case):
    env = DERDispatchEnv(case, n_units=500, horizon_h=0.5)
    kinds = list(env.unit_kinds.values())
    assert (kinds.count("pv"), kinds.count("storage"), kinds.count("flexible_load")) == (
        250,
        125,
        125,
    )
    units = env.units
    totals = units.groupby("kind")[["p_min_mw", "p_max_mw", "e_max_mwh"]].sum()
    ref = case.ders.groupby("kind")[["p_min_mw", "p_max_mw", "e_max_mwh"]].sum()
    np.testing.assert_allclose(totals.loc[ref.index].to_numpy(), ref.to_numpy(), atol=1e-9)
    assert units["bus"].nunique() == 32  # spread over every non-slack bus
    obs = env.reset_arrays(seed=0)
    assert obs.shape == (500, 8) and obs.dtype == np.float32
    o, r, done, info = env.step_arrays(np.full(500, 2))
    assert o.shape == (500, 8) and r.shape == (500,) and not done
    assert np.isfinite(r).all() and info["violations"]["power_flow"] == 0.0


def test_vector_env_equals_single_env(case):
    vec = VectorDERDispatchEnv(3, case, horizon_h=1.0, action_mode="continuous")
    obs = vec.reset_arrays([4, 9, 4])
    singles = [DERDispatchEnv(case, horizon_h=1.0, action_mode="continuous") for _ in range(3)]
    for s, env in enumerate(singles):
        np.testing.assert_array_equal(obs[s], env.reset_arrays(seed=[4, 9, 4][s]))
    rng = np.random.default_rng(3)
    for _ in range(3):
        act = rng.uniform(-1.2, 1.2, (3, vec.n_units))
        o, r, _, info = vec.step_arrays(act)
        for s, env in enumerate(singles):
            o1, r1, _, i1 = env.step_arrays(act[s])
            np.testing.assert_allclose(o[s], o1, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(r[s], r1, rtol=1e-12, atol=1e-12)
            assert info["metrics"]["substation_p_mw"][s] == pytest.approx(
                i1["metrics"]["substation_p_mw"], abs=1e-8
            )
            assert info["clipped"][s] == i1["clipped"]
    assert not np.array_equal(o[0], o[1])
    oracle = vec.oracle_actions()
    assert oracle.shape == (3, vec.n_units)


def test_bad_actions_raise_clear_errors(case):
    env = DERDispatchEnv(case, horizon_h=0.5)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(12,\)"):
        env.step_arrays(np.zeros(11))
    bad = np.zeros(12)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="'pv_3' is not finite"):
        env.step_arrays(bad)
    bad[3] = 5
    with pytest.raises(ValueError, match="'pv_3' must be an integer level in 0…4"):
        env.step_arrays(bad)
    with pytest.raises(ValueError, match="missing"):
        env.step({"pv_0": 1})
    cont = DERDispatchEnv(case, horizon_h=0.5, action_mode="continuous")
    cont.reset(seed=0)
    act = np.zeros(12)
    act[6] = 1.5  # storage_0: clipped to 1 and reported
    _, _, _, info = cont.step_arrays(act)
    assert info["clipped"] == {"count": 1, "agents": ["storage_0"], "max_excess": 0.5}
    assert info["p_mw"][6] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="action_mode"):
        DERDispatchEnv(case, action_mode="fuzzy")
    with pytest.raises(ValueError, match="step_minutes"):
        DERDispatchEnv(case, step_minutes=0.1)


def test_price_model_hook_gets_interpolated_state_every_broadcast(case):
    """A custom price model (the GNN's slot) is called at each 5-min broadcast with the
    realized loads linearly interpolated between the 15-min points."""
    calls = []

    def model(state: PriceState) -> np.ndarray:
        calls.append(state)
        return np.full((1, len(state.bus_ids)), 25.0 + len(calls))

    env = DERDispatchEnv(case, step_minutes=2.5, horizon_h=0.5, price_model=model)
    obs = env.reset_arrays(seed=4)
    assert obs[0, 7] == pytest.approx(26.0 / 20.0)
    for _ in range(4):  # 0, 2.5, 5, 7.5 min: broadcasts at 0 and 5 min
        obs, *_ = env.step_arrays(np.zeros(env.n_units, int))
    assert [round(float(c.time_h[0]) * 60, 6) for c in calls] == [0.0, 5.0, 10.0]
    assert obs[0, 7] == pytest.approx(28.0 / 20.0)  # step 4 starts at 10 min: third broadcast
    realized = env.core.scenarios[0].load_p @ env.core.grid.load_to_bus.T  # (96, n_bus)
    np.testing.assert_allclose(calls[1].load_p_mw[0], realized[0] * 2 / 3 + realized[1] / 3)
    assert calls[1].vm_pu.shape == (1, 33) and calls[1].vm_pu.min() < 1.0  # last power flow
    bad = DERDispatchEnv(case, horizon_h=0.5, price_model=lambda s: np.zeros(5))
    with pytest.raises(ValueError, match=r"price_model returned shape \(5,\)"):
        bad.reset_arrays(seed=0)


def test_ancillary_bonus_and_oracle_agree(case):
    """ρ = 15 $/MWh of upward headroom kept by storage and flexible load."""
    env = DERDispatchEnv(
        case, price_model=_flat_price({}, 40.0), reserve_bonus_usd_per_mwh=15.0, horizon_h=0.5
    )
    env.reset_arrays(seed=2)
    f0 = env.possible_agents.index("flex_0")
    act = np.full(env.n_units, 2)  # middle level: storage and flex at 0 MW
    oracle = env.oracle()
    _, rew, _, _ = env.step_arrays(act)
    # flex at 0 MW: (40 − 30)·0·0.25 + 15·(0.1 − 0)·0.25 = 0.375 $
    assert rew[f0] == pytest.approx(0.375)
    env.reset_arrays(seed=2)
    _, rew, _, _ = env.step_arrays(oracle.info["action_array"])
    # the bonus (15) outweighs the energy margin (40 − 30): the oracle keeps the flexible load
    # at its lowest output, −0.1 MW: (40 − 30)·(−0.1)·0.25 + 15·0.2·0.25 = 0.5 $
    assert oracle.info["action_array"][f0] == 0 and rew[f0] == pytest.approx(0.5)


def test_price_helpers_for_learned_price_models(case):
    env = DERDispatchEnv(case, horizon_h=1.0)
    obs = env.reset_arrays(seed=5)
    state = env.price_state()
    lmp = env.exact_lmp(state)
    assert lmp.shape == (1, 33) and lmp.min() == pytest.approx(20.0) and lmp.max() < 23.0
    np.testing.assert_allclose(lmp[0], env.core.lmp_bus[0], atol=1e-9)  # the cached prices
    np.testing.assert_allclose(obs[:, 7], lmp[0][env.core.grid.unit_bus_pos] / 20.0, rtol=1e-6)


def test_realized_case_stresses_the_realized_days_not_the_forecast():
    from dispatchlab.cases.library import load_case
    from dispatchlab.cases.scenarios_stress import load_step
    from dispatchlab.learning.envs.der_dispatch.env import DERDispatchEnv

    case = load_case("ieee33-seed000")
    surge = load_step(case, 1.3, at=case.timeseries.index[48])
    normal = DERDispatchEnv(case, load_error_std=0.0, pv_error_std=0.0)
    stressed = DERDispatchEnv(case, realized_case=surge, load_error_std=0.0, pv_error_std=0.0)
    g0, g1 = normal.core.grid, stressed.core.grid
    np.testing.assert_array_equal(g0.fc_load_p, g1.fc_load_p)  # the forecast knows nothing
    real = g1.scenario(7).load_p
    np.testing.assert_allclose(real[:48], g0.fc_load_p[:48])
    np.testing.assert_allclose(real[48:], 1.3 * g0.fc_load_p[48:])
    np.testing.assert_allclose(day_ahead_mw(g1, 60), day_ahead_mw(g0, 60))  # same day-ahead plan
    with pytest.raises(ValueError, match="realized_case 'ieee33' needs a load_p_mw time series"):
        DERDispatchEnv(case, realized_case=load_case("ieee33"))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"error_rho": 1.0}, r"error_rho must be in \[0, 1\)"),
        ({"v_limits": (1.05, 0.95)}, "v_limits must be"),
        ({"soc_band": (0.9, 0.1)}, "soc_band must be"),
        ({"reserve_price_usd_per_mwh": -1.0}, "reserve_price_usd_per_mwh must be >= 0"),
    ],
)
def test_bad_options_are_named(option, message):
    from dispatchlab.learning.envs.der_dispatch.config import DERDispatchConfig

    with pytest.raises(ValueError, match=message):
        DERDispatchConfig(**option)
