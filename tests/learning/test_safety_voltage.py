"""The voltage-control safety layer: pass, clip onto the device box, project (against an
independent SLSQP projection on the env's own power flow), fall back, and count a fallback that
fails."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from dispatchlab.learning.envs import make_env
from dispatchlab.learning.safety import SAFETY_LAYERS, make_safety_layer
from dispatchlab.learning.safety.base import TOL, total
from dispatchlab.learning.safety.voltage import VoltageSafetyLayer


@pytest.fixture()
def layer():
    # the case's first hour (annual-scale mixed loads, 1.37 MW) sits well inside the band; at
    # 1.8 × the load the feeder end can be pushed out of it
    env = make_env("voltage-control", profiles={"load_scale": 1.8})
    env.reset(seed=0)
    return make_safety_layer("voltage-control", env)


def _low_voltage(layer):
    """P at its lower window and Q at q_min on every agent: in the device box, but the feeder
    end drops below 0.95 p.u. at the first step of seed 0 (0.0486 p.u. summed)."""
    b = {k: v[0] for k, v in layer.core.bounds().items()}
    return layer.action(b["p_lo"], layer.core.q_min.copy())


def test_registered_and_a_feasible_proposal_passes_unchanged(layer) -> None:
    assert "voltage-control" in SAFETY_LAYERS and isinstance(layer, VoltageSafetyLayer)
    best = layer.env.oracle().action
    assert total(layer.verify(best)) <= TOL
    out, outcome = layer.filter(best)
    assert outcome == "ok" and out is best
    assert layer.stats.passed == 1 and layer.stats.repaired_share == 0.0


def test_box_violation_is_clipped_onto_the_box(layer) -> None:
    """Outside the device box only (band inactive), the projection is the box projection."""
    c = layer.core
    b = {k: v[0] for k, v in c.bounds().items()}
    p_req = b["p_hi"] + 0.05 * c.has_p  # 0.05 MW above each unit's window
    q_req = np.zeros(len(p_req))
    viol = layer.verify(layer.action(p_req, q_req))
    assert viol["voltage_band_pu"] == 0.0
    assert viol["p_bounds_mw"] + viol["ramp_mw"] == pytest.approx(0.05 * c.has_p.sum())
    out, outcome = layer.filter(layer.action(p_req, q_req))
    # the env's own projection, counted as a clip and not as a repair
    assert outcome == "clip"
    assert (layer.stats.clipped, layer.stats.repaired, layer.stats.fallbacks) == (1, 0, 0)
    assert layer.stats.repaired_share == 1.0
    p, q = layer.setpoints(out)
    np.testing.assert_allclose(p, b["p_hi"], atol=1e-6)
    np.testing.assert_allclose(q, 0.0, atol=1e-6)


def test_box_and_band_violation_is_repaired_not_clipped(layer) -> None:
    """Below the P window as well as below the band: clipping alone leaves the band violated,
    so the NLP projection repairs it."""
    proposal = _low_voltage(layer)
    p_req, q_req = layer.setpoints(proposal)
    p_req = p_req - 0.05 * layer.core.has_p
    viol = layer.verify(layer.action(p_req, q_req))
    assert viol["voltage_band_pu"] > 0.04 and viol["p_bounds_mw"] + viol["ramp_mw"] > 0.0
    out, outcome = layer.filter(layer.action(p_req, q_req))
    assert outcome == "repair" and total(layer.verify(out)) <= TOL
    assert (layer.stats.clipped, layer.stats.repaired) == (0, 1)


def _slsqp_projection(layer, p_hat, q_hat, x0):
    """min ‖(P, Q) − (P̂, Q̂)‖² over the box, S-limits and the band (tightened by the oracle's
    1e-6), with |V| from the environment's own radial power flow: independent of the NLP."""
    c, w = layer.core, layer.core.config.weights
    b = {k: v[0] for k, v in c.bounds().items()}
    a = len(p_hat)
    s_rows = np.flatnonzero(np.isfinite(c.s_max))  # an SVC has no S-limit (inf)

    def vm(x):
        return c.evaluate(x[None, :a], x[None, a:])[0].vm[0]

    cons = [
        {"type": "ineq", "fun": lambda x: vm(x) - (w.v_min_pu + 1e-6)},
        {"type": "ineq", "fun": lambda x: (w.v_max_pu - 1e-6) - vm(x)},
        {
            "type": "ineq",
            "fun": lambda x: c.s_max[s_rows] ** 2 - x[:a][s_rows] ** 2 - x[a:][s_rows] ** 2,
        },
    ]
    bounds = list(zip(np.r_[b["p_lo"], c.q_min], np.r_[b["p_hi"], c.q_max], strict=True))
    target = np.r_[p_hat, q_hat]
    res = minimize(
        lambda x: np.sum((x - target) ** 2),
        x0,
        jac=lambda x: 2 * (x - target),
        bounds=bounds,
        constraints=cons,
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 300},
    )
    assert res.success, res.message
    return res.x


def test_voltage_violation_is_projected_like_an_independent_slsqp(layer) -> None:
    proposal = _low_voltage(layer)
    assert layer.verify(proposal)["voltage_band_pu"] == pytest.approx(0.0486, abs=5e-4)
    out, outcome = layer.filter(proposal)
    assert outcome == "repair" and total(layer.verify(out)) <= TOL
    p_hat, q_hat = layer.setpoints(proposal)
    p, q = layer.setpoints(out)
    start = np.r_[layer.setpoints(layer.env.oracle().action)]
    ref = _slsqp_projection(layer, p_hat, q_hat, start)
    dist = np.sum((np.r_[p, q] - np.r_[p_hat, q_hat]) ** 2)
    dist_ref = np.sum((ref - np.r_[p_hat, q_hat]) ** 2)
    assert dist == pytest.approx(dist_ref, rel=1e-4, abs=1e-9)
    np.testing.assert_allclose(np.r_[p, q], ref, atol=2e-4)
    # the projection moves less than the oracle's optimum, another feasible point
    assert dist < np.sum((start - np.r_[p_hat, q_hat]) ** 2)


def test_failed_repair_falls_back_to_the_oracle(layer, monkeypatch) -> None:
    monkeypatch.setattr(layer, "repair", lambda actions, violations: None)
    out, outcome = layer.filter(_low_voltage(layer))
    assert outcome == "fallback" and total(layer.verify(out)) <= TOL
    np.testing.assert_allclose(
        np.concatenate(list(out.values())),
        np.concatenate(list(layer.env.oracle().action.values())),
    )
    assert (layer.stats.fallbacks, layer.stats.fallback_failed) == (1, 0)


def test_a_failing_fallback_is_counted_not_hidden(layer, monkeypatch) -> None:
    bad = _low_voltage(layer)
    monkeypatch.setattr(layer, "repair", lambda actions, violations: None)
    monkeypatch.setattr(layer, "fallback", lambda: bad)
    out, outcome = layer.filter(bad)
    assert outcome == "fallback-failed" and out is bad
    s = layer.stats
    assert (s.fallbacks, s.fallback_failed, s.delivered_violations) == (1, 1, 1)
