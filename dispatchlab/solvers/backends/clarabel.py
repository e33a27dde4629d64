"""Clarabel (interior point) for quadratic programs.

Why a second direct backend: HiGHS's QP solver is an active-set method whose iterations grow
costly with the number of free directions. On ``ieee30-seed004`` over 96 periods (4 512
columns, 576 quadratic terms) it hit a 60 s time limit after 519 iterations with every HiGHS QP
option, while Clarabel solves the same QP in well under a second. Linear programs stay on
HiGHS (simplex gives a basis for warm starts and exact vertex solutions).

The LinearModel is mapped to Clarabel's standard form ``min ½xᵀPx + qᵀx  s.t.  Ax + s = b,
s ∈ K`` with equality rows in the zero cone and every finite inequality (rows and bounds) in
the non-negative cone. Duals are returned with HiGHS's convention (d objective / d rhs).
"""

from __future__ import annotations

import time

import clarabel
import numpy as np
import scipy.sparse as sp

from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.status import Solution, Status

# "AlmostSolved" is not optimal: on ACTIVSg10k's B-θ DC-OPF it stopped 3.7e-4 above the optimum
_STATUS = {
    "Solved": Status.OPTIMAL,
    "AlmostSolved": Status.ERROR,
    "PrimalInfeasible": Status.INFEASIBLE,
    "AlmostPrimalInfeasible": Status.INFEASIBLE,
    "DualInfeasible": Status.UNBOUNDED,
    "AlmostDualInfeasible": Status.UNBOUNDED,
    "MaxTime": Status.TIME_LIMIT,
    "MaxIterations": Status.TIME_LIMIT,
}


def _standard_form(m: LinearModel):
    """Stack equality rows, then ≤ rows, then ≥ rows (negated), then finite bounds, over the
    columns not fixed by their bounds. Fixed columns (lb = ub: load shedding when it is off)
    are substituted out: each would add two bound rows to the KKT system for nothing, which
    doubled the time of case10000_goc's lazy DC-OPF re-solve (0.30 s against 0.14 s)."""
    fixed = m.lb == m.ub
    if fixed.all():  # nothing left to solve for: keep the columns (Clarabel needs one)
        fixed[:] = False
    free = np.flatnonzero(~fixed)
    x_fixed = np.where(fixed, m.lb, 0.0)
    a = m.matrix()
    shift = a @ x_fixed
    a = a[:, free]
    lo, hi = m.row_lb - shift, m.row_ub - shift
    eq = np.flatnonzero(lo == hi)
    le = np.flatnonzero((lo != hi) & np.isfinite(hi))
    ge = np.flatnonzero((lo != hi) & np.isfinite(lo))
    lb, ub = m.lb[free], m.ub[free]
    eye = sp.identity(len(free), format="csr")
    ub_cols = np.flatnonzero(np.isfinite(ub))
    lb_cols = np.flatnonzero(np.isfinite(lb))
    blocks = [a[eq], a[le], -a[ge], eye[ub_cols], -eye[lb_cols]]
    rhs = [hi[eq], hi[le], -lo[ge], ub[ub_cols], -lb[lb_cols]]
    A = sp.vstack(blocks, format="csc")
    b = np.concatenate(rhs)
    n_eq = len(eq)
    return A, b, n_eq, (eq, le, ge, ub_cols, lb_cols), free, x_fixed


def solve_clarabel(
    model: LinearModel, *, time_limit: float | None = None, tol: float = 1e-9
) -> Solution:
    """Solve ``model`` (LP or convex QP) with Clarabel and return a :class:`Solution`."""
    start = time.perf_counter()
    A, b, n_eq, parts, free, x_fixed = _standard_form(model)
    n = model.n_cols
    cols, q = model.quadratic()
    P = sp.csc_matrix((q, (cols, cols)), shape=(n, n))
    # P is diagonal (LinearModel's quadratic terms): no cross term with the fixed columns
    P_free = P[free][:, free].tocsc()
    cones = [clarabel.ZeroConeT(n_eq), clarabel.NonnegativeConeT(A.shape[0] - n_eq)]
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = tol
    if time_limit is not None:
        settings.time_limit = float(time_limit)
    solver = clarabel.DefaultSolver(P_free, model.cost[free], A, b, cones, settings)
    out = solver.solve()
    solve_s = time.perf_counter() - start
    status = _STATUS.get(str(out.status), Status.ERROR)
    m_rows = model.n_rows
    if status is not Status.OPTIMAL:
        return Solution.failed(status, n, m_rows, int(out.iterations), solve_s, str(out.status))
    x = x_fixed.copy()
    x[free] = np.asarray(out.x)
    z = np.asarray(out.z)
    eq, le, ge, _, _ = parts
    row_dual = np.zeros(m_rows)
    k = 0
    for rows, sign in ((eq, -1.0), (le, -1.0), (ge, 1.0)):
        row_dual[rows] += sign * z[k : k + len(rows)]
        k += len(rows)
    grad = model.cost + P @ x
    a = model.matrix()
    return Solution(
        status=status,
        objective=float(model.cost @ x + 0.5 * x @ (P @ x) + model.offset),
        x=x,
        row_dual=row_dual,
        col_dual=grad - a.T @ row_dual,
        row_activity=a @ x,
        iterations=int(out.iterations),
        solve_s=solve_s,
        message=str(out.status),
    )
