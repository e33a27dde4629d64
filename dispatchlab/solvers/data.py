"""Arrays a dispatch problem needs, read once from a Case (and its time series).

Everything is in MW / $ and in positions; per-period quantities have shape (T, n). Problems
take a :class:`DispatchData`, so the Case is read in one place and never touched again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

GENERATING_DERS = ("pv", "wind", "dg", "microturbine", "flexible_load")
RENEWABLE_DERS = ("pv", "wind")


@dataclass(frozen=True)
class Table:
    """Ids, bus positions and per-period or static columns of one element type."""

    ids: np.ndarray
    bus: np.ndarray  # bus position of each element
    cols: dict  # name -> (n,) or (T, n) array

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.cols[key]


@dataclass(frozen=True)
class DispatchData:
    """The numbers of one dispatch problem over T periods of ``dt_h`` hours."""

    case_name: str
    base_mva: float
    bus_ids: np.ndarray
    bus_zone: np.ndarray
    times: pd.Index  # period labels (timestamps or 0 … T-1)
    dt_h: float
    gens: Table
    loads: Table
    ders: Table  # generating / curtailable DERs
    storage: Table
    pwl: pd.DataFrame  # gen_cost_pwl of in-service pwl gens
    reserves: pd.DataFrame
    bus_shunt_mw: np.ndarray  # gs_mw of each bus, consumed at 1 p.u.

    @property
    def T(self) -> int:
        return len(self.times)


def dispatch_data(case, periods: int | None = None, start: int = 0, dt_h: float | None = None):
    """Read ``case`` into arrays. ``periods=None``: one snapshot of the case as it is;
    otherwise ``periods`` steps of its time series starting at ``start``."""
    buses = case.buses
    pos = pd.Series(np.arange(len(buses)), index=buses.index)
    if periods is None:
        times = pd.Index([0], name="period")
        step_h = 1.0 if dt_h is None else dt_h
        series = None
    else:
        ts = case.timeseries
        if ts is None:
            raise ValueError(
                f"case '{case.name}' has no time series; multi-period dispatch "
                "needs one (see dispatchlab.cases.timeseries.attach_profiles)"
            )
        if start < 0 or start + periods > len(ts):
            raise ValueError(
                f"periods {start}…{start + periods - 1} outside the time series of {len(ts)} steps"
            )
        times = pd.Index(ts.index[start : start + periods], name="period")
        step_h = ts.step / pd.Timedelta(hours=1) if len(ts) > 1 else 1.0
        step_h = step_h if dt_h is None else dt_h
        series = {k: ts[k].iloc[start : start + periods] for k in ts.keys()}
    T = len(times)
    return DispatchData(
        case_name=case.name,
        base_mva=case.base_mva,
        bus_ids=buses.index.to_numpy(),
        bus_zone=buses["zone"].to_numpy(),
        times=times,
        dt_h=float(step_h),
        gens=_gens(case, pos, series, T),
        loads=_loads(case, pos, series, T),
        ders=_ders(case, pos, series, T),
        storage=_storage(case, pos),
        pwl=case.gen_cost_pwl.query("power == 'p'"),  # Q pwl costs are AC-OPF only
        reserves=case.reserves,
        bus_shunt_mw=buses["gs_mw"].to_numpy(),
    )


def _per_period(static: pd.Series, series: dict | None, key: str, T: int) -> np.ndarray:
    """(T, n) values: the series where it has a column for the element, else the static."""
    out = np.tile(static.to_numpy(dtype=float), (T, 1))
    if series is not None and key in series:
        frame = series[key]
        cols = [c for c in frame.columns if c in static.index]
        where = static.index.get_indexer(cols)
        out[:, where] = frame[cols].to_numpy()
    return out


def _gens(case, pos, series, T) -> Table:
    g = case.gens
    g = g[g["in_service"]]
    cols = {
        name: g[name].to_numpy()
        for name in (
            "p_min_mw",
            "cost_c2_usd_per_mw2h",
            "cost_c1_usd_per_mwh",
            "cost_c0_usd_per_h",
            "ramp_up_mw_per_h",
            "ramp_down_mw_per_h",
            "reserve_up_max_mw",
            "reserve_down_max_mw",
            "reserve_cost_usd_per_mwh",
            "p_mw",
            "co2_t_per_mwh",
        )
    }
    cols["p_max_mw"] = _per_period(g["p_max_mw"], series, "gen_p_max_mw", T)
    cols["pwl"] = (g["cost_model"] == "pwl").to_numpy()
    return Table(g.index.to_numpy(), pos[g["bus"]].to_numpy(), cols)


def _loads(case, pos, series, T) -> Table:
    ld = case.loads
    ld = ld[ld["in_service"]]
    cols = {
        "p_mw": _per_period(ld["p_mw"], series, "load_p_mw", T),
        "voll_usd_per_mwh": ld["voll_usd_per_mwh"].to_numpy(),
    }
    return Table(ld.index.to_numpy(), pos[ld["bus"]].to_numpy(), cols)


def _ders(case, pos, series, T) -> Table:
    d = case.ders
    d = d[d["in_service"] & d["kind"].isin(GENERATING_DERS)]
    cols = {
        name: d[name].to_numpy()
        for name in ("p_min_mw", "cost_usd_per_mwh", "curtail_cost_usd_per_mwh", "ramp_mw_per_h")
    }
    cols["p_max_mw"] = _per_period(d["p_max_mw"], series, "der_p_max_mw", T)
    cols["kind"] = d["kind"].to_numpy()
    return Table(d.index.to_numpy(), pos[d["bus"]].to_numpy(), cols)


def _storage(case, pos) -> Table:
    d = case.ders
    d = d[d["in_service"] & (d["kind"] == "storage")]
    cols = {
        name: d[name].to_numpy()
        for name in (
            "p_min_mw",
            "p_max_mw",
            "e_min_mwh",
            "e_max_mwh",
            "e_init_mwh",
            "eff_charge",
            "eff_discharge",
            "cost_usd_per_mwh",
        )
    }
    return Table(d.index.to_numpy(), pos[d["bus"]].to_numpy(), cols)
