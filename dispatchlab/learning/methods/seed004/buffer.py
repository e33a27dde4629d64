"""Replay of whole training days for seed004: histories are cut from the stored days.

The DGCN reads 16 intervals of global state per decision. Storing each transition's two
windows would cost 2 × 16 × 119 floats; storing each day once (97 states, 96 decisions) and
cutting the windows at sampling time costs 1/30 of that, so 400 days fit in ≈ 60 MB.
"""

from __future__ import annotations

import numpy as np


class DayBuffer:
    """A ring of ``capacity`` days of (states, observations, actions, rewards, masks)."""

    def __init__(self, capacity: int, steps: int, state_dim: int, obs_shape, act_shape, units):
        f32 = np.float32
        self.states = np.zeros((capacity, steps + 1, state_dim), f32)
        self.obs = np.zeros((capacity, steps + 1, *obs_shape), f32)
        self.actions = np.zeros((capacity, steps, *act_shape), f32)
        self.rewards = np.zeros((capacity, steps), f32)
        self.masks = np.zeros((capacity, steps, units, units), bool)
        self.demo = np.zeros(capacity, bool)  #: days played by the oracle (kept, never overwritten)
        self.capacity, self.steps, self.size, self._next = capacity, steps, 0, 0

    def add(self, states, obs, actions, rewards, masks, demo: bool = False) -> None:
        """Store B days: arrays with a leading day axis (states/obs have steps + 1 rows).
        Demonstration days are stored first and the ring never overwrites them."""
        for b in range(len(states)):
            i = self._next
            self.states[i], self.obs[i], self.actions[i] = states[b], obs[b], actions[b]
            self.rewards[i], self.masks[i], self.demo[i] = rewards[b], masks[b], demo
            self.size = min(self.size + 1, self.capacity)
            kept = int(self.demo[: self.size].sum()) if not demo else 0
            self._next = i + 1 if i + 1 < self.capacity else kept
            if self.size == self.capacity and self.demo[self._next]:
                self._next = int(self.demo.sum()) % self.capacity

    def windows(self, day: np.ndarray, k: np.ndarray, lookback: int) -> np.ndarray:
        """(n, lookback, state) histories ending at interval k (the day's first state repeated
        before its start)."""
        idx = np.clip(k[:, None] + np.arange(1 - lookback, 1)[None, :], 0, None)
        return self.states[day[:, None], idx]

    def sample(self, n: int, lookback: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` transitions drawn uniformly: histories at k and k + 1 and the rest."""
        day = rng.integers(self.size, size=n)
        k = rng.integers(self.steps, size=n)
        return {
            "hist": self.windows(day, k, lookback),
            "hist_next": self.windows(day, k + 1, lookback),
            "obs": self.obs[day, k],
            "obs_next": self.obs[day, k + 1],
            "action": self.actions[day, k],
            "reward": self.rewards[day, k],
            "done": (k == self.steps - 1).astype(np.float32),
            "mask": self.masks[day, k],
            "demo": self.demo[day],
        }
