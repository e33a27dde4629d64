"""Model predictive control (seed000's MPC baseline): a day-ahead plan, then a rolling horizon.

Day-ahead: the mean-forecast plan of :mod:`stochastic` (substation schedule p^DA) with reserves
booked by a rule, r⁺_t = r⁻_t = k·σ·Σ capacity wherever PV is forecast (k = 1.645: the 95 %
quantile of a Gaussian error of σ relative to capacity). Real time, at every step t: the PV
forecast of the next H steps is refreshed — the realized value at t, then
``forecast_errors(actual[t:t+H], horizon_steps=H, seed=seed·100 003 + t)`` for the later steps
(errors grow with lead time) — and the recourse LP of :func:`stochastic.recourse` is solved over
the window with the plan fixed and the current state of charge; only step t is applied. The
window LP is built once with cvxpy Parameters (DPP) and re-solved H-step by H-step; windows
running past the end of the day repeat the last period. ``n_runs`` realizations (seeds
``seed`` … ``seed + n_runs − 1``, drawn as the SP's scenarios are) give the expectations; the
metrics (expected reserve cost, PV integration rate, DA/RT net power deviation) are those of
:mod:`stochastic`, defined as seed000 does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np
import pandas as pd

from dispatchlab.cases.timeseries import forecast_errors
from dispatchlab.solvers.api import EXTRA_PROBLEMS
from dispatchlab.solvers.problems.stochastic import (
    DayData,
    StochasticOptions,
    day_data,
    day_metrics,
    pv_scenarios,
    recourse,
    solve_two_stage,
    summarize,
)
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Status


@dataclass(frozen=True)
class MPCOptions:
    """Horizon, reserve rule and realizations (prices and σ: :class:`StochasticOptions`)."""

    horizon: int = 16  #: steps per window (16 × 15 min = 4 h)
    reserve_k: float = 1.645  #: reserve = k·σ·Σ PV capacity while PV is forecast
    n_runs: int = 3  #: realizations evaluated
    sp: StochasticOptions = field(default_factory=StochasticOptions)


class WindowLP:
    """The recourse LP over one window, compiled once; parameters change every step."""

    def __init__(self, day: DayData, o: MPCOptions):
        H, n_st = o.horizon, len(day.storage)
        self.pv = cp.Parameter((1, H), nonneg=True)
        self.load = cp.Parameter(H)
        self.soc0 = cp.Parameter(n_st, nonneg=True)
        self.first = {k: cp.Parameter(H, nonneg=True) for k in ("p_da", "r_up", "r_dn")}
        short = DayData(**{**day.__dict__, "times": day.times[:H]})
        self.v, cons, cost = recourse(short, self.pv, self.first, o.sp, self.soc0, self.load)
        self.problem = cp.Problem(cp.Minimize(cost), cons)

    def step(self, pv, load, soc0, plan: dict) -> dict:
        """Solve one window; the first step's decisions (1-element arrays) and its new SOC."""
        self.pv.value, self.load.value, self.soc0.value = pv[None, :], load, soc0
        for k, p in self.first.items():
            p.value = plan[k]
        self.problem.solve(solver="HIGHS", output_flag=False)
        if self.problem.status not in ("optimal", "optimal_inaccurate"):
            raise RuntimeError(f"MPC window infeasible ({self.problem.status})")
        return {k: np.asarray(x.value)[0, 0] for k, x in self.v.items() if k not in ("ch", "dis")}


def _window(a: np.ndarray, t: int, H: int) -> np.ndarray:
    idx = np.minimum(np.arange(t, t + H), len(a) - 1)
    return a[idx]


