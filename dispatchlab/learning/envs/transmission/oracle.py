"""The exact counterpart of one transmission-dispatch interval (seed004 eqs. 4–8 as an LP/QP).

The interval's dispatch is the DC-OPF of :func:`~dispatchlab.solvers.problems.dispatch.
build_dispatch` (PTDF formulation, the case's line ratings, load shedding at VOLL, storage with
a free end state) on the interval's loads and wind, with each unit's range narrowed to what it
can reach from its current output (ramp limits, eq. 7), plus the reserve block below, which
extends ``add_reserves`` with the storage's reserve (the environment counts it, so the exact
problem must too). Its objective equals the environment's cost of eq. 4 term by term: carbon
is priced into c1 and spilled wind at the curtailment price, so the optimum maps back to
actions that score the least cost with zero violations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dispatchlab.learning.envs.transmission.core import (
    Prices,
    TransmissionSystem,
    deliverable_window,
)
from dispatchlab.solvers.backends.highs import solve_highs
from dispatchlab.solvers.data import DispatchData, Table, dispatch_data
from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.network import dc_network
from dispatchlab.solvers.problems.dispatch import DispatchOptions, build_dispatch
from dispatchlab.solvers.problems.extract import values
from dispatchlab.solvers.status import Solution, Status

#: shedding is asked for: the env sheds at VOLL too, and the oracle must answer every state
OPTIONS = DispatchOptions(
    network="ptdf",
    allow_shedding=True,
    reserves=False,
    ramping=False,
    storage_terminal="free",
    storage_exclusive="off",
)


def priced_case(case, prices: Prices):
    """The case with carbon priced into the units' c1 and wind spill at the curtailment price:
    a new Case (the given one is never changed)."""
    gens = case.gens
    gens["cost_c1_usd_per_mwh"] = gens["cost_c1_usd_per_mwh"] + prices.carbon_usd_per_t * gens[
        "co2_t_per_mwh"
    ].astype(float)
    ders = case.ders
    wind = ders["kind"].isin(["wind", "pv"])
    ders.loc[wind, "curtail_cost_usd_per_mwh"] = prices.curtailment_usd_per_mwh
    return case.replace(gens=gens, ders=ders)


def _with_cols(table: Table, **cols: np.ndarray) -> Table:
    return Table(table.ids, table.bus, {**table.cols, **cols})


def interval_data(priced, sys: TransmissionSystem, t: int, p_prev, soc) -> DispatchData:
    """DispatchData of interval ``t`` with ramp windows from ``p_prev`` and the SOC ``soc``."""
    d = dispatch_data(priced, periods=1, start=int(t))
    lo, hi = deliverable_window(sys, np.asarray(p_prev, float))
    gens = _with_cols(d.gens, p_min_mw=lo, p_max_mw=hi[None, :])
    storage = _with_cols(d.storage, e_init_mwh=np.asarray(soc, float))
    return dataclasses.replace(d, gens=gens, storage=storage)


def _storage_reserves(m: LinearModel, d: DispatchData):
    """Storage reserve columns: r↑ ≤ p_max − (dis − ch), r↑·dt/η_d ≤ soc − e_min,
    r↓ ≤ (dis − ch) − p_min, r↓·dt·η_c ≤ e_max − soc (soc: the end of the interval)."""
    s, dt = d.storage, d.dt_h
    sids = pd.Index(s.ids, name="der_id")
    su = m.add_vars("storage_reserve_up_mw", sids)
    sd = m.add_vars("storage_reserve_down_mw", sids)
    ch, dis, soc = (
        m.var_blocks[b].positions
        for b in ("storage_charge_mw", "storage_discharge_mw", "storage_soc_mwh")
    )
    k, ones = np.arange(len(s)), np.ones(len(s))
    for name, cols, vals, ub in (
        ("storage_headroom_up", (su.positions, dis, ch), (ones, ones, -ones), s["p_max_mw"]),
        ("storage_energy_up", (su.positions, soc), (dt / s["eff_discharge"], -ones),
         -s["e_min_mwh"]),
        ("storage_headroom_down", (sd.positions, dis, ch), (ones, -ones, ones), -s["p_min_mw"]),
        ("storage_energy_down", (sd.positions, soc), (dt * s["eff_charge"], ones),
         s["e_max_mwh"]),
    ):  # fmt: skip
        rows = np.concatenate([k] * len(cols))
        m.add_cons(name, sids, rows, np.concatenate(cols), np.concatenate(vals), ub=ub)
    return su, sd


def add_interval_reserves(
    m: LinearModel, d: DispatchData, sys: TransmissionSystem, shortfall_usd_per_mw: float
) -> None:
    """Units: p + r↑ ≤ hi, p − r↓ ≥ lo (hi/lo: the ramp window); storage as
    :func:`_storage_reserves`; Σ r↑ + s↑ ≥ R↑, Σ r↓ + s↓ ≥ R↓ (the case's system-wide
    requirement), the shortfall s priced as the reward prices it (penalty × cost scale), so
    that an interval whose units cannot provide the reserve still has an optimum: the one the
    reward ranks first."""
    g, dt = d.gens, d.dt_h
    ng = len(g)
    cost = g["reserve_cost_usd_per_mwh"] * dt
    gids = pd.Index(g.ids, name="gen_id")
    gu = m.add_vars("gen_reserve_up_mw", gids, cost=cost)
    gd = m.add_vars("gen_reserve_down_mw", gids, cost=cost)
    p = m.var_blocks["gen_p_mw"].positions
    r = np.arange(ng)
    m.add_cons(
        "gen_headroom_up", gids, np.r_[r, r], np.r_[p, gu.positions], 1.0, ub=g["p_max_mw"][0]
    )
    m.add_cons(
        "gen_headroom_down",
        gids,
        np.r_[r, r],
        np.r_[p, gd.positions],
        np.r_[np.ones(ng), -np.ones(ng)],
        lb=g["p_min_mw"],
    )
    su, sd = _storage_reserves(m, d)
    short = [
        m.add_vars(f"reserve_shortfall_{w}_mw", [-1], cost=shortfall_usd_per_mw)
        for w in ("up", "down")
    ]
    for name, req, blocks in (
        ("reserve_requirement_up", sys.reserve_up, (gu, su, short[0])),
        ("reserve_requirement_down", sys.reserve_dn, (gd, sd, short[1])),
    ):
        cols = np.concatenate([b.positions for b in blocks])
        m.add_cons(name, [-1], np.zeros(cols.size, int), cols, 1.0, lb=req)


@dataclass(frozen=True)
class IntervalProblem:
    """What the interval's exact dispatch needs besides the state."""

    priced: Any  # the Case with carbon and curtailment priced (priced_case)
    sys: TransmissionSystem
    net: Any  # DCNetwork
    rate: np.ndarray  # MW per branch
    shortfall_usd_per_mw: float  # reserve shortfall price (reward penalty × cost scale)


