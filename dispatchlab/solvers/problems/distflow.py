"""Distribution OPF on radial feeders: DistFlow SOCP and LinDistFlow, ``solve(case, "distflow")``.

``dispatchlab.solve(case, "distflow", objective=…, periods=…)`` builds the branch-flow model
of :mod:`dispatchlab.solvers.distribution.model` once (cvxpy), solves it with Clarabel
(per independent block of periods, :mod:`dispatchlab.solvers.distribution.conic`)
(HiGHS for a LinDistFlow LP), handles discrete devices, verifies the solution by an AC power
flow per period and returns a :class:`~dispatchlab.solvers.result.Result`. ``"lindistflow"``
is the same with ``formulation="lindistflow"``. See ``docs/distribution.md``.

Discrete devices (OLTC taps, stepped capacitors): no mixed-integer conic solver is installed
(``cvxpy.installed_solvers()`` has no SCIP/ECOS_BB/GUROBI/MOSEK), so ``discrete="round"``
solves the continuous relaxation, rounds each tap and step to the nearest position, re-solves
with them fixed (same compiled structure, Parameters changed) and reports the objective gap
between the two (``info["integer_gap_rel"]``, an upper bound on the true MIP gap).

References: M. E. Baran, F. F. Wu, "Network reconfiguration in distribution systems for loss
reduction and load balancing", IEEE Trans. Power Delivery 4(2), 1989; M. Farivar, S. H. Low,
"Branch flow model: relaxations and convexification", IEEE Trans. Power Systems 28(3), 2013.
"""

from __future__ import annotations

import time

import cvxpy as cp
import numpy as np
import pandas as pd

from dispatchlab.solvers.api import EXTRA_PROBLEMS
from dispatchlab.solvers.distribution.feeder import Feeder, feeder_data
from dispatchlab.solvers.distribution.model import DistFlowModel
from dispatchlab.solvers.distribution.objectives import COST_OBJECTIVES, objective, seed001_terms
from dispatchlab.solvers.distribution.verify import (
    Settings,
    ac_check,
    as_frame,
    has_discrete,
    model_angles,
    relaxed_settings,
    round_settings,
)
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Status

FORMULATION_NAMES = {"socp": "socp", "distflow": "socp", "lindistflow": "lindistflow"}
FORMULATION_NAMES |= {"linear": "lindistflow", "lp": "lindistflow"}
BACKENDS = ("auto", "clarabel", "highs")
_STATUS = {"optimal": Status.OPTIMAL, "optimal_inaccurate": Status.OPTIMAL}
_STATUS |= {"infeasible": Status.INFEASIBLE, "unbounded": Status.UNBOUNDED}


def build(
    fd: Feeder,
    *,
    formulation: str = "socp",
    objective_name: str = "losses",
    discrete: str = "relax",
    voltage_limits: str | None = None,
    loss_weight: float = 0.0,
    curtail: bool = True,
    coefficients: dict | None = None,
) -> tuple[DistFlowModel, dict]:
    """The model of ``fd`` with its objective set; returns it and the objective's terms."""
    if voltage_limits is None:
        voltage_limits = "soft" if objective_name == "seed001" else "hard"
    model = DistFlowModel(
        fd,
        formulation=formulation,
        discrete=discrete,
        voltage_limits=voltage_limits,
        curtail=curtail,
    )
    terms = objective(model, objective_name, loss_weight=loss_weight, coefficients=coefficients)
    model.set_objective(cp.sum(cp.hstack(list(terms.values()))))
    return model, terms


