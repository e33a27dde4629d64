"""The DLMP LP of seed003 (eqs. 24–31) as a :class:`LinearModel` solved by HiGHS.

One builder serves the full LP of ``solve(case, "dlmp")``, the reduced LP of the
``der-selection`` environment and the DRL-LP of ``solve(case, "drl_lp")``, so that the full and
the reduced LP are timed on one path (issue 15: the full LP ran through cvxpy, ~0.1 s of
canonicalization per LP, the reduced one through HiGHS directly).

The DER columns are *moves from a base schedule* ``b`` (MW per DER; the DERs' lower bounds
unless given): ``der_p_mw`` = Δ⁺ ∈ [0, p_max − b] at cost c_k and, when a base schedule is
given, ``der_down_mw`` = Δ⁻ ∈ [0, b − p_min] at cost −c_k, so p_k = b_k + Δ⁺_k − Δ⁻_k. With
``b`` = p_min (the default) ``der_p_mw`` is the output itself. DERs outside ``cols`` have no
column and stay at ``b``; every move sits at its lower bound 0 when it is left out, which is
what the reduced-cost certificate (:mod:`dispatchlab.solvers.certificate`) can certify.

    min λ0 p0 + Σ c_k p_k                                                        (eq. 24)
    s.t. p0 + Σ_k p_k − LFᵀ(x − x_b) = D + L_b           "balance"   dual λ       (eq. 25)
         −F̄ ≤ F_b + S_F (x − x_b) ≤ F̄                     "flow"      dual −μ      (eq. 28)
         V_min ≤ V_b + S_V (x − x_b) ≤ V_max               "voltage"   dual −η      (eq. 30)
         p_min ≤ p ≤ p_max, p0_min ≤ p0 ≤ p0_max                                   (eq. 27)

with x = A_der p − d the net bus injections and (x_b, F_b, V_b, L_b, LF) the linearization.
Row duals follow :class:`~dispatchlab.solvers.status.Solution`'s d(objective)/d(bound), so the
balance dual is the energy price λ and the limit duals are −μ, −η in the sign of
:meth:`DLMPModel.components`. Eqs. 26 (θ_ref = 0) and 29 (loss bounds) hold by construction
(the reference bus is eliminated; losses are priced, not bounded); eq. 31's coupling is the
tie-line flow limit of eq. 28 (docs/env-der-selection.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dispatchlab.solvers.backends.highs import solve_highs
from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.status import Solution, Status

if TYPE_CHECKING:
    from dispatchlab.solvers.problems.linearized import DLMPModel


def dlmp_lp(
    model: DLMPModel,
    lin: dict,
    cols: np.ndarray | None = None,
    *,
    base_mw: np.ndarray | None = None,
    demand: np.ndarray | None = None,
) -> LinearModel:
    """The DLMP LP at linearization ``lin`` over DER positions ``cols`` (None: all), the
    others fixed at ``base_mw`` (a value per DER; None: their lower bounds)."""
    n_der = len(model.der_ids)
    cols = np.arange(n_der) if cols is None else np.asarray(cols, dtype=int)
    lo, hi = model.der_lim
    base = lo.copy() if base_mw is None else np.asarray(base_mw, float)
    d = model.demand if demand is None else demand
    net = model.net
    bus = model.der_bus[cols]  # A_der is a bus-selection matrix: gather columns, no matmul
    shift = at_buses(model, base) - d - lin["x_b"]  # x − x_b with every move at 0
    m = LinearModel("dlmp-lp")
    m.offset = float(model.der_cost @ base)
    p0 = m.add_vars("substation_p_mw", [0], lb=model.p0_lim[0], ub=model.p0_lim[1], cost=model.lam0)
    ids = pd.Index(model.der_ids[cols], name="der_id")
    blocks = [m.add_vars("der_p_mw", ids, ub=hi[cols] - base[cols], cost=model.der_cost[cols])]
    if base_mw is not None:
        blocks.append(
            m.add_vars("der_down_mw", ids, ub=base[cols] - lo[cols], cost=-model.der_cost[cols])
        )
    sign = [1.0, -1.0][: len(blocks)]
    var_cols = np.r_[p0.positions, *(b.positions for b in blocks)]
    mon = np.flatnonzero(np.isfinite(model.flow_limits))
    vb = np.setdiff1d(np.arange(net.n), [net.ref])
    sf, sv = net.flow_sensitivity[0][mon], net.voltage_sensitivity[vb]
    bal = 1.0 - lin["LF"][bus]
    rhs = float(d.sum() + lin["L"] + lin["LF"] @ shift - base.sum())
    rows = [
        ("balance", [0], np.r_[1.0, *(s * bal for s in sign)][None, :], [rhs], [rhs]),
        ("flow", model.net.branch_ids[mon], sf[:, bus], None, None),
        ("voltage", model.net.bus_ids[vb], sv[:, bus], None, None),
    ]
    value = {"flow": lin["F"][mon] + sf @ shift, "voltage": lin["V"][vb] + sv @ shift}
    limits = {
        "flow": (-model.flow_limits[mon], model.flow_limits[mon]),
        "voltage": (model.v_limits[0][vb], model.v_limits[1][vb]),
    }
    for name, index, coef, low, high in rows:
        if name != "balance":
            coef = np.hstack([np.zeros((len(coef), 1)), *(s * coef for s in sign)])
            low, high = limits[name][0] - value[name], limits[name][1] - value[name]
        r, c = np.nonzero(coef)
        m.add_cons(name, index, r, var_cols[c], coef[r, c], lb=low, ub=high)
    return m


def at_buses(model: DLMPModel, p_der: np.ndarray) -> np.ndarray:
    """A_der p: the DERs' MW summed per bus (a bincount: BLAS on the dense A_der is slower)."""
    return np.bincount(model.der_bus, weights=p_der, minlength=model.net.n)


