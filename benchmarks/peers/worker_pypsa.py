"""PyPSA (linopy + HiGHS) DC-OPF = PyPSA's linear OPF, one snapshot (peers venv).

The network is built from the prepared PYPOWER arrays with ``n.add`` rather than
``Network.import_from_pypower_ppc``, because that importer ignores gencost, generator status
and Pmin and needs baseKV to tell lines from transformers. The mapping (all data per unit on
1 MVA, bus v_nom = 1 kV so that a line's x in Ω is its per-unit x):
  load p_set = Pd + Gs (MATPOWER's DC model treats a shunt's G as load at 1 p.u. voltage);
  branches without phase shift -> Line, x = x_pu·τ/baseMVA (τ = tap ratio, 1 if 0), s_nom = RATE_A;
  phase shifters -> Transformer, x = x_pu·s_nom/baseMVA, tap_ratio = τ, phase_shift = SHIFT;
  RATE_A = 0 (unlimited) -> s_nom = 1e5 MW;
  generator: p_nom = max(|Pmax|, |Pmin|, 1), p_min/max_pu = Pmin/Pmax over p_nom,
  marginal_cost = c1, marginal_cost_quadratic = c2; the constant Σc0 is added to the objective.
"""

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
from common import WARMUP, load_ppc, serve  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("case")
p.add_argument("--io-api", default=None, help="linopy io_api (None = linopy's default)")
a = p.parse_args()

t0 = time.perf_counter()
import numpy as np  # noqa: E402
import pypsa  # noqa: E402

t_imp = time.perf_counter() - t0

UNLIMITED = 1e5


def build_network(ppc: dict) -> tuple[pypsa.Network, float]:
    base = ppc["baseMVA"]
    bus, gen, br, gc = ppc["bus"], ppc["gen"], ppc["branch"], ppc["gencost"]
    n = pypsa.Network()
    names = np.array([str(int(b)) for b in bus[:, 0]])
    n.add("Bus", names, v_nom=1.0)
    pd_ = bus[:, 2] + bus[:, 4]
    has = pd_ != 0
    n.add("Load", "L" + names[has], bus=names[has], p_set=pd_[has])
    pmax, pmin = gen[:, 8], gen[:, 9]
    pnom = np.maximum(np.maximum(np.abs(pmax), np.abs(pmin)), 1.0)
    ncoef = gc[:, 3].astype(int)
    coef = np.zeros((len(gc), 3))
    for k in (1, 2, 3):
        rows = ncoef == k
        if rows.any():
            coef[rows, 3 - k :] = gc[rows, 4 : 4 + k]
    n.add(
        "Generator",
        [f"G{i}" for i in range(len(gen))],
        bus=[str(int(b)) for b in gen[:, 0]],
        p_nom=pnom,
        p_max_pu=pmax / pnom,
        p_min_pu=pmin / pnom,
        marginal_cost=coef[:, 1],
        marginal_cost_quadratic=coef[:, 0],
    )
    tap = np.where(br[:, 8] == 0, 1.0, br[:, 8])
    rate = np.where(br[:, 5] == 0, UNLIMITED, br[:, 5])
    f = np.array([str(int(b)) for b in br[:, 0]])
    t = np.array([str(int(b)) for b in br[:, 1]])
    ps = br[:, 9] != 0
    ln = ~ps
    n.add(
        "Line",
        [f"l{i}" for i in np.flatnonzero(ln)],
        bus0=f[ln],
        bus1=t[ln],
        x=br[ln, 3] * tap[ln] / base,
        r=0.0,
        s_nom=rate[ln],
    )
    if ps.any():
        n.add(
            "Transformer",
            [f"t{i}" for i in np.flatnonzero(ps)],
            bus0=f[ps],
            bus1=t[ps],
            x=br[ps, 3] * rate[ps] / base,
            r=0.0,
            s_nom=rate[ps],
            tap_ratio=tap[ps],
            phase_shift=br[ps, 9],
            model="pi",
        )
    return n, float(coef[:, 2].sum())


def once():
    n = net.copy()
    t = time.perf_counter()
    n.optimize.create_model()
    t1 = time.perf_counter()
    kw = {"io_api": a.io_api} if a.io_api else {}
    status, cond = n.model.solve(solver_name="highs", log_to_console=False, **kw)
    t2 = time.perf_counter()
    if status == "ok":
        n.optimize.assign_solution()
        n.optimize.assign_duals(False)
        n.optimize.post_processing()
    t3 = time.perf_counter()
    obj = float(n.model.objective.value) + const if status == "ok" else float("nan")
    return {
        "status": "optimal" if cond == "optimal" else f"{status}/{cond}",
        "objective": obj,
        "build": t1 - t,
        "solve": t2 - t1,
        "extract": t3 - t2,
    }


# untimed warm-up on a small case: first-call imports and caches are paid here, by every tool
net, const = build_network(load_ppc(WARMUP))
once()
t0 = time.perf_counter()
net, const = build_network(load_ppc(a.case))
t_load = time.perf_counter() - t0
serve(once, {"load": t_load, "import_s": t_imp, "io_api": a.io_api or "linopy default"})
