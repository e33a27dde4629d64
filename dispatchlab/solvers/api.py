"""``dispatchlab.solve(case, problem, **options) -> Result``: the one entry point."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from numbers import Integral, Real

import numpy as np

from dispatchlab.solvers.data import dispatch_data
from dispatchlab.solvers.diagnose import diagnose
from dispatchlab.solvers.network import dc_network
from dispatchlab.solvers.problems.dispatch import DispatchOptions, build_dispatch
from dispatchlab.solvers.problems.extract import build_result_tables
from dispatchlab.solvers.problems.storage_modes import enforce_storage_exclusive
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Status

#: auto = the merit order where the model is one balance row over box bounds
#: (problems/ed_merit.py), else HiGHS for LPs/MIPs, Clarabel for QPs (backends/clarabel.py)
BACKENDS = ("auto", "highs", "clarabel", "pyomo", "merit")

#: ``formulation="auto"`` (the dcopf default) turns to lazy PTDF rows from this many buses
#: on (timed on the shipped cases: docs/solvers.md, "Why auto picks what it picks")
AUTO_LAZY_MIN_BUSES = 1000
#: what dcopf's ``formulation`` takes (None = auto)
DCOPF_FORMULATIONS = ("copperplate", "btheta", "ptdf", "lazy", "auto", None)

#: problem name -> (network formulation of a fixed model, multi-period by default); ``solve``
#: resolves dcopf's ``formulation=None``/``"auto"`` with :func:`choose_dc_formulation`
DISPATCH_PROBLEMS: dict[str, tuple[str, bool]] = {
    "ed": ("copperplate", False),
    "dcopf": ("btheta", False),
    "multiperiod": ("copperplate", True),
}

#: problems registered by other modules (sced, …): name -> solve function
EXTRA_PROBLEMS: dict[str, Callable[..., Result]] = {}

#: the module that registers each extra problem on import. Imported only when its problem is
#: solved: importing them all made every first ``solve`` pay for cvxpy and casadi (case118's
#: DC-OPF: 0.52 s against 0.02 s on a quiet host; benchmarks/bench_first_solve.py)
_P = "dispatchlab.solvers.problems."
EXTRA_MODULES: dict[str, str] = {
    "dlmp": _P + "linearized",
    "drl_lp": _P + "drl_lp",
    "stochastic": _P + "stochastic",
    "mpc": _P + "mpc",
    "chance": _P + "chance",
    "distflow": _P + "distflow",
    "lindistflow": _P + "distflow",
    "sced": _P + "sced",
    "acopf": _P + "acopf",
}


def problems() -> list[str]:
    """Names accepted by :func:`solve` (in a fixed order; nothing is imported)."""
    return [
        *DISPATCH_PROBLEMS,
        *EXTRA_MODULES,
        *(n for n in EXTRA_PROBLEMS if n not in EXTRA_MODULES),
    ]


def solve(case, problem: str = "dcopf", *, backend: str = "auto", **options) -> Result:
    """Solve ``problem`` on ``case`` and return a :class:`Result`.

    Dispatch problems (``ed``, ``dcopf``, ``multiperiod``) accept ``formulation``
    (copperplate / btheta / ptdf; for dcopf also lazy and auto, the default: see
    :func:`choose_dc_formulation`), ``periods`` (``None`` = one snapshot, ``"all"`` = the whole
    time series, or a number) and ``start``, ``time_limit``, ``solver`` (Pyomo backend) and the
    fields of :class:`DispatchOptions` (``allow_shedding``, ``reserves``, ``ramping``,
    ``line_limits``, ``angle_limits``, ``rating``, ``storage_terminal``).
    """
    case = as_case(case)
    check_options(options)
    if problem in EXTRA_MODULES:
        _extra(problem)
    if problem in EXTRA_PROBLEMS:
        return EXTRA_PROBLEMS[problem](case, backend=backend, **options)
    if problem not in DISPATCH_PROBLEMS:
        raise ValueError(f"unknown problem '{problem}'; use one of {problems()}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}'; use one of {BACKENDS}")
    why = None
    if problem == "dcopf" and options.get("formulation") not in DCOPF_FORMULATIONS:
        raise ValueError(
            f"unknown formulation '{options['formulation']}' for dcopf; "
            f"use one of {DCOPF_FORMULATIONS[:-1]}"
        )
    if problem == "dcopf" and options.get("formulation") in (None, "auto"):
        options["formulation"], why = choose_dc_formulation(case, backend, options)
    if problem == "dcopf" and options.get("formulation") == "lazy":
        result = _lazy_dcopf(case, backend=backend, **options)
    else:
        result = solve_dispatch(case, problem, backend=backend, **options)
    if why is not None:
        result.info["formulation_choice"] = why
    return result


def choose_dc_formulation(case, backend: str = "auto", options: dict | None = None):
    """``(formulation, reason)`` for ``formulation="auto"``: lazy PTDF rows from
    :data:`AUTO_LAZY_MIN_BUSES` buses on (one sparse LU, only the binding line and angle rows
    enter the LP), B-θ below (a sparse LP that HiGHS solves at once, with the full duals). B-θ
    also where the lazy loop lacks a feature (the Pyomo backend, storage exclusivity), and
    PTDF with ``losses=True`` (the loss model is written on PTDF rows)."""
    options = options or {}
    n_bus = len(case.buses)
    if options.get("losses"):
        return "ptdf", "auto: losses=True needs the ptdf formulation"
    if n_bus < AUTO_LAZY_MIN_BUSES:
        return "btheta", f"auto: {n_bus} buses < {AUTO_LAZY_MIN_BUSES}, btheta"
    if backend == "pyomo":
        return "btheta", "auto: the pyomo backend has no lazy loop, btheta"
    storage = case.ders["in_service"] & (case.ders["kind"] == "storage")
    if storage.any() and options.get("storage_exclusive", "auto") != "off":
        return "btheta", "auto: the lazy loop does not enforce storage_exclusive, btheta"
    return "lazy", f"auto: {n_bus} buses >= {AUTO_LAZY_MIN_BUSES}, lazy PTDF rows"


def as_case(case):
    """``case`` itself, or the library case / ``.m`` / ``.json`` file it names."""
    if isinstance(case, str | os.PathLike):
        from dispatchlab.cases.library import load_case

        return load_case(case)
    if not hasattr(case, "buses"):
        raise TypeError(
            f"solve() needs a Case, a library case name or a .m/.json path, got "
            f"{type(case).__name__}: load one with dispatchlab.load_case(...)"
        )
    return case


def check_options(options: dict) -> None:
    """Refuse option values that would otherwise run silently wrong (``periods=-3`` ran
    8 637 periods) or fail deep in numpy: ``periods`` is None, ``"all"`` or a whole number
    ≥ 1, ``start`` a whole number ≥ 0, ``time_limit`` None or a number > 0 (seconds)."""
    periods = options.get("periods")
    if periods is not None and periods != "all":
        if isinstance(periods, bool) or not isinstance(periods, Integral) or periods < 1:
            raise ValueError(f"periods must be a whole number ≥ 1 or 'all', got {periods!r}")
    start = options.get("start", 0)
    if isinstance(start, bool) or not isinstance(start, Integral) or start < 0:
        raise ValueError(f"start must be a whole number ≥ 0 (a time-series step), got {start!r}")
    limit = options.get("time_limit")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, Real) or math.isnan(limit) or limit <= 0
    ):
        raise ValueError(f"time_limit must be a number of seconds > 0 (or None), got {limit!r}")


def solve_dispatch(
    case,
    problem: str,
    *,
    backend: str = "auto",
    formulation: str | None = None,
    periods: int | str | None = None,
    start: int = 0,
    time_limit: float | None = None,
    solver: str = "appsi_highs",
    **options,
) -> Result:
    network, multi = DISPATCH_PROBLEMS[problem]
    opts = DispatchOptions(network=formulation or network, **options)
    t0 = time.perf_counter()
    n_periods = _periods(case, periods, multi, start)
    d = dispatch_data(case, n_periods, start)
    net = dc_network(case) if opts.network != "copperplate" else None
    rate = _rates(case, net, opts.rating) if net is not None else None
    model = build_dispatch(d, opts, net, rate)
    t1 = time.perf_counter()
    chosen = _merit_or(model, backend)
    sol = _solve_model(model, chosen, time_limit, solver)
    if backend == "auto" and chosen == "clarabel" and sol.status is Status.ERROR:
        # interior point stopped short of its tolerances: HiGHS's active-set QP is slower but exact
        chosen, first = "highs", sol
        sol = _solve_model(model, chosen, time_limit, solver)
        sol.extra["fallback_from"] = f"clarabel ({first.message})"
    backend = chosen
    extra: dict = {}
    if backend in ("highs", "clarabel"):  # overlapping charge/discharge -> storage_modes.py
        sol, extra = enforce_storage_exclusive(
            model,
            d,
            sol,
            opts.storage_exclusive,
            time_limit=time_limit,
            qp_solve=lambda m: _solve_model(m, backend, time_limit, solver),
        )
    t2 = time.perf_counter()
    diagnose_s = 0.0
    result = Result(
        status=sol.status,
        objective=sol.objective,
        problem=problem,
        case_name=case.name,
        info={
            "iterations": sol.iterations,
            "backend": backend,
            "formulation": opts.network,
            "periods": d.T,
            "columns": model.n_cols,
            "rows": model.n_rows,
            **extra,
            **(
                {"fallback_from": sol.extra["fallback_from"]}
                if "fallback_from" in sol.extra
                else {}
            ),
        },
    )
    if sol.status is Status.OPTIMAL:
        for key, table in build_result_tables(model, sol, d, opts, net, rate).items():
            setattr(result, key, table)
    elif sol.status is Status.INFEASIBLE and backend in ("highs", "clarabel", "merit"):
        t3 = time.perf_counter()
        result.diagnosis = diagnose(model, d, net, time_limit=time_limit)
        diagnose_s = time.perf_counter() - t3
    result.timings = {
        "build": t1 - t0,
        "solve": t2 - t1,
        "extract": time.perf_counter() - t2 - diagnose_s,
    }
    if result.diagnosis is not None:
        result.timings["diagnose"] = diagnose_s
    return result


def _lazy_dcopf(case, *, backend: str, **options) -> Result:
    """DC-OPF on PTDF rows added lazily: solve without line limits, add the violated ones,
    re-solve warm; the same optimum as B-θ / PTDF (it is SCED's lazy loop with no
    contingency). ACTIVSg10k: 0.8 s against 33 s for B-θ (benchmarks/bench_dcopf_formulations)."""
    sced = _extra("sced")
    options.pop("formulation")
    result = sced(case, backend=backend, contingencies=[], method="lazy", **options)
    result.problem = "dcopf"
    result.info["formulation"] = "lazy"
    return result


def resolve_backend(model, backend: str) -> str:
    """``auto`` -> ``clarabel`` when the objective has quadratic terms, else ``highs``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}'; use one of {BACKENDS}")
    if backend == "merit":
        raise ValueError("backend='merit' solves single-period copper-plate dispatch only")
    if backend != "auto":
        return backend
    return "clarabel" if model.quadratic()[0].size else "highs"


