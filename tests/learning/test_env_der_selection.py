"""The DER-selection environment (seed003): zones, the reduced LP, oracle, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

import dispatchlab as dl
from dispatchlab.learning.envs import make_env
from dispatchlab.learning.envs.der_selection.env import DERSelectionEnv
from dispatchlab.learning.envs.der_selection.lp import electrical_distance


@pytest.fixture(scope="module")
def env():
    return make_env("der-selection")


def _random_selection(env, rng) -> dict:
    return {
        a: rng.choice(env.action_space(a).nvec[0], env.config.k, replace=False) for a in env.agents
    }


def test_parallel_api(env):
    from pettingzoo.test import parallel_api_test

    parallel_api_test(env, num_cycles=3)


def test_zones_are_connected_and_cover_every_der(env):
    _, adjacency = electrical_distance(env.case)
    labels = env.zone_of_bus
    assert sorted(set(labels.tolist())) == list(range(6))
    for z in range(6):
        members = np.flatnonzero(labels == z)
        assert connected_components(adjacency[members][:, members], directed=False)[0] == 1
    ders = np.concatenate(list(env.zone_ders.values()))
    assert sorted(ders.tolist()) == sorted(env.der_ids.tolist())
    assert len(env.der_ids) == 129  # a DER at every bus but the source
    assert min(len(v) for v in env.zone_ders.values()) >= 3


def test_centroids_scale_thirty_percent_of_load_buses(env):
    env.reset(seed=11)
    base = env.case.loads
    scen = env.scenario.loads
    load_buses = np.unique(base.loc[base["p_mw"] > 0, "bus"])
    assert len(env.centroids) == round(0.3 * len(load_buses))
    at = base["bus"].isin(env.centroids)
    np.testing.assert_allclose(scen.loc[at, "p_mw"], 1.5 * base.loc[at, "p_mw"])
    np.testing.assert_allclose(scen.loc[~at, "p_mw"], base.loc[~at, "p_mw"])


@pytest.fixture(scope="module")
def dispatch_env():
    return make_env("der-selection", market="dispatch")


def test_reward_and_lp_equal_solve_dlmp_on_selected_ders(dispatch_env):
    """The "dispatch" market: the selected DERs alone carry the load."""
    env = dispatch_env
    env.reset(seed=3)
    action = {a: np.arange(3) for a in env.agents}  # the first three DERs of every zone
    reward, info = env.evaluate(action)
    chosen = np.concatenate([env.zone_ders[a][:3] for a in env.agents])
    ders = env.scenario.ders
    ders["in_service"] = ders.index.isin(chosen) | (ders["kind"] != "dg")
    res = dl.solve(env.scenario.replace(ders=ders), "dlmp", iterations=2)
    m = info["metrics"]
    assert m["cost_usd_per_h"] == pytest.approx(res.objective, rel=1e-7)
    assert m["loss_mw"] == pytest.approx(res.info["loss_mw"], rel=1e-6)
    assert reward == pytest.approx(-res.objective / 100.0, rel=1e-7)
    # seed003 eq. 24 by hand: λ0·p0 + Σ c_k p_k over the selected DERs
    cost = env.scenario.ders["cost_usd_per_mwh"]
    by_hand = 50.0 * m["substation_p_mw"] + sum(cost[d] * p for d, p in info["dispatch_mw"].items())
    assert m["cost_usd_per_h"] == pytest.approx(by_hand, rel=1e-9)
    assert m["selected_ders"] == 18 and m["lp_variables"] == 19
    assert max(info["violations"].values()) < 1e-9


def test_oracle_beats_random_selections(env):
    env.reset(seed=5)
    best = env.oracle()
    reward, info = env.evaluate(best.action)
    assert reward == pytest.approx(best.info["reward"])
    assert max(info["violations"].values()) < 1e-9
    # the reduced LP over 18 DERs cannot beat the full LP over 129
    assert best.info["gap_usd_per_h"] >= -1e-6
    rng = np.random.default_rng(0)
    randoms = [env.evaluate(_random_selection(env, rng))[0] for _ in range(1000)]
    assert reward >= max(randoms)


def test_reproducible_and_case_untouched(env):
    before = env.case.case_hash()
    first = env.reset(seed=9)[0]
    r1 = env.evaluate({a: np.array([0, 1, 2]) for a in env.agents})[0]
    second = env.reset(seed=9)[0]
    r2 = env.evaluate({a: np.array([0, 1, 2]) for a in env.agents})[0]
    assert r1 == r2
    for a in env.possible_agents:
        np.testing.assert_array_equal(first[a], second[a])
    assert env.case.case_hash() == before


def test_bad_actions_raise_and_repeats_are_reported(env):
    env.reset(seed=1)
    good = {a: np.array([0, 1, 2]) for a in env.agents}
    n0 = env.action_space("mg_0").nvec[0]
    with pytest.raises(ValueError, match=rf"'mg_0' picks \[0, 1, {n0}\]: indices must be 0…"):
        env.evaluate({**good, "mg_0": np.array([0, 1, n0])})
    with pytest.raises(ValueError, match="'mg_1' must be 3 integers"):
        env.evaluate({**good, "mg_1": np.array([0, 1])})
    with pytest.raises(ValueError, match="'mg_1' must be 3 integers"):
        env.evaluate({**good, "mg_1": np.array([0.0, 1.0, 2.0])})
    with pytest.raises(KeyError, match="no action for agent"):
        env.evaluate({a: v for a, v in good.items() if a != "mg_2"})
    _, info = env.evaluate({**good, "mg_0": np.array([4, 4, 4])})
    assert info["repeated_picks"] == {"mg_0": 2}
    assert info["metrics"]["selected_ders"] == 16
    with pytest.raises(ValueError, match="carry no load"):
        env.reset(options={"centroids": [150]})


def test_infeasible_selection_is_reported():
    base = dl.load_case("ieee123-seed003")
    gens = base.gens
    gens["p_max_mw"] = 0.5  # a weak substation: 18 DERs × 0.1 MW + 0.5 MW < the feeder load
    env = DERSelectionEnv(case=base.replace(gens=gens), market="dispatch")
    env.reset(seed=0)
    reward, info = env.evaluate({a: np.array([0, 1, 2]) for a in env.agents})
    assert info["violations"]["infeasible_selection"] == 1.0
    assert reward == -10.0
    assert np.isnan(info["metrics"]["cost_usd_per_h"])
    full = env.oracle()  # all 129 DERs can still serve it
    assert np.isfinite(full.objective)


def test_vector_form_matches_single_scenarios():
    vec = make_env("der-selection", num_envs=3)
    obs, infos = vec.reset(seed=[4, 5, 6])
    assert all(o.shape[0] == 3 for o in obs.values())
    oracle = vec.oracle_actions()
    _, rew, term, _, vinfo = vec.step(oracle)
    assert vec.agents == []
    agent = vec.possible_agents[0]
    assert rew[agent].shape == (3,) and term[agent].all()
    for i, seed in enumerate((4, 5, 6)):
        single = make_env("der-selection")
        single_obs, info = single.reset(seed=seed)
        np.testing.assert_array_equal(single_obs[agent], obs[agent][i])
        assert info[agent]["centroid_buses"] == infos[i]["centroid_buses"]
        _, single_rew, *_ = single.step({a: oracle[a][i] for a in single.agents})
        assert single_rew[agent] == pytest.approx(rew[agent][i])
        assert vinfo[i]["violations"]["infeasible_selection"] == 0.0
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"must be \(3, k\) integers"):
        vec.step({a: np.zeros(2, int) for a in vec.agents})
    with pytest.raises(ValueError, match="got 2 seeds for 3 environments"):
        vec.reset(seed=[1, 2])


def test_congestion_peak_tie_is_ac_corrected_and_equals_the_full_lp():
    """seed003's congestion case at the tie's peak minute (1008, the paper's centroids): the
    tie 115 (135–35) held at its 0.367550 MW limit by the linearized LP carries 1.835 kW more
    in AC. ``env.drl_lp(..., ac=True)`` tightens its limit by that mismatch once: the AC flow
    is then within the limit and DRL-LP equals the full LP with the corrected limit."""
    env = make_env("der-selection", congestion=True)
    ((tie, (_peak, minute)),) = env.tie_peak.items()
    assert (tie, minute) == (115, 1008) and env.tie_limits_mw[tie] == pytest.approx(
        0.367550, abs=1e-6
    )
    env.reset(options={"centroids": [9, 24, 43, 58, 76, 109, 19], "minute": minute})
    sel = np.arange(18)
    plain = env.drl_lp(sel)
    assert plain.ac_check is None  # training's path: no AC power flow
    with pytest.warns(RuntimeWarning, match=r"branch 115: .* by 1.835 kW"):
        raw = env.drl_lp(sel, ac=True, ac_corrections=0)
    assert raw.ac_corrections["ac_violated"]
    out = env.drl_lp(sel, ac=True)
    corr = out.ac_corrections
    assert corr["n_corrections"] == 1 and not corr["ac_violated"]
    assert corr["rounds"][0]["branches"][0]["ac_flow_mw"] == pytest.approx(0.369385, abs=1e-6)
    assert out.ac_check["flow_violation_mw"] <= 1e-5 and out.ac_check["voltage_violation_pu"] == 0
    ref = dl.solve(
        env.scenario, "dlmp", iterations=env.config.iterations,
        flow_limits_mw={**env.tie_limits_mw, **corr["corrected_flow_limits_mw"]},
    )  # fmt: skip
    gap = abs(out.sol["objective"] - ref.objective) / abs(ref.objective)
    assert gap <= 1e-6 and out.sol["objective"] > plain.sol["objective"]
