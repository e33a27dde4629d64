"""MATPOWER / PGLib ``.m`` case files: our own parser, reader and writer (no MATLAB or Octave).

The file is parsed by :mod:`dispatchlab.cases.matpower_parser` (``parse_matpower``, re-exported
here). Statements that *modify* a field after it was assigned (``mpc.branch(:, 3) = ...``, as in
``case33bw.m``) are not executed but reported (a warning and ``meta["notes"]``).

Conventions of the conversion to a :class:`~dispatchlab.cases.case.Case`:

* ``bus_id`` is the MATPOWER bus number; ``branch_id`` and ``gen_id`` are 0-based row numbers.
* Bus ``Pd``/``Qd`` become one load per bus with non-zero ``Pd`` or ``Qd`` (``load_id`` 0.. in
  bus-row order). The writer aggregates loads per bus again.
* Ratings of 0 mean "unlimited" (``inf``); a ratio of 0 means 1.0; a branch is a transformer
  when the file gives a non-zero ratio or shift. ``angmin = angmax = 0`` means "no angle limit"
  (as MATPOWER's ``makeAang``) and becomes -360/360, as do absent angle columns.
* ``ramp_30`` (column 19, MW per 30 min) gives ``ramp_up/down_mw_per_h = 2 * ramp_30``; a ramp
  of 0 (or no column) means unlimited. ``ramp_agc``/``ramp_10``, ``mBase``, the PQ capability
  curve and cost start-up/shut-down costs have no column in our schema and are not read.
* Reactive-power cost rows (``gencost`` rows beyond ``ngen``) are kept in ``meta["q_gencost"]``
  and written back by :func:`write_matpower`. Cubic or higher polynomial costs raise.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dispatchlab.cases.case import Case
from dispatchlab.cases.matpower_parser import (
    MatpowerParseError,
    _fail,
    _parse_text,
    parse_matpower,
)

__all__ = ["BUS_TYPES", "MatpowerParseError", "parse_matpower", "read_matpower", "write_matpower"]

BUS_TYPES = {1: "PQ", 2: "PV", 3: "REF", 4: "ISOLATED"}
_BUS_CODES = {v: k for k, v in BUS_TYPES.items()}


# ------------------------------------------------------------------------------ reading
def read_matpower(path: str | Path, name: str | None = None) -> Case:
    """Read a MATPOWER/PGLib case file (``.m`` or ``.m.gz``) into a validated :class:`Case`
    (see the module doc)."""
    path = Path(path)
    raw = parse_matpower(path)
    return _to_case(raw, name or path.name.removesuffix(".gz").removesuffix(".m"), str(path))


def _to_case(raw: dict, name: str, source: str) -> Case:
    fname, notes = raw["file"], []
    if raw["ignored"]:
        msg = (
            f"{fname}: {len(raw['ignored'])} statement(s) modifying fields were not executed "
            f"({raw['ignored'][0]} …); the numbers read are the matrices as written"
        )
        warnings.warn(msg, stacklevel=3)
        notes.append(msg)
    buses, loads = _buses(raw)
    branches = _branches(raw)
    gens, pwl, q_rows = _gens(raw)
    meta: dict[str, Any] = {"source": source, "format": "matpower"}
    if q_rows:
        meta["q_gencost"] = q_rows
        notes.append(f"{len(q_rows)} reactive-power cost row(s) kept in meta['q_gencost']")
    if isinstance(raw.get("gentype"), list) and len(raw["gentype"]) == len(gens):
        meta["gentype"] = [str(t) for t in raw["gentype"]]
    n_neg = int((branches["x_pu"] < 0).sum())
    if n_neg:
        notes.append(f"{n_neg} branch(es) with negative reactance (series compensation) accepted")
    if notes:
        meta["notes"] = notes
    return Case(
        name,
        buses,
        branches,
        gens,
        loads,
        gen_cost_pwl=pwl,
        base_mva=float(raw["baseMVA"]),
        meta=meta,
        allow_negative_x=n_neg > 0,
    )


def _names(raw: dict, field: str, n: int, table: str) -> list[str] | str:
    names = raw.get(field)
    if names is None:
        return ""
    if len(names) != n:
        raise _fail(raw["file"], None, f"mpc.{field}", f"has {len(names)} entries, {n} {table}")
    return [str(x) for x in names]


def _buses(raw: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    b = raw["bus"]
    types = b[:, 1]
    bad = ~np.isin(types, list(BUS_TYPES)) | (b[:, 0] != np.round(b[:, 0])) | (b[:, 0] < 1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise _fail(
            raw["file"],
            int(raw["lines"]["bus"][k]),
            "mpc.bus",
            f"row {k + 1}: bus {b[k, 0]:g} of type {types[k]:g} (need a positive whole bus "
            "number and a type 1, 2, 3 or 4)",
        )
    ids = pd.Index(b[:, 0].astype(np.int64), name="bus_id")
    _check_unique_buses(raw, ids)
    buses = pd.DataFrame(
        {
            "name": _names(raw, "bus_name", len(b), "buses"),
            "bus_type": [BUS_TYPES[int(t)] for t in types],
            "base_kv": b[:, 9],
            "vm_pu": b[:, 7],
            "va_deg": b[:, 8],
            "vm_min_pu": b[:, 12],
            "vm_max_pu": b[:, 11],
            "gs_mw": b[:, 4],
            "bs_mvar": b[:, 5],
            "area": b[:, 6],
            "zone": b[:, 10],
        },
        index=ids,
    )
    has_load = (b[:, 2] != 0) | (b[:, 3] != 0)
    loads = pd.DataFrame(
        {
            "bus": ids[has_load],
            "p_mw": b[has_load, 2],
            "q_mvar": b[has_load, 3],
            "in_service": True,
        },
        index=pd.RangeIndex(int(has_load.sum()), name="load_id"),
    )
    return buses, loads


def _check_unique_buses(raw: dict, ids: pd.Index) -> None:
    """Each bus number once: a repeated one made a scipy length error further on."""
    repeated = ids[ids.duplicated(keep=False)]
    if not len(repeated):
        return
    lines = raw["lines"]["bus"]
    where = [
        f"bus {bus} on lines " + ", ".join(str(int(lines[k])) for k in np.flatnonzero(ids == bus))
        for bus in sorted(set(repeated))[:5]
    ]
    first = int(lines[int(np.flatnonzero(ids.duplicated())[0])])
    n = len(set(repeated))
    raise _fail(raw["file"], first, "mpc.bus", f"{n} duplicate bus number(s): {'; '.join(where)}")


def _branches(raw: dict) -> pd.DataFrame:
    br = raw["branch"]
    ratio, shift = br[:, 8], br[:, 9]
    tap = np.where(ratio == 0, 1.0, ratio)
    if br.shape[1] >= 13:
        angmin, angmax = br[:, 11].copy(), br[:, 12].copy()
        free = (angmin == 0) & (angmax == 0)  # MATPOWER: both 0 = no angle limit
        angmin[free], angmax[free] = -360.0, 360.0
    else:
        angmin, angmax = np.full(len(br), -360.0), np.full(len(br), 360.0)
    rates = {
        c: np.where(br[:, k] == 0, np.inf, br[:, k])
        for k, c in ((5, "rate_a_mva"), (6, "rate_b_mva"), (7, "rate_c_mva"))
    }
    return pd.DataFrame(
        {
            "from_bus": br[:, 0],
            "to_bus": br[:, 1],
            "kind": np.where((ratio != 0) | (shift != 0), "transformer", "line"),
            "r_pu": br[:, 2],
            "x_pu": br[:, 3],
            "b_pu": br[:, 4],
            **rates,
            "tap_ratio": tap,
            "shift_deg": shift,
            "tap_min": tap,
            "tap_max": tap,
            "angmin_deg": angmin,
            "angmax_deg": angmax,
            "in_service": br[:, 10] != 0,
        },
        index=pd.RangeIndex(len(br), name="branch_id"),
    )


def _gens(raw: dict) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    g = raw["gen"]
    ramp = g[:, 18] * 2.0 if g.shape[1] >= 19 else np.zeros(len(g))
    ramp = np.where(ramp > 0, ramp, np.inf)  # ramp_30 is MW per 30 min; 0 = unlimited
    costs, pwl, q_rows = _costs(raw, len(g))
    gens = pd.DataFrame(
        {
            "bus": g[:, 0],
            "p_mw": g[:, 1],
            "q_mvar": g[:, 2],
            "p_min_mw": g[:, 9],
            "p_max_mw": g[:, 8],
            "q_min_mvar": g[:, 4],
            "q_max_mvar": g[:, 3],
            "vm_set_pu": g[:, 5],
            "ramp_up_mw_per_h": ramp,
            "ramp_down_mw_per_h": ramp,
            **costs,
            "fuel": _names(raw, "genfuel", len(g), "gens"),
            "in_service": g[:, 7] > 0,
        },
        index=pd.RangeIndex(len(g), name="gen_id"),
    )
    return gens, pwl, q_rows


def _costs(raw: dict, ngen: int) -> tuple[dict, pd.DataFrame, list]:
    """Polynomial costs as c2/c1/c0 columns, piecewise-linear ones as breakpoint rows."""
    gc, fname = raw.get("gencost"), raw["file"]
    poly = {
        "cost_model": "poly",
        "cost_c2_usd_per_mw2h": 0.0,
        "cost_c1_usd_per_mwh": 0.0,
        "cost_c0_usd_per_h": 0.0,
    }
    if gc is None or gc.size == 0:
        return poly, pd.DataFrame(), []
    lines = raw["lines"]["gencost"]
    if len(gc) < ngen:
        raise _fail(fname, int(lines[-1]), "mpc.gencost", f"{len(gc)} rows for {ngen} gens")
    model, n = gc[:ngen, 0], gc[:ngen, 3].astype(np.int64)
    width = np.where(model == 1, 4 + 2 * n, 4 + n)
    bad = ~np.isin(model, (1, 2)) | (width > gc.shape[1]) | (n < 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise _fail(
            fname,
            int(lines[k]),
            "mpc.gencost",
            f"gen {k}: model {model[k]:g} with n={n[k]} does not fit {gc.shape[1]} columns",
        )
    coef = np.zeros((ngen, max(3, int(n.max(initial=0)))))  # coef[:, d] = coefficient of P^d
    rows = np.arange(ngen)
    for d in range(coef.shape[1]):
        ok = (model == 2) & (d < n)
        coef[rows[ok], d] = gc[rows[ok], 3 + n[ok] - d]
    cubic = (coef[:, 3:] != 0).any(axis=1)
    if cubic.any():
        k = int(np.flatnonzero(cubic)[0])
        raise _fail(
            fname,
            int(lines[k]),
            "mpc.gencost",
            f"gen {k} has a polynomial cost of degree > 2: cubic costs are not supported",
        )
    poly.update(
        cost_model=np.where(model == 1, "pwl", "poly"),
        cost_c2_usd_per_mw2h=coef[:, 2],
        cost_c1_usd_per_mwh=coef[:, 1],
        cost_c0_usd_per_h=coef[:, 0],
    )
    return poly, _pwl_points(gc, model, n), gc[ngen:].tolist()


def _pwl_points(gc: np.ndarray, model: np.ndarray, n: np.ndarray) -> pd.DataFrame:
    parts = [
        pd.DataFrame(
            {
                "gen_id": k,
                "point": np.arange(n[k]),
                "p_mw": gc[k, 4 : 4 + 2 * n[k] : 2],
                "cost_usd_per_h": gc[k, 5 : 5 + 2 * n[k] : 2],
            }
        )
        for k in np.flatnonzero(model == 1)
    ]
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    return out.set_axis(pd.RangeIndex(len(out), name="row"))


# ------------------------------------------------------------------------------ writing
def write_matpower(case: Case, path: str | Path, *, strict: bool = True) -> Path:
    """Write ``case`` as a MATPOWER version-2 ``.m`` file (numbers exact: 17 significant digits).

    Loads are aggregated per bus into ``Pd``/``Qd``. With ``strict`` (the default) the file is
    read back before it is written and a :class:`ValueError` lists everything MATPOWER cannot
    represent (DERs, several loads on one bus, reserves, contingencies, a time series, names of
    branches, reserve or emission data …) instead of dropping it silently; ``strict=False``
    writes what can be written.
    """
    path = Path(path)
    lost = _unrepresentable(case)
    text = _case_text(case, path.stem)
    if strict:
        back = _to_case(_parse_text(text, path.name, None), case.name, str(path))
        lost += [
            d
            for d in case.differences(back)
            if not d.startswith(("ders", "reserves", "contingencies"))
        ]
        if lost:
            raise ValueError(
                f"case '{case.name}' cannot be written to MATPOWER without loss: "
                + "; ".join(lost)
                + " (write_matpower(..., strict=False) drops them)"
            )
    path.write_text(text)
    return path


def _unrepresentable(case: Case) -> list[str]:
    loads, out = case.loads, []
    if len(case.ders):
        out.append(f"{len(case.ders)} DER(s) (MATPOWER has no DER table)")
    for table in ("reserves", "contingencies"):
        if len(getattr(case, table)):
            out.append(f"the {table} table")
    if case.timeseries is not None:
        out.append("the time series")
    if loads["bus"].duplicated().any():
        buses = sorted(set(loads["bus"][loads["bus"].duplicated()]))[:5]
        out.append(f"several loads on one bus (bus(es) {buses}); MATPOWER has one Pd/Qd per bus")
    if not loads["in_service"].all():
        out.append("out-of-service loads")
    q_pwl = case.gen_cost_pwl.query("power == 'q'")["gen_id"].unique()
    if len(q_pwl):  # MATPOWER's Q rows of gencost are read into meta['q_gencost'] only
        out.append(f"reactive-power pwl costs (gen_cost_pwl power='q') of gen(s) {q_pwl[:5]}")
    return out


def _fmt(x: float) -> str:
    """Shortest text that reads back to the same float (``repr``), MATLAB's Inf/NaN spelling."""
    if x != x:
        return "NaN"
    if x in (np.inf, -np.inf):
        return "Inf" if x > 0 else "-Inf"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _matrix_text(field: str, header: str, mat: np.ndarray) -> str:
    body = "".join("\t" + "\t".join(map(_fmt, row)) + ";\n" for row in mat.tolist())
    return f"%\t{header}\nmpc.{field} = [\n{body}];\n\n"


