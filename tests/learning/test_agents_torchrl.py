"""The TorchRL-backed baseline agents learn, round-trip through a checkpoint and are seeded.

Learning is shown on two small PettingZoo-style parallel envs defined here (no safety layer
anywhere): ``Match`` (discrete: each agent must name the context it observes; heterogeneous
widths 3/2 so padding and masking are exercised) and ``Track`` (continuous: each agent must
hit the set-point it observes inside its own box, 2-d and 1-d actions).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch
from gymnasium import spaces

from dispatchlab.learning.agents.torchrl_common import (
    AgentSpaces,
    TrainConfig,
    policy_callable,
    sample_observations,
    train,
)
from dispatchlab.learning.agents.torchrl_offpolicy import (
    ContinuousAgent,
    DQNAgent,
    OffPolicyConfig,
)
from dispatchlab.learning.agents.torchrl_onpolicy import OnPolicyAgent, OnPolicyConfig
from dispatchlab.learning.checkpoint import load_checkpoint, save_checkpoint
from dispatchlab.learning.evaluate import EvaluationConfig, evaluate, summarize

torch.set_num_threads(1)


class _Toy:
    """A minimal PettingZoo parallel env: 8 steps, shared reward, seeded contexts."""

    horizon = 8

    def __init__(self):
        self.agents: list[str] = []
        self._rng = np.random.default_rng(0)

    def observation_space(self, agent):
        return self._obs[agent]

    def action_space(self, agent):
        return self._act[agent]

    def reset(self, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents, self.t = list(self.possible_agents), 0
        self._draw()
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions):
        r = float(self._reward(actions))
        self.t += 1
        trunc = self.t >= self.horizon
        self._draw()
        obs = self._observe()
        rewards = dict.fromkeys(self.possible_agents, r)
        terms = dict.fromkeys(self.possible_agents, False)
        truncs = dict.fromkeys(self.possible_agents, trunc)
        infos = {a: {"metrics": {"score": r}} for a in self.possible_agents}
        if trunc:
            self.agents = []
        return obs, rewards, terms, truncs, infos


class Match(_Toy):
    """Agent ``a`` sees a one-hot of 3 contexts, ``b`` of 2; reward = share of agents right."""

    possible_agents = ("a", "b")
    sizes: ClassVar[dict] = {"a": 3, "b": 2}

    def __init__(self):
        super().__init__()
        self._obs = {a: spaces.Box(0, 1, (n,), np.float32) for a, n in self.sizes.items()}
        self._act = {a: spaces.Discrete(n) for a, n in self.sizes.items()}

    def _draw(self):
        self.ctx = {a: int(self._rng.integers(n)) for a, n in self.sizes.items()}

    def _observe(self):
        return {a: np.eye(n, dtype=np.float32)[self.ctx[a]] for a, n in self.sizes.items()}

    def _reward(self, actions):
        return np.mean([int(actions[a]) == self.ctx[a] for a in self.possible_agents])

    def state(self):
        return np.concatenate(list(self._observe().values()))


class Track(_Toy):
    """Agent ``a`` (2-d box [0, 2]×[0, 4]) and ``b`` (1-d box [−1, 1]) must hit the set-point
    they observe; reward = −mean squared miss in units of each box's width."""

    possible_agents = ("a", "b")
    low: ClassVar[dict] = {"a": np.array([0.0, 0.0]), "b": np.array([-1.0])}
    high: ClassVar[dict] = {"a": np.array([2.0, 4.0]), "b": np.array([1.0])}

    def __init__(self):
        super().__init__()
        self._obs = {
            a: spaces.Box(-np.inf, np.inf, (len(lo) + 1,), np.float32) for a, lo in self.low.items()
        }
        self._act = {a: spaces.Box(self.low[a], self.high[a]) for a in self.possible_agents}

    def _draw(self):
        self.target = {a: self._rng.uniform(self.low[a], self.high[a]) for a in self.low}

    def _observe(self):
        return {a: np.r_[self.target[a], 1.0].astype(np.float32) for a in self.low}

    def _reward(self, actions):
        miss = [
            np.mean(((np.asarray(actions[a]) - self.target[a]) / (self.high[a] - self.low[a])) ** 2)
            for a in self.possible_agents
        ]
        return -float(np.mean(miss))


def _score(env, policy, episodes: int = 10) -> float:
    """Mean shared reward per step over ``episodes`` fixed test episodes (seeds 500 …)."""
    steps = evaluate(env, policy, EvaluationConfig(episodes, seed=500, progress=False))
    return float(summarize(steps)["score_mean"].iloc[0])


