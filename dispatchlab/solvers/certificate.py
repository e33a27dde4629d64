"""The reduced-cost certificate of an LP solved with some columns fixed at a bound: the LP as
arrays, a solve with those columns removed, the certificate and the repair loop.

For min cᵀx + ½xᵀQx s.t. row_lb ≤ Ax ≤ row_ub, lb ≤ x ≤ ub, solved with the columns F fixed at
a bound, the reduced LP's row duals y give every column's reduced cost in the FULL LP,

    d_j = c_j + q_j x_j − a_jᵀ y                                   (LP/QP optimality, KKT)

and the reduced optimum is the full optimum iff every column fixed at its lower bound has
d_j ≥ −tol and every one at its upper bound d_j ≤ tol (free columns satisfy it already; the
rows are the full LP's rows, so primal feasibility carries over). Failing columns are un-fixed
and the LP re-solved until the certificate holds (:func:`repair_solve`).

It lives in ``solvers/`` because it is exact LP math that an exact problem needs: the
``drl_lp`` problem (seed003's DRL-LP, :mod:`dispatchlab.solvers.problems.drl_lp`) certifies a
DER selection with it, and ``solvers/`` may not import ``learning/``. The learned reductions
(:mod:`dispatchlab.learning.reduce.certificate`, variable pruning) re-export it
(docs/design/drl-lp.md).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import highspy
import numpy as np

from dispatchlab.solvers.backends.highs import quiet_highs
from dispatchlab.solvers.status import Solution, Status


@dataclass
class ReductionReport:
    """How a reduced solve went: what was predicted, missed and repaired, and the time per stage."""

    method: str
    predicted: int = 0  #: constraints kept / variables fixed / basis entries predicted
    missed: int = 0  #: predictions the certificate rejected
    added_back: int = 0  #: constraints added or variables un-fixed by the repair
    rounds: int = 0  #: re-solves after the first reduced solve
    fallback: bool = False  #: True when the reduction gave up and solved the full problem
    certified: bool = False  #: the certificate holds for the returned solution
    timings: dict[str, float] = field(default_factory=dict)  #: features/inference/solve/verify s
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RepairOptions:
    """What :func:`repair_solve` reads (the learned reductions' ``PruningConfig`` has the
    same fields and can be passed instead)."""

    repair: str = "all"  #: un-fix "all" failing columns per round, or the "worst" one
    max_rounds: int = 5  #: repair rounds before falling back to the full LP
    tol: float = 1e-7  #: certificate tolerance on reduced costs, relative to max(1, |c|∞)
    reduced_presolve: str = "off"  #: HiGHS presolve for the (small) reduced LP

    def __post_init__(self) -> None:
        if self.repair not in ("all", "worst"):
            raise ValueError(f"repair must be 'all' or 'worst', got {self.repair!r}")
        if self.max_rounds < 0:
            raise ValueError(f"max_rounds must be ≥ 0, got {self.max_rounds}")


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
    config: RepairOptions,
    h: highspy.Highs,
    basis: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    method: str = "certificate",
) -> tuple[Solution, ReductionReport]:
    """Solve with a fixing, certify, un-fix failing columns and re-solve until certified
    (or fall back to the full LP after ``max_rounds``). Works for any fixing: a prediction, a
    hand-made one, or a seed003-style DER subset (the DERs left out fixed at 0). ``basis``:
    a full-size starting basis for every reduced solve (see :func:`solve_fixed`). ``config``:
    a :class:`RepairOptions` or any object with its fields; ``method`` names the report."""
    report = ReductionReport(method, predicted=len(fixed))
    fixed, at_upper = np.asarray(fixed, np.int64), np.asarray(at_upper, bool)
    if fixed.shape != at_upper.shape:
        raise ValueError(f"fixed {fixed.shape} and at_upper {at_upper.shape} differ in shape")
    bad = fixed[(fixed < 0) | (fixed >= lp.a.shape[1])]
    if len(bad):
        raise ValueError(f"fixed column {bad[0]} outside the LP's 0 … {lp.a.shape[1] - 1}")
    missed: set[int] = set()
    unfixed: list[np.ndarray] = []
    solve_s = verify_s = 0.0
    while True:
        sol = solve_fixed(lp, fixed, at_upper, h, basis)
        solve_s += sol.solve_s
        report.extra.setdefault("first_objective", sol.objective)  # before any repair
        report.extra["iterations"] = report.extra.get("iterations", 0) + sol.iterations
        if sol.status is not Status.OPTIMAL:  # a fixing can make the rows infeasible
            if len(fixed) == 0:
                break
            report.fallback, report.added_back = True, report.added_back + len(fixed)
            unfixed.append(fixed)
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
        unfixed.append(fixed[~keep])
        fixed, at_upper = fixed[keep], at_upper[keep]
        report.rounds += 1
    report.missed = len(missed)
    report.extra["fixed_final"] = len(fixed)
    report.extra["unfixed_columns"] = np.sort(
        np.concatenate([np.zeros(0, np.int64), *unfixed])
    ).tolist()
    report.timings.update(solve=solve_s, verify=verify_s)
    return sol, report


def reduced_highs(config: RepairOptions) -> highspy.Highs:
    """A quiet HiGHS instance for the reduced LPs (simplex; presolve per config)."""
    h = quiet_highs()
    h.setOptionValue("presolve", config.reduced_presolve)
    return h
