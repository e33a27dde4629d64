"""One learned-vs-exact leaderboard over every method: the rows, from each compare output.

Each method registered in :data:`dispatchlab.learning.methods.METHODS` names a ``leaderboard``
function ``(results_dir) -> DataFrame`` that reads its own compare output and returns rows with
:data:`COLUMNS` (it usually calls :func:`rows_from_compare`). ``benchmarks/leaderboard.py``
concatenates them into ``docs/benchmarks/leaderboard.{csv,md,png}``.

Column meanings (one row per (method, env, policy)):

* ``gap_pct_*`` — 100·(counterpart − policy)/|counterpart| of the day's score (reward), over
  every (seed, day): positive when the policy is worse than the named exact ``counterpart``;
* ``violation_steps_raw`` — decisions whose proposal, before any safety layer, violated a limit
  (for a policy played through the layer: the decisions it had to repair or replace, checked by
  the environment's own power flow along the delivered trajectory);
* ``violations_delivered`` — steps delivered with a violation (after the layer, if any);
* ``repairs`` / ``fallbacks`` — the layer's counts (0 for policies played without it);
* ``decision_ms`` — mean end-to-end time per decision (forward pass, safety layer, solves);
* ``train_s`` — mean training time per seed (NaN for policies that are not trained);
* ``seeds`` / ``days`` — how many training seeds and test days the row aggregates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = (
    "method",
    "env",
    "policy",
    "counterpart",
    "seeds",
    "days",
    "gap_pct_mean",
    "gap_pct_p99",
    "gap_pct_max",
    "violation_steps_raw",
    "violations_delivered",
    "repairs",
    "fallbacks",
    "decision_ms",
    "train_s",
)


def read_compare_output(results_dir: str | Path, method: str) -> tuple[pd.DataFrame, object]:
    """``<method>_compare.csv`` and ``<method>_compare_runs.json`` of a method's benchmark in
    ``results_dir``: its per-(policy, day) table and its runs record (training times …)."""
    results_dir = Path(results_dir)
    table = pd.read_csv(results_dir / f"{method}_compare.csv")
    runs = json.loads((results_dir / f"{method}_compare_runs.json").read_text())
    return table, runs


def rows_from_compare(
    table: pd.DataFrame,
    *,
    method: str,
    env: str,
    counterpart: str,
    shielded: Iterable[str] = (),
    train_s: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Leaderboard rows from a compare table with one row per (policy, [seed,] day) and the
    columns ``gap_pct``, ``violation_steps``, ``repairs``, ``fallbacks``, ``decision_ms``.

    ``shielded`` names the policies played through the safety layer (their raw violations are
    their repairs + fallbacks); ``train_s`` the mean training time of trained policies."""
    missing = {"policy", "day", "gap_pct", "violation_steps", "decision_ms"} - set(table)
    if missing:
        raise ValueError(f"compare table of {method} lacks column(s) {sorted(missing)}")
    shielded, train_s = set(shielded), dict(train_s or {})
    rows = []
    for policy, g in table.groupby("policy", sort=False):
        changed = g.get("repairs", 0) + g.get("fallbacks", 0)
        raw = changed if policy in shielded else g["violation_steps"]
        seeds = g["seed"].nunique() if "seed" in g and (g["seed"] >= 0).any() else 1
        rows.append(
            {
                "method": method,
                "env": env,
                "policy": policy,
                "counterpart": counterpart,
                "seeds": int(seeds),
                "days": int(g["day"].nunique()),
                "gap_pct_mean": g["gap_pct"].mean(),
                "gap_pct_p99": g["gap_pct"].quantile(0.99),
                "gap_pct_max": g["gap_pct"].max(),
                "violation_steps_raw": int(np.sum(raw)),
                "violations_delivered": int(g["violation_steps"].sum()),
                "repairs": int(g.get("repairs", pd.Series(0)).sum()),
                "fallbacks": int(g.get("fallbacks", pd.Series(0)).sum()),
                "decision_ms": g["decision_ms"].mean(),
                "train_s": train_s.get(policy, np.nan),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


__all__ = ["COLUMNS", "rows_from_compare"]
