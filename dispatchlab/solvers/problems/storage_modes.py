"""Storage that never charges and discharges at once: a post-solve step of the dispatch LP.

The LP relaxation of storage lets ``ch`` and ``dis`` both be positive in one period. That is
harmless while energy has a positive price, but when the price is negative (surplus PV with a
large curtailment cost, say) the LP profits from cycling through the round-trip losses to burn
energy. :func:`enforce_storage_exclusive` detects this after the LP and re-solves with a binary
mode per (storage, period)::

    u_s,t ∈ {0, 1} (1 = charging),   ch_s,t ≤ P_ch·u_s,t,   dis_s,t ≤ P_dis·(1 − u_s,t)

then fixes the binaries and solves the LP once more so that the Result keeps its duals (LMPs).
HiGHS has no MIQP: with quadratic costs a heuristic is used instead (each offending period
keeps only its larger flow, re-solved until no overlap is left; not guaranteed optimal).
"""

from __future__ import annotations

import highspy
import numpy as np

from dispatchlab.solvers.backends.highs import HighsModel
from dispatchlab.solvers.data import DispatchData
from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.problems.dispatch import cols_of, grid
from dispatchlab.solvers.status import Solution, Status

MODE = "storage_mode_charging"
TOL_MW = 1e-6
MAX_HEURISTIC_ROUNDS = 20


def simultaneous(m: LinearModel, sol: Solution, d: DispatchData, tol: float = TOL_MW) -> np.ndarray:
    """(storage, T) mask of the periods where a unit both charges and discharges > ``tol``."""
    n, T = len(d.storage), d.T
    ch = sol.x[cols_of(m.var_blocks["storage_charge_mw"].start, n, T)]
    dis = sol.x[cols_of(m.var_blocks["storage_discharge_mw"].start, n, T)]
    return (ch > tol) & (dis > tol)


def add_storage_modes(m: LinearModel, d: DispatchData) -> None:
    """Mode columns u ∈ [0, 1] and rows ch − P_ch·u ≤ 0, dis + P_dis·u ≤ P_dis."""
    s, T = d.storage, d.T
    idx = grid(s.ids, d, "der_id")
    ch, dis = m.var_blocks["storage_charge_mw"], m.var_blocks["storage_discharge_mw"]
    u = m.add_vars(MODE, idx, lb=0.0, ub=1.0)
    r = np.arange(u.size)
    p_ch, p_dis = np.repeat(-s["p_min_mw"], T), np.repeat(s["p_max_mw"], T)
    m.add_cons(
        "storage_mode_charge",
        idx,
        np.r_[r, r],
        np.r_[ch.positions, u.positions],
        np.r_[np.ones(r.size), -p_ch],
        ub=0.0,
    )
    m.add_cons(
        "storage_mode_discharge",
        idx,
        np.r_[r, r],
        np.r_[dis.positions, u.positions],
        np.r_[np.ones(r.size), p_dis],
        ub=p_dis,
    )


def enforce_storage_exclusive(
    m: LinearModel,
    d: DispatchData,
    sol: Solution,
    mode: str,
    *,
    time_limit: float | None = None,
    qp_solve=None,
) -> tuple[Solution, dict]:
    """Re-solve ``m`` (already solved as ``sol``) with exclusive storage modes if needed.

    ``mode``: ``auto`` (only when the LP overlaps), ``always`` or ``off``. Returns the final
    Solution and the facts for ``Result.info`` (``storage_mip``, ``lp_objective``,
    ``storage_overlaps``). ``m`` gains the mode block when a re-solve happens. ``qp_solve``
    (LinearModel -> Solution) re-solves quadratic problems in the heuristic (default HiGHS).
    """
    if mode == "off" or len(d.storage) == 0 or sol.status is not Status.OPTIMAL:
        return sol, {}
    overlaps = simultaneous(m, sol, d)
    info = {"storage_mip": False, "storage_overlaps": int(overlaps.sum())}
    if mode == "auto" and not overlaps.any():
        return sol, info
    info["lp_objective"] = sol.objective
    if m.quadratic()[0].size:
        if qp_solve is None:

            def qp_solve(model: LinearModel) -> Solution:
                return HighsModel(model, time_limit=time_limit).solve()

        final = _heuristic(m, d, sol, qp_solve)
        info["storage_exclusive_method"] = "heuristic (quadratic costs: no MIQP solver)"
    else:
        add_storage_modes(m, d)
        final = _mip_then_fixed_lp(HighsModel(m, time_limit=time_limit))
        info["storage_mip"] = True
        info["storage_exclusive_method"] = "mip"
    info["iterations_storage"] = final.iterations
    return final, info


def _mip_then_fixed_lp(hm: HighsModel) -> Solution:
    """Solve with integer modes, then fix them and re-solve the LP for duals."""
    u = hm.model.var_blocks[MODE]
    pos = u.positions.astype(np.int32)
    kinds = np.full(u.size, highspy.HighsVarType.kInteger)
    hm.h.changeColsIntegrality(u.size, pos, kinds)
    mip = hm.solve()
    if mip.status is not Status.OPTIMAL:
        return mip
    fixed = np.round(mip.x[u.positions])
    hm.h.changeColsIntegrality(u.size, pos, np.full(u.size, highspy.HighsVarType.kContinuous))
    hm.set_bounds(MODE, lb=fixed, ub=fixed)
    final = hm.solve()
    final.extra["mip_objective"] = mip.objective
    return final


def _heuristic(m: LinearModel, d: DispatchData, sol: Solution, qp_solve) -> Solution:
    """Each overlapping (unit, period) keeps only its larger flow (the other's upper bound
    becomes 0); re-solve and repeat until no overlap is left (a few rounds at most)."""
    n, T = len(d.storage), d.T
    ch_b, dis_b = m.var_blocks["storage_charge_mw"], m.var_blocks["storage_discharge_mw"]
    ch_ub, dis_ub = m.ub[ch_b.positions], m.ub[dis_b.positions]
    for _ in range(MAX_HEURISTIC_ROUNDS):
        if sol.status is not Status.OPTIMAL:
            return sol
        both = simultaneous(m, sol, d).ravel()
        if not both.any():
            return sol
        ch = sol.x[cols_of(ch_b.start, n, T)].ravel()
        dis = sol.x[cols_of(dis_b.start, n, T)].ravel()
        dis_ub[both & (ch >= dis)] = 0.0
        ch_ub[both & (ch < dis)] = 0.0
        m.set_var_bounds("storage_charge_mw", ub=ch_ub)
        m.set_var_bounds("storage_discharge_mw", ub=dis_ub)
        sol = qp_solve(m)
    return sol
