"""The batched engine of ``voltage-control`` (seed001): S scenarios of one feeder stepped at once.

The single environment is this engine with S = 1, the vectorised one with S = ``num_envs``, so
the two cannot drift apart. Per step: project the requested set-points onto the device limits
(seed001 §4.1.2: P/Q bounds, PV/wind availability, MT ramps, S-limits), run one radial power
flow for all scenarios (:mod:`.pf`), price the step (:mod:`.costs`) and build
the observations.

Projection rule (deterministic, reported in ``info``): P is clipped to ``[p_min, min(p_max,
available)]`` (a PV or wind unit without sun or wind has P = 0 and works as a STATCOM), then to
the ramp window ``P_prev ± ramp·Δt`` (inside the bounds), Q to ``[q_min, q_max]``, and last Q to
``±√(S² − P²)``: active power keeps priority over reactive power, as inverter controls do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from dispatchlab.cases.case import Case
from dispatchlab.learning.envs.voltage.common import (
    build_profiles,
    hop_regions,
    incidence,
)
from dispatchlab.learning.envs.voltage.config import VoltageControlConfig
from dispatchlab.learning.envs.voltage.costs import step_costs, voltage_metrics
from dispatchlab.learning.envs.voltage.pf import MatOp, RadialFlow

#: DER kinds that become agents, and whether their action has a P component
AGENT_KINDS = {"microturbine": True, "pv": True, "wind": True, "svc": False}
VIOLATIONS = ("voltage_band_pu", "p_bounds_mw", "ramp_mw", "q_bounds_mvar", "s_limit_mva")


@dataclass
class StepOut:
    """What one engine step produced, every array with the scenarios first."""

    rewards: np.ndarray  # (S, agents)
    cost: np.ndarray  # (S,) global per-step cost C_NL + C_VOL
    metrics: dict[str, np.ndarray]
    violations: dict[str, np.ndarray]
    projected: np.ndarray  # (S, agents) bool
    p_req: np.ndarray
    q_req: np.ndarray


class VoltageCore:
    """Device limits, scenarios and the per-scenario state of S episodes."""

    def __init__(self, case: Case, config: VoltageControlConfig, n_scen: int):
        self.case, self.config, self.n_scen = case, config, n_scen
        ders = case.table("ders")
        ders = ders[ders["in_service"] & ders["kind"].isin(list(AGENT_KINDS))]
        if len(ders) == 0:
            raise ValueError(f"case '{case.name}' has no MT, PV, wind or SVC DERs to control")
        self.der_ids = ders.index.to_numpy()
        self.agents = [
            str(n).lower() or f"der{i}" for i, n in zip(ders.index, ders["name"], strict=True)
        ]
        if len(set(self.agents)) != len(self.agents):
            raise ValueError(f"case '{case.name}': DER names must be unique, got {self.agents}")
        self.has_p = ders["kind"].map(AGENT_KINDS).to_numpy(bool)
        self.kinds = ders["kind"].tolist()
        self.flow = RadialFlow(case, tol_pu=config.tol_pu)
        n, base = self.flow.n_bus, case.base_mva
        self._limits(ders, config.dt_h)
        self.profiles = build_profiles(case, self.der_ids, config.dt_h, config.profiles)
        self.horizon = self.profiles.n_steps
        loads = case.table("loads")
        loads = loads[loads["in_service"]]
        load_pos = self.flow.net.bus_pos.loc[loads["bus"]].to_numpy()
        self.m_load = incidence(load_pos, n, 1.0 / base)  # MW -> p.u. at the bus
        self.m_load_mw = incidence(load_pos, n)
        self.agent_pos = self.flow.net.bus_pos.loc[ders["bus"]].to_numpy()
        self.m_der = incidence(self.agent_pos, n, 1.0 / base)
        regions = hop_regions(case, ders["bus"].tolist(), config.region_hops)
        self.region_pos = [self.flow.net.bus_pos.loc[r].to_numpy() for r in regions]
        rows = np.repeat(np.arange(len(regions)), [len(p) for p in self.region_pos])
        self.region_mask = MatOp(
            sp.csr_matrix(
                (np.ones(len(rows)), (rows, np.concatenate(self.region_pos))),
                shape=(len(regions), n),
            ).T
        )  # bus × agent: .right(per-bus costs) sums them over each region
        self._obs_index()

    def _limits(self, ders, dt_h: float) -> None:
        self.p_min = np.where(self.has_p, ders["p_min_mw"].to_numpy(float), 0.0)
        self.p_max = np.where(self.has_p, ders["p_max_mw"].to_numpy(float), 0.0)
        self.q_min = ders["q_min_mvar"].to_numpy(float)
        self.q_max = ders["q_max_mvar"].to_numpy(float)
        self.s_max = ders["s_max_mva"].to_numpy(float)
        self.ramp = ders["ramp_mw_per_h"].to_numpy(float) * dt_h
        bad = self.has_p & (np.maximum(np.abs(self.p_min), self.p_max) > self.s_max)
        if bad.any():
            names = [a for a, b in zip(self.agents, bad, strict=True) if b]
            raise ValueError(f"DER(s) {names}: p limits exceed s_max_mva; fix the case")
        self.p_init = np.clip(ders["p_mw"].to_numpy(float) * self.has_p, self.p_min, self.p_max)
        self.q_init = np.clip(ders["q_mvar"].to_numpy(float), self.q_min, self.q_max)

    def _obs_index(self) -> None:
        """Positions of each agent's observation in the global feature row (see ``features``)."""
        a, n = len(self.agents), self.flow.n_bus
        self.state_size = 1 + 3 * a + 4 * n
        bp, bq, vm = 1 + 3 * a, 1 + 3 * a + n, 1 + 3 * a + 2 * n
        self.obs_index = [
            np.r_[0, 1 + k, 1 + a + k, 1 + 2 * a + k, bp + pos, bq + pos, vm + pos]
            for k, pos in enumerate(self.region_pos)
        ]

    # ------------------------------------------------------------------------ episode state
    def reset(self, rngs: list[np.random.Generator], days: list | None = None) -> None:
        days = days or [None] * len(rngs)
        draws = [
            self.profiles.draw(rng, self.config.profiles, day)
            for rng, day in zip(rngs, days, strict=True)
        ]
        self.load_p, self.load_q, self.avail = (np.stack(x) for x in zip(*draws, strict=True))
        self.t = 0
        self.p_prev = np.tile(self.p_init, (self.n_scen, 1))
        self.q_prev = np.tile(self.q_init, (self.n_scen, 1))
        self.vm = self._flow(self.p_prev, self.q_prev, 0).vm
        self.vm_mean = np.zeros_like(self.vm)

    @property
    def done(self) -> bool:
        return self.t >= self.horizon

    def bounds(self) -> dict[str, np.ndarray]:
        """The set-point limits of the current step, each (S, agents)."""
        avail = np.minimum(self.avail[:, self.t], self.p_max)
        return {
            "p_lo": np.maximum(self.p_min, np.minimum(self.p_prev - self.ramp, avail)),
            "p_hi": np.minimum(avail, self.p_prev + self.ramp),
            "p_avail": avail,
        }

    def project(self, p_req: np.ndarray, q_req: np.ndarray):
        """Applied (P, Q) and the violation magnitude of each family (module docstring)."""
        avail = np.minimum(self.avail[:, self.t], self.p_max)
        p1 = np.minimum(np.maximum(p_req, self.p_min), avail)
        p2 = np.minimum(np.maximum(p1, self.p_prev - self.ramp), self.p_prev + self.ramp)
        p2 = np.minimum(np.maximum(p2, self.p_min), avail)
        q1 = np.minimum(np.maximum(q_req, self.q_min), self.q_max)
        q_cap = np.sqrt(np.maximum(self.s_max * self.s_max - p2 * p2, 0.0))
        q2 = np.minimum(np.maximum(q1, -q_cap), q_cap)
        viol = {
            "p_bounds_mw": np.abs(p_req - p1).sum(axis=1),
            "ramp_mw": np.abs(p1 - p2).sum(axis=1),
            "q_bounds_mvar": np.abs(q_req - q1).sum(axis=1),
            "s_limit_mva": np.maximum(np.hypot(p2, q1) - self.s_max, 0.0).sum(axis=1),
        }
        return p2, q2, viol

    def _flow(self, p: np.ndarray, q: np.ndarray, t: int):
        load = self.m_load.right(self.load_p[:, t] + 1j * self.load_q[:, t])
        s_bus = self.m_der.right(p + 1j * q) - load
        return self.flow.solve(s_bus)

    def evaluate(self, p: np.ndarray, q: np.ndarray):
        """Power flow and costs of applied set-points at the current step (state unchanged)."""
        res = self._flow(p, q, self.t)
        costs = step_costs(
            res.vm,
            res.loss_pu,
            self.vm_mean,
            self.t + 1,
            self.horizon,
            self.config.weights,
            self.region_mask,
        )
        return res, costs

    def check(self, p_req: np.ndarray, q_req: np.ndarray):
        """(applied P, Q, power flow, costs, violations) of requested set-points at the current
        step, the state unchanged: what :meth:`step` reports (the safety layer verifies by it)."""
        p, q, viol = self.project(p_req, q_req)
        res, costs = self.evaluate(p, q)
        w = self.config.weights
        viol = {
            "voltage_band_pu": (
                np.maximum(w.v_min_pu - res.vm, 0) + np.maximum(res.vm - w.v_max_pu, 0)
            ).sum(axis=1),
            **viol,
        }
        return p, q, res, costs, viol

    def step(self, p_req: np.ndarray, q_req: np.ndarray) -> StepOut:
        if self.done:
            raise RuntimeError("the episode is over: call reset() before step()")
        p, q, res, costs, viol = self.check(p_req, q_req)
        w = self.config.weights
        metrics = voltage_metrics(res.vm, res.loss_pu * self.case.base_mva, w)
        metrics["cost"] = costs.total
        projected = (p != p_req) | (q != q_req)
        self.t += 1
        self.vm_mean += (res.vm - self.vm_mean) / self.t
        self.vm, self.p_prev, self.q_prev = res.vm, p, q
        return StepOut(costs.rewards(), costs.total, metrics, viol, projected, p_req, q_req)

    def features(self) -> np.ndarray:
        """(S, state_size): [t/T, P_prev, Q_prev, P_avail, bus P load, bus Q load, |V|, mean |V|].

        P_prev, Q_prev and P_avail are per agent (MW, Mvar; P_avail is the installed power of
        an MT and 0 for an SVC); bus loads are MW / Mvar at each bus for the coming step; |V|
        is the last power flow's; mean |V| the running mean the fluctuation cost uses.
        """
        t = min(self.t, self.horizon - 1)
        m = self.m_load_mw
        return np.concatenate(
            [
                np.full((self.n_scen, 1), self.t / self.horizon),
                self.p_prev,
                self.q_prev,
                np.minimum(self.avail[:, t], self.p_max),
                m.right(self.load_p[:, t]),
                m.right(self.load_q[:, t]),
                self.vm,
                self.vm_mean,
            ],
            axis=1,
        )
