"""Realistic time series for cases: SimBench load, PV and wind profiles, forecasts, splits.

The profiles come from a compact extract of the SimBench data set (ODbL 1.0, see
``dispatchlab/cases/data/profiles/README.md``): one year (2016, a leap year: 35 136 steps of
15 min) of four load types (P and Q) and two PV and two wind sites. Timestamps are naive
CET (UTC+01:00) all year. Load profiles are normalised to a peak |value| of 1; PV and wind are in
per-unit of installed power (their peaks are below 1).

* :func:`list_profiles`, :func:`profile`: the normalised profiles, at any step.
* :func:`attach_profiles`: absolute series for a case's loads and PV / wind DERs.
* :func:`forecast_errors`, :func:`forecast_error_samples`: seeded synthetic forecasts.
* :func:`chronological_split`: train / validation / test periods without leakage.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from dispatchlab.cases.case import Case, TimeSeries

__all__ = [
    "attach_profiles",
    "chronological_split",
    "forecast_error_samples",
    "forecast_errors",
    "lead_time_std",
    "list_profiles",
    "profile",
    "profile_info",
]

EXTRACT_FILE = "simbench_profiles_2016.npz"
Step = str | pd.Timedelta | timedelta
ProfileSpec = str | Mapping[int, str] | None


# ------------------------------------------------------------------------------ the extract
@dataclass(frozen=True)
class _Extract:
    values: Mapping[str, np.ndarray]  # name -> read-only float64 array, one value per step
    meta: Mapping[str, Any]
    start: pd.Timestamp
    step: pd.Timedelta

    @property
    def end(self) -> pd.Timestamp:
        """The end of the last step (exclusive): 2017-01-01 00:00."""
        return self.start + self.step * len(next(iter(self.values.values())))


@lru_cache(maxsize=1)
def _extract() -> _Extract:
    """Decode the shipped ``.npz`` once per process."""
    ref = resources.files("dispatchlab.cases") / "data" / "profiles" / EXTRACT_FILE
    with resources.as_file(ref) as path, np.load(path, allow_pickle=False) as npz:
        names = [str(n) for n in npz["names"]]
        lo, hi, codes = npz["lo"], npz["hi"], npz["codes"]
        meta = json.loads(str(npz["meta"]))
    decoded = lo[:, None] + codes.astype(np.float64) * ((hi - lo)[:, None] / 65535.0)
    decoded.setflags(write=False)
    values = dict(zip(names, decoded, strict=True))
    return _Extract(values, meta, pd.Timestamp(meta["start"]), pd.Timedelta(meta["step"]))


def list_profiles() -> list[str]:
    """Names of the available profiles (loads ``residential``…, ``…_q``, ``pv_*``, ``wind_*``)."""
    return list(_extract().values)


def _check_name(name: str) -> np.ndarray:
    ext = _extract()
    if name not in ext.values:
        names = list(ext.values)
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.4)
        hint = f"did you mean {close}? " if close else ""
        raise KeyError(f"unknown profile {name!r}; {hint}available: {names}")
    return ext.values[name]


def profile_info(name: str) -> dict[str, Any]:
    """Where a profile comes from: SimBench column, kind, the scale factor removed, …"""
    _check_name(name)
    meta = _extract().meta
    info = {k: v for k, v in meta.items() if k != "profiles"}
    return {**info, **meta["profiles"][name]}


# ------------------------------------------------------------------------------- profiles
def _as_step(step: Step) -> pd.Timedelta:
    td = pd.Timedelta(step)
    if td <= pd.Timedelta(0):
        raise ValueError(f"step must be positive, got {step!r}")
    return td


def _as_naive_cet(stamp: Any) -> pd.Timestamp:
    """A timestamp on the extract's clock: tz-aware stamps are converted to UTC+01:00."""
    ts = pd.Timestamp(stamp)
    return ts if ts.tz is None else ts.tz_convert("Etc/GMT-1").tz_localize(None)


