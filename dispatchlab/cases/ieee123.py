"""The IEEE 123-node test feeder as a balanced positive-sequence :class:`Case`.

Source: the OpenDSS version of the IEEE PES Distribution System Analysis Subcommittee test
feeder (``dispatchlab/cases/data/ieee123``), read with :mod:`dispatchlab.cases.dss`. See
:func:`build_ieee123` for every simplification.
"""

from __future__ import annotations

import re
from collections import deque
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from dispatchlab.cases import units
from dispatchlab.cases.case import Case
from dispatchlab.cases.dss import (
    LENGTH_M,
    DssModel,
    DssObject,
    as_float,
    as_list,
    as_matrix,
    bus_name,
    dss_error,
    parse_dss,
    truthy,
)
from dispatchlab.cases.schema import BRANCH_COLUMNS, Column

IEEE123_BASE_MVA = 10.0
#: closed switches: r = x = 1e-4 p.u. on IEEE123_BASE_MVA (≈ 0.17 mΩ at 4.16 kV); the files give
#: r1 = 1e-3 Ω/unit × 0.001 and x1 = 0, but a power flow needs a non-zero reactance.
SWITCH_Z_PU = 1e-4
#: regulators: OpenDSS's default tap range (Transformer MinTap/MaxTap/NumTaps), the usual
#: ±10 % in 32 steps of 5/8 %, i.e. 33 positions.
REG_TAP_MIN, REG_TAP_MAX, REG_NUM_TAPS = 0.9, 1.1, 32
#: the slack generator at the substation: an assumed flat energy price (not in the files).
SLACK_COST_USD_PER_MWH = 50.0
IEEE123_SOURCE = (
    "IEEE PES Distribution System Analysis Subcommittee test feeder, via the OpenDSS distribution"
)


def _data_folder(sub: str) -> Path:
    return Path(str(resources.files("dispatchlab.cases") / "data" / sub))


def build_ieee123(folder: Path | str | None = None, master: str = "IEEE123Switches.dss") -> Case:
    """The IEEE 123-node test feeder as a balanced positive-sequence Case (base 10 MVA).

    Source: the OpenDSS version of the IEEE PES test feeder (``IEEE123Switches.dss``, the
    master file whose normally-open ties Sw7 151–300 and Sw8 54–94 join real buses and are
    opened with ``open Line.Sw7 terminal=2``; ``master="IEEE123Master.dss"`` reads the older
    master that ties them to dummy buses ``300_OPEN``/``94_OPEN`` instead), redirecting to
    ``IEEELineCodes.DSS``, ``IEEE123Regulators.DSS`` and ``IEEE123Loads.DSS``; coordinates from
    ``BusCoords.dat``. ``folder`` points at another copy of these files (tests use it).

    Simplifications (also listed in ``meta['notes']``):

    * Lines: line code × length (units of both respected). A phase matrix M is reduced to
      its positive sequence as mean(diag M) − mean(offdiag M) (the symmetrical-component
      reduction for 3 phases; the same formula for 2-phase codes, whose only mutual term is
      subtracted; the self term alone for 1-phase laterals). Charging likewise from cmatrix.
    * Loads: all phases (and delta pairs) of a bus summed into one constant-PQ load; the
      ZIP ``model=`` of each load is ignored.
    * Regulators: each bank (units sharing ``bank=`` or the same buses) is one transformer
      branch with the bank's rating; single-phase units count as a 3-phase bank of 3× their
      kVA. The files give no tap positions (only RegControl set-points), so tap_ratio = 1.0,
      with an OLTC range 0.9–1.1 in 33 positions (OpenDSS defaults).
    * Switches: closed → kind "switch", r = x = 1e-4 p.u.; open → in_service False.
    * Capacitors: DER kind "capacitor", q_mvar at its rated kvar (fixed, one step).
    * Substation: bus 150 is REF at the Vsource ``pu``; a slack generator ±10 MW / ±10 Mvar
      priced at 50 $/MWh (an assumption, no cost in the files).
    """
    folder = Path(folder) if folder is not None else _data_folder("ieee123")
    model = parse_dss(folder / master)
    ids = _bus_ids(model)
    base_kv = _bus_base_kv(model, ids)
    branches = _with_defaults(
        pd.concat([_line_rows(model, ids, base_kv), _transformer_rows(model, ids, base_kv)]),
        BRANCH_COLUMNS,
    ).rename_axis("branch_id")
    source = model.objects["vsource"]["source"]
    buses = _ieee123_buses(model, ids, base_kv, folder / "BusCoords.dat", branches)
    ref = ids[bus_name(source.props.get("bus1", "sourcebus"))]
    gens = pd.DataFrame([_slack_gen(ref, float(buses.at[ref, "vm_pu"]))]).rename_axis("gen_id")
    return Case(
        "ieee123",
        buses,
        branches,
        gens,
        _load_rows(model, ids),
        ders=_capacitor_rows(model, ids),
        base_mva=IEEE123_BASE_MVA,
        meta=_ieee123_meta(model, master),
    )


