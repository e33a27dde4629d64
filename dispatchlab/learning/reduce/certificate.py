"""The reduced-cost certificate behind variable pruning: the LP as arrays, a solve with some
columns fixed at a bound, the certificate and the repair loop (docs/reduce.md).

Split from :mod:`dispatchlab.learning.reduce.pruning` so any fixing — a learned prediction, a
hand-made one, a seed003 DER subset — can be certified without the predictor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from dispatchlab.learning.reduce.base import ReductionReport
from dispatchlab.solvers.backends.highs import quiet_highs
from dispatchlab.solvers.status import Solution, Status

METHOD = "variable_pruning"


@dataclass(frozen=True)
class PruningConfig:
    """Hyperparameters of :class:`VariablePruning`."""

    blocks: tuple[str, ...] = ("der_p_mw", "load_shed_mw")  #: variable blocks that may be fixed
    n_neighbors: int = 5  #: stored points whose duals form the band of a prediction
    holdout_fraction: float = 0.25  #: share of the data set held out to calibrate the margin
    margin_quantile: float = 0.95  #: quantile of held-out band misses covered by the margin
    margin_scale: float = 1.5  #: safety factor on that quantile
    min_margin: float = 0.01  #: smallest margin, $/MWh (reduced-cost units)
    repair: str = "all"  #: un-fix "all" failing columns per round, or the "worst" one
    max_rounds: int = 5  #: repair rounds before falling back to the full LP
    tol: float = 1e-7  #: certificate tolerance on reduced costs, relative to max(1, |c|∞)
    reduced_presolve: str = "off"  #: HiGHS presolve for the (small) reduced LP
    seed: int = 0  #: seeds the hold-out split

    def __post_init__(self) -> None:
        if self.repair not in ("all", "worst"):
            raise ValueError(f"repair must be 'all' or 'worst', got {self.repair!r}")
        if self.n_neighbors < 1 or self.max_rounds < 0:
            raise ValueError("n_neighbors must be ≥ 1 and max_rounds ≥ 0")
        if not 0.0 < self.holdout_fraction < 1.0 or not 0.0 < self.margin_quantile <= 1.0:
            raise ValueError("holdout_fraction must be in (0, 1) and margin_quantile in (0, 1]")


class LPArrays:
    """The full LP of a DispatchModel as arrays, kept current by DispatchModel's own updates.

    DispatchModel writes loads / availability through ``highs.set_rhs / set_bounds / set_costs``
    and ``highs.h.changeObjectiveOffset``; :class:`PrunedDispatch` puts this object in that
    slot, so the update rules stay DispatchModel's (written once) while the full LP never has
    to be pushed into a HiGHS instance of 10 000 columns.
    """

    def __init__(self, model) -> None:
        self.model = model
        self.cost, self.lb, self.ub = model.cost, model.lb, model.ub
        self.row_lb, self.row_ub = model.row_lb, model.row_ub
        self.a = model.matrix().tocsc()
        self.a_t = self.a.T.tocsr()  # aᵀy for all columns in one product
        self._blocks: dict[tuple[str, ...], tuple[np.ndarray, object]] = {}
        self.q = np.zeros(model.n_cols)
        cols, q = model.quadratic()
        self.q[cols] = q
        self.offset = model.offset
        self.quadratic = bool(self.q.any())

    @property
    def h(self) -> LPArrays:  # DispatchModel calls ``self.highs.h.changeObjectiveOffset``
        return self

    def changeObjectiveOffset(self, offset: float) -> None:
        self.offset = float(offset)

    def set_costs(self, block: str, cost) -> None:
        self.cost[self.model.var_blocks[block].positions] = cost

    def set_bounds(self, block: str, lb=None, ub=None) -> None:
        pos = self.model.var_blocks[block].positions
        if lb is not None:
            self.lb[pos] = lb
        if ub is not None:
            self.ub[pos] = ub

    def set_rhs(self, block: str, lb=None, ub=None) -> None:
        pos = self.model.con_blocks[block].positions
        if lb is not None:
            self.row_lb[pos] = lb
        if ub is not None:
            self.row_ub[pos] = ub

    def columns(self, blocks: tuple[str, ...]) -> Candidates:
        """The columns of the named variable blocks that a prediction may fix (cached)."""
        if blocks not in self._blocks:
            unknown = [b for b in blocks if b not in self.model.var_blocks]
            if unknown:
                raise KeyError(f"variable block(s) {unknown} not in {list(self.model.var_blocks)}")
            cols = np.concatenate([self.model.var_blocks[b].positions for b in blocks])
            contiguous = len(cols) > 0 and np.array_equal(cols, np.arange(cols[0], cols[-1] + 1))
            sel = slice(int(cols[0]), int(cols[-1]) + 1) if contiguous else cols
            a_t = self.a_t[cols]
            self._blocks[blocks] = Candidates(cols, sel, a_t.maximum(0), a_t.minimum(0))
        return self._blocks[blocks]


@dataclass(frozen=True)
class Candidates:
    """Columns that may be fixed: positions, a selector (a slice when contiguous, so that
    bounds are read as views) and Aᵀ split by sign for interval bounds on aᵀy."""

    cols: np.ndarray
    sel: slice | np.ndarray
    a_pos: object
    a_neg: object

    def band(self, y_lo: np.ndarray, y_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of a_jᵀy for every y with y_lo ≤ y ≤ y_hi (interval arithmetic)."""
        return self.a_pos @ y_lo + self.a_neg @ y_hi, self.a_pos @ y_hi + self.a_neg @ y_lo


