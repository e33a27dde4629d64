"""Sweep runner: DC-OPF load-scaling scenarios of pglib case118, bare in-process vs the runner.

Two task modes of ``dispatchlab.sweep.tasks:solve_scaled_load`` (loads scaled by a seeded
factor U(0.8, 1.2) with 5 % per-load noise):

* ``solve``: ``dispatchlab.solve(case, "dcopf")`` per scenario (validate, build, solve, tables);
* ``persistent``: one warm ``DispatchModel`` per worker, ``set_loads`` + ``solve`` per scenario.

For each mode, in one process and one run (so the ratios compare like with like):

1. bare: the task function called in this process on the first ``--bare`` tasks (mean per task);
2. a short warm-up sweep (starts the forkserver once: its cold start is reported apart);
3. the runner with 1 and with 2 local workers on all the tasks (fresh output directories).

Overhead per task = runner wall time per task with 1 worker − bare time per task. Speed-up =
wall(1 worker) / wall(2 workers). Targets (issue): near-linear speed-up 1 → 2 workers, overhead
≤ 5 ms per task.

    .venv/bin/python benchmarks/bench_sweep.py                       # 10 000 each, docs/benchmarks
    .venv/bin/python benchmarks/bench_sweep.py --n 10000 --n-solve 400 --out /tmp/b
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from dispatchlab.sweep import make_grid, run_sweep
from dispatchlab.sweep.tasks import solve_scaled_load

CASE = "pglib/case118_ieee"
FUNCTION = "dispatchlab.sweep.tasks:solve_scaled_load"
ROOT = Path(__file__).parents[1]


def bench_mode(mode: str, n: int, n_bare: int, workdir: Path) -> dict:
    """Bare and runner timings for ``n`` scenarios of one mode."""
    common = {"persistent": mode == "persistent"}
    tasks = make_grid([CASE], n, ["dcopf"], [0], common=common)
    for task in tasks[:3]:  # warm this process (imports, case cache, persistent model)
        solve_scaled_load(task)
    bare = tasks[: min(n_bare, n)]
    start = time.perf_counter()
    for task in bare:
        solve_scaled_load(task)
    bare_ms = 1e3 * (time.perf_counter() - start) / len(bare)
    warm = make_grid([CASE], 4, ["dcopf"], [99], common=common)
    start = time.perf_counter()
    run_sweep(FUNCTION, warm, workdir / f"{mode}-warm", workers=2, progress=False)
    cold_s = time.perf_counter() - start
    row = {"mode": mode, "n": n, "n_bare": len(bare), "bare_ms": bare_ms, "cold_start_s": cold_s}
    for workers in (1, 2):
        report = run_sweep(
            FUNCTION, tasks, workdir / f"{mode}-w{workers}", workers=workers, progress=False
        )
        assert report.counts.get("ok") == n, report.counts
        row[f"wall_w{workers}_s"] = report.wall_s
        row[f"per_task_w{workers}_ms"] = 1e3 * report.wall_s / n
        row[f"in_worker_w{workers}_ms"] = 1e3 * report.task_s["mean"]
    row["overhead_ms"] = row["per_task_w1_ms"] - bare_ms
    row["speedup"] = row["wall_w1_s"] / row["wall_w2_s"]
    print(row, flush=True)
    return row


def write_markdown(rows: list[dict], path: Path) -> None:
    """The results page (docs/benchmarks/sweep.md)."""
    load = os.getloadavg()
    lines = [
        "# Sweep runner benchmark",
        "",
        f"DC-OPF of `{CASE}` with seeded load-scaling scenarios, run by "
        "`benchmarks/bench_sweep.py` (see its docstring for the method). Machine: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average before writing {load[0]:.2f}. The machine "
        "is shared and noisy (other test runs on the same 2 cores): read the ratios, which come "
        "from one run, rather than the absolute times.",
        "",
        "| mode | scenarios | bare ms/task (n) | runner ms/task, 1 worker | overhead ms/task "
        "| in-worker ms/task | runner ms/task, 2 workers | speed-up 1→2 | cold start s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['n']} | {r['bare_ms']:.2f} ({r['n_bare']}) "
            f"| {r['per_task_w1_ms']:.2f} | {r['overhead_ms']:+.2f} | {r['in_worker_w1_ms']:.2f} "
            f"| {r['per_task_w2_ms']:.2f} | {r['speedup']:.2f}× | {r['cold_start_s']:.1f} |"
        )
    lines += [
        "",
        "*Overhead* = runner wall time per task with one worker − bare in-process time per task "
        "(target ≤ 5 ms; it can come out negative when the bare loop ran during a busier "
        "moment). *In-worker* is the task function's own time measured inside the worker. "
        "*Cold start* is a first 4-task sweep: the forkserver imports the package and the "
        "solvers once, later workers are forked warm; it is not in the per-task numbers.",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="scenarios, persistent mode")
    parser.add_argument("--n-solve", type=int, default=10_000, help="scenarios, solve mode")
    parser.add_argument("--bare", type=int, default=1000, help="tasks timed in-process")
    parser.add_argument("--modes", nargs="+", default=["persistent", "solve"])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:
            n = args.n if mode == "persistent" else args.n_solve
            rows.append(bench_mode(mode, n, args.bare, Path(tmp)))
    write_markdown(rows, args.out / "sweep.md")
    print((args.out / "sweep.md").read_text())


if __name__ == "__main__":
    main()
