"""The polar AC-OPF as a CasADi NLP (vectorised SX expressions from the branch admittances).

Variables x = [θ (n), |V| (n), P_g (n_g), Q_g (n_g), y (n_pwl)], all per unit on S_base, where
the units g are the in-service gens and then the injecting DERs (:func:`dispatch_units`).
With d_k = θ_f − θ_t and Y_ff = G_ff + jB_ff etc., the branch flows are::

    P_f = G_ff V_f² + V_f V_t (G_ft cos d + B_ft sin d)
    Q_f = −B_ff V_f² + V_f V_t (G_ft sin d − B_ft cos d)
    P_t = G_tt V_t² + V_f V_t (G_tf cos d − B_tf sin d)
    Q_t = −B_tt V_t² + V_f V_t (−G_tf sin d − B_tf cos d)

and the problem is::

    min   Σ_g c2 (S_b P_g)² + c1 S_b P_g + c0 + q2 (S_b Q_g)² + q1 S_b Q_g + q0   (+ Σ y_g)
    s.t.  C_fᵀP_f + C_tᵀP_t + g_sh V² − C_g P_g = Re s_fix      (λ_P: LMP · S_b)
          C_fᵀQ_f + C_tᵀQ_t − b_sh V² − C_g Q_g = Im s_fix      (λ_Q)
          P_f² + Q_f² ≤ rate² (· V_f² for current limits), the same at the to end
          angmin ≤ θ_f − θ_t ≤ angmax                           (limits tighter than ±180°)
          P_g² + Q_g² ≤ s_max²                                  (DERs with an S limit)
          y_g ≥ a_gk + s_gk S_b P_g                              (pwl segments)
          z_g ≥ a_gk + s_gk S_b Q_g                              (pwl Q segments, + Σ z_g)
          V_min ≤ |V| ≤ V_max, P/Q limits, θ fixed at the REF buses (all, or one per island).
"""

from __future__ import annotations

from dataclasses import dataclass

import casadi as ca
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from dispatchlab.solvers.ac.network import ACNetwork
from dispatchlab.solvers.ac.opf_derivs import branch_nlp, sparse_dm