@dataclass
class Certificate:
    """Reduced-cost check of a fixing: ``failing`` columns and by how much (``violation``)."""

    ok: bool
    failing: np.ndarray
    violation: np.ndarray
    max_primal_violation: float


def certify(
    lp: LPArrays, sol: Solution, fixed: np.ndarray, at_upper: np.ndarray, tol: float
) -> Certificate:
    """The certificate above for columns ``fixed`` (at ub where ``at_upper``) of a full-size
    solution: d_j = c_j + q_j x_j − a_jᵀ y signed by the bound, plus the primal residual."""
    d = sol.col_dual[fixed]  # c + q x − Aᵀy, computed once by solve_fixed
    tol = tol * max(1.0, float(np.abs(lp.cost).max(initial=0.0)))
    wrong = np.where(at_upper, d, -d)  # > 0: moving off the bound would lower the cost
    wrong[lp.lb[fixed] == lp.ub[fixed]] = 0.0  # a column with lb = ub is fixed by the data
    fail = wrong > tol
    act = sol.row_activity
    primal = max(
        float(np.max(lp.row_lb - act, initial=0.0)),
        float(np.max(act - lp.row_ub, initial=0.0)),
        float(np.max(lp.lb - sol.x, initial=0.0)),
        float(np.max(sol.x - lp.ub, initial=0.0)),
    )
    return Certificate(bool(not fail.any()), fixed[fail], wrong[fail], primal)


def solve_fixed(
    lp: LPArrays,
    fixed: np.ndarray,
    at_upper: np.ndarray,
    h: highspy.Highs,
    basis: tuple[np.ndarray, np.ndarray] | None = None,
) -> Solution:
    """Solve the LP with columns ``fixed`` at their bounds removed; a full-size Solution
    whose ``col_dual`` is the full LP's reduced cost c + q x − Aᵀy of every column.

    ``basis``: a full-size (column, row) basis status (HighsBasisStatus values), e.g. the
    optimal basis of the nearest stored point; the reduced LP starts from its restriction to
    the kept columns when that restriction has one basic variable per row (it has whenever
    every fixed column is nonbasic there), else from HiGHS's default start."""
    start = time.perf_counter()
    x = np.zeros(lp.a.shape[1])
    x[fixed] = np.where(at_upper, lp.ub[fixed], lp.lb[fixed])
    free = np.ones(lp.a.shape[1], bool)
    free[fixed] = False
    idx = np.flatnonzero(free)
    shift = lp.a @ x
    red = highspy.HighsLp()
    red.num_col_, red.num_row_ = len(idx), lp.a.shape[0]
    red.col_cost_, red.col_lower_, red.col_upper_ = lp.cost[idx], lp.lb[idx], lp.ub[idx]
    red.row_lower_, red.row_upper_ = lp.row_lb - shift, lp.row_ub - shift
    fixed_cost = lp.cost @ x + (0.5 * (lp.q * x * x).sum() if lp.quadratic else 0.0)
    red.offset_ = lp.offset + float(fixed_cost)
    red.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    red.a_matrix_.start_, red.a_matrix_.index_, red.a_matrix_.value_ = _csc_columns(lp.a, idx)
    h.passModel(red)
    if basis is not None:
        _set_basis(h, basis[0][idx], basis[1])
    quadratic = lp.quadratic and bool(lp.q[idx].any())
    if quadratic:  # diagonal Hessian of the free quadratic columns
        _pass_hessian(h, lp.q[idx])
    h.setOptionValue("solver", "choose" if quadratic else "simplex")
    h.run()
    status = h.getModelStatus()
    iterations = int(max(h.getInfo().simplex_iteration_count, 0))
    if status != highspy.HighsModelStatus.kOptimal:
        infeasible = status == highspy.HighsModelStatus.kInfeasible
        n_cols, n_rows = lp.a.shape[1], lp.a.shape[0]
        return Solution.failed(
            Status.INFEASIBLE if infeasible else Status.ERROR,
            n_cols,
            n_rows,
            iterations,
            time.perf_counter() - start,
            h.modelStatusToString(status),
        )
    s = h.getSolution()
    x[idx] = s.col_value
    y = np.asarray(s.row_dual)
    col_dual = lp.cost - lp.a_t @ y
    if lp.quadratic:
        col_dual += lp.q * x
    return Solution(
        Status.OPTIMAL,
        float(h.getInfo().objective_function_value),
        x,
        y,
        col_dual,
        lp.a @ x,
        iterations,
        time.perf_counter() - start,
    )


