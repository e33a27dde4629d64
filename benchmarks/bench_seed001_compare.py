"""seed001 against DDPG, MADDPG, MASAC, GRPO, the 24-h optimum and the per-step AC-OPF.

The issue's scale at the full budget (hours on 2 cores):
``python benchmarks/bench_seed001_compare.py``.
What docs/benchmarks/seed001_compare.md was run at is stated at its top (``--quick``: the
``Seed001Config.quick`` budget; ``--ablation-seeds``: the ablations on the first seeds only).
For every case and seed: seed001 (:class:`Seed001Config`, or its ``quick`` budget), its four
counterparts from ``learning/agents`` on the same budget and days, and, on the
``--ablation-cases`` and the first ``--ablation-seeds`` seeds, the ablations (no type input, no
noise, no hybrid replay, no coach, coach = exact OPF, τ = 0.01) are trained; every policy plays
the paper's test day and the first ``--heldout`` all-season held-out days noise-free, learned
ones with and without the safety layer. The 24-h optimum of a day is solved once per case (it
depends on neither seed nor layer). Timings per decision include featurization and the safety
layer. Results: docs/benchmarks/seed001_compare.{md,csv,png} (rendered by ``seed001_report``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd
import torch
from seed001_report import OUT, table4, write

from dispatchlab.learning.agents.torchrl_common import policy_callable
from dispatchlab.learning.methods.seed001.baselines import BASELINES, train_baseline
from dispatchlab.learning.methods.seed001.compare import CompareConfig, compare, exact_day
from dispatchlab.learning.methods.seed001.config import Seed001Config
from dispatchlab.learning.methods.seed001.data import day_sets, make_day_env
from dispatchlab.learning.methods.seed001.method import train
from dispatchlab.learning.reduce.cli import config_with

CASES = ("ieee33-seed001-mw", "ieee33-seed001")
ABLATIONS = {
    "no-type": {"type_input": False},
    "no-noise": {"critic_noise": False},
    "no-hybrid": {"hybrid_replay": False},
    "no-coach": {"coach": "none"},
    "coach-opf": {"coach": "opf"},
    "tau-0.01": {"tau": 0.01},
}
CURVES = OUT / "seed001_compare_curves.json"


def config(case: str, seed: int, args) -> Seed001Config:
    """The budget of this run: ``Seed001Config`` or its quick one, with ``--set`` changes."""
    base = (Seed001Config.quick if args.quick else Seed001Config)(case=case, seed=seed)
    return base.replace(**args.changes)


def play(policies: dict, names: tuple, env, days, case, seed, exact: dict) -> list:
    """``compare`` with and without the safety layer (exact/hold/random only once)."""
    out = []
    for safety in (True, False):
        keep = names if safety else tuple(p for p in names if p in policies)
        cc = CompareConfig(days, keep, safety, seed, case, on_diverge="count")
        out.append(compare(policies, env, cc, exact).assign(safety=safety))
    return out


def exact_on_training_days(base: Seed001Config, days: tuple[str, ...]) -> float:
    """Mean 24-h optimum of the training days: the exact line of the learning curves (their
    validation cost is the env's, which equals the seed001 cost of :mod:`.compare`)."""
    env = make_day_env(base, days, noise=False)
    cc = CompareConfig(days, ("exact-day",), False, 0, base.case)
    return float(np.mean([exact_day(d, env, cc)["cost"] for d in days]))


def run_case(case: str, seed: int, args, rows: list, curves: dict, exact: dict) -> None:
    base = config(case, seed, args)
    days = day_sets(case, base.pool_seed)
    if (case, -1, "exact-day") not in curves:
        curves[(case, -1, "exact-day")] = [[0, exact_on_training_days(base, days.train)]]
    played = days.test + days.heldout[: args.heldout]
    env = make_day_env(base, played, noise=False)
    method = train(base, log=None)
    policies = {"learned": method.policy()}
    train_s = {"learned": method.metrics["train_s"]}
    curves[(case, seed, "learned")] = method.metrics["validation_day_cost"]
    for name in args.baselines:
        agent, metrics = train_baseline(name, base, log=None)
        policies[name] = policy_callable(agent, name)
        train_s[name] = metrics["train_s"]
        curves[(case, seed, name)] = metrics["validation_day_cost"]
    names = (*policies, "exact-day", "exact-step", "hold", "random")
    for t in play(policies, names, env, played, case, seed, exact):
        rows.append(
            t.assign(case=case, seed=seed, variant="full", train_s=t["policy"].map(train_s))
        )
    if case not in args.ablation_cases.split(",") or seed >= args.ablation_seeds:
        return
    for variant, change in ABLATIONS.items():
        m = train(base.replace(**change), log=None)
        curves[(case, seed, f"ablation:{variant}")] = m.metrics["validation_day_cost"]
        for t in play({"learned": m.policy()}, ("learned",), env, played, case, seed, exact):
            t = t.assign(case=case, seed=seed, variant=variant, train_s=m.metrics["train_s"])
            rows.append(t)


def save_curves(curves: dict) -> None:
    CURVES.write_text(json.dumps({"|".join(map(str, k)): v for k, v in curves.items()}))


def load_curves() -> dict:
    raw = json.loads(CURVES.read_text()) if CURVES.exists() else {}
    out = {}
    for k, v in raw.items():
        case, seed, name = k.split("|")
        out[(case, int(seed), name)] = v
    return out


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--heldout", type=int, default=24, help="held-out days played (≤ 24)")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--baselines", default=",".join(BASELINES))
    p.add_argument("--quick", action="store_true", help="Seed001Config.quick budgets")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="change a Seed001Config field of every run (repeatable)")  # fmt: skip
    p.add_argument("--ablation-cases", default=CASES[0], help="cases with ablations")
    p.add_argument("--ablation-seeds", type=int, default=5, help="seeds with ablations (0: none)")
    again = "re-render md/png from the csv and curves json of an earlier run"
    p.add_argument("--report-only", action="store_true", help=again)
    p.add_argument("--minutes", type=float, default=0.0, help="with --report-only: wall time")
    p.add_argument("--cpu-minutes", type=float, default=0.0, help="with --report-only: CPU")
    args = p.parse_args()
    args.argv = sys.argv[1:]
    args.baselines = [b for b in args.baselines.split(",") if b]
    try:  # the CLI's parser: typed, and an unknown field names the valid ones
        overrides = config_with(Seed001Config, args.set)
    except Exception as exc:  # shown as a usage error
        p.error(str(exc))
    args.changes = {n: getattr(overrides, n) for n in (i.partition("=")[0] for i in args.set)}
    return args