def solve_distflow(
    case,
    *,
    backend: str = "auto",
    formulation: str = "socp",
    objective: str = "losses",
    periods: int | str | None = None,
    start: int = 0,
    discrete: str = "round",
    voltage_limits: str | None = None,
    loss_weight: float | None = None,
    curtail: bool = True,
    coefficients: dict | None = None,
    verify: bool = True,
) -> Result:
    """Distribution OPF of a radial ``case`` (see the module docstring and
    ``docs/distribution.md``). ``discrete``: ``round`` (relax, round, re-solve), ``relax``
    (continuous taps/steps) or ``fixed`` (the Case's taps and capacitor outputs)."""
    form = _formulation(formulation)
    if loss_weight is None:  # keeps the SOCP exact: see docs/distribution.md
        loss_weight = 1.0 if objective == "voltage_deviation" else 0.0
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}' for distflow; use one of {BACKENDS}")
    t0 = time.perf_counter()
    fd = feeder_data(case, _n_periods(case, periods, start), start)
    opts = dict(
        formulation=form,
        objective_name=objective,
        voltage_limits=voltage_limits,
        loss_weight=loss_weight,
        curtail=curtail,
        coefficients=coefficients,
    )
    mode = "fixed" if discrete == "fixed" else "relax"
    if discrete not in ("round", "relax", "fixed"):
        raise ValueError(f"unknown discrete '{discrete}'; use round, relax or fixed")
    model, terms = build(fd, discrete=mode, **opts)
    timings = {"build": time.perf_counter() - t0}
    info: dict = {"formulation": form, "objective_name": objective, "discrete": discrete}
    if coefficients:
        info["coefficients"] = coefficients
    status = _solve(model, backend, timings, "solve")
    if status is Status.OPTIMAL and discrete == "round" and has_discrete(model):
        model, terms, status = _round(model, terms, fd, backend, opts, timings, info)
    result = Result(status, _value(model), f"{form_name(form)}", case.name, info=info)
    if status is Status.OPTIMAL:
        _fill(result, case, fd, model, terms, objective, verify, timings)
    result.timings = timings
    return result


def form_name(form: str) -> str:
    return "distflow" if form == "socp" else "lindistflow"


def _formulation(name: str) -> str:
    if name not in FORMULATION_NAMES:
        raise ValueError(f"unknown distflow formulation '{name}'; use socp or lindistflow")
    return FORMULATION_NAMES[name]


def _n_periods(case, periods, start: int) -> int | None:
    if periods is None:
        return None
    if periods == "all":
        if case.timeseries is None:
            raise ValueError(f"case '{case.name}' has no time series for periods='all'")
        return len(case.timeseries) - start
    return int(periods)


def _solve(model: DistFlowModel, backend: str, timings: dict, key: str) -> Status:
    """Solve; ``timings[key]`` is the wall time, ``key_solver`` the solver's own time."""
    conic = model.needs_conic()
    solver = "HIGHS" if (not conic and backend in ("auto", "highs")) else "CLARABEL"
    t = time.perf_counter()
    try:
        model.solve(solver)
    except cp.error.SolverError:
        return Status.ERROR
    timings[key] = time.perf_counter() - t
    stats = model.problem.solver_stats
    timings[f"{key}_solver"] = float(stats.solve_time or 0.0)
    timings[f"{key}_compile"] = float(getattr(model.problem, "compilation_time", 0.0) or 0.0)
    model.solver = solver
    model.solver_status = model.problem.status  # optimal_inaccurate counts as optimal
    return _STATUS.get(model.problem.status, Status.ERROR)


def _value(model: DistFlowModel) -> float:
    value = model.problem.value
    return float(value) if value is not None and np.isfinite(value) else float("nan")


def _round(model, terms, fd: Feeder, backend: str, opts: dict, timings: dict, info: dict):
    """Round taps/steps of the relaxed optimum, re-solve with them fixed; report the gap.

    Nearest positions first; if that re-solve is infeasible (e.g. the relaxed optimum sits on
    a voltage limit and rounding pushes past it), taps and steps rounded towards their
    neutral position (tap 1, capacitor off) are tried. ``info["rounding"]`` says which won.
    """
    relaxed = _value(model)
    continuous = relaxed_settings(model)
    t = time.perf_counter()
    fixed, fixed_terms = build(fd, discrete="fixed", **opts)
    timings["build_fixed"] = time.perf_counter() - t
    first = None
    for rule in ("nearest", "towards_neutral"):
        settings = round_settings(fixed, continuous, rule)
        fixed.params["tap_a"].value = settings.tap_a
        fixed.params["cap_b"].value = settings.caps
        status = _solve(fixed, backend, timings, "solve_fixed")
        if status is Status.OPTIMAL and relaxation_gap(fixed).get("relaxation_exact", True):
            break
        first = first or (rule if status is Status.OPTIMAL else None)
    else:  # no exact rounding: keep the first feasible one (flagged inexact in info)
        if first is not None and first != rule:
            rule, settings = first, round_settings(fixed, continuous, first)
            fixed.params["tap_a"].value = settings.tap_a
            fixed.params["cap_b"].value = settings.caps
            status = _solve(fixed, backend, timings, "solve_fixed")
    rounded = _value(fixed)
    info.update(rounding=rule, relaxed_objective=relaxed, rounded_objective=rounded)
    info["integer_gap_rel"] = (rounded - relaxed) / max(abs(relaxed), 1e-9)
    return fixed, fixed_terms, status


