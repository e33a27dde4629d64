"""Pyomo backend: the LinearModel as an algebraic Pyomo model a user can read and extend.

:func:`to_pyomo` writes one indexed ``Var`` per variable block and one indexed ``Constraint``
per constraint block, each named after its block and indexed by the block's labels, so that
``m.gen_p_mw[3]`` (single snapshot) or ``m.gen_p_mw[3, t]`` (multi-period) is generator 3's
output. The objective is ``m.objective``; ``m.dual`` (and ``m.rc``) import duals. The model
remembers which Pyomo components hold which LinearModel columns and rows (``m._dl_cols``,
``m._dl_rows``), so results map back to the same :class:`Solution` as the HiGHS backend.

Sign conventions (checked against highspy on LPs and QPs): Pyomo's ``dual`` suffix, as filled
by ``appsi_highs`` and ``highs``, already follows d(objective)/d(rhs), HiGHS's ``row_dual``;
reduced costs are HiGHS's ``col_dual`` = c + Qx − Aᵀy. ``appsi_highs`` cannot take quadratic
objectives, so a QP sent to it is solved by ``highs`` (Pyomo's newer interface to the same
HiGHS library) instead; ``Solution.extra["solver"]`` names the solver that ran.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import pyomo.environ as pe
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr import LinearExpression, MonomialTermExpression
from pyomo.opt import TerminationCondition as TC

from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.status import Solution, Status

_STATUS = {
    TC.optimal: Status.OPTIMAL,
    TC.locallyOptimal: Status.OPTIMAL,
    TC.globallyOptimal: Status.OPTIMAL,
    TC.infeasible: Status.INFEASIBLE,
    TC.invalidProblem: Status.INFEASIBLE,
    TC.infeasibleOrUnbounded: Status.INFEASIBLE,
    TC.unbounded: Status.UNBOUNDED,
    TC.maxTimeLimit: Status.TIME_LIMIT,
    TC.maxIterations: Status.TIME_LIMIT,
    TC.maxEvaluations: Status.TIME_LIMIT,
}

#: solvers whose Pyomo interface takes linear objectives only -> the QP-capable substitute
_LP_ONLY = {"appsi_highs": "highs"}


class PyomoSolverError(ValueError):
    """A Pyomo solver name that is unknown or not available on this machine."""


# --------------------------------------------------------------------------- building
def to_pyomo(model: LinearModel, *, squeeze_period: bool = True) -> pe.ConcreteModel:
    """The LinearModel as a Pyomo ``ConcreteModel`` (see the module docstring for names).

    With ``squeeze_period`` a ``period`` label level holding one period only is dropped from
    the Pyomo index, so snapshot problems read ``m.gen_p_mw[3]``, ``m.power_balance[bus]``;
    multi-period problems keep ``m.gen_p_mw[3, t]``.
    """
    m = pe.ConcreteModel(name=model.name)
    with PauseGC():  # millions of small expression objects: the collector only slows us down
        cols = _add_vars(m, model, squeeze_period)
        m._dl_cols = cols  # column position -> VarData
        # row position -> ConstraintData (None for empty or free rows)
        m._dl_rows = _add_constraints(m, model, cols, squeeze_period)
        m._dl_model = model
        m.objective = pe.Objective(expr=_objective(model, cols), sense=pe.minimize)
    m.dual = pe.Suffix(direction=pe.Suffix.IMPORT)
    m.rc = pe.Suffix(direction=pe.Suffix.IMPORT)
    return m


def _labels(index: pd.Index, squeeze_period: bool = True) -> list:
    """Pyomo index members of a block: its labels without a single-valued ``period`` level
    (snapshot problems: ``m.gen_p_mw[3]``), or positions if labels repeat."""
    if squeeze_period and isinstance(index, pd.MultiIndex) and "period" in index.names:
        level = index.names.index("period")
        if index.get_level_values(level).nunique() == 1:
            index = index.droplevel(level)
    if not index.is_unique:
        return list(range(len(index)))
    return index.tolist()


def _bound(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _add_vars(m: pe.ConcreteModel, model: LinearModel, squeeze: bool) -> list:
    """One indexed Var per block, bounds set; returns the VarData in column order."""
    lb, ub = model.lb, model.ub
    cols: list = []
    for name, block in model.var_blocks.items():
        labels = _labels(block.index, squeeze)
        var = pe.Var(pe.Set(initialize=labels, ordered=True), dense=True)
        m.add_component(name, var)
        for vd, lo, hi in zip(var.values(), lb[block.positions], ub[block.positions], strict=True):
            vd.setlb(_bound(lo))
            vd.setub(_bound(hi))
        cols.extend(var.values())
    return cols


def _add_constraints(m: pe.ConcreteModel, model: LinearModel, cols: list, squeeze: bool) -> list:
    """One indexed Constraint per block from the CSR rows; empty or free rows are left out."""
    a = model.matrix()
    row_lb, row_ub = model.row_lb, model.row_ub
    indptr = a.indptr.tolist()
    indices, data = a.indices.tolist(), a.data.tolist()  # Python scalars: 10× faster below
    rows: list = [None] * model.n_rows
    for name, block in model.con_blocks.items():
        labels = _labels(block.index, squeeze)
        exprs = {}
        for k, r in enumerate(block.positions):
            lo, hi = _bound(row_lb[r]), _bound(row_ub[r])
            s, e = indptr[r], indptr[r + 1]
            if s == e or (lo is None and hi is None):
                continue
            body = LinearExpression(
                list(
                    map(
                        MonomialTermExpression,
                        zip(data[s:e], map(cols.__getitem__, indices[s:e]), strict=True),
                    )
                )
            )
            exprs[labels[k]] = body == lo if lo == hi else (lo, body, hi)
        con = pe.Constraint(pe.Set(initialize=labels, ordered=True), rule=exprs)
        m.add_component(name, con)
        for k, r in enumerate(block.positions):
            if labels[k] in exprs:
                rows[r] = con[labels[k]]
    return rows


def _objective(model: LinearModel, cols: list):
    """cᵀx + ½ Σ q x² + offset as a Pyomo expression."""
    c = model.cost
    nz = np.flatnonzero(c)
    terms: list = [float(model.offset)] if model.offset else []
    terms += [MonomialTermExpression((float(c[j]), cols[j])) for j in nz]
    expr = LinearExpression(terms)
    qcols, q = model.quadratic()
    if qcols.size:
        expr = expr + pe.quicksum(
            (0.5 * float(v)) * cols[j] ** 2 for j, v in zip(qcols, q, strict=True)
        )
    return expr


# ---------------------------------------------------------------------------- solving
def solver_factory(solver: str, quadratic: bool = False):
    """The Pyomo solver object for ``solver``, or :class:`PyomoSolverError` if unusable."""
    name = _LP_ONLY.get(solver, solver) if quadratic else solver
    log = logging.getLogger("pyomo")
    level = log.level
    log.setLevel(logging.ERROR)  # unknown names make Pyomo log a long warning first
    try:
        opt = pe.SolverFactory(name)
        ok = opt is not None and opt.available(exception_flag=False)
    except Exception:
        ok = False
    finally:
        log.setLevel(level)
    if not ok:
        raise PyomoSolverError(
            f"Pyomo solver '{name}' is not known or not available here; with highspy "
            "installed use 'appsi_highs' (LP) or 'highs' (LP and QP), or install the "
            "solver and pass its Pyomo name (e.g. 'glpk', 'cbc', 'gurobi', 'ipopt')"
        )
    return name, opt


def solve_pyomo(
    model: LinearModel,
    *,
    solver: str = "appsi_highs",
    time_limit: float | None = None,
    pyomo_model: pe.ConcreteModel | None = None,
) -> Solution:
    """Build (or take a user-extended) Pyomo model of ``model`` and solve it with ``solver``."""
    start = time.perf_counter()
    m = to_pyomo(model) if pyomo_model is None else pyomo_model
    build_s = time.perf_counter() - start
    sol = solve_pyomo_model(m, model, solver, time_limit=time_limit)
    sol.extra["build_s"] = build_s
    return sol


def solve_pyomo_model(
    pyomo_model: pe.ConcreteModel,
    lm: LinearModel,
    solver: str = "appsi_highs",
    *,
    time_limit: float | None = None,
) -> Solution:
    """Solve a Pyomo model made by :func:`to_pyomo` (possibly extended by the user) and map
    the results back to ``lm``'s columns and rows. Duals of constraints the user added are not
    part of ``row_dual``; they stay readable in ``pyomo_model.dual``."""
    m = pyomo_model
    name, opt = solver_factory(solver, quadratic=_is_quadratic(m))
    kwargs = {"load_solutions": False}
    if time_limit is not None:
        kwargs["timelimit"] = float(time_limit)
    start = time.perf_counter()
    results = opt.solve(m, **kwargs)
    solve_s = time.perf_counter() - start
    tc = results.solver.termination_condition
    status = _STATUS.get(tc, Status.ERROR)
    extra = {"solver": name, "termination": str(tc), "pyomo_model": m}
    n, r = lm.n_cols, lm.n_rows
    if status is not Status.OPTIMAL:
        nan = np.full(n, np.nan)
        return Solution(
            status,
            np.nan,
            nan,
            np.full(r, np.nan),
            nan.copy(),
            np.full(r, np.nan),
            0,
            solve_s,
            str(tc),
            extra,
        )
    m.solutions.load_from(results)
    x = _primal(m, lm)
    y = np.array([0.0 if c is None else float(m.dual.get(c, 0.0) or 0.0) for c in m._dl_rows])
    activity = lm.matrix() @ x
    return Solution(
        Status.OPTIMAL,
        float(pe.value(m.objective)),
        x,
        y,
        _reduced_costs(m, lm, opt, x, y),
        activity,
        0,
        solve_s,
        str(tc),
        extra,
    )


def _is_quadratic(m: pe.ConcreteModel) -> bool:
    from pyomo.repn import generate_standard_repn

    for obj in m.component_data_objects(pe.Objective, active=True):
        if generate_standard_repn(
            obj.expr, quadratic=True, compute_values=False
        ).polynomial_degree() not in (0, 1):
            return True
    return False


def _primal(m: pe.ConcreteModel, lm: LinearModel) -> np.ndarray:
    """x in column order; columns the solver never saw take the bound value nearest 0."""
    x = np.array([np.nan if v.value is None else float(v.value) for v in m._dl_cols])
    unseen = np.isnan(x)
    if unseen.any():
        x[unseen] = np.clip(0.0, lm.lb[unseen], lm.ub[unseen])
    return x


def _reduced_costs(m, lm: LinearModel, opt, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Reduced costs from the solver (persistent interfaces, or the ``rc`` suffix), else
    c + Qx − Aᵀy (exact when the user added no constraints)."""
    rc = None
    for method in ("get_reduced_costs", "_get_reduced_costs"):
        if hasattr(opt, method):
            try:
                rc = getattr(opt, method)()
            except Exception:
                rc = None
            break
    if rc is None and len(m.rc):
        rc = m.rc
    if rc is not None:
        values = [rc.get(v) for v in m._dl_cols]
        if all(v is not None for v in values):
            return np.asarray(values, dtype=float)
    qcols, q = lm.quadratic()
    grad = lm.cost.copy()
    grad[qcols] += q * x[qcols]
    return grad - lm.matrix().T @ y
