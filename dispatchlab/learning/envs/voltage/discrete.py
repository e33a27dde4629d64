"""``voltage-control-discrete``: seed002's OLTC, capacitor and SVG agents on ieee33 (PettingZoo).

Agents ``oltc``, ``cb10``, ``cb12``, ``cb29``, ``svg15``; each picks an absolute position
(``Discrete``): tap 0…10 (ratio 0.975…1.025), capacitor steps 0…4 (× 0.03 Mvar), SVG level
0…12 (−0.3…0.3 Mvar) — or, with ``svg_mode="continuous"``, any Mvar in [−0.3, 0.3] (a ``Box``
of shape (1,)). Observations are seed002's 7-state perception of every bus voltage and
the head power factor plus the agent's own position and the step (``observation="perception"``)
or the raw values (``"continuous"``). ``oracle()`` is the exact per-step optimum
(:mod:`.discrete_oracle`: all 17 875 joint positions in one batched power flow, or the 1 375 tap
× capacitor positions with the SVG optimised per position). Engine and cost:
:mod:`.discrete_core`; docs: docs/env-voltage-control.md.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from gymnasium import spaces
from pettingzoo import ParallelEnv

from dispatchlab.learning.envs.base import Oracle
from dispatchlab.learning.envs.voltage.common import (
    SingleScenario,
    VectorScenarios,
    VoltageEnvBase,
    check_agents,
    numeric_action,
)
from dispatchlab.learning.envs.voltage.discrete_core import (
    DiscreteVoltageConfig,
    DiscreteVoltageCore,
    perception_state,
)
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Status

__all__ = [
    "DiscreteVoltageConfig",
    "DiscreteVoltageControlEnv",
    "VectorDiscreteVoltageControlEnv",
    "perception_state",
]

COST_UNIT = "w_loss·P_loss[p.u.] + w_dev·mean|V−1| + w_viol·ΣΔU per step"
METRICS = (
    "loss_mw",
    "loss_pu",
    "voltage_deviation_pu",
    "compliance_rate",
    "head_power_factor",
    "cost",
    "device_operations",
)
VIOLATIONS = ("voltage_band_pu",)


class _Base(VoltageEnvBase):
    metadata: ClassVar[dict] = {"name": "voltage-control-discrete", "render_modes": []}

    config_cls = DiscreteVoltageConfig
    core_cls = DiscreteVoltageCore

    def _make_spaces(self) -> None:
        c, n = self.core, self.core.flow.n_bus
        self._act_spaces = {
            a: spaces.Discrete(int(k))
            for a, k in zip(self.possible_agents, c.n_options, strict=True)
        }
        self._continuous = self.config.svg_mode == "continuous"
        self._svg_agents = self.possible_agents[len(c.options) - c.n_svg :]
        if self._continuous:
            for i, a in enumerate(self._svg_agents):
                lo, hi = c.svg_lo[i : i + 1], c.svg_hi[i : i + 1]
                self._act_spaces[a] = spaces.Box(lo, hi, dtype=np.float64)
        if self.config.observation == "perception":
            self._obs_spaces = {
                a: spaces.MultiDiscrete(np.r_[np.full(n + 1, 7), k, c.horizon + 1].astype(np.int64))
                for a, k in zip(self.possible_agents, c.n_options, strict=True)
            }
        else:
            self._obs_spaces = {
                a: spaces.Box(-np.inf, np.inf, (n + 5,), np.float32) for a in self.possible_agents
            }

    def _parse(self, actions: dict, n_scen: int) -> tuple[np.ndarray, np.ndarray]:
        """((S, agents) positions, (S, n_svg) SVG Mvar); an index that is not an integer in
        range, or a continuous SVG output outside its limits, is an error naming the agent."""
        check_agents(actions, self.possible_agents)
        pos = np.empty((n_scen, len(self.possible_agents)), np.int64)
        svg = self._parse_svg(actions, n_scen) if self._continuous else None
        for k, agent in enumerate(self.possible_agents):
            if svg is not None and agent in self._svg_agents:
                continue
            arr = np.asarray(actions[agent])
            want = () if n_scen == 1 and arr.ndim == 0 else (n_scen,)
            if arr.shape != want or not (
                np.issubdtype(arr.dtype, np.integer)
                or (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)))
            ):
                raise ValueError(
                    f"action for '{agent}' must be an integer position of shape {want}, "
                    f"got {actions[agent]!r}"
                )
            high = int(self.core.n_options[k])
            if np.any((arr < 0) | (arr >= high)):
                raise ValueError(
                    f"action for '{agent}' must lie in 0…{high - 1}, got {actions[agent]!r}"
                )
            pos[:, k] = arr
        if svg is None:
            return pos, self.core.svg_setting(pos)
        pos[:, len(self.core.options) - self.core.n_svg :] = self.core.svg_level(svg)
        return pos, svg

    def _parse_svg(self, actions: dict, n_scen: int) -> np.ndarray:
        """(S, n_svg) Mvar of the continuous SVG agents: finite and within [q_min, q_max]."""
        c, out = self.core, np.empty((n_scen, self.core.n_svg))
        for i, agent in enumerate(self._svg_agents):
            arr = numeric_action(actions, agent)
            if arr.size != n_scen or arr.ndim > 2 or not np.isfinite(arr).all():
                raise ValueError(
                    f"action for '{agent}' must be {n_scen} finite Mvar value(s) (shape "
                    f"{(1,) if n_scen == 1 else (n_scen, 1)}), got {actions[agent]!r}"
                )
            arr = arr.reshape(n_scen)
            lo, hi = c.svg_lo[i], c.svg_hi[i]
            if np.any((arr < lo - 1e-9) | (arr > hi + 1e-9)):
                raise ValueError(
                    f"action for '{agent}' must lie in [{lo}, {hi}] Mvar, got {actions[agent]!r}"
                )
            out[:, i] = np.clip(arr, lo, hi)
        return out

    def _observe_rows(self) -> list[np.ndarray]:
        """Per agent (S, obs) arrays."""
        c = self.core
        if self.config.observation == "perception":
            states = c.perception()
            t = np.full((self.core.n_scen, 1), min(c.t, c.horizon))
            return [
                np.concatenate([states, c.pos[:, [k]], t], axis=1).astype(np.int64)
                for k in range(len(self.possible_agents))
            ]
        # continuous: [t/T, |V| (bus), head sin φ, feeder load MW, Mvar, own position / max]
        t = min(c.t, c.horizon - 1)
        head = c.last["head"]
        common = np.concatenate(
            [
                np.full((c.n_scen, 1), c.t / c.horizon),
                c.last["vm"],
                (head.imag / np.maximum(np.abs(head), 1e-12))[:, None],
                c.load_p[:, t].sum(axis=1, keepdims=True),
                c.load_q[:, t].sum(axis=1, keepdims=True),
            ],
            axis=1,
        )
        return [
            np.concatenate([common, c.pos[:, [k]] / max(c.n_options[k] - 1, 1)], axis=1).astype(
                np.float32
            )
            for k in range(len(self.possible_agents))
        ]

    def _oracle_for(self, scen: int) -> Oracle:
        """The exact per-step optimum (:mod:`.discrete_oracle`); the state is unchanged."""
        from dispatchlab.learning.envs.voltage.discrete_oracle import optimum

        c = self.core
        if not self.agents or c.done:  # before the first reset the core has no step yet
            raise RuntimeError("call reset() first (the episode is over or never started)")
        pos, svg, best, evaluated = optimum(c, scen)
        action = {a: int(pos[k]) for k, a in enumerate(self.possible_agents)}
        settings = [o[p] for o, p in zip(c.options, pos, strict=True)]
        if self._continuous:
            for i, a in enumerate(self._svg_agents):
                action[a] = np.array([svg[i]])
        settings[len(settings) - c.n_svg :] = list(svg)
        frame = pd.DataFrame(
            {"position": pos, "setting": settings},
            index=pd.Index(self.possible_agents, name="agent"),
        )
        bus = pd.DataFrame({"vm_pu": best["vm"]}, index=pd.Index(c.flow.bus_ids, name="bus_id"))
        info = {"evaluated": evaluated, "svg_mode": self.config.svg_mode}
        cost = float(best["cost"])
        result = Result(
            Status.OPTIMAL,
            cost,
            f"voltage-discrete-enumeration ({self.config.svg_mode} SVG)",
            self.case.name,
            der=frame,
            bus=bus,
            info=info,
        )
        return Oracle(action, cost, COST_UNIT, result, info)


class DiscreteVoltageControlEnv(SingleScenario, _Base, ParallelEnv):
    """seed002 voltage control, one scenario (see the module docstring).

    ``DiscreteVoltageControlEnv(case=None, config=None, **options)`` with ``options`` fields of
    :class:`DiscreteVoltageConfig`. ``info[agent]`` (shared) holds ``metrics``, ``violations``
    and ``time_step``.
    """

    def step(self, actions: dict):
        if not self.agents:
            raise RuntimeError("the episode is over: call reset() before step()")
        out = self.core.step(*self._parse(actions, 1))
        info = {
            "metrics": {k: float(out[k][0]) for k in METRICS},
            "violations": {k: float(out[k][0]) for k in VIOLATIONS},
            "time_step": self.core.t,
        }
        agents, done = self.agents, self.core.done
        reward = -float(out["cost"][0])
        if done:
            self.agents = []
        return (
            self._observe(),
            dict.fromkeys(agents, reward),
            dict.fromkeys(agents, False),
            dict.fromkeys(agents, done),
            dict.fromkeys(agents, info),
        )

    def _observe(self) -> dict[str, np.ndarray]:
        return {
            a: row[0] for a, row in zip(self.possible_agents, self._observe_rows(), strict=True)
        }

    def state(self) -> np.ndarray:
        """The global state (layout in :meth:`DiscreteVoltageCore.features`)."""
        return self.core.features()[0].astype(np.float32)

    def oracle(self) -> Oracle:
        """The exact optimum over all joint positions for the current state (nothing changes)."""
        return self._oracle_for(0)


class VectorDiscreteVoltageControlEnv(VectorScenarios, _Base):
    """``num_envs`` scenarios stepped with one power flow; arrays per agent as in
    :class:`~.voltage.VectorVoltageControlEnv` (actions: (num_envs,) integer positions)."""

    def step(self, actions: dict):
        if not self.agents:
            raise RuntimeError("the episode is over: call reset() before step()")
        out = self.core.step(*self._parse(actions, self.num_envs))
        agents, done = self.agents, np.full(self.num_envs, self.core.done)
        if self.core.done:
            self.agents = []
        info = {
            "metrics": {k: out[k] for k in METRICS},
            "violations": {k: out[k] for k in VIOLATIONS},
            "time_step": self.core.t,
        }
        reward = -out["cost"]
        false = np.zeros(self.num_envs, bool)
        return (
            self._observe(),
            dict.fromkeys(agents, reward),
            dict.fromkeys(agents, false),
            dict.fromkeys(agents, done),
            info,
        )

    def _observe(self) -> dict[str, np.ndarray]:
        return dict(zip(self.possible_agents, self._observe_rows(), strict=True))

    def state(self) -> np.ndarray:
        return self.core.features().astype(np.float32)

    def oracle(self, index: int = 0) -> Oracle:
        self._check_index(index)
        return self._oracle_for(index)
