"""Options of the ``der-dispatch`` environment (seed000) and one scenario's exogenous series."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from dispatchlab.cases.case import Case

ACTION_MODES = ("discrete", "continuous")


@dataclass(frozen=True)
class DERDispatchConfig:
    """Every option of :class:`~dispatchlab.learning.envs.der_dispatch.env.DERDispatchEnv`."""

    case: str | Case = "ieee33-seed000"  #: case name or Case (never mutated)
    n_units: int | None = None  #: None: the case's DERs; N: split into N units (50–5 000)
    step_minutes: float = 15.0  #: real-time step, 0.25 (15 s, seed000 §3.4) to 60 min
    horizon_h: float = 24.0  #: episode length, hours (at most the case's time series)
    action_mode: str = "discrete"  #: "discrete" (n_levels levels) or "continuous" ([-1, 1])
    n_levels: int = 5  #: discrete levels across each unit's range (5 ⊇ the paper's −1, 0, ½, 1)
    price_model: Callable | None = None  #: callable(PriceState) -> LMP (S, n_bus); None = exact
    seed: int | None = None  #: seeds the draw of scenario seeds when reset() gets none
    broadcast_minutes: float = 5.0  #: LMP broadcast period (seed000 §3.2: 5 min)
    soc_band: tuple[float, float] = (0.1, 0.9)  #: eq. 3's [z_min, z_max], fraction of capacity
    soc_penalty_usd_per_mwh: float = 1000.0  #: eq.-3 weight, $ per MWh outside the band
    reserve_bonus_usd_per_mwh: float = 0.0  #: ancillary bonus ρ per MWh of upward headroom
    reserve_price_usd_per_mwh: float = 50.0  #: price of reserve covering the DA/RT deviation
    load_error_std: float = 0.05  #: real-time load error, fraction of the forecast
    pv_error_std: float = 0.15  #: real-time PV error, fraction of the forecast
    error_rho: float = 0.9  #: AR(1) coefficient of the errors over the day (timeseries.py)
    energy_price_usd_per_mwh: float | Sequence[float] | None = None  #: λ0; None = case's c1
    v_limits: tuple[float, float] | None = None  #: voltage band (p.u.); None = the case's
    realized_case: str | Case | None = None  #: realized series drawn around this case's (stress)

    def __post_init__(self) -> None:
        _check(self)

    def replace(self, **changes) -> DERDispatchConfig:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown der-dispatch option(s) {unknown}; known: {sorted(known)}")
        return DERDispatchConfig(
            **{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes}
        )


def _check(c: DERDispatchConfig) -> None:
    if c.action_mode not in ACTION_MODES:
        raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {c.action_mode!r}")
    if not (isinstance(c.n_levels, int | np.integer) and c.n_levels >= 2):
        raise ValueError(f"n_levels must be an integer >= 2, got {c.n_levels!r}")
    if not 0.25 <= c.step_minutes <= 60.0:
        raise ValueError(f"step_minutes must be in [0.25, 60] (15 s to 1 h), got {c.step_minutes}")
    if not c.horizon_h > 0 or not c.broadcast_minutes > 0:
        raise ValueError("horizon_h and broadcast_minutes must be positive")
    steps = c.horizon_h * 60.0 / c.step_minutes
    if abs(steps - round(steps)) > 1e-6:
        raise ValueError(
            f"horizon_h={c.horizon_h} is not a whole number of {c.step_minutes}-min steps"
        )
    if c.n_units is not None and not (isinstance(c.n_units, int | np.integer) and c.n_units > 0):
        raise ValueError(f"n_units must be a positive integer or None, got {c.n_units!r}")
    for name in ("soc_penalty_usd_per_mwh", "reserve_bonus_usd_per_mwh"):
        if getattr(c, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(c, name)}")
    for name in ("load_error_std", "pv_error_std"):
        if getattr(c, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(c, name)}")
    if not 0.0 <= c.error_rho < 1.0:
        raise ValueError(f"error_rho must be in [0, 1), got {c.error_rho}")
    if c.reserve_price_usd_per_mwh < 0:
        raise ValueError(
            f"reserve_price_usd_per_mwh must be >= 0, got {c.reserve_price_usd_per_mwh}"
        )
    if c.v_limits is not None and not (0.0 < c.v_limits[0] < c.v_limits[1]):
        raise ValueError(
            f"v_limits must be (v_min, v_max) with 0 < v_min < v_max, got {c.v_limits}"
        )
    lo, hi = c.soc_band
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(
            f"soc_band must be (z_min, z_max) with 0 <= z_min < z_max <= 1, got {c.soc_band}"
        )
    if c.price_model is not None and not callable(c.price_model):
        raise TypeError("price_model must be a callable(PriceState) -> LMP array, or None")


@dataclass(frozen=True)
class Scenario:
    """One scenario's realized series on the case's 15-min grid (rows = intervals)."""

    seed: int | None  #: None = the forecast itself (no error): the day-ahead scenario
    load_p: np.ndarray  # (T, n_load) MW
    load_q: np.ndarray  # (T, n_load) Mvar
    pv: np.ndarray  # (T, n_pv) MW available per PV unit
