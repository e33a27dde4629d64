"""From a Solution of the dispatch problem to the Result tables (with LMP components)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dispatchlab.solvers.data import RENEWABLE_DERS, DispatchData
from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.network import DCNetwork
from dispatchlab.solvers.problems.dispatch import (
    ANGLE_BLOCK,
    DispatchOptions,
    bus_demand_mw,
    cols_of,
    injection_terms,
)
from dispatchlab.solvers.problems.losses import loss_lmp_component
from dispatchlab.solvers.status import Solution

#: flow-limit blocks whose duals form the LMP's congestion component (names start with these);
#: angle-difference rows are flow rows too (bounds base·b·(ang − φ), PTDF sensitivity)
FLOW_LIMIT_BLOCKS = ("branch_flow_limit", "sced_flow_limit", "sced_contingency_limit", ANGLE_BLOCK)


def values(m: LinearModel, sol: Solution, block: str, n: int, T: int) -> np.ndarray:
    """(n, T) primal values of a variable block."""
    b = m.var_blocks[block]
    return sol.x[cols_of(b.start, n, T)] if n else np.zeros((0, T))


def row_duals(m: LinearModel, sol: Solution, block: str) -> np.ndarray:
    b = m.con_blocks[block]
    return sol.row_dual[b.start : b.start + b.size]


def _frame(ids, d: DispatchData, name: str, cols: dict) -> pd.DataFrame:
    """Stack (n, T) arrays into a table indexed by id (single period) or (id, period)."""
    if d.T == 1:
        return pd.DataFrame({k: v[:, 0] for k, v in cols.items()}, index=pd.Index(ids, name=name))
    idx = pd.MultiIndex.from_product([ids, d.times], names=[name, "period"])
    return pd.DataFrame({k: v.ravel() for k, v in cols.items()}, index=idx)


def injections_mw(m: LinearModel, sol: Solution, d: DispatchData) -> np.ndarray:
    """(bus, T) net injection of the dispatch, demand and shunts subtracted."""
    inj = -bus_demand_mw(d).T
    bus, period, cols, sign = injection_terms(m, d)
    np.add.at(inj, (bus, period), sign * sol.x[cols])
    return inj


def lmp_tables(m, sol, d: DispatchData, opts: DispatchOptions, net: DCNetwork | None):
    """(lmp, energy, congestion) arrays of shape (bus, T) in $/MWh."""
    nb, T = len(d.bus_ids), d.T
    if opts.network == "btheta":
        lmp = row_duals(m, sol, "power_balance").reshape(nb, T) / d.dt_h
        energy = np.broadcast_to(lmp[net.ref[:1]], (nb, T)).copy()
        return lmp, energy, lmp - energy
    lam = row_duals(m, sol, "power_balance") / d.dt_h
    energy = np.broadcast_to(lam, (nb, T)).copy()
    congestion = np.zeros((nb, T))
    for name, block in m.con_blocks.items():  # prefixes: SCED adds blocks per round/chunk
        if name.startswith(FLOW_LIMIT_BLOCKS) and block.size:
            congestion += _ptdf_congestion(m, sol, d, net, name)
    return energy + congestion, energy, congestion


def _ptdf_congestion(m, sol, d, net: DCNetwork, name: str) -> np.ndarray:
    """Σ_l PTDF_l,i · y_l,t over the binding rows of one flow-limit block."""
    block = m.con_blocks[name]
    y = row_duals(m, sol, name) / d.dt_h
    active = np.flatnonzero(np.abs(y) > 1e-9)
    out = np.zeros((len(d.bus_ids), d.T))
    if len(active) == 0:
        return out
    labels = block.index[active]
    periods = d.times.get_indexer(labels.get_level_values("period"))
    sensitivity = m.row_sensitivity.get(name)
    if sensitivity is not None:  # rows whose bus sensitivity is not a base-case PTDF row
        rows = sensitivity(active)
    else:
        pos = pd.Index(net.branch_ids).get_indexer(labels.get_level_values("branch_id"))
        rows = net.ptdf_rows(pos)
    for k in range(len(active)):
        out[:, periods[k]] += rows[k] * y[active[k]]
    return out


def build_result_tables(m, sol, d: DispatchData, opts: DispatchOptions, net, rate) -> dict:
    T = d.T
    lmp, energy, congestion = lmp_tables(m, sol, d, opts, net)
    loss = loss_lmp_component(m, sol, d)  # zeros unless opts.losses (losses.py)
    lmp = lmp + loss
    shed = np.zeros((len(d.bus_ids), T))
    np.add.at(shed, d.loads.bus, values(m, sol, "load_shed_mw", len(d.loads), T))
    bus_cols = {
        "lmp_usd_per_mwh": lmp,
        "lmp_energy_usd_per_mwh": energy,
        "lmp_congestion_usd_per_mwh": congestion,
        "lmp_loss_usd_per_mwh": loss,
        "load_mw": bus_demand_mw(d).T,
        "shed_mw": shed,
    }
    tables = {"gen": _gen_table(m, sol, d)}
    if net is not None:
        inj = injections_mw(m, sol, d)
        theta = net.solve_angles(inj / d.base_mva + net.shift_injection_pu[:, None])
        bus_cols["va_deg"] = np.rad2deg(theta)
        tables["branch"] = _branch_table(m, sol, d, net, rate, inj).assign(
            **_angle_columns(m, sol, d, net, theta)
        )
    tables["bus"] = _frame(d.bus_ids, d, "bus_id", bus_cols)
    tables["der"] = _der_table(m, sol, d)
    tables["storage"] = _storage_table(m, sol, d)
    tables["system"] = pd.DataFrame(
        {
            "price_usd_per_mwh": energy[0] if len(energy) else np.zeros(T),
            "load_mw": bus_demand_mw(d).sum(axis=1),
            "shed_mw": shed.sum(axis=0),
            "gen_mw": values(m, sol, "gen_p_mw", len(d.gens), T).sum(axis=0),
        },
        index=d.times,
    )
    if "system_loss_mw" in m.var_blocks:
        tables["system"]["loss_mw"] = values(m, sol, "system_loss_mw", 1, T)[0]
    return tables


def _gen_table(m, sol, d: DispatchData) -> pd.DataFrame:
    g, T = d.gens, d.T
    p = values(m, sol, "gen_p_mw", len(g), T)
    cost = (
        g["cost_c2_usd_per_mw2h"][:, None] * p**2
        + g["cost_c1_usd_per_mwh"][:, None] * p
        + g["cost_c0_usd_per_h"][:, None]
    )
    if g["pwl"].any():
        z = values(m, sol, "gen_pwl_cost_usd_per_h", int(g["pwl"].sum()), T)
        cost[g["pwl"]] = z
    cols = {"p_mw": p, "cost_usd_per_h": cost}
    if "gen_reserve_up_mw" in m.var_blocks:
        cols["reserve_up_mw"] = values(m, sol, "gen_reserve_up_mw", len(g), T)
        cols["reserve_down_mw"] = values(m, sol, "gen_reserve_down_mw", len(g), T)
    return _frame(g.ids, d, "gen_id", cols)


def _branch_table(m, sol, d, net: DCNetwork, rate, inj) -> pd.DataFrame:
    T = d.T
    if "branch_p_mw" in m.var_blocks:
        flow = values(m, sol, "branch_p_mw", net.n_branch, T)
        b = m.var_blocks["branch_p_mw"]
        shadow = -sol.col_dual[cols_of(b.start, net.n_branch, T)] / d.dt_h
    else:
        flow = net.base_mva * net.flows_pu(inj / d.base_mva)
        shadow = np.zeros((net.n_branch, T))
        if "branch_flow_limit" in m.con_blocks:
            blk = m.con_blocks["branch_flow_limit"]
            pos = pd.Index(net.branch_ids).get_indexer(blk.index.get_level_values("branch_id"))
            per = d.times.get_indexer(blk.index.get_level_values("period"))
            shadow[pos, per] = -row_duals(m, sol, "branch_flow_limit") / d.dt_h
    with np.errstate(divide="ignore", invalid="ignore"):
        loading = np.where(np.isfinite(rate)[:, None], 100 * np.abs(flow) / rate[:, None], np.nan)
    return _frame(
        net.branch_ids,
        d,
        "branch_id",
        {"p_mw": flow, "loading_pct": loading, "shadow_price_usd_per_mwh": shadow},
    )


def _angle_columns(m, sol, d: DispatchData, net: DCNetwork, theta: np.ndarray) -> dict:
    """``angle_diff_deg`` (θ_f − θ_t, the shift not included, as the limits read) and
    ``angle_shadow_price_usd_per_deg_h``: −∂cost/∂limit per degree, from the rows of every
    ``branch_angle_diff*`` block (positive when a branch is held at angmax, negative at
    angmin; 0 where no angle row binds). The rows are in MW of flow, 1° = base·b·π/180 MW."""
    diff = np.rad2deg(theta[net.f] - theta[net.t])
    shadow = np.zeros((net.n_branch, d.T))
    branch_pos = pd.Index(net.branch_ids)
    for name, block in m.con_blocks.items():
        if not name.startswith(ANGLE_BLOCK) or block.size == 0:
            continue
        pos = branch_pos.get_indexer(block.index.get_level_values("branch_id"))
        per = d.times.get_indexer(block.index.get_level_values("period"))
        per_deg = net.base_mva * net.b[pos] * np.pi / 180.0
        np.add.at(shadow, (pos, per), -row_duals(m, sol, name) * per_deg / d.dt_h)
    flat = (lambda a: a[:, 0]) if d.T == 1 else (lambda a: a.ravel())
    return {"angle_diff_deg": flat(diff), "angle_shadow_price_usd_per_deg_h": flat(shadow)}


def _der_table(m, sol, d: DispatchData) -> pd.DataFrame:
    der, T = d.ders, d.T
    if len(der) == 0:
        return pd.DataFrame()
    p = values(m, sol, "der_p_mw", len(der), T)
    renewable = np.isin(der["kind"], RENEWABLE_DERS)[:, None]
    curtailed = np.where(renewable, der["p_max_mw"].T - p, 0.0)
    return _frame(
        der.ids,
        d,
        "der_id",
        {"p_mw": p, "available_mw": der["p_max_mw"].T, "curtailed_mw": curtailed},
    )


def _storage_table(m, sol, d: DispatchData) -> pd.DataFrame:
    s, T = d.storage, d.T
    if len(s) == 0:
        return pd.DataFrame()
    return _frame(
        s.ids,
        d,
        "der_id",
        {
            "p_charge_mw": values(m, sol, "storage_charge_mw", len(s), T),
            "p_discharge_mw": values(m, sol, "storage_discharge_mw", len(s), T),
            "soc_mwh": values(m, sol, "storage_soc_mwh", len(s), T),
        },
    )
