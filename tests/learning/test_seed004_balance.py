"""seed004's balance completion (balance.py) on a real interval of ieee30-seed004: a proposal
with a known MW mismatch comes back balanced, every unit inside its one-interval window, the
shift spread in proportion to the room, curtailed wind released first, and a mismatch beyond
all room left for the safety layer."""

from __future__ import annotations

import numpy as np
import pytest

from dispatchlab.learning.envs.transmission.core import deliverable_window
from dispatchlab.learning.envs.transmission.env import TransmissionDispatchEnv
from dispatchlab.learning.envs.transmission.obs import marginal_cost
from dispatchlab.learning.methods.seed004.balance import (
    _merit,
    _spread,
    complete_balance,
    schedule_mismatch,
    split_actions,
)
from dispatchlab.learning.methods.seed004.config import Seed004Config


@pytest.fixture(scope="module")
def env():
    env = TransmissionDispatchEnv(split="test")
    env.reset(options={"day": 75})
    for _ in range(40):  # mid-morning: units away from their limits
        env.step(env.oracle().action)
    return env


def _padded(env, actions: dict) -> np.ndarray:
    names = env.possible_agents
    out = np.zeros((1, len(names), 3), np.float32)
    for i, n in enumerate(names):
        out[0, i, : len(actions[n])] = actions[n]
    return out


def _as_dict(env, a: np.ndarray) -> dict:
    return {n: a[0, i, : env.action_space(n).shape[0]].astype(float)
            for i, n in enumerate(env.possible_agents)}  # fmt: skip


def test_oracle_action_is_balanced_and_left_alone(env) -> None:
    a = _padded(env, env.oracle().action)
    eng = env.engine
    assert abs(schedule_mismatch(eng, split_actions(eng, a.astype(float)))[0]) < 1e-3
    np.testing.assert_allclose(complete_balance(eng, a), a, atol=1e-5)


@pytest.mark.parametrize("shift", [-0.3, 0.3])  # every unit ramps 30 % down / up
def test_known_mismatch_is_completed_within_the_windows(env, shift) -> None:
    eng, s = env.engine, env.engine.sys
    a = _padded(env, env.oracle().action)
    a[0, : len(s.gen_ids), 0] = np.clip(a[0, : len(s.gen_ids), 0] + shift, -1, 1)
    gap = schedule_mismatch(eng, split_actions(eng, a.astype(float)))[0]
    assert abs(gap) > 3.0  # several MW off, as the learned actors were
    done = complete_balance(eng, a, "proportional")
    assert done.dtype == np.float64  # float32 would round the balance off by ~1e-5 MW
    acts = split_actions(eng, done.astype(float))
    assert abs(schedule_mismatch(eng, acts)[0]) < 1e-3
    lo, hi = deliverable_window(s, eng.state.p_prev)
    p_before = eng.setpoints(split_actions(eng, a.astype(float)), eng.state).gen_p[0]
    p = eng.setpoints(acts, eng.state).gen_p[0]
    assert np.all(p >= lo[0] - 1e-4) and np.all(p <= hi[0] + 1e-4)
    # the shift is spread in proportion to each unit's room toward the moved side
    room = (hi[0] - p_before) if gap > 0 else (p_before - lo[0])
    moved = np.abs(p - p_before)
    use = room > 1e-6
    np.testing.assert_allclose(moved[use] / room[use], abs(gap) / room.sum(), rtol=1e-3)
    assert moved.sum() == pytest.approx(abs(gap), rel=1e-4)
    v = env.evaluate(_as_dict(env, done))[1]["violations"]
    assert v["balance_mw"] < 1e-6 and v["ramp_mw"] < 1e-6 and v["slack_capacity_mw"] < 1e-6
    # reserve shares and LSE actions are untouched
    np.testing.assert_array_equal(done[0, :, 1:], a[0, :, 1:])


def test_curtailed_wind_is_released_before_units_move(env) -> None:
    eng, s = env.engine, env.engine.sys
    G, W = len(s.gen_ids), len(s.wind_ids)
    a = _padded(env, env.oracle().action)
    avail = s.wind_mw[eng.state.t[0]]
    assert avail.sum() > 5.0
    a[0, G : G + W, 0] = 0.0  # deliver half the wind: a deficit of avail/2
    done = complete_balance(eng, a)
    np.testing.assert_allclose(done[0, G : G + W, 0], 1.0, atol=1e-5)  # all wind back
    np.testing.assert_allclose(done[0, :G, 0], a[0, :G, 0], atol=1e-5)  # units unchanged


