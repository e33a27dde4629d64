"""Validation of a Case: every problem is collected and reported at once."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from dispatchlab.cases.schema import (
    BRANCH_KINDS,
    BUS_TYPES,
    CONTINGENCY_ELEMENTS,
    DER_KINDS,
    GEN_COST_MODELS,
    PWL_POWERS,
    TABLES,
)


class CaseValidationError(ValueError):
    """A Case failed validation; ``problems`` lists every problem found (one line each)."""

    def __init__(self, name: str, problems: list[str]):
        self.case_name = name
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"case '{name}' is invalid ({len(problems)} problem(s)):\n{lines}")


def check_finite(table: str, df: pd.DataFrame, problems: list[str]) -> None:
    """NaN is never allowed outside nullable columns; ±inf only where the default is infinite."""
    _, columns = TABLES[table]
    for name, col in columns.items():
        if col.dtype != "float64" or col.nullable:
            continue
        v = df[name].to_numpy()
        bad = np.isnan(v)
        if not (isinstance(col.default, float) and np.isinf(col.default)):
            bad |= np.isinf(v)
        if bad.any():
            ids = list(df.index[bad][:5])
            problems.append(f"{table}.{name}: NaN or inf at id(s) {ids} ({int(bad.sum())} in all)")


def check_categories(table: str, df: pd.DataFrame, column: str, allowed, problems) -> None:
    bad = ~df[column].isin(allowed)
    if bad.any():
        problems.append(
            f"{table}.{column}: unknown value(s) {sorted(set(df[column][bad]))[:5]} "
            f"at id(s) {list(df.index[bad][:5])}; allowed: {list(allowed)}"
        )


def check_refs(table: str, df: pd.DataFrame, column: str, ids: pd.Index, problems) -> None:
    bad = ~df[column].isin(ids)
    if bad.any():
        pairs = [f"{i}->{b}" for i, b in zip(df.index[bad][:5], df[column][bad][:5], strict=True)]
        problems.append(f"{table}.{column}: reference(s) to missing bus(es): {pairs}")


def check_ordered(table: str, df: pd.DataFrame, low: str, high: str, problems) -> None:
    bad = df[low].to_numpy() > df[high].to_numpy()
    if bad.any():
        problems.append(
            f"{table}: {low} > {high} (reversed limits) at id(s) {list(df.index[bad][:5])}"
        )


def in_service(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``df`` that are in service (all rows when it has no ``in_service`` column)."""
    return df[df["in_service"]] if "in_service" in df.columns else df


def validate_tables(t: Mapping[str, pd.DataFrame], allow_negative_x: bool) -> list[str]:
    """Return the list of problems of the normalized tables ``t`` (empty when valid).

    Out-of-service elements are checked only for what keeps the tables well formed (no NaN,
    known categories, references to existing buses); their limits, impedances and costs are
    not validated, as MATPOWER and PowerModels ignore them: an out-of-service generator with
    Pmin > Pmax loads and round-trips unchanged.
    """
    problems: list[str] = []
    for name in TABLES:
        check_finite(name, t[name], problems)
    buses, all_branches, all_gens, loads, all_ders = (
        t["buses"],
        t["branches"],
        t["gens"],
        t["loads"],
        t["ders"],
    )
    branches, gens, ders = in_service(all_branches), in_service(all_gens), in_service(all_ders)
    if len(buses) == 0:
        problems.append("buses: the case has no bus")
    check_categories("buses", buses, "bus_type", BUS_TYPES, problems)
    check_categories("branches", all_branches, "kind", BRANCH_KINDS, problems)
    check_categories("gens", all_gens, "cost_model", GEN_COST_MODELS, problems)
    check_categories("ders", all_ders, "kind", DER_KINDS, problems)
    check_categories("contingencies", t["contingencies"], "element", CONTINGENCY_ELEMENTS, problems)
    bad_kv = buses["base_kv"].to_numpy() <= 0
    if bad_kv.any():
        problems.append(f"buses.base_kv: must be > 0 at id(s) {list(buses.index[bad_kv][:5])}")
    live_buses = buses[buses["bus_type"] != "ISOLATED"]
    check_ordered("buses", live_buses, "vm_min_pu", "vm_max_pu", problems)
    for col in ("from_bus", "to_bus"):
        check_refs("branches", all_branches, col, buses.index, problems)
    for name, df in (("gens", all_gens), ("loads", loads), ("ders", all_ders)):
        check_refs(name, df, "bus", buses.index, problems)
    _check_branches(branches, allow_negative_x, problems)
    check_ordered("gens", gens, "p_min_mw", "p_max_mw", problems)
    check_ordered("gens", gens, "q_min_mvar", "q_max_mvar", problems)
    check_ordered("ders", ders, "p_min_mw", "p_max_mw", problems)
    check_ordered("ders", ders, "q_min_mvar", "q_max_mvar", problems)
    check_ordered("ders", ders, "e_min_mwh", "e_max_mwh", problems)
    _check_storage(ders, problems)
    _check_pwl(t["gen_cost_pwl"], all_gens, problems)
    _check_contingencies(t["contingencies"], all_branches, all_gens, problems)
    _check_islands(buses, all_branches, gens, problems)
    return problems


