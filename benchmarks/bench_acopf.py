"""AC-OPF on the shipped PGLib cases: dispatchlab (Ipopt via CasADi) vs pandapower ``runopp``.

Ours: ``solve(case, "acopf", verify=True)`` (flat start); time = build + solve + extract
(``verify``, pandapower's power flow at our set-points, is reported but not timed).
pandapower: ``runopp`` (PYPOWER's interior point, flat start) on ``to_pandapower(case)`` with
``max_loading_percent = 100`` on lines and transformers, ``OPF_FLOW_LIM = 0`` (apparent-power
limits, as PGLib) and a controllable ext_grid; PYPOWER's apparent-power code needs the ``.H``
of scipy sparse matrices that scipy ≥ 1.14 removed, which this script puts back. runopp has no
angle-difference limits; its time includes the net → ppc conversion. Objectives are checked
against PGLib's BASELINE where known.

Target (issue): every case converges up to case2000_goc; ≥ 2× faster than runopp where both
converge.

    .venv/bin/python benchmarks/bench_acopf.py                       # all cases ≤ case2000_goc
    .venv/bin/python benchmarks/bench_acopf.py --cases case5_pjm case14_ieee --no-pandapower
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandapower as pp
import pandas as pd
import scipy.sparse as sp

from dispatchlab import load_case
from dispatchlab.cases.pandapower_io import to_pandapower
from dispatchlab.solvers.api import solve

sys.path.insert(0, str(Path(__file__).parent))
from bench_batched_pf import render_ac_md

from dispatchlab.cases.library import PGLIB

ROOT = Path(__file__).parents[1]
# the shipped PGLib cases up to case2000_goc (the target set)
CASES = tuple(PGLIB[: PGLIB.index("case2000_goc") + 1])
#: PGLib-OPF BASELINE AC objectives ($/h) used as a sanity check
PGLIB_AC = {
    "case5_pjm": 1.7552e4,
    "case14_ieee": 2.1781e3,
    "case30_ieee": 8.2085e3,
    "case118_ieee": 9.7214e4,
}


def run_ours(case) -> dict:
    r = solve(case, "acopf", verify=True)
    t = r.timings
    return {
        "status": str(r.status),
        "objective": r.objective,
        "iterations": r.info["iterations"],
        "build_s": t["build"],
        "solve_s": t["solve"],
        "total_s": t["build"] + t["solve"] + t["extract"],
        "verify_dvm_pu": r.info.get("verify_max_dvm_pu"),
    }


def run_pandapower(case) -> dict:
    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix):
        if not hasattr(cls, "H"):
            cls.H = property(lambda m: m.conj().T)
    net = to_pandapower(case)
    net.ext_grid["controllable"] = True
    for element in ("line", "trafo"):
        if len(net[element]):
            net[element]["max_loading_percent"] = 100.0
    t0 = time.perf_counter()
    try:
        pp.runopp(net, calculate_voltage_angles=True, init="flat", OPF_FLOW_LIM=0)
        ok, cost = bool(net.OPF_converged), float(net.res_cost)
    except Exception as exc:  # runopp raises OPFNotConverged and, on some nets, others
        ok, cost = False, float("nan")
        print(f"  pandapower: {type(exc).__name__}: {str(exc)[:80]}")
    return {"pp_converged": ok, "pp_objective": cost, "pp_s": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--no-pandapower", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()
    rows = []
    for name in args.cases:
        case = load_case(f"pglib/{name}")
        row = {"case": name, "buses": len(case.buses), **run_ours(case)}
        row["pglib_baseline"] = PGLIB_AC.get(name, float("nan"))
        row["rel_vs_baseline"] = row["objective"] / row["pglib_baseline"] - 1
        if not args.no_pandapower:
            row.update(run_pandapower(case))
            row["rel_vs_pp"] = row["objective"] / row["pp_objective"] - 1
            row["speedup"] = row["pp_s"] / row["total_s"] if row["pp_converged"] else float("nan")
        print({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.out / "ac_acopf.csv", index=False)
    render_ac_md(args.out)


if __name__ == "__main__":
    main()
