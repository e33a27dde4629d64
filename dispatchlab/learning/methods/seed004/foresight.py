"""Multi-period counterparts of seed004 on the env's own model: perfect foresight, look-ahead ED.

:func:`horizon_model` is the multi-period dispatch (``build_dispatch``: PTDF line limits, ramps
between periods and from the current outputs into the first, storage SOC, the system reserve
from the units, shedding at VOLL) over H intervals of the env's priced case (carbon in c1,
spilled wind at the curtailment price), so its objective is the env's cost of eq. 4 summed.

* :func:`perfect_foresight` — the whole day (96 intervals) with the realized wind and loads,
  from the day's start outputs: the lower bound every policy's day cost is compared with
  (``gap_pct``). Storage's reserve is not counted here (the units carry it), and storage's end
  state is free, as in the env.
* :func:`lookahead_schedule` — rolling 4-h look-ahead ED: at each interval the H = 16 horizon
  with the realized wind of the current interval and the env's wind forecast after it; its
  first period is played by :func:`play_plan`: the env oracle's interval QP (its exact cost,
  reserves of units and storage, the ramp window) with the storage power fixed to the plan's
  and a tracking term ρ Σ (p − p̂)² on the unit outputs, so the plan's intertemporal choices
  (storage energy, ramping ahead) are kept and everything else is priced as the env prices it.
"""

from __future__ import annotations

import numpy as np

from dispatchlab.learning.envs.transmission.core import deliverable_window
from dispatchlab.learning.envs.transmission.engine import KINDS
from dispatchlab.learning.envs.transmission.oracle import (
    _solve_qp,
    actions_from_solution,
    build_interval_model,
    solve_interval,
)
from dispatchlab.solvers.data import Table, dispatch_data
from dispatchlab.solvers.model import INF
from dispatchlab.solvers.problems.dispatch import DispatchOptions, build_dispatch
from dispatchlab.solvers.problems.extract import values
from dispatchlab.solvers.status import Status

OPTIONS = DispatchOptions(
    network="ptdf",
    allow_shedding=True,
    reserves=True,
    ramping=True,
    storage_terminal="free",
    storage_exclusive="off",
)


def horizon_model(engine, t0: int, horizon: int, p_prev, soc, wind_mw=None):
    """(LinearModel, DispatchData) of intervals t0 … t0 + horizon − 1 from outputs ``p_prev``
    and SOC ``soc``; ``wind_mw`` (horizon, wind) replaces the available wind (a forecast)."""
    d = dispatch_data(engine.priced, periods=horizon, start=int(t0))
    s = d.storage
    d = _replace(d, storage=Table(s.ids, s.bus, {**s.cols, "e_init_mwh": np.asarray(soc, float)}))
    if wind_mw is not None:
        der = d.ders
        p_max = np.array(der["p_max_mw"], float, copy=True)
        p_max[:, np.asarray(der["kind"]) == "wind"] = wind_mw
        d = _replace(d, ders=Table(der.ids, der.bus, {**der.cols, "p_max_mw": p_max}))
    m = build_dispatch(d, OPTIONS, engine.problem.net, engine.problem.rate)
    pos = m.var_blocks["gen_p_mw"].positions
    lb, ub = m.lb[pos].reshape(-1, horizon), m.ub[pos].reshape(-1, horizon)
    lo, hi = deliverable_window(engine.sys, np.asarray(p_prev, float))
    lb[:, 0], ub[:, 0] = np.maximum(lb[:, 0], lo), np.minimum(ub[:, 0], hi)
    m.set_var_bounds("gen_p_mw", lb=lb.ravel(), ub=ub.ravel())
    return m, d


def _replace(d, **tables):
    import dataclasses

    return dataclasses.replace(d, **tables)


