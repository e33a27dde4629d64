"""Paired tests of seed002 against each counterpart (the paper's Table 3), Holm-corrected.

Pairs are (learned run, test day) against the counterpart on the same day: the learned
method's runs are independent trainings (seeds), the deterministic counterparts play each day
once (their day is paired with every run); a trained counterpart that has every run (seed) of
the method (the DQN, an ablation) is paired run by run. ``scipy.stats.ttest_rel`` and
``scipy.stats.wilcoxon`` give the p-values; Holm's step-down correction runs over every
(counterpart, metric) test of one table; effect sizes are Cohen's d_z = mean(diff) / sd(diff)
and the matched-pairs rank-biserial correlation of the Wilcoxon test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

METRICS = ("qualification_rate", "time_per_cycle_ms", "avg_loss_pu", "avg_deviation_pu")


def holm(p: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, ≤ 1)."""
    p = np.asarray(p, float)
    order = np.argsort(p)
    m = len(p)
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def paired_tests(table: pd.DataFrame, method: str = "learned", metrics=METRICS) -> pd.DataFrame:
    """One row per (counterpart, metric): means, difference, t and Wilcoxon p (raw and Holm),
    Cohen's d_z and the rank-biserial r. ``table``: the per-day rows of :func:`.compare.compare`.
    Fewer than 2 runs of ``method`` is a ValueError."""
    mine = table[table["policy"] == method]
    runs = mine["run"].nunique() if len(mine) else 0
    if runs < 2:
        raise ValueError(
            f"paired tests need ≥ 2 runs of '{method}' (independent training seeds), got {runs}"
        )
    rows = []
    for other in [p for p in table["policy"].unique() if p != method]:
        theirs = table[table["policy"] == other]
        # a trained counterpart with every run of ``method`` (same seeds): pairs (run, day)
        by = ["run", "day"] if set(mine["run"]) <= set(theirs["run"]) else ["day"]
        theirs = theirs.groupby(by)[list(metrics)].mean()
        keys = pd.MultiIndex.from_frame(mine[by]) if len(by) == 2 else mine["day"]
        for metric in metrics:
            a = mine[metric].to_numpy(float)
            b = theirs.loc[keys, metric].to_numpy(float)
            rows.append(_test(other, metric, a, b))
    out = pd.DataFrame(rows)
    for col in ("t_p", "wilcoxon_p"):
        out[f"{col}_holm"] = holm(out[col].fillna(1.0).to_numpy())
    return out


def _test(other: str, metric: str, a: np.ndarray, b: np.ndarray) -> dict:
    d = a - b
    sd = d.std(ddof=1)
    same = bool(np.allclose(d, 0.0))
    t = stats.ttest_rel(a, b) if not same and sd > 0 else None
    w = stats.wilcoxon(a, b) if not same else None
    nz = d[d != 0]
    ranks = stats.rankdata(np.abs(nz))
    r_rb = float((ranks[nz > 0].sum() - ranks[nz < 0].sum()) / ranks.sum()) if len(nz) else 0.0
    return {
        "counterpart": other,
        "metric": metric,
        "n_pairs": len(d),
        "learned_mean": float(a.mean()),
        "counterpart_mean": float(b.mean()),
        "diff_mean": float(d.mean()),
        "t": float(t.statistic) if t else np.nan,
        "t_p": float(t.pvalue) if t else 1.0,
        "wilcoxon_p": float(w.pvalue) if w else 1.0,
        "cohen_dz": float(d.mean() / sd) if sd > 0 else np.nan,
        "rank_biserial": r_rb,
    }
