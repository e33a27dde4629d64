"""Batched power flow vs pandapower ``runpp`` called once per scenario.

Scenarios: every in-service load scaled by an independent uniform factor in [0.5, 1.4] (P and
Q separately). Ours: ``BatchedPowerFlow(case)`` prepared once (not timed), then one ``run``
over all scenarios. pandapower: one net from ``to_pandapower`` (not timed), then per scenario
the load columns are set and ``runpp`` is called (flat start, tolerance 1e-10 MVA). The first
``--check`` scenarios are compared bus by bus (max |ΔV| in p.u., max |Δθ| in degrees).

Target (issue): ieee33 ≥ 10 000 scenarios/s on 2 cores and ≥ 50× pandapower per scenario.

    .venv/bin/python benchmarks/bench_batched_pf.py        # writes docs/benchmarks/ac*.{csv,md}
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd

from dispatchlab import load_case
from dispatchlab.cases.pandapower_io import to_pandapower
from dispatchlab.solvers.batched_pf import BatchedPowerFlow

ROOT = Path(__file__).parents[1]
CASES = {"ieee33": 10_000, "ieee123": 10_000, "ieee118": 500}


def scenarios(bpf: BatchedPowerFlow, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = bpf.net.s_load
    return (
        s.real * rng.uniform(0.5, 1.4, (n, bpf.n_load)),
        s.imag * rng.uniform(0.5, 1.4, (n, bpf.n_load)),
    )


def bench_case(name: str, n: int, n_pp: int) -> dict:
    case = load_case(name)
    bpf = BatchedPowerFlow(case)
    p, q = scenarios(bpf, n)
    bpf.run(p[:10], q[:10])  # warm-up
    t0 = time.perf_counter()
    res = bpf.run(p, q)
    ours_s = time.perf_counter() - t0
    net = to_pandapower(case)
    rows = net.load.index[(net.load["dl_table"] == "loads").to_numpy()]
    order = pd.Index(net.load.loc[rows, "dl_id"].astype("int64")).get_indexer(bpf.net.load_ids)
    rows = rows[order]
    dv, da, t_pp = 0.0, 0.0, 0.0
    for s in range(n_pp):
        net.load.loc[rows, "p_mw"], net.load.loc[rows, "q_mvar"] = p[s], q[s]
        t0 = time.perf_counter()
        pp.runpp(net, calculate_voltage_angles=True, init="flat", tolerance_mva=1e-10)
        t_pp += time.perf_counter() - t0
        ref = net.res_bus.loc[res.bus_ids]
        dv = max(dv, float(np.abs(ref["vm_pu"].to_numpy() - res.vm[s]).max()))
        da = max(da, float(np.abs(ref["va_degree"].to_numpy() - res.va_deg[s]).max()))
    ours_rate, pp_rate = n / ours_s, n_pp / t_pp
    return {
        "case": name,
        "method": res.method,
        "buses": len(res.bus_ids),
        "scenarios": n,
        "converged": int(res.converged.sum()),
        "prepare_s": bpf.prepare_s,
        "batched_s": ours_s,
        "batched_per_s": ours_rate,
        "pandapower_runs": n_pp,
        "pandapower_per_s": pp_rate,
        "speedup": ours_rate / pp_rate,
        "max_dvm_pu": dv,
        "max_dva_deg": da,
    }


def render_ac_md(out: Path) -> None:
    """docs/benchmarks/ac.md from whichever of ac_batched_pf.csv / ac_acopf.csv exist."""
    parts = [
        "# AC benchmarks\n",
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores; Python {platform.python_version()}. Regenerate with "
        "`benchmarks/bench_batched_pf.py` and `benchmarks/bench_acopf.py`.\n",
    ]
    sections = [("ac_batched_pf", "Batched power flow"), ("ac_acopf", "AC-OPF")]
    sections.append(("ac_acopf_large", "AC-OPF on 10 000-bus cases"))
    for stem, title in sections:
        csv = out / f"{stem}.csv"
        if csv.exists():
            df = pd.read_csv(csv)
            parts.append(f"\n## {title}\n\n" + _markdown(df) + "\n")
            notes = out / f"{stem}.md"  # verdicts a benchmark writes beside its table
            if notes.exists():
                parts.append(notes.read_text())
    (out / "ac.md").write_text("\n".join(parts))


def _markdown(df: pd.DataFrame) -> str:
    """A GitHub table of ``df`` (floats with 4 significant digits)."""

    def cell(v) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(False)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--scenarios", type=int, default=None)
    ap.add_argument("--pandapower-runs", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()
    rows = []
    for name in args.cases:
        row = bench_case(name, args.scenarios or CASES[name], args.pandapower_runs)
        print({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
        rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.out / "ac_batched_pf.csv", index=False)
    render_ac_md(args.out)


if __name__ == "__main__":
    main()
