"""pandapower injections and costs → Case gens, loads, DERs and bus shunts (helpers of
:mod:`dispatchlab.cases._pandapower_import`; mapping described there)."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandas as pd

from dispatchlab.cases.schema import BRANCH_COLUMNS, DER_COLUMNS, Column

#: P limit of an element that gives none (pandapower's OPF uses 1e9; a Case needs finite
#: generator limits).
UNLIMITED_P_MW = 1e5
SGEN_KINDS = {
    "pv": "pv",
    "wp": "wind",
    "wind": "wind",
    "mt": "microturbine",
    "microturbine": "microturbine",
    "svc": "svc",
    "svg": "svg",
}


def _names(s: pd.Series) -> np.ndarray:
    return s.astype(object).where(s.notna(), "").astype(str).to_numpy()


def _col(df: pd.DataFrame, name: str, default: float) -> np.ndarray:
    """A float column of a pandapower table, ``default`` where missing or NaN."""
    if name not in df.columns:
        return np.full(len(df), default)
    v = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(v), default, v)


def _fill_defaults(df: pd.DataFrame, columns: dict[str, Column] = BRANCH_COLUMNS) -> pd.DataFrame:
    """Schema defaults where a source had no value (lines have no tap range, sgens no energy)."""
    for name, col in columns.items():
        if name in df.columns and col.default is not None and not col.nullable:
            df[name] = df[name].fillna(col.default)
    return df


def _gens(net: pp.pandapowerNet) -> pd.DataFrame:
    """ext_grids then gens, with pandapower's OPF limits: a missing P limit is
    ±:data:`UNLIMITED_P_MW`, a missing Q limit ±inf; a non-controllable gen holds its ``p_mw``."""
    eg, g = net.ext_grid, net.gen
    frames = []
    for df, is_eg in ((eg, True), (g, False)):
        p = np.zeros(len(df)) if is_eg else df["p_mw"].to_numpy(float) * _col(df, "scaling", 1)
        fixed = np.zeros(len(df), bool) if is_eg else ~_flag(df, "controllable", True)
        frames.append(
            pd.DataFrame(
                {
                    "name": _names(df["name"]),
                    "bus": df["bus"].to_numpy(),
                    "p_mw": p,
                    "p_max_mw": np.where(fixed, p, _col(df, "max_p_mw", UNLIMITED_P_MW)),
                    "p_min_mw": np.where(fixed, p, _col(df, "min_p_mw", -UNLIMITED_P_MW)),
                    "q_max_mvar": _col(df, "max_q_mvar", np.inf),
                    "q_min_mvar": _col(df, "min_q_mvar", -np.inf),
                    "vm_set_pu": df["vm_pu"].to_numpy(float),
                    "in_service": df["in_service"].astype(bool).to_numpy(),
                    "_et": "ext_grid" if is_eg else "gen",
                    "_el": df.index.to_numpy(),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.index.name = "gen_id"
    return out


def _loads(net: pp.pandapowerNet) -> pd.DataFrame:
    """The non-controllable loads (controllable ones are flexible_load DERs)."""
    ld = net.load[~_flag(net.load, "controllable", False)]
    scale = _col(ld, "scaling", 1.0)
    return pd.DataFrame(
        {
            "name": _names(ld["name"]),
            "bus": ld["bus"].to_numpy(),
            "p_mw": ld["p_mw"].to_numpy(float) * scale,
            "q_mvar": ld["q_mvar"].to_numpy(float) * scale,
            "in_service": ld["in_service"].astype(bool).to_numpy(),
        },
        index=pd.Index(ld.index, name="load_id"),
    )


def _ders(net: pp.pandapowerNet) -> pd.DataFrame:
    """sgens, storage, then controllable loads as DERs (injection sign: storage and loads
    count negative when they consume). A controllable element's ranges are pandapower's
    ``min/max_p_mw`` and ``min/max_q_mvar`` (missing: ±:data:`UNLIMITED_P_MW`),
    as its OPF builds them (build_gen._build_pp_pq_element); others are fixed injections."""
    flex = net.load[_flag(net.load, "controllable", False)]
    parts = [(net.sgen, 1.0, "sgen"), (net.storage, -1.0, "storage"), (flex, -1.0, "load")]
    frames = [_der_frame(df, sign, et) for df, sign, et in parts]
    out = _fill_defaults(pd.concat(frames, ignore_index=True), DER_COLUMNS)
    ids, start = [], 0
    for df, _, _ in parts:
        ids.append(df.index.to_numpy() if start == 0 else np.arange(len(df)) + start)
        start = max(start, int(ids[-1].max()) + 1 if len(df) else start)
    out.index = pd.Index(np.concatenate(ids).astype("int64"), name="der_id")
    return out


def _der_frame(df: pd.DataFrame, sign: float, et: str) -> pd.DataFrame:
    scale = _col(df, "scaling", 1.0) * sign
    p, q = df["p_mw"].to_numpy(float) * scale, df["q_mvar"].to_numpy(float) * scale
    lo, hi = ("max_", "min_") if sign < 0 else ("min_", "max_")
    big = {"p_mw": UNLIMITED_P_MW, "q_mvar": UNLIMITED_P_MW}  # a DER needs finite limits
    fixed = ~_flag(df, "controllable", False)
    ranges = {}
    for quantity, value in (("p_mw", p), ("q_mvar", q)):
        low = sign * _col(df, lo + quantity, -sign * big[quantity])
        high = sign * _col(df, hi + quantity, sign * big[quantity])
        ranges[quantity] = (np.where(fixed, value, low), np.where(fixed, value, high))
    kinds = {"sgen": None, "storage": "storage", "load": "flexible_load"}[et]
    frame = pd.DataFrame(
        {
            "name": _names(df["name"]),
            "bus": df["bus"].to_numpy(),
            "kind": kinds or df["type"].astype(str).str.lower().map(SGEN_KINDS).fillna("dg"),
            "p_mw": p,
            "q_mvar": q,
            "p_min_mw": ranges["p_mw"][0],
            "p_max_mw": ranges["p_mw"][1],
            "q_min_mvar": ranges["q_mvar"][0],
            "q_max_mvar": ranges["q_mvar"][1],
            # pandapower's OPF does not limit an sgen's apparent power by its sn_mva
            "s_max_mva": np.inf,
            "in_service": df["in_service"].astype(bool).to_numpy(),
            "_et": et,
            "_el": df.index.to_numpy(),
            "_fixed": fixed,
        }
    )
    if et == "storage":
        _storage_energy(frame, df)
    return frame


def _flag(df: pd.DataFrame, name: str, default: bool) -> np.ndarray:
    """A boolean column of a pandapower table (absent or NaN = ``default``)."""
    if name not in df:
        return np.full(len(df), default)
    return df[name].astype("boolean").fillna(default).to_numpy(dtype=bool)


def _storage_energy(frame: pd.DataFrame, st: pd.DataFrame) -> None:
    e_max = np.maximum(_col(st, "max_e_mwh", 0.0), 0.0)
    e_min = np.clip(_col(st, "min_e_mwh", 0.0), 0.0, e_max)
    frame["e_max_mwh"], frame["e_min_mwh"] = e_max, e_min
    frame["e_init_mwh"] = np.clip(_col(st, "soc_percent", 0.0) / 100 * e_max, e_min, e_max)


def _element_shunts(net: pp.pandapowerNet, buses: pd.DataFrame) -> list[pd.DataFrame]:
    sh = net.shunt[net.shunt["in_service"].astype(bool)]
    ratio = (buses["base_kv"].loc[sh["bus"]].to_numpy() / sh["vn_kv"].to_numpy(float)) ** 2
    step = _col(sh, "step", 1.0) * ratio
    return [
        pd.DataFrame(
            {
                "bus": sh["bus"].to_numpy(),
                "gs_mw": sh["p_mw"].to_numpy() * step,
                "bs_mvar": -sh["q_mvar"].to_numpy() * step,
            }
        )
    ]


def _add_shunts(buses: pd.DataFrame, shunts: list[pd.DataFrame], base_mva: float) -> None:
    total = pd.concat(shunts).groupby("bus")[["gs_mw", "bs_mvar"]].sum()
    total = total.reindex(buses.index, fill_value=0.0)
    buses["gs_mw"], buses["bs_mvar"] = total["gs_mw"], total["bs_mvar"]


def _opf_voltage_limits(buses: pd.DataFrame, net: pp.pandapowerNet) -> None:
    """pandapower's OPF voltage rules (build_gen): a non-controllable ext_grid or gen holds its
    ``vm_pu`` (the bus band shrinks to it), a gen's ``min/max_vm_pu`` narrows its bus's band."""
    eg = net.ext_grid[net.ext_grid["in_service"].astype(bool)]
    fixed = eg[~_flag(eg, "controllable", False)]
    g = net.gen[net.gen["in_service"].astype(bool)]
    for col, pick in (("max_vm_pu", np.minimum), ("min_vm_pu", np.maximum)):
        lim = _col(g, col, np.nan)
        key = "vm_max_pu" if col == "max_vm_pu" else "vm_min_pu"
        at = g["bus"].to_numpy()[~np.isnan(lim)]
        buses.loc[at, key] = pick(buses.loc[at, key].to_numpy(), lim[~np.isnan(lim)])
    fixed = pd.concat([fixed, g[~_flag(g, "controllable", True)]])
    buses.loc[fixed["bus"], "vm_min_pu"] = fixed["vm_pu"].to_numpy(float)
    buses.loc[fixed["bus"], "vm_max_pu"] = fixed["vm_pu"].to_numpy(float)
