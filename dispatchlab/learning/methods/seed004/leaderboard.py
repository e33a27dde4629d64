"""seed004's rows of the leaderboard, from ``benchmarks/bench_seed004_compare.py``'s output.

``learned``, ``deepopf`` and ``lstm-dispatch`` are played through the safety layer,
``learned-raw`` and the other counterparts without it; ``gap_pct`` is the day cost's gap to
perfect foresight (the counterpart)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dispatchlab.learning.leaderboard import read_compare_output, rows_from_compare


def leaderboard_rows(results_dir: str | Path) -> pd.DataFrame:
    """The rows of seed004 (``docs/benchmarks`` holds its compare output)."""
    results_dir = Path(results_dir)
    table, runs = read_compare_output(results_dir, "seed004")
    table = table[table["policy"] != "perfect"]  # the reference itself
    table = table[table["cost_usd"].notna()]  # days of a baseline whose training diverged
    train_s = {k: float(v) for k, v in runs.get("train_s", {}).items()}
    for info in runs.get("runs", []):  # the ablations' training times, per variant
        for key, value in info.items():
            if key.startswith("train_s_abl-"):
                name = key[len("train_s_") :]
                train_s[name] = train_s[f"{name}-raw"] = float(value)
    policies = table["policy"].unique()
    if "train_s" in table:  # the MARL baselines are trained inside compare
        per_policy = table.groupby("policy")["train_s"].mean().dropna()
        train_s = {**per_policy.to_dict(), **train_s}
    # played through the safety layer: learned, each ablation's shielded variant, and the
    # DeepOPF and LSTM counterparts (their proposals are repaired as the learned ones are)
    through_layer = ("learned", "deepopf", "lstm-dispatch")
    shielded = [
        p
        for p in policies
        if p in through_layer or (p.startswith("abl-") and not p.endswith("-raw"))
    ]
    rows = rows_from_compare(
        table,
        method="seed004",
        env="transmission-dispatch",
        counterpart="perfect",
        shielded=shielded,
        train_s=train_s,
    )
    if (results_dir / "seed004_privacy_days.csv").exists():  # federated agents per ε (issue 19)
        from dispatchlab.learning.methods.seed004.privacy_study import federated_leaderboard_rows

        rows = pd.concat([rows, federated_leaderboard_rows(results_dir)], ignore_index=True)
    return rows