@dataclass
class OPFModel:
    """The NLP dict, its bounds and where each block sits in x and g."""

    nlp: dict
    lbx: np.ndarray
    ubx: np.ndarray
    lbg: np.ndarray
    ubg: np.ndarray
    n_bus: int
    n_gen: int
    rated: np.ndarray  # branch positions with a finite rating
    angle_limited: np.ndarray  # branch positions with angle-difference rows
    flows: ca.Function  # x -> (P_f, Q_f, P_t, Q_t) of every branch
    units: pd.DataFrame  # the dispatchable units: gens, then DERs (see dispatch_units)
    flow_limit: str = "apparent"  # or "current": |S| ≤ rate·|V|
    #: nlpsol options with the branch-assembled ``jac_g`` and ``hess_lag`` (see opf_derivs)
    derivatives: dict | None = None

    def split(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """θ, |V|, P, Q (of every unit) from x."""
        n, g = self.n_bus, self.n_gen
        return x[:n], x[n : 2 * n], x[2 * n : 2 * n + g], x[2 * n + g : 2 * n + 2 * g]


def branch_flows(net: ACNetwork, va, vm):
    """P_f, Q_f, P_t, Q_t (p.u.) as expressions of θ and |V| (see the module docstring)."""
    f, t = net.f.tolist(), net.t.tolist()
    vf, vt = vm[f], vm[t]
    d = va[f] - va[t]
    c, s, vv = ca.cos(d), ca.sin(d), vf * vt
    gff, bff, gft, bft = (
        ca.DM(net.yff.real),
        ca.DM(net.yff.imag),
        ca.DM(net.yft.real),
        ca.DM(net.yft.imag),
    )
    gtf, btf, gtt, btt = (
        ca.DM(net.ytf.real),
        ca.DM(net.ytf.imag),
        ca.DM(net.ytt.real),
        ca.DM(net.ytt.imag),
    )
    pf = gff * vf**2 + vv * (gft * c + bft * s)
    qf = -bff * vf**2 + vv * (gft * s - bft * c)
    pt = gtt * vt**2 + vv * (gtf * c - btf * s)
    qt = -btt * vt**2 + vv * (-gtf * s - btf * c)
    return pf, qf, pt, qt


def build_opf(
    net: ACNetwork,
    pwl: pd.DataFrame | None = None,
    ders: pd.DataFrame | None = None,
    flow_limit: str = "apparent",
    ref_angles: str = "all",
    derivatives: str = "branch",
) -> OPFModel:
    """The :class:`OPFModel` of ``net``; ``pwl`` holds breakpoints of pwl-cost gens, ``ders``
    the Case DER rows of ``net.der_ids`` (decisions beside the gens), ``flow_limit`` is
    ``"apparent"`` (|S| ≤ rate) or ``"current"`` (|S| ≤ rate·|V| at each end), ``ref_angles``
    ``"all"`` (every REF bus keeps its angle) or ``"first"`` (see :func:`fixed_angle_buses`);
    ``derivatives="branch"`` assembles J and ∇²L branch by branch (:mod:`.opf_derivs`, the
    default: 5–10× faster to build), ``"casadi"`` leaves them to CasADi's AD of the whole NLP."""
    if derivatives not in ("branch", "casadi"):
        raise ValueError(f"unknown derivatives '{derivatives}'; use 'branch' or 'casadi'")
    n, base = net.n_bus, net.base_mva
    units = dispatch_units(net, ders)
    ng = len(units)
    poly = (units["cost_model"] == "poly").to_numpy()
    pwl_gens = np.flatnonzero(~poly)
    x = ca.SX.sym("x", 2 * n + 2 * ng + len(pwl_gens))
    va, vm = x[:n], x[n : 2 * n]
    pg, qg = x[2 * n : 2 * n + ng], x[2 * n + ng : 2 * n + 2 * ng]
    if derivatives == "casadi":
        pf, qf, pt, qt = branch_flows(net, va, vm)
    else:  # g without the flows here; opf_derivs adds them (and the derivatives) per branch
        pf = qf = pt = qt = ca.SX(net.n_branch, 1)
    cf, ct = _dm(net.cf.T), _dm(net.ct.T)
    cg = _dm(sp.csr_matrix((np.ones(ng), (units["pos"].to_numpy(), np.arange(ng))), (n, ng)))
    v2 = vm**2
    gsh, bsh = ca.DM(net.ysh.real), ca.DM(net.ysh.imag)
    g_p = ca.mtimes(cf, pf) + ca.mtimes(ct, pt) + gsh * v2 - ca.mtimes(cg, pg)
    g_q = ca.mtimes(cf, qf) + ca.mtimes(ct, qt) - bsh * v2 - ca.mtimes(cg, qg)
    s_fix = net.fixed_injection_pu()
    if len(units) > len(net.gens):  # the DERs are decisions, not fixed injections
        np.add.at(s_fix, net.der_bus, -net.s_der / base)
    rows, lbg, ubg = [g_p, g_q], [s_fix.real, s_fix.imag], [s_fix.real, s_fix.imag]
    flows = (pf, qf, pt, qt)
    rated, limited = _limit_rows(net, units, x, flows, flow_limit, (rows, lbg, ubg))
    cost = _poly_cost(units, poly, base * pg, base * qg)
    if len(pwl_gens):
        y = x[2 * n + 2 * ng :]
        cost = cost + ca.sum1(y)
        seg, lo, hi = _pwl_rows(units, pwl, pwl_gens, base * pg, y)
        rows.append(seg)
        lbg.append(lo)
        ubg.append(hi)
    lbx, ubx = _variable_bounds(net, units, len(pwl_gens), ref_angles)
    x, cost, lbx, ubx = _add_q_pwl(units, pwl, base * qg, (x, cost, lbx, ubx), (rows, lbg, ubg))
    nlp = {"x": x, "f": cost, "g": ca.vertcat(*rows)}
    derivs = None
    flow_fn = ca.Function("flows", [x], [pf, qf, pt, qt])
    if derivatives == "branch":
        nlp, derivs, flow_fn = branch_nlp(net, x, cost, nlp["g"], rated)
    return OPFModel(
        nlp=nlp,
        lbx=lbx,
        ubx=ubx,
        lbg=np.concatenate(lbg),
        ubg=np.concatenate(ubg),
        n_bus=n,
        n_gen=ng,
        rated=rated,
        angle_limited=limited,
        flows=flow_fn,
        units=units,
        flow_limit=flow_limit,
        derivatives=derivs,
    )


def _limit_rows(
    net: ACNetwork, units: pd.DataFrame, x, flows: tuple, flow_limit: str, out: tuple
) -> tuple:
    """Append the branch-flow, angle-difference and DER apparent-power rows (and their bounds)
    to ``out = (rows, lbg, ubg)``; return the rated and the angle-limited branch positions."""
    rows, lbg, ubg = out
    n, ng, base = net.n_bus, len(units), net.base_mva
    va, vm = x[:n], x[n : 2 * n]
    pg, qg = x[2 * n : 2 * n + ng], x[2 * n + ng : 2 * n + 2 * ng]
    pf, qf, pt, qt = flows
    rated = np.flatnonzero(np.isfinite(net.rate_pu))
    r = rated.tolist()
    if len(rated):
        lim_f, lim_t = _flow_limits(net, vm, rated, net.rate_pu[rated] ** 2, flow_limit)
        rows += [pf[r] ** 2 + qf[r] ** 2 - lim_f, pt[r] ** 2 + qt[r] ** 2 - lim_t]
        lbg.append(np.full(2 * len(rated), -np.inf))
        ubg.append(np.zeros(2 * len(rated)))
    limited = np.flatnonzero((net.angmin > -np.pi) | (net.angmax < np.pi))
    rows.append(va[net.f[limited].tolist()] - va[net.t[limited].tolist()])
    lbg.append(net.angmin[limited])
    ubg.append(net.angmax[limited])
    s_rows = np.flatnonzero(np.isfinite(units["s_max_mva"].to_numpy())).tolist()
    rows.append(pg[s_rows] ** 2 + qg[s_rows] ** 2)
    lbg.append(np.full(len(s_rows), -np.inf))
    ubg.append((units["s_max_mva"].to_numpy()[s_rows] / base) ** 2)
    return rated, limited


def _flow_limits(net: ACNetwork, vm, rated: np.ndarray, rate2: np.ndarray, flow_limit: str):
    """Right-hand sides of the branch rows: rate² (apparent power) or rate²·|V|² (current)."""
    if flow_limit == "apparent":
        return ca.DM(rate2), ca.DM(rate2)
    if flow_limit != "current":
        raise ValueError(f"unknown flow_limit '{flow_limit}'; use 'apparent' or 'current'")
    vf, vt = vm[net.f[rated].tolist()], vm[net.t[rated].tolist()]
    return ca.DM(rate2) * vf**2, ca.DM(rate2) * vt**2


#: columns of the dispatchable units (gens, then DERs) the NLP is built from
UNIT_COLUMNS = ["p_min_mw", "p_max_mw", "q_min_mvar", "q_max_mvar", "cost_model"]
_P_COSTS = ["cost_c2_usd_per_mw2h", "cost_c1_usd_per_mwh", "cost_c0_usd_per_h"]
_Q_COSTS = ["cost_q_c2_usd_per_mvar2h", "cost_q_c1_usd_per_mvarh", "cost_q_c0_usd_per_h"]


def dispatch_units(net: ACNetwork, ders: pd.DataFrame | None) -> pd.DataFrame:
    """The decisions: in-service gens, then the injecting DERs of ``net.der_ids`` (``ders``),
    with their position, P/Q range, S limit and costs; ``unit`` and ``id`` say which is which.

    A DER's linear cost is ``cost_usd_per_mwh`` less its curtailment price (PV and wind), which
    adds ``curtail_cost_usd_per_mwh · p_max_mw`` to the constant, as in the DC problems."""
    g = net.gens
    gens = g[UNIT_COLUMNS + _P_COSTS + _Q_COSTS].assign(
        pos=g["pos"].to_numpy(), s_max_mva=np.inf, unit="gen", id=g.index.to_numpy()
    )
    if ders is None or not len(ders):
        return gens.reset_index(drop=True)
    d = ders.loc[net.der_ids]
    curtail = np.where(d["kind"].isin(("pv", "wind")), d["curtail_cost_usd_per_mwh"], 0.0)
    der = pd.DataFrame(
        {
            "p_min_mw": d["p_min_mw"].to_numpy(),
            "p_max_mw": d["p_max_mw"].to_numpy(),
            "q_min_mvar": d["q_min_mvar"].to_numpy(),
            "q_max_mvar": d["q_max_mvar"].to_numpy(),
            "cost_model": "poly",
            "cost_c2_usd_per_mw2h": d["cost_c2_usd_per_mw2h"].to_numpy(),
            "cost_c1_usd_per_mwh": d["cost_usd_per_mwh"].to_numpy() - curtail,
            "cost_c0_usd_per_h": d["cost_c0_usd_per_h"].to_numpy() + curtail * d["p_max_mw"],
            **{c: d[c].to_numpy() for c in _Q_COSTS},
            "pos": net.der_bus,
            "s_max_mva": d["s_max_mva"].to_numpy(),
            "unit": "der",
            "id": d.index.to_numpy(),
        }
    )
    return pd.concat([gens, der], ignore_index=True)


def _poly_cost(units: pd.DataFrame, poly: np.ndarray, p_mw, q_mvar):
    """Σ c2 P² + c1 P + c0 over poly-cost units, plus every unit's reactive cost."""
    c2, c1, c0 = (units[c].to_numpy(float) * poly for c in _P_COSTS)
    q2, q1, q0 = (units[c].to_numpy(float) for c in _Q_COSTS)
    cost = ca.dot(ca.DM(c2), p_mw**2) + ca.dot(ca.DM(c1), p_mw) + float(c0.sum())
    if q2.any() or q1.any():
        cost = cost + ca.dot(ca.DM(q2), q_mvar**2) + ca.dot(ca.DM(q1), q_mvar)
    return cost + float(q0.sum())


def _dm(m: sp.spmatrix) -> ca.DM:
    """A sparse CasADi matrix from a scipy one."""
    return sparse_dm(m)


def _variable_bounds(
    net: ACNetwork, g: pd.DataFrame, n_pwl: int, ref_angles: str
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on x: θ free but fixed at REF buses, |V| limits, unit limits in p.u."""
    n, base = net.n_bus, net.base_mva
    lo_va, hi_va = np.full(n, -np.inf), np.full(n, np.inf)
    ref = fixed_angle_buses(net, ref_angles)
    lo_va[ref] = hi_va[ref] = net.va0[ref]
    lbx = np.r_[lo_va, net.vm_min, g["p_min_mw"] / base, g["q_min_mvar"] / base]
    ubx = np.r_[hi_va, net.vm_max, g["p_max_mw"] / base, g["q_max_mvar"] / base]
    return np.r_[lbx, np.full(n_pwl, -np.inf)], np.r_[ubx, np.full(n_pwl, np.inf)]


def fixed_angle_buses(net: ACNetwork, ref_angles: str) -> np.ndarray:
    """Positions whose angle is fixed: every REF bus (``"all"``, MATPOWER), or the first REF
    bus of each connected island (``"first"``: pandapower's OPF turns the other slacks of an
    island into generators with a free angle, auxiliary._check_connectivity_opf)."""
    if ref_angles == "all":
        return net.ref
    if ref_angles != "first":
        raise ValueError(f"unknown ref_angles '{ref_angles}'; use 'all' or 'first'")
    graph = sp.coo_matrix((np.ones(len(net.f)), (net.f, net.t)), shape=(net.n_bus, net.n_bus))
    _, label = connected_components(graph, directed=False)
    ref = np.sort(net.ref)
    return ref[np.unique(label[ref], return_index=True)[1]]


def _pwl_rows(gens: pd.DataFrame, pwl: pd.DataFrame, which: np.ndarray, p_mw, y, power="p"):
    """Epigraph rows y_g − s_k P_g ≥ a_k of every segment of every pwl-cost gen (of its Q
    cost, ``p_mw`` then being Q in MVAr, with ``power="q"``)."""
    rows, lo = [], []
    for j, g in enumerate(which):
        pts = pwl[(pwl["gen_id"] == gens["id"].iat[g]) & (pwl.get("power", "p") == power)]
        pts = pts.sort_values("point")
        p, c = pts["p_mw"].to_numpy(), pts["cost_usd_per_h"].to_numpy()
        slope = np.diff(c) / np.diff(p)
        for k, s in enumerate(slope):
            rows.append(y[j] - s * p_mw[int(g)])
            lo.append(c[k] - s * p[k])
    return ca.vertcat(*rows), np.asarray(lo), np.full(len(lo), np.inf)


def _add_q_pwl(units: pd.DataFrame, pwl: pd.DataFrame | None, q_mvar, nlp: tuple, out: tuple):
    """``nlp = (x, cost, lbx, ubx)`` with an epigraph variable z_g per gen with a pwl Q cost
    (``gen_cost_pwl`` rows with ``power == "q"``) appended to x and to the cost, its segment
    rows appended to ``out = (rows, lbg, ubg)``: the same epigraph as P's, in Q_g."""
    x, cost, lbx, ubx = nlp
    if pwl is None or "power" not in pwl or not (pwl["power"] == "q").any():
        return nlp
    q_ids = pwl.loc[pwl["power"] == "q", "gen_id"]
    which = np.flatnonzero((units["unit"] == "gen") & units["id"].isin(q_ids))
    if not len(which):
        return nlp
    z = ca.SX.sym("z_q", len(which))
    seg, lo, hi = _pwl_rows(units, pwl, which, q_mvar, z, power="q")
    for part, v in zip(out, (seg, lo, hi), strict=True):
        part.append(v)
    inf = np.full(len(which), np.inf)
    return ca.vertcat(x, z), cost + ca.sum1(z), np.r_[lbx, -inf], np.r_[ubx, inf]
