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

from common import case_file, emit, run_repeats  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("case")
p.add_argument("--formulation", default="btheta")
p.add_argument("--repeats", type=int, default=3)
p.add_argument("--source", default="prepared", choices=["prepared", "pandapower"])
a = p.parse_args()

t0 = time.perf_counter()
from dispatchlab.solvers.api import solve  # noqa: E402

if a.source == "pandapower":  # case9241pegase through pandapower.networks + from_pandapower
    import pandapower.networks as pn

    from dispatchlab.cases.pandapower_io import from_pandapower

    t_imp = time.perf_counter() - t0
    t0 = time.perf_counter()
    case = from_pandapower(getattr(pn, a.case)())
else:
    from dispatchlab.cases.matpower import read_matpower

    t_imp = time.perf_counter() - t0
    t0 = time.perf_counter()
    case = read_matpower(case_file(a.case), name=a.case)
t_load = time.perf_counter() - t0


def once():
    r = solve(case, "dcopf", formulation=a.formulation)
    return {
        "status": str(getattr(r.status, "value", r.status)).lower(),
        "objective": float(r.objective),
        **{k: float(v) for k, v in r.timings.items()},
        "iterations": r.info.get("iterations"),
        "rows": r.info.get("rows"),
        "cols": r.info.get("columns"),
    }


out = run_repeats(once, a.repeats, partial={"load": t_load, "import_s": t_imp})
out.update(load=t_load, import_s=t_imp)
emit(out)
