"""Voltage–reactive-power sensitivity from the Newton–Raphson Jacobian of the AC power flow.

At a solved operating point the linearised power-flow equations are

    [ΔP]   [J_Pθ  J_PV] [Δθ]
    [ΔQ] = [J_Qθ  J_QV] [ΔV]

with θ over the PV and PQ buses and V over the PQ buses. Holding ΔP = 0 and eliminating Δθ
gives the voltage–reactive sensitivity used by seed002 (§3.2, "regulation" stage: the SVG is
driven by ∂V/∂Q):

    ΔV = S_VQ ΔQ,      S_VQ = (J_QV − J_Qθ J_Pθ⁻¹ J_PV)⁻¹          (p.u. per p.u.)

(Kundur, *Power System Stability and Control*, §14.3 — the reduced Q–V Jacobian; its
diagonal is the classical V–Q sensitivity of a bus). The Jacobian blocks come from
``dS/dθ`` and ``dS/d|V|`` of ``S = diag(V) conj(Ybus V)`` (MATPOWER's ``dSbus_dV``), evaluated
with pandapower's internal ``Ybus`` and voltages after ``runpp``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def jacobian_blocks(ybus: sp.spmatrix, v: np.ndarray, pvpq: np.ndarray, pq: np.ndarray) -> dict:
    """``J_Pθ``, ``J_PV``, ``J_Qθ``, ``J_QV`` (dense, p.u.) at complex voltages ``v``.

    ``dS/dθ = j diag(V) conj(diag(I) − Ybus diag(V))`` and
    ``dS/d|V| = diag(V) conj(Ybus diag(V/|V|)) + conj(diag(I)) diag(V/|V|)`` with
    ``I = Ybus V`` (Zimmerman, MATPOWER technical note 2, 2010).
    """
    ybus = sp.csr_matrix(ybus)
    i = ybus @ v
    vn = v / np.abs(v)
    d_v, d_i, d_vn = sp.diags(v), sp.diags(i), sp.diags(vn)
    ds_dva = 1j * d_v @ (d_i - ybus @ d_v).conj()
    ds_dvm = d_v @ (ybus @ d_vn).conj() + d_i.conj() @ d_vn
    ds_dva, ds_dvm = ds_dva.tocsr(), ds_dvm.tocsr()
    return {
        "P_theta": ds_dva[pvpq][:, pvpq].real.toarray(),
        "P_V": ds_dvm[pvpq][:, pq].real.toarray(),
        "Q_theta": ds_dva[pq][:, pvpq].imag.toarray(),
        "Q_V": ds_dvm[pq][:, pq].imag.toarray(),
    }


def reduced_qv(blocks: dict) -> np.ndarray:
    """``S_VQ = (J_QV − J_Qθ J_Pθ⁻¹ J_PV)⁻¹`` (PQ × PQ, p.u. voltage per p.u. reactive power)."""
    schur = blocks["Q_V"] - blocks["Q_theta"] @ np.linalg.solve(blocks["P_theta"], blocks["P_V"])
    return np.linalg.inv(schur)


def voltage_q_sensitivity(case, *, per_mvar: bool = True) -> pd.DataFrame:
    """``∂|V_i|/∂Q_j`` at the AC power-flow solution of ``case`` (``P`` injections held).

    Rows ``i`` and columns ``j`` are the Case's PQ bus ids; values are p.u. of voltage per MVAr
    of reactive injection at ``j`` (``per_mvar=False``: per p.u. on ``case.base_mva``). Buses
    that pandapower fuses (ideal switches) share a row/column.
    """
    net = _solved_net(case)
    internal = net._ppc["internal"]
    base = float(internal["baseMVA"])
    pv, pq = np.asarray(internal["pv"]), np.asarray(internal["pq"])
    pvpq = np.r_[pv, pq]
    s_vq = reduced_qv(jacobian_blocks(internal["Ybus"], internal["V"], pvpq, pq))
    if per_mvar:
        s_vq = s_vq / base
    lookup = _internal_index(net)
    buses = case.buses.index[case.buses["bus_type"] == "PQ"]
    where = pd.Series(np.arange(len(pq)), index=pq)
    rows = where.reindex(lookup.reindex(buses).to_numpy())
    keep = rows.notna().to_numpy()
    pos = rows[keep].astype(int).to_numpy()
    ids = pd.Index(buses[keep], name="bus_id")
    cols = pd.Index(buses[keep], name="q_bus_id")
    return pd.DataFrame(s_vq[np.ix_(pos, pos)], index=ids, columns=cols)


def _solved_net(case):
    """pandapower net of ``case`` after ``runpp`` with ``run_ac_powerflow``'s settings."""
    import pandapower as pp

    from dispatchlab.cases.pandapower_io import to_pandapower
    from dispatchlab.solvers.powerflow import PowerFlowError

    net = to_pandapower(case)
    try:
        pp.runpp(net, calculate_voltage_angles=True, init="flat", tolerance_mva=1e-9)
    except pp.powerflow.LoadflowNotConverged as exc:
        raise PowerFlowError(f"AC power flow of case '{case.name}' did not converge") from exc
    return net


def _internal_index(net) -> pd.Series:
    """Case bus id -> row of pandapower's internal (in-service) bus arrays."""
    ppc_of_bus = net._pd2ppc_lookups["bus"]
    internal_bus = net._ppc["internal"]["bus"][:, 0].real.astype(int)
    internal_of_ppc = pd.Series(np.arange(len(internal_bus)), index=internal_bus)
    ids = net.bus["dl_id"].astype("int64") if "dl_id" in net.bus else pd.Series(net.bus.index)
    ppc = ppc_of_bus[net.bus.index.to_numpy()]
    return pd.Series(internal_of_ppc.reindex(ppc).to_numpy(), index=ids.to_numpy())
