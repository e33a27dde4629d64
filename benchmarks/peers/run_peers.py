"""Peer comparison of DC-OPF: dispatchlab vs Egret, PyPSA and pandapower, in one run.

Run from the repository root (either venv's python will do: this script uses only the
standard library and starts every tool in its own subprocess, one after the other):

    bash benchmarks/peers/setup.sh
    benchmarks/peers/.venv/bin/python benchmarks/peers/run_peers.py [--repeats 3] [--cases ...]

dispatchlab and pandapower run in the project's .venv (pandas 2, pandapower 3.5), PyPSA and
Egret in benchmarks/peers/.venv (PyPSA needs pandas 3). Results go to
benchmarks/peers/results/raw.json, then report.py (main venv) writes docs/benchmarks/peers.*.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MAIN_PY = ROOT / ".venv" / "bin" / "python"
PEER_PY = HERE / ".venv" / "bin" / "python"
CASES = [
    "case118_ieee",
    "case300_ieee",
    "case1354_pegase",
    "case2869_pegase",
    "ACTIVSg2000",
    "ACTIVSg10k",
    "case9241pegase",
]

# (label, python, worker, extra args, cases it applies to or None for all)
TOOLS = [
    ("dispatchlab", MAIN_PY, "worker_dispatchlab.py", ["--formulation", "btheta"], None),
    (
        "dispatchlab (from_pandapower)",
        MAIN_PY,
        "worker_dispatchlab.py",
        ["--source", "pandapower"],
        ["case9241pegase"],
    ),
    ("Egret B-θ + HiGHS (Pyomo appsi)", PEER_PY, "worker_egret.py", ["--model", "btheta"], None),
    ("PyPSA + linopy + HiGHS", PEER_PY, "worker_pypsa.py", [], None),
    ("pandapower rundcopp (PIPS)", MAIN_PY, "worker_pandapower.py", [], None),
]


def run(py: Path, script: str, args: list[str], timeout: float) -> tuple[dict | None, str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    t = time.perf_counter()
    try:
        p = subprocess.run(
            [str(py), str(HERE / script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        done = [json.loads(x[7:]) for x in out.splitlines() if x.startswith("RESULT ")]
        msg = f"timeout after {timeout:.0f} s"
        if done:  # report the repeats that finished before the limit
            res = done[-1]
            res["status"] = f"{res['status']}; {msg} ({res['repeats']} repeat(s) done)"
            return res, "", time.perf_counter() - t
        return None, msg, time.perf_counter() - t
    wall = time.perf_counter() - t
    done = [json.loads(x[7:]) for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if done:
        return done[-1], "", wall
    tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
    return None, f"error (rc {p.returncode}): {tail[0][:300]}", wall


def versions() -> dict:
    code = (
        "import importlib.metadata as m, json, sys; print(json.dumps({p: m.version(p) "
        "for p in sys.argv[1:]}))"
    )
    out = {}
    for py, pkgs in (
        (MAIN_PY, ["pandapower", "pandas", "numpy", "scipy", "highspy", "pyomo"]),
        (
            PEER_PY,
            ["pypsa", "linopy", "gridx-egret", "pyomo", "highspy", "pandas", "numpy", "scipy"],
        ),
    ):
        r = subprocess.run([str(py), "-c", code, *pkgs], capture_output=True, text=True)
        env = "main .venv" if py == MAIN_PY else "peers .venv"
        out[env] = json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr[-300:]}
        out[env]["python"] = subprocess.run(
            [str(py), "-V"], capture_output=True, text=True
        ).stdout.strip()
    return out


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, ValueError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "os": platform.platform()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="*", default=CASES)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0, help="per tool and case, seconds")
    ap.add_argument("--no-report", action="store_true")
    a = ap.parse_args()
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    t_start = time.time()
    prep, err, _ = run(MAIN_PY, "prepare.py", a.cases, 600)
    if prep is None:
        sys.exit(f"prepare failed: {err}")
    rows = []
    for case in a.cases:
        for label, py, script, extra, only in TOOLS:
            if only is not None and case not in only:
                continue
            case_arg = "case9241pegase" if "--source" in extra else case
            load1 = os.getloadavg()[0]
            res, err, wall = run(
                py, script, [case_arg, "--repeats", str(a.repeats), *extra], a.timeout
            )
            row = {"case": case, "tool": label, "wall_s": wall, "loadavg_1min": load1}
            row.update(res if res is not None else {"status": err})
            rows.append(row)
            print(
                f"{case:16s} {label:34s} {row['status']:10.10s} "
                f"obj={row.get('objective', float('nan')):.8g} "
                f"total={row.get('total') or float('nan'):.3f}s wall={wall:.1f}s "
                f"load={load1:.1f}",
                flush=True,
            )
            (out_dir / "raw.json").write_text(
                json.dumps(
                    {
                        "cases": prep,
                        "rows": rows,
                        "versions": None,
                        "machine": machine(),
                        "started": t_start,
                        "repeats": a.repeats,
                        "timeout": a.timeout,
                    },
                    indent=1,
                )
            )
    raw = {
        "cases": prep,
        "rows": rows,
        "versions": versions(),
        "machine": machine(),
        "started": t_start,
        "finished": time.time(),
        "repeats": a.repeats,
        "timeout": a.timeout,
        "loadavg_end": os.getloadavg(),
    }
    (out_dir / "raw.json").write_text(json.dumps(raw, indent=1))
    if not a.no_report:
        subprocess.run([str(MAIN_PY), str(HERE / "report.py")], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
