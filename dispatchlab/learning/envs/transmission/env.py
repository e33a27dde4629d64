"""Transmission dispatch on ieee30-seed004 as a PettingZoo parallel game (seed004 §2.1).

Agents: 6 thermal units (3 actions: ΔP, up-reserve, down-reserve), 3 wind plants (1:
output share; seed004 §2.1 names wind-farm aggregators as agents — they are here because the
exact dispatch curtails wind to relieve lines, and its action must be playable), the storage
(2: charge/discharge, reserve share) and 3 load-serving entities (2: flexible-load shift,
interruption request). All actions are Box(−1, 1) in normalized units
(:meth:`TransmissionEngine.setpoints`). An episode is one day of 96 intervals of 15 min from
the chosen chronological split (60 / 15 / 15 days, seed004 §3.1). The slack unit balances
the agents' schedule; a DC power flow (PTDF) settles the flows; the reward (shared by all
agents) is seed004 eq. 4 with the constraint families of eqs. 5–8 as penalties.

    >>> env = TransmissionDispatchEnv(split="test")
    >>> obs, infos = env.reset(seed=0)
    >>> best = env.oracle()                       # exact SCED of this interval
    >>> obs, rewards, terms, truncs, infos = env.step(best.action)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from dispatchlab.learning.envs.base import Oracle, check_reset_options, require_finite
from dispatchlab.learning.envs.transmission.engine import (
    ACTION_DIMS,
    KINDS,
    TransmissionConfig,
    TransmissionEngine,
)
from dispatchlab.learning.envs.transmission.obs import COMMON, LOCAL, STATE_LAYOUT, obs_size
from dispatchlab.solvers.result import Result

__all__ = ["TransmissionConfig", "TransmissionDispatchEnv", "VectorTransmissionDispatchEnv"]


def _config(config: TransmissionConfig | None, overrides: dict) -> TransmissionConfig:
    base = config or TransmissionConfig()
    known = {f.name for f in dataclasses.fields(TransmissionConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; TransmissionConfig has {sorted(known)}")
    return dataclasses.replace(base, **overrides)


def _gather(engine: TransmissionEngine, actions: dict, live: list[str], batch: int | None):
    """Validate the agents' actions and stack them per kind: (B, n, dim) in [−1, 1], plus
    {agent: largest excess beyond [−1, 1]} for the actions that had to be clipped."""
    unknown = sorted(set(actions) - set(live))
    if unknown:
        raise KeyError(f"action for unknown or finished agent(s) {unknown}; live: {live}")
    out, clipped = {}, {}
    for kind in KINDS:
        rows = []
        for name in engine.agents[kind]:
            if name not in actions:
                raise KeyError(f"no action for agent '{name}'")
            a = require_finite(name, actions[name])
            want = (ACTION_DIMS[kind],) if batch is None else (batch, ACTION_DIMS[kind])
            if a.shape != want:
                raise ValueError(f"action for '{name}' must have shape {want}, got {a.shape}")
            excess = float(np.max(np.abs(a) - 1.0))
            if excess > 0:
                clipped[name] = excess
            rows.append(np.clip(a, -1.0, 1.0))
        stacked = np.stack(rows, axis=-2)  # (n, dim) or (B, n, dim)
        out[kind] = stacked[None] if batch is None else stacked
    return out, clipped


class TransmissionDispatchEnv(ParallelEnv):
    """seed004's dispatch game on ieee30-seed004 (see the module docstring and
    docs/env-transmission.md). Options: the fields of :class:`TransmissionConfig`."""

    metadata: ClassVar[dict] = {"name": "transmission-dispatch", "render_modes": []}

    def __init__(self, config: TransmissionConfig | None = None, *, case=None, **options: Any):
        self.config = _config(config, options)
        self.engine = TransmissionEngine(self.config, case)
        self.possible_agents = [a for k in KINDS for a in self.engine.agents[k]]
        self.agents: list[str] = []
        self._kind = {a: k for k in KINDS for a in self.engine.agents[k]}
        self._rng = np.random.default_rng()
        self.state_space = spaces.Box(-np.inf, np.inf, (self.state_size,), np.float32)

    @property
    def state_size(self) -> int:
        return sum(n for _, n in STATE_LAYOUT)

    @functools.cache  # noqa: B019 - one space object per agent (API test)
    def observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(-np.inf, np.inf, (obs_size(self._kind[agent]),), np.float32)

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (ACTION_DIMS[self._kind[agent]],), np.float32)

    def observation_fields(self, agent: str) -> list[str]:
        """Names of the features of ``agent``'s observation, in order."""
        return [*COMMON, *LOCAL[self._kind[agent]]]

    @property
    def days(self) -> np.ndarray:
        """Day numbers (0-based, in the case's series) of the configured split."""
        return self.engine.days

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start a day: ``options={"day": d}`` picks day ``d`` of the split, else one is drawn
        from the split with the generator seeded by ``seed``."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        check_reset_options("transmission-dispatch", options, ("day",))
        day = (options or {}).get("day")
        if day is None:
            day = int(self._rng.choice(self.engine.days))
        elif not float(day).is_integer():
            raise ValueError(f"reset(options={{'day': {day!r}}}): the day must be an integer")
        self.engine.reset(np.array([int(day)]))
        self.agents = list(self.possible_agents)
        info = {"day": int(day), "time": str(self.engine.sys.times[self.engine.state.t[0]])}
        return self._obs(), {a: info for a in self.agents}

    def _obs(self) -> dict[str, np.ndarray]:
        by_kind = self.engine.observations()
        return {a: by_kind[k][0, i] for k in KINDS for i, a in enumerate(self.engine.agents[k])}

    def state(self) -> np.ndarray:
        """The global state (:data:`~.obs.STATE_LAYOUT`, 119 features)."""
        self._require_running()
        return self.engine.global_state()[0]

    def _require_running(self) -> None:
        if self.engine.state is None or not self.agents:
            raise RuntimeError("call reset() first (the episode is over or never started)")

    def _info(self, out: dict, metrics: dict, clipped: dict, unit_clip: np.ndarray) -> dict:
        gen_names = self.engine.agents["gen"]
        clip_mw = {n: float(unit_clip[0, i]) for i, n in enumerate(gen_names) if unit_clip[0, i]}
        return {
            "metrics": {k: float(v[0]) for k, v in metrics.items()},
            "violations": {k: float(v[0]) for k, v in out["violations"].items()},
            "clipped_actions": clipped,
            "unit_limit_clipped_mw": clip_mw,
            "time": str(self.engine.sys.times[self.engine.state.t[0]]),
        }

    def evaluate(self, actions: dict[str, np.ndarray]) -> tuple[float, dict]:
        """(reward, info) of playing ``actions`` in the current interval, without advancing."""
        self._require_running()
        acts, clipped = _gather(self.engine, actions, self.agents, None)
        reward, out, metrics = self.engine.evaluate(acts)
        unit_clip = self.engine.unit_clipping(acts, self.engine.state)
        return float(reward[0]), self._info(out, metrics, clipped, unit_clip)

    def step(self, actions: dict[str, np.ndarray]):
        self._require_running()
        acts, clipped = _gather(self.engine, actions, self.agents, None)
        reward, out, metrics = self.engine.evaluate(acts)
        info = self._info(out, metrics, clipped, self.engine.unit_clipping(acts, self.engine.state))
        self.engine.advance(out, acts)
        done = self.engine.state.k >= self.engine.steps
        agents = list(self.agents)
        obs = (
            self._obs()
            if not done
            else {a: np.zeros(self.observation_space(a).shape, np.float32) for a in agents}
        )
        rewards = dict.fromkeys(agents, float(reward[0]))
        terms = dict.fromkeys(agents, bool(done))
        truncs = dict.fromkeys(agents, False)
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, {a: info for a in agents}

    def oracle(self) -> Oracle:
        """The exact dispatch of the current interval (seed004 eqs. 5–8 with reserves, ramps
        from the current outputs and line limits; :mod:`.oracle`), its objective
        ($, equal to the environment's cost of eq. 4 for the mapped action) and the action."""
        self._require_running()
        acts, objective, sol, info = self.engine.oracle(0)
        result = Result(
            status=sol.status,
            objective=objective,
            problem="sced-interval",
            case_name=self.engine.case.name,
            info={"iterations": sol.iterations},
        )
        if acts is None:
            return Oracle(action=None, objective=objective, unit="usd", result=result, info=info)
        action = {
            a: acts[k][i].astype(np.float32).astype(float)
            for k in KINDS
            for i, a in enumerate(self.engine.agents[k])
        }
        return Oracle(action=action, objective=objective, unit="usd", result=result, info=info)