def _cell_text(field: str, values: list[str]) -> str:
    body = "".join("\t'" + str(v).replace("'", "''") + "';\n" for v in values)
    return f"mpc.{field} = {{\n{body}}};\n\n"


def _case_text(case: Case, fname: str) -> str:
    func = re.sub(r"\W", "_", fname) if re.match(r"[A-Za-z]", fname) else f"case_{fname}"
    parts = [
        f"function mpc = {func}\n%{func.upper()}  {case.name}, written by dispatchlab.\n\n",
        "mpc.version = '2';\n",
        f"mpc.baseMVA = {_fmt(case.base_mva)};\n\n",
        _matrix_text(
            "bus",
            "bus_i\ttype\tPd\tQd\tGs\tBs\tarea\tVm\tVa\tbaseKV\tzone\tVmax\tVmin",
            _bus_matrix(case),
        ),
        _matrix_text(
            "gen",
            "bus\tPg\tQg\tQmax\tQmin\tVg\tmBase\tstatus\tPmax\tPmin ..\tramp_30",
            _gen_matrix(case),
        ),
        _matrix_text(
            "branch",
            "fbus\ttbus\tr\tx\tb\trateA\trateB\trateC\tratio\tangle\tstatus\tangmin\tangmax",
            _branch_matrix(case),
        ),
    ]
    if len(case.gens):
        parts.append(
            _matrix_text(
                "gencost",
                "1 (pwl)\tstartup\tshutdown\tn\tx1\ty1 ..  or  "
                "2 (poly)\tstartup\tshutdown\t3\tc2\tc1\tc0",
                _gencost(case),
            )
        )
    if (case.buses["name"] != "").any():
        parts.append(_cell_text("bus_name", case.buses["name"].tolist()))
    if (case.gens["fuel"] != "").any():
        parts.append(_cell_text("genfuel", case.gens["fuel"].tolist()))
    if len(case.meta.get("gentype", ())) == len(case.gens) > 0:
        parts.append(_cell_text("gentype", case.meta["gentype"]))
    return "".join(parts)


