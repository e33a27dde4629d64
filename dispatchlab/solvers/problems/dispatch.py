"""The dispatch problem, written once: variables, costs and constraints as named blocks.

Economic dispatch, DC-OPF and multi-period dispatch are the same problem with different
formulations of the network (``copperplate``, ``btheta``, ``ptdf``) and different horizons.
Each ``add_*`` function reads like one line of the math and adds one named block to a
:class:`~dispatchlab.solvers.model.LinearModel`, vectorised over elements × periods. Column of
element ``e`` at period ``t`` in a block is ``start + e·T + t``; balance rows likewise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatchlab.solvers.data import RENEWABLE_DERS, DispatchData, Table
from dispatchlab.solvers.model import INF, LinearModel
from dispatchlab.solvers.network import DCNetwork

NETWORKS = ("copperplate", "btheta", "ptdf")
ANGLE_BLOCK = "branch_angle_diff"  #: rows of the angle-difference limits (all formulations)


@dataclass(frozen=True)
class DispatchOptions:
    """How the dispatch problem is formulated (every field has a one-line meaning)."""

    network: str = "copperplate"  #: copperplate, btheta or ptdf
    #: shed load at each load's VOLL instead of reporting infeasible (off by default, as in
    #: MATPOWER, PowerModels and pandapower: an infeasible case says so, with a diagnosis)
    allow_shedding: bool = False
    reserves: bool = True  #: enforce the case's reserve requirements
    ramping: bool = True  #: enforce ramp limits between consecutive periods
    line_limits: bool = True  #: enforce branch ratings (btheta, ptdf)
    #: enforce branch angle-difference limits angmin ≤ θ_f − θ_t ≤ angmax (btheta, ptdf)
    angle_limits: bool = True
    rating: str = "rate_a_mva"  #: which rating limits base-case flows
    storage_terminal: str = "cyclic"  #: cyclic (end ≥ start), free, or fixed (end = start)
    #: auto: re-solve with a binary mode per (storage, period) only if the LP charges and
    #: discharges at once; always: do so every time; off: keep the LP (see storage_modes.py)
    storage_exclusive: str = "auto"
    losses: bool = False  #: linearised losses and loss LMP component (ptdf only; losses.py)

    def __post_init__(self):
        if self.network not in NETWORKS:
            raise ValueError(f"unknown network formulation '{self.network}'; use one of {NETWORKS}")
        if self.storage_terminal not in ("cyclic", "free", "fixed"):
            raise ValueError("storage_terminal must be 'cyclic', 'free' or 'fixed'")
        if self.storage_exclusive not in ("auto", "always", "off"):
            raise ValueError("storage_exclusive must be 'auto', 'always' or 'off'")
        if self.losses and self.network != "ptdf":
            raise ValueError("losses=True needs the 'ptdf' network formulation")


def grid(ids: np.ndarray, data: DispatchData, name: str) -> pd.MultiIndex:
    return pd.MultiIndex.from_product([ids, data.times], names=[name, "period"])


def cols_of(start: int, n: int, T: int) -> np.ndarray:
    """(n, T) array of column positions of a block laid out element-major."""
    return start + np.arange(n * T).reshape(n, T)


def add_generators(m: LinearModel, d: DispatchData) -> None:
    """p_g,t ∈ [p_min, p_max,t]; cost dt·(c1 p + c2 p² + c0) unless piecewise linear."""
    g, T, dt = d.gens, d.T, d.dt_h
    pwl = g["pwl"]
    c1 = np.where(pwl, 0.0, g["cost_c1_usd_per_mwh"]) * dt
    block = m.add_vars(
        "gen_p_mw",
        grid(g.ids, d, "gen_id"),
        lb=np.repeat(g["p_min_mw"], T),
        ub=g["p_max_mw"].T.ravel(),
        cost=np.repeat(c1, T),
    )
    c2 = np.where(pwl, 0.0, g["cost_c2_usd_per_mw2h"]) * dt
    m.add_quadratic(block.positions, np.repeat(2.0 * c2, T))
    m.offset += float(np.where(pwl, 0.0, g["cost_c0_usd_per_h"]).sum() * dt * T)
    if pwl.any():
        add_pwl_costs(m, d)


def add_pwl_costs(m: LinearModel, d: DispatchData) -> None:
    """Epigraph of convex piecewise-linear costs: z_g,t ≥ a_k p_g,t + b_k for each segment."""
    g, T = d.gens, d.T
    pwl_ids = g.ids[g["pwl"]]
    z = m.add_vars("gen_pwl_cost_usd_per_h", grid(pwl_ids, d, "gen_id"), lb=-INF, cost=d.dt_h)
    p = m.var_blocks["gen_p_mw"]
    rows, cols, vals, ub, labels = [], [], [], [], []
    for k, gid in enumerate(pwl_ids):
        pts = d.pwl[d.pwl["gen_id"] == gid].sort_values("point")
        x, y = pts["p_mw"].to_numpy(), pts["cost_usd_per_h"].to_numpy()
        slope = np.diff(y) / np.diff(x)
        gpos = int(np.flatnonzero(g.ids == gid)[0])
        for s, a in enumerate(slope):
            for t in range(T):  # a few segments per gen: the loop is over a tiny set
                r = len(labels)
                labels.append((gid, s, d.times[t]))
                rows += [r, r]
                cols += [p.start + gpos * T + t, z.start + k * T + t]
                vals += [a, -1.0]
                ub.append(a * x[s] - y[s])
    index = pd.MultiIndex.from_tuples(labels, names=["gen_id", "segment", "period"])
    m.add_cons("gen_pwl_segment", index, rows, cols, vals, ub=ub)


def add_load_shedding(m: LinearModel, d: DispatchData, allowed: bool) -> None:
    """shed_l,t ∈ [0, max(P_l,t, 0)] at VOLL (upper bound 0 when shedding is not allowed)."""
    ld, T = d.loads, d.T
    ub = np.maximum(ld["p_mw"], 0.0).T.ravel() if allowed else 0.0
    m.add_vars(
        "load_shed_mw",
        grid(ld.ids, d, "load_id"),
        lb=0.0,
        ub=ub,
        cost=np.repeat(ld["voll_usd_per_mwh"], T) * d.dt_h,
    )


def add_ders(m: LinearModel, d: DispatchData) -> None:
    """p_d,t ∈ [p_min, p_max,t]; curtailment of PV/wind priced at its curtailment cost."""
    der, T = d.ders, d.T
    curtail = np.where(np.isin(der["kind"], RENEWABLE_DERS), der["curtail_cost_usd_per_mwh"], 0.0)
    cost = (der["cost_usd_per_mwh"] - curtail) * d.dt_h
    m.add_vars(
        "der_p_mw",
        grid(der.ids, d, "der_id"),
        lb=np.repeat(der["p_min_mw"], T),
        ub=der["p_max_mw"].T.ravel(),
        cost=np.repeat(cost, T),
    )
    m.offset += float((curtail[None, :] * der["p_max_mw"]).sum() * d.dt_h)


def add_storage(m: LinearModel, d: DispatchData, terminal: str) -> None:
    """Charge, discharge (priced at the unit's cost, e.g. wear) and state of charge:
    e_t = e_t-1 + η_c·ch_t·dt − dis_t·dt/η_d,  e_-1 = e_init,  e ∈ [e_min, e_max]."""
    s, T, dt = d.storage, d.T, d.dt_h
    n = len(s)
    idx = grid(s.ids, d, "der_id")
    ch = m.add_vars("storage_charge_mw", idx, ub=np.repeat(-s["p_min_mw"], T))
    dis = m.add_vars(
        "storage_discharge_mw",
        idx,
        ub=np.repeat(s["p_max_mw"], T),
        cost=np.repeat(s["cost_usd_per_mwh"], T) * dt,
    )
    soc = m.add_vars(
        "storage_soc_mwh", idx, lb=np.repeat(s["e_min_mwh"], T), ub=np.repeat(s["e_max_mwh"], T)
    )
    cc, cd, ce = cols_of(ch.start, n, T), cols_of(dis.start, n, T), cols_of(soc.start, n, T)
    r = np.arange(n * T).reshape(n, T)
    prev = ce[:, :-1]
    rows = np.concatenate([r.ravel(), r.ravel(), r.ravel(), r[:, 1:].ravel()])
    cols = np.concatenate([ce.ravel(), cc.ravel(), cd.ravel(), prev.ravel()])
    vals = np.concatenate(
        [
            np.ones(n * T),
            np.repeat(-s["eff_charge"] * dt, T),
            np.repeat(dt / s["eff_discharge"], T),
            -np.ones(n * (T - 1)),
        ]
    )
    rhs = np.zeros((n, T))
    rhs[:, 0] = s["e_init_mwh"]
    m.add_cons("storage_soc_balance", idx, rows, cols, vals, lb=rhs.ravel(), ub=rhs.ravel())
    if terminal != "free" and n:
        ub = s["e_init_mwh"] if terminal == "fixed" else INF
        m.add_cons(
            "storage_terminal_soc",
            pd.Index(s.ids, name="der_id"),
            np.arange(n),
            ce[:, -1],
            1.0,
            lb=s["e_init_mwh"],
            ub=ub,
        )


def injection_terms(m: LinearModel, d: DispatchData):
    """(bus position, period, column, sign) of every MW injection variable."""
    T = d.T
    parts = []
    for block, table, sign in (
        ("gen_p_mw", d.gens, 1.0),
        ("load_shed_mw", d.loads, 1.0),
        ("der_p_mw", d.ders, 1.0),
        ("storage_discharge_mw", d.storage, 1.0),
        ("storage_charge_mw", d.storage, -1.0),
    ):
        if block not in m.var_blocks or len(table) == 0:
            continue
        b = m.var_blocks[block]
        cols = cols_of(b.start, len(table), T)
        bus = np.repeat(table.bus, T)
        period = np.tile(np.arange(T), len(table))
        parts.append((bus, period, cols.ravel(), np.full(cols.size, sign)))
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))


def bus_demand_mw(d: DispatchData) -> np.ndarray:
    """(T, bus) demand: loads plus bus shunt conductance at 1 p.u. (MATPOWER's DC convention)."""
    demand = np.zeros((d.T, len(d.bus_ids)))
    np.add.at(demand.T, d.loads.bus, d.loads["p_mw"].T)
    return demand + d.bus_shunt_mw[None, :]


def add_balance_copperplate(m: LinearModel, d: DispatchData) -> None:
    """Σ injections_t = Σ demand_t, one row per period (dual: the system price)."""
    _, period, cols, sign = injection_terms(m, d)
    rhs = bus_demand_mw(d).sum(axis=1)
    m.add_cons("power_balance", d.times, period, cols, sign, lb=rhs, ub=rhs)


def add_btheta_network(m: LinearModel, d: DispatchData, net: DCNetwork, rate: np.ndarray) -> None:
    """θ at every bus (0 at the reference), flows f = base·b·(θ_f − θ_t − φ) within ratings,
    and a balance per bus and period (dual: the LMP).

    The angle variable is ϑ = base·θ (block ``bus_va_x_base``): with θ in radians the flow rows
    carry coefficients base·b up to ~1e6 and HiGHS's QP solver reported "solve error" on
    pglib case200/case2000; scaled, the same problem solves (f = b·(ϑ_f − ϑ_t − base·φ))."""
    T, nb, nl = d.T, net.n_bus, net.n_branch
    fixed = np.zeros(nb, bool)
    fixed[net.ref] = True
    fixed[net.isolated] = True
    th_lb = np.where(fixed, 0.0, -INF)
    th = m.add_vars(
        "bus_va_x_base",
        grid(d.bus_ids, d, "bus_id"),
        lb=np.repeat(th_lb, T),
        ub=np.repeat(-th_lb, T),
    )
    flow = m.add_vars(
        "branch_p_mw",
        grid(net.branch_ids, d, "branch_id"),
        lb=np.repeat(-rate, T),
        ub=np.repeat(rate, T),
    )
    cth, cf = cols_of(th.start, nb, T), cols_of(flow.start, nl, T)
    r = np.arange(nl * T).reshape(nl, T)
    bb = net.b
    rows = np.concatenate([r.ravel()] * 3)
    cols = np.concatenate([cf.ravel(), cth[net.f].ravel(), cth[net.t].ravel()])
    vals = np.concatenate([np.ones(nl * T), np.repeat(-bb, T), np.repeat(bb, T)])
    rhs = np.repeat(-bb * net.base_mva * net.shift_rad, T)
    m.add_cons("branch_flow_definition", flow.index, rows, cols, vals, lb=rhs, ub=rhs)
    bus, period, icols, sign = injection_terms(m, d)
    fr = np.concatenate([net.f[:, None] * T + np.arange(T)] * 1).ravel()
    to = (net.t[:, None] * T + np.arange(T)).ravel()
    rows = np.concatenate([bus * T + period, fr, to])
    cols = np.concatenate([icols, cf.ravel(), cf.ravel()])
    vals = np.concatenate([sign, -np.ones(nl * T), np.ones(nl * T)])
    rhs = bus_demand_mw(d).T.ravel()
    m.add_cons("power_balance", th.index, rows, cols, vals, lb=rhs, ub=rhs)


def add_ptdf_network(
    m: LinearModel,
    d: DispatchData,
    net: DCNetwork,
    rate: np.ndarray,
    monitored: np.ndarray | None = None,
) -> None:
    """A system balance per period and, for each monitored branch, the flow
    f = PTDF·(injection − demand) + f_shift within its rating (rows of the dense PTDF)."""
    add_balance_copperplate(m, d)
    lines = np.flatnonzero(np.isfinite(rate)) if monitored is None else monitored
    if len(lines):
        add_ptdf_flow_limits(m, d, net, lines, rate[lines], name="branch_flow_limit")


def add_ptdf_flow_limits(
    m: LinearModel,
    d: DispatchData,
    net: DCNetwork,
    lines: np.ndarray,
    rate: np.ndarray,
    name: str,
    ptdf: np.ndarray | None = None,
    lo: np.ndarray | None = None,
) -> None:
    """lo ≤ PTDF[lines]·(inj − demand) + f_shift ≤ rate for every period (one block);
    ``lo`` defaults to −rate."""
    T = d.T
    ptdf = net.ptdf_rows(lines) if ptdf is None else ptdf
    bus, period, icols, sign = injection_terms(m, d)
    coef = ptdf[:, bus] * sign[None, :]  # (lines, terms)
    keep = np.abs(coef) > 1e-10
    li, term = np.nonzero(keep)
    rows = li * T + period[term]
    shift_mw = net.base_mva * net.flows_pu(np.zeros(net.n_bus))[lines]
    base = (bus_demand_mw(d) @ ptdf.T).T - shift_mw[:, None]  # (lines, T)
    idx = pd.MultiIndex.from_product(
        [net.branch_ids[lines], d.times], names=["branch_id", "period"]
    )
    m.add_cons(
        name,
        idx,
        rows,
        icols[term],
        coef[keep],
        lb=((-rate if lo is None else lo)[:, None] + base).ravel(),
        ub=(rate[:, None] + base).ravel(),
    )


def add_reserves(m: LinearModel, d: DispatchData) -> None:
    """Up/down reserve from generators: p + r_up ≤ p_max, p − r_dn ≥ p_min, and
    Σ r over the zone's generators ≥ the requirement (zone −1 = whole system)."""
    req = d.reserves
    if len(req) == 0:
        return
    g, T = d.gens, d.T
    idx = grid(g.ids, d, "gen_id")
    cost = np.repeat(g["reserve_cost_usd_per_mwh"], T) * d.dt_h
    up = m.add_vars("gen_reserve_up_mw", idx, ub=np.repeat(g["reserve_up_max_mw"], T), cost=cost)
    dn = m.add_vars(
        "gen_reserve_down_mw", idx, ub=np.repeat(g["reserve_down_max_mw"], T), cost=cost
    )
    p = m.var_blocks["gen_p_mw"]
    r = np.arange(len(g) * T)
    m.add_cons(
        "gen_headroom_up",
        idx,
        np.concatenate([r, r]),
        np.concatenate([p.positions, up.positions]),
        1.0,
        ub=g["p_max_mw"].T.ravel(),
    )
    m.add_cons(
        "gen_headroom_down",
        idx,
        np.concatenate([r, r]),
        np.concatenate([p.positions, dn.positions]),
        np.concatenate([np.ones(r.size), -np.ones(r.size)]),
        lb=np.repeat(g["p_min_mw"], T),
    )
    zone_of_gen = d.bus_zone[g.bus]
    for kind, block in (("up_mw", up), ("down_mw", dn)):
        rows, cols, labels, rhs = [], [], [], []
        for _, q in req.iterrows():
            members = np.flatnonzero((zone_of_gen == q["zone"]) | (q["zone"] == -1))
            for t in range(T):
                rows.append(np.full(len(members), len(labels)))
                cols.append(block.start + members * T + t)
                labels.append((int(q["zone"]), d.times[t]))
                rhs.append(q[kind])
        index = pd.MultiIndex.from_tuples(labels, names=["zone", "period"])
        m.add_cons(
            f"reserve_requirement_{kind[:-3]}",
            index,
            np.concatenate(rows),
            np.concatenate(cols),
            1.0,
            lb=rhs,
        )


def add_ramps(m: LinearModel, d: DispatchData) -> None:
    """−ramp_down·dt ≤ p_g,t − p_g,t−1 ≤ ramp_up·dt for t ≥ 1 (finite ramps only)."""
    g, T = d.gens, d.T
    limited = np.flatnonzero(
        np.isfinite(g["ramp_up_mw_per_h"]) | np.isfinite(g["ramp_down_mw_per_h"])
    )
    if T < 2 or len(limited) == 0:
        return
    p = m.var_blocks["gen_p_mw"]
    cols = cols_of(p.start, len(g), T)[limited]
    n = len(limited) * (T - 1)
    r = np.arange(n)
    idx = pd.MultiIndex.from_product([g.ids[limited], d.times[1:]], names=["gen_id", "period"])
    m.add_cons(
        "gen_ramp",
        idx,
        np.concatenate([r, r]),
        np.concatenate([cols[:, 1:].ravel(), cols[:, :-1].ravel()]),
        np.concatenate([np.ones(n), -np.ones(n)]),
        lb=np.repeat(-g["ramp_down_mw_per_h"][limited] * d.dt_h, T - 1),
        ub=np.repeat(g["ramp_up_mw_per_h"][limited] * d.dt_h, T - 1),
    )


def build_dispatch(
    d: DispatchData,
    options: DispatchOptions,
    net: DCNetwork | None = None,
    rate: np.ndarray | None = None,
) -> LinearModel:
    """The whole dispatch problem as a list of blocks (PowerModels' ``build_opf`` idea)."""
    m = LinearModel(f"dispatch:{d.case_name}:{options.network}")
    add_generators(m, d)
    add_load_shedding(m, d, options.allow_shedding)
    add_ders(m, d)
    add_storage(m, d, options.storage_terminal)
    if options.reserves:
        add_reserves(m, d)
    if options.ramping:
        add_ramps(m, d)
    if options.network == "copperplate":
        add_balance_copperplate(m, d)
    else:
        assert net is not None and rate is not None
        limit = rate if options.line_limits else np.full_like(rate, INF)
        if options.network == "btheta":
            add_btheta_network(m, d, net, limit)
        elif options.losses:
            from dispatchlab.solvers.problems.losses import add_ptdf_network_with_losses

            add_ptdf_network_with_losses(m, d, options, net, limit, rate)
        else:
            add_ptdf_network(m, d, net, limit)
        if options.angle_limits and not options.losses:  # losses.py adds its own
            from dispatchlab.solvers.problems.angle_rows import add_angle_limits

            add_angle_limits(m, d, net, limit, options.network)
    return m


__all__ = ["DispatchOptions", "Table", "build_dispatch"]
