"""The transmission-dispatch safety layer: pass, repair (against an independent cvxpy projection
written from the environment's arrays), fall back, count a failed fallback."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from dispatchlab.learning.envs import make_env
from dispatchlab.learning.envs.transmission.oracle import solve_interval
from dispatchlab.learning.safety import make_safety_layer
from dispatchlab.learning.safety.base import TOL, total
from dispatchlab.learning.safety.transmission import (
    BALANCE_TOL_MW,
    WEIGHTS,
    TransmissionSafetyLayer,
)


@pytest.fixture(scope="module")
def env():
    env = make_env("transmission-dispatch", split="test")
    env.reset(seed=0)
    return env


@pytest.fixture()
def layer(env):
    return make_safety_layer("transmission-dispatch", env)


def _random(env, seed=0):
    for i, a in enumerate(env.agents):
        env.action_space(a).seed(seed + i)
    return {a: env.action_space(a).sample().astype(float) for a in env.agents}


def test_the_oracle_action_passes_unchanged(layer, env) -> None:
    assert isinstance(layer, TransmissionSafetyLayer)
    best = env.oracle().action
    assert total(layer.verify(best)) <= TOL
    out, outcome = layer.filter(best)
    assert outcome == "ok" and out is best


def _reference(env, target: dict) -> tuple[float, np.ndarray]:
    """min Σ (x − x̂)² over seed004's interval constraints, written here from the env's arrays
    (balance, unit ramp windows and reserves, wind availability, storage power / SOC / reserve
    rooms, LSE ranges, interruptions only at LSE buses, reserve requirement, PTDF line limits),
    one QP per storage mode: (optimal distance, unit outputs)."""
    s, st = env.engine.sys, env.engine.state
    t, p_prev, soc = int(st.t[0]), st.p_prev[0], st.soc[0]
    lo = np.maximum(s.p_min, p_prev - s.ramp_dn)
    hi = np.minimum(s.p_max, p_prev + s.ramp_up)
    load, avail, dt = s.load_mw[t], s.wind_mw[t], s.dt_h
    G, W, S, F, L = len(lo), len(avail), len(soc), len(s.lse_ids), len(load)
    best = (np.inf, None)
    for discharging in (True, False):  # S = 1 on ieee30-seed004
        p, ru, rd = cp.Variable(G), cp.Variable(G, nonneg=True), cp.Variable(G, nonneg=True)
        w, lse, shed = cp.Variable(W, nonneg=True), cp.Variable(F), cp.Variable(L, nonneg=True)
        ch, dis = cp.Variable(S, nonneg=True), cp.Variable(S, nonneg=True)
        su, sd = cp.Variable(S, nonneg=True), cp.Variable(S, nonneg=True)
        net = dis - ch
        soc_next = soc - (dis / s.eta_d - cp.multiply(ch, s.eta_c)) * dt
        inj = (
            np.eye(s.n_bus)[:, s.gen_bus] @ p
            + np.eye(s.n_bus)[:, s.wind_bus] @ w
            + np.eye(s.n_bus)[:, s.sto_bus] @ net
            + np.eye(s.n_bus)[:, s.lse_bus] @ lse
            - np.eye(s.n_bus)[:, s.load_bus] @ (load - shed)
        )
        flow = s.ptdf @ inj + s.flow_shift
        at_lse = s.lse_loads.sum(axis=0) > 0
        cons = [
            cp.sum(inj) == 0,
            p >= lo, p + ru <= hi, p - rd >= lo,
            w <= avail, lse >= s.lse_p_min, lse <= s.lse_p_max,
            shed <= np.where(at_lse, np.minimum(load, target["load_shed_mw"] + 1e-9), 0.0),
            ch <= -s.sto_p_min, dis <= s.sto_p_max,
            soc_next >= s.sto_e_min, soc_next <= s.sto_e_max,
            su <= s.sto_p_max - net, su * dt / s.eta_d <= soc_next - s.sto_e_min,
            sd <= net - s.sto_p_min, cp.multiply(sd * dt, s.eta_c) <= s.sto_e_max - soc_next,
            cp.sum(ru) + cp.sum(su) >= s.reserve_up, cp.sum(rd) + cp.sum(sd) >= s.reserve_dn,
            cp.abs(flow) <= s.rate,
            (ch if discharging else dis) == 0,
        ]  # fmt: skip
        pairs = [
            (p, "gen_p_mw"), (ru, "gen_reserve_up_mw"), (rd, "gen_reserve_down_mw"),
            (w, "wind_p_mw"), (lse, "lse_p_mw"), (dis, "storage_discharge_mw"),
            (ch, "storage_charge_mw"), (su, "storage_reserve_up_mw"),
            (sd, "storage_reserve_down_mw"), (shed, "load_shed_mw"),
        ]  # fmt: skip
        obj = sum(WEIGHTS.get(k, 1.0) * cp.sum_squares(x - target[k]) for x, k in pairs)
        prob = cp.Problem(cp.Minimize(obj), cons)
        prob.solve(solver=cp.CLARABEL)
        if prob.status == "optimal" and prob.value < best[0]:
            best = (prob.value, p.value)
    return best


def test_random_proposal_is_projected_like_an_independent_qp(layer, env) -> None:
    proposal = _random(env)
    violations = layer.verify(proposal)
    assert violations["balance_mw"] > 5.0  # 8.7 MW the slack unit cannot take on test day 0
    assert total(violations) > 5.0
    target = layer.targets(proposal)
    qp, _ = layer.projection_model(proposal)
    sol = solve_interval(qp)
    # Σ w‖x̂‖², dropped by the QP
    const = sum(WEIGHTS.get(k, 1.0) * float(np.sum(v**2)) for k, v in target.items())
    dist_ref, p_ref = _reference(env, target)
    assert sol.objective + const == pytest.approx(dist_ref, rel=1e-5, abs=1e-6)
    out, outcome = layer.filter(proposal)
    assert outcome == "repair" and total(layer.verify(out)) <= TOL
    np.testing.assert_allclose(layer.targets(out)["gen_p_mw"], p_ref, atol=1e-4)
    # the projection is closer to the proposal than the oracle's (feasible) optimum
    oracle = layer.targets(layer.fallback())
    far = sum(WEIGHTS.get(k, 1.0) * float(np.sum((oracle[k] - target[k]) ** 2)) for k in target)
    assert dist_ref < far


def test_failed_repair_falls_back_to_the_oracle(layer, env, monkeypatch) -> None:
    monkeypatch.setattr(layer, "repair", lambda actions, violations: None)
    out, outcome = layer.filter(_random(env, 1))
    assert outcome == "fallback" and total(layer.verify(out)) <= TOL
    oracle = env.oracle().action
    for a in env.agents:  # the float64 oracle action; env.oracle() rounds it to float32
        np.testing.assert_allclose(out[a], oracle[a], atol=1e-6)
    assert (layer.stats.fallbacks, layer.stats.fallback_failed) == (1, 0)


def test_a_failing_fallback_is_counted_not_hidden(layer, env, monkeypatch) -> None:
    bad = _random(env, 2)
    monkeypatch.setattr(layer, "repair", lambda actions, violations: None)
    monkeypatch.setattr(layer.engine, "oracle", lambda b=0: (None, np.nan, None, {}))
    out, outcome = layer.filter(bad)  # the oracle "fails": the hold action, still violating
    assert outcome == "fallback-failed"
    assert all(np.all(v == 0.0) for v in out.values())
    s = layer.stats
    assert (s.fallbacks, s.fallback_failed, s.delivered_violations) == (1, 1, 1)


def test_a_mismatch_within_the_balance_tolerance_is_not_repaired() -> None:
    env = make_env("transmission-dispatch", split="test")
    env.reset(options={"day": 75})
    layer = make_safety_layer("transmission-dispatch", env)
    assert BALANCE_TOL_MW == 1e-3
    best = layer.fallback()
    ramp = env.engine.sys.ramp_up[1]  # unit 1 (not the slack) is 16 MW/interval
    results = {}
    for delta_mw in (1e-4, 1e-2):  # unit 1 scheduled delta_mw higher: the slack absorbs it
        proposal = {a: v.copy() for a, v in best.items()}
        proposal["gen_1"][0] += delta_mw / ramp
        raw = env.evaluate(proposal)[1]["violations"]
        assert raw["balance_mw"] == pytest.approx(delta_mw, rel=1e-5)
        assert total(raw) - raw["balance_mw"] <= TOL  # nothing else is violated
        results[delta_mw] = layer.filter(proposal)
    assert results[1e-4][1] == "ok"  # 0.1 kW: delivered as it is
    out, outcome = results[1e-2]  # 10 kW: repaired back to a balanced schedule
    assert outcome == "repair"
    assert env.evaluate(out)[1]["violations"]["balance_mw"] <= BALANCE_TOL_MW
