"""Economic dispatch with N DERs: merit order, a persistent HiGHS model, rebuilding every time.

The case is the IEEE 33-bus feeder (copper-plate ED) with N dispatchable DERs (kind ``dg``)
spread over its buses; together they can supply three times the load, so the DER costs decide
the merit order. Between solves every DER gets a new random cost.

* merit: :func:`~dispatchlab.solvers.problems.ed_merit.merit_order_dispatch` on the arrays of
  the same LP (bounds, costs with the new DER costs written in, demand): dispatch and price,
  exact (the fastest exact method, issue 20 point 7); its objective is asserted equal to HiGHS's;
* persistent: :class:`~dispatchlab.solvers.persistent.DispatchModel` built once; per solve we
  time ``set_der_costs`` + ``solve`` (warm HiGHS re-solve), without and with the Result tables;
  interleaved with *merit* on the same cost vectors;
* rebuild: ``solve(case, "ed")`` on a Case carrying the new costs (data read, model build,
  solve, tables), which now takes the merit path, alternating with
  ``solve(case, "ed", backend="highs")``; the Case variants are made before the clock starts.

Targets (issues): ≤ 5 ms per solve with 500 DERs, ≤ 50 ms with 10 000 DERs (persistent);
merit order ≤ 1 ms with 10 000 DERs (issue 20).

    .venv/bin/python benchmarks/bench_ed_scaling.py            # writes docs/benchmarks/
    .venv/bin/python benchmarks/bench_ed_scaling.py --sizes 50 500 --solves 20 --out /tmp/b
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dispatchlab import load_case
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.persistent import DispatchModel
from dispatchlab.solvers.problems.ed_merit import merit_order_dispatch
from dispatchlab.solvers.status import Status

SIZES = (50, 100, 500, 1000, 5000, 10000)
TARGETS_MS = {500: 5.0, 10000: 50.0}
MERIT_TARGETS_MS = {10000: 1.0}
ROOT = Path(__file__).parents[1]


def ed_case(n_der: int, seed: int = 0):
    """IEEE 33-bus feeder with ``n_der`` dispatchable DERs (3 × load of capacity in all)."""
    base = load_case("ieee33")
    rng = np.random.default_rng(seed)
    buses = base.buses.index.to_numpy()
    p_max = np.full(n_der, 3.0 * base.total_load_mw / n_der)
    ders = pd.DataFrame({
        "bus": rng.choice(buses[1:], n_der), "kind": "dg", "p_max_mw": p_max,
        "cost_usd_per_mwh": rng.uniform(20.0, 80.0, n_der),
    })  # fmt: skip
    return base.with_ders(ders)


def _stats(times_s: list[float]) -> tuple[float, float]:
    ms = 1e3 * np.asarray(times_s)
    return float(np.median(ms)), float(np.percentile(ms, 95))


class MeritArrays:
    """The ED's LP as plain arrays (bounds, costs, demand): the merit order's whole input."""

    def __init__(self, dm: DispatchModel):
        m = dm.model
        self.lb, self.ub, self.cost = m.lb, m.ub, m.cost
        self.der = m.var_blocks["der_p_mw"].positions
        self.demand, self.offset = float(m.row_lb[0]), m.offset

    def solve(self, der_cost: np.ndarray):
        self.cost[self.der] = der_cost  # dg DERs: no curtailment credit, dt = 1 h
        return merit_order_dispatch(self.lb, self.ub, self.cost, None, self.demand)


def bench_persistent(case, costs: np.ndarray) -> dict:
    """Build once; time cost update + warm re-solve: the raw Solution for the first half of
    ``costs`` (interleaved with the merit order on the same costs), then the full Result
    (tables) for the second half."""
    t0 = time.perf_counter()
    dm = DispatchModel(case, "ed")
    build_s = time.perf_counter() - t0
    dm.solve_raw()  # the first (cold) solve is part of the build, not of a re-solve
    merit = MeritArrays(dm)
    half = len(costs) // 2
    core, core_cpu, highs_run, full, mer, mer_cpu = [], [], [], [], [], []
    gc.disable()  # as timeit does: no collector pauses inside the timed loops
    for c in costs[:half]:
        start, cpu = time.perf_counter(), time.process_time()
        md = merit.solve(c)
        mer.append(time.perf_counter() - start)
        mer_cpu.append(time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        dm.set_der_costs(c)
        sol = dm.solve_raw()
        core.append(time.perf_counter() - start)
        core_cpu.append(time.process_time() - cpu)
        highs_run.append(sol.solve_s)
        assert sol.status is Status.OPTIMAL
        gap = abs(md.objective + merit.offset - sol.objective)
        assert gap <= 1e-9 * max(1.0, abs(sol.objective)), (md.objective, sol.objective)
        assert abs(md.price - sol.row_dual[0]) <= 1e-9 * max(1.0, abs(md.price))
    for c in costs[half:]:
        start = time.perf_counter()
        dm.set_der_costs(c)
        r = dm.solve()
        full.append(time.perf_counter() - start)
        assert r.optimal, r
    gc.enable()
    assert dm.builds == 1
    return {"build_s": build_s, "core": core, "core_cpu": core_cpu, "highs": highs_run,
            "full": full, "objective": r.objective, "merit": mer,
            "merit_cpu": mer_cpu}  # fmt: skip


def bench_rebuild(case, costs: np.ndarray) -> dict:
    """A fresh ``solve`` per cost vector (Case variants prepared before timing): the default
    path (merit order) alternating with HiGHS."""
    ders = case.ders
    variants = [case.replace(ders=ders.assign(cost_usd_per_mwh=c)) for c in costs]
    solve(variants[0], "ed"), solve(variants[0], "ed", backend="highs")  # lazy imports
    times, highs = [], []
    for v in variants:
        start = time.perf_counter()
        r = solve(v, "ed")
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        h = solve(v, "ed", backend="highs")
        highs.append(time.perf_counter() - start)
        assert r.optimal and r.info["backend"] == "merit", r
        assert abs(r.objective - h.objective) <= 1e-9 * abs(h.objective)
    return {"times": times, "highs": highs, "objective": r.objective}


def run(sizes, n_solves: int, n_rebuild: int, seed: int = 1) -> pd.DataFrame:
    rows = []
    for n in sizes:
        case = ed_case(n)
        rng = np.random.default_rng(seed + n)
        costs = rng.uniform(20.0, 80.0, (2 * n_solves, n))
        pers = bench_persistent(case, costs)
        reb = bench_rebuild(case, costs[-n_rebuild:])
        assert abs(pers["objective"] - reb["objective"]) <= 1e-7 * abs(reb["objective"])
        (cm, cp), (mm, mp), (mcm, _) = (
            _stats(pers["core_cpu"]),
            _stats(pers["merit"]),
            _stats(pers["merit_cpu"]),
        )
        (bm, bp), (hm, hp), (fm, fp), (rm, rp), (rhm, rhp) = (
            _stats(pers["core"]), _stats(pers["highs"]), _stats(pers["full"]),
            _stats(reb["times"]), _stats(reb["highs"]))  # fmt: skip
        target, merit_target = TARGETS_MS.get(n), MERIT_TARGETS_MS.get(n)
        rows.append({
            "ders": n, "merit_median_ms": mm, "merit_p95_ms": mp, "merit_cpu_median_ms": mcm,
            "merit_speedup": bm / mm, "merit_target_ms": merit_target,
            "merit_meets_target": None if merit_target is None else bool(mm <= merit_target),
            "solve_ed_highs_median_ms": rhm, "solve_ed_highs_p95_ms": rhp,
            "build_ms": 1e3 * pers["build_s"], "persistent_median_ms": bm,
            "persistent_p95_ms": bp, "persistent_cpu_median_ms": cm,
            "persistent_cpu_p95_ms": cp, "highs_run_median_ms": hm, "highs_run_p95_ms": hp,
            "result_median_ms": fm, "result_p95_ms": fp, "solve_ed_median_ms": rm,
            "solve_ed_p95_ms": rp, "speedup": rhm / bm, "target_ms": target,
            "meets_target": None if target is None else bool(bp <= target),
        })  # fmt: skip
        print(f"N={n:>6}: merit {mm:6.3f} ms (p95 {mp:6.3f}), persistent {bm:7.2f} ms "
              f"(p95 {bp:7.2f}, cpu p95 {cp:6.2f}), with Result {fm:7.2f}, "
              f"solve(ed) {rm:8.2f} ms (p95 {rp:8.2f}), with HiGHS {rhm:8.2f}",
              flush=True)  # fmt: skip
    return pd.DataFrame(rows)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub markdown table (no tabulate dependency); floats with two decimals."""

    def cell(v) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return ""
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.astype(object).values]
    return "\n".join(lines)


