"""voltage-control-discrete (issue 17): the stress set makes holding fail and the exact optimum
hold; the continuous-SVG mode is a Box whose oracle is never worse than the discrete one; the
safety layer clips a continuous SVG and repairs the discrete part."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from gymnasium import spaces

from dispatchlab.learning.envs import make_env
from dispatchlab.learning.envs.voltage.stress import (
    STRESS_DAYS,
    day_qualification,
    hold_policy,
    oracle_policy,
    stress_config,
)
from dispatchlab.learning.safety.base import TOL
from dispatchlab.learning.safety.voltage_discrete import DiscreteVoltageSafetyLayer

DAY = "2016-03-28"  # midday over-voltage from the DGs, evening under-voltage at 1.3 × nominal


def _env(**options):
    return make_env("voltage-control-discrete", config=stress_config(**options))


def test_default_day_is_trivial_and_stress_days_are_not() -> None:
    default = make_env("voltage-control-discrete")
    assert day_qualification(default, hold_policy, 0) == (1.0, 1.0)
    env = _env()
    peaks = env.core.profiles.load_p_mw.sum(axis=2).max(axis=1) / 3.715
    np.testing.assert_allclose(peaks, list(STRESS_DAYS.values()), rtol=1e-12)
    held = np.array([day_qualification(env, hold_policy, d) for d in STRESS_DAYS])
    assert held[:, 0].mean() <= 0.90  # steps with every bus in [0.95, 1.05]
    assert held[:, 0].mean() == pytest.approx(0.880, abs=0.01)


def _hold_until(env, hour: int) -> None:
    env.reset(seed=0, options={"day": DAY})
    for _ in range(hour):
        env.step(hold_policy(env))


def test_oracle_holds_the_band_where_holding_fails() -> None:
    env = _env(dt_h=1.0)
    env.reset(seed=0, options={"day": DAY})
    failing = []
    for hour in range(24):
        hold = env.step(hold_policy(env))[4]["oltc"]["metrics"]["compliance_rate"]
        failing += [hour] if hold < 1.0 else []
    assert failing == [11, 12, 13]  # midday over-voltage from the DGs (hourly steps)
    for hour in failing[::2]:  # the oracle enumerates 17 875 positions per step
        _hold_until(env, hour)
        rate = env.step(env.oracle().action)[4]["oltc"]["metrics"]["compliance_rate"]
        assert rate == 1.0


def test_continuous_svg_is_a_box_and_its_oracle_beats_the_grid() -> None:
    cont, disc = _env(svg_mode="continuous", dt_h=1.0), _env(dt_h=1.0)
    box = cont.action_space("svg15")
    assert isinstance(box, spaces.Box) and (box.low[0], box.high[0]) == (-0.3, 0.3)
    assert isinstance(disc.action_space("svg15"), spaces.Discrete)
    gains = []
    for hour in (12, 15):
        _hold_until(cont, hour)
        _hold_until(disc, hour)
        a, b = cont.oracle(), disc.oracle()
        assert a.result.info["evaluated"] > 17_875 and b.result.info["evaluated"] == 17_875
        assert a.objective <= b.objective + 1e-12
        gains.append(b.objective - a.objective)
        qc = cont.step(a.action)[4]["svg15"]["metrics"]["compliance_rate"]
        qd = disc.step(b.action)[4]["svg15"]["metrics"]["compliance_rate"]
        assert qc >= qd
    assert max(gains) > 1e-4  # somewhere the best SVG output lies between two levels
    with pytest.raises(ValueError, match=r"action for 'svg15' must lie in \[-0.3, 0.3\]"):
        cont.step({**hold_policy(cont), "svg15": np.array([0.5])})


def test_safety_layer_clips_the_svg_and_repairs_the_taps() -> None:
    env = _env(svg_mode="continuous", dt_h=1.0)
    _hold_until(env, 12)  # 12:00: the DGs lift the lateral ends above 1.05 p.u.
    layer = DiscreteVoltageSafetyLayer(env, radius=6)
    bad = hold_policy(env) | {"svg15": np.array([2.0])}  # 2 Mvar > 0.3, injecting at 12:00
    assert layer.verify(bad)["voltage_band_pu"] == pytest.approx(0.1009, abs=1e-3)
    out, outcome = layer.filter(bad)
    assert outcome == "repair" and layer.verify(out)["voltage_band_pu"] <= TOL
    # the SVG clipped to its limit and held there; the OLTC moves 5 steps to ratio 1.025
    assert {a: np.ravel(v).tolist() for a, v in out.items()} == {
        "oltc": [10],
        "cb10": [0],
        "cb12": [0],
        "cb29": [0],
        "svg15": [0.3],
    }
    env.step(out)  # the env accepts the delivered action


def test_continuous_oracle_matches_a_scalar_search_per_position() -> None:
    from scipy.optimize import minimize_scalar

    env = _env(svg_mode="continuous", dt_h=1.0)
    _hold_until(env, 12)
    core, oracle = env.core, env.oracle()
    pos = np.array([oracle.action[a] for a in env.possible_agents[:-1]] + [0])

    def cost(p):
        return lambda q: float(core.evaluate_now(p, svg=np.array([q]))["cost"][0])

    best = minimize_scalar(cost(pos), bounds=(-0.3, 0.3), method="bounded", options={"xatol": 1e-7})
    assert best.fun - 1e-7 <= oracle.objective <= best.fun + 1e-12  # golden ≈ Brent's search
    assert oracle.action["svg15"][0] == pytest.approx(best.x, abs=1e-4)
    rng = np.random.default_rng(0)  # no other tap × capacitor position does better
    for _ in range(15):
        other = np.r_[[rng.integers(k) for k in core.n_options[:-1]], 0]
        assert minimize_scalar(cost(other), bounds=(-0.3, 0.3), method="bounded").fun >= (
            oracle.objective - 1e-9
        )


def test_reset_day_by_date_or_index_and_the_oracle_is_the_enumeration() -> None:
    env = _env(dt_h=1.0)
    env.reset(seed=4, options={"day": DAY})
    by_date = env.core.load_p.copy()
    env.reset(seed=4, options={"day": list(STRESS_DAYS).index(DAY)})
    np.testing.assert_array_equal(env.core.load_p, by_date)
    env.reset(seed=4, options={"day": 0})
    assert not np.allclose(env.core.load_p, by_date)
    _hold_until(env, 13)
    c = env.core
    grid = np.array(list(itertools.product(*(range(int(k)) for k in c.n_options))))
    brute = c.evaluate_now(grid)["cost"]
    oracle = env.oracle()
    assert oracle.objective == pytest.approx(brute.min(), abs=1e-12)
    assert [oracle.action[a] for a in env.possible_agents] == grid[brute.argmin()].tolist()


@pytest.mark.slow
def test_exact_optimum_qualifies_every_hour_of_the_stress_set() -> None:
    env = _env(svg_mode="continuous", dt_h=1.0)  # 6 days × 24 h, 1 375 positions + SVG search
    rates = np.array([day_qualification(env, oracle_policy, d) for d in STRESS_DAYS])
    assert rates[:, 0].mean() >= 0.99 and rates[:, 0].min() == 1.0