def profile(
    name: str, *, start: Any = None, periods: int | None = None, step: Step = "15min"
) -> pd.Series:
    """One normalised profile on ``periods`` steps of ``step`` from ``start``.

    ``start`` defaults to the beginning of the data (2016-01-01 00:00, naive CET), ``periods``
    to as many whole steps as fit before 2017-01-01 00:00; the window must lie inside 2016,
    otherwise ValueError. Each value covers ``[t, t + step)``:

    * a step that is a multiple of 15 min gives the **mean** of the quarter-hours in it
      (``step="1h"``: the mean of the four quarter-hours starting at the hour);
    * a shorter step **interpolates linearly** between the quarter-hour values, placed at their
      start times (the last quarter-hour of the year is held at its value);
    * any other step (e.g. 20 min) averages the linear interpolant sampled at
      ``gcd(step, 15 min)``.

    Unknown names raise KeyError listing the available profiles and the closest matches.
    """
    values = _check_name(name)
    ext = _extract()
    td = _as_step(step)
    t0 = ext.start if start is None else _as_naive_cet(start)
    if periods is None:
        periods = int((ext.end - t0) // td)
    if periods < 1 or t0 < ext.start or t0 + periods * td > ext.end:
        raise ValueError(
            f"profile window {t0} + {periods} × {td} must have ≥ 1 step and lie within "
            f"[{ext.start}, {ext.end})"
        )
    out = _resample(values, (t0 - ext.start).value, periods, td.value, ext.step.value)
    index = pd.date_range(t0, periods=periods, freq=td)
    return pd.Series(out, index=index, name=name)


def _resample(values: np.ndarray, offset_ns: int, periods: int, step_ns: int, base_ns: int):
    """Block means of the linear interpolant sampled at ``gcd(step, base)``."""
    fine = math.gcd(step_ns, base_ns)
    k = step_ns // fine
    times = offset_ns + np.arange(periods * k, dtype=np.int64) * fine
    sampled = np.interp(times / base_ns, np.arange(len(values)), values)
    return sampled.reshape(periods, k).mean(axis=1)


# ------------------------------------------------------------------------ attach to a case
def _assign(spec: ProfileSpec, ids: pd.Index, what: str) -> dict[int, str]:
    """Element id -> profile name, checking ids and names."""
    if spec is None:
        return {}
    if isinstance(spec, str):
        mapping = dict.fromkeys((int(i) for i in ids), spec)
    else:
        mapping = {int(k): v for k, v in spec.items()}
        unknown = sorted(set(mapping) - {int(i) for i in ids})
        if unknown:
            raise KeyError(f"attach_profiles: unknown {what} id(s) {unknown[:5]}")
    for name in set(mapping.values()):
        _check_name(name)
    return mapping


@dataclass(frozen=True)
class _Window:
    start: pd.Timestamp
    periods: int
    step: pd.Timedelta
    max_shift: int  # in steps
    jitter: float

    def draw(self, rng: np.random.Generator) -> tuple[pd.Timestamp, np.ndarray]:
        """A random start shift and multiplicative noise factors, for one element."""
        shift = int(rng.integers(-self.max_shift, self.max_shift + 1))
        noise = np.ones(self.periods)
        if self.jitter > 0:
            noise = 1.0 + self.jitter * rng.standard_normal(self.periods)
        return self.start + shift * self.step, noise

    def shape(self, name: str, start: pd.Timestamp, noise: np.ndarray) -> np.ndarray:
        return _held_profile(name, start, self.periods, self.step) * noise


def _held_profile(name: str, start: pd.Timestamp, periods: int, step: pd.Timedelta) -> np.ndarray:
    """:func:`profile` on a window that may stick out of 2016 by a time shift: the part
    outside holds the first / last value in range (so a year-long window can be shifted)."""
    ext = _extract()
    lead = max(0, -((start - ext.start) // step))  # whole steps before the data starts
    first = start + lead * step
    fit = min(periods - lead, int((ext.end - first) // step))
    if lead == 0 and fit == periods:
        return profile(name, start=start, periods=periods, step=step).to_numpy()
    if fit < 1:
        raise ValueError(f"profile window {start} + {periods} × {step} lies outside 2016")
    inner = profile(name, start=first, periods=fit, step=step).to_numpy()
    return np.pad(inner, (lead, periods - lead - fit), mode="edge")


def _peak_one(x: np.ndarray) -> np.ndarray:
    peak = np.max(np.abs(x))
    return x / peak if peak > 0 else x


def _load_frames(loads, names, win, rng, q_profile, normalize) -> dict[str, dict[int, Any]]:
    p_cols, q_cols = {}, {}
    for lid, name in names.items():
        start, noise = win.draw(rng)
        p = np.maximum(win.shape(name, start, noise), 0.0)
        q = win.shape(f"{name}_q", start, noise) if q_profile else p
        if normalize == "window":
            p, q = _peak_one(p), _peak_one(q)
        p_cols[lid] = loads.at[lid, "p_mw"] * p
        q_cols[lid] = loads.at[lid, "q_mvar"] * q
    if normalize == "feeder" and p_cols:
        # one factor for every load: the feeder total peaks at the sum of the loads' p_mw
        total = np.sum(list(p_cols.values()), axis=0).max()
        factor = loads.loc[list(p_cols), "p_mw"].sum() / total if total > 0 else 1.0
        p_cols = {k: v * factor for k, v in p_cols.items()}
        q_cols = {k: v * factor for k, v in q_cols.items()}
    return {"load_p_mw": p_cols, "load_q_mvar": q_cols}


def _der_frame(ders, names, win, rng) -> dict[int, Any]:
    cols = {}
    for did, name in names.items():
        start, noise = win.draw(rng)
        cols[did] = ders.at[did, "p_max_mw"] * np.clip(win.shape(name, start, noise), 0.0, 1.0)
    return cols


def attach_profiles(
    case: Case,
    *,
    start: Any = "2016-06-01",
    periods: int = 96,
    step: Step = "15min",
    load_profile: ProfileSpec = "residential",
    pv_profile: ProfileSpec = "pv_1",
    wind_profile: ProfileSpec = "wind_1",
    q_profile: bool = False,
    normalize: str = "window",
    seed: int = 0,
    jitter: float = 0.0,
    max_shift: Step = "0min",
) -> Case:
    """The case with a :class:`TimeSeries` built from the SimBench profiles.

    Loads (``load_profile``: one name for all, a dict ``load_id -> name`` — loads left out keep
    their constant value — or None) get ``load_p_mw = p_mw × shape``: **the case's ``p_mw`` is the
    peak load** and the profile scales it. With ``normalize="window"`` (default) each shape is
    divided by its peak over the window, so every load series peaks at exactly ``p_mw``; with
    ``"year"`` the annual peak is ``p_mw`` and a June day stays below it; with ``"feeder"``
    one factor scales every load so that the feeder total peaks at ``Σ p_mw`` over the window
    (over a year window: the feeder's annual peak is its nominal load, and loads with
    different profiles or shifts keep their relative sizes). ``load_q_mvar`` follows
    P at the load's power factor (``q_mvar × shape``), or, with ``q_profile=True``, the matching
    ``<name>_q`` profile normalised the same way (``q_mvar`` is then the peak |Q|).

    DERs of kind ``pv`` / ``wind`` get ``der_p_max_mw = p_max_mw × profile`` (installed power
    × per-unit availability, not renormalised, clipped to [0, 1] p.u.); other DERs and the
    generators get no series.

    ``seed`` drives optional per-element variation from ``numpy.random.default_rng(seed)``,
    drawn in table order (loads, then PV, then wind): a time shift of a whole number of steps
    uniform in ``±max_shift`` (a window shifted past either end of 2016 holds the first / last
    value), and multiplicative noise ``1 + jitter·N(0, 1)`` per step. With
    ``jitter=0`` and ``max_shift=0`` all elements with the same profile share its shape.
    Any time series the case carried is replaced. Needs ``periods`` ≠ 2 (a 2-step index has
    no frequency pandas can infer).
    """
    if normalize not in ("window", "year", "feeder"):
        raise ValueError(f"normalize must be 'window', 'year' or 'feeder', got {normalize!r}")
    if jitter < 0:
        raise ValueError(f"jitter must be ≥ 0, got {jitter}")
    td = _as_step(step)
    shift = int(pd.Timedelta(max_shift) // td)
    win = _Window(_as_naive_cet(start), int(periods), td, shift, float(jitter))
    rng = np.random.default_rng(seed)
    loads, ders = case.loads, case.ders
    columns = _load_frames(
        loads, _assign(load_profile, loads.index, "load"), win, rng, q_profile, normalize
    )
    der_names = {}
    for kind, spec in (("pv", pv_profile), ("wind", wind_profile)):
        der_names |= _assign(spec, ders.index[ders["kind"] == kind], f"{kind} DER")
    columns["der_p_max_mw"] = _der_frame(ders, der_names, win, rng)
    index = pd.date_range(win.start, periods=win.periods, freq=td)
    frames = {k: pd.DataFrame(v, index=index) for k, v in columns.items() if v}
    if not frames:
        raise ValueError("attach_profiles: nothing to attach (no loads, no PV / wind DERs)")
    source = (
        f"SimBench profile extract ({_extract().meta['source']}; ODbL 1.0): loads={load_profile!r}"
        f", pv={pv_profile!r}, wind={wind_profile!r}, normalize={normalize}, seed={seed}, "
        f"jitter={jitter}, max_shift={pd.Timedelta(max_shift)}"
    )
    return case.with_timeseries(TimeSeries(frames, source=source))


# ------------------------------------------------------------------------------ forecasts
def _per_column(x: Any, columns: pd.Index, what: str) -> np.ndarray:
    """A scalar, Mapping or Series -> one float per column (a missing column is an error)."""
    if np.isscalar(x):
        return np.full(len(columns), float(x))
    missing = [c for c in columns if c not in x]
    if missing:
        raise KeyError(f"{what}: no value for column(s) {missing[:5]}")
    return np.array([float(x[c]) for c in columns])


def lead_time_std(lead: int | np.ndarray, sigma: float, rho: float) -> np.ndarray:
    """Standard deviation of the :func:`forecast_errors` error at lead ``lead`` (1, 2, …)."""
    return sigma * np.sqrt(1.0 - rho ** (2 * np.asarray(lead, dtype=float)))


def forecast_errors(
    actual: pd.DataFrame,
    *,
    horizon_steps: int,
    sigma: float | Mapping[Any, float],
    rho: float = 0.9,
    seed: int,
    relative_to: str = "value",
    capacity: float | Mapping[Any, float] | None = None,
    lower: float | None = 0.0,
    upper: float | Mapping[Any, float] | None = None,
) -> pd.DataFrame:
    """A seeded synthetic forecast of ``actual``: ``actual + error``, same index and columns.

    A forecast is issued every ``horizon_steps`` rows for the next ``horizon_steps`` rows (row
    ``j`` of a block has lead ``h = j + 1``). Within a block, independently per column,

        e_0 = 0,   e_h = rho · e_{h-1} + sqrt(1 - rho²) · ε_h,   ε_h ~ N(0, 1),

    so the error is AR(1)-correlated in time and its std grows with lead time,
    ``sigma · sqrt(1 - rho^(2h))`` (see :func:`lead_time_std`), towards ``sigma``. The
    forecast is ``actual + e · sigma · scale`` with ``scale`` = ``|actual|``
    (``relative_to="value"``), the column's ``capacity`` (``"capacity"``; default the column's
    peak |actual|) or 1 (``"absolute"``). ``sigma`` may be one number or a dict per column.

    The forecast is then clipped to ``[lower, upper]`` (default ``lower=0``: PV, wind and load
    cannot be negative; pass ``lower=None`` for signed quantities such as Q, and ``upper`` =
    installed power for PV / wind): clipping a forecast at a physical bound is physics, so the
    clipped error is no longer exactly Gaussian near the bounds.
    """
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"rho must be in [0, 1), got {rho}")
    if horizon_steps < 1:
        raise ValueError(f"horizon_steps must be ≥ 1, got {horizon_steps}")
    values = actual.to_numpy(dtype="float64")
    n, ncol = values.shape
    blocks = -(-n // horizon_steps)
    eps = np.random.default_rng(seed).standard_normal((blocks, horizon_steps, ncol))
    err = lfilter([math.sqrt(1.0 - rho**2)], [1.0, -rho], eps, axis=1)
    err = err.reshape(blocks * horizon_steps, ncol)[:n]
    sig = _per_column(sigma, actual.columns, "sigma")
    if relative_to == "value":
        scale = np.abs(values)
    elif relative_to == "capacity":
        peak = pd.Series(np.max(np.abs(values), axis=0), index=actual.columns)
        cap = peak if capacity is None else capacity
        scale = _per_column(cap, actual.columns, "capacity")
    elif relative_to == "absolute":
        scale = 1.0
    else:
        raise ValueError(f"relative_to must be value, capacity or absolute, got {relative_to!r}")
    forecast = values + err * sig * scale
    hi = None if upper is None else _per_column(upper, actual.columns, "upper")
    if lower is not None or hi is not None:
        forecast = np.clip(forecast, lower, hi)
    return pd.DataFrame(forecast, index=actual.index, columns=actual.columns)


def forecast_error_samples(
    n_samples: int, cov: np.ndarray | pd.DataFrame, seed: int, *, mean: Any = None
) -> np.ndarray | pd.DataFrame:
    """``n_samples`` draws of N(mean, cov) (rows = samples), e.g. for chance-constrained Monte
    Carlo; a DataFrame ``cov`` gives a DataFrame with its columns. ``mean`` defaults to 0."""
    matrix = np.asarray(cov, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"cov must be a square matrix, got shape {matrix.shape}")
    if not np.allclose(matrix, matrix.T):
        raise ValueError("cov must be symmetric")
    mu = np.zeros(len(matrix)) if mean is None else np.asarray(mean, dtype=float)
    draws = np.random.default_rng(seed).multivariate_normal(mu, matrix, size=n_samples)
    if isinstance(cov, pd.DataFrame):
        return pd.DataFrame(draws, columns=cov.columns)
    return draws


# ---------------------------------------------------------------------------------- splits
def chronological_split(
    index: pd.Index, fractions: Sequence[float] = (0.7, 0.15, 0.15)
) -> tuple[pd.Index, ...]:
    """Consecutive, non-overlapping slices of a sorted ``index`` (no shuffling, so no
    look-ahead leakage): part ``i`` ends at ``floor(n · (f_0 + … + f_i))``, the last at ``n``.
    The fractions must be ≥ 0 and sum to 1."""
    f = np.asarray(fractions, dtype=float)
    if f.ndim != 1 or len(f) < 1 or (f < 0).any() or not np.isclose(f.sum(), 1.0, atol=1e-9):
        raise ValueError(f"fractions must be ≥ 0 and sum to 1, got {tuple(fractions)}")
    if not (index.is_monotonic_increasing and index.is_unique):
        raise ValueError("chronological_split needs a sorted index without duplicates")
    n = len(index)
    bounds = [0, *(math.floor(c * n + 1e-9) for c in np.cumsum(f)[:-1]), n]
    return tuple(index[a:b] for a, b in pairwise(bounds))