def perfect_foresight(engine, day: int) -> dict:
    """The day's perfect-foresight dispatch: objective ($), status and the unit schedule."""
    t0 = int(day) * engine.steps
    p0 = engine.start_output(t0)
    m, _ = horizon_model(engine, t0, engine.steps, p0, engine.sys.sto_e_init)
    sol = _solve_qp(m)
    ok = sol.status is Status.OPTIMAL
    g = len(engine.sys.gen_ids)
    return {
        "objective_usd": float(sol.objective) if ok else float("nan"),
        "status": str(sol.status),
        "gen_p_mw": values(m, sol, "gen_p_mw", g, engine.steps) if ok else None,
    }


def first_period_targets(m, sol, d, sys) -> dict[str, np.ndarray]:
    """Physical set-points (MW) of period 0 of a horizon solution, by the safety layer's
    block names (:meth:`~dispatchlab.learning.safety.transmission.TransmissionSafetyLayer.
    targets`)."""
    T = d.T
    v = {b: values(m, sol, b, m.var_blocks[b].size // T, T)[:, 0] for b in m.var_blocks}
    kinds = np.asarray(d.ders["kind"])
    out = {
        "gen_p_mw": v["gen_p_mw"],
        "wind_p_mw": v["der_p_mw"][kinds == "wind"],
        "lse_p_mw": v["der_p_mw"][kinds == "flexible_load"],
        "storage_discharge_mw": v["storage_discharge_mw"],
        "storage_charge_mw": v["storage_charge_mw"],
        "load_shed_mw": v["load_shed_mw"],
    }
    for b in ("gen_reserve_up_mw", "gen_reserve_down_mw"):
        if b in v:
            out[b] = v[b]
    return out


def lookahead_schedule(engine, horizon: int = 16):
    """Period-0 targets of the rolling look-ahead ED at the env's current state (B = 1), or
    ``None`` when its QP has no solution."""
    st, sys = engine.state, engine.sys
    t = int(st.t[0])
    h = min(horizon, len(sys.times) - t)
    wind = sys.wind_mw[t : t + h].copy()
    fc = engine.forecast[t + 1 : t + h]
    wind[1 : 1 + len(fc)] = fc  # the realized wind now, the forecast after
    m, d = horizon_model(engine, t, h, st.p_prev[0], st.soc[0], wind)
    sol = _solve_qp(m)
    if sol.status is not Status.OPTIMAL:
        return None
    return first_period_targets(m, sol, d, sys)


def play_plan(engine, targets: dict[str, np.ndarray], rho: float = 1.0):
    """Per-kind env actions that play a plan's first period (module docstring), or ``None``."""
    st = engine.state
    p_prev, soc = st.p_prev[0], st.soc[0]
    m, d = build_interval_model(engine.problem, int(st.t[0]), p_prev, soc)
    for block in ("storage_charge_mw", "storage_discharge_mw"):
        x = np.asarray(targets[block], float)
        m.set_var_bounds(block, lb=x, ub=x)
    p = m.var_blocks["gen_p_mw"]
    lo, hi = deliverable_window(engine.sys, p_prev)
    goal = np.clip(np.asarray(targets["gen_p_mw"], float), lo, hi)
    dev = m.add_vars("gen_tracking_mw", p.index, lb=-INF, ub=INF)
    r = np.arange(p.size)
    m.add_cons("gen_tracking", p.index, np.r_[r, r], np.r_[dev.positions, p.positions],
               np.r_[np.ones(p.size), -np.ones(p.size)], lb=-goal, ub=-goal)  # fmt: skip
    m.add_quadratic(dev.positions, np.full(p.size, 2.0 * rho))
    sol = solve_interval(m)
    if sol.status is not Status.OPTIMAL or not np.all(np.isfinite(sol.x)):
        return None
    acts, _ = actions_from_solution(m, sol, d, engine.sys, p_prev, soc)
    return acts


def oracle_policy(env, obs):
    """The env's per-interval oracle as a policy (zeros where it finds no dispatch); the
    fallback of the look-ahead and forecast counterparts."""
    acts, *_ = env.engine.oracle(0)
    if acts is None:
        return {a: np.zeros(env.action_space(a).shape) for a in env.agents}
    return {
        n: np.asarray(acts[k][i], float) for k in KINDS for i, n in enumerate(env.engine.agents[k])
    }