def _fit(env, agent, steps: int, seed: int = 0):
    agent.scaler.fit(sample_observations(env, agent.spaces, 64, seed=seed))
    return train(env, agent, TrainConfig(env_steps=steps, seed=seed))


QUICK = {"hidden": (32, 32), "lr": 3e-3, "gamma": 0.5, "learning_starts": 64, "batch_size": 32}


def test_match_random_baseline_is_what_chance_gives():
    # a right with p 1/3, b with p 1/2 → 5/12 = 0.417 on average
    assert _score(Match(), "random", episodes=40) == pytest.approx(5 / 12, abs=0.05)


def test_dqn_learns_match_without_any_safety_layer():
    env = Match()
    agent = DQNAgent(AgentSpaces.from_env(env), OffPolicyConfig(**QUICK, eps_decay_steps=150))
    _fit(env, agent, 300)
    assert _score(env, policy_callable(agent, "dqn")) >= 0.95  # random: 0.417


def _qmix(env, seed: int = 0, **options):
    from dispatchlab.learning.agents.torchrl_common import sample_states
    from dispatchlab.learning.agents.torchrl_qmix import QMIXAgent

    env.reset(seed=0)
    agent = QMIXAgent(
        AgentSpaces.from_env(env), OffPolicyConfig(**options), len(env.state()), seed=seed
    )
    agent.fit_state_scale(sample_states(env, 64, seed=seed))
    return agent


def test_qmix_learns_match_from_the_team_reward():
    env = Match()
    agent = _qmix(env, **QUICK, eps_decay_steps=150)
    _fit(env, agent, 300)
    assert _score(env, policy_callable(agent, "qmix")) >= 0.95  # random: 0.417


def test_qmix_runs_on_voltage_control_discrete_and_round_trips(tmp_path):
    from dispatchlab.learning.envs import make_env

    env = make_env("voltage-control-discrete")
    agent = _qmix(env, hidden=(16,), learning_starts=16, batch_size=8)
    history = _fit(env, agent, 40)
    assert len(history["loss"]) == 40 - 16 + 1 and np.isfinite(history["loss"]).all()
    path = save_checkpoint(tmp_path / "qmix.npz", "qmix", agent.config, agent.state_dict())
    clone = _qmix(env, seed=3, hidden=(16,), learning_starts=16, batch_size=8)
    clone.load_state_dict(load_checkpoint(path)[1])
    assert _first_actions(clone, env) == _first_actions(agent, env)
    assert torch.equal(clone.state_scaler.std, agent.state_scaler.std)


@pytest.mark.parametrize(("algo", "frames", "minibatch"), [("ppo", 64, 32), ("a2c", 16, 16)])
def test_onpolicy_learns_match(algo, frames, minibatch):
    env = Match()
    cfg = OnPolicyConfig(
        algo=algo, hidden=(32,), lr=1e-2, frames_per_batch=frames, minibatch_size=minibatch
    )
    agent = OnPolicyAgent(AgentSpaces.from_env(env), cfg)
    _fit(env, agent, 1_280)
    assert _score(env, policy_callable(agent, algo)) >= 0.9  # random: 0.417


@pytest.mark.parametrize(("algo", "centralized"), [("ddpg", True), ("td3", False), ("sac", True)])
def test_continuous_offpolicy_learns_track(algo, centralized):
    env = Track()
    random = _score(env, "random")
    quick = {**QUICK, "hidden": (32,)}
    cfg = OffPolicyConfig(**quick, algo=algo, centralized_critic=centralized, tau=0.05)
    agent = ContinuousAgent(AgentSpaces.from_env(env), cfg)
    _fit(env, agent, 400)
    learned = _score(env, policy_callable(agent, algo))
    assert random == pytest.approx(-1 / 6, abs=0.03)  # E(u − t)² for u, t ~ U(0, 1)
    assert learned > -0.04  # a quarter of random's miss or better (ddpg −0.004, td3 −0.024)


def _in_boxes(env, actions) -> bool:
    return all(env.action_space(a).contains(np.asarray(v, np.float64)) for a, v in actions.items())


