"""``voltage-control``: seed001's MT / PV / wind / SVC agents on ieee33 (PettingZoo parallel).

One agent per controllable resource (``mt13``, ``pv15``, ``wind5``, ``svc8`` …). Each step an
agent sets its active and reactive power (``[p_mw, q_mvar]``; an SVC only ``[q_mvar]``); the
environment projects the set-points onto the device limits (reported in ``info``), solves the
AC power flow and pays every agent ``−(C_NL + C_VOL + C^k_VOL)`` of seed001 §4.2
(:mod:`.costs`). ``state()`` is the global feature row, ``oracle()`` the per-step AC-OPF
of the same cost (:mod:`.oracle`). ``VectorVoltageControlEnv`` steps ``num_envs``
scenarios (days / noise by seed) with one power-flow call. See docs/env-voltage-control.md.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from gymnasium import spaces
from pettingzoo import ParallelEnv

from dispatchlab.learning.envs.base import Oracle, require_finite
from dispatchlab.learning.envs.voltage.common import (
    ProfileConfig,
    SingleScenario,
    VectorScenarios,
    VoltageEnvBase,
    check_agents,
    numeric_action,
)
from dispatchlab.learning.envs.voltage.core import VoltageControlConfig, VoltageCore
from dispatchlab.learning.envs.voltage.costs import CostWeights
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Status

__all__ = [
    "CostWeights",
    "ProfileConfig",
    "VectorVoltageControlEnv",
    "VoltageControlConfig",
    "VoltageControlEnv",
]

COST_UNIT = "seed001 cost per step (c_loss·P_loss[p.u.] + voltage terms)"


class _Base(VoltageEnvBase):
    """Construction, spaces and action parsing shared by the single and vector forms."""

    metadata: ClassVar[dict] = {"name": "voltage-control", "render_modes": []}

    config_cls = VoltageControlConfig
    core_cls = VoltageCore

    def _make_spaces(self) -> None:
        self._dims = [2 if hp else 1 for hp in self.core.has_p]
        starts = np.cumsum([0, *self._dims[:-1]])
        self._p_cols = np.flatnonzero(self.core.has_p)
        self._p_idx = starts[self._p_cols]  # where each P sits in the concatenated actions
        self._q_idx = starts + np.asarray(self._dims) - 1
        c = self.core
        self._obs_spaces = {
            a: spaces.Box(-np.inf, np.inf, (len(c.obs_index[k]),), np.float32)
            for k, a in enumerate(self.possible_agents)
        }
        self._act_spaces = {}
        for k, a in enumerate(self.possible_agents):
            lo = [c.p_min[k], c.q_min[k]] if c.has_p[k] else [c.q_min[k]]
            hi = [c.p_max[k], c.q_max[k]] if c.has_p[k] else [c.q_max[k]]
            self._act_spaces[a] = spaces.Box(np.array(lo), np.array(hi), dtype=np.float64)
        self._oracle = None

    def _parse(self, actions: dict, n_scen: int) -> tuple[np.ndarray, np.ndarray]:
        """(S, agents) requested P and Q from a dict agent -> action; clear errors."""
        check_agents(actions, self.possible_agents)
        parts = []
        for k, agent in enumerate(self.possible_agents):
            arr = numeric_action(actions, agent)
            want = (self._dims[k],) if n_scen == 1 and arr.ndim <= 1 else (n_scen, self._dims[k])
            if arr.shape != want:
                unit = "[p_mw, q_mvar]" if self._dims[k] == 2 else "[q_mvar]"
                raise ValueError(
                    f"action for '{agent}' must have shape {want} {unit}, got {arr.shape}"
                )
            parts.append(arr.reshape(n_scen, -1))
        flat = np.concatenate(parts, axis=1)
        if not np.isfinite(flat).all():
            bad = [
                a
                for a, x in zip(self.possible_agents, parts, strict=True)
                if not np.isfinite(x).all()
            ]
            require_finite(bad[0], parts[self.possible_agents.index(bad[0])])
        p = np.zeros((n_scen, len(self._dims)))
        p[:, self._p_cols] = flat[:, self._p_idx]
        return p, flat[:, self._q_idx]

    def _oracle_for(self, scen: int) -> Oracle:
        """The per-step AC-OPF of scenario ``scen``; its action is exactly feasible."""
        from dispatchlab.learning.envs.voltage.oracle import StepOPF

        c = self.core
        if not self.agents or c.done:  # before the first reset the core has no step yet
            raise RuntimeError("call reset() first (the episode is over or never started)")
        if self._oracle is None:
            self._oracle = StepOPF(c)
        sol = self._oracle.solve(scen)
        b = {k: v[scen] for k, v in c.bounds().items()}
        p = np.clip(sol["p_mw"], b["p_lo"], b["p_hi"])
        q = np.clip(sol["q_mvar"], c.q_min, c.q_max)
        cap = np.sqrt(np.maximum(c.s_max**2 - p**2, 0.0))
        q = np.clip(q, -cap, cap)
        action = {
            a: np.array([p[k], q[k]]) if c.has_p[k] else np.array([q[k]])
            for k, a in enumerate(self.possible_agents)
        }
        p_all, q_all = c.p_prev.copy(), c.q_prev.copy()
        p_all[scen], q_all[scen] = p, q
        res, costs = c.evaluate(p_all, q_all)
        der = pd.DataFrame({"p_mw": p, "q_mvar": q}, index=pd.Index(c.der_ids, name="der_id"))
        bus = pd.DataFrame({"vm_pu": res.vm[scen]}, index=pd.Index(c.flow.bus_ids, name="bus_id"))
        status = Status.OPTIMAL if sol["success"] else Status.ERROR
        info = {k: sol[k] for k in ("ipopt_status", "nlp_objective")}
        result = Result(
            status,
            float(costs.total[scen]),
            "voltage-step-acopf",
            self.case.name,
            der=der,
            bus=bus,
            info=info,
        )
        return Oracle(action, float(costs.total[scen]), COST_UNIT, result, info)


def _info(out, s: int, agents: list[str], t: int) -> dict:
    """The info dict of scenario ``s`` (shared by every agent)."""
    proj = {
        a: {"requested": [out.p_req[s, k], out.q_req[s, k]]}
        for k, a in enumerate(agents)
        if out.projected[s, k]
    }
    return {
        "metrics": {k: float(v[s]) for k, v in out.metrics.items()},
        "violations": {k: float(v[s]) for k, v in out.violations.items()},
        "projection": proj,
        "time_step": t,
    }


class VoltageControlEnv(SingleScenario, _Base, ParallelEnv):
    """seed001 voltage control, one scenario (see the module docstring).

    ``VoltageControlEnv(case=None, config=None, **options)``: ``options`` are fields of
    :class:`VoltageControlConfig` (``dt_h``, ``region_hops``, ``weights``, ``profiles``,
    ``seed`` …). ``info[agent]`` (one dict shared by all agents) holds ``metrics``,
    ``violations`` (what the projection removed, per family, and the voltage-band excursion),
    ``projection`` (the requested action of every agent whose action was changed) and
    ``time_step``.
    """

    def step(self, actions: dict):
        if not self.agents:
            raise RuntimeError("the episode is over: call reset() before step()")
        p, q = self._parse(actions, 1)
        out = self.core.step(p, q)
        info = _info(out, 0, self.possible_agents, self.core.t)
        obs = self._observe()
        done = self.core.done
        agents = self.agents
        rewards = {a: float(out.rewards[0, k]) for k, a in enumerate(agents)}
        if done:
            self.agents = []
        return (
            obs,
            rewards,
            dict.fromkeys(agents, False),
            dict.fromkeys(agents, done),
            dict.fromkeys(agents, info),
        )

    def _observe(self) -> dict[str, np.ndarray]:
        row = self.core.features()[0].astype(np.float32)
        return {a: row[self.core.obs_index[k]] for k, a in enumerate(self.possible_agents)}

    def state(self) -> np.ndarray:
        """The global state (see :meth:`VoltageCore.features` for the layout)."""
        return self.core.features()[0].astype(np.float32)

    def oracle(self) -> Oracle:
        """The per-step AC-OPF optimum of the current state (nothing is changed)."""
        return self._oracle_for(0)


class VectorVoltageControlEnv(VectorScenarios, _Base):
    """``num_envs`` scenarios of :class:`VoltageControlEnv` stepped with one power flow.

    Same agents and spaces; observations are (num_envs, obs_dim) arrays per agent, actions
    (num_envs, action_dim) per agent, rewards / terminations / truncations (num_envs,) arrays,
    and ``info`` one dict: ``metrics`` and ``violations`` of (num_envs,) arrays, ``projected``
    (num_envs, agents). ``reset(seed=s)`` gives scenario i the seed s + i, so scenario i equals
    ``VoltageControlEnv().reset(seed=s + i)``. Every episode has the same length; after the
    last step call ``reset`` again.
    """

    def step(self, actions: dict):
        if not self.agents:
            raise RuntimeError("the episode is over: call reset() before step()")
        p, q = self._parse(actions, self.num_envs)
        out = self.core.step(p, q)
        done = np.full(self.num_envs, self.core.done)
        agents = self.agents
        if self.core.done:
            self.agents = []
        info = {
            "metrics": out.metrics,
            "violations": out.violations,
            "projected": out.projected,
            "time_step": self.core.t,
        }
        rewards = {a: out.rewards[:, k] for k, a in enumerate(agents)}
        false = np.zeros(self.num_envs, bool)
        return (
            self._observe(),
            rewards,
            dict.fromkeys(agents, false),
            dict.fromkeys(agents, done),
            info,
        )

    def _observe(self) -> dict[str, np.ndarray]:
        rows = self.core.features().astype(np.float32)
        return {a: rows[:, self.core.obs_index[k]] for k, a in enumerate(self.possible_agents)}

    def state(self) -> np.ndarray:
        """(num_envs, state_size) global states."""
        return self.core.features().astype(np.float32)

    def oracle(self, index: int = 0) -> Oracle:
        """The oracle of scenario ``index`` (its action in the single environment's format)."""
        self._check_index(index)
        return self._oracle_for(index)
