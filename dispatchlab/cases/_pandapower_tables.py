"""Which tables of a pandapower net a Case represents, which it keeps aside and which it
refuses (helpers of :mod:`dispatchlab.cases.pandapower_io`)."""

from __future__ import annotations

import pandapower as pp
import pandas as pd

SUPPORTED = {
    "bus",
    "line",
    "trafo",
    "switch",
    "load",
    "sgen",
    "gen",
    "ext_grid",
    "shunt",
    "storage",
    "poly_cost",
    "pwl_cost",
}
#: a fresh net: its own non-electrical entries (std_types, user_pf_options …) are settings
_FRESH = pp.create_empty_network()
#: elements that enter pandapower's power flow (those with a result table), beside SUPPORTED
ELECTRICAL = {
    k.removeprefix("_empty_res_").removesuffix("_3ph")
    for k in _FRESH.keys()
    if k.startswith("_empty_res_")
} - {"protection"}


def check_supported(net: pp.pandapowerNet) -> dict[str, object]:
    """Raise ``ValueError`` naming the first electrical element a Case cannot represent;
    return the non-electrical tables (``substation``, ``loadcases``, ``measurement``,
    ``profiles`` …) to keep in ``meta``."""
    kept: dict[str, object] = {}
    for key in net.keys():
        value = net[key]
        if key.startswith(("res_", "_", "dl_")) or key in SUPPORTED or key == "dispatchlab":
            continue
        if key in ELECTRICAL:
            _refuse_in_service(key, value)
        elif isinstance(value, pd.DataFrame | dict) and len(value):
            if key in _FRESH and key not in ("measurement", "controller", "group"):
                continue  # std_types, user_pf_options: pandapower's own settings
            kept[key] = value.copy()
    zip_cols = [c for c in net.load.columns if c.startswith(("const_z", "const_i"))]
    zip_loads = net.load.index[(net.load[zip_cols].fillna(0) != 0).any(axis=1)]
    if len(zip_loads):
        raise ValueError(
            f"pandapower load {list(zip_loads[:5])}: voltage-dependent (ZIP) loads "
            "cannot be represented (a Case load is constant power)"
        )
    if "step_dependency_table" in net.shunt and net.shunt["step_dependency_table"].any():
        raise ValueError("pandapower shunt with step_dependency_table cannot be represented")
    return kept


def _refuse_in_service(key: str, value: object) -> None:
    """An electrical element without a Case equivalent: refuse its in-service rows."""
    if not isinstance(value, pd.DataFrame) or value.empty:
        return
    rows = value.index
    if "in_service" in value.columns:
        rows = rows[value["in_service"].fillna(True).astype(bool).to_numpy()]
    if len(rows):
        raise ValueError(
            f"pandapower element '{key}' (rows {list(rows[:5])}"
            f"{' …' if len(rows) > 5 else ''}) cannot be represented in a dispatchlab Case; "
            "take it out of service or replace it by supported elements"
        )