@pytest.mark.parametrize("joint", [False, True])
def test_the_loop_runs_on_voltage_control(joint):
    from dispatchlab.learning.envs import make_env

    env = make_env("voltage-control")
    s = AgentSpaces.from_env(env, joint=joint)
    assert (s.n_agents, s.act_dim) == ((1, 19) if joint else (11, 2))  # 8 × [P, Q] + 3 SVC Q
    cfg = OffPolicyConfig(hidden=(16,), learning_starts=16, batch_size=8, algo="ddpg",
                          centralized_critic=not joint)  # fmt: skip
    agent = ContinuousAgent(s, cfg)
    history = _fit(env, agent, 50)
    assert len(history["episode_return"]) == 2  # 24 quarter-hours per episode
    assert len(history["loss"]) == 50 - 16 + 1
    obs, _ = env.reset(seed=7)
    assert _in_boxes(env, policy_callable(agent, "maddpg")(env, obs))


def test_the_loop_runs_on_voltage_control_discrete():
    from dispatchlab.learning.envs import make_env

    env = make_env("voltage-control-discrete")
    s = AgentSpaces.from_env(env)
    assert s.act_sizes == (11, 5, 5, 5, 13)
    cfg = OnPolicyConfig(hidden=(16,), frames_per_batch=48, minibatch_size=24, epochs=1)
    agent = OnPolicyAgent(s, cfg)
    history = _fit(env, agent, 96)
    assert len(history["episode_return"]) == 1 and len(history["loss"]) == 2
    obs, _ = env.reset(seed=7)
    act = policy_callable(agent, "ippo")(env, obs)
    assert all(0 <= act[a] < n for a, n in zip(s.agents, s.act_sizes, strict=True))


def _first_actions(agent, env, seed: int = 3) -> list[dict]:
    """Greedy actions on the first 3 states of episode ``seed``."""
    policy = policy_callable(agent, "x")
    obs, _ = env.reset(seed=seed)
    out = []
    for _ in range(3):
        act = policy(env, obs)
        out.append({a: np.asarray(v).tolist() for a, v in act.items()})
        obs, *_ = env.step(act)
    return out


def test_state_dict_round_trips_through_the_npz_checkpoint(tmp_path):
    env = Track()
    cfg = OffPolicyConfig(**QUICK, algo="sac", centralized_critic=True)
    agent = ContinuousAgent(AgentSpaces.from_env(env), cfg, seed=1)
    _fit(env, agent, 120)
    path = save_checkpoint(tmp_path / "masac.npz", "masac", cfg, agent.state_dict())
    header, arrays = load_checkpoint(path, method="masac")
    clone = ContinuousAgent(AgentSpaces.from_env(env), cfg, seed=99)  # other initial weights
    assert _first_actions(clone, env) != _first_actions(agent, env)
    clone.load_state_dict(arrays)
    assert _first_actions(clone, env) == _first_actions(agent, env)
    assert header["config"]["algo"] == "sac"
    assert all(v.dtype != object for v in arrays.values())
    assert any(k.startswith("scaler/") for k in arrays)  # the observation scaling travels too


def test_load_state_dict_names_what_is_missing():
    env = Match()
    agent = DQNAgent(AgentSpaces.from_env(env), OffPolicyConfig(**QUICK))
    arrays = {k: v for k, v in agent.state_dict().items() if not k.startswith("scaler/")}
    with pytest.raises(KeyError, match="no weights for 'scaler'"):
        agent.load_state_dict(arrays)


@pytest.mark.parametrize("kind", ["dqn", "ppo", "td3"])
def test_same_seed_gives_the_same_actions_and_training(kind):
    def make(seed):
        env = Match() if kind != "td3" else Track()
        s = AgentSpaces.from_env(env)
        if kind == "dqn":
            agent = DQNAgent(s, OffPolicyConfig(**QUICK), seed=seed)
        elif kind == "ppo":
            agent = OnPolicyAgent(s, OnPolicyConfig(frames_per_batch=32, minibatch_size=16), seed)
        else:
            agent = ContinuousAgent(s, OffPolicyConfig(**QUICK, algo="td3"), seed=seed)
        history = _fit(env, agent, 96, seed=seed)
        return _first_actions(agent, env), history["loss"]

    first, loss = make(5)
    again, loss_again = make(5)
    _, loss_other = make(6)
    assert first == again and loss == loss_again and len(loss) > 0
    assert loss_other != loss


def test_agent_spaces_pad_mask_and_rescale():
    s = AgentSpaces.from_env(Track())
    assert (s.n_agents, s.obs_dim, s.act_dim) == (2, 3, 2)
    assert s.action_mask().tolist() == [[True, True], [True, False]]
    stacked = s.stack({"a": np.array([1.0, 2.0, 3.0]), "b": np.array([4.0, 5.0])})
    assert stacked.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 0.0]]
    out = s.to_env(np.array([[-1.0, 0.5], [0.0, 0.9]]))  # b's second dimension is padding
    assert out["a"].tolist() == [0.0, 3.0] and out["b"].tolist() == [0.0]
    joint = AgentSpaces.from_env(Track(), joint=True)
    assert (joint.n_agents, joint.obs_dim, joint.act_dim) == (1, 5, 3)
    assert joint.to_env(np.array([[1.0, -1.0, 1.0]]))["b"].tolist() == [1.0]
    m = AgentSpaces.from_env(Match())
    assert m.action_mask().tolist() == [[True, True, True], [True, True, False]]
    assert m.to_env(np.array([2, 1])) == {"a": 2, "b": 1}