def _check_branches(br: pd.DataFrame, allow_negative_x: bool, problems: list[str]) -> None:
    x = br["x_pu"].to_numpy()
    # r > 0, x = 0 is a valid MATPOWER branch (the AC model is well defined; the DC model
    # merges its two buses, see docs/case-model.md); only r = x = 0 has no AC model
    zero = (x == 0) & (br["r_pu"].to_numpy() == 0) & (br["kind"].to_numpy() != "switch")
    if zero.any():
        problems.append(
            f"branches: zero impedance (r_pu = x_pu = 0) at id(s) {list(br.index[zero][:5])} "
            "(model a closed switch as kind='switch' or give it a small impedance)"
        )
    if not allow_negative_x and (x < 0).any():
        problems.append(
            f"branches.x_pu: non-positive reactance at id(s) {list(br.index[x < 0][:5])} "
            "(series compensation? pass allow_negative_x=True to accept it)"
        )
    loop = br["from_bus"].to_numpy() == br["to_bus"].to_numpy()
    if loop.any():
        problems.append(f"branches: from_bus == to_bus at id(s) {list(br.index[loop][:5])}")
    bad_tap = br["tap_ratio"].to_numpy() <= 0
    if bad_tap.any():
        problems.append(f"branches.tap_ratio: must be > 0 at id(s) {list(br.index[bad_tap][:5])}")
    check_ordered("branches", br, "tap_min", "tap_max", problems)
    check_ordered("branches", br, "angmin_deg", "angmax_deg", problems)
    for col in ("rate_a_mva", "rate_b_mva", "rate_c_mva"):
        neg = br[col].to_numpy() <= 0
        if neg.any():
            problems.append(
                f"branches.{col}: must be > 0 (inf = unlimited) at id(s) {list(br.index[neg][:5])}"
            )


def _check_storage(ders: pd.DataFrame, problems: list[str]) -> None:
    st = ders[ders["kind"] == "storage"]
    for col in ("eff_charge", "eff_discharge"):
        bad = (st[col] <= 0) | (st[col] > 1)
        if bad.any():
            problems.append(f"ders.{col}: must be in (0, 1] at id(s) {list(st.index[bad][:5])}")
    out = (st["e_init_mwh"] < st["e_min_mwh"]) | (st["e_init_mwh"] > st["e_max_mwh"])
    if out.any():
        problems.append(
            f"ders.e_init_mwh: outside [e_min_mwh, e_max_mwh] at id(s) {list(st.index[out][:5])}"
        )


def _check_pwl(pwl: pd.DataFrame, gens: pd.DataFrame, problems: list[str]) -> None:
    check_categories("gen_cost_pwl", pwl, "power", PWL_POWERS, problems)
    need = set(gens.index[(gens["cost_model"] == "pwl") & gens["in_service"]])
    have = set(pwl["gen_id"][pwl["power"] == "p"])
    if need - have:
        problems.append(
            f"gen_cost_pwl: no breakpoints for pwl generator(s) {sorted(need - have)[:5]}"
        )
    if set(pwl["gen_id"]) - set(gens.index):
        missing = sorted(set(pwl["gen_id"]) - set(gens.index))[:5]
        problems.append(f"gen_cost_pwl: breakpoints for missing gen(s) {missing}")
    live = pwl["gen_id"].isin(gens.index[gens["in_service"]])
    for (gid, power), grp in pwl[live].groupby(["gen_id", "power"]):
        p = grp.sort_values("point")["p_mw"].to_numpy()
        if len(p) < 2 or (np.diff(p) <= 0).any():
            what = "p_mw" if power == "p" else "p_mw (Q in MVAr, power='q')"
            problems.append(f"gen_cost_pwl: gen {gid} needs ≥ 2 breakpoints with increasing {what}")
    q_ids = pwl["gen_id"][live & (pwl["power"] == "q")].unique()
    q_poly = gens.loc[q_ids, ["cost_q_c2_usd_per_mvar2h", "cost_q_c1_usd_per_mvarh"]]
    both = q_poly.index[(q_poly.to_numpy() != 0).any(axis=1)]
    if len(both):
        problems.append(
            f"gen_cost_pwl: gen(s) {sorted(both)[:5]} have both a pwl (power='q') and a "
            "polynomial reactive-power cost (cost_q_c1/c2); keep one"
        )


def _check_contingencies(ctg, branches, gens, problems) -> None:
    for element, table in (("branch", branches), ("gen", gens)):
        rows = ctg[ctg["element"] == element]
        bad = ~rows["element_id"].isin(table.index)
        if bad.any():
            problems.append(
                f"contingencies: ctg_id(s) {list(rows['ctg_id'][bad][:5])} name missing "
                f"{element}(s) {list(rows['element_id'][bad][:5])}"
            )


def _check_islands(buses, branches, gens, problems) -> None:
    """Every energized island needs a reference bus (or it has no angle reference)."""
    if len(buses) == 0:
        return
    pos = pd.Series(np.arange(len(buses)), index=buses.index)
    live = branches[
        branches["in_service"]
        & branches["from_bus"].isin(pos.index)
        & branches["to_bus"].isin(pos.index)
    ]
    i = pos[live["from_bus"]].to_numpy()
    j = pos[live["to_bus"]].to_numpy()
    n = len(buses)
    graph = sp.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    n_comp, label = connected_components(graph, directed=False)
    active = buses["bus_type"].to_numpy() != "ISOLATED"
    is_ref = buses["bus_type"].to_numpy() == "REF"
    for comp in range(n_comp):
        members = label == comp
        if not (members & active).any():
            continue
        if not (members & is_ref).any():
            ids = list(buses.index[members][:8])
            problems.append(
                f"buses: island of {int(members.sum())} bus(es) {ids}… has no REF bus "
                "(mark one bus_type='REF' or mark the island's buses 'ISOLATED')"
            )
