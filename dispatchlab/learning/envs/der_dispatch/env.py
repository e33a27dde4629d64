"""``der-dispatch``: seed000's edge controllers (PV, storage, flexible load) as a PettingZoo
parallel environment, with exact LMPs, a real AC power flow and an exact oracle.

Agents: one per DER unit, named ``pv_j``, ``storage_j``, ``flex_j`` (``env.unit_kinds`` maps
agent → kind). Every agent observes the same 8 fields (:data:`OBS_FIELDS`, float32), so one
shared policy per kind (seed000 §3.4 parameter sharing) works on any of them:

====  ===============  ==================================================================
 idx   field            meaning
====  ===============  ==================================================================
 0     soc              storage state of charge z, fraction of capacity (0 for PV, flex)
 1     p_pu             output applied at the previous step / rated power
 2     p_min_pu         lowest output possible this step / rated (storage: energy room)
 3     p_max_pu         highest output possible this step / rated (PV: realized availability)
 4     forecast_pu      next 15-min forecast of the unit's available maximum / rated
                        (PV: forecast profile; storage: discharge limit at the current SOC;
                        flexible load: its band)
 5–6   tod_sin/cos      time of day, sin/cos(2π·h/24)
 7     lmp_pu           LMP at the unit's bus / ``env.price_scale`` ($/MWh, the mean λ0)
====  ===============  ==================================================================

Actions: ``discrete`` — level ℓ ∈ {0, …, L−1} → ``P = P_min + ℓ (P_max − P_min)/(L − 1)``
over the step's available range (L = 5 contains the paper's −1, 0, +½, +1 p.u. of a storage
unit); ``continuous`` — a ∈ [−1, 1] (Box of shape (1,)) → ``P = P_min + (a + 1)/2 (P_max −
P_min)``; a continuous action outside [−1, 1] is clipped and reported in
``info["clipped"]``. Reward per agent: seed000 eq. 2 − eq. 3 (+ bonus), see
:mod:`~dispatchlab.learning.envs.der_dispatch.core`. Prices: :mod:`~.prices`.
Oracle: :mod:`~.oracle`. Docs: docs/env-der-dispatch.md.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from gymnasium import spaces
from pettingzoo import ParallelEnv

from dispatchlab.cases.case import Case
from dispatchlab.learning.envs.base import Oracle, check_reset_options
from dispatchlab.learning.envs.der_dispatch.config import DERDispatchConfig
from dispatchlab.learning.envs.der_dispatch.core import OBS_FIELDS, DispatchCore, StepInfo
from dispatchlab.learning.envs.der_dispatch.oracle import solve_oracle
from dispatchlab.learning.envs.der_dispatch.prices import PriceState, exact_lmps
from dispatchlab.learning.envs.der_dispatch.units import KINDS
from dispatchlab.learning.seeding import child_rngs
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Status

_DEFAULT_CASE = "ieee33-seed000"


def _config(case, config: DERDispatchConfig | None, options: dict) -> DERDispatchConfig:
    if config is None:
        return DERDispatchConfig(case=case, **options)
    if case is not _DEFAULT_CASE:
        options = dict(options, case=case)
    return config.replace(**options)


class _ArrayAPI:
    """What the single and vector envs share: the core, action checks, names."""

    core: DispatchCore

    def _setup(self, cfg: DERDispatchConfig) -> None:
        self.config = cfg
        self.core = DispatchCore(cfg)
        u = self.core.units
        self.possible_agents: list[str] = list(u.names)
        self.unit_kinds: dict[str, str] = {
            a: KINDS[k] for a, k in zip(u.names, u.kind, strict=True)
        }
        self.unit_bus: dict[str, int] = {a: int(b) for a, b in zip(u.names, u.bus_id, strict=True)}
        self.observation_layout: dict[str, tuple[str, ...]] = dict.fromkeys(KINDS, OBS_FIELDS)
        self.bus_ids = self.core.grid.bus_ids
        self.price_scale = self.core.grid.price_scale
        self.n_units = u.n
        self.obs_dim = len(OBS_FIELDS)
        self.n_steps = self.core.n_steps

    @property
    def case(self) -> Case:
        """The Case the env reads (never mutated)."""
        return self.core.grid.case

    @property
    def units(self) -> pd.DataFrame:
        """The units as a DER table (der_id = position in the action array)."""
        return self.core.units.table.copy()

    def price_state(self) -> PriceState:
        """The price model's input at the current step's broadcast (arrays (S, n_bus); S = 1
        for the single env): features for a learned price model."""
        if not self.core.scenarios:
            raise RuntimeError("call reset() first")
        return self.core.price_state(self.core.grid.broadcast_index(self.core.k))

    def exact_lmp(self, state: PriceState) -> np.ndarray:
        """Exact DLMPs ($/MWh, (S, n_bus)) of any ``state``: training targets for a learned
        price model (the substation price is λ0 at each state's time of day)."""
        g = self.core.grid
        rows = np.minimum((state.time_h * 60.0 // g.series_minutes).astype(int), g.n_series - 1)
        return exact_lmps(g.price_net, state, g.lam0[rows])

    def _check_actions(self, actions: Any, shape: tuple[int, ...]) -> np.ndarray:
        arr = np.asarray(actions)
        if arr.shape != shape:
            raise ValueError(
                f"actions must have shape {shape} (one per unit, env.possible_agents order); "
                f"got {arr.shape}"
            )
        if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
            raise ValueError(f"actions must be numbers, got dtype {arr.dtype}")
        flat = arr.reshape(-1, self.n_units).astype(float)
        bad = ~np.isfinite(flat)
        if bad.any():
            raise ValueError(f"action for '{self._name(bad)}' is not finite (NaN or inf)")
        if self.config.action_mode == "discrete":
            top = self.config.n_levels - 1
            wrong = (flat != np.round(flat)) | (flat < 0) | (flat > top)
            if wrong.any():
                raise ValueError(
                    f"action for '{self._name(wrong)}' must be an integer level in "
                    f"0…{top} (discrete mode, n_levels={top + 1})"
                )
        return flat

    def _name(self, mask: np.ndarray) -> str:
        return self.possible_agents[int(np.argwhere(mask)[0][1])]

    def _clip_report(self, info: StepInfo, s: int) -> dict:
        idx = np.flatnonzero(info.clipped[s])
        return {
            "count": len(idx),
            "agents": [self.possible_agents[i] for i in idx],
            "max_excess": float(info.clip_excess[s].max()) if len(idx) else 0.0,
        }


class DERDispatchEnv(ParallelEnv, _ArrayAPI):
    """seed000 DER dispatch on a feeder; options are the fields of :class:`DERDispatchConfig`
    (``n_units``, ``step_minutes``, ``horizon_h``, ``action_mode``, ``n_levels``,
    ``price_model``, ``seed`` …) or one ``config``."""

    metadata: ClassVar[dict] = {"name": "der_dispatch_v0", "render_modes": []}

    def __init__(
        self,
        case: str | Case = _DEFAULT_CASE,
        *,
        config: DERDispatchConfig | None = None,
        **options: Any,
    ):
        self._setup(_config(case, config, options))
        self.agents: list[str] = []
        self.render_mode = None
        self._rng = np.random.default_rng(self.config.seed)
        self.scenario_seed: int | None = None
        obs_space = spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)
        if self.config.action_mode == "discrete":
            act = {a: spaces.Discrete(self.config.n_levels) for a in self.possible_agents}
        else:
            act = {a: spaces.Box(-1.0, 1.0, (1,), np.float32) for a in self.possible_agents}
        self._obs_spaces = dict.fromkeys(self.possible_agents, obs_space)
        self._act_spaces = act
        self._done = True

    # ---------------------------------------------------------------------- spaces
    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    # ------------------------------------------------------------------- array API
    def reset_arrays(self, seed: int | None = None) -> np.ndarray:
        """Start an episode of scenario ``seed`` (drawn from the env's RNG when None);
        returns the observations (n_units, obs_dim)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self.scenario_seed = int(seed)
        else:
            self.scenario_seed = int(self._rng.integers(2**31 - 1))
        self._done = False
        return self.core.reset([self.scenario_seed])[0]

    def step_arrays(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, dict]:
        """One step for all units: ``actions`` (n_units,) → obs (n_units, obs_dim), rewards
        (n_units,), terminated, info (``violations``, ``metrics``, ``clipped``, ``p_mw``)."""
        if self._done:
            raise RuntimeError("call reset() (or reset_arrays()) before stepping")
        act = self._check_actions(actions, (self.n_units,))
        obs, rew, done, info = self.core.step(act)
        self._done = done
        return obs[0], rew[0], done, self._info(info)

    def _info(self, info: StepInfo) -> dict:
        return {
            "violations": {k: float(v[0]) for k, v in info.violations.items()},
            "metrics": {k: float(v[0]) for k, v in info.metrics.items()},
            "clipped": self._clip_report(info, 0),
            "p_mw": info.p_mw[0],
        }

    def observation_array(self) -> np.ndarray:
        """Current observations (n_units, obs_dim), float32."""
        return self.core.observation()[0]

    # -------------------------------------------------------------------- dict API
    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        """Start an episode; ``options={"day": d}`` plays scenario day ``d`` (the same as
        ``seed=d``: a day is its scenario seed), so every policy can play the same days."""
        check_reset_options("der-dispatch", options, ("day",))
        day = (options or {}).get("day")
        if day is not None:
            if isinstance(day, bool) or not float(day).is_integer() or day < 0:
                raise ValueError(f"reset(options={{'day': {day!r}}}): a non-negative integer")
            seed = int(day)
        obs = self.reset_arrays(seed)
        self.agents = list(self.possible_agents)
        info = {"scenario_seed": self.scenario_seed}
        return dict(zip(self.agents, obs, strict=True)), dict.fromkeys(self.agents, info)

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        missing = [a for a in self.agents if a not in actions]
        unknown = [a for a in actions if a not in self._act_spaces]
        if missing or unknown:
            raise ValueError(
                f"step() needs one action per live agent: missing {missing[:5]}, "
                f"unknown {unknown[:5]}"
            )
        arr = np.empty(self.n_units)
        for i, a in enumerate(self.possible_agents):
            value = np.asarray(actions[a])
            if value.size != 1 or not np.issubdtype(value.dtype, np.number):
                raise ValueError(f"action for '{a}' must be one number, got {actions[a]!r}")
            arr[i] = float(value.reshape(-1)[0])
        obs, rew, done, info = self.step_arrays(arr)
        agents = self.agents
        out = (
            dict(zip(agents, obs, strict=True)),
            {a: float(r) for a, r in zip(agents, rew, strict=True)},
            dict.fromkeys(agents, done),
            dict.fromkeys(agents, False),
            dict.fromkeys(agents, info),
        )
        if done:
            self.agents = []
        return out

    def state(self) -> np.ndarray:
        """Global state: every unit's observation (flattened, agent order), then the LMP
        ($/MWh) and the voltage magnitude (p.u.) of every bus (``env.bus_ids`` order)."""
        c = self.core
        return np.concatenate([self.observation_array().ravel(), c.lmp_bus[0], c.vm[0]]).astype(
            np.float32
        )

    @functools.cached_property
    def state_space(self) -> spaces.Box:
        n = self.n_units * self.obs_dim + 2 * len(self.bus_ids)
        return spaces.Box(-np.inf, np.inf, (n,), np.float32)

    # ---------------------------------------------------------------------- oracle
    def oracle(self, *, time_limit: float = 30.0) -> Oracle:
        """The centralized exact dispatch of all units for the current state (nothing is
        mutated); ``env.step(env.oracle().action)`` plays it."""
        if self._done:
            raise RuntimeError("call reset() before oracle()")
        sol = solve_oracle(self.core, 0, time_limit=time_limit)
        if self.config.action_mode == "discrete":
            action = {a: int(v) for a, v in zip(self.possible_agents, sol.action, strict=True)}
        else:
            action = {
                a: np.array([v]) for a, v in zip(self.possible_agents, sol.action, strict=True)
            }
        der = self.core.units.table[["name", "bus", "kind"]].assign(
            p_mw=sol.p_mw, reward_usd=sol.reward_usd
        )
        result = Result(
            Status.OPTIMAL, float(sol.reward_usd.sum()), "der-dispatch-oracle", self.case.name
        )
        result.der = der
        result.info = dict(sol.info, violations=sol.violations)
        info = dict(sol.info, violations=sol.violations, action_array=sol.action)
        return Oracle(action, float(sol.reward_usd.sum()), "usd", result, info)

    def close(self) -> None:
        pass


class VectorDERDispatchEnv(_ArrayAPI):
    """``num_envs`` scenarios of :class:`DERDispatchEnv` stepped together: arrays carry a
    leading scenario axis, the power flow is one batched call. Scenarios differ by seed
    (forecast-error draws); all end together after ``n_steps`` (no auto-reset)."""

    def __init__(
        self,
        num_envs: int,
        case: str | Case = _DEFAULT_CASE,
        *,
        config: DERDispatchConfig | None = None,
        **options: Any,
    ):
        if not (isinstance(num_envs, int | np.integer) and num_envs >= 1):
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self._setup(_config(case, config, options))
        self.num_envs = int(num_envs)
        self._rng = np.random.default_rng(self.config.seed)
        self.scenario_seeds: list[int] = []
        self._done = True

    def reset_arrays(self, seed: int | Sequence[int] | None = None) -> np.ndarray:
        """Start ``num_envs`` scenarios: ``seed`` a list of scenario seeds (scenario i is
        exactly ``DERDispatchEnv.reset(seed=seed[i])``), one int (child seeds of it) or None
        (drawn from the env's RNG). Returns observations (num_envs, n_units, obs_dim)."""
        if seed is None:
            seeds = [int(x) for x in self._rng.integers(2**31 - 1, size=self.num_envs)]
        elif np.ndim(seed) == 0:
            seeds = [int(r.integers(2**31 - 1)) for r in child_rngs(int(seed), self.num_envs)]
        else:
            seeds = [int(x) for x in seed]
            if len(seeds) != self.num_envs:
                raise ValueError(f"need {self.num_envs} seeds, got {len(seeds)}")
        self.scenario_seeds = seeds
        self._done = False
        return self.core.reset(seeds)

    def reset(self, seed: int | Sequence[int] | None = None, options: dict | None = None):
        """:meth:`reset_arrays`; ``options={"days": [...]}`` gives the scenario days."""
        check_reset_options("der-dispatch (vector)", options, ("days",))
        days = (options or {}).get("days")
        return self.reset_arrays(seed if days is None else [int(d) for d in days])

    def step_arrays(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """``actions`` (num_envs, n_units) → obs (num_envs, n_units, obs_dim), rewards
        (num_envs, n_units), terminated (num_envs,), info of arrays (num_envs,)."""
        if self._done:
            raise RuntimeError("call reset() before stepping")
        act = self._check_actions(actions, (self.num_envs, self.n_units))
        obs, rew, done, info = self.core.step(act)
        self._done = done
        return (
            obs,
            rew,
            np.full(self.num_envs, done),
            {
                "violations": info.violations,
                "metrics": info.metrics,
                "clipped": [self._clip_report(info, s) for s in range(self.num_envs)],
                "p_mw": info.p_mw,
            },
        )

    step = step_arrays

    def observation_array(self) -> np.ndarray:
        return self.core.observation()

    def oracle_actions(self, *, time_limit: float = 30.0) -> np.ndarray:
        """The oracle's action of every scenario (num_envs, n_units), in the env's format."""
        if self._done:
            raise RuntimeError("call reset() before oracle_actions()")
        return np.stack(
            [solve_oracle(self.core, s, time_limit=time_limit).action for s in range(self.num_envs)]
        )


__all__ = [
    "OBS_FIELDS",
    "DERDispatchConfig",
    "DERDispatchEnv",
    "PriceState",
    "VectorDERDispatchEnv",
]
