"""seed001's learner rows again after a fix, next to (not over) the measured benchmark.

Runs ``bench_seed001_compare.run_case`` (the same training, days, plays and columns) for
the learners on one case with ``--set`` changes and no ablations, and writes
docs/benchmarks/seed001_compare_after_fix.{csv,md} (the Table 4 layout, convergence, the
share of collapsed validations) for the "after fix" section of seed001_compare.md:

``python benchmarks/bench_seed001_after_fix.py --quick --seeds 5 --set actor_lr=1e-5``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from bench_seed001_compare import CASES, run_case
from seed001_report import OUT, collapsed_share, convergence, markdown, table4

from dispatchlab.learning.methods.seed001.baselines import BASELINES
from dispatchlab.learning.methods.seed001.config import Seed001Config
from dispatchlab.learning.reduce.cli import config_with

STEM = OUT / "seed001_compare_after_fix"


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--heldout", type=int, default=24, help="held-out days played (≤ 24)")
    p.add_argument("--case", default=CASES[0])
    p.add_argument("--quick", action="store_true", help="Seed001Config.quick budgets")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="change a Seed001Config field of every run (repeatable)")  # fmt: skip
    args = p.parse_args()
    args.argv = sys.argv[1:]
    args.baselines = list(BASELINES)
    args.ablation_cases, args.ablation_seeds = "", 0
    overrides = config_with(Seed001Config, args.set)
    args.changes = {n: getattr(overrides, n) for n in (i.partition("=")[0] for i in args.set)}
    return args


def main() -> None:
    args = parse()
    torch.set_num_threads(1)
    t0, c0, rows, curves, exact = time.perf_counter(), time.process_time(), [], {}, {}
    for seed in range(args.seeds):
        run_case(args.case, seed, args, rows, curves, exact)
        pd.concat(rows, ignore_index=True).to_csv(f"{STEM}.partial.csv", index=False)
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s wall", flush=True)
    frame = pd.concat(rows, ignore_index=True)
    frame.to_csv(f"{STEM}.csv", index=False)
    Path(f"{STEM}.partial.csv").unlink(missing_ok=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    starts = (Seed001Config.quick if args.quick else Seed001Config)().learning_starts
    lines = [
        f"`python benchmarks/bench_seed001_after_fix.py {' '.join(args.argv)}` — "
        f"{args.case}, {args.seeds} seeds × {1 + args.heldout} days, learners only (no "
        f"ablations); **{wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU** (one core of the "
        "shared 2-core host, torch 1 thread).",
        "",
        markdown(table4(frame[frame["variant"] == "full"])),
        "",
        markdown(convergence(curves, args.case, starts)),
        "",
        f"Greedy validations of the off-policy learners with a positive day cost: "
        f"{100 * collapsed_share(curves, args.case):.0f} %.",
    ]
    (STEM.with_suffix(".md")).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
