"""seed000 stress scenarios: PV output ±40 % and a sudden +30 % load step, as new Cases.

seed000 §5: "photovoltaic generation was artificially varied within ±40 % of its predicted
value" and "the system load was abruptly increased by 30 % within a short time interval". Each
function returns a new Case (the input is never changed) whose time series differs only in the
intended columns, and records what it did in ``case.meta["stress"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dispatchlab.cases.case import Case, TimeSeries

__all__ = ["load_step", "pv_fluctuation", "scale_pv"]


def _window(index: pd.DatetimeIndex, start: Any, duration: Any) -> np.ndarray:
    """Boolean mask of ``[start, start + duration)`` (the whole series when start is None)."""
    if start is None:
        return np.ones(len(index), bool)
    t0 = pd.Timestamp(start)
    if t0 not in index:
        raise KeyError(f"stress start {t0} is not a step of the time series ({index[0]} …)")
    mask = index >= t0
    if duration is not None:
        mask &= index < t0 + pd.Timedelta(duration)
    return np.asarray(mask)


def _pv_frame(case: Case) -> tuple[TimeSeries, pd.DataFrame, pd.Index]:
    ts = case.timeseries
    if ts is None or "der_p_max_mw" not in ts:
        raise ValueError(f"{case.name}: no 'der_p_max_mw' time series to stress")
    ders = case.table("ders")
    frame = ts["der_p_max_mw"]
    pv = frame.columns[[ders.at[c, "kind"] == "pv" for c in frame.columns]]
    if pv.empty:
        raise ValueError(f"{case.name}: no PV DER has a time series (der kinds: "
                         f"{sorted(set(ders['kind']))})")  # fmt: skip
    return ts, frame, pv


def _with_pv(case: Case, factors: np.ndarray, cap: bool, what: dict) -> Case:
    """The case with its PV series × ``factors`` (steps × PV DERs), capped at the installed
    ``p_max_mw`` when ``cap`` (and the number of capped values recorded in meta)."""
    ts, frame, pv = _pv_frame(case)
    new = frame.copy()
    scaled = frame[pv].to_numpy() * factors
    installed = case.table("ders").loc[pv, "p_max_mw"].to_numpy()
    over = scaled > installed[None, :] + 1e-12
    if cap:
        scaled = np.minimum(scaled, installed[None, :])
    new[pv] = scaled
    frames = {k: (new if k == "der_p_max_mw" else ts[k]) for k in ts.keys()}
    stress = dict(what, capped_values=int(over.sum()) if cap else 0,
                  above_installed=0 if cap else int(over.sum()))  # fmt: skip
    meta = dict(case.meta, stress=stress)
    return case.replace(timeseries=TimeSeries(frames, source=ts.source), meta=meta)


def scale_pv(
    case: Case, factor: float, *, start: Any = None, duration: Any = None, cap: bool = True
) -> Case:
    """PV available power × ``factor`` (seed000: 0.6 and 1.4 for ∓40 %) in
    ``[start, start + duration)`` (default: the whole series).

    A PV plant cannot give more than its installed ``p_max_mw``: with ``cap`` (default) the
    scaled values are capped there and ``meta["stress"]["capped_values"]`` counts how many;
    ``cap=False`` keeps them and counts them in ``above_installed``.
    """
    if not (np.isfinite(factor) and factor >= 0):
        raise ValueError(f"PV factor must be a finite number ≥ 0, got {factor}")
    ts, _, pv = _pv_frame(case)
    mask = _window(ts.index, start, duration)
    factors = np.where(mask[:, None], factor, 1.0) * np.ones((1, len(pv)))
    what = dict(kind="scale_pv", factor=float(factor), start=str(start), duration=str(duration))
    return _with_pv(case, factors, cap, what)


def pv_fluctuation(case: Case, amplitude: float = 0.4, *, seed: int, cap: bool = True) -> Case:
    """PV available power × an independent factor uniform in ``[1 − a, 1 + a]`` per step and
    PV plant (seed000's "varied within ±40 % of its predicted value", ``a = 0.4``), drawn from
    ``numpy.random.default_rng(seed)``; capping as in :func:`scale_pv`."""
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(f"amplitude must be in [0, 1], got {amplitude}")
    ts, _, pv = _pv_frame(case)
    rng = np.random.default_rng(seed)
    factors = rng.uniform(1.0 - amplitude, 1.0 + amplitude, size=(len(ts), len(pv)))
    what = dict(kind="pv_fluctuation", amplitude=float(amplitude), seed=int(seed))
    return _with_pv(case, factors, cap, what)


def load_step(case: Case, factor: float = 1.3, *, at: Any, duration: Any = None) -> Case:
    """Every load's P and Q × ``factor`` from step ``at`` for ``duration`` (default: to the end
    of the series): seed000's sudden +30 % load surge. Q follows P (constant power factor)."""
    if not (np.isfinite(factor) and factor >= 0):
        raise ValueError(f"load factor must be a finite number ≥ 0, got {factor}")
    ts = case.timeseries
    if ts is None or "load_p_mw" not in ts:
        raise ValueError(f"{case.name}: no 'load_p_mw' time series to stress")
    mask = _window(ts.index, at, duration)
    frames = {}
    for key in ts.keys():
        frame = ts[key]
        if key in ("load_p_mw", "load_q_mvar"):
            frame = frame.copy()
            frame.loc[mask] = frame.loc[mask].to_numpy() * factor
        frames[key] = frame
    stress = dict(kind="load_step", factor=float(factor), at=str(pd.Timestamp(at)),
                  duration=str(duration), steps=int(mask.sum()))  # fmt: skip
    meta = dict(case.meta, stress=stress)
    return case.replace(timeseries=TimeSeries(frames, source=ts.source), meta=meta)
