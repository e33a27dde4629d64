"""seed001's rows of the leaderboard, from ``benchmarks/bench_seed001_compare.py``'s output.

The learned policies (seed001 and its TorchRL/GRPO counterparts) are played through the safety
layer, the exact ones and hold/random without it, on the same days; ``gap_pct`` is relative to
the 24-h distflow optimum (``exact-day``). Only the main case (``ieee33-seed001-mw``) and the
full method (no ablation) enter the leaderboard.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dispatchlab.learning.leaderboard import rows_from_compare

COMPARE_CSV = "seed001_compare.csv"


def leaderboard_rows(results_dir: str | Path) -> pd.DataFrame:
    """The rows of seed001 (``docs/benchmarks`` holds its compare output)."""
    table = pd.read_csv(Path(results_dir) / COMPARE_CSV)
    table = table[(table["case"] == "ieee33-seed001-mw") & (table["variant"] == "full")]
    table = table[table["safety"]] if "safety" in table else table
    train_s = table.groupby("policy")["train_s"].mean().dropna().to_dict()
    return rows_from_compare(
        table,
        method="seed001",
        env="voltage-control",
        counterpart="exact-day",
        shielded=("learned", "maddpg", "ddpg", "masac", "grpo"),
        train_s=train_s,
    )