def der_columns(m: LinearModel, positions: np.ndarray, model: DLMPModel) -> np.ndarray:
    """The columns of ``m`` (from :func:`dlmp_lp` over all DERs) that move the DERs at
    ``positions`` of ``model.der_ids``: Δ⁺ and, where present, Δ⁻."""
    ids = model.der_ids[np.asarray(positions, dtype=int)]
    out = [m.var_blocks["der_p_mw"].at(ids)]
    if "der_down_mw" in m.var_blocks:
        out.append(m.var_blocks["der_down_mw"].at(ids))
    return np.concatenate(out)


def lp_outcome(
    model: DLMPModel,
    m: LinearModel,
    sol: Solution,
    lin: dict,
    *,
    base_mw: np.ndarray | None = None,
    demand: np.ndarray | None = None,
) -> dict:
    """The dict of :meth:`DLMPModel.solve` (``p_der`` over all DERs, duals λ, μ, η) from a
    solution of ``m`` = :func:`dlmp_lp`."""
    if sol.status is not Status.OPTIMAL:
        return {"status": sol.status.value}
    lo = model.der_lim[0]
    p = (lo if base_mw is None else np.asarray(base_mw, float)).copy()
    up = m.var_blocks["der_p_mw"]
    pos = pd.Index(model.der_ids).get_indexer(up.index)
    p[pos] += sol.x[up.positions]
    if "der_down_mw" in m.var_blocks:
        p[pos] -= sol.x[m.var_blocks["der_down_mw"].positions]
    d = model.demand if demand is None else demand
    mu, eta = np.zeros(len(model.flow_limits)), np.zeros(model.net.n)
    flow, volt = m.con_blocks["flow"], m.con_blocks["voltage"]
    mu[np.isfinite(model.flow_limits)] = -sol.row_dual[flow.positions]
    eta[np.setdiff1d(np.arange(model.net.n), [model.net.ref])] = -sol.row_dual[volt.positions]
    return {
        "status": "optimal",
        "objective": float(sol.objective),
        "p0": float(sol.x[0]),
        "p_der": p,
        "x": at_buses(model, p) - d,
        "lam": float(sol.row_dual[m.con_blocks["balance"].positions[0]]),
        "mu": mu,
        "eta": eta,
        "lin": lin,
    }


def solve_lp(
    model: DLMPModel,
    lin: dict,
    cols: np.ndarray | None = None,
    *,
    base_mw: np.ndarray | None = None,
    demand: np.ndarray | None = None,
) -> dict:
    """Build :func:`dlmp_lp` and solve it with HiGHS; :func:`lp_outcome`'s dict plus the
    LP's size (``n_cols``, ``n_rows``)."""
    m = dlmp_lp(model, lin, cols, base_mw=base_mw, demand=demand)
    out = lp_outcome(model, m, solve_highs(m), lin, base_mw=base_mw, demand=demand)
    out.update(n_cols=m.n_cols, n_rows=m.n_rows)
    return out


def solve_cvxpy(
    model: DLMPModel, lam0: float, p0_lim: tuple[float, float], lin: dict, demand=None
) -> dict:
    """The DLMP LP written in cvxpy (HiGHS underneath), the formulation as it was first
    written: ``DLMPModel.solve(..., backend="cvxpy")``, kept to cross-check :func:`dlmp_lp`."""
    import cvxpy as cp

    net, d = model.net, model.demand if demand is None else demand
    sf, sv = net.flow_sensitivity[0], net.voltage_sensitivity
    p0, pk = cp.Variable(), cp.Variable(len(model.der_ids))
    dx = model.a_der @ pk - d - lin["x_b"]
    mon = np.flatnonzero(np.isfinite(model.flow_limits))
    vb = np.setdiff1d(np.arange(net.n), [net.ref])
    flow = lin["F"][mon] + sf[mon] @ dx
    volt = lin["V"][vb] + sv[vb] @ dx
    cons = [
        cp.sum(d) + lin["L"] + lin["LF"] @ dx - p0 - cp.sum(pk) == 0,
        flow <= model.flow_limits[mon],
        -flow <= model.flow_limits[mon],
        volt <= model.v_limits[1][vb],
        -volt <= -model.v_limits[0][vb],
        pk >= model.der_lim[0],
        pk <= model.der_lim[1],
        p0 >= p0_lim[0],
        p0 <= p0_lim[1],
    ]
    prob = cp.Problem(cp.Minimize(lam0 * p0 + model.der_cost @ pk), cons)
    prob.solve(solver="HIGHS", output_flag=False)
    if prob.status not in ("optimal", "optimal_inaccurate"):
        return {"status": prob.status}
    mu = np.zeros(len(model.flow_limits))
    mu[mon] = cons[1].dual_value - cons[2].dual_value
    eta = np.zeros(net.n)
    eta[vb] = cons[3].dual_value - cons[4].dual_value
    x = lin["x_b"] + np.asarray(dx.value)
    return {
        "status": prob.status,
        "objective": prob.value,
        "p0": float(p0.value),
        "p_der": np.asarray(pk.value),
        "x": x,
        "lam": float(cons[0].dual_value),
        "mu": mu,
        "eta": eta,
        "lin": lin,
    }
