"""seed001's learned counterparts, all from ``learning/agents`` on the same days and budget.

* ``ddpg`` — TorchRL DDPG, one actor on the joint observation → joint action
  (``AgentSpaces(joint=True)``; the paper's single-agent baseline);
* ``maddpg`` — TorchRL MADDPG (``ContinuousAgent(algo="ddpg", centralized_critic=True)``):
  seed001 without type input, noise, hybrid replay or coach;
* ``masac`` — TorchRL MASAC: twin centralized critics, tanh-Gaussian actors, learned entropy;
* ``grpo`` — :class:`~dispatchlab.learning.agents.grpo.GRPOAgent`: G rollouts of one day via
  the vector env, group-normalized returns, clipped ratio, KL to a reference, no critic.

Each gets seed001's widths, learning rates, γ, τ, batch and env-step budget, and the same
model selection (the greedy policy on the training days every ``eval_every`` days, best kept).
Checkpoints are methods ``seed001-<name>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from dispatchlab.learning.agents.grpo import GRPOAgent, GRPOConfig, group_advantages
from dispatchlab.learning.agents.torchrl_common import (
    AgentSpaces,
    TrainConfig,
    policy_callable,
    sample_observations,
)
from dispatchlab.learning.agents.torchrl_common import train as torchrl_train
from dispatchlab.learning.agents.torchrl_offpolicy import ContinuousAgent, OffPolicyConfig
from dispatchlab.learning.checkpoint import config_from, load_checkpoint, save_checkpoint
from dispatchlab.learning.methods.seed001.config import Seed001Config
from dispatchlab.learning.methods.seed001.data import (
    check_agents,
    day_sets,
    diverged_step,
    make_day_env,
)

BASELINES = ("ddpg", "maddpg", "masac", "grpo")


class _Safe:
    """An env whose diverged power flows end the day (:func:`.data.diverged_step`)."""

    def __init__(self, env, config: Seed001Config):
        self._env, self._config = env, config

    def step(self, actions):
        return diverged_step(self._env, actions, self._config)

    def __getattr__(self, name):
        return getattr(self._env, name)


def make_agent(name: str, env, config: Seed001Config, seed: int):
    """The untrained counterpart ``name`` on ``env``'s agents."""
    if name not in BASELINES:
        raise KeyError(f"unknown seed001 counterpart '{name}'; known: {', '.join(BASELINES)}")
    if name == "grpo":
        grpo = GRPOConfig(hidden=tuple(config.hidden), lr=config.grpo_lr)
        return GRPOAgent(AgentSpaces.from_env(env), grpo, seed)
    off = OffPolicyConfig(
        algo="sac" if name == "masac" else "ddpg",
        centralized_critic=name != "ddpg",
        hidden=tuple(config.hidden),
        lr=config.critic_lr,
        actor_lr=config.actor_lr,
        gamma=config.gamma,
        tau=config.tau,
        batch_size=config.batch_size,
        buffer_size=config.buffer_size,
        learning_starts=config.learning_starts,
        exploration_noise=config.exploration_noise,
    )
    return ContinuousAgent(AgentSpaces.from_env(env, joint=name == "ddpg"), off, seed)


def greedy_cost(agent, env, config: Seed001Config) -> float:
    """Mean day cost of the greedy ``agent`` on ``env``'s days (diverged: ``diverged_cost``
    for every remaining step)."""
    policy = policy_callable(agent, "greedy")
    total = 0.0
    for day in env.core.profiles.labels:
        obs, _ = env.reset(seed=0, options={"day": day})
        while env.agents:
            t = env.core.t
            out = diverged_step(env, policy(env, obs), config)
            info = next(iter(out[4].values()))
            total += (env.core.horizon - t if info.get("diverged") else 1) * info["metrics"]["cost"]
            obs = out[0]
    return total / len(env.core.profiles.labels)


