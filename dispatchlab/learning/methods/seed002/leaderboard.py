"""seed002's rows of the leaderboard, from ``benchmarks/bench_seed002_compare.py``'s output.

``learned`` plays without the safety layer (the paper's setting); the counterparts are the
exact per-step optimum (``exact``), ``hold`` and ``random`` on the same stress days; the gap is
relative to ``exact``. Training times come from ``seed002_compare_runs.json`` (per tag: learned,
dqn, the ablations).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dispatchlab.learning.leaderboard import read_compare_output, rows_from_compare


def leaderboard_rows(results_dir: str | Path) -> pd.DataFrame:
    """The rows of seed002 (``docs/benchmarks`` holds its compare output)."""
    table, runs = read_compare_output(results_dir, "seed002")
    # mean training time per trained policy (learned, dqn, each ablation: the runs' tags)
    train_s = {
        tag: float(np.mean([r["train_s"] for r in runs if r["tag"] == tag]))
        for tag in {r["tag"] for r in runs}
    }
    train_s["learned-safe"] = train_s["learned"]
    exact = table[table["policy"] == "exact"].set_index("day")["cost"]
    table = table.assign(
        gap_pct=100
        * (table["cost"] - exact.reindex(table["day"]).to_numpy())
        / exact.reindex(table["day"]).to_numpy(),
        decision_ms=table["time_per_cycle_ms"],
        seed=table["run"],
        repairs=table.get("safety_repaired", 0),
        fallbacks=table.get("safety_fallbacks", 0),
    )
    return rows_from_compare(
        table,
        method="seed002",
        env="voltage-control-discrete",
        counterpart="exact",
        shielded=("learned-safe",),
        train_s=train_s,
    )