def relaxation_gap(model: DistFlowModel) -> dict[str, float]:
    """How far the SOC relaxation is from ``P² + Q² = w ℓ`` (zeros for LinDistFlow).

    ``relaxation_gap_rel``: max over periods and branches of ``(w ℓ − P² − Q²) / (w ℓ)``,
    over branches that carry power (``w ℓ > 1e-6`` p.u.², |S| above 0.1 % of base) and have a
    resistance (``r ≥ 1e-6`` p.u.: on an ideal switch or regulator ℓ costs nothing, so the
    solver leaves it loose within its tolerance, which changes nothing); ``relaxation_gap_abs``:
    the max of ``w ℓ − P² − Q²`` over all branches (p.u.²); ``relaxation_excess_loss_mw``
    and ``_q_mvar``: ``Σ r (ℓ − (P² + Q²)/w)`` and ``Σ x (…)`` (summed over the horizon), the
    losses the relaxation invents — on a near-zero-resistance regulator a loose ℓ is a fake
    reactive sink the optimiser can use against an upper voltage limit; ``relaxation_exact``:
    rel ≤ 1e-3 and both excesses ≤ 1e-4 per period.
    """
    if model.formulation != "socp":
        return {"relaxation_gap_rel": 0.0, "relaxation_gap_abs": 0.0}
    fd = model.feeder
    P, Q, ell = (model.var[k].value for k in ("P", "Q", "l"))
    w = np.maximum(model.w.value, 1e-9)
    wl = w * ell
    gap = wl - P**2 - Q**2
    big = (wl > 1e-6) & (fd.r >= 1e-6)
    fake = ell - (P**2 + Q**2) / w
    rel = float(np.max(gap[big] / wl[big], initial=0.0))
    excess_p = float(np.sum(fd.r * fake) * fd.base_mva)
    excess_q = float(np.sum(fd.x * fake) * fd.base_mva)
    return {
        "relaxation_gap_rel": rel,
        "relaxation_gap_abs": float(np.max(gap, initial=0.0)),
        "relaxation_excess_loss_mw": excess_p,
        "relaxation_excess_q_mvar": excess_q,
        "relaxation_exact": bool(rel <= 1e-3 and max(excess_p, excess_q) <= 1e-4 * fd.T),
    }


def _fill(result, case, fd: Feeder, model, terms, objective: str, verify: bool, timings) -> None:
    """Tables, relaxation gap, objective terms and the AC check into ``result``."""
    t = time.perf_counter()
    tables = _tables(fd, model, objective)
    for name in ("bus", "branch", "der", "gen", "system"):
        setattr(result, name, tables[name])
    info = result.info
    info.update(relaxation_gap(model), periods=fd.T)
    info.update(solver=model.solver, solver_status=model.solver_status)
    info["is_dpp"] = model.problem.is_dpp()
    info["terms"] = {k: float(v.value) for k, v in terms.items()}
    info["loss_mw_model"] = float(tables["system"]["loss_mw"].sum())
    # the (rounded) OLTC ratios per period: the only control the tables do not show
    info["tap_ratio"] = tables["settings"].taps.tolist()
    timings["extract"] = time.perf_counter() - t
    if verify:
        t = time.perf_counter()
        _verify(result, case, fd, model, tables)
        timings["verify"] = time.perf_counter() - t