def write_markdown(df: pd.DataFrame, path: Path, n_solves: int, n_rebuild: int) -> None:
    merit = ["ders", "merit_median_ms", "merit_p95_ms", "merit_cpu_median_ms",
             "persistent_median_ms", "merit_speedup", "solve_ed_median_ms", "solve_ed_p95_ms",
             "solve_ed_highs_median_ms", "merit_target_ms", "merit_meets_target"]  # fmt: skip
    highs = ["ders", "persistent_median_ms", "persistent_p95_ms", "persistent_cpu_median_ms",
             "persistent_cpu_p95_ms", "highs_run_median_ms", "result_median_ms",
             "result_p95_ms", "solve_ed_highs_median_ms", "solve_ed_highs_p95_ms", "speedup",
             "build_ms", "target_ms", "meets_target"]  # fmt: skip
    big = df.loc[df["ders"].idxmax()]
    text = f"""# ED scaling: merit order, persistent HiGHS re-solve, rebuild

Generated by `benchmarks/bench_ed_scaling.py` (do not edit by hand).

IEEE 33-bus feeder, copper-plate economic dispatch, N dispatchable DERs (3 × load of capacity),
new random DER costs before every solve. Times in ms, medians with p95 (the spread on a shared
machine: wall-clock p95 mostly measures preemption; *cpu* is process CPU time).

## The exact fast path: merit order (issue 20, point 7)

*merit*: `merit_order_dispatch(lb, ub, cost, None, demand)` on the LP's arrays with the new
DER costs written in (dispatch, objective and system price; {n_solves} solves), interleaved
with the persistent HiGHS re-solve on the same costs (*persistent*; *merit_speedup* =
persistent / merit); objective and price asserted equal to HiGHS's (1e-9 relative) at every
solve. *solve_ed*: `solve(case, "ed")` from the Case, which now takes the merit path
(`info["backend"] == "merit"`): reading the Case, building the named model, the merit order
and the Result tables; *solve_ed_highs*: the same with `backend="highs"` ({n_rebuild} solves,
alternating). Target: ≤ 1 ms with 10 000 DERs (median, from arrays).

{markdown_table(df[merit])}

At {int(big["ders"])} DERs the merit order takes {big["merit_median_ms"]:.2f} ms against
{big["persistent_median_ms"]:.2f} ms for HiGHS's warm re-solve; `solve(case, "ed")` spends
{big["solve_ed_median_ms"]:.1f} ms, nearly all of it reading the Case into arrays, building
the labelled model and the Result tables — the solve itself is no longer the cost.

## Persistent HiGHS model vs rebuilding

*persistent*: `DispatchModel.set_der_costs` + warm `solve_raw()` (objective, primal and dual
values; {n_solves} solves); *highs run*: HiGHS `run()` alone; *result*: `set_der_costs` +
`solve()` returning the full Result tables ({n_solves} more solves); *speedup* =
solve_ed_highs / persistent. The target is judged on the persistent wall-clock p95.

{markdown_table(df[highs])}

![ED scaling](ed_scaling.png)

Machine: {platform.machine()}, {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}
at the end of the run; Python {platform.python_version()}, {time.strftime("%Y-%m-%d")}.
"""
    path.write_text(text)


