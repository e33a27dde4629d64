"""The der-selection safety layer: pass, the one-pick repair against a brute-force enumeration of
every one-pick change, the reduced-cost descent, fall back, and a fallback that fails because no
selection of k DERs per zone is feasible."""

from __future__ import annotations

import numpy as np
import pytest

from dispatchlab.learning.envs import make_env
from dispatchlab.learning.safety import make_safety_layer
from dispatchlab.learning.safety.base import TOL, total
from dispatchlab.learning.safety.der_selection import DERSelectionSafetyLayer


@pytest.fixture(scope="module")
def env():
    # centroids at 4× their load: some random selections overload a line, the oracle's do not
    return make_env("der-selection", centroid_factor=4.0, market="dispatch")


def _scenario(env, seed: int) -> dict:
    """Reset to scenario ``seed`` and return the random selection drawn with that seed."""
    env.reset(seed=seed)
    for a in env.agents:
        env.action_space(a).seed(seed)
    return {a: env.action_space(a).sample() for a in env.agents}


def _changed(a: dict, b: dict) -> int:
    return sum(int((a[k] != b[k]).sum()) for k in a)


def test_feasible_selection_passes_unchanged(env) -> None:
    proposal = _scenario(env, 1)
    layer = make_safety_layer("der-selection", env)
    assert isinstance(layer, DERSelectionSafetyLayer)
    out, outcome = layer.filter(proposal)
    assert outcome == "ok" and out is proposal and layer.stats.passed == 1


def _one_pick_fixes(layer, env, proposal: dict) -> list[tuple[str, int, int]]:
    """Brute force: every selection one pick away that the env scores feasible."""
    fixes = []
    for a in env.agents:
        for slot in range(env.config.k):
            for i in range(len(env.zone_ders[a])):
                new = {b: p.copy() for b, p in proposal.items()}
                new[a][slot] = i
                if i != proposal[a][slot] and total(layer.verify(new)) <= TOL:
                    fixes.append((a, slot, i))
    return fixes


def test_one_pick_repair_is_among_the_brute_force_one_pick_fixes(env) -> None:
    proposal = _scenario(env, 2)
    layer = DERSelectionSafetyLayer(env)
    viol = layer.verify(proposal)
    assert viol["infeasible_selection"] == 1.0 and viol["line_flow_mw"] == pytest.approx(0.045)
    fixes = _one_pick_fixes(layer, env, proposal)
    assert fixes
    out, outcome = layer.filter(proposal)
    assert outcome == "repair" and _changed(out, proposal) == 1
    (a, slot) = next(
        (a, s) for a in out for s in range(env.config.k) if out[a][s] != proposal[a][s]
    )
    assert (a, slot, int(out[a][slot])) in fixes
    # the certificate's argument: every one-pick fix adds a DER of negative reduced cost
    lp, cols, h = layer.phase_one_lp()
    sol, _ = layer.certify(proposal, lp, cols, h)
    reduced = sol.col_dual[cols]
    assert sol.objective > 0.0
    assert all(reduced[env._zone_pos[a][i]] < 0.0 for a, _, i in fixes)


def test_two_pick_repair_when_no_one_pick_fix_exists(env) -> None:
    proposal = _scenario(env, 5)
    proposal["mg_3"] = np.array([14, 14, 14])  # one DER three times in two zones
    proposal["mg_4"] = np.array([41, 41, 23])
    layer = DERSelectionSafetyLayer(env)
    assert total(layer.verify(proposal)) > 1.0
    assert _one_pick_fixes(layer, env, proposal) == []
    out, outcome = layer.filter(proposal)
    assert outcome == "repair" and total(layer.verify(out)) <= TOL
    assert _changed(out, proposal) == 2  # the least possible, since no one-pick change is


def test_failed_repair_falls_back_to_the_oracle(env, monkeypatch) -> None:
    proposal = _scenario(env, 2)
    layer = DERSelectionSafetyLayer(env)
    monkeypatch.setattr(layer, "repair", lambda actions, violations: None)
    out, outcome = layer.filter(proposal)
    assert outcome == "fallback" and total(layer.verify(out)) <= TOL
    oracle = env.oracle().action
    assert all(np.array_equal(out[a], oracle[a]) for a in env.agents)
    assert (layer.stats.fallbacks, layer.stats.fallback_failed) == (1, 0)


def test_no_feasible_selection_is_a_counted_fallback_failure(env) -> None:
    """Scenario 0 overloads a line by more than any k-per-zone selection relieves: no one-pick
    fix, no descent move, and the oracle's selection violates too — delivered and counted."""
    proposal = _scenario(env, 0)
    layer = DERSelectionSafetyLayer(env)
    out, outcome = layer.filter(proposal)
    assert outcome == "fallback-failed"
    assert layer.verify(out)["line_flow_mw"] > 0.1
    s = layer.stats
    assert (s.decisions, s.fallbacks, s.fallback_failed, s.delivered_violations) == (1, 1, 1, 1)
