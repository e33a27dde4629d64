"""Conversion between a :class:`~dispatchlab.cases.case.Case` and a pandapower network.

:func:`to_pandapower` builds a ``pandapowerNet`` whose AC power flow (``pandapower.runpp``) is
the power flow of the Case; :func:`from_pandapower` converts back. A net made by
:func:`to_pandapower` converts back exactly (``Case.differences(...) == []``) because every Case
column is also kept in an extra ``dl_<column>`` column of the pandapower table the element went
to (with ``dl_table``, ``dl_id`` and ``dl_pos``: Case table, id and row position), and the Case
name, ``meta`` (less the non-electrical tables of an imported net, ``meta["pandapower_tables"]``,
which go back into the net) and the tables pandapower has no place for (``gen_cost_pwl``,
``reserves``, ``contingencies``) are kept in ``net["dispatchlab"]`` (JSON) and
``net["dl_<table>"]``.
Edits made in pandapower to the injections (``p_mw``, ``q_mvar``) and to ``in_service`` /
``closed`` are carried back; other edits to tagged elements are not (their ``dl_`` columns win).
Any other pandapower net is converted from pandapower's own data (see
:mod:`dispatchlab.cases._pandapower_import`).

Mapping Case → pandapower (per-unit values on ``case.base_mva`` and each bus's ``base_kv``):

* bus → ``bus`` (index = ``bus_id``; ISOLATED → ``in_service=False``); ``gs_mw``/``bs_mvar`` →
  a ``shunt`` (pandapower's ``q_mvar`` is consumption: ``q_mvar = -bs_mvar``).
* line / switch with ``tap_ratio == 1``, no shift and equal ``base_kv`` at both ends → ``line``
  (index = ``branch_id``; ``length_km`` if known else 1 km, per-km values = totals / length,
  ``g_pu`` as ``g_us_per_km``, ``max_i_ka`` from ``rate_a_mva`` at the from bus).
  Rated lines and transformers get ``max_loading_percent = 100``, unrated ones 0 (no limit in
  pandapower's OPF), so ``runopp`` sees the Case's ratings as current limits.
* switch with ``r_pu == x_pu == 0`` → bus-bus ``switch`` (``closed = in_service``), which
  pandapower fuses into one bus.
* every other branch → 2-winding ``trafo`` with ``hv_bus = from_bus`` and ``lv_bus = to_bus``
  (even when the from bus has the lower voltage), ``vn_*_kv`` = the buses' ``base_kv``, ``sn_mva``
  = ``rate_a_mva`` (``base_mva`` if unlimited), ``vk/vkr_percent`` so that pandapower's per-unit
  impedance equals ``r_pu``/``x_pu``, ``shift_degree = shift_deg``, a "Ratio" tap changer on the
  hv side at position 1 with ``tap_step_percent = (tap_ratio - 1)·100`` (the Case's OLTC range
  lives only in ``dl_`` columns). pandapower's T-model would misplace a transformer's ``b_pu``
  and ``g_pu``, so they (like those of an ideal switch) become two shunts ``dl_table ==
  "charging"``: ``(g + jb)/2/tap²`` at the from bus and ``(g + jb)/2`` at the to bus (π-model).
* gens: at a REF bus the first in-service gen (else the first) → ``ext_grid`` (``vm_pu`` =
  ``vm_set_pu``, ``va_degree`` = the bus's ``va_deg``); other gens at REF and PV buses →
  ``gen`` with the ``vm_pu`` of that bus's first in-service gen (pandapower refuses different
  set-points at one bus); gens at PQ/ISOLATED buses → ``sgen`` (P and Q injection, as MATPOWER).
  A REF bus without gen gets an ``ext_grid`` with ``dl_table == "synthetic"``. Poly and pwl
  costs → ``poly_cost`` / ``pwl_cost`` (pwl slopes; the cost at the first breakpoint is only in
  ``dl_gen_cost_pwl``).
* loads → ``load``. DERs: pv, wind, microturbine, dg, svc, svg → ``sgen`` (``type`` = PV, WP,
  MT, DG, SVC, SVG; svc/svg inject their ``q_mvar`` at the given ``p_mw``); storage →
  ``storage`` (load sign: ``p_mw = -p``, ``q_mvar = -q``); flexible_load → controllable ``load``
  (``p_mw = -p``); capacitor → ``shunt`` with ``q_mvar = -q_mvar`` (its ``q_mvar`` is the
  injection at 1 p.u., i.e. a constant susceptance).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandapower as pp
import pandas as pd

from dispatchlab.cases._pandapower_export import export_elements
from dispatchlab.cases._pandapower_import import case_from_net
from dispatchlab.cases._pandapower_tables import check_supported
from dispatchlab.cases.case import Case
from dispatchlab.cases.schema import TABLES

__all__ = ["TAG_KEY", "from_pandapower", "to_pandapower"]

#: ``net[TAG_KEY]`` holds the JSON of name, meta and flags of the Case a net was made from.
TAG_KEY = "dispatchlab"
#: ``case.meta[KEPT_KEY]``: the non-electrical tables of an imported net (measurement, substation …)
KEPT_KEY = "pandapower_tables"
#: Case tables without a pandapower element, stored as ``net["dl_<table>"]``.
EXTRA_TABLES = ("gen_cost_pwl", "reserves", "contingencies")


def to_pandapower(case: Case, f_hz: float | None = None) -> pp.pandapowerNet:
    """A pandapower net with the power flow of ``case`` (see the module docstring).

    ``f_hz`` (default ``case.meta["f_hz"]`` or 50) only sets how line charging is written as
    capacitance; it does not change the per-unit model.
    """
    f = float(case.meta.get("f_hz", 50.0) if f_hz is None else f_hz)
    net = pp.create_empty_network(name=case.name, f_hz=f, sn_mva=case.base_mva)
    export_elements(net, case)
    meta = dict(case.meta)
    for key, table in meta.pop(KEPT_KEY, {}).items():  # from_pandapower's metadata tables
        net[key] = table.copy()
    info = {"name": case.name, "meta": meta, "allow_negative_x": case.allow_negative_x}
    net[TAG_KEY] = json.dumps(info, default=str)
    for table in EXTRA_TABLES:
        net[f"dl_{table}"] = getattr(case, table).copy()
    return net


def from_pandapower(net: pp.pandapowerNet) -> Case:
    """The Case of a pandapower net: exact for a net made by :func:`to_pandapower`, otherwise
    built from pandapower's own data; raises ``ValueError`` naming any element a Case cannot
    represent (three-winding transformers, impedances, DC lines, wards, voltage-dependent loads …).
    """
    if TAG_KEY not in net:
        return case_from_net(net)
    kept = check_supported(net)
    info = json.loads(net[TAG_KEY])
    if kept:
        info["meta"][KEPT_KEY] = kept
    sources = {
        "buses": ("bus",),
        "branches": ("line", "trafo", "switch"),
        "gens": ("ext_grid", "gen", "sgen"),
        "loads": ("load",),
        "ders": ("sgen", "storage", "load", "shunt"),
    }
    _check_all_tagged(net, {e for s in sources.values() for e in s})
    tables: dict[str, Any] = {t: _read_tagged(net, els, t) for t, els in sources.items()}
    tables.update({t: net[f"dl_{t}"] for t in EXTRA_TABLES if f"dl_{t}" in net})
    return Case(
        info["name"],
        base_mva=float(net.sn_mva),
        meta=info["meta"],
        allow_negative_x=info["allow_negative_x"],
        **tables,
    )


# ---------------------------------------------------------------------- tagged import
#: pandapower columns carried back to the Case for tagged rows: (column, sign, Case column)
NATIVE = {
    "load": [("p_mw", 1.0, "p_mw"), ("q_mvar", 1.0, "q_mvar")],
    "sgen": [("p_mw", 1.0, "p_mw"), ("q_mvar", 1.0, "q_mvar")],
    "gen": [("p_mw", 1.0, "p_mw")],
    "storage": [("p_mw", -1.0, "p_mw"), ("q_mvar", -1.0, "q_mvar")],
    "shunt": [("q_mvar", -1.0, "q_mvar")],
}


def _read_tagged(net: pp.pandapowerNet, elements: tuple[str, ...], table: str) -> pd.DataFrame:
    """The rows of Case ``table`` stored in the pandapower ``elements`` (original order)."""
    columns = list(TABLES[table][1])
    parts = []
    for el in elements:
        df = net[el]
        if "dl_table" not in df.columns:
            continue
        rows = df[df["dl_table"] == table]
        part = rows[[f"dl_{c}" for c in columns]].set_axis(columns, axis=1)
        part = _native_edits(el, rows, part, table)
        parts.append(part.assign(_pos=rows["dl_pos"].to_numpy(), _id=rows["dl_id"].to_numpy()))
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts).sort_values("_pos")
    out.index = pd.Index(out.pop("_id").astype("int64"), name=TABLES[table][0])
    for name, col in TABLES[table][1].items():  # JSON files store inf as NaN
        if isinstance(col.default, float) and np.isinf(col.default):
            out[name] = out[name].astype(float).fillna(col.default)
    return out.drop(columns="_pos")


def _native_edits(el: str, rows: pd.DataFrame, part: pd.DataFrame, table: str) -> pd.DataFrame:
    """Carry pandapower's own injections and switching state over the stored copies."""
    part = part.copy()
    native = NATIVE.get(el, [])
    if el == "load" and table == "ders":
        native = [(c, -1.0, k) for c, _, k in native]
    if el == "shunt" and table != "ders":
        native = []
    for col, sign, key in native:
        part[key] = sign * rows[col].to_numpy(dtype=float)
    state = "closed" if el == "switch" else "in_service"
    if el != "bus":
        part["in_service"] = rows[state].to_numpy(dtype=bool)
    return part


def _check_all_tagged(net: pp.pandapowerNet, elements: set[str]) -> None:
    """Rows added to a converted net after :func:`to_pandapower` cannot be placed: refuse."""
    for el in sorted(elements):
        df = net[el]
        untagged = df.index if "dl_table" not in df.columns else df.index[df["dl_table"].isna()]
        if len(untagged):
            raise ValueError(
                f"pandapower {el} {list(untagged[:5])} has no dispatchlab tag (added after "
                f"to_pandapower?); remove net['{TAG_KEY}'] to convert the net from scratch"
            )
