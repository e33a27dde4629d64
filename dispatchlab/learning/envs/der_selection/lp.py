"""Microgrid zoning and the reduced DRL-LP of seed003 (eqs. 24–31) over selected DERs.

Zoning: buses are clustered by electrical distance (|Z| of the path between them, the
distance of seed003 eq. 13) with scikit-learn's agglomerative (Ward) clustering restricted to
the network's adjacency, so every zone is a connected piece of the feeder.
seed003 grows its zones with a learned MCTS search; that is a method, not the environment.

The LP is the one of ``solve(case, "dlmp")``, built by the same function
(:func:`~dispatchlab.solvers.problems.dlmp_lp.dlmp_lp`, a LinearModel solved by HiGHS) over
only the selected DERs' columns, the others fixed at a base schedule (0 in the "dispatch"
market, the full LP's base schedule in the "balancing" market): substation p0 at λ0 plus
Σ c_k p_k, loss-aware balance, flow and voltage limits linearized at an operating point and
re-linearized at the LP's dispatch (``iterations``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, shortest_path

from dispatchlab.solvers.backends.highs import solve_highs
from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.problems.dlmp_lp import dlmp_lp, lp_outcome
from dispatchlab.solvers.problems.linearized import DLMPModel
from dispatchlab.solvers.status import Status


def electrical_distance(case) -> tuple[np.ndarray, csr_matrix]:
    """(bus × bus |Z| of the shortest impedance path in p.u., bus adjacency) of ``case``."""
    buses, br = case.buses, case.branches[case.branches["in_service"]]
    pos = pd.Series(np.arange(len(buses)), index=buses.index)
    f, t = pos[br["from_bus"]].to_numpy(), pos[br["to_bus"]].to_numpy()
    z = np.hypot(br["r_pu"].to_numpy(float), br["x_pu"].to_numpy(float))
    z = np.maximum(z, 1e-9)  # switches: zero impedance would drop the edge from the graph
    n = len(buses)
    graph = csr_matrix((np.r_[z, z], (np.r_[f, t], np.r_[t, f])), shape=(n, n))
    adjacency = csr_matrix((np.ones(2 * len(f)), (np.r_[f, t], np.r_[t, f])), shape=(n, n))
    return shortest_path(graph, directed=False), adjacency


def _merge_small(labels: np.ndarray, dist: np.ndarray, adjacency, min_size: int) -> np.ndarray:
    """Merge every zone smaller than ``min_size`` buses into the adjacent zone closest to it
    (mean electrical distance): a bus behind a high-impedance transformer (bus 610 of IEEE
    123) is otherwise a zone of its own."""
    labels = labels.copy()
    while True:
        sizes = np.bincount(labels)
        small = [z for z in np.flatnonzero(sizes) if sizes[z] < min_size]
        if not small:
            return np.unique(labels, return_inverse=True)[1]
        z = min(small, key=lambda q: sizes[q])
        members = labels == z
        touching = np.unique(labels[adjacency[members].indices]) if members.any() else []
        others = [q for q in touching if q != z]
        best = min(others, key=lambda q: dist[np.ix_(members, labels == q)].mean())
        labels[members] = best


def microgrid_zones(case, n_zones: int, min_size: int = 1) -> np.ndarray:
    """Zone label (0 … n_zones−1) of every bus: connected clusters by electrical distance.

    Ward clustering of the buses' electrical-distance profiles (each bus described by its
    distance to all others), constrained to the network adjacency so that zones are connected;
    zones under ``min_size`` buses are merged into a neighbour, and the number of clusters is
    raised until ``n_zones`` remain.
    """
    from sklearn.cluster import AgglomerativeClustering

    dist, adjacency = electrical_distance(case)
    if not np.all(np.isfinite(dist)):
        raise ValueError(f"case '{case.name}' is not connected: zoning needs one network")
    for n in range(n_zones, len(dist) + 1):
        labels = AgglomerativeClustering(
            n_clusters=n, linkage="ward", connectivity=adjacency
        ).fit_predict(dist)
        labels = _merge_small(labels, dist, adjacency, min_size)
        if labels.max() + 1 >= n_zones:
            break
    if labels.max() + 1 != n_zones:
        raise ValueError(f"cannot cut '{case.name}' into {n_zones} zones of ≥ {min_size} buses")
    for z in range(n_zones):  # connectivity-constrained clusters are connected; check anyway
        members = np.flatnonzero(labels == z)
        if connected_components(adjacency[members][:, members], directed=False)[0] != 1:
            raise RuntimeError(f"zone {z} is not connected")
    # number zones by their closest bus to the source, so labels read along the feeder
    order = np.argsort([dist[0, labels == z].min() for z in range(n_zones)])
    return np.argsort(order)[labels]


@dataclass
class LPOutcome:
    """The reduced LP's answer for one selection."""

    status: Status
    objective: float  # $/h
    p0_mw: float
    der_p_mw: np.ndarray  # over the selected DERs (same order as the selection)
    x_mw: np.ndarray  # net bus injections at the dispatch
    n_vars: int
    n_cons: int