def test_mismatch_beyond_all_room_is_left() -> None:
    room = np.array([[2.0, 0.0, 6.0], [2.0, 0.0, 6.0]])
    amount = np.array([4.0, 20.0])  # within and beyond the 8 MW of room
    np.testing.assert_allclose(_spread(amount, room), [[1.0, 0.0, 3.0], [2.0, 0.0, 6.0]])
    price = np.array([[30.0, 10.0, 20.0]] * 2)  # the third unit is the cheaper with room
    np.testing.assert_allclose(_merit(amount, room, price), [[0.0, 0.0, 4.0], [2.0, 0.0, 6.0]])


def test_storage_request_is_held_in_its_soc_band(env) -> None:
    eng, s = env.engine, env.engine.sys
    i = len(s.gen_ids) + len(s.wind_ids)
    a = _padded(env, env.oracle().action)
    room = (eng.state.soc[0] - s.sto_e_min) * s.eta_d / s.dt_h  # MW it can still discharge
    assert room[0] < 1e-3  # the oracle emptied it to e_min by interval 40 of day 75
    a[0, i, 0] = 1.0  # discharge at full power (20 MW): the band allows ~0
    assert env.evaluate(_as_dict(env, a))[1]["violations"]["soc_mwh"] == pytest.approx(5.0, 1e-3)
    done = complete_balance(eng, a)
    assert 0.0 <= done[0, i, 0] <= room[0] / s.sto_p_max[0] + 1e-7
    v = env.evaluate(_as_dict(env, done))[1]["violations"]
    assert v["soc_mwh"] < 1e-9 and v["balance_mw"] < 1e-6


def test_merit_rule_moves_the_cheapest_units_first(env) -> None:
    eng, s = env.engine, env.engine.sys
    G = len(s.gen_ids)
    a = _padded(env, env.oracle().action)
    a[0, :G, 0] = np.clip(a[0, :G, 0] - 0.3, -1, 1)  # a deficit
    acts = split_actions(eng, a.astype(float))
    gap = schedule_mismatch(eng, acts)[0]
    p0 = eng.setpoints(acts, eng.state).gen_p[0]
    _, hi = deliverable_window(s, eng.state.p_prev)
    done = complete_balance(eng, a, "merit")
    p = eng.setpoints(split_actions(eng, done.astype(float)), eng.state).gen_p[0]
    order = np.argsort(marginal_cost(s, p0, env.engine.config.carbon_price_usd_per_t))
    room = (hi[0] - p0)[order]
    want = np.clip(gap - (np.cumsum(room) - room), 0.0, room)  # fill the cheapest first
    np.testing.assert_allclose((p - p0)[order], want, atol=1e-4)
    assert 0 < np.count_nonzero(want > 1e-6) < G  # some units moved, the dearest did not
    assert abs(schedule_mismatch(eng, split_actions(eng, done.astype(float)))[0]) < 1e-3


def test_config_names_the_rules() -> None:
    assert Seed004Config().balance_completion == "merit"
    with pytest.raises(ValueError, match=r"balance_completion must be one of \('merit', "):
        Seed004Config(balance_completion="exact")


def test_interrupted_load_is_served_again_first(env) -> None:
    eng, s = env.engine, env.engine.sys
    f0 = len(s.gen_ids) + len(s.wind_ids) + len(s.sto_ids)
    a = _padded(env, env.oracle().action)
    a[0, f0:, 1] = -0.9  # interrupt 5 % of each LSE bus's load: VOLL, 10 000 $/MWh
    bus = (s.lse_loads * s.load_mw[eng.state.t[0]]).sum(1)
    gap = schedule_mismatch(eng, split_actions(eng, a.astype(float)))[0]
    assert gap == pytest.approx(-0.05 * bus.sum(), rel=1e-6)  # a surplus of what is cut
    done = complete_balance(eng, a)
    np.testing.assert_allclose(done[0, f0:, 1], -1.0, atol=1e-9)  # all of it served again
    np.testing.assert_allclose(done[0, :f0, 0], a[0, :f0, 0], atol=1e-6)  # nothing else moved
    r_cut = env.evaluate(_as_dict(env, a))[0]
    r_done = env.evaluate(_as_dict(env, done))[0]
    assert r_done > r_cut  # the same schedule, with the load served, scores better
