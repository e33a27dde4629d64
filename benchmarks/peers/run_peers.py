"""Peer comparison of DC-OPF: dispatchlab vs Egret, PyPSA and pandapower, in one run.

Run from the repository root (either venv's python will do: this script uses only the
standard library and starts every tool in its own subprocess):

    bash benchmarks/peers/setup.sh
    python benchmarks/peers/run_peers.py [--repeats 3] [--cases ...]

For each case every tool's worker is started and loads (parses) the case once; then the
repeats alternate: round 1 runs each tool once, round 2 each tool again, ... so a change
in machine load hits every tool alike. Each run is capped (--timeout); a tool that hits the
cap is stopped and keeps the runs it finished. dispatchlab and pandapower run in the
project's venv (pandas 2, pandapower 3.5), PyPSA and Egret in the peers venv (PyPSA needs
pandas 3). Results go to benchmarks/peers/results/raw.json, then report.py writes
docs/benchmarks/peers.*. Venv paths: $MAIN_VENV (default <repo>/.venv) and $PEERS_VENV
(default benchmarks/peers/.venv).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MAIN_PY = Path(os.environ.get("MAIN_VENV", ROOT / ".venv")) / "bin" / "python"
PEER_PY = Path(os.environ.get("PEERS_VENV", HERE / ".venv")) / "bin" / "python"
CASES = ["case2869_pegase", "case10000_goc", "ACTIVSg10k", "case9241pegase"]
SMALL = ["case118_ieee", "case300_ieee", "case1354_pegase", "ACTIVSg2000"]

# key -> (label, python, worker, args, angle-difference limits enforced?)
TOOLS = {
    "dl": ("dispatchlab (default options)", MAIN_PY, "worker_dispatchlab.py", [], True),
    "dl_noang": (
        "dispatchlab, angle_limits=False",
        MAIN_PY,
        "worker_dispatchlab.py",
        ["--no-angle-limits"],
        False,
    ),
    "egret": ("Egret B-θ (its default)", PEER_PY, "worker_egret.py", ["--model", "btheta"], False),
    "egret_ang": (
        "Egret B-θ + angle limits",
        PEER_PY,
        "worker_egret.py",
        ["--model", "btheta", "--angle-limits"],
        True,
    ),
    "egret_ptdf": (
        "Egret PTDF (lazy=False)",
        PEER_PY,
        "worker_egret.py",
        ["--model", "ptdf"],
        False,
    ),
    "pandapower": ("pandapower rundcopp", MAIN_PY, "worker_pandapower.py", [], False),
    "pypsa": ("PyPSA + linopy + HiGHS", PEER_PY, "worker_pypsa.py", [], False),
}


class Worker:
    """One tool's subprocess for one case; stdout lines are read by a thread into a queue."""

    def __init__(self, key: str, case: str, log_dir: Path):
        _, py, script, extra, _ = TOOLS[key]
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
        self.err = open(log_dir / f"{case}.{key}.stderr", "w")
        self.p = subprocess.Popen(
            [str(py), str(HERE / script), case, *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.q: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.p.stdout:
            if line.startswith(("READY ", "RESULT ")):
                tag, body = line.split(" ", 1)
                self.q.put((tag, json.loads(body)))
        self.q.put(("EOF", None))

    def wait(self, tag: str, timeout: float) -> dict | str:
        """The next ``tag`` message, or a string saying why there is none."""
        end = time.perf_counter() + timeout
        while True:
            try:
                got, body = self.q.get(timeout=max(end - time.perf_counter(), 0.001))
            except queue.Empty:
                self.stop()
                return f"timeout after {timeout:.0f} s"
            if got == tag:
                return body
            if got == "EOF":
                self.p.wait()
                self.err.flush()
                tail = Path(self.err.name).read_text().strip().splitlines()[-1:] or ["?"]
                self.stop()
                return f"error (rc {self.p.returncode}): {tail[0][:300]}"

    def go(self, timeout: float) -> dict | str:
        self.p.stdin.write("go\n")
        self.p.stdin.flush()
        return self.wait("RESULT", timeout)

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.err.close()


def run_case(case: str, keys: list[str], a, log_dir: Path) -> list[dict]:
    rows = {k: {"case": case, "key": k, "tool": TOOLS[k][0], "angle_limits": TOOLS[k][4],
                "runs": [], "loadavg_1min": []} for k in keys}  # fmt: skip
    workers = {}
    buses = next(c["buses"] for c in a.prepared if c["case"] == case)
    if "egret_ptdf" in rows and buses > a.ptdf_max_buses:  # dense PTDF rows in Pyomo
        rows["egret_ptdf"]["status"] = f"not run: {buses} buses > --ptdf-max-buses"
        keys = [k for k in keys if k != "egret_ptdf"]
    for k in keys:  # load (parse) phase, one tool at a time, not timed against the tool
        w = Worker(k, case, log_dir)
        ready = w.wait("READY", a.load_timeout)
        if isinstance(ready, str):
            rows[k]["status"] = f"load: {ready}"
            w.stop()
        else:
            rows[k].update(ready)
            workers[k] = w
    for rnd in range(a.repeats):
        for k in list(workers):
            rows[k]["loadavg_1min"].append(os.getloadavg()[0])
            res = workers[k].go(a.timeout)
            r = rows[k]
            if isinstance(res, str):
                r["status"] = res if not r["runs"] else f"{res} in run {rnd + 1}"
                print(f"{case:16s} {r['tool']:34s} run {rnd + 1}: {res}", flush=True)
                del workers[k]
                continue
            r["runs"].append(res)
            print(
                f"{case:16s} {r['tool']:34s} run {rnd + 1}: {res['status']:10.10s} "
                f"obj={res.get('objective', float('nan')):.10g} total={res['total']:.3f}s "
                f"load={r['loadavg_1min'][-1]:.1f}",
                flush=True,
            )
            if res["status"] != "optimal" or res["total"] > a.slow:  # no more repeats
                workers.pop(k).stop()
    for w in workers.values():
        w.p.stdin.close()
        w.stop()
    for r in rows.values():
        r.setdefault("status", r["runs"][-1]["status"] if r["runs"] else "no run")
    return list(rows.values())


def versions() -> dict:
    code = (
        "import importlib.metadata as m, json, sys; print(json.dumps({p: m.version(p) "
        "for p in sys.argv[1:]}))"
    )
    out = {}
    for env, py, pkgs in (
        ("main venv", MAIN_PY, ["pandapower", "pandas", "numpy", "scipy", "highspy", "pyomo"]),
        (
            "peers venv",
            PEER_PY,
            ["pypsa", "linopy", "gridx-egret", "pyomo", "highspy", "pandas", "numpy", "scipy"],
        ),
    ):
        r = subprocess.run([str(py), "-c", code, *pkgs], capture_output=True, text=True)
        out[env] = json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr[-300:]}
        out[env]["python"] = subprocess.run(
            [str(py), "-V"], capture_output=True, text=True
        ).stdout.strip()
    return out


def machine() -> dict:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": f"{kb / 2**20:.0f} GiB",
        "os": platform.platform(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="*", default=CASES, help=f"default {CASES}; also {SMALL}")
    ap.add_argument("--tools", nargs="*", default=list(TOOLS), choices=list(TOOLS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0, help="cap per run, seconds")
    ap.add_argument("--load-timeout", type=float, default=300.0, help="cap per parse, s")
    ap.add_argument("--slow", type=float, default=60.0, help="no repeat after a run this long")
    ap.add_argument(
        "--ptdf-max-buses",
        type=int,
        default=5000,
        help="run Egret's PTDF only up to this size (its dense rows would need tens of GB)",
    )
    ap.add_argument("--no-report", action="store_true")
    a = ap.parse_args()
    out_dir = HERE / "results"
    log_dir = out_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    raw = {"started": time.time(), "machine": machine(), "versions": versions()}
    raw.update(repeats=a.repeats, timeout=a.timeout, slow=a.slow, rows=[])
    prep = subprocess.run(
        [str(MAIN_PY), str(HERE / "prepare.py"), *a.cases, "case118_ieee"],  # + warm-up
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    if prep.returncode != 0:
        sys.exit(f"prepare failed: {prep.stderr[-2000:]}")
    a.prepared = json.loads(prep.stdout.split("RESULT ", 1)[1])
    raw["cases"] = [c for c in a.prepared if c["case"] in a.cases]
    for case in a.cases:
        raw["rows"] += run_case(case, a.tools, a, log_dir)
        raw["finished"] = time.time()
        (out_dir / "raw.json").write_text(json.dumps(raw, indent=1))
    if not a.no_report:
        subprocess.run([str(MAIN_PY), str(HERE / "report.py")], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