def _with_defaults(df: pd.DataFrame, columns: dict[str, Column]) -> pd.DataFrame:
    """Rows concatenated from different element types: fill each gap with the schema default."""
    df = df.reset_index(drop=True)
    fill = {c: col.default for c, col in columns.items() if c in df and col.default is not None}
    return df.fillna(fill).infer_objects()


def _ieee123_meta(model: DssModel, master: str) -> dict:
    regs = sorted(model.objects["regcontrol"])
    return {
        "source": f"{', '.join(model.files)}, BusCoords.dat — {IEEE123_SOURCE}",
        "master": master,
        "notes": [
            "balanced positive-sequence equivalent: z1 = mean(diag Z) - mean(offdiag Z) per "
            "line code (self impedance for 1-phase codes); loads summed over phases per bus",
            "loads constant PQ (OpenDSS load model= ignored)",
            f"regulators ({', '.join(regs)}) as fixed taps 1.0: the files give no tap "
            "positions; OLTC range 0.9-1.1, 33 positions (OpenDSS defaults)",
            "closed switches r = x = 1e-4 p.u.; open switches kept with in_service = False",
            "capacitors are DERs of kind 'capacitor' at their rated kvar",
            f"slack generator at the source: ±10 MW, ±10 Mvar, {SLACK_COST_USD_PER_MWH} $/MWh "
            "(assumed)",
        ],
    }


def _bus_refs(obj: DssObject) -> list[str]:
    """Bus names an element connects (capacitors' implicit ground terminal excluded)."""
    if obj.cls == "transformer":
        windings = int(as_float(obj.props.get("windings", "2"), obj.where_of("windings")))
        buses = _winding_values(obj, "bus", "buses")
        if windings != 2 or not all(buses):
            raise dss_error(
                obj.where,
                f"transformer.{obj.name}: only 2-winding transformers "
                "with both buses given are supported",
            )
        return buses
    keys = ("bus1", "bus2") if obj.cls == "line" else ("bus1",)
    missing = [k for k in keys if k not in obj.props]
    if missing:
        raise dss_error(obj.where, f"{obj.cls}.{obj.name}: no {' or '.join(missing)} given")
    return [obj.props[k] for k in keys]


def _bus_ids(model: DssModel) -> dict[str, int]:
    """Bus name → id: numeric names keep their number, the others (sorted) get 1000, 1001 …"""
    names: list[str] = []
    for cls in ("vsource", "line", "transformer", "load", "capacitor"):
        for obj in model.objects[cls].values():
            refs = _bus_refs(obj) if cls != "vsource" else [obj.props.get("bus1", "sourcebus")]
            names += [bus_name(b) for b in refs]
    unique = list(dict.fromkeys(names))
    numeric = {n: int(n) for n in unique if n.isdigit() and str(int(n)) == n}
    start = max(1000, max(numeric.values(), default=0) + 1)
    others = sorted(n for n in unique if n not in numeric)
    return {**numeric, **{n: start + k for k, n in enumerate(others)}}


def _winding_values(obj: DssObject, key: str, array_key: str, n: int = 2) -> list[str]:
    """Per-winding values of a transformer from ``buses=[..]`` or ``wdg=k bus=..`` syntax."""
    values: list[str] = [""] * n
    wdg = 1
    for k, v, where in obj.items:
        if k == "wdg":
            wdg = int(as_float(v, where))
            if not 1 <= wdg <= n:
                raise dss_error(where, f"transformer.{obj.name}: winding {wdg} of {n}")
        elif k == key:
            values[wdg - 1] = v
        elif k == array_key:
            listed = as_list(v)
            values[: len(listed)] = listed[:n]
    return values


def _transformer_kv(obj: DssObject) -> list[float]:
    kvs = _winding_values(obj, "kv", "kvs")
    return [as_float(v or "12.47", obj.where) for v in kvs]  # 12.47 kV: OpenDSS default


