"""seed002 over N training runs against the exact per-step optimum, OPF-round, MPC, DQN, hold.

Run: ``python benchmarks/bench_seed002_compare.py`` for the issue's scale (30 runs of 500
episodes at 15-min steps, the DQN and every ablation 30 runs, all six stress days) or e.g.
``--runs 3 --dqn-runs 2 --ablation-runs 2 --episodes 48 --dt-h 1`` for a reduced one. The
page and the plot are written by ``seed002_page.py``. Every learned run is
trained on :data:`~dispatchlab.learning.methods.seed002.config.TRAIN_DAYS` with seed r and
played WITHOUT the safety layer on the stress days (held out), beside ``learned-safe`` (run 0
through the Hamming-2 safety layer) and the deterministic counterparts (once per day).
Results: docs/benchmarks/seed002_compare.{md,csv,png} and seed002_compare_runs.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from seed002_page import COUNTERPARTS, page, plot

from dispatchlab.learning.envs import make_env
from dispatchlab.learning.methods.seed002.compare import CompareConfig, compare, play
from dispatchlab.learning.methods.seed002.config import Seed002Config
from dispatchlab.learning.methods.seed002.dqn_baseline import train_dqn
from dispatchlab.learning.methods.seed002.method import env_config, load_method, train

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
ABLATIONS = {"no-pnn": "use_pnn", "no-reduction": "use_rules", "no-sensitivity": "use_sensitivity"}


def _train(cfg: Seed002Config, runs: int, tmp: Path, tag: str) -> tuple[list, list[dict]]:
    methods, meta = [], []
    for r in range(runs):
        m = train(cfg.replace(seed=r), log=None)
        path = m.save(tmp / f"{tag}-{r}.npz")  # the saved policy is the one played
        methods.append(load_method(path))
        meta.append({"tag": tag, "seed": r, "train_s": m.metrics["train_s"],
                     "curve": m.metrics["train_reward_curve"]})  # fmt: skip
        print(f"{tag} run {r}: {m.metrics['train_s']:.1f} s", flush=True)
    return methods, meta


def _dqn(base: Seed002Config, runs: int, days: tuple[int, ...]) -> tuple[pd.DataFrame, list]:
    """The DQN baseline trained ``runs`` times (seeds 0…runs−1), each played on ``days``."""
    env = make_env("voltage-control-discrete", config=env_config(base))
    rows, meta = [], []
    for r in range(runs):
        t0 = time.perf_counter()
        agent = train_dqn(base.replace(seed=r))
        meta.append({"tag": "dqn", "seed": r, "train_s": time.perf_counter() - t0, "curve": []})
        for day in days:
            row = play(env, agent.act, day, 0, {})
            rows.append({"policy": "dqn", "run": r, "day": day, **row})
        print(f"dqn run {r}: {meta[-1]['train_s']:.1f} s", flush=True)
    return pd.DataFrame(rows), meta


def run(args) -> tuple[pd.DataFrame, list[dict], dict]:
    # ε decays over the run's episodes (the paper: 500 of 500), so a reduced run still ends greedy
    base = Seed002Config(
        episodes=args.episodes, eps_episodes=min(500, args.episodes), dt_h=args.dt_h
    )
    days = tuple(range(args.days))
    tables, extras = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        methods, meta = _train(base, args.runs, Path(tmp), "learned")
        t0 = time.perf_counter()
        tables.append(compare(methods, CompareConfig(days=days, policies=("learned",))))
        print(f"learned plays: {time.perf_counter() - t0:.0f} s", flush=True)
        check = compare(methods[:1], CompareConfig(days=days[:2], policies=("learned",),
                                                   check_reduction=True))  # fmt: skip
        extras["optimum_outside"] = float(check["optimum_outside"].mean())
        tables.append(compare(methods[:1], CompareConfig(days=days, policies=("learned-safe",))))
        print(f"check + learned-safe: {time.perf_counter() - t0:.0f} s", flush=True)
        for name, change in ablations(base).items():
            abl, m2 = _train(base.replace(**change), args.ablation_runs, Path(tmp), name)
            meta += m2
            tables.append(compare(abl, CompareConfig(days=days, policies=("learned",))).assign(
                policy=name))  # fmt: skip
        if "dqn" in args.counterparts and args.dqn_runs:
            dqn, m2 = _dqn(base, args.dqn_runs, days)
            tables.append(dqn)
            meta += m2
        for name in (c for c in args.counterparts if c != "dqn"):
            t = time.perf_counter()
            tables.append(compare(methods[:1], CompareConfig(days=days, policies=(name,))))
            print(f"{name}: {time.perf_counter() - t:.0f} s", flush=True)
    return pd.concat(tables, ignore_index=True), meta, extras


def ablations(base: Seed002Config) -> dict[str, dict]:
    """Each ablation's config change; ``paper-rules`` when the default admits in-band moves."""
    out = {name: {field: False} for name, field in ABLATIONS.items()}
    if base.in_band_moves != "paper":
        out["paper-rules"] = {"in_band_moves": "paper"}
    return out


def time_full_run(episodes: int) -> float:
    """Seconds of one training run at the issue's scale (500 episodes, 15-min steps),
    extrapolated linearly from ``episodes`` episodes of it (after the S_VQ cache is warm)."""
    cfg = Seed002Config(dt_h=0.25, episodes=episodes, eps_episodes=episodes)
    m = train(cfg, log=None)
    return m.metrics["train_s"] * 500 / m.metrics["episodes"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--dqn-runs", type=int, default=30)
    p.add_argument("--ablation-runs", type=int, default=30)
    p.add_argument("--episodes", type=int, default=500)
    p.add_argument("--dt-h", type=float, default=0.25)
    p.add_argument("--days", type=int, default=6)
    p.add_argument("--counterparts", default=",".join(COUNTERPARTS))
    p.add_argument("--time-full", type=int, default=0,
                   help="also time N episodes at 15-min steps → one full run's time")  # fmt: skip
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    args.counterparts = tuple(c for c in args.counterparts.split(",") if c)
    args.in_band_moves = Seed002Config().in_band_moves
    t0 = time.perf_counter()
    full_run_s = time_full_run(args.time_full) if args.time_full else None
    table, meta, extras = run(args)
    wall_s = time.perf_counter() - t0
    command = "python " + " ".join(
        shlex.quote(a) for a in ["benchmarks/" + Path(sys.argv[0]).name, *sys.argv[1:]]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "seed002_compare.csv", index=False)
    runs = [r | {"curve": [round(c, 3) for c in r["curve"]]} for r in meta]
    (args.out / "seed002_compare_runs.json").write_text(json.dumps(runs, indent=1))
    plot(table, meta, args.out / "seed002_compare.png")
    text = page(table, meta, extras, args, wall_s, command, full_run_s)
    (args.out / "seed002_compare.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
