"""dispatchlab DC-OPF (main venv): read_matpower on the prepared file, then solve()."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.simplefilter("ignore")

from common import WARMUP, case_file, serve  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("case")
p.add_argument("--formulation", default=None, help="None = the default (auto)")
p.add_argument("--no-angle-limits", action="store_true", help="angle_limits=False")
a = p.parse_args()

t0 = time.perf_counter()
from dispatchlab.cases.matpower import read_matpower  # noqa: E402
from dispatchlab.solvers.api import solve  # noqa: E402

t_imp = time.perf_counter() - t0


def once():
    kw = {"formulation": a.formulation} if a.formulation else {}  # default options otherwise
    if a.no_angle_limits:
        kw["angle_limits"] = False
    r = solve(case, "dcopf", **kw)
    return {
        "status": str(getattr(r.status, "value", r.status)).lower(),
        "objective": float(r.objective),
        **{k: float(v) for k, v in r.timings.items()},
        "iterations": r.info.get("iterations"),
        "rows": r.info.get("rows"),
        "cols": r.info.get("columns"),
        "formulation": r.info.get("formulation"),
    }


# untimed warm-up on a small case: first-call imports and caches are paid here, by every tool
case = read_matpower(case_file(WARMUP))
once()
t0 = time.perf_counter()
case = read_matpower(case_file(a.case))
t_load = time.perf_counter() - t0
serve(once, {"load": t_load, "import_s": t_imp})
