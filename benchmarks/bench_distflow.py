"""DistFlow SOCP on IEEE 123 over 24 hourly periods: build vs compile vs solve, honestly split.

Cases: ``ieee123`` (4 regulators as OLTCs, 4 capacitors) and ``ieee123-seed003`` (plus a
0.1 MW DER at each of its 129 non-source buses), both with 24 hourly SimBench residential load
steps attached (``attach_profiles``, Q following P). Objective ``losses``, ``discrete="relax"``
for the timed model (the rounding re-solve is timed on its own).

Timed, each the median of ``--repeat`` runs:

* ``build``: Case → arrays → cvxpy expressions and constraints (Python);
* ``first solve``: cvxpy's compilation (canonicalisation + DPP tensor) and Clarabel;
* ``re-solve``: new load Parameters (±5 %), same compiled problem: cvxpy only re-applies the
  parameter map, then Clarabel — what a multi-period or repeated user pays per solve;
* ``round+fix``: :func:`solve` with ``discrete="round"`` minus the relaxed solve (a second
  model with fixed taps/steps, built and solved);
* ``verify``: the 24 AC power flows (pandapower) — reported, not part of the target.

Target (issue): ≤ 2 s for the 24-period SOCP.

    .venv/bin/python benchmarks/bench_distflow.py              # writes docs/benchmarks/distflow.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

from dispatchlab import load_case
from dispatchlab.cases.timeseries import attach_profiles
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.distribution.feeder import feeder_data
from dispatchlab.solvers.problems.distflow import _solve, build, relaxation_gap

warnings.filterwarnings("ignore", message="Solution may be inaccurate")
warnings.filterwarnings("ignore", message="The problem includes expressions")


def case_with_day(name: str):
    case = load_case(name)
    return attach_profiles(case, start="2016-07-15", periods=24, step="1h", q_profile=True, seed=0)


def time_once(case, periods: int) -> dict:
    t0 = time.perf_counter()
    fd = feeder_data(case, periods)
    model, _ = build(fd, discrete="relax")
    t1 = time.perf_counter()
    status = _solve(model, "auto", {}, "solve")
    t2 = time.perf_counter()
    rng = np.random.default_rng(0)
    factor = 1 + 0.05 * rng.uniform(-1, 1, size=fd.load_p.shape)
    model.params["load_p"].value = fd.load_p * factor
    model.params["load_q"].value = fd.load_q * factor
    _solve(model, "auto", {}, "solve")
    t3 = time.perf_counter()
    return {
        "status": str(status),
        "build_s": t1 - t0,
        "first_solve_s": t2 - t1,
        "clarabel_first_s": float(model.problem.solver_stats.solve_time or 0),
        "resolve_s": t3 - t2,
        "gap_rel": relaxation_gap(model)["relaxation_gap_rel"],
        "vars": sum(v.size for v in model.problem.variables()),
    }


def run(names: list[str], periods: int, repeat: int) -> list[dict]:
    rows = []
    for name in names:
        case = case_with_day(name)
        runs = [time_once(case, periods) for _ in range(repeat)]
        row = {k: runs[0][k] for k in ("status", "gap_rel", "vars")}
        for key in ("build_s", "first_solve_s", "clarabel_first_s", "resolve_s"):
            row[key] = statistics.median(r[key] for r in runs)
        row["total_s"] = row["build_s"] + row["first_solve_s"]
        full = solve(case, "distflow", periods=periods, discrete="round")
        tm = full.timings
        row["round_fix_s"] = tm.get("build_fixed", 0) + tm.get("solve_fixed", 0)
        row["verify_s"] = tm.get("verify", float("nan"))
        row["integer_gap_rel"] = full.info.get("integer_gap_rel", 0.0)
        row["ac_err_pu"] = full.info.get("ac_max_voltage_error_pu", float("nan"))
        row["case"] = name
        rows.append(row)
        print(row, flush=True)
    return rows


NOTE = """
Notes (written with the numbers of the last recorded run, see docs/distribution.md): the
one-time cvxpy compilation dominates the first solve (SciPy canonicalisation backend, the C++
one refuses an expression of the model); a re-solve with new Parameters costs one Clarabel
solve.
"""


def markdown(rows: list[dict], periods: int) -> str:
    head = (
        "| case | vars | build s | first solve s (Clarabel s) | build+first s | re-solve s "
        "| round+fix s | verify s | SOC gap | integer gap | AC |V| err p.u. |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['case']} | {r['vars']} | {r['build_s']:.3f} | {r['first_solve_s']:.3f} "
        f"({r['clarabel_first_s']:.3f}) | {r['total_s']:.3f} | {r['resolve_s']:.3f} | "
        f"{r['round_fix_s']:.3f} | {r['verify_s']:.1f} | {r['gap_rel']:.1e} | "
        f"{r['integer_gap_rel']:.2%} | {r['ac_err_pu']:.1e} |"
        for r in rows
    ]
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    return (
        f"# DistFlow SOCP benchmark: IEEE 123, {periods} hourly periods\n\n"
        f"`benchmarks/bench_distflow.py` on {machine} (shared machine; medians of the runs). "
        "Target: ≤ 2 s for build + first solve.\n\n" + head + "\n".join(lines) + "\n" + NOTE
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["ieee123", "ieee123-seed003"])
    parser.add_argument("--periods", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    args = parser.parse_args()
    rows = run(args.cases, args.periods, args.repeat)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "distflow.md").write_text(markdown(rows, args.periods))


if __name__ == "__main__":
    main()
