"""Column schemas of the Case tables: names, dtypes, defaults and units.

Every table of a :class:`~dispatchlab.cases.case.Case` is a pandas DataFrame whose columns are
listed here. Column names carry their unit as a suffix (``_mw``, ``_mvar``, ``_pu``, ``_kv``,
``_deg``, ``_mwh``, ``_usd_per_mwh`` …); per-unit quantities are on the case's ``base_mva`` and
on each bus's ``base_kv``. The index of each table is the element id (``bus_id``, ``branch_id``,
``gen_id`` …) and is an int64 that need not be contiguous.

Conventions worth knowing:

* A rating or a ramp of ``inf`` means "no limit" (MATPOWER writes 0 for an unlimited rating).
  ``NaN`` is never allowed, except in the columns marked ``nullable`` below.
* ``tap_ratio`` is 1.0 for lines; MATPOWER's 0 becomes 1.0 on reading and the branch ``kind`` is
  decided by whether the file gave a non-zero ratio or shift.
* Storage uses one power range: ``p_min_mw`` < 0 is the largest charging power.
* Costs: ``cost_c2_usd_per_mw2h · P² + cost_c1_usd_per_mwh · P + cost_c0_usd_per_h`` when
  ``cost_model == "poly"``; a piecewise-linear cost lists its breakpoints in ``gen_cost_pwl``.
  Rows of ``gen_cost_pwl`` with ``power == "q"`` are a gen's piecewise-linear reactive-power
  cost (AC problems only; their ``p_mw`` holds the breakpoint's Q in MVAr), which replaces its
  ``cost_q_*`` columns (they must then be 0).
  Reactive power costs ``cost_q_c2_usd_per_mvar2h · Q² + cost_q_c1_usd_per_mvarh · Q +
  cost_q_c0_usd_per_h`` (gens and DERs) and a DER's ``cost_c2_usd_per_mw2h`` / ``cost_c0_usd_per_h``
  (beside its linear ``cost_usd_per_mwh``) are used by the AC-OPF only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

INF = float("inf")


@dataclass(frozen=True)
class Column:
    """One column: its dtype, its default (``None`` = required) and whether NaN is allowed."""

    dtype: str
    default: object = None
    nullable: bool = False
    doc: str = ""


BUS_TYPES = ("PQ", "PV", "REF", "ISOLATED")
BRANCH_KINDS = ("line", "transformer", "switch")
GEN_COST_MODELS = ("poly", "pwl")
PWL_POWERS = ("p", "q")
DER_KINDS = (
    "pv",
    "wind",
    "storage",
    "flexible_load",
    "microturbine",
    "svc",
    "svg",
    "capacitor",
    "dg",
)
CONTINGENCY_ELEMENTS = ("branch", "gen")

BUS_COLUMNS: dict[str, Column] = {
    "name": Column("object", "", doc="label from the source file"),
    "bus_type": Column("object", "PQ", doc="PQ, PV, REF or ISOLATED"),
    "base_kv": Column("float64", doc="nominal voltage"),
    "vm_pu": Column("float64", 1.0, doc="voltage magnitude (initial value or set-point)"),
    "va_deg": Column("float64", 0.0, doc="voltage angle (initial value)"),
    "vm_min_pu": Column("float64", 0.9),
    "vm_max_pu": Column("float64", 1.1),
    "gs_mw": Column("float64", 0.0, doc="shunt conductance, MW consumed at 1 p.u."),
    "bs_mvar": Column("float64", 0.0, doc="shunt susceptance, MVAr injected at 1 p.u."),
    "area": Column("int64", 1),
    "zone": Column("int64", 1),
    "x_coord": Column("float64", np.nan, nullable=True, doc="plot coordinate, if known"),
    "y_coord": Column("float64", np.nan, nullable=True, doc="plot coordinate, if known"),
}

BRANCH_COLUMNS: dict[str, Column] = {
    "name": Column("object", ""),
    "from_bus": Column("int64"),
    "to_bus": Column("int64"),
    "kind": Column("object", "line", doc="line, transformer or switch"),
    "r_pu": Column("float64"),
    "x_pu": Column("float64"),
    "b_pu": Column("float64", 0.0, doc="total line charging susceptance"),
    "g_pu": Column(
        "float64",
        0.0,
        doc="total shunt conductance of the π model, half at each end (pandapower's line "
        "g_us_per_km, transformer iron losses); AC models only",
    ),
    "rate_a_mva": Column("float64", INF, doc="long-term rating; inf = unlimited"),
    "rate_b_mva": Column("float64", INF, doc="short-term rating; inf = unlimited"),
    "rate_c_mva": Column("float64", INF, doc="emergency rating; inf = unlimited"),
    "tap_ratio": Column("float64", 1.0, doc="off-nominal turns ratio at the from side"),
    "shift_deg": Column("float64", 0.0, doc="phase shift, positive = from leads to"),
    "tap_min": Column("float64", 1.0, doc="OLTC lowest ratio (= tap_ratio if fixed)"),
    "tap_max": Column("float64", 1.0, doc="OLTC highest ratio (= tap_ratio if fixed)"),
    "tap_steps": Column("int64", 0, doc="number of OLTC positions; 0 = fixed tap"),
    "angmin_deg": Column("float64", -360.0),
    "angmax_deg": Column("float64", 360.0),
    "length_km": Column("float64", np.nan, nullable=True),
    "in_service": Column("bool", True),
}

GEN_COLUMNS: dict[str, Column] = {
    "name": Column("object", ""),
    "bus": Column("int64"),
    "p_mw": Column("float64", 0.0, doc="set-point or initial output"),
    "q_mvar": Column("float64", 0.0),
    "p_min_mw": Column("float64", 0.0),
    "p_max_mw": Column("float64"),
    "q_min_mvar": Column("float64", -INF),
    "q_max_mvar": Column("float64", INF),
    "vm_set_pu": Column("float64", 1.0),
    "ramp_up_mw_per_h": Column("float64", INF),
    "ramp_down_mw_per_h": Column("float64", INF),
    "reserve_up_max_mw": Column("float64", INF, doc="largest up-reserve it can offer"),
    "reserve_down_max_mw": Column("float64", INF, doc="largest down-reserve it can offer"),
    "reserve_cost_usd_per_mwh": Column("float64", 0.0),
    "cost_model": Column("object", "poly", doc="poly or pwl"),
    "cost_c2_usd_per_mw2h": Column("float64", 0.0),
    "cost_c1_usd_per_mwh": Column("float64", 0.0),
    "cost_c0_usd_per_h": Column("float64", 0.0),
    "cost_q_c2_usd_per_mvar2h": Column("float64", 0.0, doc="reactive-power cost, AC problems"),
    "cost_q_c1_usd_per_mvarh": Column("float64", 0.0, doc="reactive-power cost, AC problems"),
    "cost_q_c0_usd_per_h": Column("float64", 0.0, doc="reactive-power cost, AC problems"),
    "co2_t_per_mwh": Column("float64", 0.0, doc="emission factor, for carbon intensity"),
    "fuel": Column("object", "", doc="fuel or technology label, if the source gives one"),
    "in_service": Column("bool", True),
}

GEN_COST_PWL_COLUMNS: dict[str, Column] = {
    "gen_id": Column("int64"),
    "point": Column("int64", doc="breakpoint number, 0-based, increasing p_mw"),
    "p_mw": Column("float64"),
    "cost_usd_per_h": Column("float64"),
    "power": Column(
        "object", "p", doc="p, or q: a reactive-power cost whose p_mw is Q in MVAr (AC only)"
    ),
}

LOAD_COLUMNS: dict[str, Column] = {
    "name": Column("object", ""),
    "bus": Column("int64"),
    "p_mw": Column("float64"),
    "q_mvar": Column("float64", 0.0),
    "voll_usd_per_mwh": Column("float64", 10_000.0, doc="value of lost load, for shedding"),
    "in_service": Column("bool", True),
}

DER_COLUMNS: dict[str, Column] = {
    "name": Column("object", ""),
    "bus": Column("int64"),
    "kind": Column(
        "object",
        doc=", ".join(DER_KINDS) + "; a flexible_load bids cost_usd_per_mwh: it consumes "
        "more (p < 0) below that price and less (p > 0) above it",
    ),
    "p_mw": Column("float64", 0.0, doc="output (negative = consumption / charging)"),
    "q_mvar": Column("float64", 0.0),
    "p_min_mw": Column("float64", 0.0, doc="negative for storage charging / flexible load"),
    "p_max_mw": Column("float64", 0.0, doc="installed or available active power"),
    "q_min_mvar": Column("float64", 0.0),
    "q_max_mvar": Column("float64", 0.0),
    "s_max_mva": Column("float64", INF, doc="inverter apparent-power limit"),
    "ramp_mw_per_h": Column("float64", INF),
    "e_min_mwh": Column("float64", 0.0, doc="storage: lowest state of charge"),
    "e_max_mwh": Column("float64", 0.0, doc="storage: highest state of charge"),
    "e_init_mwh": Column("float64", 0.0, doc="storage: initial state of charge"),
    "eff_charge": Column("float64", 1.0),
    "eff_discharge": Column("float64", 1.0),
    "q_step_mvar": Column("float64", 0.0, doc="capacitor: size of one step"),
    "n_steps": Column("int64", 0, doc="capacitor: number of steps (0 = continuous)"),
    "cost_usd_per_mwh": Column("float64", 0.0),
    "cost_c2_usd_per_mw2h": Column("float64", 0.0, doc="quadratic P cost, AC problems"),
    "cost_c0_usd_per_h": Column("float64", 0.0, doc="constant cost, AC problems"),
    "cost_q_c2_usd_per_mvar2h": Column("float64", 0.0, doc="reactive-power cost, AC problems"),
    "cost_q_c1_usd_per_mvarh": Column("float64", 0.0, doc="reactive-power cost, AC problems"),
    "cost_q_c0_usd_per_h": Column("float64", 0.0, doc="reactive-power cost, AC problems"),
    "curtail_cost_usd_per_mwh": Column("float64", 0.0, doc="price of spilled PV / wind"),
    "profile": Column("object", "", doc="column of the case's time series giving p_max_mw"),
    "in_service": Column("bool", True),
}

RESERVE_COLUMNS: dict[str, Column] = {
    "zone": Column("int64", -1, doc="-1 = system-wide requirement"),
    "up_mw": Column("float64", 0.0),
    "down_mw": Column("float64", 0.0),
}

CONTINGENCY_COLUMNS: dict[str, Column] = {
    "ctg_id": Column("int64", doc="contingency number; rows sharing it are outaged together"),
    "label": Column("object", ""),
    "element": Column("object", "branch", doc="branch or gen"),
    "element_id": Column("int64"),
    "probability": Column("float64", 0.0),
}

TABLES: dict[str, tuple[str, dict[str, Column]]] = {
    # table name -> (index name, columns)
    "buses": ("bus_id", BUS_COLUMNS),
    "branches": ("branch_id", BRANCH_COLUMNS),
    "gens": ("gen_id", GEN_COLUMNS),
    "gen_cost_pwl": ("row", GEN_COST_PWL_COLUMNS),
    "loads": ("load_id", LOAD_COLUMNS),
    "ders": ("der_id", DER_COLUMNS),
    "reserves": ("req_id", RESERVE_COLUMNS),
    "contingencies": ("row", CONTINGENCY_COLUMNS),
}


def der_table(rows: list[dict]) -> pd.DataFrame:
    """DER rows as a table; keys a row leaves out take the schema default (not NaN)."""
    frame = pd.DataFrame(rows)
    for name in frame.columns:
        default = DER_COLUMNS[name].default
        if default is not None and frame[name].isna().any():
            frame[name] = frame[name].fillna(default)
    return frame
