"""seed002 §2.2/§4.1: the multi-agent actor-critic, centralized training, decentralized execution.

* Actors — one per discrete device (TorchRL's ``MultiAgentMLP``, ``share_params=False``, hidden
  128-64, ReLU): the agent's own observation and the PNN's predicted move probabilities of the
  other agents → logits over its three moves, masked by the rules (:mod:`.rules`).
* Critic — centralized (hidden 256-128-64, ReLU): the global state and the joint move →
  Q(s, a). The TD target uses the target actors' greedy masked moves at s' and the target
  critic (soft updates, τ = 0.01); the actor loss is the expected-value policy gradient
  −Σ_i Σ_{a_i} π_i(a_i | o_i) Q(s, a_i, a_−i) with the other agents' moves from the replay
  (low variance: no sampled action for the agent itself), plus an entropy bonus.

Transitions go to :class:`~dispatchlab.learning.agents.replay.ReplayBuffer` as one flat row
(state, actor inputs, masks) and the joint move as one base-3 integer.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torchrl.modules import MLP

from dispatchlab.learning.agents.replay import ReplayBuffer
from dispatchlab.learning.agents.torchrl_common import (
    AgentSpaces,
    load_module_arrays,
    module_arrays,
)
from dispatchlab.learning.agents.torchrl_offpolicy import mlp
from dispatchlab.learning.methods.seed002.rules import N_MOVES


class ActorCritic:
    """Actors, centralized critic, their targets, Adam and the replay pool."""

    def __init__(self, n_agents: int, actor_in: int, state_dim: int, cfg, rng: np.random.Generator):
        torch.manual_seed(cfg.seed)
        self.cfg, self.n, self.actor_in, self.state_dim = cfg, n_agents, actor_in, state_dim
        spaces = AgentSpaces(  # only n_agents is read by mlp()
            tuple(f"a{i}" for i in range(n_agents)),
            (actor_in,) * n_agents,
            True,
            (N_MOVES,) * n_agents,
        )
        self.actor = mlp(spaces, actor_in, N_MOVES, cfg.actor_hidden)
        self.critic = MLP(
            in_features=state_dim + n_agents * N_MOVES,
            out_features=1,
            num_cells=list(cfg.critic_hidden),
            activation_class=nn.ReLU,
        )
        self.actor_t, self.critic_t = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.opt_a = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr)
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        self.state_mean = np.zeros(state_dim, np.float32)
        self.state_std = np.ones(state_dim, np.float32)
        width = state_dim + n_agents * actor_in + n_agents * N_MOVES
        self.replay = ReplayBuffer(cfg.buffer_size, width, rng)
        self.updates = 0

    # ------------------------------------------------------------------ acting
    def probs(self, x: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """(B, agents, 3) masked move probabilities for actor inputs (B, agents, actor_in)."""
        with torch.inference_mode():
            logits = self.actor(torch.as_tensor(x, dtype=torch.float32))
            return _masked_softmax(logits, torch.as_tensor(masks)).numpy()

    def fit_state_scale(self, states: np.ndarray) -> None:
        self.state_mean = states.mean(axis=0).astype(np.float32)
        self.state_std = (states.std(axis=0) + 1e-6).astype(np.float32)

    # ------------------------------------------------------------------ storing
    def store(self, s, x, m, moves, r, s2, x2, m2, done) -> None:
        """Add B transitions: states (B, F), actor inputs (B, agents, d), masks (B, agents, 3),
        moves (B, agents), rewards (B,)."""
        row = self._row(s, x, m)
        code = (moves * N_MOVES ** np.arange(self.n)).sum(axis=1)
        self.replay.add(row, code, r, self._row(s2, x2, m2), done)

    def _row(self, s, x, m) -> np.ndarray:
        s = (np.asarray(s, np.float32) - self.state_mean) / self.state_std
        return np.concatenate([s, x.reshape(len(s), -1), m.reshape(len(s), -1)], axis=1)

    def _unrow(self, row: np.ndarray):
        f, d = self.state_dim, self.actor_in
        s = torch.from_numpy(row[:, :f])
        x = torch.from_numpy(row[:, f : f + self.n * d].reshape(-1, self.n, d))
        m = torch.from_numpy(row[:, f + self.n * d :].reshape(-1, self.n, N_MOVES) > 0.5)
        return s, x, m

    # ------------------------------------------------------------------ learning
    def update(self) -> dict[str, float] | None:
        """One critic and one actor step on a replay batch; None before ``learning_starts``."""
        cfg = self.cfg
        if len(self.replay) < max(cfg.learning_starts, cfg.batch_size):
            return None
        b = self.replay.sample(cfg.batch_size)
        s, x, m = self._unrow(b.obs)
        s2, x2, m2 = self._unrow(b.next_obs)
        code = torch.from_numpy(b.action)
        moves = torch.stack([(code // N_MOVES**i) % N_MOVES for i in range(self.n)], dim=1)
        r = torch.from_numpy(b.reward) * cfg.reward_scale
        done = torch.from_numpy(b.done)
        with torch.no_grad():
            a2 = _masked_softmax(self.actor_t(x2), m2).argmax(-1)
            q2 = self.critic_t(torch.cat([s2, _onehot(a2)], 1)).squeeze(1)
            y = r + cfg.gamma * (1 - done) * q2
        q = self.critic(torch.cat([s, _onehot(moves)], 1)).squeeze(1)
        loss_c = nn.functional.mse_loss(q, y)
        self.opt_c.zero_grad()
        loss_c.backward()
        self.opt_c.step()
        loss_a = self._actor_loss(s, x, m, moves)
        self.opt_a.zero_grad()
        loss_a.backward()
        self.opt_a.step()
        for net, tgt in ((self.actor, self.actor_t), (self.critic, self.critic_t)):
            with torch.no_grad():
                for p, tp in zip(net.parameters(), tgt.parameters(), strict=True):
                    tp.lerp_(p, cfg.tau)
        self.updates += 1
        return {"critic_loss": float(loss_c.detach()), "actor_loss": float(loss_a.detach())}

    def _actor_loss(self, s, x, m, moves) -> torch.Tensor:
        """−Σ_i E_{a_i ~ π_i} Q(s, a_i, a_−i) − entropy · H(π)."""
        p = _masked_softmax(self.actor(x), m)  # (B, n, 3)
        b, n = moves.shape
        alt = moves[:, None, None, :].expand(b, n, N_MOVES, n).clone()
        idx = torch.arange(n)
        alt[:, idx, :, idx] = torch.arange(N_MOVES).expand(n, b, N_MOVES)  # (agent, batch, move)
        joint = _onehot(alt.reshape(-1, n))
        ss = s[:, None, :].expand(b, n * N_MOVES, s.shape[1]).reshape(-1, s.shape[1])
        for prm in self.critic.parameters():
            prm.requires_grad_(False)
        q_alt = self.critic(torch.cat([ss, joint], 1)).reshape(b, n, N_MOVES)
        for prm in self.critic.parameters():
            prm.requires_grad_(True)
        entropy = -(p * torch.log(p.clamp_min(1e-12))).sum(-1)
        return -((p * q_alt).sum(-1) + self.cfg.entropy * entropy).sum(1).mean()

    # ------------------------------------------------------------------ checkpoints
    def arrays(self) -> dict[str, np.ndarray]:
        out = module_arrays({"actor": self.actor, "critic": self.critic})
        out["state_mean"], out["state_std"] = self.state_mean, self.state_std
        return out

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        load_module_arrays({"actor": self.actor, "critic": self.critic}, arrays)
        self.actor_t, self.critic_t = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.state_mean, self.state_std = arrays["state_mean"], arrays["state_std"]


def _masked_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits.masked_fill(~mask, -1e9), dim=-1)


def _onehot(moves: torch.Tensor) -> torch.Tensor:
    return nn.functional.one_hot(moves.long(), N_MOVES).float().reshape(len(moves), -1)
