"""AC optimal power flow (polar, Ipopt through CasADi): ``dispatchlab.solve(case, "acopf")``.

The NLP is :mod:`dispatchlab.solvers.ac.opf_model` on the network of
:mod:`dispatchlab.solvers.ac.network`; Ipopt (shipped inside the ``casadi`` wheel, MUMPS linear
solver; ``ipopt={"linear_solver": "spral"}`` is the other one in the wheel) solves it with exact
first and second derivatives assembled branch by branch (:mod:`dispatchlab.solvers.ac.opf_derivs`,
about 2 s to build on 10 000-bus cases). LMPs are the
multipliers of the active-power balances: LMP_i = ∂cost/∂P_d,i = λ_P,i / S_base ($/MWh).

Options: ``init`` (``"flat"``: |V| at set-points, θ = θ_ref through the phase shifts, P_g, Q_g
mid-range; ``"dcopf"``: θ and P_g from ``solve(case, "dcopf")``; ``"powerflow"``: |V|, θ from
the AC power flow of the Case's set-points, solved by
:class:`~dispatchlab.solvers.batched_pf.BatchedPowerFlow` on the same equations as pandapower;
flat if it does not converge), ``verify`` (re-solve pandapower's power flow at the AC-OPF
set-points and report ``info["verify_max_dvm_pu"]`` / ``["verify_max_dva_deg"]``; timed as
``timings["verify"]``), ``tol``, ``max_iter``, ``time_limit`` (s, Ipopt wall time),
``print_level``, ``ipopt`` (further Ipopt options),
``flow_limit`` and ``ref_angles``:

* ``flow_limit="apparent"``: |S| ≤ rate_a at both branch ends (MATPOWER's default);
  ``"current"``: |S| ≤ rate_a·|V|, i.e. |I| ≤ rate_a/S_base in p.u. (pandapower's ``runopp``).
  Unset: the Case's ``meta["ac_flow_limit"]`` (``from_pandapower`` sets ``"current"``), else
  ``"apparent"``.
* ``ref_angles="all"``: every REF bus keeps its ``va_deg`` (MATPOWER); ``"first"``: only the
  first REF bus of each island does (pandapower's OPF). Unset: ``meta["acopf_ref_angles"]``
  (``from_pandapower`` sets ``"first"``), else ``"all"``.

Every in-service gen and injecting DER (pv, wind, microturbine, dg, svc, svg, storage,
flexible_load) is a decision within its P and Q range (a DER with ``p_min_mw == p_max_mw`` is
fixed) and, for a DER, its ``s_max_mva``. The objective adds the DERs' costs and every unit's
reactive cost (``cost_q_*`` columns) to the gens' P costs.
``timings["build"]`` includes the DC-OPF or power flow of a warm start.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from dispatchlab.solvers.ac.network import ACNetwork, ac_network
from dispatchlab.solvers.api import EXTRA_PROBLEMS
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Status

INITS = ("flat", "dcopf", "powerflow")
BACKENDS = ("auto", "ipopt")

#: Ipopt return status -> Status
IPOPT_STATUS = {
    "Solve_Succeeded": Status.OPTIMAL,
    "Solved_To_Acceptable_Level": Status.OPTIMAL,
    "Infeasible_Problem_Detected": Status.INFEASIBLE,
    "Diverging_Iterates": Status.UNBOUNDED,
    "Maximum_Iterations_Exceeded": Status.TIME_LIMIT,
    "Maximum_CpuTime_Exceeded": Status.TIME_LIMIT,
    "Maximum_WallTime_Exceeded": Status.TIME_LIMIT,
}


def solve_acopf(
    case,
    *,
    backend: str = "auto",
    init: str = "flat",
    verify: bool = False,
    tol: float = 1e-8,
    max_iter: int = 1000,
    time_limit: float | None = None,
    print_level: int = 0,
    ipopt: dict | None = None,
    flow_limit: str | None = None,
    ref_angles: str | None = None,
) -> Result:
    """Solve the AC-OPF of ``case`` with Ipopt and return a :class:`Result` (see module doc)."""
    import casadi as ca

    from dispatchlab.solvers.ac.opf_extract import extract_tables, verify_with_powerflow
    from dispatchlab.solvers.ac.opf_model import build_opf

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}' for acopf; use one of {BACKENDS}")
    if init not in INITS:
        raise ValueError(f"unknown init '{init}'; use one of {INITS}")
    t0 = time.perf_counter()
    net = ac_network(case)
    flow_limit = flow_limit or case.meta.get("ac_flow_limit", "apparent")
    ref_angles = ref_angles or case.meta.get("acopf_ref_angles", "all")
    model = build_opf(net, case.gen_cost_pwl, case.ders, flow_limit, ref_angles)
    x0 = initial_point(case, net, init, model)
    opts = {"print_time": False, "ipopt.sb": "yes", "ipopt.print_level": print_level}
    opts.update({"ipopt.tol": tol, "ipopt.max_iter": max_iter})
    if time_limit is not None:
        opts["ipopt.max_wall_time"] = float(time_limit)
    opts.update({f"ipopt.{k}": v for k, v in (ipopt or {}).items()})
    solver = ca.nlpsol("acopf", "ipopt", model.nlp, {**opts, **(model.derivatives or {})})
    t1 = time.perf_counter()
    sol = solver(x0=x0, lbx=model.lbx, ubx=model.ubx, lbg=model.lbg, ubg=model.ubg)
    stats = solver.stats()
    t2 = time.perf_counter()
    status = IPOPT_STATUS.get(stats["return_status"], Status.ERROR)
    result = Result(
        status=status,
        objective=float(sol["f"]),
        problem="acopf",
        case_name=case.name,
        info={
            "backend": "ipopt",
            "ipopt_status": stats["return_status"],
            "iterations": int(stats.get("iter_count", -1)),
            "init": init,
            "flow_limit": flow_limit,
            "ref_angles": ref_angles,
            "variables": int(model.nlp["x"].numel()),
            "constraints": int(model.nlp["g"].numel()),
        },
    )
    result.timings = {"build": t1 - t0, "solve": t2 - t1}
    if status is Status.OPTIMAL:
        x, lam = np.asarray(sol["x"]).ravel(), np.asarray(sol["lam_g"]).ravel()
        for key, table in extract_tables(case, net, model, x, lam).items():
            setattr(result, key, table)
    t3 = time.perf_counter()
    result.timings["extract"] = t3 - t2
    if verify and status is Status.OPTIMAL:
        result.info.update(verify_with_powerflow(case, result))
        result.timings["verify"] = time.perf_counter() - t3
    return result


def initial_point(case, net: ACNetwork, init: str, model):
    """x0 for ``init`` (flat, dcopf or powerflow), clipped into the variable bounds."""
    n, g, base = net.n_bus, model.units, net.base_mva
    lbx, ubx = model.lbx, model.ubx
    va = flat_angles(net)
    vm = np.where(np.isin(np.arange(n), net.pq), 1.0, net.vm_set)
    pg = _mid(g["p_min_mw"].to_numpy(), g["p_max_mw"].to_numpy()) / base
    qg = _mid(g["q_min_mvar"].to_numpy(), g["q_max_mvar"].to_numpy()) / base
    if init == "dcopf":
        from dispatchlab.solvers.api import solve

        dc = solve(case, "dcopf")
        if dc.optimal:
            theta = np.deg2rad(dc.bus["va_deg"].reindex(net.bus_ids).fillna(0.0).to_numpy())
            va = theta - theta[net.ref].mean() + va[net.ref].mean() if len(net.ref) else theta
            pg = _unit_values(g, dc.gen, dc.der, pg * base) / base
    elif init == "powerflow":
        from dispatchlab.solvers.batched_pf import BatchedPowerFlow

        pf = BatchedPowerFlow(case, method="newton").run()
        if pf.converged[0]:  # else: stay flat
            vm = pf.vm[0][_first_cols(net)]
            va = np.deg2rad(pf.va_deg[0][_first_cols(net)])
            pg = _unit_values(g, case.gens, case.ders, pg * base) / base
    x0 = np.r_[va, vm, pg, qg, np.zeros(len(lbx) - 2 * n - 2 * len(g))]
    return np.clip(x0, np.minimum(lbx, ubx), ubx)


def flat_angles(net: ACNetwork) -> np.ndarray:
    """θ of a flat start: the REF angle carried through every phase shift (θ_t = θ_f − φ on a
    branch without flow), as pandapower's flat start does; 150° transformer shifts (SimBench)
    otherwise cost Ipopt hundreds of iterations."""
    from scipy.sparse.csgraph import breadth_first_order

    n = net.n_bus
    va = np.full(n, net.va0[net.ref].mean() if len(net.ref) else 0.0)
    phi = np.angle(net.tap)
    if not len(net.ref) or not np.any(phi):
        return va
    # a virtual root joins the REF buses so that one search reaches every supplied island
    f, t = np.r_[net.f, np.full(len(net.ref), n)], np.r_[net.t, net.ref]
    graph = sp.coo_matrix((np.ones(len(f)), (f, t)), shape=(n + 1, n + 1)).tocsr()
    order, parent = breadth_first_order(graph, n, directed=False)
    shift = {(a, b): -p for a, b, p in zip(net.f, net.t, phi, strict=True)}
    shift.update({(b, a): p for a, b, p in zip(net.f, net.t, phi, strict=True)})
    full = np.r_[va, 0.0]
    for k in order[1:]:
        full[k] = net.va0[k] if parent[k] == n else full[parent[k]] + shift[(parent[k], k)]
    return full[:n]


def _unit_values(units, gen, der, default: np.ndarray) -> np.ndarray:
    """``p_mw`` of each unit from a gen and a DER table (``default`` where missing)."""
    out = default.copy()
    for kind, table in (("gen", gen), ("der", der)):
        at = (units["unit"] == kind).to_numpy()
        if table is not None and "p_mw" in table and at.any():
            found = table["p_mw"].reindex(units["id"][at]).to_numpy()
            out[at] = np.where(np.isnan(found), out[at], found)
    return out


def _first_cols(net: ACNetwork) -> np.ndarray:
    """Column of each position's first bus in a BatchedPFResult."""
    return np.unique(net.bus_pos.to_numpy(), return_index=True)[1]


def _mid(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Middle of [lo, hi], with an infinite side replaced by 0 (or the finite bound)."""
    lo_f = np.where(np.isfinite(lo), lo, np.minimum(0.0, np.where(np.isfinite(hi), hi, 0.0)))
    hi_f = np.where(np.isfinite(hi), hi, np.maximum(0.0, lo_f))
    return (lo_f + hi_f) / 2


EXTRA_PROBLEMS["acopf"] = solve_acopf
