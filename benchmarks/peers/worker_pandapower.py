"""pandapower rundcopp (main venv): from_ppc on the prepared arrays, then rundcopp (PIPS)."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.simplefilter("ignore")
from common import WARMUP, load_ppc, serve  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("case")
a = p.parse_args()

t0 = time.perf_counter()
import pandapower as pp  # noqa: E402
from pandapower.converter.pypower.from_ppc import from_ppc  # noqa: E402

t_imp = time.perf_counter() - t0


def once():
    t = time.perf_counter()
    try:
        pp.rundcopp(net)
        ok = bool(net.OPF_converged)
    except Exception as exc:  # OPFNotConverged
        return {
            "status": f"failed: {type(exc).__name__}",
            "objective": float("nan"),
            "solve": time.perf_counter() - t,
        }
    return {
        "status": "optimal" if ok else "not converged",
        "objective": float(net.res_cost),
        "solve": time.perf_counter() - t,
    }


# untimed warm-up on a small case: first-call imports and caches are paid here, by every tool
net = from_ppc(load_ppc(WARMUP), f_hz=50, validate_conversion=False)
once()
t0 = time.perf_counter()
net = from_ppc(load_ppc(a.case), f_hz=50, validate_conversion=False)
t_load = time.perf_counter() - t0
serve(once, {"load": t_load, "import_s": t_imp})
