"""The data of seed004's causal analysis: the exact dispatch of ieee30-seed004, day by day, and
the same days re-simulated under an intervention (the ground truth the paper never had).

Each day is solved as one perfect-foresight ``multiperiod`` dispatch (PTDF lines, ramps,
reserves, storage, shedding at VOLL) on the case priced like the transmission-dispatch
environment (carbon at 25 $/t in c1, spilled wind at 20 $/MWh: :func:`priced_case`). One row
per 15-min interval holds the SCM's variables (:data:`VARIABLES`). There is **no weather
series** in the case: the wind availability is the exogenous root that weather would drive.

Interventions (:data:`INTERVENTIONS`), each a new Case — the given one is never changed:

* ``wind`` — do(wind = w): every wind plant's availability set to w·(its capacity / fleet
  capacity), capped at its capacity, in every interval (w: p90 against p50 of the data);
* ``load`` — do(load × 1.1): every load series ×1.1;
* ``lines`` — do(ratings × 0.9): every branch rating ×0.9 (seed004's do(line stress)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dispatchlab.cases.case import Case, TimeSeries
from dispatchlab.learning.envs.transmission.config import TransmissionConfig
from dispatchlab.learning.envs.transmission.core import Prices
from dispatchlab.learning.envs.transmission.labels import LabelThresholds
from dispatchlab.learning.envs.transmission.oracle import priced_case

__all__ = [
    "INTERVENTIONS",
    "VARIABLES",
    "dispatch_table",
    "intervene",
    "simulate_effect",
    "solve_day",
]

#: the SCM's variables, as columns of :func:`dispatch_table` (units in the names)
VARIABLES = {
    "hour": "hour of day (calendar: the only pre-treatment covariate besides the roots)",
    "wind_mw": "available wind power of the three plants, MW (root; no weather series exists)",
    "load_mw": "total demand, MW (root)",
    "net_load_mw": "load − available wind, MW",
    "reserve_mw": "up-reserve headroom Σ_g (p_max − p) of the thermal units, MW",
    "dispatch_mw": "thermal output Σ_g p_g, MW (the dispatch action)",
    "line_stress_pct": "largest branch loading, % of rating",
    "cost_usd_per_mwh": "operating cost (fuel + carbon + wind O&M) per MWh of load served",
    "curtailment_pct": "spilled wind, % of available wind",
    "congestion": "1 when the LMP spread exceeds 13.93 $/MWh (the seed004 congestion label)",
}

#: intervention name -> what it does (see the module docstring)
INTERVENTIONS = {
    "wind": "do(wind at its p90) against do(wind at its p50)",
    "load": "do(load × 1.1) against the observed load",
    "lines": "do(branch ratings × 0.9) against the observed ratings",
}

PERIODS_PER_DAY = 96


def check_intervention(name: str) -> str:
    if name not in INTERVENTIONS:
        raise ValueError(f"unknown intervention {name!r}; use one of {', '.join(INTERVENTIONS)}")
    return name


def _priced(case: Case) -> Case:
    env = TransmissionConfig()
    return priced_case(case, Prices(env.carbon_price_usd_per_t, env.curtailment_price_usd_per_mwh))


def solve_day(priced: Case, day: int):
    """The exact perfect-foresight dispatch of ``day`` (96 intervals) of a priced case."""
    from dispatchlab.solvers.api import solve

    result = solve(
        priced,
        "multiperiod",
        periods=PERIODS_PER_DAY,
        start=PERIODS_PER_DAY * int(day),
        formulation="ptdf",
        allow_shedding=True,
    )
    if not result.optimal:
        raise RuntimeError(f"{priced.name} day {day}: the exact dispatch is {result.status}")
    return result


def _day_rows(case: Case, result, day: int) -> pd.DataFrame:
    ders = case.table("ders")
    gens = case.table("gens")
    wind_ids = ders.index[ders["kind"] == "wind"]
    der = result.der
    avail = der["available_mw"].unstack("der_id")[wind_ids].sum(axis=1)
    used = der["p_mw"].unstack("der_id")[wind_ids]
    p = result.gen["p_mw"].unstack("gen_id")
    fuel_usd_h = result.gen["cost_usd_per_h"].unstack("gen_id").sum(axis=1)
    wind_cost = (used * ders.loc[wind_ids, "cost_usd_per_mwh"].to_numpy()).sum(axis=1)
    system = result.system
    served = system["load_mw"] - system["shed_mw"]
    lmp = result.bus["lmp_usd_per_mwh"].unstack("bus_id")
    spread = (lmp.max(axis=1) - lmp.min(axis=1)).to_numpy()
    loading = result.branch["loading_pct"].unstack("branch_id").abs().max(axis=1)
    p_max = gens.loc[p.columns, "p_max_mw"].to_numpy()
    times = system.index
    return pd.DataFrame(
        {
            "day": int(day),
            "hour": times.hour + times.minute / 60.0,
            "wind_mw": avail.to_numpy(),
            "load_mw": system["load_mw"].to_numpy(),
            "net_load_mw": (system["load_mw"] - avail).to_numpy(),
            "reserve_mw": (p_max - p).sum(axis=1).to_numpy(),
            "dispatch_mw": p.sum(axis=1).to_numpy(),
            "line_stress_pct": loading.to_numpy(),
            "cost_usd_per_mwh": ((fuel_usd_h + wind_cost) / served).to_numpy(),
            "curtailment_pct": (
                100 * (avail - used.sum(axis=1)) / avail.clip(lower=1e-9)
            ).to_numpy(),
            "congestion": (spread > LabelThresholds().congestion_index_min_usd_per_mwh).astype(
                float
            ),
            "lmp_spread_usd_per_mwh": spread,
            "shed_mw": system["shed_mw"].to_numpy(),
        },
        index=times,
    )


def dispatch_table(case: Case, days: Sequence[int], *, progress=None) -> pd.DataFrame:
    """One row per interval of ``days``: the SCM's variables (:data:`VARIABLES`) from the
    exact dispatch of each day. ``progress(i, n)`` is called after each day."""
    priced = _priced(case)
    frames = []
    for i, day in enumerate(days):
        frames.append(_day_rows(priced, solve_day(priced, int(day)), int(day)))
        if progress is not None:
            progress(i + 1, len(days))
    return pd.concat(frames)


def _series(case: Case, **replace: pd.DataFrame) -> TimeSeries:
    ts = case.timeseries
    frames = {k: ts[k] for k in ts.keys()}
    frames.update(replace)
    return TimeSeries(frames, source=f"{ts.source} (intervened)")


def intervene(case: Case, name: str, *, wind_mw: float | None = None) -> Case:
    """``case`` under intervention ``name`` (module docstring); ``wind`` needs ``wind_mw``."""
    check_intervention(name)
    ts = case.timeseries
    if name == "load":
        frames = {k: ts[k] * 1.1 for k in ("load_p_mw", "load_q_mvar") if k in ts}
        return case.with_timeseries(_series(case, **frames))
    if name == "lines":
        branches = case.branches
        for col in ("rate_a_mva", "rate_b_mva", "rate_c_mva"):
            if col in branches:
                branches[col] = branches[col] * 0.9
        return case.replace(branches=branches)
    if wind_mw is None or not np.isfinite(wind_mw) or wind_mw < 0:
        raise ValueError(f"do(wind) needs a level wind_mw ≥ 0, got {wind_mw!r}")
    ders = case.table("ders")
    cap = ders.loc[ders["kind"] == "wind", "p_max_mw"]
    wind = ts["der_p_max_mw"].copy()
    level = np.minimum(wind_mw * cap / cap.sum(), cap)
    for did in cap.index:
        wind[did] = float(level[did])
    return case.with_timeseries(_series(case, der_p_max_mw=wind))


def simulate_effect(
    case: Case, days: Sequence[int], name: str, *, wind_levels: tuple[float, float] | None = None
) -> pd.DataFrame:
    """Per interval of ``days``: the outcomes under treatment minus under control, both by the
    exact dispatch (wind: level p90 − level p50, ``wind_levels=(p50, p90)``; load and lines:
    intervened − observed). Columns: ``day`` and the differences of the outcomes."""
    check_intervention(name)
    if name == "wind":
        if wind_levels is None:
            raise ValueError("simulate_effect('wind') needs wind_levels=(p50_mw, p90_mw)")
        control = dispatch_table(intervene(case, "wind", wind_mw=wind_levels[0]), days)
        treated = dispatch_table(intervene(case, "wind", wind_mw=wind_levels[1]), days)
    else:
        control = dispatch_table(case, days)
        treated = dispatch_table(intervene(case, name), days)
    outcomes = ["cost_usd_per_mwh", "curtailment_pct", "congestion"]
    diff = treated[outcomes] - control[outcomes]
    diff.insert(0, "day", control["day"])
    return diff
