"""seed004 scenario labels: normal, high wind volatility, congestion — per interval and per day.

seed004 §4: "The normal scenario contains intervals whose 1 h wind-ramp magnitude does not
exceed 18.0 MW and whose congestion index remains below 12.45. The high-wind-volatility
scenario contains intervals whose 1 h wind-ramp magnitude exceeds 32.9 MW, whereas the
congestion-sensitive scenario contains intervals whose congestion index exceeds 13.93."

The paper never defines its congestion index (it records a "congestion proxy" and puts the 41
branch-loading ratios in the state). Our reading, documented in ``docs/scenarios.md``: the
**LMP spread** ``max_i λ_i − min_i λ_i`` ($/MWh) of the case's DC-OPF at that interval
(``solve(case.at(t), "dcopf")``), so the paper's thresholds read in $/MWh. It is 0 unless a
line binds, and a binding line separates prices by tens of $/MWh on ieee30-seed004 (wind at
2 $/MWh behind the 25–27 corridor against coal at ≈ 40), so "congestion" (> 13.93) marks the
intervals whose dispatch a line really constrains (9.5 % of a 600-interval sample) and
"normal" those where none does. The repaired case (issue 18) made this possible: before it no
line ever bound, and the index was the mean branch loading, which on the repaired case lies
above 12.3 % at every interval and would label almost all of them congested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatchlab.cases.case import Case

__all__ = [
    "LABELS",
    "LabelThresholds",
    "congestion_index",
    "label_days",
    "label_intervals",
    "wind_ramp",
]

#: exclusive labels in order of precedence (an interval both volatile and congested is
#: "congestion"); the boolean columns keep the overlapping sets of the paper
LABELS = ("congestion", "high_wind_volatility", "normal", "intermediate", "no_ramp_history")


@dataclass(frozen=True)
class LabelThresholds:
    """seed004 §4 thresholds."""

    normal_ramp_max_mw: float = 18.0  #: normal: 1-h wind ramp ≤ this
    normal_index_max_usd_per_mwh: float = 12.45  #: normal: congestion index (LMP spread) < this
    volatile_ramp_min_mw: float = 32.9  #: high wind volatility: 1-h wind ramp > this
    congestion_index_min_usd_per_mwh: float = 13.93  #: congestion: congestion index > this
    ramp_window: str = "1h"  #: the ramp is |W(t) − W(t − window)|


def wind_ramp(case: Case, window: str = "1h") -> pd.Series:
    """|W(t) − W(t − window)| (MW) of the total available wind power of ``case``'s series;
    NaN for the first ``window`` (no history)."""
    ts = case.timeseries
    ders = case.table("ders")
    if ts is None or "der_p_max_mw" not in ts:
        raise ValueError(f"{case.name}: no 'der_p_max_mw' time series for the wind ramp")
    frame = ts["der_p_max_mw"]
    wind = [c for c in frame.columns if ders.at[c, "kind"] == "wind"]
    if not wind:
        raise ValueError(f"{case.name}: no wind DER has a time series")
    lag = pd.Timedelta(window) / ts.step if len(ts) > 1 else 0.0
    if lag < 1 or lag != int(lag):
        raise ValueError(f"ramp window {window} is not a whole number (≥ 1) of steps {ts.step}")
    total = frame[wind].sum(axis=1)
    return total.diff(int(lag)).abs().rename("wind_ramp_1h_mw")


def congestion_index(case: Case, steps: Sequence[int] | None = None) -> pd.Series:
    """The LMP spread ``max_i λ_i − min_i λ_i`` ($/MWh) of the DC-OPF of ``case.at(t)`` for
    each step ``t`` (default all): our reading of seed004's congestion index (module
    docstring). One exact solve per step (≈ 0.05 s on ieee30); a step whose DC-OPF is not
    optimal raises, naming it."""
    from dispatchlab.solvers.api import solve

    ts = case.timeseries
    if ts is None:
        raise ValueError(f"{case.name}: no time series to compute a congestion index over")
    positions = range(len(ts)) if steps is None else [int(s) for s in steps]
    values = []
    for t in positions:
        result = solve(case.at(t), "dcopf")
        if not result.optimal:
            raise RuntimeError(f"{case.name} step {t} ({ts.index[t]}): DC-OPF {result.status}")
        lmp = result.bus["lmp_usd_per_mwh"]
        values.append(float(lmp.max() - lmp.min()))
    return pd.Series(values, index=ts.index[list(positions)], name="congestion_index_usd_per_mwh")


def label_intervals(
    case: Case,
    *,
    thresholds: LabelThresholds | None = None,
    congestion: pd.Series | None = None,
) -> pd.DataFrame:
    """Per interval: ``wind_ramp_1h_mw``, ``congestion_index_usd_per_mwh`` (computed by
    :func:`congestion_index` unless given, e.g. cached), the seed004 sets as booleans
    (``normal``, ``high_wind_volatility``, ``congestion``: they may overlap) and one exclusive
    ``label`` from :data:`LABELS` (precedence congestion > high wind volatility > normal;
    ``intermediate`` = in none of the three; ``no_ramp_history`` = the first hour, not
    congested, whose ramp is unknown)."""
    th = thresholds or LabelThresholds()
    ramp = wind_ramp(case, th.ramp_window)
    index = congestion_index(case) if congestion is None else congestion
    if not index.index.equals(ramp.index):
        raise ValueError(
            f"congestion index has {len(index)} steps ({index.index[:1].tolist()} …), the "
            f"case's series {len(ramp)} ({ramp.index[0]} …): they must share the index"
        )
    if index.isna().any():
        raise ValueError(f"congestion index is NaN at {index.index[index.isna()][:3].tolist()}")
    out = pd.DataFrame({"wind_ramp_1h_mw": ramp, "congestion_index_usd_per_mwh": index.to_numpy()})
    out["normal"] = (ramp <= th.normal_ramp_max_mw) & (
        index.to_numpy() < th.normal_index_max_usd_per_mwh
    )
    out["high_wind_volatility"] = ramp > th.volatile_ramp_min_mw
    out["congestion"] = index.to_numpy() > th.congestion_index_min_usd_per_mwh
    out["label"] = _exclusive(out)
    return out


def _exclusive(flags: pd.DataFrame) -> np.ndarray:
    known = flags["wind_ramp_1h_mw"].notna().to_numpy()
    return np.select(
        [flags["congestion"], flags["high_wind_volatility"], flags["normal"], known],
        list(LABELS[:4]),
        default=LABELS[4],
    )


def label_days(intervals: pd.DataFrame) -> pd.DataFrame:
    """Per calendar day, from :func:`label_intervals`: the day's largest ramp and congestion
    index; ``high_wind_volatility`` / ``congestion`` when any interval is; ``normal`` when
    every interval with a known ramp is; ``label`` with the same precedence."""
    day = intervals.index.normalize()
    known = intervals["wind_ramp_1h_mw"].notna()
    grouped = intervals.groupby(day)
    out = pd.DataFrame(
        {
            "wind_ramp_1h_max_mw": grouped["wind_ramp_1h_mw"].max(),
            "congestion_index_max_usd_per_mwh": grouped["congestion_index_usd_per_mwh"].max(),
            "normal": (intervals["normal"] | ~known).groupby(day).all(),
            "high_wind_volatility": grouped["high_wind_volatility"].any(),
            "congestion": grouped["congestion"].any(),
        }
    )
    out.index.name = "day"
    out["label"] = _exclusive(out.rename(columns={"wind_ramp_1h_max_mw": "wind_ramp_1h_mw"}))
    return out
