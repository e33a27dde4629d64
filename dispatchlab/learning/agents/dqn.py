"""seed000's edge controllers: Dueling DQN with one shared network per DER type.

Network (seed000 §3.3): a three-layer fully connected encoder, then a value stream V(s) and an
advantage stream A(s, a), combined as eq. 4

    Q(s, a) = V(s) + (A(s, a) − (1/|A|) Σ_a' A(s, a')).

Training (§3.4): centralized — every unit of a type writes its transitions into that type's
shared replay pool (:class:`~dispatchlab.learning.agents.replay.ReplayBuffer`, capacity 50 000 as in
the paper), one network per type is updated from it (parameter sharing), a target network gives
the bootstrap (double-DQN target: the online net picks a', the target net values it, the usual
remedy for DQN's over-estimation; ``double=False`` gives the plain target). Execution is
decentralized: a unit's action depends only on its own observation (local state + the LMP at
its bus), eq. 6. Adam, lr 1e-3 (§3.3).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dispatchlab.learning.agents.replay import ReplayBuffer


@dataclass(frozen=True)
class DuelingDQNConfig:
    """Hyperparameters of the edge controllers (one line each)."""

    hidden: tuple[int, ...] = (64, 64, 64)  #: encoder widths (three layers, §3.3)
    lr: float = 1e-3  #: Adam learning rate (§3.3)
    gamma: float = 0.97  #: discount of eq. 5 per 15-min step
    buffer_size: int = 50_000  #: replay capacity per DER type (§3.3)
    batch_size: int = 256  #: transitions per gradient step
    learning_starts: int = 1_000  #: transitions stored before the first update
    train_every: int = 1  #: environment steps between gradient steps
    target_update: int = 200  #: gradient steps between hard target-network copies
    eps_start: float = 1.0  #: ε of the ε-greedy exploration at the start
    eps_end: float = 0.05  #: ε after the decay
    eps_decay_steps: int = 5_000  #: environment steps of the linear ε decay
    double: bool = True  #: double-DQN target
    grad_clip: float = 10.0  #: max gradient norm

    def __post_init__(self) -> None:
        for name in ("buffer_size", "batch_size", "train_every", "target_update"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"DuelingDQNConfig.{name} must be a positive integer, got {value!r}"
                )
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"DuelingDQNConfig.gamma must be in [0, 1), got {self.gamma}")
        if not self.lr > 0 or self.learning_starts < 0 or self.eps_decay_steps < 0:
            raise ValueError(
                "DuelingDQNConfig: lr must be > 0, learning_starts and eps_decay_steps ≥ 0"
            )
        if not (0.0 <= self.eps_end <= 1.0 and 0.0 <= self.eps_start <= 1.0):
            raise ValueError("DuelingDQNConfig: eps_start and eps_end must be in [0, 1]")


class DuelingQNet(nn.Module):
    """Encoder → (value, advantage) → Q by eq. 4."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        width = obs_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.encoder = nn.Sequential(*layers)
        self.value = nn.Linear(width, 1)
        self.advantage = nn.Linear(width, n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        z = self.encoder(obs)
        a = self.advantage(z)
        return self.value(z) + a - a.mean(dim=-1, keepdim=True)  # eq. 4


class SharedDuelingDQN:
    """One Dueling DQN (online + target net, optimizer, replay pool) per DER type.

    ``obs_scale`` = (mean, std) per type standardizes observations inside :meth:`q_values`,
    so the same numbers are used in training and in the saved policy.
    """

    def __init__(
        self,
        kinds: dict[str, int],
        obs_dim: int,
        config: DuelingDQNConfig,
        rng: np.random.Generator,
    ):
        self.config, self.obs_dim, self.rng = config, obs_dim, rng
        self.n_actions = dict(kinds)
        self.online = {k: DuelingQNet(obs_dim, n, config.hidden) for k, n in kinds.items()}
        self.target = {k: copy.deepcopy(net) for k, net in self.online.items()}
        self.optim = {
            k: torch.optim.Adam(net.parameters(), lr=config.lr) for k, net in self.online.items()
        }
        self.replay = {k: ReplayBuffer(config.buffer_size, obs_dim, rng) for k in kinds}
        self.obs_mean = {k: np.zeros(obs_dim, np.float32) for k in kinds}
        self.obs_std = {k: np.ones(obs_dim, np.float32) for k in kinds}
        self.updates = dict.fromkeys(kinds, 0)

    def set_obs_scale(self, kind: str, obs: np.ndarray) -> None:
        """Fix the standardization of ``kind`` from sample observations (N, obs_dim)."""
        self.obs_mean[kind] = obs.mean(axis=0).astype(np.float32)
        self.obs_std[kind] = (obs.std(axis=0) + 1e-6).astype(np.float32)

    def _scaled(self, kind: str, obs: np.ndarray) -> torch.Tensor:
        x = (np.asarray(obs, np.float32) - self.obs_mean[kind]) / self.obs_std[kind]
        return torch.from_numpy(np.ascontiguousarray(x, np.float32))

    def q_values(self, kind: str, obs: np.ndarray) -> np.ndarray:
        """Q(s, ·) of the online net of ``kind`` for a batch of observations (N, obs_dim)."""
        with torch.inference_mode():
            return self.online[kind](self._scaled(kind, obs)).numpy()

    def act(self, kind: str, obs: np.ndarray, epsilon: float = 0.0) -> np.ndarray:
        """Greedy actions, each replaced by a uniform one with probability ``epsilon``."""
        greedy = self.q_values(kind, obs).argmax(axis=1)
        if epsilon <= 0.0:
            return greedy
        explore = self.rng.random(len(greedy)) < epsilon
        rand = self.rng.integers(0, self.n_actions[kind], size=len(greedy))
        return np.where(explore, rand, greedy)

    def epsilon(self, step: int) -> float:
        """Linear decay from eps_start to eps_end over eps_decay_steps environment steps."""
        c = self.config
        frac = min(1.0, step / max(1, c.eps_decay_steps))
        return c.eps_start + frac * (c.eps_end - c.eps_start)

    def update(self, kind: str) -> float | None:
        """One gradient step of ``kind`` on a replay batch; None before learning_starts."""
        c, buf = self.config, self.replay[kind]
        if len(buf) < max(c.learning_starts, c.batch_size):
            return None
        b = buf.sample(c.batch_size)
        obs, nxt = self._scaled(kind, b.obs), self._scaled(kind, b.next_obs)
        act = torch.from_numpy(b.action)
        rew, done = torch.from_numpy(b.reward), torch.from_numpy(b.done)
        with torch.no_grad():
            q_next_target = self.target[kind](nxt)
            if c.double:
                a_star = self.online[kind](nxt).argmax(dim=1, keepdim=True)
                q_next = q_next_target.gather(1, a_star).squeeze(1)
            else:
                q_next = q_next_target.max(dim=1).values
            target = rew + c.gamma * (1.0 - done) * q_next
        q = self.online[kind](obs).gather(1, act[:, None]).squeeze(1)
        loss = nn.functional.smooth_l1_loss(q, target)
        opt = self.optim[kind]
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.online[kind].parameters(), c.grad_clip)
        opt.step()
        self.updates[kind] += 1
        if self.updates[kind] % c.target_update == 0:
            self.target[kind].load_state_dict(self.online[kind].state_dict())
        return float(loss.detach())

    def arrays(self) -> dict[str, np.ndarray]:
        """Weights and observation scalers of every type, for a checkpoint."""
        out: dict[str, np.ndarray] = {}
        for k, net in self.online.items():
            for name, t in net.state_dict().items():
                out[f"dqn/{k}/{name}"] = t.detach().numpy().copy()
            out[f"obs_mean/{k}"], out[f"obs_std/{k}"] = self.obs_mean[k], self.obs_std[k]
        return out

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`arrays` (targets are set equal to the online nets)."""
        for k, net in self.online.items():
            start = f"dqn/{k}/"
            state = {
                n[len(start) :]: torch.from_numpy(v.copy())
                for n, v in arrays.items()
                if n.startswith(start)
            }
            if not state:
                raise KeyError(f"checkpoint has no Dueling DQN weights for DER type '{k}'")
            net.load_state_dict(state)
            self.target[k].load_state_dict(state)
            self.obs_mean[k], self.obs_std[k] = arrays[f"obs_mean/{k}"], arrays[f"obs_std/{k}"]
