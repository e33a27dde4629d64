"""Egret B-θ (or PTDF) DC-OPF through Pyomo + HiGHS (peers venv)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)
from common import WARMUP, case_file, serve  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("case")
p.add_argument("--model", default="btheta", choices=["btheta", "ptdf"])
p.add_argument("--solver", default="appsi_highs")
p.add_argument("--angle-limits", action="store_true", help="B-θ: include_angle_diff_limits=True")
a = p.parse_args()

t0 = time.perf_counter()
import pyomo.environ as pe  # noqa: E402
from egret.models.dcopf import create_btheta_dcopf_model, create_ptdf_dcopf_model  # noqa: E402
from egret.parsers.matpower_parser import create_ModelData  # noqa: E402

t_imp = time.perf_counter() - t0
gen_model = create_btheta_dcopf_model if a.model == "btheta" else create_ptdf_dcopf_model


def once():
    # the same steps as egret.models.dcopf.solve_dcopf, timed apart. Its lazy PTDF loop is
    # not used because it does not run with an open solver: it needs a Pyomo
    # PersistentSolver (gurobi_persistent, ...); appsi_highs fails in it and plain "highs"
    # is refused (see peers.md). lazy=False puts every monitored branch's row in up front.
    t = time.perf_counter()
    if a.model == "ptdf":
        kw = {"ptdf_options": {"lazy": False}}
    else:  # Egret's default leaves angle-difference limits out
        kw = {"include_angle_diff_limits": a.angle_limits}
    m, _ = gen_model(md, **kw)
    m.dual = pe.Suffix(direction=pe.Suffix.IMPORT)
    t1 = time.perf_counter()
    solver = pe.SolverFactory(a.solver)
    res = solver.solve(m)
    t2 = time.perf_counter()
    tc = str(res.solver.termination_condition).lower()
    obj = float(pe.value(m.obj))
    pg = {g: pe.value(m.pg[g]) for g in m.pg}  # noqa: F841  (what solve_dcopf extracts)
    t3 = time.perf_counter()
    return {
        "status": "optimal" if "optimal" in tc else tc,
        "objective": obj,
        "build": t1 - t,
        "solve": t2 - t1,
        "extract": t3 - t2,
    }


# untimed warm-up on a small case: first-call imports and caches are paid here, by every tool
md = create_ModelData(str(case_file(WARMUP)))
once()
t0 = time.perf_counter()
md = create_ModelData(str(case_file(a.case)))
t_load = time.perf_counter() - t0
serve(once, {"load": t_load, "import_s": t_imp})
