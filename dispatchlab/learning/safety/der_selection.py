"""The safety layer of ``der-selection`` (seed003): certify the selection, add DERs back, fall back.

For every decision (k DER picks per microgrid zone),

1. **verify** — :meth:`DERSelectionEnv.evaluate`, the environment's own scoring: the reduced
   LP over the selected DERs (re-linearized as the env does) and the linearized power flow at
   its dispatch give ``infeasible_selection``, ``voltage_pu`` and ``line_flow_mw``;
2. **repair** — with the reduced-cost certificate of :mod:`dispatchlab.learning.reduce.
   certificate` on the phase-1 (elastic) LP over *all* DERs: every row of the env's LP gets
   slacks priced at 1, the DER and substation costs at 0, and the DERs left out of the
   selection are fixed at 0 (:func:`solve_fixed`). Its optimum is the selection's
   infeasibility; a left-out DER with a negative reduced cost is one whose addition lowers it,
   and only such a DER can make a one-pick change feasible (one with a reduced cost ≥ 0 leaves
   the phase-1 optimum where it is, and dropping a pick cannot lower it). So the layer first
   tries every one-pick change that adds such a DER (most negative first; a repeated pick's
   slot before a distinct pick's), checked by the env's own scoring — the smallest possible
   change whenever one exists (``max_evals`` bounds the search). Failing that, it descends:
   each move is the one-pick change (among the ``candidates`` most negative reduced costs ×
   the zone's slots) that lowers the phase-1 infeasibility most, up to ``max_rounds`` moves.
   ``None`` when no move helps. (``repair_solve``'s "add DERs back" is not used as is: it
   returns more than k DERs per zone, which the action cannot express; a swap that keeps k is
   the action-space form of adding a DER back.) When no selection of k DERs per zone is
   feasible — e.g. a head line overloaded by more than the picked DERs can relieve — the
   fallback below fails too and is counted;
3. **fall back** — the oracle's selection (the full LP's k most dispatched DERs per zone).
"""

from __future__ import annotations

import numpy as np

from dispatchlab.learning.envs.der_selection.lp import selection_lp
from dispatchlab.learning.reduce.certificate import (
    LPArrays,
    PruningConfig,
    reduced_highs,
    solve_fixed,
)
from dispatchlab.learning.safety.base import TOL, SafetyLayer, total
from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.status import Status


def phase_one(m: LinearModel) -> LinearModel:
    """The elastic copy of ``m``: its columns at cost 0 plus slacks s⁺, s⁻ ≥ 0 at cost 1 on
    every row (lb ≤ a·x + s⁺ − s⁻ ≤ ub), so its optimum is the summed row violation."""
    out = LinearModel(f"{m.name}-phase1")
    lb, ub = m.lb, m.ub
    for name, b in m.var_blocks.items():
        out.add_vars(name, b.index, lb=lb[b.positions], ub=ub[b.positions])
    rows = np.arange(m.n_rows)
    up = out.add_vars("row_slack_up", rows, cost=1.0)
    down = out.add_vars("row_slack_down", rows, cost=1.0)
    a = m.matrix().tocoo()
    out.add_cons(
        "rows",
        rows,
        np.r_[a.row, rows, rows],
        np.r_[a.col, up.positions, down.positions],
        np.r_[a.data, np.ones(m.n_rows), -np.ones(m.n_rows)],
        lb=m.row_lb,
        ub=m.row_ub,
    )
    return out


