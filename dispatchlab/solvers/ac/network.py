"""The AC (π-model) network of a Case in positions, as the AC-OPF and power flows need it.

Every in-service branch k from bus f to bus t is MATPOWER's π model: an ideal transformer
N = τ·e^{jφ} at the from side, a series admittance y_s = 1/(r + jx) and half the shunt
admittance y_c = (g + jb)/2 at each end (g: pandapower's branch conductance, 0 in MATPOWER)::

    Y_ff = (y_s + y_c) / τ²       Y_ft = −y_s / conj(N)
    Y_tf = −y_s / N               Y_tt =  y_s + y_c

so that I_f = Y_ff V_f + Y_ft V_t and I_t = Y_tf V_f + Y_tt V_t, and
Ybus = C_fᵀ(Y_ff C_f + Y_ft C_t) + C_tᵀ(Y_tf C_f + Y_tt C_t) + diag(y_sh), with bus shunts
y_sh = (g_s + j b_s)/S_base plus capacitor DERs (constant susceptance). This is the model that
:func:`dispatchlab.cases.pandapower_io.to_pandapower` writes, so pandapower's ``runpp`` solves
the same equations. Zero-impedance switches are fused (their buses share one position), as
pandapower does; ISOLATED buses, out-of-service branches and elements are left out.

Injections follow pandapower's roles: loads consume ``p + jq``; pv, wind, microturbine, dg,
svc, svg, storage and flexible_load DERs inject their ``p + jq``; gens at REF/PV buses hold
|V| at the ``vm_set_pu`` of the bus's first in-service gen, gens at PQ buses inject P and Q.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

#: DER kinds whose ``p_mw + j q_mvar`` is a fixed injection (capacitors are shunts)
INJECTING_DERS = ("pv", "wind", "microturbine", "dg", "svc", "svg", "storage", "flexible_load")


@dataclass(frozen=True)
class ACNetwork:
    """Arrays of the AC model of a Case; positions 0 … n−1 index the (fused) buses."""

    base_mva: float
    bus_ids: np.ndarray  # case bus_id of each position (the first bus of a fused group)
    bus_pos: pd.Series  # every energized case bus_id -> position
    vm_min: np.ndarray
    vm_max: np.ndarray
    va0: np.ndarray  # initial / reference angle, rad
    branch_ids: np.ndarray
    f: np.ndarray
    t: np.ndarray
    yff: np.ndarray
    yft: np.ndarray
    ytf: np.ndarray
    ytt: np.ndarray
    ys: np.ndarray  # series admittance 1/(r + jx)
    tap: np.ndarray  # complex ratio N = τ·e^{jφ}
    rate_pu: np.ndarray  # rate_a / S_base (inf = unlimited)
    angmin: np.ndarray  # rad
    angmax: np.ndarray  # rad
    ysh: np.ndarray  # bus shunt admittance, p.u.
    load_bus: np.ndarray  # position of each in-service load
    load_ids: np.ndarray
    s_load: np.ndarray  # complex MVA consumed by each in-service load
    der_bus: np.ndarray  # position of each injecting in-service DER
    der_ids: np.ndarray
    s_der: np.ndarray  # complex MVA injected by each DER
    gens: pd.DataFrame  # in-service gens with column ``pos``
    ref: np.ndarray  # REF positions
    pv: np.ndarray  # positions holding |V| (not REF)
    pq: np.ndarray
    vm_set: np.ndarray  # |V| set-point per position (1.0 where none)

    @property
    def n_bus(self) -> int:
        return len(self.bus_ids)

    @property
    def n_branch(self) -> int:
        return len(self.branch_ids)

    @cached_property
    def cf(self) -> sp.csr_matrix:
        """C_f (branch × bus): 1 at each branch's from bus."""
        m = self.n_branch
        return sp.csr_matrix((np.ones(m), (np.arange(m), self.f)), shape=(m, self.n_bus))

    @cached_property
    def ct(self) -> sp.csr_matrix:
        """C_t (branch × bus): 1 at each branch's to bus."""
        m = self.n_branch
        return sp.csr_matrix((np.ones(m), (np.arange(m), self.t)), shape=(m, self.n_bus))

    @cached_property
    def ybus(self) -> sp.csr_matrix:
        """The bus admittance matrix (complex, p.u.)."""
        yf = sp.diags(self.yff) @ self.cf + sp.diags(self.yft) @ self.ct
        yt = sp.diags(self.ytf) @ self.cf + sp.diags(self.ytt) @ self.ct
        return (self.cf.T @ yf + self.ct.T @ yt + sp.diags(self.ysh)).tocsr()

    def fixed_injection_pu(self) -> np.ndarray:
        """Σ DER injections − Σ loads per position (complex p.u.), gens excluded."""
        s = np.zeros(self.n_bus, complex)
        np.add.at(s, self.der_bus, self.s_der)
        np.add.at(s, self.load_bus, -self.s_load)
        return s / self.base_mva