def _tables(fd: Feeder, model, objective: str) -> dict:
    """bus / branch / der / gen / system tables (MW, MVAr, p.u.)."""
    var, base = model.var, fd.base_mva
    v = var["v"].value
    bus_cols = {"vm_pu": np.sqrt(np.maximum(v, 0)), "load_mw": fd.load_p * base}
    dual = model.named["p_balance"].dual_value
    if dual is not None:
        lam = -np.asarray(dual) / base / fd.dt_h  # d objective / d load (per MW, per hour)
        key = "dlmp_usd_per_mwh" if objective in COST_OBJECTIVES else "marginal_loss_mw_per_mw"
        if objective in COST_OBJECTIVES or objective == "losses":
            bus_cols[key] = lam
    P, Q = var["P"].value, var["Q"].value
    ell = var["l"].value if "l" in var else (P**2 + Q**2)  # LinDistFlow: loss at v = 1
    loss = ell * fd.r * base
    sign = np.where(fd.flipped, -1.0, 1.0)
    # for a flipped branch the Case's from bus is the child: its sending flow is −(P − r ℓ)
    lossless = 0.0 if "l" not in var else 1.0
    p_from = np.where(fd.flipped, P - lossless * ell * fd.r, P) * base * sign
    q_from = np.where(fd.flipped, Q - lossless * ell * fd.x, Q) * base * sign
    branch = {"p_mw": p_from, "q_mvar": q_from, "loss_mw": loss}
    der_p, der_q = _der_values(fd, model)
    gen = {"p_mw": var["p_gen"].value * base, "q_mvar": var["q_gen"].value * base}
    system = {"loss_mw": loss.sum(axis=1), "vm_min_pu": bus_cols["vm_pu"].min(axis=1)}
    system["vm_max_pu"] = bus_cols["vm_pu"].max(axis=1)
    system["import_mw"] = gen["p_mw"].sum(axis=1)
    return {
        "bus": as_frame(bus_cols, fd.bus_ids, fd.times, "bus_id"),
        "branch": as_frame(branch, fd.branch_ids, fd.times, "branch_id"),
        "der": as_frame({"p_mw": der_p, "q_mvar": der_q}, fd.ders.index, fd.times, "der_id"),
        "gen": as_frame(gen, fd.gens.index, fd.times, "gen_id"),
        "system": pd.DataFrame(system, index=fd.times),
        "der_p": der_p,
        "der_q": der_q,
        "gen_p": gen["p_mw"],
        "settings": relaxed_settings(model) if _has_controls(model) else _no_settings(fd),
    }


def _has_controls(model) -> bool:
    return bool(model.feeder.oltc.any() or len(model.dev.cap))


def _no_settings(fd: Feeder) -> Settings:
    return Settings(np.zeros((fd.T, 0)), np.zeros((fd.T, 0)))


def _der_values(fd: Feeder, model) -> tuple[np.ndarray, np.ndarray]:
    """(T × n_der) P and Q of every DER in MW / MVAr (capacitors: Q injected)."""
    var, dev, base = model.var, model.dev, fd.base_mva
    p = np.zeros((fd.T, len(fd.ders)))
    q = np.zeros_like(p)
    p[:, dev.pq] = var["p_der"].value * base
    q[:, dev.pq] = var["q_der"].value * base
    q[:, dev.q] = var["q_var"].value * base
    q[:, dev.cap] = var["q_cap"].value * base
    return p, q


def _verify(result, case, fd: Feeder, model, tables: dict) -> None:
    """AC power flow with the solution's set-points; voltage and loss errors into ``info``."""
    info = result.info
    der_q = tables["der_q"].copy()
    # a capacitor is a shunt in the power flow: its Case q_mvar is the injection at 1 p.u.
    der_q[:, model.dev.cap] = tables["settings"].caps * fd.base_mva
    vm_model = np.sqrt(np.maximum(model.var["v"].value, 0))
    P, Q, w = model.var["P"].value, model.var["Q"].value, model.w.value
    va_model = model_angles(fd, P, Q, w)
    ac = ac_check(case, fd, {**tables, "der_q": der_q, "vm_model": vm_model, "va_model": va_model})
    info["ac_algorithm"] = sorted(set(ac["algorithm"]))
    info["ac_max_voltage_error_pu"] = float(np.max(np.abs(vm_model - ac["vm"])))
    info["ac_loss_mw"] = float(ac["loss_mw"].sum())
    info["ac_vm_min_pu"] = float(ac["vm"].min())
    info["ac_vm_max_pu"] = float(ac["vm"].max())
    vmin, vmax = np.sqrt(fd.v_min), np.sqrt(fd.v_max)
    out = (ac["vm"] < vmin - 1e-6) | (ac["vm"] > vmax + 1e-6)
    info["ac_voltage_violations"] = int(np.delete(out, fd.ref, axis=1).sum())  # source excluded
    if info["objective_name"] == "seed001":
        coeffs = info.get("coefficients")
        info["ac_seed001"] = seed001_terms(
            ac["vm"], ac["loss_mw"], dt_h=fd.dt_h, coefficients=coeffs
        )
    result.bus["vm_ac_pu"] = as_frame({"x": ac["vm"]}, fd.bus_ids, fd.times, "bus_id")["x"]


def solve_lindistflow(case, **options) -> Result:
    """``solve(case, "lindistflow")``: :func:`solve_distflow` with the LinDistFlow model."""
    options["formulation"] = "lindistflow"
    return solve_distflow(case, **options)


EXTRA_PROBLEMS["distflow"] = solve_distflow
EXTRA_PROBLEMS["lindistflow"] = solve_lindistflow