def _bus_matrix(case: Case) -> np.ndarray:
    b, loads = case.buses, case.loads
    load = loads[loads["in_service"]].groupby("bus")[["p_mw", "q_mvar"]].sum()
    load = load.reindex(b.index, fill_value=0.0)
    return np.column_stack(
        [
            b.index.to_numpy(),
            b["bus_type"].map(_BUS_CODES).to_numpy(),
            load["p_mw"],
            load["q_mvar"],
            b["gs_mw"],
            b["bs_mvar"],
            b["area"],
            b["vm_pu"],
            b["va_deg"],
            b["base_kv"],
            b["zone"],
            b["vm_max_pu"],
            b["vm_min_pu"],
        ]
    ).astype(np.float64)


def _gen_matrix(case: Case) -> np.ndarray:
    g = case.gens
    cols = [
        g["bus"],
        g["p_mw"],
        g["q_mvar"],
        g["q_max_mvar"],
        g["q_min_mvar"],
        g["vm_set_pu"],
        np.full(len(g), case.base_mva),
        g["in_service"],
        g["p_max_mw"],
        g["p_min_mw"],
    ]
    ramp = g["ramp_up_mw_per_h"].to_numpy()
    if np.isfinite(ramp).any():  # columns 11-21: PQ curve, ramp_agc, ramp_10, ramp_30, …
        zeros = [np.zeros(len(g))] * 8
        cols += [*zeros, np.where(np.isfinite(ramp), ramp / 2.0, 0.0), *zeros[:2]]
    return np.column_stack(cols).astype(np.float64)


