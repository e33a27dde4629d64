"""QMIX on ``transmission-dispatch`` through a discretized action grid (seed004's third MARL
baseline).

The library's QMIX (:class:`~dispatchlab.learning.agents.torchrl_qmix.QMIXAgent`, a
``DQNAgent`` with TorchRL's ``QMixer``) needs Discrete actions; the env's are Box. Each agent
gets a small grid of normalized action vectors (:data:`GRID`, around the hold action of
:func:`~.masrl.hold_actions`: reserve shares at their midpoint, no interruption):

* unit: ΔP = a0·ramp with a0 ∈ {−1, −0.5, −0.2, 0, 0.2, 0.5, 1}, reserve shares 0 (half the
  head-/footroom offered) — 7 options;
* wind: output share a0 ∈ {1, 0.5, 0, −1} of the available wind (all, 75 %, 50 %, none) — 4;
* storage: a0 ∈ {−1, −0.5, 0, 0.5, 1} (charge … discharge), reserve share 0 — 5;
* LSE: flexible injection a0 ∈ {−1, −0.5, 0, 0.5, 1}, no interruption — 5.

:class:`DiscreteTransmissionEnv` exposes those grids as ``Discrete`` spaces to the agents'
``train`` loop (the same PettingZoo-parallel calls); :func:`train_qmix` trains the agent on
the training days and returns a policy for the continuous env. The grid is coarse on purpose
(7 options for a unit is already 7⁶ joint unit moves); a finer one is a design choice left
to a full study.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from gymnasium import spaces as gym_spaces

_U = (-1.0, -0.5, -0.2, 0.0, 0.2, 0.5, 1.0)
_F = (-1.0, -0.5, 0.0, 0.5, 1.0)
#: normalized action vectors per agent kind (module docstring)
GRID: dict[str, np.ndarray] = {
    "gen": np.array([[u, 0.0, 0.0] for u in _U]),
    "wind": np.array([[1.0], [0.5], [0.0], [-1.0]]),
    "storage": np.array([[u, 0.0] for u in _F]),
    "lse": np.array([[u, -1.0] for u in _F]),
}


def grid_of(agent: str) -> np.ndarray:
    """The action grid of ``agent`` (``gen_3`` → the unit grid)."""
    return GRID[agent.split("_")[0]]


def to_box(choice: dict[str, int]) -> dict[str, np.ndarray]:
    """Grid positions per agent → the env's normalized actions."""
    return {a: grid_of(a)[int(k)].copy() for a, k in choice.items()}


class DiscreteTransmissionEnv:
    """A ``TransmissionDispatchEnv`` whose agents choose grid positions (module docstring)."""

    def __init__(self, env):
        self.env = env
        self.possible_agents = list(env.possible_agents)
        self._spaces = {a: gym_spaces.Discrete(len(grid_of(a))) for a in self.possible_agents}

    @property
    def agents(self) -> list[str]:
        return self.env.agents

    def action_space(self, agent: str) -> gym_spaces.Discrete:
        return self._spaces[agent]

    def observation_space(self, agent: str):
        return self.env.observation_space(agent)

    def reset(self, seed: int | None = None, options: dict | None = None):
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: dict[str, int]):
        return self.env.step(to_box(actions))

    def state(self) -> np.ndarray:
        # the engine's, not env.state(): the training loop reads the final state after the
        # episode has ended, which the env itself refuses
        return self.env.engine.global_state()[0]


def train_qmix(case, steps: int, seed: int = 0) -> Callable:
    """QMIX trained for ``steps`` env steps on the training days; the policy plays the
    continuous env (``.train_s``)."""
    import torch

    from dispatchlab.learning.agents.torchrl_common import (
        AgentSpaces,
        TrainConfig,
        policy_callable,
        sample_observations,
        sample_states,
        train,
    )
    from dispatchlab.learning.agents.torchrl_offpolicy import OffPolicyConfig
    from dispatchlab.learning.agents.torchrl_qmix import QMIXAgent
    from dispatchlab.learning.envs.transmission.env import TransmissionDispatchEnv

    torch.set_num_threads(1)
    env = DiscreteTransmissionEnv(TransmissionDispatchEnv(case=case, split="train"))
    spaces = AgentSpaces.from_env(env)
    env.reset(seed=seed)
    cfg = OffPolicyConfig(gamma=0.99, lr=1e-4, eps_decay_steps=max(steps // 2, 1),
                          learning_starts=min(500, max(steps // 4, 1)))  # fmt: skip
    agent = QMIXAgent(spaces, cfg, len(env.state()), seed=seed)
    agent.scaler.fit(sample_observations(env, spaces, 480, seed))
    agent.fit_state_scale(sample_states(env, 480, seed))
    t0 = time.perf_counter()
    train(env, agent, TrainConfig(env_steps=steps, seed=seed, reward_scale=0.01))
    greedy = policy_callable(agent, "qmix")

    def decide(env, obs):
        return to_box(greedy(env, obs))

    decide.train_s = time.perf_counter() - t0
    return decide