class VectorTransmissionDispatchEnv:
    """``num_envs`` days stepped at once. Actions: {agent: (num_envs, dim)}; returns per-agent
    (num_envs, obs) observations, (num_envs,) rewards / flags and one info dict of arrays.
    All days start together and end together after 96 intervals; then call ``reset``."""

    def __init__(
        self, num_envs: int, config: TransmissionConfig | None = None, *, case=None, **options
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be ≥ 1, got {num_envs}")
        self.num_envs = int(num_envs)
        self.config = _config(config, options)
        self.engine = TransmissionEngine(self.config, case)
        self.possible_agents = [a for k in KINDS for a in self.engine.agents[k]]
        self.agents: list[str] = []
        self._rng = np.random.default_rng()

    def reset(self, seed: int | None = None, options: dict | None = None):
        """``options={"days": [...]}`` picks the days; else drawn (with replacement when there
        are more environments than days) from the split by the generator seeded by ``seed``."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        check_reset_options("transmission-dispatch (vector)", options, ("days",))
        days = (options or {}).get("days")
        if days is None:
            pool = self.engine.days
            days = self._rng.choice(pool, self.num_envs, replace=self.num_envs > len(pool))
        days = np.asarray(days, dtype=int)
        if days.shape != (self.num_envs,):
            raise ValueError(f"options['days'] needs {self.num_envs} entries, got {days.shape}")
        self.engine.reset(days)
        self.agents = list(self.possible_agents)
        return self._obs(), {"days": days}

    def _obs(self) -> dict[str, np.ndarray]:
        by_kind = self.engine.observations()
        return {a: by_kind[k][:, i] for k in KINDS for i, a in enumerate(self.engine.agents[k])}

    def state(self) -> np.ndarray:
        return self.engine.global_state()

    def step(self, actions: dict[str, np.ndarray]):
        if not self.agents:
            raise RuntimeError("call reset() first (the episodes are over or never started)")
        acts, clipped = _gather(self.engine, actions, self.agents, self.num_envs)
        reward, out, metrics = self.engine.evaluate(acts)
        info = {
            "metrics": metrics,
            "violations": out["violations"],
            "clipped_actions": clipped,
            "unit_limit_clipped_mw": self.engine.unit_clipping(acts, self.engine.state),
        }
        self.engine.advance(out, acts)
        done = self.engine.state.k >= self.engine.steps
        obs = self._obs()
        flags = np.full(self.num_envs, done)
        agents = list(self.agents)
        if done:
            self.agents = []
        return (
            obs,
            {a: reward for a in agents},
            {a: flags for a in agents},
            {a: np.zeros(self.num_envs, bool) for a in agents},
            info,
        )
