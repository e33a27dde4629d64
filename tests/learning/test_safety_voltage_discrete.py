"""The voltage-control-discrete safety layer: pass, the nearest feasible joint position against a
brute-force enumeration of all 17 875 positions, fall back beyond the radius, count a failed
fallback."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dispatchlab.learning.envs import make_env
from dispatchlab.learning.safety import make_safety_layer
from dispatchlab.learning.safety.base import TOL, total
from dispatchlab.learning.safety.voltage_discrete import DiscreteVoltageSafetyLayer, l1_ball


@pytest.fixture(scope="module")
def env():
    env = make_env("voltage-control-discrete")
    env.reset(seed=0)
    return env


@pytest.fixture(scope="module")
def brute(env):
    """Every joint position at the first step of seed 0, with its excursion and cost."""
    c = env.core
    grid = np.array(list(itertools.product(*(range(int(k)) for k in c.n_options))))
    out = c.evaluate_now(grid)
    return grid, out["voltage_band_pu"], out["cost"]


def _nearest(brute, pos):
    """Brute force: the feasible position with the least L1 change, then fewest devices
    moved, then least cost."""
    grid, band, cost = brute
    ok = band <= TOL
    d = np.abs(grid - pos)
    key = np.c_[d.sum(axis=1), (d > 0).sum(axis=1), cost][ok]
    best = np.lexsort(key.T[::-1])[0]
    return grid[ok][best], int(key[best, 0])


def test_l1_ball_counts_the_lattice_points() -> None:
    ball = l1_ball(5, 2)
    # |{d ∈ Z⁵ : Σ|d| ≤ 2}| = 1 + 2·5 + (2·5 + 4·10) = 61, in order of distance
    assert len(ball) == 61 and np.abs(ball).sum(axis=1).tolist() == sorted(
        np.abs(ball).sum(axis=1).tolist()
    )
    with pytest.raises(ValueError, match="radius must be ≥ 0"):
        l1_ball(3, -1)


def test_feasible_proposal_passes_unchanged(env) -> None:
    layer = make_safety_layer("voltage-control-discrete", env)
    assert isinstance(layer, DiscreteVoltageSafetyLayer)
    hold = layer.action(env.core.init_pos)
    out, outcome = layer.filter(hold)
    assert outcome == "ok" and out is hold and layer.verify(hold)["voltage_band_pu"] == 0.0


def test_repair_is_the_brute_force_nearest_feasible_position(env, brute) -> None:
    zeros = np.zeros(len(env.possible_agents), int)  # every device at its lowest position
    ref, dist = _nearest(brute, zeros)
    assert dist == 5  # the nearest feasible position is 5 steps away on this state
    layer = DiscreteVoltageSafetyLayer(env, radius=6)
    assert layer.verify(layer.action(zeros))["voltage_band_pu"] > 0.01
    out, outcome = layer.filter(layer.action(zeros))
    assert outcome == "repair"
    np.testing.assert_array_equal(layer.positions(out), ref)
    assert total(layer.verify(out)) <= TOL


def test_no_feasible_position_within_the_radius_falls_back_to_the_oracle(env, brute) -> None:
    zeros = np.zeros(len(env.possible_agents), int)
    layer = DiscreteVoltageSafetyLayer(env, radius=4)  # the nearest is 5 away: repair fails
    assert layer.nearest_feasible(zeros)[0] is None
    out, outcome = layer.filter(layer.action(zeros))
    assert outcome == "fallback" and out == env.oracle().action
    assert total(layer.verify(out)) <= TOL
    assert (layer.stats.fallbacks, layer.stats.fallback_failed) == (1, 0)


def test_a_failing_fallback_is_counted_not_hidden(env, monkeypatch) -> None:
    layer = DiscreteVoltageSafetyLayer(env, radius=2)
    bad = layer.action(np.zeros(len(env.possible_agents), int))
    monkeypatch.setattr(layer, "fallback", lambda: bad)
    out, outcome = layer.filter(bad)
    assert outcome == "fallback-failed" and out is bad
    s = layer.stats
    assert (s.decisions, s.fallbacks, s.fallback_failed, s.delivered_violations) == (1, 1, 1, 1)
