"""``der-selection`` over many scenarios at once: ``make_env("der-selection", num_envs=N)``.

Each scenario is one :class:`~.der_selection.DERSelectionEnv` (its own load centroids and
linearized model); ``reset`` draws them all, ``step`` takes every agent's picks for every
scenario as an ``(N, k)`` integer array and returns stacked observations, rewards and
termination flags, with one info dict per scenario. Unlike the other environments there is no
power flow to batch: a der-selection step *is* the reduced LP of the chosen DERs, one per
scenario, so the vector form saves the caller the bookkeeping, not solver time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dispatchlab.learning.envs.der_selection.env import DERSelectionEnv
from dispatchlab.learning.envs.voltage.common import seeds_for

__all__ = ["VectorDERSelectionEnv"]


class VectorDERSelectionEnv:
    """``num_envs`` der-selection scenarios; options as :class:`DERSelectionEnv`'s."""

    def __init__(self, num_envs: int, **options: Any):
        if not (isinstance(num_envs, int | np.integer) and num_envs > 0):
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.num_envs = int(num_envs)
        self.envs = [DERSelectionEnv(**options) for _ in range(self.num_envs)]
        self.possible_agents = list(self.envs[0].possible_agents)
        self.agents: list[str] = []

    def observation_space(self, agent: str):
        """The single-scenario space (observations are stacked over scenarios)."""
        return self.envs[0].observation_space(agent)

    def action_space(self, agent: str):
        """The single-scenario space (actions are stacked over scenarios)."""
        return self.envs[0].action_space(agent)

    def reset(
        self, seed: int | Sequence[int] | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], list[dict]]:
        """Scenario i uses ``seed[i]`` (a sequence) or ``seed + i`` (an int); ``options``:
        the single env's, or ``{"days": [d0, …]}`` (one scenario day each)."""
        seeds = seeds_for(seed, self.num_envs)
        each = [options] * self.num_envs
        if options and "days" in options:
            days = list(options["days"])
            if len(days) != self.num_envs:
                raise ValueError(
                    f"reset(options={{'days': …}}) needs {self.num_envs} entries, got {len(days)}"
                )
            rest = {k: v for k, v in options.items() if k != "days"}
            each = [{**rest, "day": d} for d in days]
        pairs = zip(self.envs, seeds, each, strict=True)
        outs = [env.reset(seed=s, options=o) for env, s, o in pairs]
        self.agents = list(self.possible_agents)
        obs = {a: np.stack([o[a] for o, _ in outs]) for a in self.agents}
        return obs, [info[self.agents[0]] for _, info in outs]

    def step(self, actions: dict[str, Any]):
        """``actions[agent]``: (num_envs, k) picks. Returns obs, rewards, terminations and
        truncations as {agent: (num_envs,) array} and a list of per-scenario infos."""
        if not self.agents:
            raise RuntimeError("call reset() before step()")
        stacked = {}
        for a in self.agents:
            if a not in actions:
                raise KeyError(f"no action for agent '{a}'")
            arr = np.asarray(actions[a])
            if arr.ndim != 2 or len(arr) != self.num_envs:
                raise ValueError(
                    f"action for '{a}' must be ({self.num_envs}, k) integers, got shape {arr.shape}"
                )
            stacked[a] = arr
        outs = [
            env.step({a: stacked[a][i] for a in self.agents}) for i, env in enumerate(self.envs)
        ]
        agents, self.agents = self.agents, []
        obs, rew, term, trunc = (
            {a: np.stack([o[j][a] for o in outs]) for a in agents} for j in range(4)
        )
        return obs, rew, term, trunc, [o[4][agents[0]] for o in outs]

    def oracle_actions(self) -> dict[str, np.ndarray]:
        """Every scenario's oracle picks, stacked as ``step`` takes them."""
        if not self.agents:
            raise RuntimeError("call reset() before oracle_actions()")
        picks = [env.oracle().action for env in self.envs]
        return {a: np.stack([p[a] for p in picks]) for a in self.agents}