def selection_lp(
    model: DLMPModel, sel: np.ndarray, lin: dict, base_mw: np.ndarray | None = None
) -> LinearModel:
    """The reduced LP over DER positions ``sel`` at linearization ``lin``, the other DERs at
    ``base_mw`` (None: 0), unsolved: :func:`~dispatchlab.solvers.problems.dlmp_lp.dlmp_lp`,
    the builder of ``solve(case, "dlmp")`` (the der-selection safety layer certifies
    selections on it with all DERs as columns)."""
    return dlmp_lp(model, lin, np.asarray(sel, dtype=int), base_mw=base_mw)


def solve_selection(
    model: DLMPModel,
    sel: np.ndarray,
    iterations: int = 2,
    lin0: dict | None = None,
    base_mw: np.ndarray | None = None,
) -> LPOutcome:
    """The reduced LP over DER positions ``sel`` (into ``model.der_ids``), the others at
    ``base_mw`` (None: 0), re-linearized ``iterations`` times as ``solve(case, "dlmp",
    iterations=…)`` does; ``lin0`` = the first linearization, ``model.linearize(model.x_b)``
    (pass it to reuse it)."""
    sel = np.asarray(sel, dtype=int)
    lin = model.linearize(model.x_b) if lin0 is None else lin0
    out = None
    for _ in range(iterations):
        m = dlmp_lp(model, lin, sel, base_mw=base_mw)
        sol = solve_highs(m)
        if sol.status is not Status.OPTIMAL:
            nan, x = np.full(len(sel), np.nan), np.full(model.net.n, np.nan)
            return LPOutcome(sol.status, np.nan, np.nan, nan, x, m.n_cols, m.n_rows)
        res = lp_outcome(model, m, sol, lin, base_mw=base_mw)
        p = res["p_der"][sel]
        out = LPOutcome(sol.status, res["objective"], res["p0"], p, res["x"], m.n_cols, m.n_rows)
        lin = model.linearize(res["x"])
    return out


def network_check(model: DLMPModel, x_mw: np.ndarray) -> dict[str, float]:
    """Losses and limit violations of the linearized power flow at net injections ``x_mw``."""
    net = model.net
    delta, v = net.state(x_mw, model.q_inj)
    pf, qf = net.flows(delta, v)
    lim = model.flow_limits
    over = np.where(np.isfinite(lim), np.maximum(np.abs(pf) - lim, 0.0), 0.0)
    vlo, vhi = model.v_limits
    return {
        "loss_mw": float(net.losses(pf, qf, v).sum()),
        "voltage_pu": float((np.maximum(v - vhi, 0) + np.maximum(vlo - v, 0)).sum()),
        "line_flow_mw": float(over.sum()),
    }
