"""Solve a cvxpy conic problem with Clarabel block by block (issue 20, point 6).

Two costs made DistFlow on ieee123 × 24 periods slow (docs/benchmarks/distflow.md):

* **compilation**: cvxpy's DPP path builds a parameter tensor (a sparse matrix product over
  every entry of every Parameter: 3 096 load entries here) — 6–10 s, whichever canonicalisation
  backend. Compiling with the Parameters' current values as constants (``ignore_dpp=True``)
  takes ~0.1 s, so re-compiling at every solve is cheaper than the DPP re-use it replaces;
* **the interior point**: the horizon's periods are independent unless something couples them
  (DER ramps, seed001's fluctuation term). One Clarabel run on the 24-period problem needed
  41 iterations and 1.4 s (and ended *AlmostSolved*); the 24 periods alone need 19–21 each,
  0.5 s in all.

So :func:`solve_clarabel_blocks` takes cvxpy's standard conic form (P, q, A, b, cones), splits
it into the connected components of its variables (two columns are linked when they share a
row, a second-order cone or a P entry), solves each with Clarabel and hands the assembled x,
s, z back to cvxpy (``Problem.unpack_results``), so variable values, duals, ``value`` and
``status`` read as after ``problem.solve(solver="CLARABEL")``. The optimum is the same problem's;
when nothing decouples, it is one Clarabel run on the whole problem.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import clarabel
import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

#: worst first: the status reported for the whole problem is the worst of its blocks
_SEVERITY = ("Solved", "AlmostSolved")


def solve_clarabel_blocks(problem: cp.Problem, **settings) -> str:
    """Solve ``problem`` (no Parameters left unset) as independent Clarabel blocks; returns
    cvxpy's status. ``settings``: Clarabel ``DefaultSettings`` fields."""
    t0 = time.perf_counter()
    data, chain, inverse = problem.get_problem_data(cp.CLARABEL, ignore_dpp=True)
    compile_s = time.perf_counter() - t0
    A, b, q = sp.csr_matrix(data["A"]), data["b"], data["c"]
    n = q.size
    P = sp.triu(sp.csc_matrix(data["P"])).tocsr() if "P" in data else sp.csr_matrix((n, n))
    dims = data["dims"]
    if dims.psd or dims.exp or dims.p3d:
        raise ValueError("solve_clarabel_blocks handles zero, nonnegative and SOC cones only")
    group = _row_groups(A.shape[0], dims)
    labels = _components(A, P, group)
    x, s, z = np.zeros(n), b.astype(float).copy(), np.zeros(A.shape[0])
    statuses, obj, iters, solve_s = [], 0.0, 0, 0.0
    row_label = _row_labels(A, labels, group)
    for k in range(labels.max(initial=-1) + 1):
        cols, rows = np.flatnonzero(labels == k), np.flatnonzero(row_label == k)
        sol = _solve_block(P, q, A, b, (cols, rows, group, dims), settings)
        x[cols], s[rows], z[rows] = sol.x, sol.s, sol.z
        statuses.append(str(sol.status))
        obj += sol.obj_val
        iters = max(iters, sol.iterations)
        solve_s += sol.solve_time
    status = _worst(statuses)
    raw = SimpleNamespace(x=x, s=s, z=z, status=status, obj_val=obj, iterations=iters)
    raw.solve_time = solve_s
    for inv in inverse:  # get_problem_data leaves solver_options unset; invert() reads it
        if getattr(inv, "solver_options", {}) is None:
            inv.solver_options = {}
    problem.unpack_results(raw, chain, inverse)
    problem._compilation_time = compile_s  # read back as problem.compilation_time
    problem.n_blocks = int(labels.max(initial=-1) + 1)
    return problem.status


def _row_groups(m: int, dims) -> np.ndarray:
    """Row → group id: each zero / nonnegative row alone, the rows of one SOC together."""
    group = np.arange(m)
    start = dims.zero + dims.nonneg
    for size in dims.soc:
        group[start : start + size] = start
        start += size
    return group


def _components(A: sp.csr_matrix, P: sp.csc_matrix, group: np.ndarray) -> np.ndarray:
    """Connected components of the columns (linked through row groups and P)."""
    n = A.shape[1]
    coo = A.tocoo()
    # bipartite graph: columns 0…n-1, row groups n…n+m-1
    rows = np.concatenate([coo.col, group[coo.row] + n])
    cols = np.concatenate([group[coo.row] + n, coo.col])
    pc = P.tocoo()
    rows, cols = np.concatenate([rows, pc.row]), np.concatenate([cols, pc.col])
    size = n + A.shape[0]
    graph = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    col_labels = labels[:n]
    _, dense = np.unique(col_labels, return_inverse=True)  # number the column components 0…K-1
    return dense


def _row_labels(A: sp.csr_matrix, col_labels: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Component of each row (that of any column in its group; -1 for rows without columns)."""
    coo = A.tocoo()
    per_group = np.full(A.shape[0], -1)
    per_group[group[coo.row]] = col_labels[coo.col]
    return per_group[group]


def _solve_block(P, q, A, b, part, settings):
    cols, rows, group, dims = part
    zero = int((rows < dims.zero).sum())
    nonneg = int(((rows >= dims.zero) & (rows < dims.zero + dims.nonneg)).sum())
    soc_rows = rows[zero + nonneg :]
    cones = []
    if zero:
        cones.append(clarabel.ZeroConeT(zero))
    if nonneg:
        cones.append(clarabel.NonnegativeConeT(nonneg))
    if soc_rows.size:
        starts = np.flatnonzero(np.diff(group[soc_rows], prepend=-1) != 0)
        sizes = np.diff(np.append(starts, soc_rows.size))
        cones += [clarabel.SecondOrderConeT(int(d)) for d in sizes]
    opts = clarabel.DefaultSettings()
    opts.verbose = False
    for key, value in settings.items():
        setattr(opts, key, value)
    a = A[rows][:, cols].tocsc()
    p = P[cols][:, cols].tocsc()
    return clarabel.DefaultSolver(p, q[cols], a, b[rows], cones, opts).solve()


def _worst(statuses: list[str]) -> str:
    for status in statuses:
        if status not in _SEVERITY:
            return status
    return "AlmostSolved" if "AlmostSolved" in statuses else "Solved"


__all__ = ["solve_clarabel_blocks"]
