"""A dispatch problem built once and re-solved many times with in-place updates.

:class:`DispatchModel` builds the LinearModel of an ``ed`` / ``dcopf`` / ``multiperiod``
problem and one persistent HiGHS instance, then changes loads, costs and limits *in place*
(``changeColsCost`` / ``changeColsBounds`` / ``changeRowsBounds`` / ``changeObjectiveOffset``)
and re-solves warm from the previous basis: scenario sweeps, Monte Carlo, rolling horizons and
environments pay the build once. Results carry the same tables as
:func:`~dispatchlab.solvers.api.solve`.

    >>> dm = DispatchModel(case, "dcopf", formulation="ptdf")
    >>> for scenario in scenarios:
    ...     dm.set_loads(scenario)          # pd.Series by load_id, or an array
    ...     result = dm.solve()
    >>> dm.builds                           # 1: never rebuilt

The storage charge/discharge exclusivity step of ``solve`` is not applied here (the model
stays an LP); check ``Result.storage`` if prices may go negative.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd

from dispatchlab.solvers.api import DISPATCH_PROBLEMS, _periods, _rates
from dispatchlab.solvers.backends.highs import HighsModel
from dispatchlab.solvers.data import RENEWABLE_DERS, DispatchData, Table, dispatch_data
from dispatchlab.solvers.network import dc_network
from dispatchlab.solvers.problems.dispatch import (
    ANGLE_BLOCK,
    DispatchOptions,
    build_dispatch,
    bus_demand_mw,
)
from dispatchlab.solvers.problems.extract import build_result_tables
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Solution, Status

Values = np.ndarray | pd.Series | float


class DispatchModel:
    """One dispatch problem of ``case`` kept in a persistent HiGHS instance.

    Accepts the options of :func:`~dispatchlab.solvers.api.solve` for dispatch problems
    (``formulation``, ``periods``, ``start``, ``time_limit`` and the :class:`DispatchOptions`
    fields). ``builds`` counts how often the model was built (1 unless :meth:`rebuild`).
    """

    def __init__(
        self,
        case,
        problem: str = "ed",
        *,
        formulation: str | None = None,
        periods: int | str | None = None,
        start: int = 0,
        time_limit: float | None = None,
        **options,
    ):
        if problem not in DISPATCH_PROBLEMS:
            raise ValueError(
                f"unknown dispatch problem '{problem}'; use one of {list(DISPATCH_PROBLEMS)}"
            )
        network, multi = DISPATCH_PROBLEMS[problem]
        self.problem = problem
        self.case_name = case.name
        if formulation == "auto":  # a fixed model cannot be lazy: the problem's own default
            formulation = None
        self.options = DispatchOptions(network=formulation or network, **options)
        if getattr(self.options, "losses", False):  # loss cuts depend on the demand
            raise NotImplementedError("DispatchModel does not support losses=True yet")
        self.time_limit = time_limit
        self.data: DispatchData = dispatch_data(case, _periods(case, periods, multi, start), start)
        self.net = dc_network(case) if self.options.network != "copperplate" else None
        self.rate = _rates(case, self.net, self.options.rating) if self.net is not None else None
        self.builds = 0
        self._curtail: np.ndarray | None = None
        self.rebuild()

    def rebuild(self) -> None:
        """Build the LinearModel and the HiGHS instance from the current data."""
        t0 = time.perf_counter()
        self.model = build_dispatch(self.data, self.options, self.net, self.rate)
        self.highs = HighsModel(self.model, time_limit=self.time_limit)
        # PTDF rows whose bounds move with the demand: block -> (PTDF rows, lo, hi, shift)
        self._ptdf_rows: dict[str, tuple] = {}
        for name in ("branch_flow_limit", ANGLE_BLOCK):
            if self.options.network != "ptdf" or name not in self.model.con_blocks:
                continue
            block = self.model.con_blocks[name]
            ids = block.index.get_level_values("branch_id")[:: self.data.T]
            lines = pd.Index(self.net.branch_ids).get_indexer(ids)
            shift = self.net.base_mva * self.net.flows_pu(np.zeros(self.net.n_bus))[lines]
            if name == ANGLE_BLOCK:
                lo, hi = self.net.angle_flow_bounds_mw(lines)
            else:
                lo, hi = -self.rate[lines], self.rate[lines]
            self._ptdf_rows[name] = (self.net.ptdf_rows(lines), lo, hi, shift)
        self.builds += 1
        self.build_s = time.perf_counter() - t0

    # ------------------------------------------------------------------------- updates
    def set_loads(self, p_mw: Values, period: int | None = None) -> None:
        """Active power of loads (MW): a Series by ``load_id`` (others unchanged), an array
        over all in-service loads, or a (T, loads) array; ``period`` = one period only."""
        ld = self.data.loads
        new = _update(ld["p_mw"], ld.ids, p_mw, period, "load_id")
        self._replace("loads", p_mw=new)
        demand = bus_demand_mw(self.data)
        bal = self.model.con_blocks["power_balance"]
        rhs = demand.T.ravel() if bal.size == demand.size else demand.sum(axis=1)
        self.highs.set_rhs("power_balance", rhs, rhs)
        for name, (ptdf, lo, hi, shift) in self._ptdf_rows.items():
            base = (demand @ ptdf.T).T - shift[:, None]
            self.highs.set_rhs(name, (lo[:, None] + base).ravel(), (hi[:, None] + base).ravel())
        if self.options.allow_shedding:
            self.highs.set_bounds("load_shed_mw", 0.0, np.maximum(new, 0.0).T.ravel())

    def set_gen_costs(self, c1: Values) -> None:
        """Linear cost ``cost_c1_usd_per_mwh`` of generators (piecewise-linear ones ignore it)."""
        g = self.data.gens
        new = _update(g["cost_c1_usd_per_mwh"][None, :], g.ids, c1, None, "gen_id")[0]
        self._replace("gens", cost_c1_usd_per_mwh=new)
        cost = np.where(g["pwl"], 0.0, new) * self.data.dt_h
        self.highs.set_costs("gen_p_mw", np.repeat(cost, self.data.T))

    def set_der_costs(self, cost: Values) -> None:
        """Energy cost ``cost_usd_per_mwh`` of generating DERs."""
        der = self.data.ders
        new = _update(der["cost_usd_per_mwh"][None, :], der.ids, cost, None, "der_id")[0]
        self._replace("ders", cost_usd_per_mwh=new)
        coef = (new - self._curtail_cost()) * self.data.dt_h
        self.highs.set_costs("der_p_mw", np.repeat(coef, self.data.T))

    def set_der_available(self, p_max: Values, period: int | None = None) -> None:
        """Available power of generating DERs (PV/wind forecast …), MW."""
        der = self.data.ders
        old = der["p_max_mw"]
        new = _update(old, der.ids, p_max, period, "der_id")
        self._replace("ders", p_max_mw=new)
        self.highs.set_bounds("der_p_mw", np.repeat(der["p_min_mw"], self.data.T), new.T.ravel())
        self.model.offset += float((self._curtail_cost() * (new - old)).sum() * self.data.dt_h)
        self.highs.h.changeObjectiveOffset(self.model.offset)

    def set_gen_limits(
        self, p_min: Values | None = None, p_max: Values | None = None, period: int | None = None
    ) -> None:
        """Output range of generators (MW); reserve headroom rows follow."""
        g, T = self.data.gens, self.data.T
        lo = (
            g["p_min_mw"]
            if p_min is None
            else _update(g["p_min_mw"][None, :], g.ids, p_min, None, "gen_id")[0]
        )
        hi = (
            g["p_max_mw"]
            if p_max is None
            else _update(g["p_max_mw"], g.ids, p_max, period, "gen_id")
        )
        self._replace("gens", p_min_mw=lo, p_max_mw=hi)
        self.highs.set_bounds("gen_p_mw", np.repeat(lo, T), hi.T.ravel())
        if "gen_headroom_up" in self.model.con_blocks:
            self.highs.set_rhs("gen_headroom_up", -np.inf, hi.T.ravel())
            self.highs.set_rhs("gen_headroom_down", np.repeat(lo, T), np.inf)

    # --------------------------------------------------------------------------- solve
    def solve_raw(self) -> Solution:
        """Re-solve warm and return the raw Solution (objective, primal values, duals): the
        fast path for loops that need numbers, not tables."""
        return self.highs.solve()

    def solve(self, *, tables: bool = True) -> Result:
        """Re-solve warm; ``tables=False`` skips building the Result tables (timing loops)."""
        sol = self.highs.solve()
        t1 = time.perf_counter()
        result = Result(
            status=sol.status,
            objective=sol.objective,
            problem=self.problem,
            case_name=self.case_name,
            info={
                "iterations": sol.iterations,
                "backend": "highs",
                "formulation": self.options.network,
                "periods": self.data.T,
                "persistent": True,
                "builds": self.builds,
            },
        )
        if tables and sol.status is Status.OPTIMAL:
            parts = build_result_tables(
                self.model, sol, self.data, self.options, self.net, self.rate
            )
            for key, table in parts.items():
                setattr(result, key, table)
        result.timings = {"solve": sol.solve_s, "extract": time.perf_counter() - t1}
        return result

    # ------------------------------------------------------------------------- helpers
    def _curtail_cost(self) -> np.ndarray:
        """Curtailment price of each generating DER (0 unless PV / wind), cached."""
        if self._curtail is None:
            der = self.data.ders
            renewable = np.isin(der["kind"], RENEWABLE_DERS)
            self._curtail = np.where(renewable, der["curtail_cost_usd_per_mwh"], 0.0)
        return self._curtail

    def _replace(self, table: str, **cols: np.ndarray) -> None:
        old: Table = getattr(self.data, table)
        new = Table(old.ids, old.bus, {**old.cols, **cols})
        self.data = dataclasses.replace(self.data, **{table: new})

    def __repr__(self) -> str:
        return (
            f"DispatchModel({self.problem} on {self.case_name}: {self.options.network}, "
            f"{self.data.T} period(s), {self.model.n_cols} columns, builds={self.builds})"
        )


def _update(
    current: np.ndarray, ids: np.ndarray, values: Values, period: int | None, id_name: str
) -> np.ndarray:
    """A (T, n) copy of ``current`` with ``values`` written in (all periods or one)."""
    out = np.array(current, dtype=float, copy=True)
    rows = slice(None) if period is None else slice(period, period + 1)
    if isinstance(values, pd.Series):
        where = pd.Index(ids).get_indexer(values.index)
        if (where < 0).any():
            missing = values.index[where < 0].tolist()[:5]
            raise KeyError(f"unknown or out-of-service {id_name}(s) {missing}")
        out[rows, where] = values.to_numpy(dtype=float)
        return out
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 2 and period is None:
        if arr.shape != out.shape:
            raise ValueError(f"expected shape {out.shape} for a per-period update, got {arr.shape}")
        return arr.copy()
    if arr.ndim > 1 or (arr.ndim == 1 and arr.size != out.shape[1]):
        raise ValueError(f"expected {out.shape[1]} values (one per {id_name}), got {arr.shape}")
    out[rows, :] = arr
    return out