class DERSelectionSafetyLayer(SafetyLayer):
    """Verify / repair / fall back for a ``DERSelectionEnv``; actions are the env's dict
    agent -> k integer picks into the zone's DERs."""

    env_name = "der-selection"

    def __init__(
        self,
        env,
        *,
        max_evals: int = 200,
        candidates: int = 128,
        max_rounds: int = 5,
        time_limit: float = 10.0,
    ):
        super().__init__(env, time_limit=time_limit)
        self.max_evals = max_evals  #: one-pick changes scored before the greedy descent
        self.candidates = candidates  #: DERs (most negative reduced cost) tried per descent move
        self.config = PruningConfig(repair="worst", max_rounds=max_rounds)
        self.evaluations = 0  #: selections scored by the last repair

    def verify(self, actions: dict) -> dict[str, float]:
        """The environment's violations of ``actions`` for the current scenario."""
        return self.env.evaluate(actions)[1]["violations"]

    def certificate_lp(self, sel: np.ndarray):
        """(phase-1 LP arrays, its DER columns, the phase-1 solution with the DERs outside
        ``sel`` fixed at 0, the left-out DER positions, the HiGHS instance)."""
        env = self.env
        n = len(env.der_ids)
        lp = LPArrays(phase_one(selection_lp(env._model, np.arange(n), env._lin)))
        cols = lp.model.var_blocks["der_p_mw"].positions
        out = np.setdiff1d(np.arange(n), sel)
        h = reduced_highs(self.config)
        sol = solve_fixed(lp, cols[out], np.zeros(len(out), bool), h)
        return lp, cols, sol, out, h

    def repair(self, actions: dict, violations: dict[str, float]) -> dict | None:
        """A feasible selection near ``actions`` (module docstring), or ``None``."""
        picks = {a: np.asarray(actions[a], np.int64) for a in self.env.agents}
        sel, _ = self.env.selection(picks)
        lp, cols, sol, out, h = self.certificate_lp(sel)
        if sol.status is not Status.OPTIMAL:
            return None
        self.evaluations = 0
        reduced = sol.col_dual[cols]
        found = self.one_pick(picks, out[np.argsort(reduced[out])], reduced)
        if found is not None:
            return found
        return self.descend(picks, lp, cols, h)

    def descend(self, picks: dict, lp: LPArrays, cols: np.ndarray, h) -> dict | None:
        """Greedy one-pick moves, each the one (among the ``candidates`` most negative reduced
        costs × the zone's slots) that lowers the phase-1 infeasibility most, until the env's
        scoring accepts the selection or ``max_rounds`` moves are made."""
        n = len(self.env.der_ids)
        for _ in range(self.config.max_rounds):
            sel, _ = self.env.selection(picks)
            out = np.setdiff1d(np.arange(n), sel)
            sol = solve_fixed(lp, cols[out], np.zeros(len(out), bool), h)
            if sol.status is not Status.OPTIMAL:
                return None
            if sol.objective <= TOL:
                return picks  # the first linearization is feasible: filter verifies the rest
            reduced = sol.col_dual[cols]
            best, best_obj = None, sol.objective
            for j in out[np.argsort(reduced[out])][: self.candidates]:
                if reduced[j] >= -self.config.tol:
                    break
                agent, idx = self.zone_index(j)
                for slot in range(len(picks[agent])):
                    new = {a: p.copy() for a, p in picks.items()}
                    new[agent][slot] = idx
                    obj = self.infeasibility(new, lp, cols, h)
                    if obj < best_obj - TOL:
                        best, best_obj = new, obj
            if best is None:
                return None
            picks = best
        return picks if total(self.verify(picks)) <= TOL else None

    def infeasibility(self, picks: dict, lp: LPArrays, cols: np.ndarray, h) -> float:
        """The phase-1 optimum (summed row violation, first linearization) of ``picks``."""
        sel, _ = self.env.selection(picks)
        out = np.setdiff1d(np.arange(len(self.env.der_ids)), sel)
        sol = solve_fixed(lp, cols[out], np.zeros(len(out), bool), h)
        return sol.objective if sol.status is Status.OPTIMAL else np.inf

    def one_pick(self, picks: dict, order: np.ndarray, reduced: np.ndarray) -> dict | None:
        """The first feasible selection one pick away that adds a DER of negative reduced cost
        (in ``order``), or ``None``."""
        flat = np.zeros(len(self.env.der_ids))
        for j in order:
            if reduced[j] >= -self.config.tol or self.evaluations >= self.max_evals:
                return None
            agent, idx = self.zone_index(j)
            for slot in self.slots(agent, picks[agent], flat):
                new = {a: p.copy() for a, p in picks.items()}
                new[agent][slot] = idx
                self.evaluations += 1
                if total(self.verify(new)) <= TOL:
                    return new
        return None

    def zone_index(self, j: int) -> tuple[str, int]:
        """(agent, index into its zone's DERs) of DER position ``j``."""
        for agent, pos in self.env._zone_pos.items():
            hit = np.flatnonzero(pos == j)
            if len(hit):
                return agent, int(hit[0])
        raise KeyError(f"DER position {j} is in no zone")

    def slots(self, agent: str, row: np.ndarray, dispatch: np.ndarray) -> list[int]:
        """Slots of ``agent``'s picks in replacement order: repeated picks (their DER is kept
        by another slot) first, then by the picked DER's ``dispatch``, smallest first."""
        seen: set[int] = set()
        repeated = []
        for s, v in enumerate(row.tolist()):
            if v in seen:
                repeated.append(s)
            seen.add(v)
        by_dispatch = np.argsort(dispatch[self.env._zone_pos[agent][row]], kind="stable")
        return repeated + [int(s) for s in by_dispatch if s not in repeated]

    def fallback(self) -> dict:
        """The oracle's selection for the current scenario."""
        return self.env.oracle().action