def build_interval_model(prob: IntervalProblem, t: int, p_prev, soc):
    """(LinearModel, DispatchData) of the interval's exact dispatch."""
    d = interval_data(prob.priced, prob.sys, t, p_prev, soc)
    m = build_dispatch(d, OPTIONS, prob.net, prob.rate)
    add_interval_reserves(m, d, prob.sys, prob.shortfall_usd_per_mw)
    return m, d


def network_of(case) -> tuple:
    net = dc_network(case)
    return net, case.branches["rate_a_mva"].reindex(net.branch_ids).to_numpy(float)


def _solve_qp(m: LinearModel) -> Solution:
    """Clarabel for the QP (quadratic unit costs), as ``solve(..., backend="auto")`` picks;
    HiGHS when Clarabel stops short. HiGHS's QP solver answers "Solve error" on some of these
    intervals (e.g. ieee30-seed004 day 51, 00:00) that Clarabel solves."""
    from dispatchlab.solvers.backends.clarabel import solve_clarabel

    sol = solve_clarabel(m)
    return sol if sol.status is Status.OPTIMAL else solve_highs(m)


def solve_interval(m: LinearModel) -> Solution:
    """The best of the QPs with each storage either only charging or only discharging.

    With both directions open, the LP can charge and discharge at once to burn energy through
    the efficiencies and so make SOC room for down-reserve: a dispatch the environment (one
    net power per storage) cannot play. Enumerating the 2^S modes keeps the problem a QP and
    exact (S = 1 on ieee30-seed004); the same idea as solvers/problems/storage_modes.py.
    """
    names = ("storage_charge_mw", "storage_discharge_mw")
    blocks = [m.var_blocks[n] for n in names]
    n = blocks[0].size
    if n > 4:
        raise ValueError(f"{n} storage units: 2^{n} mode QPs per interval is too many")
    ub = m.ub
    best = None
    for mode in range(2**n):
        discharging = np.array([(mode >> i) & 1 for i in range(n)], dtype=bool)
        new_ub = ub.copy()
        new_ub[blocks[0].positions[discharging]] = 0.0
        new_ub[blocks[1].positions[~discharging]] = 0.0
        for name, block in zip(names, blocks, strict=True):
            m.set_var_bounds(name, ub=new_ub[block.positions])
        sol = _solve_qp(m)
        if sol.status is Status.OPTIMAL and (best is None or sol.objective < best.objective):
            best = sol
    for name, block in zip(names, blocks, strict=True):
        m.set_var_bounds(name, ub=ub[block.positions])
    return best if best is not None else sol


