"""seed001's rows of the leaderboard, from ``benchmarks/bench_seed001_compare.py``'s output.

The learned policies (seed001 and its TorchRL/GRPO counterparts) are played through the safety
layer, the exact ones and hold/random without it, on the same days; ``gap_pct`` is relative to
the 24-h distflow optimum (``exact-day``). Only the main case (``ieee33-seed001-mw``) and the
full method (no ablation) enter the leaderboard. Where ``bench_seed001_after_fix.py`` has rerun
the off-policy learners at the current ``Seed001Config.quick()`` rate (same days and seeds), its
rows replace theirs; GRPO (whose rate did not change) and the exact, hold and random rows stay.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dispatchlab.learning.leaderboard import rows_from_compare

COMPARE_CSV = "seed001_compare.csv"
AFTER_FIX_CSV = "seed001_compare_after_fix.csv"
RERUN = ("learned", "maddpg", "ddpg", "masac")  #: the learners whose quick rate changed


def leaderboard_rows(results_dir: str | Path) -> pd.DataFrame:
    """The rows of seed001 (``docs/benchmarks`` holds its compare output)."""
    table = _main_rows(pd.read_csv(Path(results_dir) / COMPARE_CSV))
    after = Path(results_dir) / AFTER_FIX_CSV
    if after.exists():
        rerun = _main_rows(pd.read_csv(after))
        rerun = rerun[rerun["policy"].isin(RERUN)]
        order = {name: i for i, name in enumerate(table["policy"].unique())}
        table = pd.concat([table[~table["policy"].isin(RERUN)], rerun], ignore_index=True)
        table = table.sort_values("policy", key=lambda p: p.map(order), kind="stable")
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


def _main_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The main case's full-method rows."""
    return table[(table["case"] == "ieee33-seed001-mw") & (table["variant"] == "full")]