def run_mpc(day: DayData, actual: np.ndarray, plan: dict, o: MPCOptions, seed: int) -> dict:
    """One realized day: rolling windows with refreshed forecasts; arrays over the T steps."""
    T, H, st = len(day.times), o.horizon, day.storage
    lp = WindowLP(day, o)
    soc = np.asarray(st["e_init_mwh"], float).copy()
    out = {k: np.zeros(T) for k in ("up", "dn", "u", "shed", "flex")}
    out["storage_mw"] = np.zeros((T, len(st)))  # discharge − charge of each unit, applied
    cap = float(day.pv_cap.sum())
    for t in range(T):
        window = pd.DataFrame({0: _window(actual, t, H)})
        fc = forecast_errors(
            window,
            horizon_steps=H,
            sigma=o.sp.sigma,
            rho=o.sp.rho,
            seed=seed * 100_003 + t,
            relative_to="capacity",
            capacity={0: cap},
            upper={0: cap},
        )[0].to_numpy()
        fc[0] = actual[t]  # the current step is observed
        fc = np.where(_window(day.pv.sum(axis=1), t, H) > 0, fc, 0.0)
        step = lp.step(
            fc, _window(day.load, t, H), soc, {k: _window(v, t, H) for k, v in plan.items()}
        )
        for k in step:
            out[k][t] = step[k]
        for k in range(len(st)):
            ch, dis = lp.v["ch"][k].value[0, 0], lp.v["dis"][k].value[0, 0]
            out["storage_mw"][t, k] = dis - ch
            soc[k] += day.dt * (st["eff_charge"][k] * ch - dis / st["eff_discharge"][k])
    out["soc_end"] = soc
    return out


def solve_mpc(case, *, backend: str = "auto", **options) -> Result:
    """``solve(case, "mpc", horizon=16, n_runs=3, seed=0, …)``: MPC over ``n_runs`` realized
    days; ``system`` per period and the day metrics in ``info`` (deterministic for a seed)."""
    if backend not in ("auto", "highs"):
        raise ValueError("MPC windows are LPs solved by HiGHS: use backend 'auto' or 'highs'")
    sp_keys = set(StochasticOptions.__dataclass_fields__)
    sp = StochasticOptions(**{k: v for k, v in options.items() if k in sp_keys})
    o = MPCOptions(**{k: v for k, v in options.items() if k not in sp_keys}, sp=sp)
    t0 = time.perf_counter()
    day = day_data(case, sp.periods)
    mean = solve_two_stage(day, day.pv.sum(axis=1)[None, :], sp)
    reserve = np.where(day.pv.sum(axis=1) > 0, o.reserve_k * sp.sigma * day.pv_cap.sum(), 0.0)
    plan = {"p_da": mean["p_da"], "r_up": reserve, "r_dn": reserve}
    actual = pv_scenarios(day, o.n_runs, sp.sigma, sp.rho, sp.seed)
    runs = [run_mpc(day, actual[s], plan, o, sp.seed + s) for s in range(o.n_runs)]
    sol = {k: np.vstack([r[k] for r in runs]) for k in ("up", "dn", "u", "shed", "flex")}
    sol.update(plan, pv=actual)
    res = Result(Status.OPTIMAL, _realized_cost(day, sol, sp), "mpc", case.name)
    res.system = day_metrics(day, sol, sp)
    res.info.update(summarize(res.system), n_runs=o.n_runs, seed=sp.seed, backend="highs")
    res.info["soc_end_mwh"] = np.mean([r["soc_end"] for r in runs], axis=0)
    res.timings = {"solve": time.perf_counter() - t0}
    return res


def _realized_cost(day: DayData, sol: dict, o: StochasticOptions) -> float:
    """Expected cost of the realized days, priced as the SP's objective."""
    c, dt = day.price, day.dt
    first = dt * (
        c * sol["p_da"].sum()
        + o.reserve_up_usd_per_mwh * sol["r_up"].sum()
        + o.reserve_down_usd_per_mwh * sol["r_dn"].sum()
    )
    second = dt * (
        (c + o.deploy_up_usd_per_mwh) * sol["up"]
        - (c - o.deploy_down_usd_per_mwh) * sol["dn"]
        + day.flex_cost * sol["flex"]
        + day.voll * sol["shed"]
    ).sum(axis=1)
    return float(first + second.mean())


EXTRA_PROBLEMS["mpc"] = solve_mpc