def _csc_columns(a, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, index, value) of columns ``idx`` of a CSC matrix. Hand-written because
    scipy's ``a[:, idx]`` spends ~0.3 ms in index validation for 10 000 columns; this is a
    handful of vector operations on the few hundred kept columns."""
    begin, end = a.indptr[idx], a.indptr[idx + 1]
    length = end - begin
    start = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(length, out=start[1:])
    take = np.repeat(begin - start[:-1], length) + np.arange(start[-1])
    return start.astype(np.int32), a.indices[take].astype(np.int32), a.data[take]


_STATUS = [highspy.HighsBasisStatus(i) for i in range(5)]  # kLower, kBasic, kUpper, kZero, …


def _set_basis(h: highspy.Highs, cols: np.ndarray, rows: np.ndarray) -> bool:
    """Hand HiGHS a basis when it has one basic variable per row; True if it was accepted."""
    if int((cols == 1).sum() + (rows == 1).sum()) != len(rows):
        return False
    b = highspy.HighsBasis()
    b.col_status = [_STATUS[v] for v in cols.tolist()]
    b.row_status = [_STATUS[v] for v in rows.tolist()]
    b.valid = True
    return h.setBasis(b) == highspy.HighsStatus.kOk


def _pass_hessian(h: highspy.Highs, q: np.ndarray) -> None:
    hess = highspy.HighsHessian()
    hess.dim_ = len(q)
    hess.format_ = highspy.HessianFormat.kTriangular
    hess.start_ = np.r_[0, np.cumsum(q != 0)].astype(np.int32)
    hess.index_ = np.flatnonzero(q).astype(np.int32)
    hess.value_ = q[q != 0]
    h.passHessian(hess)


def repair_solve(
    lp: LPArrays,
    fixed: np.ndarray,
    at_upper: np.ndarray,
    config: PruningConfig,
    h: highspy.Highs,
    basis: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Solution, ReductionReport]:
    """Solve with a fixing, certify, un-fix failing columns and re-solve until certified
    (or fall back to the full LP after ``max_rounds``). Works for any fixing: a prediction, a
    hand-made one, or a seed003-style DER subset (the DERs left out fixed at 0). ``basis``:
    a full-size starting basis for every reduced solve (see :func:`solve_fixed`)."""
    report = ReductionReport(METHOD, predicted=len(fixed))
    fixed, at_upper = np.asarray(fixed, np.int64), np.asarray(at_upper, bool)
    if fixed.shape != at_upper.shape:
        raise ValueError(f"fixed {fixed.shape} and at_upper {at_upper.shape} differ in shape")
    bad = fixed[(fixed < 0) | (fixed >= lp.a.shape[1])]
    if len(bad):
        raise ValueError(f"fixed column {bad[0]} outside the LP's 0 … {lp.a.shape[1] - 1}")
    missed: set[int] = set()
    solve_s = verify_s = 0.0
    while True:
        sol = solve_fixed(lp, fixed, at_upper, h, basis)
        solve_s += sol.solve_s
        report.extra["iterations"] = report.extra.get("iterations", 0) + sol.iterations
        if sol.status is not Status.OPTIMAL:  # a fixing can make the rows infeasible
            if len(fixed) == 0:
                break
            report.fallback, report.added_back = True, report.added_back + len(fixed)
            fixed, at_upper = fixed[:0], at_upper[:0]
            report.rounds += 1
            continue
        t0 = time.perf_counter()
        cert = certify(lp, sol, fixed, at_upper, config.tol)
        verify_s += time.perf_counter() - t0
        if cert.ok:
            report.certified = True
            report.extra["max_primal_violation"] = cert.max_primal_violation
            break
        missed.update(cert.failing.tolist())
        if report.rounds >= config.max_rounds:
            drop, report.fallback = fixed, True
        elif config.repair == "worst":
            drop = cert.failing[[int(np.argmax(cert.violation))]]
        else:
            drop = cert.failing
        keep = ~np.isin(fixed, drop)
        report.added_back += int(len(fixed) - keep.sum())
        fixed, at_upper = fixed[keep], at_upper[keep]
        report.rounds += 1
    report.missed = len(missed)
    report.extra["fixed_final"] = len(fixed)
    report.timings.update(solve=solve_s, verify=verify_s)
    return sol, report


def reduced_highs(config: PruningConfig) -> highspy.Highs:
    """A quiet HiGHS instance for the reduced LPs (simplex; presolve per config)."""
    h = quiet_highs()
    h.setOptionValue("presolve", config.reduced_presolve)
    return h
