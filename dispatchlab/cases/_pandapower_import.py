"""A Case from a general pandapower net, built from pandapower's own data.

Branch per-unit values come from pandapower's internal conversion to its PYPOWER case (the
``ppc`` that ``runpp`` solves, T-model transformers, taps and shifts included), so transformer
models are not re-derived here. Mapping (pandapower → Case):

* ``bus`` → buses (``bus_id`` = pandapower index; out of service → ISOLATED; buses of islands
  without an in-service ``ext_grid`` / slack ``gen`` → ISOLATED, as pandapower leaves them
  unsupplied). A line or transformer end left open by a bus-branch switch is moved to a new
  auxiliary bus (id after the largest bus index), as pandapower does.
* ``line`` → branches with their pandapower index as id; ``trafo`` → transformers with ids
  after the lines (from bus = hv bus); closed bus-bus ``switch`` with ``z_ohm == 0`` → ``kind =
  "switch"`` with zero impedance (open → out of service), with ``z_ohm > 0`` → the impedance
  pandapower uses; ids after the transformers. The symmetric branch shunt stays in the
  branch (``b_pu``, ``g_pu``), the asymmetric part of the T-model becomes a bus shunt.
  Ratings only from ``max_loading_percent``, as pandapower's OPF.
* ``ext_grid`` → gens (ids 0…) at REF buses; ``gen`` → gens (ids after) at PV buses (REF if
  ``slack``); ``load`` → loads (controllable: flexible_load DERs), ``sgen`` → DERs (kind from
  ``type``), ``storage`` → storage DERs, ``shunt`` → bus ``gs_mw``/``bs_mvar``; ``scaling``
  is applied. Limits and costs with the semantics of pandapower's OPF
  (:mod:`._pandapower_injections`, :mod:`._pandapower_costs`; table in docs/case-model.md).
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pandapower as pp
import pandas as pd
import scipy.sparse as sp
from pandapower.auxiliary import _add_ppc_options
from pandapower.pd2ppc import _pd2ppc
from pandapower.pypower import idx_brch as B
from scipy.sparse.csgraph import connected_components

from dispatchlab.cases import units
from dispatchlab.cases._pandapower_costs import _opf_costs as _costs
from dispatchlab.cases._pandapower_injections import (
    _add_shunts,
    _col,
    _ders,
    _element_shunts,
    _fill_defaults,
    _gens,
    _loads,
    _names,
    _opf_voltage_limits,
)
from dispatchlab.cases._pandapower_tables import check_supported
from dispatchlab.cases.case import Case


def case_from_net(net: pp.pandapowerNet) -> Case:
    """Convert a pandapower net that was not made by ``to_pandapower``."""
    kept = check_supported(net)
    ppc, lookup = _internal_ppc(net)
    buses = _buses(net)
    branches, shunts = _branches(net, ppc, lookup, buses)
    gens = _gens(net)
    ders = _ders(net)
    _add_shunts(buses, _element_shunts(net, buses) + shunts, net.sn_mva)
    _set_bus_types(buses, net, branches)
    _opf_voltage_limits(buses, net)
    gens, ders, pwl = _costs(net, gens, ders)
    # pandapower's OPF semantics for solve(case, "acopf"): |I| branch limits, one fixed slack
    # angle per island (see docs/case-model.md)
    meta = {
        "source": "pandapower",
        "f_hz": float(net.f_hz),
        "ac_flow_limit": "current",
        "acopf_ref_angles": "first",
    }
    if kept:
        meta["pandapower_tables"] = kept
    return Case(
        str(net.name or "pandapower"),
        buses,
        branches,
        gens,
        _loads(net),
        ders=ders,
        gen_cost_pwl=pwl,
        base_mva=float(net.sn_mva),
        meta=meta,
        allow_negative_x=True,
    )


def _internal_ppc(net: pp.pandapowerNet) -> tuple[dict, dict]:
    """pandapower's full PYPOWER case of ``net`` (computed on a copy) and its lookups."""
    work = copy.deepcopy(net)
    work["_options"] = {}
    _add_ppc_options(
        work,
        calculate_voltage_angles=True,
        trafo_model="t",
        check_connectivity=False,
        mode="pf",
        switch_rx_ratio=2,
        init_vm_pu="flat",
        init_va_degree="flat",
        enforce_q_lims=False,
        enforce_p_lims=False,
        recycle=None,
        voltage_depend_loads=False,
    )
    ppc, _ = _pd2ppc(work)
    lookup = dict(work._pd2ppc_lookups)
    lookup["impedance_switches"] = net.switch.index[
        np.asarray(work.get("_impedance_bb_switches", np.zeros(len(net.switch))), dtype=bool)
    ]
    return ppc, lookup


