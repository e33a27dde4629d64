"""seed000's rows of the leaderboard, from ``benchmarks/bench_seed000_compare.py``'s output.

The compare run plays ``learned`` (and ``learned-gcn``) through the safety layer, and the
counterparts (exact per-decision MILP, SP, MPC, hold, random) without it, on the same days;
``gap_pct`` is relative to ``exact``. Training times come from ``seed000_compare_runs.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dispatchlab.learning.leaderboard import read_compare_output, rows_from_compare


def leaderboard_rows(results_dir: str | Path) -> pd.DataFrame:
    """The rows of seed000 (``docs/benchmarks`` holds its compare output)."""
    table, runs = read_compare_output(results_dir, "seed000")
    train_s = float(np.mean([r["train_s"] for r in runs]))
    gcn_runs = [r["train_s"] for r in runs if "gcn" in r]
    times = {"learned": train_s, "learned-gcn": float(np.mean(gcn_runs)) if gcn_runs else np.nan}
    return rows_from_compare(
        table,
        method="seed000",
        env="der-dispatch",
        counterpart="exact",
        shielded=("learned", "learned-gcn"),
        train_s=times,
    )
