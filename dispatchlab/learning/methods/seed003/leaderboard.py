"""seed003's rows of the leaderboard, from ``benchmarks/bench_seed003_compare.py``'s output.

Every policy's selection is certified and repaired to the full LP's optimum, so the gap a row
reports is the one *before* certification (what the selection alone would have shipped, %),
its "repairs" are the minutes the certificate failed and "fallbacks" the minutes the repair
gave up and solved the full LP. Training time comes from ``seed003_compare_runs.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dispatchlab.learning.leaderboard import read_compare_output, rows_from_compare


def leaderboard_rows(results_dir: str | Path) -> pd.DataFrame:
    """The rows of seed003 (``docs/benchmarks`` holds its compare output)."""
    table, runs = read_compare_output(results_dir, "seed003")
    frame = pd.DataFrame(
        {
            "policy": table["policy"],
            "seed": table["train_seed"],
            "day": table["case"]
            + ":"
            + table["day"].astype(str)
            + ":"
            + table["minute"].astype(str),
            "gap_pct": 100.0 * table["gap_before_cert"],
            "violation_steps": (
                (table["voltage_violation_pu"] > 1e-6) | (table["flow_violation_mw"] > 1e-6)
            ).astype(int),
            "repairs": 1 - table["certified_first"],
            "fallbacks": table["fallback_full_lp"],
            "decision_ms": table["end_to_end_ms"],
        }
    )
    train_s = {"mlfacc": float(np.mean([r["train_s"] for r in runs]))}
    return rows_from_compare(
        frame,
        method="seed003",
        env="der-selection",
        counterpart="full",
        shielded=("mlfacc", "lf-rank", "random", "oracle-topk"),
        train_s=train_s,
    )
