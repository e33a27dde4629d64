"""Two-stage stochastic dispatch (seed000's SP baseline) on a feeder with PV and storage.

First stage (day-ahead, per period t): substation schedule p^DA_t and up/down reserve
capacities r⁺_t, r⁻_t ≥ 0. Second stage (real time, per PV scenario s): the substation
deviates by up_{s,t} ∈ [0, r⁺_t] and dn_{s,t} ∈ [0, r⁻_t]; PV used u ≤ PV_s, storage,
flexible loads and shedding (at VOLL) balance the copper plate:

    p^DA_t + up − dn + u + Σ(dis − ch) + flex + shed = load_t                    ∀ s, t
    min Σ_t dt [c p^DA + c⁺ r⁺ + c⁻ r⁻] + (1/S) Σ_s Σ_t dt [(c + π⁺) up − (c − π⁻) dn
        + c_flex flex + VOLL shed + c_curt (PV_s − u)]

Metrics, as seed000 §4.1 describes them (its text is all the definition there is):

* *expected reserve cost* — "the expected reserve costs (USD/MW) required to cope with
  photovoltaic output prediction deviations": Σ_t dt (c⁺ r⁺_t + c⁻ r⁻_t) for the capacity held
  plus E_s Σ_t dt (π⁺ up_{s,t} + π⁻ dn_{s,t}) for deploying it ($ over the day; per hour in the
  ``system`` table);
* *solar grid integration rate* ("absorption rate") — PV used / PV available, per period and
  over the day (E over scenarios; periods without sun are NaN);
* *day-ahead / real-time net power deviation* — "the absolute value of the net power
  deviation between the day-ahead dispatch plan and the actual required adjustment":
  |p^RT_{s,t} − p^DA_t| = |up − dn| at the substation (MW), mean per period and max overall.

Scenarios: PV realizations = the case's PV series (the forecast) plus AR(1) errors of
``forecast_errors`` (σ relative to capacity, one seed per scenario). The network is a copper
plate (seed000's congestion and voltage limits are not modelled here).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import pandas as pd

from dispatchlab.cases.timeseries import forecast_errors
from dispatchlab.solvers.api import EXTRA_PROBLEMS
from dispatchlab.solvers.data import dispatch_data
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Status


@dataclass(frozen=True)
class StochasticOptions:
    """Prices and scenario settings (one-line meaning each)."""

    n_scenarios: int = 10  #: PV scenarios of the SP
    sigma: float = 0.15  #: PV forecast error σ, relative to each unit's capacity
    rho: float = 0.9  #: AR(1) correlation of the error in lead time
    seed: int = 0  #: scenario s uses seed + s
    reserve_up_usd_per_mwh: float = 8.0  #: c⁺, up-reserve capacity price ($/MW per h)
    reserve_down_usd_per_mwh: float = 4.0  #: c⁻, down-reserve capacity price
    deploy_up_usd_per_mwh: float = 15.0  #: π⁺, premium on up-regulation energy
    deploy_down_usd_per_mwh: float = 5.0  #: π⁻, discount lost on down-regulation energy
    periods: int | None = None  #: number of time steps (None: the whole series)


@dataclass
class DayData:
    """The arrays of one day: load, PV forecast and the flexible resources (copper plate)."""

    times: pd.Index
    dt: float
    price: float  # substation energy price c ($/MWh)
    p0_max: float
    load: np.ndarray  # (T,)
    pv: np.ndarray  # (T, K) forecast of available PV
    pv_cap: np.ndarray  # (K,)
    storage: object  # Table of storage units
    flex_min: float
    flex_max: float
    flex_cost: float
    voll: float
    curtail_cost: np.ndarray  # (K,)


def day_data(case, periods: int | None = None) -> DayData:
    """Read a case with a time series (e.g. ieee33-seed000) into a :class:`DayData`."""
    d = dispatch_data(case, periods or len(case.timeseries))
    pv = np.flatnonzero(d.ders["kind"] == "pv")
    flex = np.flatnonzero(d.ders["kind"] != "pv")
    sub = int(np.argmax(d.gens["p_max_mw"][0]))
    return DayData(
        times=d.times,
        dt=d.dt_h,
        price=float(d.gens["cost_c1_usd_per_mwh"][sub]),
        p0_max=float(d.gens["p_max_mw"][0].sum()),
        load=d.loads["p_mw"].sum(axis=1) + d.bus_shunt_mw.sum(),
        pv=d.ders["p_max_mw"][:, pv],
        pv_cap=case.ders.loc[d.ders.ids[pv], "p_max_mw"].to_numpy(float),
        storage=d.storage,
        flex_min=float(d.ders["p_min_mw"][flex].sum()),
        flex_max=float(d.ders["p_max_mw"][0, flex].sum()),
        flex_cost=float(d.ders["cost_usd_per_mwh"][flex].mean()) if len(flex) else 0.0,
        voll=float(case.loads["voll_usd_per_mwh"].max()),
        curtail_cost=d.ders["curtail_cost_usd_per_mwh"][pv],
    )


def pv_scenarios(day: DayData, n: int, sigma: float, rho: float, seed: int) -> np.ndarray:
    """(n, T) total available PV: the forecast plus seeded AR(1) errors (forecast_errors,
    σ relative to capacity, clipped to [0, capacity]) for each unit, summed."""
    frame = pd.DataFrame(day.pv, index=day.times)
    out = np.empty((n, len(day.times)))
    for s in range(n):
        draw = forecast_errors(
            frame,
            horizon_steps=len(frame),
            sigma=sigma,
            rho=rho,
            seed=seed + s,
            relative_to="capacity",
            capacity=dict(enumerate(day.pv_cap)),
            upper=dict(enumerate(day.pv_cap)),
        )
        out[s] = np.where(day.pv.sum(axis=1) > 0, draw.to_numpy().sum(axis=1), 0.0)
    return out


def recourse(day: DayData, pv, first: dict, o: StochasticOptions, soc0=None, load=None):
    """Second-stage variables, constraints and expected cost for scenarios ``pv`` (S × T) given
    first-stage expressions ``first`` (p_da, r_up, r_dn over the T periods); ``soc0`` and
    ``load`` (arrays or cvxpy Parameters) replace the initial SOC and the day's load (MPC)."""
    S, T = pv.shape
    load = day.load if load is None else load
    st = day.storage
    v = {k: cp.Variable((S, T), nonneg=True) for k in ("up", "dn", "u", "shed")}
    v["flex"] = cp.Variable((S, T))
    ch = [cp.Variable((S, T), nonneg=True) for _ in range(len(st))]
    dis = [cp.Variable((S, T), nonneg=True) for _ in range(len(st))]
    ones = np.ones((S, 1))
    cons = [v["u"] <= pv, v["flex"] >= day.flex_min, v["flex"] <= day.flex_max]
    cons += [v["up"] <= ones @ cp.reshape(first["r_up"], (1, T), order="C")]
    cons += [v["dn"] <= ones @ cp.reshape(first["r_dn"], (1, T), order="C")]
    net = 0
    for k in range(len(st)):
        e0 = st["e_init_mwh"][k] if soc0 is None else soc0[k]
        flow = st["eff_charge"][k] * ch[k] - dis[k] / st["eff_discharge"][k]
        soc = e0 + day.dt * cp.cumsum(flow, 1)
        cons += [ch[k] <= -st["p_min_mw"][k], dis[k] <= st["p_max_mw"][k]]
        cons += [soc >= st["e_min_mwh"][k], soc <= st["e_max_mwh"][k]]
        if soc0 is None:  # a day: end at least where it started (cyclic)
            cons += [soc[:, -1] >= st["e_init_mwh"][k]]
        net = net + dis[k] - ch[k]
    p_da = ones @ cp.reshape(first["p_da"], (1, T), order="C")
    p_rt = p_da + v["up"] - v["dn"]
    cons += [
        p_rt + v["u"] + net + v["flex"] + v["shed"] == ones @ cp.reshape(load, (1, T), order="C")
    ]
    cons += [p_rt <= day.p0_max, p_rt >= 0.0]
    c = day.price
    cost = (
        (c + o.deploy_up_usd_per_mwh) * cp.sum(v["up"])
        - (c - o.deploy_down_usd_per_mwh) * cp.sum(v["dn"])
        + day.flex_cost * cp.sum(v["flex"])
        + day.voll * cp.sum(v["shed"])
        + float(day.curtail_cost.mean()) * cp.sum(pv - v["u"])
    ) * (day.dt / S)
    v["ch"], v["dis"] = ch, dis
    return v, cons, cost


