"""pandapower ``poly_cost`` / ``pwl_cost`` → Case cost columns, as pandapower's OPF states its
objective (``pandapower.opf.make_objective``), so that the AC-OPF of the Case minimises what
``pandapower.runopp`` minimises.

* ext_grid and gen costs go to the gen; sgen, storage and load costs go to the DER only when
  the element is ``controllable`` (pandapower ignores the cost of a fixed injection).
* pandapower applies a cost to the element's PYPOWER generator, whose output is the element's
  injection, and multiplies every coefficient of a load or storage cost by −1. A DER's ``p_mw``
  is that injection, so its cost columns are ``sign × (cp2, cp1, cp0)`` (and the same for Q).
* Reactive costs count only where some ``cq1``/``cq2`` is non-zero (else pandapower builds no
  Q cost rows, and ``cq0`` alone is dropped).
* Without any cost table every generator costs 1 per MW (pandapower: "overall generated power
  is minimized"). With a ``pwl_cost`` table every poly cost becomes a linear pwl over
  [P_min, P_max]: ``cp0`` is dropped and reactive poly costs no longer count.
* A pwl cost starts at the cost ``lower · slope`` of its first breakpoint (``costs_from_areas``);
  its breakpoints are in the element's PYPOWER output (a load's or storage's injection, its
  costs × −1). A reactive-power pwl cost (``power_type="q"``) becomes ``gen_cost_pwl`` rows with
  ``power == "q"`` the same way (breakpoints in the PYPOWER generator's Q). A controllable sgen,
  storage or load with a pwl cost (P or Q) becomes a Case gen (Case pwl costs are gens').
"""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandas as pd

_GEN_P = ["cost_c2_usd_per_mw2h", "cost_c1_usd_per_mwh", "cost_c0_usd_per_h"]
_DER_P = ["cost_c2_usd_per_mw2h", "cost_usd_per_mwh", "cost_c0_usd_per_h"]
_Q = ["cost_q_c2_usd_per_mvar2h", "cost_q_c1_usd_per_mvarh", "cost_q_c0_usd_per_h"]
_PP_P = ["cp2_eur_per_mw2", "cp1_eur_per_mw", "cp0_eur"]
_PP_Q = ["cq2_eur_per_mvar2", "cq1_eur_per_mvar", "cq0_eur"]


def _opf_costs(
    net: pp.pandapowerNet, gens: pd.DataFrame, ders: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``gens`` and ``ders`` with their cost columns (helper columns ``_et``, ``_el``,
    ``_fixed`` dropped) and the pwl breakpoints of the gens (``gen_cost_pwl``)."""
    gens, ders = _pwl_ders_to_gens(net, gens, ders)
    gkey = pd.Series(gens.index, index=pd.MultiIndex.from_frame(gens[["_et", "_el"]]))
    live = ders[~ders["_fixed"]]
    dkey = pd.Series(live.index, index=pd.MultiIndex.from_frame(live[["_et", "_el"]]))
    gens[_GEN_P + _Q] = 0.0
    ders[_DER_P + _Q] = 0.0
    gens["cost_model"] = "poly"
    poly, pwl = net.poly_cost, net.pwl_cost
    if poly.empty and pwl.empty:  # pandapower minimises the total generation
        gens["cost_c1_usd_per_mwh"] = 1.0
        ders.loc[live.index, "cost_usd_per_mwh"] = 1.0
    q_costs = not poly.empty and (poly[_PP_Q[:2]].fillna(0).to_numpy() != 0).any()
    for row, c in poly.iterrows():
        key = (c["et"], c["element"])
        p_coef = np.nan_to_num(c[_PP_P].to_numpy(float))
        q_coef = np.nan_to_num(c[_PP_Q].to_numpy(float)) * (q_costs and pwl.empty)
        if not pwl.empty:
            p_coef[2] = 0.0  # pandapower turns the linear part into a pwl cost: cp0 is lost
        sign = -1.0 if key[0] in ("load", "storage") else 1.0
        if key in gkey.index:
            gens.loc[gkey[key], _GEN_P + _Q] = sign * np.r_[p_coef, q_coef]
        elif key in dkey.index:
            ders.loc[dkey[key], _DER_P + _Q] = sign * np.r_[p_coef, q_coef]
        elif key[0] not in ("sgen", "storage", "load") or not _exists(net, key):
            raise ValueError(f"pandapower poly_cost row {row}: no {key[0]} {key[1]} to bear it")
    rows = _pwl_rows(net, pwl, gkey, dkey, gens)
    for frame in (gens, ders):
        frame.drop(columns=[c for c in ("_et", "_el", "_fixed") if c in frame], inplace=True)
    columns = ["gen_id", "point", "p_mw", "cost_usd_per_h", "power"]
    return gens, ders, pd.DataFrame(rows, columns=columns)


def _pwl_ders_to_gens(net: pp.pandapowerNet, gens: pd.DataFrame, ders: pd.DataFrame):
    """Controllable sgens, storage and loads with a pwl cost (P or Q) become gens (at their PQ
    bus, ids after the gens): Case pwl costs are gens' (a DER's kind and energy data go)."""
    pwl = net.pwl_cost
    keys = set(zip(pwl["et"], pwl["element"], strict=True))
    priced = np.array([k in keys for k in zip(ders["_et"], ders["_el"], strict=True)], bool)
    hit = ders[~ders["_fixed"].to_numpy(dtype=bool) & priced]
    if hit.empty:
        return gens, ders
    moved = hit[["name", "bus", "p_mw", "p_min_mw", "p_max_mw", "q_min_mvar"]].assign(
        q_max_mvar=hit["q_max_mvar"], vm_set_pu=1.0, in_service=hit["in_service"]
    )
    moved[["_et", "_el"]] = hit[["_et", "_el"]].to_numpy()
    moved.index = pd.Index(np.arange(len(hit)) + int(gens.index.max()) + 1, name="gen_id")
    return pd.concat([gens, moved]), ders.drop(index=hit.index)


def _exists(net: pp.pandapowerNet, key: tuple) -> bool:
    return key[0] in net and key[1] in net[key[0]].index


def _pwl_rows(net, pwl: pd.DataFrame, gkey: pd.Series, dkey: pd.Series, gens: pd.DataFrame):
    """Breakpoints (gen_id, point, p_mw, cost, power) of the gens' P and Q pwl costs."""
    rows = []
    for row, c in pwl.iterrows():
        key, power = (c["et"], c["element"]), c["power_type"]
        if power not in ("p", "q"):
            raise ValueError(
                f"pandapower pwl_cost row {row} ({key[0]} {key[1]}): power_type "
                f"'{power}' is neither 'p' nor 'q'"
            )
        if key not in gkey.index:
            if key[0] in ("sgen", "storage", "load") and _exists(net, key):
                continue  # the cost of a fixed injection: pandapower ignores it
            raise ValueError(f"pandapower pwl_cost row {row}: no {key[0]} {key[1]} to bear it")
        pts = np.asarray(c["points"], dtype=float)
        sign = -1.0 if key[0] in ("load", "storage") else 1.0  # costs_from_areas(points, sign)
        p = np.r_[pts[:, 0], pts[-1, 1]]
        cost = pts[0, 0] * pts[0, 2] + np.r_[0.0, np.cumsum(pts[:, 2] * (pts[:, 1] - pts[:, 0]))]
        cost = sign * cost
        if power == "p":
            gens.loc[gkey[key], "cost_model"] = "pwl"
        rows += [(gkey[key], k, p[k], cost[k], power) for k in range(len(p))]
    return rows
