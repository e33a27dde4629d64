"""seed000 over 5 seeds against the exact per-decision dispatch, two-stage SP, MPC and random.

Run: ``python benchmarks/bench_seed000_compare.py [--seeds 5] [--days 10] [--gcn]``. For each
seed the edge controllers are trained with the default :class:`Seed000Config` (exact prices)
and played on the same held-out test days (scenario seeds 0 … days−1; training uses seeds
≥ 10 000) through the safety layer; the counterparts are deterministic given the day and play
those days once. With ``--gcn`` the seed-0 run also trains the regional price GCN and plays
``learned-gcn`` (the controllers observing predicted LMPs, scored at the exact ones): its
difference to ``learned`` is the cost regret of the predicted prices. Timings include every
stage a user pays per decision (forward pass, safety verification and repairs; for SP and MPC
their solves, charged per step). Results: docs/benchmarks/seed000_compare.md / .csv / .png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from dispatchlab.cases.library import load_case
from dispatchlab.cases.scenarios_stress import load_step, pv_fluctuation
from dispatchlab.learning.methods.seed000.compare import (
    CompareConfig,
    compare,
    summarize,
)
from dispatchlab.learning.methods.seed000.config import Seed000Config
from dispatchlab.learning.methods.seed000.method import train

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=Seed000Config.rounds)
    parser.add_argument("--gcn", action="store_true", help="seed 0 also trains the price GCN")
    args = parser.parse_args()
    frames, runs = [], []
    base = CompareConfig(days=args.days)
    for seed in range(args.seeds):
        cfg = Seed000Config(seed=seed, rounds=args.rounds, train_gcn=args.gcn and seed == 0)
        t0 = time.perf_counter()
        method = train(cfg, log=None)
        train_s = time.perf_counter() - t0
        policies = ("learned", "learned-gcn") if method.gcn is not None else ("learned",)
        table = compare(method, dataclasses.replace(base, policies=policies))
        frames.append(table.assign(seed=seed))
        runs.append({"seed": seed, "train_s": train_s})
        if method.gcn is not None:
            runs[-1]["gcn"] = method.gcn.metrics
        print(f"seed {seed}: trained in {train_s:.0f} s", flush=True)
    counterparts = compare(
        method, dataclasses.replace(base, policies=("exact", "sp", "mpc", "hold", "random"))
    )
    table = pd.concat([*frames, counterparts.assign(seed=-1)], ignore_index=True)
    exact = table["day"].map(table[table["policy"] == "exact"].set_index("day")["reward_usd"])
    table["gap_pct"] = 100.0 * (exact - table["reward_usd"]) / exact.abs()
    table.to_csv(OUT / "seed000_compare.csv", index=False, float_format="%.6g")
    (OUT / "seed000_compare_runs.json").write_text(json.dumps(runs, indent=1, default=float))
    summary = summarize(table)
    per_seed = table[table["policy"] == "learned"].groupby("seed")[["reward_usd", "gap_pct"]].mean()
    print(summary.T.to_string(float_format=lambda v: f"{v:.4g}"))
    print(
        "learned, mean over days per seed:\n", per_seed.to_string(float_format=lambda v: f"{v:.4g}")
    )
    print("training:", json.dumps(runs, default=float))
    _plot(table)
    _stress(method, dataclasses.replace(base, days=min(args.days, 5)))


def _stress(method, base: CompareConfig) -> None:
    """seed000 §5's stress tests on the last seed's controllers (trained on normal days)."""
    case = load_case(method.config.case)
    noon = case.timeseries.index[len(case.timeseries.index) // 2]
    stresses = {
        "pv_fluctuation_40pct": pv_fluctuation(case, 0.4, seed=0),
        "load_step_30pct_noon": load_step(case, 1.3, at=noon),
    }
    frames = []
    for name, stressed in stresses.items():
        # the stress hits the realized days only: forecast, day-ahead plan and SP/MPC see none
        cfg = dataclasses.replace(
            base, realized_case=stressed, policies=("learned", "exact", "sp", "mpc")
        )
        frames.append(compare(method, cfg).assign(stress=name))
    table = pd.concat(frames, ignore_index=True)
    table.to_csv(OUT / "seed000_stress.csv", index=False, float_format="%.6g")
    for name, part in table.groupby("stress", sort=False):
        cols = ["reward_usd_mean", "gap_pct_mean", "gap_pct_max", "violation_steps", "repairs",
                "fallbacks", "reserve_cost_usd_per_h_mean", "pv_integration_rate_mean"]  # fmt: skip
        print(
            f"stress {name}:\n",
            summarize(part)[cols].T.to_string(float_format=lambda v: f"{v:.4g}"),
        )


def _plot(table: pd.DataFrame) -> None:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    order = [
        p for p in ("exact", "mpc", "learned", "learned-gcn", "sp") if p in set(table["policy"])
    ]
    data = [table.loc[table["policy"] == p, "reward_usd"] for p in order]
    a.boxplot(data, tick_labels=order)
    a.set_ylabel("day reward at exact DLMPs ($)")
    a.set_title("test days (learned: all seeds × days)")
    gaps = [table.loc[table["policy"] == p, "gap_pct"] for p in order]
    b.boxplot(gaps, tick_labels=order)
    b.axhline(5.0, color="tab:red", ls="--", lw=1, label="5 % target")
    b.set_ylabel("gap to the exact per-decision dispatch (%)")
    b.legend()
    fig.tight_layout()
    fig.savefig(OUT / "seed000_compare.png", dpi=110)


if __name__ == "__main__":
    main()
