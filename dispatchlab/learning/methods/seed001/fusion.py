"""The information-fusion MADDPG learner of seed001 §4.4 (Dou et al. 2025, Fig. 2 and the
equations after it).

Per agent j: a deterministic actor μ_j(s_j) on its local (standardized, zero-padded)
observation and a centralized critic Q_j(s̃, ã, t_j) on the joint observation s, the joint
action a and the agent-type one-hot t_j (MT, PV, wind, SVC), with

    s̃ = s + ε_s, ε_s ~ N(0, σ_s² I)     ã = a + ε_a, ε_a ~ N(0, σ_a² I)
    y_j = r_j + γ (1 − done) Q'_j(s̃', μ'(s'), t_j)
    L(φ_j) = 1/M Σ_k (Q_j(s̃, ã, t_j) − y_j)² + λ ‖ε‖²
    ∇J(θ_j) = 1/M Σ_k ∇_θ μ_j(s_j) ∇_{a_j} Q_j(s, a_{−j}, μ_j(s_j), t_j)

σ_s and σ_a decay geometrically per gradient step ("gradually decaying"). ε is sampled, not
learned, so λ‖ε‖² adds a number to the loss and nothing to its gradient: it is kept (and
logged) because the paper writes it, and it changes no weight. The networks are TorchRL's
``MultiAgentMLP`` (one set of weights per agent, vmapped); the loss is written here because
TorchRL's ``DDPGLoss`` has no hook for noisy, typed critic inputs. With one critic per agent
(the paper's φ_j) the type one-hot is constant for each critic: it acts as a learned input
bias, which the "no type input" ablation measures.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from tensordict import TensorDict
from torch import nn
from torchrl.modules import MultiAgentMLP

from dispatchlab.learning.agents.torchrl_common import (
    AgentSpaces,
    ObsScaler,
    PaddedActions,
    load_module_arrays,
    module_arrays,
)

TYPES = ("mt", "pv", "wind", "svc")  #: agent types of the one-hot, by agent-name prefix


def agent_types(agents: tuple[str, ...] | list[str]) -> np.ndarray:
    """(agents,) type index of every agent from its name (``mt13`` → 0 …); unknown → error."""
    out = []
    for a in agents:
        kind = a.rstrip("0123456789")
        if kind not in TYPES:
            raise ValueError(f"agent '{a}': unknown type '{kind}'; seed001 knows {TYPES}")
        out.append(TYPES.index(kind))
    return np.asarray(out)


def _mlp(n_in: int, n_out: int, n_agents: int, hidden: tuple[int, ...]) -> MultiAgentMLP:
    return MultiAgentMLP(
        n_agent_inputs=n_in,
        n_agent_outputs=n_out,
        n_agents=n_agents,
        centralized=False,
        share_params=False,
        depth=len(hidden),
        num_cells=list(hidden),
        activation_class=nn.ReLU,
    )


class Offset(nn.Module):
    """Adds atanh(2·share − 1) to the P outputs before the tanh: a fresh actor asks for
    ``share`` of each device's P range (not the middle of it: 5 MW of DER in the middle of
    their ranges lift a 3.7 MW feeder out of the band, and the sweep may not even converge)."""

    def __init__(self, spaces: AgentSpaces, share: float):
        super().__init__()
        off = torch.zeros(spaces.n_agents, spaces.act_dim)
        u = float(np.clip(2.0 * share - 1.0, -0.999, 0.999))
        for k, size in enumerate(spaces.act_sizes):
            if size == 2:  # [p_mw, q_mvar]: an SVC has Q only
                off[k, 0] = float(np.arctanh(u))
        self.register_buffer("offset", off)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.offset


class FusionMADDPG:
    """Actors, critics, their targets and optimizers (see the module docstring)."""

    def __init__(self, spaces: AgentSpaces, config, seed: int = 0):
        torch.manual_seed(seed)
        self.spaces, self.config = spaces, config
        n, d, a = spaces.n_agents, spaces.obs_dim, spaces.act_dim
        self.scaler = ObsScaler(n, d)
        hidden = tuple(int(h) for h in config.hidden)
        start = Offset(spaces, config.initial_p_share)
        self.actor = nn.Sequential(_mlp(d, a, n, hidden), start, nn.Tanh(), PaddedActions(spaces))
        self.critic = _mlp(n * d + n * a + len(TYPES), 1, n, hidden)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.optim_actor = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr)
        self.optim_critic = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        onehot = torch.zeros(n, len(TYPES))
        onehot[torch.arange(n), torch.as_tensor(agent_types(spaces.agents))] = 1.0
        self.types = onehot * float(config.type_input)
        self.sigma_s, self.sigma_a = config.state_noise, config.action_noise
        self._gen = torch.Generator().manual_seed(seed)
        self.updates = 0

    # --------------------------------------------------------------------------- acting
    def act(self, obs: torch.Tensor, explore: float = 0.0) -> torch.Tensor:
        """(n, a) actions in [−1, 1] for standardized observations (n, d); ``explore`` the σ
        of added Gaussian noise."""
        with torch.no_grad():
            act = self.actor(obs)
            if explore > 0:
                act = act + explore * torch.randn(act.shape, generator=self._gen)
        return (act.clamp(-1.0, 1.0) * self.actor[-1].mask).detach()

    # ------------------------------------------------------------------------- learning
    def _critic_in(self, obs: torch.Tensor, acts: torch.Tensor) -> torch.Tensor:
        """(B, n, n·d + n·a + types): per agent j the joint obs, the joint action row j of
        ``acts`` (B, n, n, a) and t_j."""
        b, n = obs.shape[:2]
        joint = obs.reshape(b, 1, -1).expand(b, n, -1)
        return torch.cat([joint, acts.reshape(b, n, -1), self.types.expand(b, n, -1)], dim=-1)

    def _noise(self, shape: tuple, sigma: float) -> torch.Tensor:
        if not self.config.critic_noise or sigma <= 0:
            return torch.zeros(shape)
        return sigma * torch.randn(shape, generator=self._gen)

    def update(self, batch: TensorDict) -> dict[str, float]:
        """One critic and one actor step on ``batch`` for every agent, then soft targets."""
        c = self.config
        obs, act = batch["obs"], batch["action"]
        nxt, rew, done = batch["next_obs"], batch["reward"], batch["done"].float()
        b, n = obs.shape[:2]
        eps = [self._noise(obs.shape, self.sigma_s), self._noise(act.shape, self.sigma_a)]
        eps += [self._noise(obs.shape, self.sigma_s), self._noise(act.shape, self.sigma_a)]
        with torch.no_grad():
            nxt_act = self.actor_target(nxt) + eps[3]
            rows = nxt_act.unsqueeze(1).expand(b, n, n, -1)
            q_next = self.critic_target(self._critic_in(nxt + eps[2], rows))
            rew = rew.clamp(min=-c.reward_clip)
            y = rew + c.gamma * (1.0 - done.reshape(b, 1, 1)) * q_next
        rows = (act + eps[1]).unsqueeze(1).expand(b, n, n, -1)
        q = self.critic(self._critic_in(obs + eps[0], rows))
        penalty = c.noise_lambda * sum(float(e.pow(2).sum()) for e in eps[:2]) / b
        loss_critic = (q - y).pow(2).mean() + penalty
        self.optim_critic.zero_grad()
        loss_critic.backward()
        nn.utils.clip_grad_norm_(self.critic.parameters(), c.grad_clip)
        self.optim_critic.step()
        loss_actor = self._actor_step(obs, act)
        self._soft_update()
        self.sigma_s *= c.noise_decay
        self.sigma_a *= c.noise_decay
        self.updates += 1
        return {"loss_critic": float(loss_critic.detach()), "loss_actor": loss_actor}

    def _actor_step(self, obs: torch.Tensor, act: torch.Tensor) -> float:
        """Each agent's row j of the joint action has μ_j(s_j) at j, the batch's a_−j else."""
        b, n = obs.shape[:2]
        mu = self.actor(obs)
        eye = torch.eye(n, dtype=torch.bool).reshape(1, n, n, 1)
        rows = torch.where(eye, mu.unsqueeze(1).expand(b, n, n, -1), act.unsqueeze(1))
        loss = -self.critic(self._critic_in(obs, rows)).mean()
        self.optim_actor.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), self.config.grad_clip)
        self.optim_actor.step()
        return float(loss.detach())

    def _soft_update(self) -> None:
        tau = self.config.tau
        for net, tgt in ((self.actor, self.actor_target), (self.critic, self.critic_target)):
            with torch.no_grad():
                for p, q in zip(net.parameters(), tgt.parameters(), strict=True):
                    q.lerp_(p, tau)

    # ---------------------------------------------------------------------------- weights
    def policy_modules(self) -> dict[str, nn.Module]:
        """What acting needs (the checkpoint holds these): actors and the observation scaler."""
        return {"actor": self.actor, "scaler": self.scaler}

    def state_dict(self) -> dict[str, np.ndarray]:
        return module_arrays(self.policy_modules())

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        load_module_arrays(self.policy_modules(), arrays)
