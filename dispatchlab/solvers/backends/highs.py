"""highspy direct: the default backend, fed with sparse matrices in one call.

:class:`HighsModel` keeps the HiGHS instance alive so that costs, bounds and right-hand sides
can be changed in place and the problem re-solved warm from the previous basis (rolling
horizon, environments, scenario sweeps, lazy constraint generation).
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.status import Solution, Status

_STATUS = {
    highspy.HighsModelStatus.kOptimal: Status.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: Status.UNBOUNDED,
    highspy.HighsModelStatus.kTimeLimit: Status.TIME_LIMIT,
    highspy.HighsModelStatus.kIterationLimit: Status.TIME_LIMIT,
}


#: statuses that do not say whether the model is feasible: settled by _settle_ambiguous
_AMBIGUOUS = (
    highspy.HighsModelStatus.kUnboundedOrInfeasible,
    highspy.HighsModelStatus.kUnknown,
    highspy.HighsModelStatus.kSolveError,
    highspy.HighsModelStatus.kPresolveError,
    highspy.HighsModelStatus.kPostsolveError,
    highspy.HighsModelStatus.kNotset,
)

QP_ITERATION_LIMIT = 10_000  #: HiGHS QP iterations before the Clarabel fallback (at least)


_banner_done = False


def quiet_highs() -> highspy.Highs:
    """A ``highspy.Highs`` with its output off, without the copyright banner.

    HiGHS writes its banner to the C-level stdout in the first constructor of a process, before
    any option can be set (``output_flag`` only silences what follows), so the first instance is
    built with file descriptor 1 pointed at /dev/null; later ones print nothing on their own.
    Every Highs of the package (and, after it, pyomo's ``appsi_highs``) is then silent.
    """
    global _banner_done
    if _banner_done:
        h = highspy.Highs()
    else:
        h = _without_stdout(highspy.Highs)
        _banner_done = True
    h.setOptionValue("output_flag", False)
    return h


def _without_stdout(make):
    """``make()`` with fd 1 on /dev/null (C's buffers flushed before fd 1 comes back)."""
    try:
        sys.stdout.flush()
        saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):  # no usable fd 1 (embedded, closed)
        return make()
    try:
        os.dup2(null, 1)
        return make()
    finally:
        try:
            ctypes.CDLL(None).fflush(None)
        except (OSError, AttributeError, TypeError):  # no libc (Windows): nothing buffered
            pass
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def _inf(a: np.ndarray, big: float) -> np.ndarray:
    return np.clip(a, -big, big)


class HighsModel:
    """A LinearModel loaded into a persistent HiGHS instance."""

    def __init__(
        self, model: LinearModel, *, time_limit: float | None = None, options: dict | None = None
    ):
        self.model = model
        self.time_limit = time_limit
        self.h = quiet_highs()
        if time_limit is not None:
            self.h.setOptionValue("time_limit", float(time_limit))
        for key, value in (options or {}).items():
            self.h.setOptionValue(key, value)
        self._big = self.h.getInfinity()
        self._pass(model)
        self.n_con_blocks = len(model.con_blocks)
        self.quadratic = bool(model.quadratic()[0].size)
        if self.quadratic and "qp_iteration_limit" not in (options or {}):
            # HiGHS's active-set QP solver can cycle (ieee30-seed004's DC-OPF at some hours
            # ran for hours on a 47-column QP); bound it and let solve() fall back to Clarabel
            limit = max(QP_ITERATION_LIMIT, 50 * (model.n_cols + model.n_rows))
            self.h.setOptionValue("qp_iteration_limit", limit)

    def _pass(self, m: LinearModel) -> None:
        lp = highspy.HighsLp()
        lp.num_col_ = m.n_cols
        lp.num_row_ = m.n_rows
        lp.col_cost_ = m.cost
        lp.col_lower_ = _inf(m.lb, self._big)
        lp.col_upper_ = _inf(m.ub, self._big)
        lp.row_lower_ = _inf(m.row_lb, self._big)
        lp.row_upper_ = _inf(m.row_ub, self._big)
        lp.offset_ = m.offset
        a = m.matrix().tocsc()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data
        self.h.passModel(lp)
        cols, q = m.quadratic()
        if cols.size:
            hess = highspy.HighsHessian()
            hess.dim_ = m.n_cols
            hess.format_ = highspy.HessianFormat.kTriangular
            qm = sp.csc_matrix((q, (cols, cols)), shape=(m.n_cols, m.n_cols))
            hess.start_ = qm.indptr.astype(np.int32)
            hess.index_ = qm.indices.astype(np.int32)
            hess.value_ = qm.data
            self.h.passHessian(hess)

    # ---------------------------------------------------------------- in-place updates
    def set_costs(self, block: str, cost) -> None:
        b = self.model.var_blocks[block]
        c = np.broadcast_to(np.asarray(cost, float), (b.size,))
        self.h.changeColsCost(b.size, b.positions.astype(np.int32), c)

    def set_bounds(self, block: str, lb=None, ub=None) -> None:
        """New column bounds of a variable block (``None`` keeps the current side)."""
        b = self.model.var_blocks[block]
        # getLp() copies the whole LP: only pay for it when one side must be kept
        lp = self.h.getLp() if lb is None or ub is None else None
        lo, hi = self._sides(b, lb, ub, lp and lp.col_lower_, lp and lp.col_upper_)
        self.h.changeColsBounds(b.size, b.positions.astype(np.int32), lo, hi)

    def set_rhs(self, block: str, lb=None, ub=None) -> None:
        """New row bounds of a constraint block (``None`` keeps the current side)."""
        b = self.model.con_blocks[block]
        lp = self.h.getLp() if lb is None or ub is None else None
        lo, hi = self._sides(b, lb, ub, lp and lp.row_lower_, lp and lp.row_upper_)
        self.h.changeRowsBounds(b.size, b.positions.astype(np.int32), lo, hi)

    def _sides(self, b, lb, ub, lower, upper) -> tuple[np.ndarray, np.ndarray]:
        lo = np.asarray(lower)[b.positions] if lb is None else lb
        hi = np.asarray(upper)[b.positions] if ub is None else ub
        lo = _inf(np.broadcast_to(np.asarray(lo, float), (b.size,)), self._big)
        hi = _inf(np.broadcast_to(np.asarray(hi, float), (b.size,)), self._big)
        return lo, hi

    def add_new_rows(self) -> int:
        """Push constraint blocks added to the LinearModel since the last push; returns count."""
        triplets, lbs, ubs = self.model.triplets_since(self.n_con_blocks)
        if not triplets:
            return 0
        first = (
            min(int(t[0].min()) for t in triplets if t[0].size)
            if any(t[0].size for t in triplets)
            else self.h.getNumRow()
        )
        first = min(first, self.h.getNumRow())
        r = np.concatenate([t[0] for t in triplets]) - first
        c = np.concatenate([t[1] for t in triplets])
        v = np.concatenate([t[2] for t in triplets])
        lo, hi = np.concatenate(lbs), np.concatenate(ubs)
        a = sp.csr_matrix((v, (r, c)), shape=(len(lo), self.model.n_cols))
        self.h.addRows(
            len(lo),
            _inf(lo, self._big),
            _inf(hi, self._big),
            a.nnz,
            a.indptr[:-1].astype(np.int32),
            a.indices.astype(np.int32),
            a.data,
        )
        self.n_con_blocks = len(self.model.con_blocks)
        return len(lo)

    def solve(self) -> Solution:
        start = time.perf_counter()
        self.h.run()
        solve_s = time.perf_counter() - start
        model_status = self.h.getModelStatus()
        if self.quadratic and model_status == highspy.HighsModelStatus.kIterationLimit:
            return self._clarabel_fallback(solve_s)
        status = _STATUS.get(model_status, Status.ERROR)
        info = self.h.getInfo()
        iterations = sum(
            max(int(k), 0)
            for k in (
                info.simplex_iteration_count,
                info.ipm_iteration_count,
                info.qp_iteration_count,
            )
        )
        message = self.h.modelStatusToString(model_status)
        if model_status in _AMBIGUOUS:
            status, message = _settle_ambiguous(self.h, message)
        if status is not Status.OPTIMAL:
            n, m = self.h.getNumCol(), self.h.getNumRow()
            return Solution.failed(status, n, m, iterations, solve_s, message)
        sol = self.h.getSolution()
        return Solution(
            status=status,
            objective=float(self.h.getInfo().objective_function_value),
            x=np.asarray(sol.col_value),
            row_dual=np.asarray(sol.row_dual),
            col_dual=np.asarray(sol.col_dual),
            row_activity=np.asarray(sol.row_value),
            iterations=iterations,
            solve_s=solve_s,
            message=message,
        )

    def current_model(self) -> _Snapshot:
        """The LP / QP as HiGHS holds it now (in-place updates and added rows included)."""
        lp = self.h.getLp()
        a = sp.csc_matrix(
            (lp.a_matrix_.value_, lp.a_matrix_.index_, lp.a_matrix_.start_),
            shape=(lp.num_row_, lp.num_col_),
        ).tocsr()
        return _Snapshot(
            n_cols=lp.num_col_,
            n_rows=lp.num_row_,
            cost=np.asarray(lp.col_cost_),
            lb=np.asarray(lp.col_lower_),
            ub=np.asarray(lp.col_upper_),
            row_lb=np.asarray(lp.row_lower_),
            row_ub=np.asarray(lp.row_upper_),
            offset=float(lp.offset_),
            a=a,
            quad=self.model.quadratic(),
        )

    def _clarabel_fallback(self, highs_s: float) -> Solution:
        """Solve the current QP with Clarabel after HiGHS stopped at its iteration limit."""
        from dispatchlab.solvers.backends.clarabel import solve_clarabel

        its = max(int(self.h.getInfo().qp_iteration_count), 0)
        left = None if self.time_limit is None else max(self.time_limit - highs_s, 1e-3)
        sol = solve_clarabel(self.current_model(), time_limit=left)
        sol.solve_s += highs_s
        sol.iterations += its
        sol.message = (
            f"HiGHS's QP solver stopped at its iteration limit ({its} iterations, cycling); "
            f"solved by Clarabel: {sol.message}"
        )
        sol.extra["fallback"] = "clarabel"
        return sol


def _settle_ambiguous(h: highspy.Highs, message: str) -> tuple[Status, str]:
    """Infeasible, unbounded or a real error? HiGHS may end an infeasible LP with "unbounded
    or infeasible", "unknown" or a solve error (presolve reductions, IPM without crossover).
    A dual ray proves infeasibility (Farkas); otherwise the same constraints are solved with
    a zero objective, which cannot be unbounded: infeasible there is infeasible here, and
    feasible there means the original was unbounded (or HiGHS failed: an error, said so)."""
    _, has_ray, _ = h.getDualRay()
    if has_ray:
        return Status.INFEASIBLE, f"infeasible (HiGHS: {message}; a dual ray proves it)"
    lp = h.getLp()
    lp.col_cost_ = np.zeros(lp.num_col_)
    lp.offset_ = 0.0
    check = highspy.Highs()
    check.setOptionValue("output_flag", False)
    for presolve in ("on", "off"):  # presolve may leave it undecided; plain simplex decides
        check.setOptionValue("presolve", presolve)
        check.passModel(lp)
        check.run()
        feas = check.getModelStatus()
        if feas == highspy.HighsModelStatus.kInfeasible:
            return Status.INFEASIBLE, f"infeasible (HiGHS: {message}; a feasibility re-solve)"
        if feas == highspy.HighsModelStatus.kOptimal:
            was = highspy.HighsModelStatus.kUnboundedOrInfeasible
            if h.getModelStatus() == was:
                return (
                    Status.UNBOUNDED,
                    f"unbounded (HiGHS: {message}; the constraints are feasible)",
                )
            return Status.ERROR, f"HiGHS: {message} (the constraints are feasible)"
    return Status.ERROR, f"HiGHS: {message} (a feasibility re-solve did not settle it)"


@dataclass
class _Snapshot:
    """A solved-model view with the attributes :func:`solve_clarabel` reads."""

    n_cols: int
    n_rows: int
    cost: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    row_lb: np.ndarray
    row_ub: np.ndarray
    offset: float
    a: sp.csr_matrix
    quad: tuple[np.ndarray, np.ndarray]

    def matrix(self) -> sp.csr_matrix:
        return self.a

    def quadratic(self) -> tuple[np.ndarray, np.ndarray]:
        return self.quad


def solve_highs(
    model: LinearModel, *, time_limit: float | None = None, options: dict | None = None
) -> Solution:
    """Build a HiGHS instance for ``model`` and solve it once."""
    return HighsModel(model, time_limit=time_limit, options=options).solve()
