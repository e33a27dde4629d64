"""Shared helpers for the peer benchmark workers (stdlib + numpy only: runs in both venvs)."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"


def load_ppc(name: str) -> dict:
    """The prepared (cleaned, linearised-cost) case as PYPOWER-style arrays."""
    import numpy as np

    z = np.load(CACHE / f"{name}.npz")
    return {
        "baseMVA": float(z["baseMVA"]),
        "bus": z["bus"],
        "gen": z["gen"],
        "branch": z["branch"],
        "gencost": z["gencost"],
        "version": "2",
    }


def case_file(name: str) -> Path:
    return CACHE / f"{name}.m"


def run_repeats(fn, repeats: int, budget_s: float = 60.0, partial: dict | None = None) -> dict:
    """Call ``fn()`` (returning dict(status, objective, build, solve, extract)) ``repeats``
    times; report per-stage medians and every raw total. Repeats stop early once the runs so
    far took more than ``budget_s`` (then fewer than ``repeats`` are reported). After each
    repeat the summary so far is emitted (merged with ``partial``), so a run killed by the
    orchestrator's time limit still reports its finished repeats."""
    runs = []
    spent = 0.0
    for _ in range(repeats):
        if runs and spent > budget_s:
            break
        t = time.perf_counter()
        r = fn()
        r["total"] = time.perf_counter() - t
        spent += r["total"]
        runs.append(r)
        emit({**_summary(runs), **(partial or {})})
        if r["status"] != "optimal":
            break
    return _summary(runs)


def _summary(runs: list[dict]) -> dict:
    out = {
        "status": runs[-1]["status"],
        "objective": runs[-1]["objective"],
        "repeats": len(runs),
        "totals": [r["total"] for r in runs],
    }
    for k in ("build", "solve", "extract", "total"):
        vals = [r[k] for r in runs if r.get(k) is not None]
        out[k] = statistics.median(vals) if vals else None
    for k, v in runs[-1].items():
        if k not in out and k not in ("build", "solve", "extract", "total"):
            out[k] = v
    return out


def emit(result: dict) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
