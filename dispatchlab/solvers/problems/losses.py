"""Linear (loss-factor) approximation of network losses for the PTDF formulation.

The DC power flow is lossless; marginal-loss markets (Litvinov, Zheng, Rosenwald and
Sotkiewicz, "Marginal loss modeling in LMP calculation", IEEE Trans. Power Systems 19(2),
2004) add losses linearised around a base point P⁰ (here: the lossless DC-OPF solution of the
same problem, per period). With net bus injections P (MW, demand subtracted), flows
f = PTDF·P + f_shift (MW, slack at the reference bus) and series resistances r (p.u.)::

    P_loss(P)  = Σ_l r_l f_l² / base                                  (DC loss estimate, MW)
    LF_i       = ∂P_loss/∂P_i = Σ_l 2 r_l f⁰_l PTDF_l,i / base          (loss factor, LF_ref = 0)
    P_loss     ≈ L0 + Σ_i LF_i P_i,      L0 = P_loss(P⁰) − Σ_i LF_i P⁰_i

The model gets a variable ``system_loss_mw`` per period, the balance and tangent rows::

    power_balance:       Σ injections − loss = Σ demand                          (dual λ)
    system_loss_cut_k:   loss − Σ_i LF_k,i·injection_i ≥ L0_k − Σ_i LF_k,i·demand_i  (μ_k ≥ 0)

Cut 0 is the linearisation at the base point. One tangent alone is exploited by the optimiser
when the dispatch moves far from P⁰ (case57: −70 MW of "losses"); since P_loss is convex
every tangent under-estimates it, so tangents at the new dispatch are added (Kelley's cutting
planes, with a persistent HiGHS model) until the modelled losses are within ``tol`` of
P_loss of the dispatch. The result is the DC-quadratic loss model, linear in the LP. Losses
are withdrawn at the reference bus (its PTDF column is zero: the loss distribution factors of
Litvinov et al. all at the slack). Differentiating the optimal objective by the demand at bus i
gives the LMP and its components (Σ_k μ_k = λ at the optimum, the loss being free)::

    LMP_i = λ  −  Σ_k μ_k·LF_k,i  +  Σ_l PTDF_l,i·y_l   =  energy + loss + congestion

so ``lmp_loss_usd_per_mwh`` = −λ·LF_i with one binding tangent: negative where more injection
raises losses. Limitation: with a negative energy price the LP would rather "burn" energy in
losses above the tangents (the usual caveat of relaxed loss models).
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from dispatchlab.solvers.data import DispatchData
from dispatchlab.solvers.model import INF, LinearModel
from dispatchlab.solvers.network import DCNetwork
from dispatchlab.solvers.problems.dispatch import (
    DispatchOptions,
    add_ptdf_flow_limits,
    bus_demand_mw,
    injection_terms,
)
from dispatchlab.solvers.status import Solution

CUT_PREFIX = "system_loss_cut_"
LOSS_ROUNDS = 30  #: at most this many tangents per solve (Kelley's cutting planes)
LOSS_TOL = 1e-3  #: stop when modelled losses are within 0.1 % (or 0.001 MW) of P_loss


def dc_losses_mw(net: DCNetwork, p_mw: np.ndarray) -> np.ndarray:
    """Σ_l r_l f_l² / base (MW) for net injections ``p_mw`` (bus or bus × T)."""
    f = net.base_mva * net.flows_pu(np.asarray(p_mw, float) / net.base_mva)
    return (_resistance(net)[:, None] * np.atleast_2d(f.T).T ** 2).sum(axis=0) / net.base_mva


def loss_factors(net: DCNetwork, p0_mw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loss factors LF (bus × T) and offsets L0 (T) linearised at injections ``p0_mw``.

    LF = PTDFᵀ (2 r f⁰ / base) is one sparse solve with the cached B-matrix factors
    (PTDFᵀ = B_r⁻¹ Bf_rᵀ), so the dense PTDF is never formed.
    """
    p0 = np.atleast_2d(np.asarray(p0_mw, float).T).T  # (bus, T)
    f0 = net.base_mva * net.flows_pu(p0 / net.base_mva)  # (branch, T)
    w = 2.0 * _resistance(net)[:, None] * f0 / net.base_mva
    lf = net.solve_angles(net.bf.T @ w)
    l0 = dc_losses_mw(net, p0) - (lf * p0).sum(axis=0)
    return lf, l0


def lossless_injections_mw(
    d: DispatchData, options: DispatchOptions, net: DCNetwork, rate: np.ndarray
) -> np.ndarray:
    """Base point: net bus injections (bus × T) of the lossless problem, solved with HiGHS;
    zero injections (flows from phase shifters only) if it has no optimal solution."""
    from dispatchlab.solvers.backends.highs import solve_highs
    from dispatchlab.solvers.problems.dispatch import build_dispatch
    from dispatchlab.solvers.problems.extract import injections_mw

    lossless = build_dispatch(d, replace(options, losses=False), net, rate)
    sol = solve_highs(lossless)
    if not np.isfinite(sol.objective):
        warnings.warn(
            f"lossless base point of '{d.case_name}' is {sol.status}; linearising "
            "losses at zero injections instead",
            RuntimeWarning,
            stacklevel=2,
        )
        return np.zeros((net.n_bus, d.T))
    return injections_mw(lossless, sol, d)


