"""Scenario sets for learning and testing: day splits, seasonal extreme scenarios (seed001).

* :func:`day_split`, :func:`check_no_leakage`, :func:`split_case`: chronological train /
  validation / test parts made of whole days (seed004: 60 / 15 / 15 days).
* :func:`daily_profiles`: one row per day, columns (variable, step) — total load, PV and wind.
* :func:`extreme_scenarios`: seed001 §3 — seasons, time-series K-means per season with k chosen
  by the silhouette coefficient cross-checked with interval statistics, the N most dissimilar
  days per cluster plus the day at the centre; the centre days form the "coach" set.
* :func:`year_pool`, :func:`select_days`: a year of profiles to draw days from, and a Case
  restricted to chosen days.

Stress scenarios (seed000) are in :mod:`dispatchlab.cases.scenarios_stress`, interval labels
(seed004) in :mod:`dispatchlab.learning.envs.transmission.labels`.

Why Euclidean K-means and not DTW (tslearn): the days are aligned on the same clock (hour 14
is hour 14 in every day), and the timing of the load peak or a wind ramp is itself what makes
two days different for dispatch; DTW would warp it away. K-means on the standardized daily
vectors is exactly tslearn's ``TimeSeriesKMeans(metric="euclidean")``, and scikit-learn
(already a dependency) gives it with ``silhouette_score`` for the choice of k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from dispatchlab.cases.case import Case, TimeSeries
from dispatchlab.cases.timeseries import attach_profiles, chronological_split

__all__ = [
    "SEASONS",
    "ExtremeScenarios",
    "check_no_leakage",
    "daily_profiles",
    "day_split",
    "extreme_scenarios",
    "season_of",
    "select_days",
    "split_case",
    "year_pool",
]

#: meteorological seasons by month (northern hemisphere)
SEASONS: dict[int, str] = {
    12: "DJF", 1: "DJF", 2: "DJF", 3: "MAM", 4: "MAM", 5: "MAM",
    6: "JJA", 7: "JJA", 8: "JJA", 9: "SON", 10: "SON", 11: "SON",
}  # fmt: skip
SEASON_ORDER = ("DJF", "MAM", "JJA", "SON")
Source = Case | TimeSeries


# ---------------------------------------------------------------------------- day helpers
def _series_of(source: Source) -> TimeSeries:
    ts = source.timeseries if isinstance(source, Case) else source
    if not isinstance(ts, TimeSeries):
        name = source.name if isinstance(source, Case) else type(source).__name__
        raise ValueError(f"{name}: no time series; attach one (attach_profiles / year_pool)")
    return ts


def _steps_per_day(ts: TimeSeries) -> int:
    """Steps in one day; the series must be whole days starting at midnight."""
    index = ts.index
    step = ts.step if len(ts) > 1 else pd.Timedelta(0)
    day = pd.Timedelta("1D")
    if step <= pd.Timedelta(0) or day % step != pd.Timedelta(0):
        raise ValueError(f"time series step {step} does not divide one day (or has < 2 steps)")
    per_day = int(day // step)
    if len(index) < per_day:
        raise ValueError(
            f"time series of {len(index)} steps of {step} is shorter than one day "
            f"({per_day} steps): scenarios are whole days"
        )
    if index[0] != index[0].normalize() or len(index) % per_day:
        raise ValueError(
            f"time series {index[0]} … {index[-1]} is not made of whole days starting at "
            f"00:00 ({len(index)} steps, {per_day} per day): slice it to whole days first"
        )
    return per_day


def _days(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(index.normalize().unique())


def season_of(stamps: pd.DatetimeIndex) -> np.ndarray:
    """Season label (DJF, MAM, JJA, SON) of each timestamp, by calendar month."""
    return np.array([SEASONS[m] for m in pd.DatetimeIndex(stamps).month])


# ---------------------------------------------------------------------------------- splits
def day_split(
    index: pd.DatetimeIndex, parts: Sequence[float] | Sequence[int] = (0.7, 0.15, 0.15)
) -> tuple[pd.DatetimeIndex, ...]:
    """Chronological parts of ``index`` made of whole calendar days, no day shared.

    ``parts`` are fractions of the days (≥ 0, sum 1: the day split of
    :func:`~dispatchlab.cases.timeseries.chronological_split`) or whole day counts (ints, sum
    = number of days; seed004 §4: ``(60, 15, 15)`` of 90 days). Returns the timestamps of
    each part; :func:`check_no_leakage` holds for them.
    """
    index = pd.DatetimeIndex(index)
    if not (index.is_monotonic_increasing and index.is_unique):
        raise ValueError("day_split needs a sorted DatetimeIndex without duplicates")
    days = _days(index)
    if all(isinstance(p, int | np.integer) for p in parts):
        counts = np.asarray(parts, dtype=int)
        if (counts < 0).any() or counts.sum() != len(days):
            raise ValueError(
                f"day counts {tuple(int(c) for c in counts)} must be ≥ 0 and sum to the "
                f"{len(days)} days of the index"
            )
        bounds = np.concatenate([[0], np.cumsum(counts)])
        day_parts = [days[a:b] for a, b in pairwise(bounds)]
    else:
        day_parts = list(chronological_split(days, [float(p) for p in parts]))
    key = index.normalize()
    out = tuple(index[key.isin(d)] for d in day_parts)
    check_no_leakage(*out)
    return out


def check_no_leakage(*parts: pd.Index) -> None:
    """Raise ValueError unless the parts share no timestamp and each non-empty part ends
    before the next non-empty one starts (train < validation < test, in time)."""
    seen: set = set()
    previous_end, previous_i = None, None
    for i, part in enumerate(parts):
        shared = seen.intersection(part)
        if shared:
            raise ValueError(
                f"split part {i} shares {len(shared)} timestamp(s), e.g. {min(shared)}"
            )
        seen.update(part)
        if len(part) == 0:
            continue
        if previous_end is not None and part.min() <= previous_end:
            raise ValueError(
                f"split part {i} starts at {part.min()}, not after part {previous_i} ends at "
                f"{previous_end}: later parts must follow earlier ones (look-ahead leakage)"
            )
        previous_end, previous_i = part.max(), i


def select_days(case: Case, days: Sequence[Any]) -> Case:
    """``case`` with its time series restricted to the given consecutive calendar days (a
    TimeSeries has a fixed step, so scattered days — e.g. a scenario set — go one at a time)."""
    ts = _series_of(case)
    wanted = pd.DatetimeIndex(pd.to_datetime(list(days))).normalize().unique().sort_values()
    gaps = np.diff(wanted.asi8) != pd.Timedelta("1D").value
    if gaps.any():
        raise ValueError(
            f"select_days needs consecutive days; {wanted[:-1][gaps][0].date()} is followed by "
            f"{wanted[1:][gaps][0].date()}: select scattered days one at a time"
        )
    missing = wanted.difference(_days(ts.index))
    if len(missing):
        raise KeyError(f"day(s) {[str(d.date()) for d in missing[:3]]} not in {case.name}")
    mask = ts.index.normalize().isin(wanted)
    frames = {k: ts[k].loc[mask] for k in ts.keys()}
    return case.with_timeseries(TimeSeries(frames, source=ts.source))


def split_case(case: Case, parts: Sequence[float] | Sequence[int]) -> tuple[Case, ...]:
    """``case`` once per :func:`day_split` part, each carrying only that part's series."""
    pieces = day_split(_series_of(case).index, parts)
    return tuple(select_days(case, _days(p)) for p in pieces)