def _branch_matrix(case: Case) -> np.ndarray:
    br = case.branches
    is_tr = (br["kind"] == "transformer").to_numpy()
    rates = [br[c].replace(np.inf, 0.0) for c in ("rate_a_mva", "rate_b_mva", "rate_c_mva")]
    return np.column_stack(
        [
            br["from_bus"],
            br["to_bus"],
            br["r_pu"],
            br["x_pu"],
            br["b_pu"],
            *rates,
            np.where(is_tr, br["tap_ratio"], 0.0),
            br["shift_deg"],
            br["in_service"],
            br["angmin_deg"],
            br["angmax_deg"],
        ]
    ).astype(np.float64)


def _gencost(case: Case) -> np.ndarray:
    g = case.gens
    poly = g[["cost_c2_usd_per_mw2h", "cost_c1_usd_per_mwh", "cost_c0_usd_per_h"]].to_numpy()
    rows = np.column_stack([np.tile([2.0, 0.0, 0.0, 3.0], (len(g), 1)), poly]).tolist()
    pwl = case.gen_cost_pwl.query("power == 'p'").sort_values(["gen_id", "point"])
    for k in np.flatnonzero((g["cost_model"] == "pwl").to_numpy()):
        pts = pwl.loc[pwl["gen_id"] == g.index[k], ["p_mw", "cost_usd_per_h"]].to_numpy()
        rows[k] = [1.0, 0.0, 0.0, float(len(pts)), *pts.ravel().tolist()]
    q_rows = case.meta.get("q_gencost", [])
    rows += [list(r) for r in q_rows] if len(q_rows) == len(g) else []
    width = max(map(len, rows))
    return np.array([r + [0.0] * (width - len(r)) for r in rows], dtype=np.float64)