def _share(x: np.ndarray, room: np.ndarray) -> np.ndarray:
    """x / room in [0, 1] (0 where there is no room), as the action's [-1, 1] value."""
    share = np.where(room > 1e-9, x / np.where(room > 1e-9, room, 1.0), 0.0)
    return 2.0 * np.clip(share, 0.0, 1.0) - 1.0


def actions_from_solution(m, sol, d, sys: TransmissionSystem, p_prev, soc) -> tuple[dict, dict]:
    """Per-type action arrays (the environment's normalized units) that play the optimum, and
    what could not be played (load shed at buses without a load-serving entity)."""
    from dispatchlab.learning.envs.transmission.core import storage_reserve_room

    v = {b: values(m, sol, b, m.var_blocks[b].size, 1)[:, 0] for b in m.var_blocks}
    p = v["gen_p_mw"]
    dp = p - p_prev
    a_gen = np.where(dp >= 0, dp / sys.ramp_up, dp / sys.ramp_dn)
    lo, hi = deliverable_window(sys, p_prev)
    gen = np.stack(
        [
            np.clip(a_gen, -1, 1),
            _share(v["gen_reserve_up_mw"], hi - p),
            _share(v["gen_reserve_down_mw"], p - lo),
        ],
        axis=1,
    )
    kinds = d.ders["kind"]
    wind_p = v["der_p_mw"][kinds == "wind"]
    avail = d.ders["p_max_mw"][0][kinds == "wind"]
    wind = np.where(avail > 1e-9, 2.0 * wind_p / np.where(avail > 1e-9, avail, 1.0) - 1.0, 1.0)
    sto_p = v["storage_discharge_mw"] - v["storage_charge_mw"]
    a_sto = np.where(sto_p >= 0, sto_p / sys.sto_p_max, -sto_p / sys.sto_p_min)
    soc_next = soc - (np.maximum(sto_p, 0) / sys.eta_d + np.minimum(sto_p, 0) * sys.eta_c) * (
        sys.dt_h
    )
    up_room, dn_room = storage_reserve_room(sys, sto_p, soc_next)
    share = np.maximum(
        _share(v["storage_reserve_up_mw"], up_room), _share(v["storage_reserve_down_mw"], dn_room)
    )
    lse_p = v["der_p_mw"][kinds == "flexible_load"]
    a_lse = 2.0 * (lse_p - sys.lse_p_min) / (sys.lse_p_max - sys.lse_p_min) - 1.0
    load = d.loads["p_mw"][0]
    shed = v["load_shed_mw"]
    bus_load = sys.lse_loads @ load
    cut = _share(sys.lse_loads @ shed, bus_load)
    unplayable = float(shed[sys.lse_loads.sum(axis=0) == 0].sum())
    acts = {
        "gen": gen,
        "wind": np.clip(wind, -1, 1)[:, None],
        "storage": np.stack([np.clip(a_sto, -1, 1), share], axis=1),
        "lse": np.stack([np.clip(a_lse, -1, 1), cut], axis=1),
    }
    short = v["reserve_shortfall_up_mw"].sum() + v["reserve_shortfall_down_mw"].sum()
    return acts, {
        "unplayable_shed_mw": unplayable,
        "reserve_shortfall_mw": float(short),
        "lp_status": str(Status.OPTIMAL),
    }
