"""Case → pandapower elements (used by :func:`dispatchlab.cases.pandapower_io.to_pandapower`).

Every Case row is created as a pandapower element and tagged with ``dl_table``, ``dl_id``,
``dl_pos`` and a ``dl_<column>`` copy of each of its Case columns; the mapping is described in
:mod:`dispatchlab.cases.pandapower_io`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np
import pandapower as pp
import pandas as pd

from dispatchlab.cases import units
from dispatchlab.cases.case import Case
from dispatchlab.cases.schema import TABLES

SGEN_TYPES = {
    "pv": "PV",
    "wind": "WP",
    "microturbine": "MT",
    "dg": "DG",
    "svc": "SVC",
    "svg": "SVG",
}

Tags = dict[str, list[pd.DataFrame]]


def export_elements(net: pp.pandapowerNet, case: Case) -> None:
    """Create the elements of ``case`` in the empty ``net`` and tag them (``dl_`` columns)."""
    tags: Tags = defaultdict(list)
    _export_buses(net, case, tags)
    _export_branches(net, case, tags)
    _export_gens(net, case, tags)
    _export_loads(net, case, tags)
    _export_ders(net, case, tags)
    for element, frames in tags.items():
        extra = pd.concat(frames).reindex(net[element].index)
        net[element] = pd.concat([net[element], extra], axis=1)


def _tag(
    tags: Tags, element: str, idx: Any, table: str, df: pd.DataFrame | None, ids: Any = None
) -> None:
    """Remember the Case rows ``df`` of ``table`` that became pandapower rows ``idx``."""
    idx = np.asarray(idx, dtype="int64")
    cols: dict[str, Any] = {"dl_table": table}
    if df is not None:
        cols["dl_id"] = df.index.to_numpy()
        cols["dl_pos"] = df["_pos"].to_numpy()
        cols.update({f"dl_{c}": df[c].to_numpy() for c in TABLES[table][1]})
    elif ids is not None:
        cols["dl_id"] = np.asarray(ids)
    tags[element].append(pd.DataFrame(cols, index=pd.Index(idx)))


def _with_pos(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(_pos=np.arange(len(df)))


def _export_buses(net: pp.pandapowerNet, case: Case, tags: Tags) -> None:
    b = _with_pos(case.buses)
    idx = pp.create_buses(
        net,
        len(b),
        vn_kv=b["base_kv"].to_numpy(),
        name=b["name"].to_numpy(),
        type="b",
        index=b.index.to_numpy(),
        zone=b["zone"].to_numpy(),
        in_service=(b["bus_type"] != "ISOLATED").to_numpy(),
        max_vm_pu=b["vm_max_pu"].to_numpy(),
        min_vm_pu=b["vm_min_pu"].to_numpy(),
    )
    xy = b[["x_coord", "y_coord"]].to_numpy()
    for i, (x, y) in zip(idx, xy, strict=True):
        if np.isfinite(x) and np.isfinite(y):
            net.bus.at[i, "geo"] = json.dumps({"coordinates": [x, y], "type": "Point"})
    _tag(tags, "bus", idx, "buses", b)
    sh = b[(b["gs_mw"] != 0) | (b["bs_mvar"] != 0)]
    if len(sh):
        sidx = pp.create_shunts(
            net,
            sh.index.to_numpy(),
            q_mvar=-sh["bs_mvar"].to_numpy(),
            p_mw=sh["gs_mw"].to_numpy(),
            vn_kv=sh["base_kv"].to_numpy(),
        )
        _tag(tags, "shunt", sidx, "bus_shunt", None, ids=sh.index)


def _branch_roles(case: Case) -> pd.Series:
    """``switch``, ``line`` or ``trafo``: the pandapower element of each branch."""
    br, kv = case.branches, case.buses["base_kv"]
    plain = (br["tap_ratio"] == 1.0) & (br["shift_deg"] == 0.0)
    same_kv = kv.loc[br["from_bus"]].to_numpy() == kv.loc[br["to_bus"]].to_numpy()
    ideal = (br["kind"] == "switch") & (br["r_pu"] == 0) & (br["x_pu"] == 0)
    if (ideal & ~plain).any():
        raise ValueError(
            f"branches {list(br.index[ideal & ~plain])}: zero-impedance switch with "
            "a tap ratio or phase shift cannot be written to pandapower"
        )
    line = ~ideal & br["kind"].isin(["line", "switch"]) & plain & same_kv
    return pd.Series(np.where(ideal, "switch", np.where(line, "line", "trafo")), index=br.index)


def _export_branches(net: pp.pandapowerNet, case: Case, tags: Tags) -> None:
    br = _with_pos(case.branches)
    role = _branch_roles(case)
    kv = case.buses["base_kv"]
    br["kv_f"] = kv.loc[br["from_bus"]].to_numpy()
    br["kv_t"] = kv.loc[br["to_bus"]].to_numpy()
    for name, fn in (
        ("line", _export_lines),
        ("trafo", _export_trafos),
        ("switch", _export_switches),
    ):
        part = br[role == name]
        if len(part):
            _tag(tags, name, fn(net, part, case.base_mva), "branches", part)
    charged = br[(role != "line") & ((br["b_pu"] != 0) | (br["g_pu"] != 0))]
    if len(charged):
        half = (charged["g_pu"] + 1j * charged["b_pu"]).to_numpy() / 2 * case.base_mva
        buses = np.r_[charged["from_bus"], charged["to_bus"]]
        s = np.r_[half / charged["tap_ratio"].to_numpy() ** 2, half]
        idx = pp.create_shunts(
            net,
            buses,
            q_mvar=-s.imag,
            p_mw=s.real,
            vn_kv=np.r_[charged["kv_f"], charged["kv_t"]],
            in_service=np.r_[charged["in_service"], charged["in_service"]],
        )
        _tag(tags, "shunt", idx, "charging", None, ids=np.r_[charged.index, charged.index])


def _export_lines(net: pp.pandapowerNet, br: pd.DataFrame, base_mva: float) -> np.ndarray:
    length = br["length_km"].to_numpy()
    length = np.where(np.isfinite(length) & (length > 0), length, 1.0)
    kv = br["kv_f"].to_numpy()
    return pp.create_lines_from_parameters(
        net,
        br["from_bus"].to_numpy(),
        br["to_bus"].to_numpy(),
        length_km=length,
        r_ohm_per_km=units.pu_to_ohm(br["r_pu"], kv, base_mva) / length,
        x_ohm_per_km=units.pu_to_ohm(br["x_pu"], kv, base_mva) / length,
        c_nf_per_km=units.b_pu_to_nf(br["b_pu"], kv, base_mva, net.f_hz) / length,
        # an unrated line gets pandapower's own "no rating" value (from_ppc's 99 999 kA, read
        # back as unlimited), not inf: inf × max_loading_percent 0 is NaN in pandapower's ppc
        max_i_ka=np.where(
            np.isfinite(br["rate_a_mva"]), units.mva_to_ka(br["rate_a_mva"], kv), NO_RATING_KA
        ),
        name=br["name"].to_numpy(),
        index=br.index.to_numpy(),
        in_service=br["in_service"].to_numpy(),
        g_us_per_km=units.pu_to_siemens(br["g_pu"], kv, base_mva) * 1e6 / length,
        max_loading_percent=_loading(br),
    )


def _export_trafos(net: pp.pandapowerNet, br: pd.DataFrame, base_mva: float) -> np.ndarray:
    rate = br["rate_a_mva"].to_numpy()
    sn = np.where(np.isfinite(rate), rate, base_mva)
    r, x = br["r_pu"].to_numpy(), br["x_pu"].to_numpy()
    return pp.create_transformers_from_parameters(
        net,
        br["from_bus"].to_numpy(),
        br["to_bus"].to_numpy(),
        sn_mva=sn,
        vn_hv_kv=br["kv_f"].to_numpy(),
        vn_lv_kv=br["kv_t"].to_numpy(),
        vkr_percent=r * sn * 100 / base_mva,
        vk_percent=np.sign(x) * np.hypot(r, x) * sn * 100 / base_mva,
        pfe_kw=0.0,
        i0_percent=0.0,
        shift_degree=br["shift_deg"].to_numpy(),
        tap_side="hv",
        tap_neutral=0,
        tap_pos=1,
        tap_min=0,
        tap_max=1,
        tap_changer_type="Ratio",
        tap_step_percent=(br["tap_ratio"].to_numpy() - 1.0) * 100,
        name=br["name"].to_numpy(),
        index=br.index.to_numpy(),
        in_service=br["in_service"].to_numpy(),
        max_loading_percent=_loading(br),
    )


#: pandapower's ``from_ppc`` value for an unrated line (``_pandapower_import.MAX_VAL``)
NO_RATING_KA = 99999.0


def _loading(br: pd.DataFrame) -> np.ndarray:
    """100 % where the branch is rated, 0 (pandapower's OPF: no limit) where it is not."""
    return np.where(np.isfinite(br["rate_a_mva"].to_numpy()), 100.0, 0.0)


def _export_switches(net: pp.pandapowerNet, br: pd.DataFrame, base_mva: float) -> np.ndarray:
    return pp.create_switches(
        net,
        br["from_bus"].to_numpy(),
        br["to_bus"].to_numpy(),
        et="b",
        closed=br["in_service"].to_numpy(),
        name=br["name"].to_numpy(),
        z_ohm=0.0,
        index=br.index.to_numpy(),
    )


def _gen_roles(case: Case) -> tuple[pd.Series, pd.Series]:
    """Each gen's element (ext_grid, gen, sgen) and the voltage set-point of its bus."""
    g, bus_type = case.gens, case.buses["bus_type"]
    first = g.assign(_off=~g["in_service"]).sort_values("_off", kind="stable")
    first = first[~first["bus"].duplicated()]
    vm_of_bus = pd.Series(first["vm_set_pu"].to_numpy(), index=first["bus"].to_numpy())
    btype = bus_type.loc[g["bus"]].to_numpy()
    role = np.where(np.isin(btype, ["REF", "PV"]), "gen", "sgen").astype(object)
    role[g.index.isin(first.index) & (btype == "REF")] = "ext_grid"
    return pd.Series(role, index=g.index), pd.Series(vm_of_bus.loc[g["bus"]].to_numpy(), g.index)


def _gen_fields(d: pd.DataFrame) -> dict[str, np.ndarray]:
    """Limits, name, index and status of Case gens as pandapower arguments."""
    return dict(
        max_p_mw=d["p_max_mw"].to_numpy(),
        min_p_mw=d["p_min_mw"].to_numpy(),
        max_q_mvar=d["q_max_mvar"].to_numpy(),
        min_q_mvar=d["q_min_mvar"].to_numpy(),
        name=d["name"].to_numpy(),
        index=d.index.to_numpy(),
        in_service=d["in_service"].to_numpy(),
    )


def _export_gens(net: pp.pandapowerNet, case: Case, tags: Tags) -> None:
    g = _with_pos(case.gens)
    role, vm = _gen_roles(case)
    va = case.buses["va_deg"]
    eg = g[role == "ext_grid"]
    idx = [
        pp.create_ext_grid(
            net,
            r.bus,
            vm_pu=r.vm_set_pu,
            va_degree=va.at[r.bus],
            **{k: v[i] for k, v in _gen_fields(eg).items()},
        )
        for i, r in enumerate(eg.itertuples())
    ]
    _tag(tags, "ext_grid", idx, "gens", eg)
    gg = g[role == "gen"]
    idx = pp.create_gens(
        net,
        gg["bus"].to_numpy(),
        p_mw=gg["p_mw"].to_numpy(),
        vm_pu=vm[gg.index].to_numpy(),
        controllable=True,
        **_gen_fields(gg),
    )
    _tag(tags, "gen", idx, "gens", gg)
    sg = g[role == "sgen"]
    idx = pp.create_sgens(
        net,
        sg["bus"].to_numpy(),
        p_mw=sg["p_mw"].to_numpy(),
        q_mvar=sg["q_mvar"].to_numpy(),
        controllable=True,
        **{**_gen_fields(sg), "index": None},
    )
    _tag(tags, "sgen", idx, "gens", sg)
    elements = pd.DataFrame(
        {
            "et": np.r_[["ext_grid"] * len(eg), ["gen"] * len(gg), ["sgen"] * len(sg)],
            "el": np.r_[eg.index, gg.index, np.asarray(idx, dtype="int64")],
        },
        index=np.r_[eg.index, gg.index, sg.index],
    )
    _export_costs(net, case, elements)
    _export_synthetic_slacks(net, case, g, tags)


def _export_synthetic_slacks(
    net: pp.pandapowerNet, case: Case, g: pd.DataFrame, tags: Tags
) -> None:
    b = case.buses
    lone = b[(b["bus_type"] == "REF") & ~b.index.isin(g["bus"])]
    idx = [
        pp.create_ext_grid(net, i, vm_pu=r.vm_pu, va_degree=r.va_deg)
        for i, r in zip(lone.index, lone.itertuples(), strict=True)
    ]
    if idx:
        _tag(tags, "ext_grid", idx, "synthetic", None, ids=lone.index)


def _export_costs(net: pp.pandapowerNet, case: Case, elements: pd.DataFrame) -> None:
    """Generator costs as pandapower ``poly_cost`` / ``pwl_cost`` (currency label aside)."""
    g, pwl = case.gens, case.gen_cost_pwl
    for gid, row in g.iterrows():
        et, el = elements.at[gid, "et"], int(elements.at[gid, "el"])
        if row["cost_model"] == "poly":
            pp.create_poly_cost(
                net,
                el,
                et,
                cp1_eur_per_mw=row["cost_c1_usd_per_mwh"],
                cp0_eur=row["cost_c0_usd_per_h"],
                cp2_eur_per_mw2=row["cost_c2_usd_per_mw2h"],
            )
            continue
        _export_pwl(net, pwl[pwl["power"] == "p"], gid, el, et, "p")
    for gid in pwl.loc[pwl["power"] == "q", "gen_id"].unique():
        el, et = int(elements.at[gid, "el"]), elements.at[gid, "et"]
        _export_pwl(net, pwl[pwl["power"] == "q"], gid, el, et, "q")


def _export_pwl(net: pp.pandapowerNet, pwl: pd.DataFrame, gid, el: int, et: str, power: str):
    """One gen's breakpoints as a pandapower ``pwl_cost`` (slopes per segment); a Q cost beside a
    poly P cost skips pandapower's one-cost-per-element guard (its OPF takes both)."""
    pts = pwl[pwl["gen_id"] == gid].sort_values("point")
    p, c = pts["p_mw"].to_numpy(), pts["cost_usd_per_h"].to_numpy()
    slopes = np.diff(c) / np.diff(p)
    points = [[p[k], p[k + 1], slopes[k]] for k in range(len(slopes))]
    pp.create_pwl_cost(net, el, et, points, power_type=power, check=power == "p")


def _injection(x: pd.DataFrame, sign: float = 1.0) -> dict[str, np.ndarray]:
    """P, Q (times ``sign``), name and status of Case rows as pandapower arguments."""
    return dict(
        p_mw=sign * x["p_mw"].to_numpy(),
        q_mvar=sign * x["q_mvar"].to_numpy(),
        name=x["name"].to_numpy(),
        in_service=x["in_service"].to_numpy(),
    )


def _export_loads(net: pp.pandapowerNet, case: Case, tags: Tags) -> None:
    ld = _with_pos(case.loads)
    idx = pp.create_loads(
        net,
        ld["bus"].to_numpy(),
        p_mw=ld["p_mw"].to_numpy(),
        q_mvar=ld["q_mvar"].to_numpy(),
        name=ld["name"].to_numpy(),
        index=ld.index.to_numpy(),
        in_service=ld["in_service"].to_numpy(),
    )
    _tag(tags, "load", idx, "loads", ld)


def _export_ders(net: pp.pandapowerNet, case: Case, tags: Tags) -> None:
    """DERs: sgen, storage, controllable load or shunt by kind (see the module docstring)."""
    d = _with_pos(case.ders)
    sg = d[d["kind"].isin(list(SGEN_TYPES))]
    s_max = sg["s_max_mva"].to_numpy()
    idx = pp.create_sgens(
        net,
        sg["bus"].to_numpy(),
        type=sg["kind"].map(SGEN_TYPES).to_numpy(),
        max_p_mw=sg["p_max_mw"].to_numpy(),
        min_p_mw=sg["p_min_mw"].to_numpy(),
        max_q_mvar=sg["q_max_mvar"].to_numpy(),
        controllable=True,
        min_q_mvar=sg["q_min_mvar"].to_numpy(),
        sn_mva=np.where(np.isfinite(s_max), s_max, np.nan),
        **_injection(sg),
    )
    _tag(tags, "sgen", idx, "ders", sg)
    st = d[d["kind"] == "storage"]
    e_max = st["e_max_mwh"].to_numpy()
    soc = np.divide(
        100 * st["e_init_mwh"].to_numpy(), e_max, out=np.zeros(len(st)), where=e_max > 0
    )
    idx = pp.create_storages(
        net,
        st["bus"].to_numpy(),
        max_e_mwh=e_max,
        soc_percent=soc,
        min_e_mwh=st["e_min_mwh"].to_numpy(),
        controllable=True,
        max_p_mw=-st["p_min_mw"].to_numpy(),
        min_p_mw=-st["p_max_mw"].to_numpy(),
        **_injection(st, -1.0),
    )
    _tag(tags, "storage", idx, "ders", st)
    fl = d[d["kind"] == "flexible_load"]
    idx = pp.create_loads(net, fl["bus"].to_numpy(), controllable=True, **_injection(fl, -1.0))
    _tag(tags, "load", idx, "ders", fl)
    cap = d[d["kind"] == "capacitor"]
    kv = case.buses["base_kv"].loc[cap["bus"]].to_numpy()
    idx = pp.create_shunts(
        net,
        cap["bus"].to_numpy(),
        q_mvar=-cap["q_mvar"].to_numpy(),
        p_mw=0.0,
        vn_kv=kv,
        name=cap["name"].to_numpy(),
        in_service=cap["in_service"].to_numpy(),
    )
    _tag(tags, "shunt", idx, "ders", cap)