def _bus_base_kv(model: DssModel, ids: dict[str, int]) -> dict[str, float]:
    """Base kV of every bus: propagated from the source through lines and transformer ratios,
    then snapped to the nearest of ``Set VoltageBases`` (4.16 and 0.48 kV in the IEEE 123)."""
    source = model.objects["vsource"]["source"]
    start = bus_name(source.props.get("bus1", "sourcebus"))
    adj: dict[str, list[tuple[str, float]]] = {n: [] for n in ids}
    for line in model.objects["line"].values():
        a, b = (bus_name(x) for x in _bus_refs(line))
        adj[a].append((b, 1.0))
        adj[b].append((a, 1.0))
    for tr in model.objects["transformer"].values():
        (a, b), (kv1, kv2) = [bus_name(x) for x in _bus_refs(tr)], _transformer_kv(tr)
        adj[a].append((b, kv2 / kv1))
        adj[b].append((a, kv1 / kv2))
    kv = {start: as_float(source.props.get("basekv", "115"), source.where)}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for there, ratio in adj[here]:
            if there not in kv:
                kv[there] = kv[here] * ratio
                queue.append(there)
    for name in ids:  # buses connected to nothing: take the source's voltage
        kv.setdefault(name, kv[start])
    if model.voltage_bases:
        bases = np.array(model.voltage_bases)
        kv = {n: float(bases[np.argmin(np.abs(bases - v))]) for n, v in kv.items()}
    return kv


def _ieee123_buses(
    model: DssModel,
    ids: dict[str, int],
    base_kv: dict[str, float],
    coords_file: Path,
    branches: pd.DataFrame,
) -> pd.DataFrame:
    source = model.objects["vsource"]["source"]
    ref = bus_name(source.props.get("bus1", "sourcebus"))
    coords = _bus_coords(coords_file)
    rows = []
    for name, bid in ids.items():
        x, y = coords.get(name, (np.nan, np.nan))
        rows.append(
            {
                "bus_id": bid,
                "name": name,
                "base_kv": base_kv[name],
                "x_coord": x,
                "y_coord": y,
                "bus_type": "REF" if name == ref else "PQ",
            }
        )
    buses = pd.DataFrame(rows).set_index("bus_id").sort_index()
    buses.loc[ids[ref], "vm_pu"] = as_float(source.props.get("pu", "1.0"), source.where)
    buses["vm_pu"] = buses["vm_pu"].fillna(1.0)
    dead = _unreached(buses.index, branches, ids[ref])
    buses.loc[list(dead), "bus_type"] = "ISOLATED"
    return buses


