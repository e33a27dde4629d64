"""Result tables of an AC-OPF solution and its check by pandapower's power flow."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dispatchlab.solvers.ac.network import ACNetwork
from dispatchlab.solvers.ac.opf_model import OPFModel


def extract_tables(
    case, net: ACNetwork, model: OPFModel, x: np.ndarray, lam: np.ndarray
) -> dict[str, pd.DataFrame]:
    """``gen``, ``bus`` and ``branch`` tables from the primal x and the multipliers λ_g.

    CasADi's λ_g is ∂L/∂g with L = f + λ_gᵀg, so lowering the bound of the P balance
    (Re s_fix = −P_d) by one p.u. raises the cost by λ_P: LMP = λ_P / S_base in $/MWh.
    """
    va, vm, pg, qg = model.split(x)
    base, n = net.base_mva, net.n_bus
    u = model.units
    p_mw, q_mvar = pg * base, qg * base
    cost = (
        u["cost_c2_usd_per_mw2h"] * p_mw**2
        + u["cost_c1_usd_per_mwh"] * p_mw
        + u["cost_c0_usd_per_h"]
    ).where(u["cost_model"] == "poly", np.nan)
    cost = cost + (
        u["cost_q_c2_usd_per_mvar2h"] * q_mvar**2
        + u["cost_q_c1_usd_per_mvarh"] * q_mvar
        + u["cost_q_c0_usd_per_h"]
    )
    table = pd.DataFrame({"p_mw": p_mw, "q_mvar": q_mvar, "cost_usd_per_h": cost.to_numpy()})
    tables = {}
    for kind, index in (("gen", "gen_id"), ("der", "der_id")):
        at = (u["unit"] == kind).to_numpy()
        tables[kind] = table[at].set_axis(pd.Index(u["id"][at].to_numpy(), name=index))
    pos = net.bus_pos.to_numpy()
    load = np.zeros(n)
    np.add.at(load, net.load_bus, net.s_load.real)
    bus = pd.DataFrame(
        {
            "vm_pu": vm[pos],
            "va_deg": np.rad2deg(va[pos]),
            "lmp_usd_per_mwh": lam[:n][pos] / base,
            "lmp_q_usd_per_mvarh": lam[n : 2 * n][pos] / base,
            "load_mw": load[pos],
        },
        index=net.bus_pos.index,
    )
    return {**tables, "bus": bus, "branch": _branch_table(net, model, x)}


def _branch_table(net: ACNetwork, model: OPFModel, x: np.ndarray) -> pd.DataFrame:
    """Flows at both ends (MW, MVAr), losses and loading = max(|S_f|, |S_t|)/rate_a, or with
    current limits max(|S_f|/|V_f|, |S_t|/|V_t|)/rate_a."""
    pf, qf, pt, qt = (np.asarray(v).ravel() * net.base_mva for v in model.flows(x))
    rate = net.rate_pu * net.base_mva
    vm = model.split(x)[1]
    vf, vt = (vm[net.f], vm[net.t]) if model.flow_limit == "current" else (1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        loading = 100 * np.maximum(np.hypot(pf, qf) / vf, np.hypot(pt, qt) / vt) / rate
    return pd.DataFrame(
        {
            "p_mw": pf,
            "p_from_mw": pf,
            "q_from_mvar": qf,
            "p_to_mw": pt,
            "q_to_mvar": qt,
            "loss_mw": pf + pt,
            "loading_pct": np.where(np.isfinite(rate), loading, np.nan),
        },
        index=pd.Index(net.branch_ids, name="branch_id"),
    )


def setpoint_case(case, result):
    """``case`` with the AC-OPF set-points: P_g (and Q_g), |V| set-points, θ at REF buses."""
    gens = case.gens.copy()
    sol = result.gen
    gens.loc[sol.index, "p_mw"] = sol["p_mw"]
    gens.loc[sol.index, "q_mvar"] = sol["q_mvar"]
    ders = case.ders.copy()
    if len(result.der) and "q_mvar" in result.der:  # the DER decisions of the AC-OPF
        ders.loc[result.der.index, ["p_mw", "q_mvar"]] = result.der[["p_mw", "q_mvar"]]
    vm = result.bus["vm_pu"]
    on = gens.index.isin(sol.index)
    gens.loc[on, "vm_set_pu"] = vm.reindex(gens.loc[on, "bus"]).to_numpy()
    buses = case.buses.copy()
    ref = buses.index[(buses["bus_type"] == "REF") & buses.index.isin(vm.index)]
    buses.loc[ref, "va_deg"] = result.bus.loc[ref, "va_deg"]
    buses.loc[ref, "vm_pu"] = vm.loc[ref]
    return case.replace(gens=gens, buses=buses, ders=ders)


def verify_with_powerflow(case, result, tolerance_mva: float = 1e-9) -> dict[str, float]:
    """Run pandapower's ``runpp`` at the AC-OPF set-points; largest |ΔV|, |Δθ| found.

    The net is ``to_pandapower`` of :func:`setpoint_case`. A REF bus whose gens are all out of
    service (case500_goc) gets its ext_grid switched on to hold the AC-OPF's V∠θ there; the
    power it then injects, which the AC-OPF says is zero, is ``verify_ref_mismatch_mva``.
    """
    import pandapower as pp

    from dispatchlab.cases.pandapower_io import to_pandapower

    net = to_pandapower(setpoint_case(case, result))
    eg = net.ext_grid
    off = ~eg["in_service"].astype(bool)
    eg.loc[off, "in_service"] = True
    at = result.bus.reindex(eg["bus"].to_numpy())  # hold the AC-OPF's V∠θ at every slack
    eg["vm_pu"] = at["vm_pu"].fillna(1.0).to_numpy()
    eg["va_degree"] = at["va_deg"].fillna(0.0).to_numpy()
    try:
        pp.runpp(net, calculate_voltage_angles=True, init="flat", tolerance_mva=tolerance_mva)
    except pp.powerflow.LoadflowNotConverged:
        return {"verify_converged": False}
    ids = net.bus["dl_id"].to_numpy() if "dl_id" in net.bus else net.bus.index.to_numpy()
    res = net.res_bus.set_axis(ids.astype("int64")).reindex(result.bus.index)
    dvm = np.abs(res["vm_pu"].to_numpy() - result.bus["vm_pu"].to_numpy())
    dva = np.abs(res["va_degree"].to_numpy() - result.bus["va_deg"].to_numpy())
    extra = net.res_ext_grid.loc[off[off].index]
    return {
        "verify_converged": True,
        "verify_max_dvm_pu": float(np.nanmax(dvm)),
        "verify_max_dva_deg": float(np.nanmax(dva)),
        "verify_ref_mismatch_mva": float(
            np.max(np.hypot(extra["p_mw"], extra["q_mvar"]).to_numpy(), initial=0.0)
        ),
    }
