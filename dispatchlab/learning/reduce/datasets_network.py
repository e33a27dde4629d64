"""Operating days of a multi-period DC dispatch with many DERs on a meshed network.

The problem on which learned variable pruning is studied after issue 20 (point 7): on a
single-period copper plate the LP has one row and the merit order solves it exactly without
any LP solver, so pruning has nothing to save there. Here the LP is ``multiperiod`` B-θ (or
PTDF) dispatch of a PGLib case over 24 hourly periods, with generator ramp limits coupling the
periods and branch flow limits coupling the buses: no merit order applies, a warm simplex
re-solve takes tens of milliseconds, and the DER columns (thousands per period) are what a
prediction may fix.

An operating point is one day: loads (T, loads) follow an aggregate of the SimBench load
profiles (annual peak = the case's ``p_mw``, see :func:`_hourly_shapes`) with per-load,
per-hour noise; PV follows ``pv_1``
(installed power × per-unit availability) with noise; other DERs are derated by a uniform
factor per unit and hour. Training days and test days come from disjoint ranges of 2016.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from dispatchlab import load_case
from dispatchlab.cases.timeseries import attach_profiles, profile
from dispatchlab.learning.reduce.datasets_ed import basis_status, random_pv_dg
from dispatchlab.learning.seeding import child_rngs
from dispatchlab.solvers.data import GENERATING_DERS, DispatchData
from dispatchlab.solvers.persistent import DispatchModel
from dispatchlab.solvers.status import Status


def network_der_case(
    n_der: int,
    *,
    base: str = "pglib/case118_ieee",
    periods: int = 24,
    seed: int = 0,
    pv_share: float = 0.3,
    ramp_share: float = 0.2,
):
    """``base`` with ``n_der`` DERs on random buses, generator ramps and an hourly time series.

    PV units (share ``pv_share``) have 0.5 × the total load installed over all of them and cost
    U(0, 5) $/MWh; ``dg`` units have 0.5 × the total load over all and cost U(10, 60) $/MWh,
    so they compete with the case's generators. Every generator ramps at most ``ramp_share`` ×
    p_max per hour (PGLib files carry no ramps), which couples the periods. Named
    ``<base>+ders<N>x<periods>h``.
    """
    if n_der < 1 or periods < 2:
        raise ValueError(f"need n_der ≥ 1 and periods ≥ 2, got {n_der} and {periods}")
    case = load_case(base)
    rng = child_rngs(seed, 1)[0]
    ders = random_pv_dg(
        rng, n_der, pv_share, case.buses.index, (0.5, 0.5), (10.0, 60.0), case.total_load_mw
    )
    gens = case.gens
    gens["ramp_up_mw_per_h"] = gens["ramp_down_mw_per_h"] = ramp_share * gens["p_max_mw"]
    out = case.replace(gens=gens).with_ders(ders)
    out = attach_profiles(out, periods=periods, step="1h")
    return out.replace(name=f"{base}+ders{n_der}x{periods}h")


@dataclass(frozen=True)
class DayConfig:
    """Which days of 2016 are sampled and how much noise the points carry."""

    first_day: int = 0  #: first day sampled (0 = 1 January)
    n_days: int = 300  #: days sampled from; later days are left for tests (chronological)
    load_noise: float = 0.05  #: std of the multiplicative noise on each load and hour
    pv_noise: float = 0.1  #: std of the multiplicative noise on each PV unit's availability
    derate_min: float = 0.7  #: non-PV DERs keep a U(derate_min, 1) share of p_max each hour

    def __post_init__(self) -> None:
        if self.first_day < 0 or self.n_days < 1 or self.first_day + self.n_days > 365:
            raise ValueError("first_day + n_days must lie within days 0 … 364 of 2016")


@dataclass(frozen=True)
class DayPoints:
    """Loads (n, T, loads) and DER availabilities (n, T, ders) in MW of ``days``."""

    load_p_mw: np.ndarray
    der_p_max_mw: np.ndarray
    days: np.ndarray


def sample_days(case, data: DispatchData, n: int, seed: int, config: DayConfig) -> DayPoints:
    """``n`` random days of the configured range, hourly over ``data.T`` periods (seeded).
    Peak loads and installed DER power are read from ``case`` (``data`` holds one day's
    profile values, not the peaks)."""
    rng = child_rngs(seed, 1)[0]
    days = rng.integers(config.first_day, config.first_day + config.n_days, n)
    steps = days[:, None] * 24 + np.arange(data.T)[None, :]  # hours of 2016
    load_shape, pv_shape = _hourly_shapes()
    peak = case.loads.loc[data.loads.ids, "p_mw"].to_numpy(float)
    noise = 1.0 + config.load_noise * rng.standard_normal((*steps.shape, len(peak)))
    load = load_shape[steps][..., None] * peak * noise
    installed = case.ders.loc[data.ders.ids, "p_max_mw"].to_numpy(float)
    is_pv = case.ders.loc[data.ders.ids, "kind"].to_numpy() == "pv"
    pv_noise = 1 + config.pv_noise * rng.standard_normal((*steps.shape, len(installed)))
    pv = np.clip(pv_shape[steps][..., None] * pv_noise, 0, 1)
    derate = rng.uniform(config.derate_min, 1.0, pv.shape)
    return DayPoints(load, installed * np.where(is_pv, pv, derate), days)


@cache
def _hourly_shapes() -> tuple[np.ndarray, np.ndarray]:
    """Hourly system load (peak 1) and pv_1 availability (p.u.) for every hour of 2016.

    A transmission system's load is an aggregate: the mean of the residential, commercial and
    industrial SimBench profiles, averaged per hour and over a 3-hour window. A single
    household profile swings by 80 % of its peak from one hour to the next, which no ramp-
    limited fleet follows (the multi-period LP turned infeasible on such days)."""
    names = ("residential", "commercial", "industrial")
    mix = sum(np.abs(p) / np.abs(p).max() for p in (profile(n).to_numpy() for n in names)) / 3
    hourly = mix[: len(mix) // 4 * 4].reshape(-1, 4).mean(axis=1)
    padded = np.r_[hourly[:1], hourly, hourly[-1:]]
    smooth = np.convolve(padded, np.ones(3) / 3, mode="valid")
    pv = profile("pv_1").to_numpy()
    return smooth / smooth.max(), pv[: len(pv) // 4 * 4].reshape(-1, 4).mean(axis=1)


def apply_day(dm, points: DayPoints, i: int) -> None:
    """Write day ``i`` into a DispatchModel (or a PrunedDispatch): loads, then availability."""
    dm.set_loads(points.load_p_mw[i])
    dm.set_der_available(points.der_p_max_mw[i])


def kind_matrix(data: DispatchData) -> np.ndarray:
    """(ders × kinds) one-hot of each DER's kind in ``GENERATING_DERS`` (computed once)."""
    kinds = np.asarray(data.ders["kind"])
    return (kinds[:, None] == np.asarray(GENERATING_DERS)[None, :]).astype(float)


