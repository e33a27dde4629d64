"""seed004's balance completion on and off, in one run: docs/benchmarks/seed004_balance.{md,csv}.

For each training rule (the completion off or ``merit`` while training), one quick-trained
policy (``Seed004Config.quick``) is played on the same test days with each completion rule at
play time (``off``, ``proportional``, ``merit``), without and through the safety layer. The
columns are what the completion is for: the raw policy's violating intervals (mostly a balance
mismatch the env's slack unit would take), the safety layer's repairs per day, and the gap to
perfect foresight with and without the layer.

Run: ``python benchmarks/bench_seed004_balance.py`` (seed 0, test days 75–79; a few minutes on
one core). ``--seed`` / ``--days`` change the scale.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from dispatchlab.learning.methods.seed004.config import Seed004Config
from dispatchlab.learning.methods.seed004.method import TEST_DAYS, TRAIN_DAYS, Seed004Trainer

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
RULES = ("off", "proportional", "merit")


def measure(seed: int, days: list[int]) -> pd.DataFrame:
    """One row per (training rule, play rule)."""
    rows = []
    for train_rule in ("off", "merit"):
        t0 = time.process_time()
        trainer = Seed004Trainer(Seed004Config.quick(seed=seed, balance_completion=train_rule))
        trainer.train_days(TRAIN_DAYS, trainer.config.episodes)
        train_s = time.process_time() - t0
        for rule in RULES:
            trainer.config = trainer.config.replace(balance_completion=rule)
            raw, safe = trainer.evaluate(days), trainer.evaluate(days, safety=True)
            rows.append(
                {
                    "train_rule": train_rule, "play_rule": rule,
                    "gap_raw_pct": raw["gap_pct"].mean(),
                    "violation_steps_raw": int(raw["violation_steps"].sum()),
                    "gap_safe_pct": safe["gap_pct"].mean(),
                    "repairs_per_day": safe["repairs"].mean(),
                    "fallbacks": int(safe["fallbacks"].sum()),
                    "delivered": int(safe["violation_steps"].sum()),
                    "train_cpu_s": train_s,
                }
            )  # fmt: skip
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def page(frame: pd.DataFrame, args, cpu_min: float) -> str:
    days = f"{args.days[0]}–{args.days[-1]}"
    table = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    table += [
        "| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join(
        [
            "# seed004: the balance completion on and off",
            "",
            f"`python benchmarks/bench_seed004_balance.py --seed {args.seed} --days "
            f"{len(args.days)}`: one quick-trained policy per training rule (seed "
            f"{args.seed}), each played on test days {days} with every completion rule, "
            f"without (`raw`) and through the safety layer; {cpu_min:.1f} min CPU, one run. "
            "`violation_steps_raw` counts the raw policy's violating intervals (of "
            f"{96 * len(args.days)}); `repairs_per_day` the layer's repairs; gaps are to "
            "perfect foresight. The completion is the policy's last deterministic step "
            "(`Seed004Config.balance_completion`, docs/methods/seed004.md).",
            "",
            *table,
            "",
        ]
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--days", type=int, default=5, help="test days from day 75")
    args = p.parse_args()
    args.days = list(TEST_DAYS[: args.days])
    torch.set_num_threads(1)
    t0 = time.process_time()
    frame = measure(args.seed, args.days)
    frame.to_csv(OUT / "seed004_balance.csv", index=False, float_format="%.6g")
    (OUT / "seed004_balance.md").write_text(page(frame, args, (time.process_time() - t0) / 60))


if __name__ == "__main__":
    main()
