"""Copper-plate economic dispatch solved exactly by merit order / λ-iteration (issue 20, point 7).

With one balance row Σ a_j x_j = D (a_j = ±1) and box bounds lb ≤ x ≤ ub, the LP / separable
convex QP  min Σ c_j x_j + ½ q_j x_j²  has the KKT solution

    x_j(λ) = clip((a_j λ − c_j) / q_j, lb_j, ub_j)   (q_j > 0)
    x_j(λ) = ub_j if c_j < λ,  lb_j if c_j > λ,  anything in between if c_j = λ   (q_j = 0)

for the one price λ at which Σ a_j x_j(λ) = D (Wood & Wollenberg, *Power Generation, Operation
and Control*, §3.3: the λ-iteration). Σ x(λ) is piecewise linear and nondecreasing with jumps at
linear costs and kinks at c + q·lb, c + q·ub; sorting those breakpoints once and taking
cumulative sums finds λ exactly in O(n log n) — no iteration, no tolerance. This is the path
``solve(case, "ed")`` takes when the model has that structure (no network, reserves, storage,
piecewise-linear costs or losses; :func:`merit_structure` says why not otherwise).

Column j of a balance row with a_j = −1 (storage charge) is the column y = −x with bounds
[−ub, −lb] and cost −c, so everything below works on +1 columns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from dispatchlab.solvers.status import Solution, Status


@dataclass(frozen=True)
class MeritDispatch:
    """Outcome of :func:`merit_order_dispatch`: status, dispatch, price (d cost / d demand)."""

    status: Status
    x: np.ndarray
    price: float
    objective: float


def merit_order_dispatch(
    lb: np.ndarray, ub: np.ndarray, c: np.ndarray, q: np.ndarray | None, demand: float
) -> MeritDispatch:
    """min Σ c·x + ½ q·x² s.t. Σ x = demand, lb ≤ x ≤ ub (finite bounds, q ≥ 0), exactly.

    Infeasible (Σ lb > demand or Σ ub < demand beyond 1e-9 relative) → ``Status.INFEASIBLE``.
    Where the price is not unique (demand exactly at a jump's edge, at Σ lb or Σ ub), the
    lowest price consistent with the dispatch is returned; ties between linear units at the
    price share the marginal MW in proportion to their range."""
    lb, ub, c = (np.asarray(v, float) for v in (lb, ub, c))
    q = np.zeros_like(c) if q is None else np.asarray(q, float)
    quad = q > 0.0
    values, dslope, jump = _events(lb, ub, c, q, quad)
    order = np.argsort(values)  # ties may come in any order: they share one price
    v, dslope, jump = values[order], dslope[order], jump[order]
    total_lb = lb.sum()
    # the total supply S(λ) just left (minus) and right (plus) of each breakpoint
    slope = np.maximum(np.cumsum(dslope), 0.0)  # after each event; rounding may leave −1e-18
    before = np.concatenate(([0.0], slope[:-1]))
    gaps = np.diff(v, prepend=v[:1]) if v.size else v
    s_minus = total_lb + np.cumsum(before * gaps) + np.cumsum(jump) - jump
    s_plus = s_minus + jump
    total_ub = s_plus[-1] if v.size else total_lb
    tol = 1e-9 * max(1.0, abs(demand), float(np.abs(ub).sum()))
    if demand < total_lb - tol or demand > total_ub + tol or not v.size:
        feasible = v.size == 0 and abs(demand - total_lb) <= tol
        status = Status.OPTIMAL if feasible else Status.INFEASIBLE
        return MeritDispatch(status, lb.copy(), np.nan, _cost(c, q, lb))
    price = _price(v, before, s_minus, s_plus, min(max(demand, total_lb), total_ub))
    x = _dispatch_at(price, lb, ub, c, q, quad, demand)
    return MeritDispatch(Status.OPTIMAL, x, price, _cost(c, q, x))


def _cost(c, q, x) -> float:
    # elementwise sums, not ``c @ x``: BLAS's ddot took 15–25 ms instead of 10 µs right after
    # a HiGHS run on a loaded 2-core machine (thread contention), numpy's own sum does not
    return float((x * (c + 0.5 * q * x)).sum())


def _events(lb, ub, c, q, quad):
    """Breakpoints of S(λ): (value, change of slope, jump) for every unit's kink or step."""
    cq, qq, lin = c[quad], q[quad], ~quad
    inv = 1.0 / qq
    values = np.concatenate((cq + qq * lb[quad], cq + qq * ub[quad], c[lin]))
    dslope = np.concatenate((inv, -inv, np.zeros(int(lin.sum()))))
    jump = np.concatenate((np.zeros(2 * cq.size), ub[lin] - lb[lin]))
    return values, dslope, jump


def _price(v, before, s_minus, s_plus, demand: float) -> float:
    """λ with S(λ−) ≤ demand ≤ S(λ+), interpolating on a sloped (quadratic) stretch."""
    k = int(np.searchsorted(s_plus, demand, side="left"))
    if k >= v.size:  # demand = Σ ub within rounding: every unit at its maximum
        return float(v[-1])
    if s_minus[k] <= demand or k == 0:
        return float(v[k])
    return float(v[k - 1] + (demand - s_plus[k - 1]) / before[k])


def _dispatch_at(price, lb, ub, c, q, quad, demand) -> np.ndarray:
    x = np.where(c < price, ub, lb)
    if quad.any():
        x[quad] = np.clip((price - c[quad]) / q[quad], lb[quad], ub[quad])
    tie = ~quad & (c == price)
    if tie.any():  # the marginal linear units share what the others leave
        x[tie] = lb[tie]
        room = (ub - lb)[tie]
        share = (demand - x.sum()) / room.sum() if room.sum() > 0 else 0.0
        x[tie] = lb[tie] + np.clip(share, 0.0, 1.0) * room
    return x


# ------------------------------------------------------------------- on a LinearModel
def merit_structure(model) -> str | None:
    """``None`` when the model is one balance row over box-bounded ±1 columns with convex
    separable costs (the merit order is then exact); otherwise why it is not."""
    if model.n_rows != 1:
        return f"{model.n_rows} constraint rows (needs exactly one balance row)"
    lo, hi = model.row_lb[0], model.row_ub[0]
    if lo != hi or not np.isfinite(lo):
        return "the row is not an equality with a finite right-hand side"
    a = model.matrix().tocsc()
    a.sum_duplicates()
    if a.nnz != model.n_cols or np.diff(a.indptr).min(initial=1) != 1:
        return "a column is missing from the balance row"
    if not np.all(np.abs(a.data) == 1.0):
        return "a balance coefficient other than ±1"
    lb, ub = model.lb, model.ub
    if not (np.isfinite(lb).all() and np.isfinite(ub).all()):
        return "a column with an infinite bound"
    if (lb > ub).any():
        return "a column with its lower bound above its upper bound"
    _, q = model.quadratic()
    if (q < 0).any():
        return "a non-convex quadratic cost"
    return None


def solve_merit(model) -> Solution:
    """Solve a model that passed :func:`merit_structure`; duals as HiGHS reports them
    (row dual = λ = d objective / d demand, column dual = reduced cost c + q·x − a·λ)."""
    a = model.matrix().tocsc()
    a.sum_duplicates()
    q = np.zeros(model.n_cols)
    cols, qd = model.quadratic()
    q[cols] = qd
    lp = (model.cost, model.lb, model.ub, q, a.data)
    return solve_merit_arrays(*lp, float(model.row_lb[0]), model.offset)


def solve_merit_arrays(
    cost: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    q: np.ndarray,
    sign: np.ndarray,
    demand: float,
    offset: float = 0.0,
) -> Solution:
    """:func:`merit_order_dispatch` for Σ sign·x = demand (sign = ±1) as a :class:`Solution`."""
    t0 = time.perf_counter()
    # a = −1 columns as y = −x (see the module docstring)
    ylb, yub = np.where(sign > 0, lb, -ub), np.where(sign > 0, ub, -lb)
    res = merit_order_dispatch(ylb, yub, sign * cost, q, demand)
    if res.status is not Status.OPTIMAL:
        return Solution.failed(
            res.status, len(cost), 1, 0, time.perf_counter() - t0, "merit order: infeasible"
        )
    x = sign * res.x
    return Solution(
        status=Status.OPTIMAL,
        objective=res.objective + offset,
        x=x,
        row_dual=np.array([res.price]),
        col_dual=cost + q * x - sign * res.price,
        row_activity=np.array([float((sign * x).sum())]),
        iterations=0,
        solve_s=time.perf_counter() - t0,
        message="merit order",
    )


__all__ = [
    "MeritDispatch",
    "merit_order_dispatch",
    "merit_structure",
    "solve_merit",
    "solve_merit_arrays",
]
