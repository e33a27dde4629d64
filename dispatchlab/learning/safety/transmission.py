"""The safety layer of ``transmission-dispatch`` (seed004): the oracle's QP aimed at the proposal.

For every decision (normalized actions of the units, wind plants, storage and LSEs),

1. **verify** — :meth:`TransmissionDispatchEnv.evaluate`, the environment's own settlement of
   the interval without advancing: PTDF line overloads, ramps of the slack unit, reserve
   shortfall, the schedule mismatch the slack absorbed (balance), storage requests outside the
   SOC band and the surplus nothing could absorb — the six families of its reward; a balance
   mismatch of at most :data:`BALANCE_TOL_MW` counts as none (:func:`significant`);
2. **repair** — the oracle's interval model (:func:`~dispatchlab.learning.envs.transmission.
   oracle.build_interval_model`: DC-OPF with PTDF line limits, each unit's ramp window, the SOC
   band, reserves of units and storage) with the reserve shortfall and the unplayable load
   shedding (at buses without an LSE) fixed at 0, the interruptions capped at the proposal's,
   and its objective replaced by the weighted squared distance, in MW, to the proposal's
   physical set-points (:data:`WEIGHTS`): Σ w (p − p̂)² over unit outputs and
   reserve offers, wind outputs, storage charge and discharge (p̂ split by its sign), storage
   reserves, flexible-load moves and load interruptions. It is solved like the oracle (one QP
   per storage mode, Clarabel then HiGHS) and mapped back to actions by the oracle's own
   ``actions_from_solution``; ``None`` when the QP has no solution;
3. **fall back** — the oracle's exact dispatch of the interval (in float64, unlike
   ``env.oracle().action`` which is rounded to the float32 action space).
"""

from __future__ import annotations

import numpy as np

from dispatchlab.learning.envs.transmission.core import settle
from dispatchlab.learning.envs.transmission.engine import KINDS
from dispatchlab.learning.envs.transmission.env import _gather
from dispatchlab.learning.envs.transmission.oracle import (
    actions_from_solution,
    build_interval_model,
    solve_interval,
)
from dispatchlab.learning.safety.base import SafetyLayer
from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.status import Status


def with_objective(m: LinearModel, cost: np.ndarray, quad: np.ndarray) -> LinearModel:
    """A copy of ``m`` (same blocks, bounds and rows) whose objective is cost·x + ½·quad·x²."""
    out = LinearModel(f"{m.name}-projection")
    lb, ub = m.lb, m.ub
    for name, b in m.var_blocks.items():
        pos = b.positions
        out.add_vars(name, b.index, lb=lb[pos], ub=ub[pos], cost=cost[pos])
    a, row_lb, row_ub = m.matrix().tocsr(), m.row_lb, m.row_ub
    for name, b in m.con_blocks.items():
        rows = slice(b.start, b.start + b.size)
        sub = a[rows].tocoo()
        out.add_cons(name, b.index, sub.row, sub.col, sub.data, lb=row_lb[rows], ub=row_ub[rows])
    out.add_quadratic(np.flatnonzero(quad), quad[quad != 0])
    return out


#: schedule mismatch (MW) the layer accepts as balanced. The env books every mismatch the slack
#: unit absorbs as eq. 5's violation, however small; the slack's ramp, capacity and the line
#: flows it changes are verified by the other families, so what is left is bookkeeping. The
#: oracle's own action, rounded to the float32 action space, already leaves up to 7e-7 MW
#: (test day 75), just under the base layer's 1e-6 total: 1 kW keeps rounding from being
#: "repaired" and is far below any mismatch a policy decides (MWs)
BALANCE_TOL_MW = 1e-3


def significant(violations: dict[str, float]) -> dict[str, float]:
    """``violations`` with a balance mismatch ≤ :data:`BALANCE_TOL_MW` set to 0."""
    out = dict(violations)
    if out.get("balance_mw", 0.0) <= BALANCE_TOL_MW:
        out["balance_mw"] = 0.0
    return out


#: distance weights per block (1 elsewhere): spilling a MW of wind is 10× as far as moving a
#: unit by one, so that a repair balances the schedule with the units, as the exact dispatch
#: would, instead of curtailing wind (seed004's learned actors: 2.2 % curtailment otherwise)
WEIGHTS = {"wind_p_mw": 10.0}