def train_baseline(name: str, config: Seed001Config, log: Callable | None = print):
    """Train counterpart ``name``; returns (agent, metrics)."""
    torch.set_num_threads(config.torch_threads)
    t0 = time.perf_counter()
    days = day_sets(config.case, config.pool_seed, config.n_train, config.heldout_per_cluster)
    env = make_day_env(config, days.train)
    val_env = make_day_env(config, days.train, noise=False)
    agent = make_agent(name, env, config, config.seed)
    agent.scaler.fit(sample_observations(env, agent.spaces, 24 * len(days.train), config.seed))
    chunk = 24 * config.eval_every
    best, best_state, curve = np.inf, None, []
    for i, start in enumerate(range(0, config.env_steps, chunk)):
        steps = min(chunk, config.env_steps - start)
        seed = config.seed * 100_003 + i * 1_000
        if name == "grpo":
            train_grpo(agent, env.case, days.train, config, steps, seed)
        else:
            tc = TrainConfig(env_steps=steps, seed=seed, reward_scale=config.reward_scale)
            torchrl_train(_Safe(env, config), agent, tc)
        curve.append((start + steps, greedy_cost(agent, val_env, config)))
        if curve[-1][1] < best:
            best, best_state = curve[-1][1], agent.state_dict()
    agent.load_state_dict(best_state)
    if log:
        log(f"{name}: kept step {min(curve, key=lambda v: v[1])[0]}, validation cost {best:.1f}")
    return agent, {"validation_day_cost": curve, "train_s": time.perf_counter() - t0}


def train_grpo(agent: GRPOAgent, case, days, config: Seed001Config, steps: int, seed: int):
    """GRPO groups until ``steps`` env steps are spent: each plays one training day G times."""
    g = agent.config.group_size
    venv = make_day_env(config, days, vector=g)
    rng = np.random.default_rng(seed)
    s = agent.spaces
    for _ in range(max(1, steps // (24 * g))):
        day = days[int(rng.integers(len(days)))]
        raw, _ = venv.reset(seed=int(rng.integers(1 << 30)), options={"day": day})
        obs, acts, rews = [], [], []
        while venv.agents:
            o = torch.stack([agent.scaler(s.stack({a: raw[a][k] for a in s.agents}))
                             for k in range(g)])  # fmt: skip
            with torch.no_grad():
                a = agent.policy_step(_td(o), explore=True)["agents", "action"]
            parts = [s.to_env(a[k].numpy()) for k in range(g)]
            try:
                raw, r, *_ = venv.step({n: np.stack([p[n] for p in parts]) for n in s.agents})
                rews.append(np.mean([r[n] for n in s.agents], axis=0) * config.reward_scale)
            except RuntimeError:  # a diverged group member: the day ends for the group
                rews.append(np.full(g, -config.reward_clip))
                venv.agents = []
            obs.append(o)
            acts.append(a)
        adv = torch.as_tensor(group_advantages(np.stack(rews)), dtype=torch.float32)
        agent.update(torch.cat(obs), torch.cat(acts), adv.reshape(-1))


def _td(obs: torch.Tensor):
    from tensordict import TensorDict

    return TensorDict({"agents": TensorDict({"observation": obs}, obs.shape[:2])}, obs.shape[:1])


def save_baseline(path: str | Path, name: str, config: Seed001Config, agent, metrics: dict):
    """Checkpoint of counterpart ``name`` (method ``seed001-<name>``)."""
    meta = {"agents": list(agent.spaces.agents), "case": config.case, "counterpart": name}
    return save_checkpoint(path, f"seed001-{name}", config, agent.state_dict(), metrics, meta)


def load_baseline(path: str | Path, name: str, env) -> Callable:
    """The greedy policy of a ``seed001-<name>`` checkpoint on ``env`` (same agents)."""
    header, arrays = load_checkpoint(path, f"seed001-{name}")
    config = config_from(Seed001Config, header)
    check_agents(header, env.possible_agents, path)
    agent = make_agent(name, env, config, config.seed)
    agent.load_state_dict(arrays)
    return policy_callable(agent, name)
