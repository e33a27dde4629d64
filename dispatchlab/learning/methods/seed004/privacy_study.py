"""seed004's privacy–utility curve and membership attacks on its federated agents (Table 8).

For each target ε: :func:`.privacy.calibrate` gives σ at the run's rounds and sampling rate,
:func:`.federated.train_federated_seed004` trains the agents over the three regional clients,
the server's policy plays the test days (gap to perfect foresight), and two attacks try to
tell the members (the clients' training days) from non-members (held-out training-season
days) by the critic's TD errors on each day's greedy trajectory:

* loss threshold — the day's mean squared TD error;
* shadow model — a logistic regression on (log mean, log max squared TD error, TD std) learnt
  from a shadow federated model trained non-privately, with the same recipe, on the
  validation days (its own members: every other day; non-members: the rest).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from dispatchlab.learning.methods.seed004.federated import (
    DaySplit,
    FederatedConfig,
    train_federated_seed004,
)
from dispatchlab.learning.methods.seed004.privacy import (
    calibrate,
    loss_threshold_attack,
    shadow_model_attack,
)

__all__ = [
    "PrivacyStudyConfig",
    "attack_table",
    "day_features",
    "federated_leaderboard_rows",
    "privacy_study",
]

PAPER_AUC = {math.inf: 0.73, 5.8: 0.63, 3.1: 0.57, 0.9: 0.54}  #: seed004 Table 8


@dataclass(frozen=True)
class PrivacyStudyConfig:
    """The sweep (defaults: the issue's full scale)."""

    epsilons: tuple[float, ...] = (math.inf, 5.8, 3.1, 0.9)  #: targets (inf: non-private)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  #: training seeds
    rounds: int = 50  #: federated rounds (seed004 §3.3)
    episodes_per_round: int = 8  #: days each client trains per round (ours)
    sample_rate: float = 1.0  #: q: every client every round (σ is what moves ε)
    clip: float = 1.0  #: C (seed004 §3.3)
    delta: float = 1e-5  #: δ
    per_client: int | None = None  #: member days per client (None: all 15)
    nonmembers: int | None = None  #: non-member days (None: all 15)
    n_boot: int = 1000  #: bootstrap resamples of the attack metrics
    quick: bool = False  #: Seed004Config.quick() instead of the paper's sizes
    balance_completion: str = "merit"  #: Seed004Config.balance_completion of every trainer


def day_features(trainer, days) -> np.ndarray:
    """(days, 3): log mean and log max squared TD error and the TD errors' std per day."""
    rows = []
    for day in days:
        td = trainer.td_errors(int(day)).astype(float)
        sq = td**2
        rows.append([np.log(sq.mean() + 1e-12), np.log(sq.max() + 1e-12), td.std()])
    return np.asarray(rows)


def attack_table(trainer, split: DaySplit, shadow: tuple | None, *, n_boot: int, seed: int):
    """Both attacks on ``trainer``'s members vs non-members (list of AttackResult)."""
    f_in = day_features(trainer, split.members)
    f_out = day_features(trainer, split.nonmembers)
    out = [loss_threshold_attack(np.exp(f_in[:, 0]), np.exp(f_out[:, 0]), n_boot=n_boot,
                                 seed=seed)]  # fmt: skip
    if shadow is not None:
        out.append(shadow_model_attack(*shadow, f_in, f_out, n_boot=n_boot, seed=seed))
    return out


def _shadow(model_config, fed: FederatedConfig, split: DaySplit, episodes: int, case, log):
    """Features of a non-private shadow federation trained on the validation days."""
    inner = DaySplit(
        clients=tuple(split.shadow_in[k :: len(split.clients)] for k in range(len(split.clients))),
        nonmembers=split.shadow_out,
        shadow_in=(),
        shadow_out=split.shadow_out,
        test=split.test,
    )
    server, _ = train_federated_seed004(
        model_config, replace(fed, sigma=None), inner, episodes=episodes, case=case, log=log
    )
    return day_features(server, split.shadow_in), day_features(server, split.shadow_out)


def _model_config(cfg: PrivacyStudyConfig, seed: int):
    from dispatchlab.learning.methods.seed004.config import Seed004Config

    make = Seed004Config.quick if cfg.quick else Seed004Config
    return make(seed=seed, balance_completion=cfg.balance_completion)


def privacy_study(
    cfg: PrivacyStudyConfig, *, case=None, log: Callable[[str], None] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curve, days): one row per (seed, ε) — σ, q, ε spent, mean gap to perfect foresight
    on the test days, each attack's AUC and TPR at 10 % FPR with CIs — and the per-day test
    results (``policy`` = ``federated ε=…``) for the leaderboard."""
    split = DaySplit.make(3, cfg.per_client, cfg.nonmembers)
    say = log or (lambda text: None)
    curve, days = [], []
    foresight: dict[int, float] = {}  # perfect-foresight day costs, shared by every server
    for seed in cfg.seeds:
        model_cfg = _model_config(cfg, seed)
        base = FederatedConfig(rounds=cfg.rounds, clip=cfg.clip, sample_rate=cfg.sample_rate,
                               delta=cfg.delta, seed=seed)  # fmt: skip
        say(f"seed {seed}: shadow federation (non-private) on the validation days")
        shadow = _shadow(model_cfg, base, split, cfg.episodes_per_round, case, say)
        for eps in cfg.epsilons:
            plan = calibrate(eps, rounds=cfg.rounds, delta=cfg.delta, sample_rate=cfg.sample_rate)
            sigma = None if math.isinf(eps) else plan["sigma"]
            fed = replace(base, sigma=sigma)
            say(f"seed {seed}: ε target {eps}: σ = {sigma}")
            server, run = train_federated_seed004(
                model_cfg, fed, split, episodes=cfg.episodes_per_round, case=case, log=say
            )
            server._pf = foresight  # the trainer's own cache, shared: same case, same days
            test = server.evaluate(split.test)
            attacks = attack_table(server, split, shadow, n_boot=cfg.n_boot, seed=seed)
            row = {"seed": seed, "target_epsilon": eps, "sigma": sigma,
                   "sample_rate": cfg.sample_rate, "rounds": cfg.rounds, "clip": cfg.clip,
                   "epsilon": run.epsilon, "gap_pct_mean": test["gap_pct"].mean(),
                   "cost_usd_mean": test["cost_usd"].mean(),
                   "violation_steps_mean": test["violation_steps"].mean(),
                   "train_s": server.train_s, "paper_auc": PAPER_AUC.get(eps, np.nan)}  # fmt: skip
            for a in attacks:
                for k in ("auc", "auc_lo", "auc_hi", "tpr_at_10fpr", "tpr_lo", "tpr_hi"):
                    row[f"{a.attack}_{k}"] = getattr(a, k)
            curve.append(row)
            label = "∞" if math.isinf(eps) else f"{eps:g}"
            days.append(
                test.assign(seed=seed, policy=f"federated ε={label}", train_s=server.train_s)
            )
    return pd.DataFrame(curve), pd.concat(days, ignore_index=True)


def federated_leaderboard_rows(results_dir) -> pd.DataFrame:
    """Leaderboard rows of the federated agents, one per ε, from
    ``seed004_privacy_days.csv`` (written by benchmarks/bench_seed004_privacy.py)."""
    from pathlib import Path

    from dispatchlab.learning.leaderboard import rows_from_compare

    path = Path(results_dir) / "seed004_privacy_days.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: run benchmarks/bench_seed004_privacy.py first")
    table = pd.read_csv(path)
    train_s = table.groupby("policy")["train_s"].mean().to_dict() if "train_s" in table else {}
    return rows_from_compare(
        table,
        method="seed004",
        env="transmission-dispatch",
        counterpart="perfect",
        train_s=train_s,
    )