class TransmissionSafetyLayer(SafetyLayer):
    """Verify / repair / fall back for a ``TransmissionDispatchEnv``; actions are the env's
    dict agent -> normalized action array."""

    env_name = "transmission-dispatch"

    def __init__(self, env, *, time_limit: float = 10.0):
        super().__init__(env, time_limit=time_limit)
        self.engine = env.engine

    def verify(self, actions: dict) -> dict[str, float]:
        """The environment's violations of ``actions`` in the current interval, a balance
        mismatch within :data:`BALANCE_TOL_MW` counted as none."""
        return significant(self.env.evaluate(actions)[1]["violations"])

    def targets(self, actions: dict) -> dict[str, np.ndarray]:
        """The proposal's physical quantities (MW) per variable block of the interval model."""
        eng = self.engine
        acts, _ = _gather(eng, actions, self.env.agents, None)
        st = eng.state
        sp = eng.setpoints(acts, st)
        out = settle(eng.sys, st.t, st.p_prev, st.soc, sp)
        sto = sp.sto_p[0]
        return {
            "gen_p_mw": sp.gen_p[0],
            "gen_reserve_up_mw": out["gen_up"][0],
            "gen_reserve_down_mw": out["gen_dn"][0],
            "wind_p_mw": np.minimum(sp.wind_p[0], out["wind_avail"][0]),
            "lse_p_mw": sp.lse_p[0],
            "storage_discharge_mw": np.maximum(sto, 0.0),
            "storage_charge_mw": np.maximum(-sto, 0.0),
            "storage_reserve_up_mw": out["sto_up"][0],
            "storage_reserve_down_mw": out["sto_dn"][0],
            "load_shed_mw": out["interrupt_by_load"][0],
        }

    def projection_model(self, actions: dict):
        """(QP, DispatchData): the oracle's interval model aimed at ``actions``."""
        eng, st = self.engine, self.engine.state
        m, d = build_interval_model(eng.problem, int(st.t[0]), st.p_prev[0], st.soc[0])
        target = self.targets(actions)
        kinds = np.asarray(d.ders["kind"])
        der = m.var_blocks["der_p_mw"].positions
        cols = {b: m.var_blocks[b].positions for b in target if b in m.var_blocks}
        cols["wind_p_mw"], cols["lse_p_mw"] = der[kinds == "wind"], der[kinds == "flexible_load"]
        cost, quad = np.zeros(m.n_cols), np.zeros(m.n_cols)
        for block, pos in cols.items():  # w(x − x̂)² = w(x² − 2x̂·x + const)
            w = WEIGHTS.get(block, 1.0)
            quad[pos], cost[pos] = 2.0 * w, -2.0 * w * target[block]
        qp = with_objective(m, cost, quad)
        for short in ("reserve_shortfall_up_mw", "reserve_shortfall_down_mw"):
            qp.set_var_bounds(short, ub=0.0)  # the reserve is a hard constraint here
        shed_ub = qp.ub[qp.var_blocks["load_shed_mw"].positions]
        no_lse = eng.sys.lse_loads.sum(axis=0) == 0  # the env cannot shed there: unplayable
        # a repair never interrupts more load than the proposal did: in MW² an interruption
        # is as near as a unit's move, so without this cap the nearest feasible point sheds
        # load at VOLL where a unit could ramp (seed004: +90 % day cost); if no unit can,
        # the QP has no solution and the oracle's exact dispatch is the fallback
        shed_ub = np.minimum(shed_ub, target["load_shed_mw"] + 1e-9)
        qp.set_var_bounds("load_shed_mw", ub=np.where(no_lse, 0.0, shed_ub))
        return qp, d

    def repair(self, actions: dict, violations: dict[str, float]) -> dict | None:
        """The feasible dispatch nearest the proposal, as actions, or ``None``."""
        qp, d = self.projection_model(actions)
        sol = solve_interval(qp)
        if sol.status is not Status.OPTIMAL or not np.all(np.isfinite(sol.x)):
            return None
        st = self.engine.state
        acts, _ = actions_from_solution(qp, sol, d, self.engine.sys, st.p_prev[0], st.soc[0])
        return self.action(acts)

    def action(self, acts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The env's action dict from per-kind arrays (n, dim)."""
        agents = self.engine.agents
        return {a: np.asarray(acts[k][i], float) for k in KINDS for i, a in enumerate(agents[k])}

    def fallback(self) -> dict:
        """The oracle's action for the current interval (float64); when its QP fails, the
        hold action (every normalized action 0), verified and counted like any fallback."""
        acts, *_ = self.engine.oracle(0)
        if acts is None:
            return {a: np.zeros(self.env.action_space(a).shape) for a in self.env.agents}
        return self.action(acts)