def ac_network(case) -> ACNetwork:
    """Build the :class:`ACNetwork` of ``case`` (see the module docstring for the model)."""
    base = float(case.base_mva)
    buses = case.buses[case.buses["bus_type"] != "ISOLATED"]
    br = case.branches
    br = br[br["in_service"] & br["from_bus"].isin(buses.index) & br["to_bus"].isin(buses.index)]
    ideal = (br["kind"] == "switch") & (br["r_pu"] == 0) & (br["x_pu"] == 0)
    bus_pos, first = _fuse(buses.index.to_numpy(), br[ideal])
    br = br[~ideal]
    rep = buses.loc[first]
    f = bus_pos.loc[br["from_bus"]].to_numpy()
    t = bus_pos.loc[br["to_bus"]].to_numpy()
    ys = 1.0 / (br["r_pu"].to_numpy() + 1j * br["x_pu"].to_numpy())
    tap = br["tap_ratio"].to_numpy() * np.exp(1j * np.deg2rad(br["shift_deg"].to_numpy()))
    bc = (br["g_pu"].to_numpy() + 1j * br["b_pu"].to_numpy()) / 2
    ysh = np.zeros(len(first), complex)
    np.add.at(ysh, bus_pos.loc[buses.index].to_numpy(), (buses["gs_mw"] + 1j * buses["bs_mvar"]))
    ders = case.ders[case.ders["in_service"] & case.ders["bus"].isin(bus_pos.index)]
    cap = ders[ders["kind"] == "capacitor"]
    np.add.at(ysh, bus_pos.loc[cap["bus"]].to_numpy(), 1j * cap["q_mvar"].to_numpy())
    inj = ders[ders["kind"].isin(INJECTING_DERS)]
    loads = case.loads[case.loads["in_service"] & case.loads["bus"].isin(bus_pos.index)]
    gens = case.gens[case.gens["in_service"] & case.gens["bus"].isin(bus_pos.index)].copy()
    gens["pos"] = bus_pos.loc[gens["bus"]].to_numpy()
    roles = _bus_roles(case, buses, bus_pos, gens, len(first))
    return ACNetwork(
        base_mva=base,
        bus_ids=np.asarray(first),
        bus_pos=bus_pos,
        # buses fused by switches share one voltage: the tightest band of the group holds
        vm_min=_group(buses["vm_min_pu"], bus_pos, len(first), np.maximum),
        vm_max=_group(buses["vm_max_pu"], bus_pos, len(first), np.minimum),
        va0=np.deg2rad(rep["va_deg"].to_numpy()),
        branch_ids=br.index.to_numpy(),
        f=f,
        t=t,
        yff=(ys + bc) / np.abs(tap) ** 2,
        yft=-ys / np.conj(tap),
        ytf=-ys / tap,
        ytt=ys + bc,
        ys=ys,
        tap=tap,
        rate_pu=br["rate_a_mva"].to_numpy() / base,
        angmin=np.deg2rad(br["angmin_deg"].to_numpy()),
        angmax=np.deg2rad(br["angmax_deg"].to_numpy()),
        ysh=ysh / base,
        load_bus=bus_pos.loc[loads["bus"]].to_numpy(),
        load_ids=loads.index.to_numpy(),
        s_load=(loads["p_mw"] + 1j * loads["q_mvar"]).to_numpy(),
        der_bus=bus_pos.loc[inj["bus"]].to_numpy(),
        der_ids=inj.index.to_numpy(),
        s_der=(inj["p_mw"] + 1j * inj["q_mvar"]).to_numpy(),
        gens=gens,
        **roles,
    )


def _group(values: pd.Series, bus_pos: pd.Series, n: int, ufunc: np.ufunc) -> np.ndarray:
    """``ufunc``-reduce a bus column over each fused position."""
    out = np.full(n, -np.inf if ufunc is np.maximum else np.inf)
    ufunc.at(out, bus_pos.loc[values.index].to_numpy(), values.to_numpy(dtype=float))
    return out


def _fuse(bus_ids: np.ndarray, switches: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
    """Positions after fusing buses joined by ideal switches; the first bus id of each group."""
    n = len(bus_ids)
    index = pd.Series(np.arange(n), index=bus_ids)
    a = index.loc[switches["from_bus"]].to_numpy()
    b = index.loc[switches["to_bus"]].to_numpy()
    graph = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    _, first_idx, pos = np.unique(label, return_index=True, return_inverse=True)
    order = np.argsort(first_idx)  # keep the case's bus order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    pos = rank[pos]
    return pd.Series(pos, index=pd.Index(bus_ids, name="bus_id")), bus_ids[np.sort(first_idx)]


def _bus_roles(case, buses: pd.DataFrame, bus_pos: pd.Series, gens: pd.DataFrame, n: int):
    """REF / PV / PQ positions and |V| set-points with pandapower's rules."""
    btype = buses["bus_type"]
    ref = np.unique(bus_pos.loc[btype.index[btype == "REF"]].to_numpy())
    vm_set = np.ones(n)
    lone = buses[btype == "REF"]
    vm_set[bus_pos.loc[lone.index].to_numpy()] = lone["vm_pu"].to_numpy()
    held = gens[btype.loc[gens["bus"]].isin(["REF", "PV"]).to_numpy()]
    first = held[~held["bus"].duplicated()]
    vm_set[first["pos"].to_numpy()] = first["vm_set_pu"].to_numpy()
    pv = np.setdiff1d(np.unique(first["pos"].to_numpy()), ref)
    pq = np.setdiff1d(np.arange(n), np.r_[ref, pv])
    return {"ref": ref, "pv": pv, "pq": pq, "vm_set": vm_set}
