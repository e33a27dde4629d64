"""MASRL (seed004 §3.3): CTDE actor-critic with a task-masked KL term and adaptive penalties.

* **Networks** (:class:`Seed004Model`, one ``nn.Module`` holding every trainable parameter):
  the :class:`~.graph.DGCN`; one actor per agent (TorchRL's ``MultiAgentMLP``, 2 × 128,
  no parameter sharing) reading the agent's own observation and the DGCN embedding of its bus
  (decentralized execution); two centralized critics Q(s, a₁…a₁₃) (2 × 128) reading the
  global state, the pooled DGCN embedding and every agent's action (centralized training). The
  actors are deterministic with Gaussian exploration (σ = ``exploration_noise``); the update is
  TD3's (twin critics, target smoothing, delayed actor) because the team shares one reward.
* **KL on task-mask pairs** (:func:`masked_kl`): KL needs equal action spaces, so it acts
  *within one agent type*, the six thermal units, and on their *reserve-share head* (action
  dimensions 1–2: the share of up- and down-headroom offered). The policies are tanh-Gaussian
  with one σ (``exploration_noise``) in the pre-tanh space; tanh is invertible, so
  KL(π_i ‖ π_j) is that of the Gaussians, ‖z_i − z_j‖² / 2σ². Pairs that share a task pull
  their reserve offers together; the paper leaves the pairs' action space undefined
  (docs/methods/seed004.md).
* **Task mask** (:class:`TaskMask`): units i, j share a task when they sit in the same area (a
  load pocket, :func:`~.graph.regional_areas`), or both have |PTDF| ≥ ``ptdf_min`` on a line
  loaded above ``event_loading`` (a corridor), or — during a reserve or wind-ramp event — all
  units share the reserve. The mask is recomputed only when the set of events (and stressed
  lines) changes: event-triggered updates, counted in ``updates``.
* **Adaptive penalties** (:class:`AdaptivePenalties`): after every batch of training days,
  w_k ← w_k (1 + η (v_k − v*_k) / (v*_k + ε)) for overload, reserve and ramp, v_k the share of
  intervals with that violation, clipped to ``penalty_bounds`` × the env's weight. The
  critic learns on the reward with these weights in place of the env's fixed ones.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dispatchlab.learning.agents.torchrl_common import AgentSpaces, ObsScaler
from dispatchlab.learning.agents.torchrl_offpolicy import mlp
from dispatchlab.learning.envs.transmission.core import TransmissionSystem
from dispatchlab.learning.methods.seed004.graph import DGCN

#: violation family of the env -> the adaptive penalty it drives (and its target-rate field)
ADAPTIVE = {
    "line_overload_mw": "target_overload_rate",
    "reserve_shortfall_mw": "target_reserve_rate",
    "ramp_mw": "target_ramp_rate",
}
RESERVE_DIMS = slice(1, 3)  #: the units' reserve-share head (up, down)


def _critic(n_in: int, hidden) -> nn.Sequential:
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, 1))


class Seed004Model(nn.Module):
    """DGCN + 13 actors + 2 centralized critics (+ fixed observation / state scalers)."""

    def __init__(self, sys: TransmissionSystem, spaces: AgentSpaces, a_phys, dist, config):
        super().__init__()
        torch.manual_seed(config.seed)
        h = config.graph_hidden
        self.dgcn = DGCN(sys, a_phys, dist, config)
        n, d, k = spaces.n_agents, spaces.obs_dim, spaces.act_dim
        self.obs_scaler = ObsScaler(n, d)
        self.state_scaler = ObsScaler(1, _state_dim())
        self.actors = mlp(spaces, d + h, k, tuple(config.hidden))
        n_q = _state_dim() + 2 * h + n * k
        self.critics = nn.ModuleList([_critic(n_q, config.hidden) for _ in range(2)])
        self.register_buffer("act_mask", spaces.action_mask().float())
        hold = np.clip(hold_actions(spaces), -HOLD_SATURATION, HOLD_SATURATION)
        self.register_buffer(
            "action_offset", torch.as_tensor(np.arctanh(hold), dtype=torch.float32)
        )
        self.register_buffer("agent_bus", torch.as_tensor(agent_buses(sys), dtype=torch.long))

    def embed(self, hist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, bus, h) DGCN embeddings and (B, bus, bus) adjacency of raw state histories."""
        return self.dgcn(hist)

    def logits(self, obs: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """(B, agents, act_dim) pre-tanh means z; the policy is tanh(N(z, σ²)), so z = 0 of
        the network starts every agent at :func:`hold_actions` (``action_offset``)."""
        x = torch.cat([self.obs_scaler(obs), emb[:, self.agent_bus]], -1)
        return self.actors(x) + self.action_offset

    def act(self, obs: torch.Tensor, emb: torch.Tensor, noise: float = 0.0) -> torch.Tensor:
        """(B, agents, act_dim) actions in [−1, 1] (padded dims 0); ``obs`` raw, padded;
        ``noise``: σ of the Gaussian in the pre-tanh space (exploration)."""
        z = self.logits(obs, emb)
        if noise > 0:
            z = z + noise * torch.randn_like(z)
        return torch.tanh(z) * self.act_mask

    def q(self, state: torch.Tensor, emb: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """(2, B) twin Q-values of raw global states, embeddings and joint actions."""
        s = self.state_scaler(state[:, None])[:, 0]
        x = torch.cat([s, emb.mean(1), emb.amax(1), actions.flatten(1)], -1)
        return torch.stack([c(x)[:, 0] for c in self.critics])


#: |tanh| of a saturated hold action: wind at 99.9 % of available, LSE cuts at 0.05 %
HOLD_SATURATION = 0.999


def hold_actions(spaces: AgentSpaces) -> np.ndarray:
    """(agents, act_dim) the "hold" action: units keep their output (ΔP 0) and offer half
    their headroom as reserve, wind delivers all it has, the storage idles, LSEs neither
    shift nor interrupt load."""
    out = np.zeros((spaces.n_agents, spaces.act_dim))
    for i, name in enumerate(spaces.agents):
        kind = name.split("_")[0]
        if kind == "wind":
            out[i, 0] = 1.0
        elif kind == "lse":
            out[i, :2] = -1.0
    return out


def _state_dim() -> int:
    from dispatchlab.learning.envs.transmission.obs import STATE_LAYOUT

    return sum(n for _, n in STATE_LAYOUT)


def agent_buses(sys: TransmissionSystem) -> np.ndarray:
    """Bus position of every agent in the env's order (units, wind, storage, LSEs)."""
    return np.concatenate([sys.gen_bus, sys.wind_bus, sys.sto_bus, sys.lse_bus])


def masked_kl(mu: torch.Tensor, mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """Mean over masked pairs of KL(N(μ_i, σ²) ‖ N(μ_j, σ²)) = ‖μ_i − μ_j‖² / 2σ².

    ``mu``: (B, units, dims) reserve-share means; ``mask``: (B, units, units) 0/1 (diagonal
    ignored). 0 when no pair is masked."""
    diff = ((mu[:, :, None, :] - mu[:, None, :, :]) ** 2).sum(-1) / (2.0 * sigma**2)
    m = mask.float() * (1.0 - torch.eye(mask.shape[-1]))
    return (diff * m).sum() / m.sum().clamp(min=1.0)


class TaskMask:
    """Event-triggered task mask over the units of one environment batch (module docstring)."""

    def __init__(self, sys: TransmissionSystem, areas: np.ndarray, config, ptdf_min=0.1):
        unit_area = areas[sys.gen_bus]
        self.base = unit_area[:, None] == unit_area[None, :]  # load pockets
        self.sens = np.abs(sys.ptdf[:, sys.gen_bus]) >= ptdf_min  # (lines, units)
        self.config = config
        self.updates = 0  #: mask recomputations (events changed)
        self._key: list = []
        self._mask: list = []

    def events(self, loading: np.ndarray, margin: np.ndarray, ramp_mw: np.ndarray) -> list:
        """Per environment: (stressed lines, reserve event, ramp event)."""
        c = self.config
        out = []
        for b in range(len(loading)):
            lines = tuple(np.flatnonzero(loading[b] > c.event_loading))
            out.append((lines, bool(margin[b].min() < c.event_reserve_margin),
                        bool(ramp_mw[b] > c.event_ramp_mw)))  # fmt: skip
        return out

    def __call__(self, loading, margin, ramp_mw) -> np.ndarray:
        """(B, units, units) bool masks; recomputed for an environment only on a new event set."""
        keys = self.events(loading, margin, ramp_mw)
        if len(self._key) != len(keys):
            self._key, self._mask = [None] * len(keys), [None] * len(keys)
        for b, key in enumerate(keys):
            if key != self._key[b]:
                self._key[b], self._mask[b] = key, self._compute(*key)
                self.updates += 1
        return np.stack(self._mask)

    def reset(self) -> None:
        self._key, self._mask = [], []

    def _compute(self, lines: tuple, reserve: bool, ramp: bool) -> np.ndarray:
        m = self.base.copy()
        for line in lines:
            s = self.sens[line]
            m |= s[:, None] & s[None, :]
        if reserve or ramp:
            m[:] = True
        return m


class AdaptivePenalties:
    """w_k ← w_k(1 + η(v_k − v*_k)/(v*_k + ε)) for the :data:`ADAPTIVE` families."""

    def __init__(self, env_weights: dict[str, float], config):
        self.base = {k: float(env_weights[k]) for k in ADAPTIVE}
        self.weights = dict(self.base)
        self.config = config
        self.history: list[dict[str, float]] = []

    def update(self, rates: dict[str, float]) -> dict[str, float]:
        """One update from the violation rates v_k of the last batch; returns the weights."""
        c = self.config
        if c.adaptive_penalties:
            lo, hi = c.penalty_bounds
            for k, field in ADAPTIVE.items():
                target = getattr(c, field)
                w = self.weights[k] * (
                    1.0 + c.penalty_eta * (rates[k] - target) / (target + c.penalty_eps)
                )
                self.weights[k] = float(np.clip(w, lo * self.base[k], hi * self.base[k]))
        self.history.append(dict(self.weights))
        return dict(self.weights)

    def shaped(self, reward: np.ndarray, violations: dict[str, np.ndarray]) -> np.ndarray:
        """The env reward with its fixed weights of the :data:`ADAPTIVE` families replaced."""
        out = np.asarray(reward, float).copy()
        for k in ADAPTIVE:
            out += (self.base[k] - self.weights[k]) * np.asarray(violations[k])
        return out