def main() -> None:
    args = parse()
    if args.report_only:
        csv = OUT / "seed001_compare.csv"
        frame = pd.read_csv(csv if csv.exists() else OUT / "seed001_compare.partial.csv")
        drop = {"--report-only", "--minutes", "--cpu-minutes", str(args.minutes),
                str(args.cpu_minutes), f"{args.minutes:g}", f"{args.cpu_minutes:g}"}  # fmt: skip
        args.argv = [a for a in args.argv if a not in drop]
        write(frame, load_curves(), args, 60 * args.minutes, 60 * args.cpu_minutes)
        return
    torch.set_num_threads(1)
    t0, c0, rows, curves = time.perf_counter(), time.process_time(), [], {}
    for case in args.cases.split(","):
        exact: dict = {}  # the 24-h optimum of each day, shared by the seeds
        for seed in range(args.seeds):
            run_case(case, seed, args, rows, curves, exact)
            pd.concat(rows, ignore_index=True).to_csv(OUT / "seed001_compare.partial.csv")
            save_curves(curves)
            print(f"{case} seed {seed}: {time.perf_counter() - t0:.0f} s wall, "
                  f"{time.process_time() - c0:.0f} s CPU", flush=True)  # fmt: skip
    frame = pd.concat(rows, ignore_index=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    write(frame, curves, args, wall, cpu)
    (OUT / "seed001_compare.partial.csv").unlink(missing_ok=True)
    print(f"wall {wall / 60:.1f} min, CPU {cpu / 60:.1f} min")
    print(np.round(table4(frame[frame["variant"] == "full"]), 4))


if __name__ == "__main__":
    main()