def year_pool(case: Case, *, step: str = "1h", seed: int | None = None, **profiles: Any) -> Case:
    """``case`` with a full year (2016) of SimBench profiles at ``step``: the pool of days to
    cluster or to replay when the case itself carries one day.

    The profile options are the case's own (``case.meta["profiles"]``, set by the seed001 /
    seed002 variants: :func:`~dispatchlab.cases.variants.feeder_profile_spec`), so a pool day
    carries exactly the loads of the case's series on that date and of an environment episode
    on it; ``seed`` and ``profiles`` (``load_profile`` …, see
    :func:`~dispatchlab.cases.timeseries.attach_profiles`) override them. A case without
    stored options gets the defaults with the normalisation over the year window, so ``p_mw``
    is the annual peak (``seed`` 0)."""
    spec = dict(case.meta.get("profiles") or {})
    spec.update(profiles)
    if seed is not None:
        spec["seed"] = seed
    periods = int(pd.Timedelta("366D") // pd.Timedelta(step))
    return attach_profiles(case, start="2016-01-01", periods=periods, step=step, **spec)


# ------------------------------------------------------------------------- daily profiles
def daily_profiles(source: Source) -> pd.DataFrame:
    """One row per day, columns ``(variable, step)``: the totals of the series per step.

    For a Case the variables are ``load_p_mw`` (all loads), ``pv_p_max_mw`` and
    ``wind_p_max_mw`` (available PV / wind power) where present; for a bare TimeSeries, the
    total of each of its frames.
    """
    ts = _series_of(source)
    per_day = _steps_per_day(ts)
    totals: dict[str, np.ndarray] = {}
    if "load_p_mw" in ts:
        totals["load_p_mw"] = ts["load_p_mw"].to_numpy().sum(axis=1)
    if isinstance(source, Case) and "der_p_max_mw" in ts:
        kind = source.table("ders")["kind"]
        frame = ts["der_p_max_mw"]
        for k in ("pv", "wind"):
            cols = [c for c in frame.columns if kind.get(c) == k]
            if cols:
                totals[f"{k}_p_max_mw"] = frame[cols].to_numpy().sum(axis=1)
    elif not isinstance(source, Case):
        totals |= {k: ts[k].to_numpy().sum(axis=1) for k in ts.keys() if k not in totals}
    days = _days(ts.index)
    blocks = {v: pd.DataFrame(x.reshape(len(days), per_day), index=days) for v, x in totals.items()}
    out = pd.concat(blocks, axis=1, names=["variable", "step"])
    out.index.name = "day"
    return out


# ------------------------------------------------------------------------ extreme scenarios
@dataclass(frozen=True)
class ExtremeScenarios:
    """What :func:`extreme_scenarios` returns.

    ``table``: one row per selected day — ``season``, ``cluster``, ``day``, ``role``
    (``centre``: the member day nearest to the cluster centre; ``extreme``: the most
    dissimilar members), ``distance`` (Euclidean distance to the centre in the standardized
    space, dimensionless), ``cluster_days`` (members in the cluster). ``seasons``: per season
    the days clustered, the chosen ``k`` and its ``silhouette``. ``k_scores``: every k tried
    with its silhouette and interval statistics (cluster sizes, distances to the centres) and
    whether it was ``admissible``. ``centres``: ``(season, cluster) ->`` the K-means centre
    (mean of the member days) in the original units, rows = steps, columns = variables.
    ``labels``: cluster of every day clustered.
    """

    table: pd.DataFrame
    seasons: pd.DataFrame
    k_scores: pd.DataFrame
    centres: dict[tuple[str, int], pd.DataFrame]
    labels: pd.DataFrame

    @property
    def days(self) -> pd.DatetimeIndex:
        """All selected days (centres and extremes), in time order."""
        return pd.DatetimeIndex(sorted(self.table["day"]))

    @property
    def coach_days(self) -> pd.DatetimeIndex:
        """The "coach" set: the centre day of every cluster of every season."""
        return pd.DatetimeIndex(sorted(self.table.loc[self.table["role"] == "centre", "day"]))

    def train_test(self, n_test: int = 1, seed: int = 0) -> tuple[pd.DatetimeIndex, ...]:
        """seed001 §5.1: a random ``n_test`` of the selected days for testing, the rest for
        training (the selected days are separate scenarios, not one chronological series)."""
        days = self.days
        if not 0 < n_test < len(days):
            raise ValueError(f"n_test must be in 1 … {len(days) - 1}, got {n_test}")
        test = np.random.default_rng(seed).choice(len(days), size=n_test, replace=False)
        mask = np.zeros(len(days), bool)
        mask[test] = True
        return days[~mask], days[mask]


def extreme_scenarios(
    source: Source,
    *,
    n_per_cluster: int = 2,
    k_range: tuple[int, int] = (2, 8),
    seed: int = 0,
    n_init: int = 10,
) -> ExtremeScenarios:
    """seed001 §3: the extreme-scenario set of the days of ``source``, season by season.

    Per season (DJF, MAM, JJA, SON by month) the days' profile vectors (:func:`daily_profiles`)
    are standardized per variable and clustered by K-means (Euclidean; ``n_init`` restarts,
    ``random_state=seed``) for every k in ``k_range`` (inclusive). The paper cross-validates k
    with "interval statistics and the silhouette coefficient": a k is *admissible* when every
    cluster has at least ``n_per_cluster + 1`` days (the centre day and N distinct extremes),
    and the admissible k with the largest silhouette wins. In each cluster the centre day is
    the member nearest to the centre; the N extremes are then picked greedily by max-min
    dissimilarity (each next day is the member farthest from the centre *and* the days already
    picked — the "scenario-dissimilarity maximization principle"; the first is the farthest
    from the centre).
    """
    if n_per_cluster < 0:
        raise ValueError(f"n_per_cluster must be ≥ 0, got {n_per_cluster}")
    if not (len(k_range) == 2 and 2 <= k_range[0] <= k_range[1]):
        raise ValueError(f"k_range must be (k_min, k_max) with 2 ≤ k_min ≤ k_max, got {k_range}")
    profiles = daily_profiles(source)
    seasons = season_of(profiles.index)
    parts = [
        _cluster_season(s, profiles[seasons == s], n_per_cluster, k_range, (seed, n_init))
        for s in SEASON_ORDER
        if (seasons == s).any()
    ]
    return ExtremeScenarios(
        table=pd.concat([p["table"] for p in parts], ignore_index=True),
        seasons=pd.DataFrame([p["season"] for p in parts]).set_index("season"),
        k_scores=pd.concat([p["k_scores"] for p in parts], ignore_index=True),
        centres={key: c for p in parts for key, c in p["centres"].items()},
        labels=pd.concat([p["labels"] for p in parts]).sort_index().to_frame(),
    )


def _standardize(values: np.ndarray, n_vars: int) -> np.ndarray:
    """z-score per variable over all its steps and days: the daily shape is kept, and each
    variable weighs the same whatever its unit. (Column-wise z-scores would blow up the few
    non-zero dawn PV values into full-weight features.)"""
    x = values.reshape(len(values), n_vars, -1)
    mean = x.mean(axis=(0, 2), keepdims=True)
    std = x.std(axis=(0, 2), keepdims=True)
    return ((x - mean) / np.where(std > 0, std, 1.0)).reshape(len(values), -1)


def _cluster_season(season, profiles, n_per_cluster, k_range, rng_args) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n_vars = profiles.columns.get_level_values("variable").nunique()
    x = _standardize(profiles.to_numpy(), n_vars)
    seed, n_init = rng_args
    rows, fits = [], {}
    for k in range(k_range[0], min(k_range[1], len(x) - 1) + 1):
        # tol=0 runs Lloyd to a fixed point, so each centre is exactly its members' mean
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed, tol=0.0).fit(x)
        dist = np.linalg.norm(x - km.cluster_centers_[km.labels_], axis=1)
        sizes = np.bincount(km.labels_, minlength=k)
        rows.append(
            dict(
                season=season,
                k=k,
                silhouette=float(silhouette_score(x, km.labels_)),
                min_cluster_days=int(sizes.min()),
                max_cluster_days=int(sizes.max()),
                distance_p50=float(np.median(dist)),
                distance_max=float(dist.max()),
                admissible=bool(sizes.min() >= n_per_cluster + 1),
            )
        )
        fits[k] = km
    scores = pd.DataFrame(rows)
    ok = scores[scores["admissible"]] if len(scores) else scores
    if ok.empty:
        smallest = int(scores["min_cluster_days"].max()) if len(scores) else len(x)
        raise ValueError(
            f"season {season}: {len(x)} day(s); no k in {k_range} gives clusters of ≥ "
            f"n_per_cluster + 1 = {n_per_cluster + 1} days (the best k has a smallest cluster "
            f"of {smallest}); lower n_per_cluster or k_range"
        )
    best = ok.loc[ok["silhouette"].idxmax()]
    km = fits[int(best["k"])]
    table, centres = _select(season, profiles, x, km, n_per_cluster)
    labels = pd.Series(km.labels_, index=profiles.index, name="cluster")
    info = dict(season=season, n_days=len(x), k=int(best["k"]), silhouette=best["silhouette"])
    return dict(table=table, season=info, k_scores=scores, centres=centres, labels=labels)


def _select(season, profiles, x, km, n_per_cluster) -> tuple[pd.DataFrame, dict]:
    rows, centres = [], {}
    for c in range(km.n_clusters):
        members = np.flatnonzero(km.labels_ == c)
        d = np.linalg.norm(x[members] - km.cluster_centers_[c], axis=1)
        chosen = [int(np.argmin(d))]
        nearest = d.copy()  # distance of each member to the centre or to an extreme picked
        for _ in range(n_per_cluster):
            nearest[chosen] = -np.inf
            chosen.append(int(np.argmax(nearest)))
            step = np.linalg.norm(x[members] - x[members[chosen[-1]]], axis=1)
            nearest = np.minimum(nearest, step)
        for rank, i in enumerate(chosen):
            rows.append(
                dict(
                    season=season,
                    cluster=c,
                    day=profiles.index[members[i]],
                    role="centre" if rank == 0 else "extreme",
                    distance=float(d[i]),
                    cluster_days=len(members),
                )
            )
        mean = profiles.iloc[members].mean(axis=0)
        centres[(season, c)] = mean.unstack("variable")
    return pd.DataFrame(rows), centres
