"""Every environment takes the scenario day in ``reset(options=…)``, so every policy in a
comparison can play the same days (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

from dispatchlab.learning.envs import make_env


def test_der_dispatch_day_is_the_scenario_seed():
    env = make_env("der-dispatch", horizon_h=1.0)
    by_day, info = env.reset(seed=99, options={"day": 5})
    assert info["pv_0"]["scenario_seed"] == 5
    by_seed, _ = env.reset(seed=5)
    np.testing.assert_array_equal(by_day["pv_0"], by_seed["pv_0"])
    with pytest.raises(ValueError, match=r"reset\(options=\{'day': -1\}\): a non-negative"):
        env.reset(options={"day": -1})
    vec = make_env("der-dispatch", num_envs=2, horizon_h=1.0)
    obs = vec.reset(options={"days": [5, 6]})
    np.testing.assert_array_equal(obs[0], env.reset_arrays(5))


@pytest.mark.parametrize("name", ["voltage-control", "voltage-control-discrete"])
def test_voltage_envs_take_the_profile_day(name):
    env = make_env(name)
    a, _ = env.reset(seed=3, options={"day": 0})
    b, _ = env.reset(seed=3)
    agent = env.possible_agents[0]
    np.testing.assert_array_equal(a[agent], b[agent])  # the case has one day: day 0 = drawn
    with pytest.raises(ValueError, match=r"the day must be an integer in 0…0"):
        env.reset(options={"day": 1})
    vec = make_env(name, num_envs=2)
    with pytest.raises(ValueError, match="needs 2 entries, got 1"):
        vec.reset(options={"days": [0]})


def test_voltage_day_picks_among_several_profile_days():
    days = ("2016-01-10", "2016-07-10")
    env = make_env("voltage-control", profiles={"days": days})
    env.reset(seed=0, options={"day": 0})
    load_winter = env.core.load_p.copy()
    env.reset(seed=0, options={"day": 1})
    assert not np.allclose(env.core.load_p, load_winter)  # another base day
    env.reset(seed=0, options={"day": 0})
    np.testing.assert_array_equal(env.core.load_p, load_winter)  # same day, same seed


def test_der_selection_day_is_the_scenario_seed_and_unknown_keys_are_refused():
    env = make_env("der-selection")
    _, by_day = env.reset(seed=99, options={"day": 4})
    _, by_seed = env.reset(seed=4)
    _, other = env.reset(seed=99)
    agent = env.possible_agents[0]
    assert by_day[agent]["centroid_buses"] == by_seed[agent]["centroid_buses"]
    assert by_day[agent]["centroid_buses"] != other[agent]["centroid_buses"]
    with pytest.raises(ValueError, match=r"reset\(options=\{'day': -1\}\): a non-negative"):
        env.reset(options={"day": -1})
    with pytest.warns(UserWarning, match=r"reset options \['dya'\] ignored"):
        env.reset(options={"dya": 4})
    vec = make_env("der-selection", num_envs=2)
    _, infos = vec.reset(options={"days": [4, 99]})
    assert infos[0]["centroid_buses"] == by_seed[agent]["centroid_buses"]
    assert infos[1]["centroid_buses"] == other[agent]["centroid_buses"]


@pytest.mark.parametrize(
    "name",
    ["der-dispatch", "transmission-dispatch", "voltage-control", "voltage-control-discrete"],
)
def test_a_misspelt_reset_option_is_named_in_a_warning(name):
    env = make_env(name)
    with pytest.warns(UserWarning, match=r"reset options \['dya'\] ignored; .* takes day"):
        env.reset(seed=0, options={"dya": 3})