def first_stage(day: DayData, o: StochasticOptions) -> tuple[dict, object]:
    T = len(day.times)
    f = {k: cp.Variable(T, nonneg=True) for k in ("p_da", "r_up", "r_dn")}
    cost = day.dt * (
        day.price * cp.sum(f["p_da"])
        + o.reserve_up_usd_per_mwh * cp.sum(f["r_up"])
        + o.reserve_down_usd_per_mwh * cp.sum(f["r_dn"])
    )
    return f, cost


def solve_two_stage(day: DayData, pv: np.ndarray, o: StochasticOptions, fixed=None) -> dict:
    """Solve the SP over scenarios ``pv``; with ``fixed`` (p_da, r_up, r_dn arrays) only the
    recourse is optimized (evaluation of a given day-ahead plan)."""
    f, cost1 = first_stage(day, o)
    v, cons, cost2 = recourse(day, pv, f, o)
    if fixed is not None:
        cons += [f[k] == fixed[k] for k in f]
    prob = cp.Problem(cp.Minimize(cost1 + cost2), cons)
    prob.solve(solver="HIGHS", output_flag=False)
    if prob.status not in ("optimal", "optimal_inaccurate"):
        return {"status": prob.status}
    out = {k: np.asarray(x.value) for k, x in {**f, **v}.items() if k not in ("ch", "dis")}
    # (S, T, units): discharge − charge of every storage unit in every scenario
    out["storage_mw"] = (
        np.stack(
            [
                np.asarray(d.value) - np.asarray(c.value)
                for c, d in zip(v["ch"], v["dis"], strict=True)
            ],
            axis=-1,
        )
        if v["ch"]
        else np.zeros((*pv.shape, 0))
    )
    return {"status": prob.status, "objective": float(prob.value), "pv": pv, **out}


