"""Shared helpers for the peer benchmark workers (stdlib + numpy only: runs in both venvs)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
#: every worker solves this case once, untimed, before it loads the benchmark case
WARMUP = "case118_ieee"


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


def serve(fn, info: dict) -> None:
    """Worker side of the alternating protocol: announce ``READY`` with ``info`` (load and
    import times), then run ``fn()`` once per ``go`` line on stdin and print its timed result
    (``fn`` returns dict(status, objective, build, solve, extract, ...); ``total`` is added
    here around the whole call). The orchestrator sends ``go`` to each tool in turn, so the
    repeats of different tools interleave and a change of machine load hits all of them."""
    sys.stdout.write("READY " + json.dumps(info) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if line.strip() != "go":
            break
        t = time.perf_counter()
        r = fn()
        r["total"] = time.perf_counter() - t
        emit(r)


def emit(result: dict) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