def _zones(z: pd.Series) -> np.ndarray:
    num = pd.to_numeric(z, errors="coerce")
    if num.notna().all() and (num == num.round()).all():
        return num.to_numpy(dtype="int64")
    return pd.factorize(z.astype(str))[0] + 1


def _coords(geo: pd.Series) -> np.ndarray:
    out = np.full((len(geo), 2), np.nan)
    for k, g in enumerate(geo):
        if isinstance(g, str):
            shape = json.loads(g)
            if shape.get("type") == "Point":
                out[k] = shape["coordinates"][:2]
    return out


def _buses(net: pp.pandapowerNet) -> pd.DataFrame:
    b = net.bus
    xy = _coords(b["geo"]) if "geo" in b.columns else np.full((len(b), 2), np.nan)
    return pd.DataFrame(
        {
            "name": _names(b["name"]),
            "base_kv": b["vn_kv"].to_numpy(dtype=float),
            "bus_type": np.where(b["in_service"].astype(bool), "PQ", "ISOLATED"),
            # pandapower's OPF: a missing limit is 0 / 2 p.u. (pd2ppc, build_bus)
            "vm_min_pu": _col(b, "min_vm_pu", 0.0),
            "vm_max_pu": _col(b, "max_vm_pu", 2.0),
            "zone": _zones(b["zone"]) if "zone" in b.columns else 1,
            "x_coord": xy[:, 0],
            "y_coord": xy[:, 1],
        },
        index=pd.Index(b.index, name="bus_id"),
    )