def day_metrics(day: DayData, sol: dict, o: StochasticOptions) -> pd.DataFrame:
    """Per-period table of seed000's metrics (module docstring) for a solved day."""
    dev = np.abs(sol["up"] - sol["dn"])  # |p^RT − p^DA| per scenario and period
    avail, used = sol["pv"].mean(axis=0), sol["u"].mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(avail > 1e-9, used / avail, np.nan)
    capacity = day.dt * (
        o.reserve_up_usd_per_mwh * sol["r_up"] + o.reserve_down_usd_per_mwh * sol["r_dn"]
    )
    deploy = day.dt * (
        o.deploy_up_usd_per_mwh * sol["up"] + o.deploy_down_usd_per_mwh * sol["dn"]
    ).mean(axis=0)
    return pd.DataFrame(
        {
            "p_da_mw": sol["p_da"],
            "reserve_up_mw": sol["r_up"],
            "reserve_down_mw": sol["r_dn"],
            "expected_reserve_cost_usd": capacity + deploy,
            "pv_available_mw": avail,
            "pv_used_mw": used,
            "pv_integration_rate": rate,
            "net_deviation_mean_mw": dev.mean(axis=0),
            "net_deviation_max_mw": dev.max(axis=0),
            "shed_mw": sol["shed"].mean(axis=0),
        },
        index=day.times,
    )


def summarize(table: pd.DataFrame) -> dict:
    """Day totals: reserve cost ($), PV integration (energy-weighted), deviations (MW)."""
    avail = table["pv_available_mw"].sum()
    return {
        "expected_reserve_cost_usd": float(table["expected_reserve_cost_usd"].sum()),
        "pv_integration_rate": float(table["pv_used_mw"].sum() / avail) if avail else np.nan,
        "max_net_deviation_mw": float(table["net_deviation_max_mw"].max()),
        "mean_net_deviation_mw": float(table["net_deviation_mean_mw"].mean()),
        "expected_shed_mwh": float(table["shed_mw"].sum()),
    }


def solve_stochastic(case, *, backend: str = "auto", deterministic: bool = True, **options):
    """``solve(case, "stochastic", n_scenarios=10, seed=0, …)``: the SP, its per-period
    ``system`` table and day metrics in ``info``; with ``deterministic`` the plan of the
    mean-forecast problem is evaluated on the same scenarios (``info["vss_usd"]`` = its
    expected cost − the SP's, the value of the stochastic solution, ≥ 0)."""
    if backend not in ("auto", "highs"):
        raise ValueError("the SP is an LP solved by HiGHS: use backend 'auto' or 'highs'")
    o = StochasticOptions(**options)
    t0 = time.perf_counter()
    day = day_data(case, o.periods)
    pv = pv_scenarios(day, o.n_scenarios, o.sigma, o.rho, o.seed)
    sol = solve_two_stage(day, pv, o)
    res = Result(
        Status.OPTIMAL if "u" in sol else Status.ERROR,
        sol.get("objective", np.nan),
        "stochastic",
        case.name,
    )
    if res.optimal:
        res.system = day_metrics(day, sol, o)
        res.info.update(summarize(res.system), n_scenarios=o.n_scenarios, seed=o.seed)
        if deterministic:
            mean = solve_two_stage(day, day.pv.sum(axis=1)[None, :], o)
            plan = {k: mean[k] for k in ("p_da", "r_up", "r_dn")}
            det = solve_two_stage(day, pv, o, fixed=plan)
            res.info["deterministic_cost_usd"] = det["objective"]
            res.info["vss_usd"] = det["objective"] - sol["objective"]
            res.info["deterministic"] = summarize(day_metrics(day, det, o))
    res.timings = {"solve": time.perf_counter() - t0}
    res.info["backend"] = "highs"
    return res


EXTRA_PROBLEMS["stochastic"] = solve_stochastic
