"""The safety layer of ``der-selection`` (seed003): certify the selection, add DERs back, fall back.

For every decision (k DER picks per microgrid zone),

1. **verify** — :meth:`DERSelectionEnv.evaluate`, the environment's own scoring: the reduced
   LP over the selected DERs (re-linearized as the env does) and the linearized power flow at
   its dispatch give ``infeasible_selection``, ``voltage_pu`` and ``line_flow_mw``;
2. **repair** — with the reduced-cost certificate of :mod:`dispatchlab.learning.reduce.
   certificate` on the phase-1 (elastic) LP over *all* DERs: every row of the env's LP gets
   slacks priced at 1, the DER and substation costs at 0, and the DERs left out of the
   selection are fixed at 0 (:func:`solve_fixed`). Its optimum is the selection's
   infeasibility at the env's first linearization (0 is necessary for the env to accept it);
   a left-out DER with a negative reduced cost is one whose addition lowers it, and only such
   a DER can make a one-pick change feasible (one with a reduced cost ≥ 0 leaves the phase-1
   optimum where it is, and dropping a pick cannot lower it). Each round scores every
   one-pick change that adds such a DER (most negative first; a repeated pick's slot before a
   distinct pick's) by its phase-1 optimum, and returns the first with optimum 0 that the
   env's own scoring accepts: in round one the smallest possible change whenever one exists.
   Otherwise the change with the least infeasibility is made and the next round starts from
   it (up to ``max_rounds``; ``candidates`` can cap the DERs tried after round one, at the
   price of repairs: on ieee123-seed003 a cap of 32 loses some); ``None`` when no change
   lowers it. (``repair_solve``'s "add
   DERs back" is not used as is: it returns more than k DERs per zone, which the action
   cannot express; a swap that keeps k per zone is the action-space form of adding a DER
   back.) When no selection of k DERs per zone is feasible — e.g. a head line overloaded by
   more than the picked DERs can relieve — the fallback below fails too and is counted;
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
        candidates: int | None = None,
        max_rounds: int = 3,
        time_limit: float = 10.0,
    ):
        super().__init__(env, time_limit=time_limit)
        #: DERs (most negative reduced cost first) tried per move after the first round (None:
        #: all; the first round always tries all, to find a one-pick fix whenever one exists)
        self.candidates = candidates
        self.max_rounds = max_rounds  #: one-pick moves before giving up
        self.config = PruningConfig()  # the certificate's tolerance and HiGHS settings
        self.evaluations = 0  #: selections the env scored in the last repair
        self.down_cols: np.ndarray | None = None  #: downward DER columns (balancing market)

    def verify(self, actions: dict) -> dict[str, float]:
        """The environment's violations of ``actions`` for the current scenario."""
        return self.env.evaluate(actions)[1]["violations"]

    def phase_one_lp(self) -> tuple[LPArrays, np.ndarray, object]:
        """(phase-1 LP arrays over all DERs, their upward columns, a HiGHS instance) for the
        current scenario at the env's first linearization. In the balancing market each DER
        also has a downward column (``self.down_cols``): a DER left out stays at its base."""
        env = self.env
        n = len(env.der_ids)
        lp = LPArrays(phase_one(selection_lp(env._model, np.arange(n), env._lin, env.lp_base)))
        blocks = lp.model.var_blocks
        self.down_cols = blocks["der_down_mw"].positions if "der_down_mw" in blocks else None
        return lp, blocks["der_p_mw"].positions, reduced_highs(self.config)

    def certify(self, picks: dict, lp: LPArrays, cols: np.ndarray, h):
        """(phase-1 solution with the DERs outside ``picks`` fixed — at 0, or at their base
        in the balancing market —, those DERs)."""
        sel, _ = self.env.selection(picks)
        out = np.setdiff1d(np.arange(len(self.env.der_ids)), sel)
        fixed = cols[out] if self.down_cols is None else np.r_[cols[out], self.down_cols[out]]
        return solve_fixed(lp, fixed, np.zeros(len(fixed), bool), h), out

    def repair(self, actions: dict, violations: dict[str, float]) -> dict | None:
        """A feasible selection near ``actions`` (module docstring), or ``None``."""
        picks = {a: np.asarray(actions[a], np.int64) for a in self.env.agents}
        lp, cols, h = self.phase_one_lp()
        self.evaluations = 0
        for rnd in range(self.max_rounds):
            sol, out = self.certify(picks, lp, cols, h)
            if sol.status is not Status.OPTIMAL:
                return None
            limit = None if rnd == 0 else self.candidates
            moves = self.moves(picks, out, self.reduced_costs(sol, cols), limit)
            scored = [(self.certify(m, lp, cols, h)[0], m) for m in moves]
            scored = [(s.objective if s.status is Status.OPTIMAL else np.inf, m) for s, m in scored]
            for obj, move in scored:  # phase-1 feasibility is necessary: the env checks the rest
                if obj <= TOL:
                    self.evaluations += 1
                    if total(self.verify(move)) <= TOL:
                        return move
            if not scored:
                return None
            obj, best = min(scored, key=lambda x: x[0])
            if obj >= sol.objective - TOL:
                return None  # no move lowers the infeasibility
            picks = best
        return None

    def reduced_costs(self, sol, cols: np.ndarray) -> np.ndarray:
        """Per DER, the most negative reduced cost of its columns (up, and down if any)."""
        reduced = sol.col_dual[cols]
        return (
            reduced if self.down_cols is None else np.minimum(reduced, sol.col_dual[self.down_cols])
        )

    def moves(
        self, picks: dict, out: np.ndarray, reduced: np.ndarray, limit: int | None = None
    ) -> list[dict]:
        """Every one-pick change that adds a left-out DER of negative reduced cost, most
        negative first (at most ``limit`` DERs), a repeated pick's slot first."""
        order = out[np.argsort(reduced[out], kind="stable")]
        order = order[reduced[order] < -self.config.tol][:limit]
        found = []
        for j in order:
            agent, idx = self.zone_index(j)
            for slot in self.slots(picks[agent]):
                new = {a: p.copy() for a, p in picks.items()}
                new[agent][slot] = idx
                found.append(new)
        return found

    def zone_index(self, j: int) -> tuple[str, int]:
        """(agent, index into its zone's DERs) of DER position ``j``."""
        for agent, pos in self.env._zone_pos.items():
            hit = np.flatnonzero(pos == j)
            if len(hit):
                return agent, int(hit[0])
        raise KeyError(f"DER position {j} is in no zone")

    @staticmethod
    def slots(row: np.ndarray) -> list[int]:
        """Slots of one agent's picks in replacement order: repeated picks (their DER is kept
        by another slot) first, then the others."""
        seen: set[int] = set()
        repeated = []
        for s, v in enumerate(row.tolist()):
            if v in seen:
                repeated.append(s)
            seen.add(v)
        return repeated + [s for s in range(len(row)) if s not in repeated]

    def fallback(self) -> dict:
        """The oracle's selection for the current scenario."""
        return self.env.oracle().action