def day_features(data: DispatchData, onehot: np.ndarray) -> np.ndarray:
    """Features of the day held in ``data``: total load per period, then available power per
    period and DER kind (MW), flattened. As on the copper plate, the duals are driven by
    where the demand meets the supply curve in each hour; the network and the ramps add the
    spatial and temporal detail that the nearest stored days carry in their own duals."""
    load = np.asarray(data.loads["p_mw"]).sum(axis=1)
    avail = np.asarray(data.ders["p_max_mw"]) @ onehot
    return np.r_[load, avail.ravel()]


@dataclass(frozen=True)
class SolvedDays:
    """Exact solutions of days: features (n, f), full-LP row duals (n, rows), objectives
    (n), optimal basis statuses (n, cols) and (n, rows) as int8 HighsBasisStatus values."""

    features: np.ndarray
    row_dual: np.ndarray
    objective: np.ndarray
    col_status: np.ndarray
    row_status: np.ndarray


def solve_days(dm: DispatchModel, points: DayPoints) -> SolvedDays:
    """Solve every day exactly through the persistent model (warm from the previous day)."""
    onehot = kind_matrix(dm.data)
    feats, duals, objs, cols, rows = [], [], [], [], []
    for i in range(len(points.days)):
        apply_day(dm, points, i)
        sol = dm.solve_raw()
        if sol.status is not Status.OPTIMAL:
            raise RuntimeError(f"day {points.days[i]} (point {i}): HiGHS returned {sol.status}")
        feats.append(day_features(dm.data, onehot))
        duals.append(sol.row_dual)
        objs.append(sol.objective)
        c, r = basis_status(dm.highs.h)
        cols.append(c)
        rows.append(r)
    return SolvedDays(*(np.array(v) for v in (feats, duals, objs, cols, rows)))
