"""Built-in task functions (``module:function`` names for :func:`dispatchlab.sweep.run_sweep`).

* ``dispatchlab.sweep.tasks:solve_scaled_load``: DC-OPF (or any single-snapshot problem) of a
  library case with its loads scaled by a seeded random factor;
* ``dispatchlab.sweep.tasks:probe``: a synthetic task that sleeps, fails, allocates or kills its
  own worker on request (for tests and for trying the runner's bounds).
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dispatchlab.sweep.task import Task


@lru_cache(maxsize=8)
def _case(name: str) -> Any:
    from dispatchlab.cases.library import load_case

    return load_case(name)


@lru_cache(maxsize=8)
def _model(name: str, method: str, formulation: str | None, allow_shedding: bool) -> Any:
    from dispatchlab.solvers.persistent import DispatchModel

    options = {} if formulation is None else {"formulation": formulation}
    return DispatchModel(_case(name), method, allow_shedding=allow_shedding, **options)


def scenario_rng(task: Task) -> np.random.Generator:
    """The task's random generator: seeded by ``(seed, scenario index)``, so the same task
    draws the same numbers in any process, on any backend."""
    index = task.param("index")
    if index is None:
        index = int(hashlib.sha256(task.scenario.encode()).hexdigest()[:12], 16)
    return np.random.default_rng([int(task.seed), int(index)])


def load_factors(task: Task, n_loads: int) -> tuple[float, np.ndarray]:
    """A system factor ``U(lo, hi)`` times per-load noise ``1 + noise·N(0, 1)`` (≥ 0)."""
    rng = scenario_rng(task)
    lo, hi = float(task.param("lo", 0.8)), float(task.param("hi", 1.2))
    factor = float(rng.uniform(lo, hi))
    noise = float(task.param("noise", 0.05))
    per_load = np.clip(1.0 + noise * rng.standard_normal(n_loads), 0.0, None)
    return factor, factor * per_load


def solve_scaled_load(task: Task) -> dict[str, Any]:
    """Solve ``task.method`` on ``task.case`` with seeded load perturbations.

    Parameters (``task.params``): ``lo``/``hi`` (system factor range, 0.8/1.2), ``noise``
    (per-load relative σ, 0.05), ``formulation`` (default per problem), ``allow_shedding``
    (False: a load the case cannot serve is an ``infeasible`` row), ``persistent`` (re-use
    one warm :class:`~dispatchlab.solvers.persistent.DispatchModel` per worker: much faster,
    equal to a cold solve within solver tolerance). Returns the factor, total load, solver
    status, objective, LMP mean/min/max, load shed and the build/solve/extract times (columns
    ending in ``_s`` are timings and vary from run to run; the others are deterministic).
    """
    case = _case(task.case)
    loads = case.table("loads")
    factor, scale = load_factors(task, len(loads))
    p_mw = loads["p_mw"].to_numpy() * scale
    formulation = task.param("formulation")
    shedding = bool(task.param("allow_shedding", False))
    if task.param("persistent", False):
        model = _model(task.case, task.method, formulation, shedding)
        model.set_loads(p_mw)
        result = model.solve()
    else:
        from dispatchlab.solvers.api import solve

        new = loads.copy()
        new["p_mw"], new["q_mvar"] = p_mw, loads["q_mvar"].to_numpy() * scale
        options = {} if formulation is None else {"formulation": formulation}
        options |= {"allow_shedding": True} if shedding else {}  # not every problem has it
        result = solve(case.replace(loads=new), task.method, **options)
    return _summary(result, factor, float(p_mw.sum()))


def check_cases_and_problems(tasks: Sequence[Task]) -> None:
    """Refuse, before a sweep starts, a case ``load_case`` cannot load or a problem ``solve``
    does not know (each task would otherwise fail with the same error), naming them."""
    from dispatchlab.cases.library import load_case
    from dispatchlab.solvers.api import problems

    known = problems()
    bad = [f"problem '{m}'" for m in sorted({t.method for t in tasks}) if m not in known]
    for name in sorted({t.case for t in tasks}):
        try:
            load_case(name)
        except (KeyError, OSError, ValueError) as exc:
            bad.append(f"case '{name}' ({str(exc.args[0]) if exc.args else exc})")
    if bad:
        raise ValueError(f"unknown {'; '.join(bad)}; problems: {', '.join(known)}")


#: modules a forkserver imports before forking workers (see ``dispatchlab.sweep.local``)
solve_scaled_load.preload = ("dispatchlab.sweep.warm",)  # type: ignore[attr-defined]
#: run by ``run_sweep`` in the parent before any worker starts
solve_scaled_load.check = check_cases_and_problems  # type: ignore[attr-defined]


def _summary(result: Any, factor: float, load_mw: float) -> dict[str, Any]:
    status = getattr(result.status, "value", str(result.status))
    out: dict[str, Any] = {"factor": factor, "load_mw": load_mw, "status": str(status)}
    out["objective"] = float(result.objective) if result.objective is not None else np.nan
    bus = result.bus if result.bus is not None else None
    if bus is not None and "lmp_usd_per_mwh" in bus:
        lmp = bus["lmp_usd_per_mwh"].to_numpy(dtype=float)
        out.update(lmp_mean=lmp.mean(), lmp_min=lmp.min(), lmp_max=lmp.max())
        out["shed_mw"] = float(bus["shed_mw"].sum()) if "shed_mw" in bus else 0.0
    for key in ("build", "solve", "extract"):
        out[f"{key}_s"] = float(result.timings.get(key, np.nan))
    return out


def probe(task: Task) -> dict[str, Any]:
    """A synthetic task. Parameters: ``sleep_s`` (sleep first), ``fail`` (raise ValueError),
    ``alloc_mb`` (allocate and touch that much memory), ``crash_once`` (a file path: if it does
    not exist, create it and SIGKILL this worker, so the first attempt dies and the retry
    succeeds), ``crash`` (SIGKILL on every attempt). Returns ``value`` = a seeded draw."""
    if task.param("sleep_s"):
        time.sleep(float(task.param("sleep_s")))
    if task.param("fail"):
        raise ValueError(f"probe {task.scenario} failed on purpose")
    flag = task.param("crash_once")
    if task.param("crash") or (flag and not Path(str(flag)).exists()):
        if flag:
            Path(str(flag)).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if task.param("alloc_mb"):
        block = np.ones(int(float(task.param("alloc_mb")) * 2**20 // 8))
        del block
    return {"value": float(scenario_rng(task).uniform())}