def _unreached(bus_ids: pd.Index, branches: pd.DataFrame, ref: int) -> set[int]:
    """Buses not connected to ``ref`` through in-service branches."""
    live = branches[branches["in_service"]]
    adj: dict[int, list[int]] = {b: [] for b in bus_ids}
    for f, t in zip(live["from_bus"], live["to_bus"], strict=True):
        adj[f].append(t)
        adj[t].append(f)
    seen, queue = {ref}, deque([ref])
    while queue:
        for nxt in adj[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return set(bus_ids) - seen


def _bus_coords(path: Path) -> dict[str, tuple[float, float]]:
    """``BusCoords.dat``: ``name x y`` per line (commas or blanks)."""
    if not path.exists():
        return {}
    out = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        parts = [p for p in re.split(r"[\s,]+", raw.strip()) if p]
        if not parts:
            continue
        if len(parts) < 3:
            raise ValueError(f"{path.name}:{number}: expected 'bus x y', got '{raw.strip()}'")
        where = f"{path.name}:{number}"
        out[parts[0].lower()] = (as_float(parts[1], where), as_float(parts[2], where))
    return out


# -------------------------------------------------------------------------------- lines
def _pos_seq(m: np.ndarray) -> float:
    """mean(diag) − mean(offdiag): positive-sequence value of a phase matrix (self if 1×1)."""
    n = len(m)
    if n == 1:
        return float(m[0, 0])
    return float(np.trace(m) / n - (m.sum() - np.trace(m)) / (n * (n - 1)))


def _per_length(obj: DssObject) -> tuple[complex, float] | None:
    """Positive-sequence z (Ω/unit) and c (nF/unit) of a line or linecode, if it defines them."""
    p = obj.props
    if "rmatrix" in p or "xmatrix" in p:
        r = _pos_seq(as_matrix(p.get("rmatrix", "[0]"), obj.where_of("rmatrix")))
        x = _pos_seq(as_matrix(p.get("xmatrix", "[0]"), obj.where_of("xmatrix")))
        c = _pos_seq(as_matrix(p["cmatrix"], obj.where_of("cmatrix"))) if "cmatrix" in p else 0.0
        return complex(r, x), c
    if "r1" in p or "x1" in p:
        r = as_float(p.get("r1", "0.058"), obj.where_of("r1"))  # OpenDSS defaults
        x = as_float(p.get("x1", "0.1206"), obj.where_of("x1"))
        return complex(r, x), as_float(p.get("c1", "3.4"), obj.where_of("c1"))
    return None


def _units(obj: DssObject) -> str | None:
    u = obj.props.get("units", "none").lower()
    if u not in (*LENGTH_M, "none"):
        raise dss_error(
            obj.where_of("units"), f"unknown length units '{u}' (known: {sorted(LENGTH_M)})"
        )
    return None if u == "none" else u


def _line_impedance(line: DssObject, codes: dict[str, DssObject]) -> tuple[complex, float, float]:
    """Total positive-sequence z (Ω), c (nF) and length (km, NaN if unknown) of a line."""
    length = as_float(line.props.get("length", "1"), line.where_of("length"))
    own, line_u = _per_length(line), _units(line)
    code_u = line_u
    if own is None:
        code_name = line.props.get("linecode")
        if code_name is None:
            raise dss_error(line.where, f"line.{line.name}: no linecode and no impedances")
        code = codes.get(code_name.lower())
        if code is None:
            raise dss_error(
                line.where_of("linecode"), f"line.{line.name}: unknown linecode '{code_name}'"
            )
        own, code_u = _per_length(code), _units(code)
        if own is None:
            raise dss_error(code.where, f"linecode.{code.name}: no impedances defined")
    scale = LENGTH_M[line_u] / LENGTH_M[code_u] if line_u and code_u else 1.0
    length_km = length * LENGTH_M[line_u] / 1000.0 if line_u else np.nan
    return own[0] * length * scale, own[1] * length * scale, length_km


def _line_rows(model: DssModel, ids: dict[str, int], base_kv: dict[str, float]) -> pd.DataFrame:
    codes = model.objects["linecode"]
    rows = []
    for line in model.objects["line"].values():
        a, b = (bus_name(x) for x in _bus_refs(line))
        kv = base_kv[a]
        z, c, length_km = _line_impedance(line, codes)
        switch = truthy(line.props.get("switch", "no"))
        closed = truthy(line.props.get("enabled", "yes")) and not line.open_terminals
        r, x = (
            (SWITCH_Z_PU, SWITCH_Z_PU)
            if switch
            else (
                float(units.ohm_to_pu(z.real, kv, IEEE123_BASE_MVA)),
                float(units.ohm_to_pu(z.imag, kv, IEEE123_BASE_MVA)),
            )
        )
        bpu = (
            0.0
            if switch
            else float(units.nf_to_b_pu(c, kv, IEEE123_BASE_MVA, f_hz=model.base_frequency))
        )
        rows.append(
            {
                "name": f"Line.{line.name}",
                "from_bus": ids[a],
                "to_bus": ids[b],
                "kind": "switch" if switch else "line",
                "r_pu": r,
                "x_pu": x,
                "b_pu": bpu,
                "length_km": length_km,
                "tap_steps": 0,
                "in_service": closed,
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------- transformers
def _banks(model: DssModel) -> dict[str, list[DssObject]]:
    """Transformers grouped into banks: same ``bank=`` name, else the same pair of buses."""
    banks: dict[str, list[DssObject]] = {}
    for tr in model.objects["transformer"].values():
        key = tr.props.get("bank") or "-".join(bus_name(b) for b in _bus_refs(tr))
        banks.setdefault(key.lower(), []).append(tr)
    return banks


def _transformer_z_pu(tr: DssObject) -> tuple[float, float, float]:
    """r, x (p.u. on IEEE123_BASE_MVA) and the 3-phase rating (MVA) of one unit or bank."""
    kva = as_float(_winding_values(tr, "kva", "kvas")[0] or "1000", tr.where)
    phases = int(as_float(tr.props.get("phases", "3"), tr.where_of("phases")))
    s3_mva = kva / 1000.0 * (3 if phases == 1 else 1)
    x_pct = as_float(tr.props.get("xhl", tr.props.get("x12", "7")), tr.where_of("xhl"))
    r_w = _winding_values(tr, "%r", "%rs")
    if any(r_w):
        r_pct = sum(as_float(v or "0.2", tr.where) for v in r_w)
    else:
        r_pct = as_float(tr.props.get("%loadloss", "0.4"), tr.where_of("%loadloss"))
    scale = IEEE123_BASE_MVA / s3_mva / 100.0
    return r_pct * scale, x_pct * scale, s3_mva


def _tap(tr: DssObject, model: DssModel) -> float:
    """Winding-2 tap of a regulator: ``taps=``/``tap=`` on the transformer or a RegControl
    ``TapNum`` (steps of 0.2/32); 1.0 when the files give neither (the IEEE 123 case)."""
    taps = _winding_values(tr, "tap", "taps")
    t1, t2 = (as_float(t or "1", tr.where) for t in taps)
    for reg in model.objects["regcontrol"].values():
        if reg.props.get("transformer", "").lower() == tr.name and "tapnum" in reg.props:
            step = (REG_TAP_MAX - REG_TAP_MIN) / REG_NUM_TAPS
            t2 = 1.0 + step * as_float(reg.props["tapnum"], reg.where_of("tapnum"))
    return t1 / t2


def _transformer_rows(
    model: DssModel, ids: dict[str, int], base_kv: dict[str, float]
) -> pd.DataFrame:
    regulated = {
        r.props.get("transformer", "").lower() for r in model.objects["regcontrol"].values()
    }
    rows = []
    for units_ in _banks(model).values():
        tr = units_[0]
        a, b = (bus_name(x) for x in _bus_refs(tr))
        kv1, kv2 = _transformer_kv(tr)
        r, x, s3 = _transformer_z_pu(tr)
        s3 *= 1 if int(as_float(tr.props.get("phases", "3"), tr.where)) == 3 else len(units_) / 3
        ratio = (kv1 / base_kv[a]) / (kv2 / base_kv[b]) * _tap(tr, model)
        is_reg = any(u.name in regulated for u in units_)
        rows.append(
            {
                "name": "Transformer." + "+".join(u.name for u in units_),
                "from_bus": ids[a],
                "to_bus": ids[b],
                "kind": "transformer",
                "r_pu": r,
                "x_pu": x,
                "rate_a_mva": s3,
                "tap_ratio": ratio,
                "tap_min": REG_TAP_MIN if is_reg else ratio,
                "tap_max": REG_TAP_MAX if is_reg else ratio,
                "tap_steps": REG_NUM_TAPS + 1 if is_reg else 0,
                "in_service": True,
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ loads, caps, slack
def _load_rows(model: DssModel, ids: dict[str, int]) -> pd.DataFrame:
    """One constant-PQ load per bus: the kW and kvar of every phase summed (disabled loads,
    ``enabled=no``, summed apart into a row with in_service False)."""
    per_bus: dict[tuple[int, bool], dict] = {}
    for load in model.objects["load"].values():
        p = load.props
        if "kw" not in p:
            raise dss_error(load.where, f"load.{load.name}: no kW given")
        bid = ids[bus_name(_bus_refs(load)[0])]
        on = truthy(p.get("enabled", "yes"))
        row = per_bus.setdefault(
            (bid, on), {"bus": bid, "names": [], "p_mw": 0.0, "q_mvar": 0.0, "in_service": on}
        )
        row["names"].append(load.name)
        row["p_mw"] += as_float(p["kw"], load.where_of("kw")) / 1000.0
        row["q_mvar"] += as_float(p.get("kvar", "0"), load.where_of("kvar")) / 1000.0
    rows = [{"name": "+".join(r.pop("names")), **r} for r in per_bus.values()]
    return pd.DataFrame(rows).rename_axis("load_id")


def _capacitor_rows(model: DssModel, ids: dict[str, int]) -> pd.DataFrame:
    """Capacitors as DERs of kind 'capacitor', one fixed step at the rated kvar."""
    rows = []
    for cap in model.objects["capacitor"].values():
        q = sum(as_float(v, cap.where_of("kvar")) for v in as_list(cap.props.get("kvar", "600")))
        q_mvar = q / 1000.0
        rows.append(
            {
                "name": f"Capacitor.{cap.name}",
                "bus": ids[bus_name(_bus_refs(cap)[0])],
                "kind": "capacitor",
                "q_mvar": q_mvar,
                "q_min_mvar": 0.0,
                "q_max_mvar": q_mvar,
                "q_step_mvar": q_mvar,
                "n_steps": 1,
                "in_service": truthy(cap.props.get("enabled", "yes")),
            }
        )
    return pd.DataFrame(rows).rename_axis("der_id")


def _slack_gen(bus: int, vm: float) -> dict:
    return {
        "name": "substation",
        "bus": bus,
        "p_min_mw": -10.0,
        "p_max_mw": 10.0,
        "q_min_mvar": -10.0,
        "q_max_mvar": 10.0,
        "vm_set_pu": vm,
        "cost_c1_usd_per_mwh": SLACK_COST_USD_PER_MWH,
        "fuel": "grid",
    }
