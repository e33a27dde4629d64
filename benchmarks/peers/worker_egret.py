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
from common import case_file, emit, run_repeats  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("case")
p.add_argument("--model", default="btheta", choices=["btheta", "ptdf"])
p.add_argument("--solver", default="appsi_highs")
p.add_argument("--repeats", type=int, default=3)
a = p.parse_args()

t0 = time.perf_counter()
import pyomo.environ as pe  # noqa: E402
from egret.models.dcopf import create_btheta_dcopf_model, create_ptdf_dcopf_model  # noqa: E402
from egret.parsers.matpower_parser import create_ModelData  # noqa: E402

t_imp = time.perf_counter() - t0
t0 = time.perf_counter()
md = create_ModelData(str(case_file(a.case)))
t_load = time.perf_counter() - t0
gen_model = create_btheta_dcopf_model if a.model == "btheta" else create_ptdf_dcopf_model


def once():
    # the same steps as egret.models.dcopf.solve_dcopf, timed apart (its lazy PTDF loop is
    # not used: with the default ptdf_options Egret adds all monitored branches up front
    # only when lazy=False, so we pass lazy=False for a one-shot solve)
    t = time.perf_counter()
    kw = {"ptdf_options": {"lazy": False}} if a.model == "ptdf" else {}
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


out = run_repeats(once, a.repeats, partial={"load": t_load, "import_s": t_imp})
out.update(load=t_load, import_s=t_imp)
emit(out)