def add_ptdf_network_with_losses(
    m: LinearModel,
    d: DispatchData,
    options: DispatchOptions,
    net: DCNetwork,
    limit: np.ndarray,
    rate: np.ndarray,
    base_mw: np.ndarray | None = None,
    rounds: int = LOSS_ROUNDS,
    tol: float = LOSS_TOL,
) -> None:
    """The PTDF network of :func:`~dispatchlab.solvers.problems.dispatch.add_ptdf_network`
    with losses; ``base_mw`` (bus × T) overrides the lossless base point, ``rounds`` = 1 keeps
    the single linearisation at it."""
    if base_mw is None:
        base_mw = lossless_injections_mw(d, options, net, rate)
    add_lossy_balance(m, d)
    add_loss_cut(m, d, *loss_factors(net, base_mw))
    lines = np.flatnonzero(np.isfinite(limit))
    if len(lines):
        add_ptdf_flow_limits(m, d, net, lines, limit[lines], name="branch_flow_limit")
    if options.angle_limits:
        from dispatchlab.solvers.problems.angle_rows import add_angle_limits

        add_angle_limits(m, d, net, limit, "ptdf")
    if rounds > 1:
        refine_loss_cuts(m, d, net, rounds - 1, tol)


def add_lossy_balance(m: LinearModel, d: DispatchData) -> None:
    """``system_loss_mw`` (one per period) and Σ injections − loss = Σ demand."""
    T = d.T
    loss = m.add_vars("system_loss_mw", d.times, lb=-INF, ub=INF)
    _, period, cols, sign = injection_terms(m, d)
    rhs = bus_demand_mw(d).sum(axis=1)
    m.add_cons(
        "power_balance",
        d.times,
        np.concatenate([period, np.arange(T)]),
        np.concatenate([cols, loss.positions]),
        np.concatenate([sign, -np.ones(T)]),
        lb=rhs,
        ub=rhs,
    )


def add_loss_cut(m: LinearModel, d: DispatchData, lf: np.ndarray, l0: np.ndarray) -> str:
    """loss_t ≥ L0_t + Σ_i LF_i,t·(injection_i,t − demand_i,t) as block ``system_loss_cut_k``;
    the loss factors are kept in ``m.loss_factors`` (block name -> bus × T) for the LMPs."""
    T = d.T
    if not hasattr(m, "loss_factors"):
        m.loss_factors = {}
    cuts = m.loss_factors
    name = f"{CUT_PREFIX}{len(cuts)}"
    loss = m.var_blocks["system_loss_mw"]
    bus, period, cols, sign = injection_terms(m, d)
    coef = -lf[bus, period] * sign
    keep = coef != 0.0
    rhs = l0 - (lf * bus_demand_mw(d).T).sum(axis=0)
    m.add_cons(
        name,
        d.times,
        np.concatenate([period[keep], np.arange(T)]),
        np.concatenate([cols[keep], loss.positions]),
        np.concatenate([coef[keep], np.ones(T)]),
        lb=rhs,
    )
    cuts[name] = lf
    return name


def refine_loss_cuts(
    m: LinearModel, d: DispatchData, net: DCNetwork, rounds: int, tol: float
) -> int:
    """Add tangents at the dispatch until modelled losses are within ``tol`` (relative, or
    ``tol`` MW) of the DC losses of the dispatch; returns the number of cuts added."""
    from dispatchlab.solvers.backends.highs import HighsModel
    from dispatchlab.solvers.problems.extract import injections_mw

    hm = HighsModel(m)
    for k in range(rounds):
        sol = hm.solve()
        if not np.isfinite(sol.objective):
            return k
        p = injections_mw(m, sol, d)
        gap = dc_losses_mw(net, p) - modelled_losses_mw(m, sol)
        if np.all(gap <= tol * np.maximum(dc_losses_mw(net, p), 1.0)):
            return k
        add_loss_cut(m, d, *loss_factors(net, p))
        hm.add_new_rows()
    return rounds


def loss_lmp_component(m: LinearModel, sol: Solution, d: DispatchData) -> np.ndarray:
    """−Σ_k μ_k·LF_k,i (bus × T, $/MWh): the loss component of the LMPs; zeros without."""
    out = np.zeros((len(d.bus_ids), d.T))
    for name, lf in getattr(m, "loss_factors", {}).items():
        b = m.con_blocks[name]
        mu = sol.row_dual[b.start : b.start + b.size] / d.dt_h
        out -= lf * mu[None, :]
    return out


def modelled_losses_mw(m: LinearModel, sol: Solution) -> np.ndarray:
    """The linearised losses of a solution, per period (MW)."""
    b = m.var_blocks["system_loss_mw"]
    return sol.x[b.positions]


def _resistance(net: DCNetwork) -> np.ndarray:
    if net.r is None:
        raise ValueError("the DC network has no branch resistances (build it with dc_network)")
    return net.r