def _branches(
    net: pp.pandapowerNet, ppc: dict, lookup: dict, buses: pd.DataFrame
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Lines, transformers and switches; also the branch shunt parts as bus shunts."""
    sw = net.switch[net.switch["et"] == "b"] if len(net.switch) else net.switch
    imp = sw.loc[lookup["impedance_switches"]] if len(sw) else sw
    specs = [
        ("line", net.line, "from_bus", "to_bus"),
        ("trafo", net.trafo, "hv_bus", "lv_bus"),
        ("switch", imp, "bus", "element"),
    ]
    parts, shunts, next_id = [], [], 0
    bus_live = buses["bus_type"] != "ISOLATED"
    for element, df, fcol, tcol in specs:
        if df.empty:
            continue
        s, e = lookup["branch"][element]
        part, sh = _ppc_rows(
            net,
            ppc["branch"][s:e].real,
            df[fcol].to_numpy(),
            df[tcol].to_numpy(),
            lookup["bus"],
            buses,
            element,
        )
        part["in_service"] &= bus_live.reindex(part["from_bus"], fill_value=True).to_numpy()
        part["in_service"] &= bus_live.reindex(part["to_bus"], fill_value=True).to_numpy()
        _describe(part, df, element, net)
        ids = df.index if element == "line" else np.arange(len(df)) + next_id
        parts.append(part.set_axis(pd.Index(ids, name="branch_id")))
        shunts += sh
        next_id = int(parts[-1].index.max()) + 1
    fused = sw[~sw.index.isin(imp.index)] if len(sw) else sw
    if len(fused):
        parts.append(
            pd.DataFrame(
                {
                    "from_bus": fused["bus"].to_numpy(),
                    "to_bus": fused["element"].to_numpy(),
                    "kind": "switch",
                    "r_pu": 0.0,
                    "x_pu": 0.0,
                    "name": _names(fused["name"]),
                    "in_service": fused["closed"].astype(bool).to_numpy(),
                },
                index=pd.Index(np.arange(len(fused)) + next_id, name="branch_id"),
            )
        )
    return (_fill_defaults(pd.concat(parts)) if parts else None), shunts


def _ppc_rows(
    net: pp.pandapowerNet,
    rows: np.ndarray,
    fb: np.ndarray,
    tb: np.ndarray,
    bus_lookup: np.ndarray,
    buses: pd.DataFrame,
    element: str,
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Branch table from pandapower's ppc rows; ends on auxiliary ppc buses get new buses."""
    if (rows[:, B.BR_R_ASYM] != 0).any() or (rows[:, B.BR_X_ASYM] != 0).any():
        raise ValueError(f"pandapower {element}: asymmetric series impedance not representable")
    f = _aux_ends(rows[:, B.F_BUS].astype(int), fb, bus_lookup, buses)
    t = _aux_ends(rows[:, B.T_BUS].astype(int), tb, bus_lookup, buses)
    tap = np.where(rows[:, B.TAP] == 0, 1.0, rows[:, B.TAP])
    g_asym, b_asym = rows[:, B.BR_G_ASYM], rows[:, B.BR_B_ASYM]
    part = pd.DataFrame(
        {
            "from_bus": f,
            "to_bus": t,
            "r_pu": rows[:, B.BR_R],
            "x_pu": rows[:, B.BR_X],
            "b_pu": rows[:, B.BR_B],
            "g_pu": rows[:, B.BR_G],
            "tap_ratio": tap,
            "shift_deg": rows[:, B.SHIFT],
            "in_service": True,
        }
    )
    base = float(net.sn_mva)
    # the symmetric conductance stays in the branch (pandapower's OPF limits |I| with it);
    # only the asymmetric T-model part goes to the to-bus shunt
    shunts = [pd.DataFrame({"bus": t, "gs_mw": g_asym / 2 * base, "bs_mvar": b_asym / 2 * base})]
    return part, shunts


def _aux_ends(
    ppc_bus: np.ndarray, pp_bus: np.ndarray, bus_lookup: np.ndarray, buses: pd.DataFrame
) -> np.ndarray:
    """pandapower bus ids of branch ends; an end on an auxiliary ppc bus (open switch) gets a
    new Case bus appended to ``buses``."""
    out = pp_bus.astype("int64").copy()
    for k in np.flatnonzero(ppc_bus != bus_lookup[pp_bus]):
        new = int(buses.index.max()) + 1
        buses.loc[new] = buses.loc[pp_bus[k]]
        buses.loc[new, ["name", "x_coord", "y_coord"]] = [f"aux of bus {pp_bus[k]}", np.nan, np.nan]
        out[k] = new
    return out


def _describe(part: pd.DataFrame, df: pd.DataFrame, element: str, net: pp.pandapowerNet) -> None:
    """Kind, name, status, rating, length and tap range of the branches from ``df``."""
    part["kind"] = {"line": "line", "trafo": "transformer", "switch": "switch"}[element]
    part["name"] = _names(df["name"])
    state = "closed" if element == "switch" else "in_service"
    part["in_service"] &= df[state].astype(bool).to_numpy()
    # pandapower's OPF rates a branch only where max_loading_percent is given (pd2ppc's RATE_A;
    # a transformer's sn_mva alone is no thermal limit): lines max_i_ka·√3·vn_kv(from bus),
    # transformers sn_mva, both times max_loading_percent/100 · df · parallel
    share = _col(df, "df", 1.0) * _col(df, "parallel", 1.0)
    share = share * _col(df, "max_loading_percent", np.inf) / 100
    if element == "line":
        kv = net.bus["vn_kv"].loc[df["from_bus"]].to_numpy()
        rate = units.ka_to_mva(_unless_max(_col(df, "max_i_ka", np.inf)) * share, kv)
        part["length_km"] = df["length_km"].to_numpy(dtype=float)
    elif element == "trafo":
        rate = _unless_max(_col(df, "sn_mva", np.inf), trafo=True) * share
        part[["tap_min", "tap_max", "tap_steps"]] = _tap_range(df, part["tap_ratio"].to_numpy())
    else:
        rate = np.full(len(df), np.inf)
    part["rate_a_mva"] = np.where(rate > 0, rate, np.inf)
    part[["rate_b_mva", "rate_c_mva"]] = np.inf


#: what pandapower's ``from_ppc`` writes as max_i_ka / sn_mva for a MATPOWER rate_a of 0
MAX_VAL = 99999.0
#: the same placeholder in kVA, as older converted nets carry it (pegase9241: 1 780 trafos)
MAX_VAL_KVA_AS_MVA = 99.999


def _unless_max(value: np.ndarray, trafo: bool = False) -> np.ndarray:
    """inf where pandapower's ``MAX_VAL`` stands for "no rating" (``from_ppc`` writes it for a
    MATPOWER rate_a of 0, which MATPOWER leaves unlimited)."""
    placeholder = value >= MAX_VAL
    if trafo:
        placeholder |= np.isclose(value, MAX_VAL_KVA_AS_MVA, rtol=0, atol=1e-9)
    return np.where(placeholder, np.inf, value)


def _tap_range(tr: pd.DataFrame, ratio: np.ndarray) -> np.ndarray:
    """Lowest and highest ratio and number of positions of each OLTC (fixed: ratio, ratio, 0)."""
    step = _col(tr, "tap_step_percent", 0.0) / 100
    lo, hi = _col(tr, "tap_min", np.nan), _col(tr, "tap_max", np.nan)
    pos, neutral = _col(tr, "tap_pos", 0.0), _col(tr, "tap_neutral", 0.0)
    sign = np.where(tr["tap_side"].astype(str).to_numpy() == "lv", -1.0, 1.0)
    oltc = tr["tap_changer_type"].notna().to_numpy() & (step != 0) & np.isfinite(lo + hi)

    def at(n: np.ndarray) -> np.ndarray:
        factor = (1 + (n - neutral) * step) / (1 + (pos - neutral) * step)
        return ratio * factor**sign

    a, b = at(np.nan_to_num(lo)), at(np.nan_to_num(hi))
    return np.c_[
        np.where(oltc, np.minimum(a, b), ratio),
        np.where(oltc, np.maximum(a, b), ratio),
        np.where(oltc, np.nan_to_num(hi - lo) + 1, 0),
    ]


def _set_bus_types(buses: pd.DataFrame, net: pp.pandapowerNet, branches: pd.DataFrame) -> None:
    """PV at in-service gens, REF at in-service ext_grids / slack gens, ISOLATED where no slack
    can be reached; set-points and the slack angle become the buses' ``vm_pu``/``va_deg``."""
    live = buses["bus_type"] != "ISOLATED"
    buses["vm_pu"], buses["va_deg"] = 1.0, 0.0
    g = net.gen[net.gen["in_service"].astype(bool)]
    eg = net.ext_grid[net.ext_grid["in_service"].astype(bool)]
    buses.loc[g["bus"], "vm_pu"] = g["vm_pu"].to_numpy(float)
    buses.loc[g["bus"], "bus_type"] = "PV"
    slack = g[_col(g, "slack", 0.0).astype(bool)]
    buses.loc[slack["bus"], "bus_type"] = "REF"
    buses.loc[eg["bus"], ["vm_pu", "va_deg"]] = eg[["vm_pu", "va_degree"]].to_numpy(float)
    buses.loc[eg["bus"], "bus_type"] = "REF"
    buses.loc[~live, "bus_type"] = "ISOLATED"
    _isolate_unsupplied(buses, branches)


def _isolate_unsupplied(buses: pd.DataFrame, branches: pd.DataFrame | None) -> None:
    pos = pd.Series(np.arange(len(buses)), index=buses.index)
    br = (
        branches[branches["in_service"]]
        if branches is not None
        else pd.DataFrame({"from_bus": [], "to_bus": []}, dtype="int64")
    )
    i, j = pos[br["from_bus"]].to_numpy(), pos[br["to_bus"]].to_numpy()
    graph = sp.coo_matrix((np.ones(len(i)), (i, j)), shape=(len(buses), len(buses)))
    _, label = connected_components(graph, directed=False)
    supplied = np.unique(label[(buses["bus_type"] == "REF").to_numpy()])
    buses.loc[~np.isin(label, supplied), "bus_type"] = "ISOLATED"
