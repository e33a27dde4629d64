"""pandapower injections and costs → Case gens, loads, DERs and bus shunts (helpers of
:mod:`dispatchlab.cases._pandapower_import`; mapping described there)."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandas as pd

from dispatchlab.cases.schema import BRANCH_COLUMNS, DER_COLUMNS, Column

#: P limit of an ext_grid that gives none (a Case needs finite generator limits).
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
    eg, g = net.ext_grid, net.gen
    frames = []
    for df, is_eg in ((eg, True), (g, False)):
        p = np.zeros(len(df)) if is_eg else df["p_mw"].to_numpy(float) * _col(df, "scaling", 1)
        big = UNLIMITED_P_MW if is_eg else 0.0
        frames.append(
            pd.DataFrame(
                {
                    "name": _names(df["name"]),
                    "bus": df["bus"].to_numpy(),
                    "p_mw": p,
                    "p_max_mw": np.maximum(_col(df, "max_p_mw", big), p),
                    "p_min_mw": np.minimum(_col(df, "min_p_mw", -big), p),
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
    ld = net.load
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
    frames = []
    for df, sign in ((net.sgen, 1.0), (net.storage, -1.0)):
        scale = _col(df, "scaling", 1.0) * sign
        p, q = df["p_mw"].to_numpy(float) * scale, df["q_mvar"].to_numpy(float) * scale
        lo, hi = ("max_p_mw", "min_p_mw") if sign < 0 else ("min_p_mw", "max_p_mw")
        qlo, qhi = ("max_q_mvar", "min_q_mvar") if sign < 0 else ("min_q_mvar", "max_q_mvar")
        kinds = (
            df["type"].astype(str).str.lower().map(SGEN_KINDS).fillna("dg")
            if sign > 0
            else "storage"
        )
        sn = _col(df, "sn_mva", np.inf)
        # pandapower's OPF keeps non-controllable sgens/storage at their set-point: so do we
        # (a curtailable range would let a dispatch change what the net fixes)
        fixed = ~_controllable(df)
        frames.append(
            pd.DataFrame(
                {
                    "name": _names(df["name"]),
                    "bus": df["bus"].to_numpy(),
                    "kind": kinds,
                    "p_mw": p,
                    "q_mvar": q,
                    "p_min_mw": np.where(fixed, p, np.minimum(sign * _col(df, lo, 0.0), p)),
                    "p_max_mw": np.where(fixed, p, np.maximum(sign * _col(df, hi, 0.0), p)),
                    "q_min_mvar": np.where(fixed, q, np.minimum(sign * _col(df, qlo, 0.0), q)),
                    "q_max_mvar": np.where(fixed, q, np.maximum(sign * _col(df, qhi, 0.0), q)),
                    "s_max_mva": np.where(sn > 0, sn, np.inf),
                    "in_service": df["in_service"].astype(bool).to_numpy(),
                    "_et": "sgen" if sign > 0 else "storage",
                    "_el": df.index.to_numpy(),
                }
            )
        )
        if sign < 0:
            _storage_energy(frames[-1], df)
    out = _fill_defaults(pd.concat(frames, ignore_index=True), DER_COLUMNS)
    out.index = pd.Index(
        np.r_[
            net.sgen.index,
            np.arange(len(net.storage)) + (int(net.sgen.index.max()) + 1 if len(net.sgen) else 0),
        ],
        name="der_id",
    )
    return out


def _controllable(df: pd.DataFrame) -> np.ndarray:
    """pandapower's ``controllable`` flag (absent or NaN = False, pandapower's default)."""
    if "controllable" not in df:
        return np.zeros(len(df), dtype=bool)
    return df["controllable"].astype("boolean").fillna(False).to_numpy(dtype=bool)


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


def _costs(net: pp.pandapowerNet, gens: pd.DataFrame, ders: pd.DataFrame) -> pd.DataFrame:
    """pandapower costs onto gens (poly, pwl) and DERs (linear); returns the pwl breakpoints."""
    gkey = pd.Series(gens.index, index=pd.MultiIndex.from_frame(gens[["_et", "_el"]]))
    dkey = pd.Series(ders.index, index=pd.MultiIndex.from_frame(ders[["_et", "_el"]]))
    gens[["cost_c0_usd_per_h", "cost_c1_usd_per_mwh", "cost_c2_usd_per_mw2h"]] = 0.0
    gens["cost_model"], ders["cost_usd_per_mwh"] = "poly", 0.0
    for _, c in net.poly_cost.iterrows():
        key, q_cost = (c["et"], c["element"]), np.nan_to_num(c.filter(like="cq").to_numpy(float))
        if key in gkey.index and not q_cost.any():
            gens.loc[
                gkey[key], ["cost_c0_usd_per_h", "cost_c1_usd_per_mwh", "cost_c2_usd_per_mw2h"]
            ] = c[["cp0_eur", "cp1_eur_per_mw", "cp2_eur_per_mw2"]].to_numpy()
        elif key in dkey.index and not q_cost.any() and c["cp2_eur_per_mw2"] == 0:
            sign = -1.0 if key[0] == "storage" else 1.0
            ders.loc[dkey[key], "cost_usd_per_mwh"] = sign * c["cp1_eur_per_mw"]
        else:
            raise ValueError(
                f"pandapower poly_cost of {key[0]} {key[1]} cannot be represented "
                "(reactive, quadratic DER or non-generator cost)"
            )
    rows = []
    for _, c in net.pwl_cost.iterrows():
        key = (c["et"], c["element"])
        if key not in gkey.index or c["power_type"] != "p":
            raise ValueError(f"pandapower pwl_cost of {key[0]} {key[1]} cannot be represented")
        pts = np.asarray(c["points"], dtype=float)
        p = np.r_[pts[:, 0], pts[-1, 1]]
        cost = np.r_[0.0, np.cumsum(pts[:, 2] * (pts[:, 1] - pts[:, 0]))]
        gens.loc[gkey[key], "cost_model"] = "pwl"
        rows += [(gkey[key], k, p[k], cost[k]) for k in range(len(p))]
    gens.drop(columns=["_et", "_el"], inplace=True)
    ders.drop(columns=["_et", "_el"], inplace=True)
    return pd.DataFrame(rows, columns=["gen_id", "point", "p_mw", "cost_usd_per_h"])