def test_bad_agent_setups_are_named():
    with pytest.raises(ValueError, match="joint=True needs Box actions"):
        AgentSpaces.from_env(Match(), joint=True)
    with pytest.raises(ValueError, match="DQNAgent needs Discrete actions"):
        DQNAgent(AgentSpaces.from_env(Track()), OffPolicyConfig())
    with pytest.raises(ValueError, match="ContinuousAgent needs Box actions"):
        ContinuousAgent(AgentSpaces.from_env(Match()), OffPolicyConfig())
    with pytest.raises(ValueError, match="algo must be ddpg, td3 or sac"):
        OffPolicyConfig(algo="ppo")
    with pytest.raises(ValueError, match="minibatch_size must be"):
        OnPolicyConfig(frames_per_batch=16, minibatch_size=32)
    with pytest.raises(ValueError, match="env_steps must be a positive integer"):
        TrainConfig(env_steps=0)
    assert TrainConfig.quick(seed=4).env_steps == 480


def _filled_stratified(**options):
    from tensordict import TensorDict

    from dispatchlab.learning.agents.torchrl_replay import StratifiedReplayBuffer

    rb = StratifiedReplayBuffer(capacity=200, batch_size=4_000, n_strata=4, **options)
    # 300 writes into 200 slots: the first 100 are overwritten. Stratum 0 dominates (90 %).
    strata = torch.tensor([0 if i % 10 else 1 + (i // 10) % 3 for i in range(300)])
    rb.extend(TensorDict({"stratum": strata, "i": torch.arange(300)}, batch_size=[300]))
    return rb


def test_stratified_sampler_draws_every_stratum_equally():
    torch.manual_seed(0)
    batch = _filled_stratified().sample()
    share = torch.bincount(batch["stratum"], minlength=4).float() / len(batch)
    assert share.tolist() == pytest.approx([0.25] * 4, abs=0.03)  # uniform replay: 0.9 / 0.033
    assert int(batch["i"].min()) >= 100  # overwritten transitions are gone


def test_stratified_sampler_fuses_the_newest_share():
    torch.manual_seed(0)
    rb = _filled_stratified(recent_share=0.5, recent_window=10)
    batch = rb.sample()
    newest = (batch["i"] >= 290).float().mean()
    # half from the 10 newest, plus the stratified half's own chance of hitting them
    assert float(newest) == pytest.approx(0.5 + 0.5 * 0.04, abs=0.03)
    with pytest.raises(ValueError, match="recent_share must be in"):
        rb.sampler.recent_share = 1.5


def test_stratified_buffer_rejects_a_stratum_out_of_range():
    from tensordict import TensorDict

    from dispatchlab.learning.agents.torchrl_replay import StratifiedReplayBuffer

    rb = StratifiedReplayBuffer(capacity=10, batch_size=2, n_strata=24)
    with pytest.raises(ValueError, match=r"stratum 24 outside 0…23 \(transition 1 of the"):
        rb.extend(TensorDict({"stratum": torch.tensor([3, 24])}, batch_size=[2]))
    assert len(rb) == 0  # nothing was stored


def test_padded_action_dimensions_are_pinned():
    from tensordict import TensorDict

    env = Track()  # b has one real action dimension, padded to two
    s = AgentSpaces.from_env(env)
    obs = torch.randn(2, 3)
    td = TensorDict({"agents": TensorDict({"observation": obs}, [2])}, [])
    ppo = OnPolicyAgent(s, OnPolicyConfig(), seed=0).policy_step(td.clone(), explore=True)
    assert float(ppo["agents", "loc"][1, 1]) == 0.0 and float(ppo["agents", "scale"][1, 1]) == 1.0
    assert float(ppo["agents", "scale"][0, 1]) != 1.0  # a's second dimension is real
    ddpg = ContinuousAgent(s, OffPolicyConfig(algo="ddpg"), seed=0)
    assert float(ddpg.policy_step(td.clone(), explore=False)["agents", "action"][1, 1]) == 0.0