def plot(df: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for key, label in (("merit", "merit order (arrays)"),
                       ("persistent", "persistent HiGHS (warm re-solve)"),
                       ("result", "persistent + Result tables"),
                       ("solve_ed", 'solve(case, "ed") (merit path)'),
                       ("solve_ed_highs", 'solve(case, "ed", backend="highs")')):  # fmt: skip
        med = df[f"{key}_median_ms"]
        ax.plot(df["ders"], med, marker="o", label=label)
        if f"{key}_p95_ms" in df:
            ax.fill_between(df["ders"], med, df[f"{key}_p95_ms"], alpha=0.2)
    for n, target in {**TARGETS_MS, **MERIT_TARGETS_MS}.items():
        ax.scatter([n], [target], marker="x", color="k", zorder=5)
    ax.scatter([], [], marker="x", color="k", label="targets")
    ax.set(xscale="log", yscale="log", xlabel="DERs", ylabel="time per solve (ms)",
           title="ED on IEEE 33 with N DERs: median (line) to p95 (band)")  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--solves", type=int, default=50, help="timed solves per mode")
    parser.add_argument("--rebuild-solves", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args()
    df = run(args.sizes, args.solves, args.rebuild_solves)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "ed_scaling.csv", index=False)
    write_markdown(df, args.out / "ed_scaling.md", args.solves, args.rebuild_solves)
    plot(df, args.out / "ed_scaling.png")
    print(f"wrote {args.out / 'ed_scaling.md'} and ed_scaling.png")


if __name__ == "__main__":
    main()
