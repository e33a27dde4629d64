"""A replay buffer as numpy ring arrays: the shared experience pool of seed000 §3.4.

All agents of one DER type write their transitions into one buffer (parameter sharing: one
network per type learns from every unit of that type). Hand-written rather than taken from a
library because the transitions arrive as whole arrays (all units of a type at once, from the
environment's array API) and a ring of preallocated numpy arrays stores a batch with one slice
assignment; torchrl / stable-baselines buffers add a dependency and per-item overhead for the
same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Batch:
    """Sampled transitions: obs (B, d), action (B,), reward (B,), next_obs (B, d), done (B,)."""

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_obs: np.ndarray
    done: np.ndarray


class ReplayBuffer:
    """Fixed-capacity FIFO of transitions with uniform sampling.

    ``add`` takes a batch of transitions (first axis = units); once full, the oldest are
    overwritten. ``sample`` draws uniformly with replacement from what is stored.
    """

    def __init__(self, capacity: int, obs_dim: int, rng: np.random.Generator):
        if capacity <= 0:
            raise ValueError(f"replay capacity must be positive, got {capacity}")
        if obs_dim <= 0:
            raise ValueError(f"observation dimension must be positive, got {obs_dim}")
        self.capacity, self.obs_dim, self.rng = capacity, obs_dim, rng
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.action = np.zeros(capacity, np.int64)
        self.reward = np.zeros(capacity, np.float32)
        self.done = np.zeros(capacity, np.float32)
        self.pos = 0
        self.size = 0
        self.added = 0  # transitions ever added

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        next_obs: np.ndarray,
        done: np.ndarray | bool,
    ) -> None:
        """Store ``len(action)`` transitions (arrays with the units on the first axis)."""
        obs, next_obs = np.atleast_2d(obs), np.atleast_2d(next_obs)
        action = np.atleast_1d(action)
        n = len(action)
        for name, arr in (("obs", obs), ("next_obs", next_obs)):
            if arr.shape != (n, self.obs_dim):
                raise ValueError(
                    f"replay: '{name}' has shape {arr.shape}, expected ({n}, {self.obs_dim})"
                )
        reward = np.broadcast_to(np.asarray(reward, np.float32), (n,))
        done = np.broadcast_to(np.asarray(done, np.float32), (n,))
        if n > self.capacity:  # only the newest fit
            obs, action, reward, next_obs, done = (
                a[-self.capacity :] for a in (obs, action, reward, next_obs, done)
            )
            n = self.capacity
        idx = (self.pos + np.arange(n)) % self.capacity
        self.obs[idx], self.next_obs[idx] = obs, next_obs
        self.action[idx], self.reward[idx], self.done[idx] = action, reward, done
        self.pos = int((self.pos + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)
        self.added += n

    def sample(self, batch_size: int) -> Batch:
        """``batch_size`` transitions drawn uniformly (with replacement) from the stored ones."""
        if self.size == 0:
            raise ValueError("replay: cannot sample from an empty buffer")
        i = self.rng.integers(0, self.size, size=batch_size)
        return Batch(self.obs[i], self.action[i], self.reward[i], self.next_obs[i], self.done[i])