def _merit_or(model, backend: str) -> str:
    """``merit`` where the merit order is exact (``auto`` or asked for), else as before."""
    if backend in ("auto", "merit"):
        from dispatchlab.solvers.problems.ed_merit import merit_structure

        why_not = merit_structure(model)
        if why_not is None:
            return "merit"
        if backend == "merit":
            raise ValueError(
                f"backend='merit' needs a copper-plate single-period dispatch with box bounds "
                f"and linear or quadratic costs; this model has {why_not} "
                "(use backend='auto')"
            )
    return resolve_backend(model, backend)


def _solve_model(model, backend: str, time_limit, solver: str):
    if backend == "merit":
        from dispatchlab.solvers.problems.ed_merit import solve_merit

        return solve_merit(model)
    if backend == "highs":
        from dispatchlab.solvers.backends.highs import solve_highs

        return solve_highs(model, time_limit=time_limit)
    if backend == "clarabel":
        from dispatchlab.solvers.backends.clarabel import solve_clarabel

        return solve_clarabel(model, time_limit=time_limit)
    from dispatchlab.solvers.backends.pyomo import solve_pyomo

    return solve_pyomo(model, solver=solver, time_limit=time_limit)


def _periods(case, periods, multi: bool, start: int) -> int | None:
    if periods is None and not multi:
        return None
    if periods is None or periods == "all":
        if case.timeseries is None:
            raise ValueError(f"case '{case.name}' has no time series for a multi-period problem")
        return len(case.timeseries) - start
    return int(periods)


def _rates(case, net, rating: str) -> np.ndarray:
    if rating not in ("rate_a_mva", "rate_b_mva", "rate_c_mva"):
        raise ValueError(f"unknown rating '{rating}'; use rate_a_mva, rate_b_mva or rate_c_mva")
    return case.branches[rating].reindex(net.branch_ids).to_numpy()


def import_problems() -> list[str]:
    """Import every extra problem's module now (cvxpy, casadi …: seconds) and return
    :func:`problems`; for workers and benchmarks that must not pay the imports inside a timing."""
    for problem in EXTRA_MODULES:
        _extra(problem)
    return problems()


def _extra(problem: str) -> Callable[..., Result]:
    """The solve function of an extra problem, importing the module that registers it."""
    if problem not in EXTRA_PROBLEMS:
        import importlib

        importlib.import_module(EXTRA_MODULES[problem])
    return EXTRA_PROBLEMS[problem]
