"""The paper's single-agent DQN baseline over the reduced joint action space.

One agent picks the joint move of all discrete devices (3⁴ = 81 joint moves on
ieee33-seed002) from the joint state (:func:`~.method.joint_state`); the joint moves the rules
forbid (:func:`~.rules.action_masks`, one device per feeder) are masked out of its ε-greedy
choice. The learner is :class:`~dispatchlab.learning.agents.dqn.SharedDuelingDQN` (double DQN,
dueling heads, its replay) with seed002's Adam 1e-3, γ 0.95, batch 64 and the same ε schedule
and training days as the method; the SVG follows the same S_VQ regulation, so the comparison
isolates the decision layer (one joint Q-network vs PNN-assisted actors).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from dispatchlab.learning.agents.dqn import DuelingDQNConfig, SharedDuelingDQN
from dispatchlab.learning.methods.seed002.config import Seed002Config
from dispatchlab.learning.methods.seed002.rules import N_MOVES, position_delta
from dispatchlab.learning.seeding import seed_everything

KIND = "joint"


class JointDQN:
    """The trained joint-move DQN and the regulation it shares with seed002."""

    def __init__(self, config: Seed002Config, n_devices: int, width: int, rng):
        self.config = config
        self.moves = np.array(list(itertools.product(range(N_MOVES), repeat=n_devices)))
        dqn_cfg = DuelingDQNConfig(
            hidden=(128, 64), lr=config.lr, gamma=config.gamma, batch_size=config.batch_size,
            buffer_size=config.buffer_size, learning_starts=config.learning_starts,
            target_update=100,
        )  # fmt: skip
        self.dqn = SharedDuelingDQN({KIND: len(self.moves)}, width, dqn_cfg, rng)
        self.rng = rng
        self._helper = None

    def joint_mask(self, core) -> np.ndarray:
        """(S, 81) joint moves allowed by the rules and one device per feeder."""
        m = self.helper.masks(core)
        ok = np.ones((len(m), len(self.moves)), bool)
        for i in range(self.moves.shape[1]):
            ok &= m[:, i, self.moves[:, i]]
        agents = ["oltc", "cb10", "cb12", "cb29"][: self.moves.shape[1]]
        for group in self.config.feeders:
            idx = [agents.index(a) for a in group if a in agents]
            ok &= ((self.moves[:, idx] != 1).sum(axis=1) <= 1)[None, :]
        return ok

    def decide(self, env, eps: float = 0.0) -> tuple[np.ndarray, dict, np.ndarray]:
        from dispatchlab.learning.methods.seed002.method import joint_state

        core = env.core
        obs = joint_state(core)
        mask = self.joint_mask(core)
        q = np.where(mask, self.dqn.q_values(KIND, obs), -np.inf)
        choice = q.argmax(axis=1)
        if eps > 0:
            rand = (self.rng.random(mask.shape) * mask).argmax(axis=1)
            choice = np.where(self.rng.random(len(choice)) < eps, rand, choice)
        new_pos = core.pos.copy()
        new_pos[:, : self.moves.shape[1]] += position_delta(self.moves[choice])
        d = {"pos": new_pos, "svg": self.helper.svg_outputs(core, new_pos)}
        return obs, self.helper.env_actions(env, d), choice

    @property
    def helper(self):
        """A Seed002Method shell for the shared regulation and action packing."""
        if self._helper is None:
            from dispatchlab.learning.methods.seed002.method import Seed002Method

            agents = ["oltc", "cb10", "cb12", "cb29"][: self.moves.shape[1]]
            self._helper = Seed002Method(self.config, agents, None, [], None)
        return self._helper

    def act(self, env) -> dict:
        return self.decide(env)[1]


def train_dqn(config: Seed002Config) -> JointDQN:
    """Train on the method's training days with its episode budget and ε schedule."""
    from dispatchlab.learning.envs.voltage.discrete import VectorDiscreteVoltageControlEnv
    from dispatchlab.learning.methods.seed002.method import env_config, epsilon, joint_state

    torch.set_num_threads(config.torch_threads)
    rng = seed_everything(config.seed)
    venv = VectorDiscreteVoltageControlEnv(config.num_envs, config=env_config(config, train=True))
    agent = None
    for r in range(-(-config.episodes // config.num_envs)):
        days = [int(rng.integers(len(config.train_days))) for _ in range(config.num_envs)]
        venv.reset(
            seed=20_000 + config.seed * 100_003 + r * config.num_envs, options={"days": days}
        )
        core = venv.core
        if agent is None:
            agent = JointDQN(
                config, len(core.options) - core.n_svg, joint_state(core).shape[1], rng
            )
            agent.dqn.set_obs_scale(KIND, joint_state(core))
        eps = epsilon(config, r * config.num_envs)
        while not core.done:
            obs, action, choice = agent.decide(venv, eps)
            _, rew, _, _, _ = venv.step(action)
            reward = np.asarray(next(iter(rew.values())), float) * config.reward_scale
            agent.dqn.replay[KIND].add(obs, choice, reward, joint_state(core), float(core.done))
            agent.dqn.update(KIND)
    return agent
