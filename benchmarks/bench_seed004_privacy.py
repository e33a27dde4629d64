"""seed004's privacy–utility curve: federated agents at ε ∈ {∞, 5.8, 3.1, 0.9}, their gap to
perfect foresight and the membership attacks' AUC (seed004 Table 8).

Run: ``python benchmarks/bench_seed004_privacy.py`` (defaults = the issue's scale: 5 seeds,
50 rounds, the paper's network sizes, 15 member days per client, 15 non-members). Reduced:
``--quick --seeds 1 --rounds 3 --per-client 8 --nonmembers 12``. Results:
docs/benchmarks/seed004_privacy.md / .csv / .png and seed004_privacy_days.csv (per test day,
read by the leaderboard).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dispatchlab.learning.methods.seed004.privacy import epsilon
from dispatchlab.learning.methods.seed004.privacy_study import PrivacyStudyConfig, privacy_study

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"


def _plot(curve, path: Path) -> None:
    g = curve.groupby("target_epsilon").mean(numeric_only=True).sort_index()
    x = np.arange(len(g))
    labels = ["∞" if math.isinf(e) else f"{e:g}" for e in g.index]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    a1.bar(x, g["gap_pct_mean"], color="C0")
    a1.set_xticks(x, labels)
    a1.set_xlabel("target ε")
    a1.set_ylabel("gap to perfect foresight, % (test days)")
    a1.set_yscale("symlog")
    for name, color in (("loss_threshold", "C1"), ("shadow_model", "C2")):
        if f"{name}_auc" in g:
            err = np.c_[
                g[f"{name}_auc"] - g[f"{name}_auc_lo"], g[f"{name}_auc_hi"] - g[f"{name}_auc"]
            ]
            a2.errorbar(x, g[f"{name}_auc"], yerr=np.abs(err.T), fmt="o-", color=color, label=name,
                        capsize=3)  # fmt: skip
    a2.plot(x, g["paper_auc"], "kx--", label="paper")
    a2.axhline(0.5, color="grey", lw=0.5)
    a2.set_xticks(x, labels)
    a2.set_xlabel("target ε")
    a2.set_ylabel("membership-attack AUC")
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _table(curve) -> list[str]:
    cols = ["seed", "target_epsilon", "sigma", "epsilon", "gap_pct_mean", "violation_steps_mean",
            "loss_threshold_auc", "loss_threshold_auc_lo", "loss_threshold_auc_hi",
            "loss_threshold_tpr_at_10fpr", "shadow_model_auc", "shadow_model_auc_lo",
            "shadow_model_auc_hi", "shadow_model_tpr_at_10fpr", "paper_auc"]  # fmt: skip
    lines = ["| " + " | ".join(cols) + " |", "|" + "---:|" * len(cols)]
    for r in curve[cols].itertuples(False):
        cells = []
        for v in r:
            cells.append("–" if v is None or (isinstance(v, float) and math.isnan(v))
                         else (f"{v:.4g}" if isinstance(v, float) else str(v)))  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _claims(curve) -> list[str]:
    """The paper's Table 8 claims against the means over seeds (numbers only)."""
    g = curve.groupby("target_epsilon").mean(numeric_only=True)
    if not {math.inf, 3.1} <= set(g.index):
        return []
    inf, mid = g.loc[math.inf], g.loc[3.1]
    lines = [
        f"- Utility: the non-private federation is {inf['gap_pct_mean']:.3g} % above perfect "
        f"foresight on the test days; at ε = 3.1 it is {mid['gap_pct_mean']:.3g} % (paper: "
        "467.6 → 468.9 k$/day, +0.3 %).",
    ]
    for name in ("loss_threshold", "shadow_model"):
        if f"{name}_auc" in g:
            lines.append(
                f"- {name} attack AUC: {inf[f'{name}_auc']:.3f} non-private "
                f"[{inf[f'{name}_auc_lo']:.3f}, {inf[f'{name}_auc_hi']:.3f}] → "
                f"{mid[f'{name}_auc']:.3f} at ε = 3.1 [{mid[f'{name}_auc_lo']:.3f}, "
                f"{mid[f'{name}_auc_hi']:.3f}] (paper: 0.73 → 0.57)."
            )
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed … +seeds−1")
    p.add_argument("--rounds", type=int, default=50)
    p.add_argument("--episodes-per-round", type=int, default=8)
    p.add_argument("--per-client", type=int, default=None)
    p.add_argument("--nonmembers", type=int, default=None)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--quick", action="store_true", help="Seed004Config.quick() networks")
    p.add_argument("--balance-completion", default="merit",
                   help="Seed004Config.balance_completion (merit, proportional, off)")  # fmt: skip
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--render", metavar="MINUTES", type=float,
                   help="only rewrite the page from the CSVs in --out (runs merged)")  # fmt: skip
    a = p.parse_args()
    if a.render is not None:
        curve = pd.read_csv(a.out / "seed004_privacy.csv")
        _write(curve, a, a.render * 60)
        return
    seeds = tuple(range(a.first_seed, a.first_seed + a.seeds))
    cfg = PrivacyStudyConfig(seeds=seeds, rounds=a.rounds,
                             episodes_per_round=a.episodes_per_round, per_client=a.per_client,
                             nonmembers=a.nonmembers, n_boot=a.n_boot, quick=a.quick,
                             balance_completion=a.balance_completion)  # fmt: skip
    t0 = time.perf_counter()
    curve, days = privacy_study(cfg, log=print)
    wall = time.perf_counter() - t0
    a.out.mkdir(parents=True, exist_ok=True)
    curve.to_csv(a.out / "seed004_privacy.csv", index=False)
    days.to_csv(a.out / "seed004_privacy_days.csv", index=False)
    _write(curve, a, wall)


def _write(curve, a, wall: float) -> None:
    _plot(curve, a.out / "seed004_privacy.png")
    paper = epsilon(0.8, 1.0, 50, 1e-5)[0]
    seeds = sorted(curve["seed"].unique())
    command = " ".join(["python benchmarks/bench_seed004_privacy.py", f"--seeds {len(seeds)}",
                        f"--rounds {a.rounds}", f"--episodes-per-round {a.episodes_per_round}",
                        *([f"--per-client {a.per_client}"] if a.per_client else []),
                        *([f"--nonmembers {a.nonmembers}"] if a.nonmembers else []),
                        f"--n-boot {a.n_boot}", *(["--quick"] if a.quick else []),
                        f"--balance-completion {a.balance_completion}"])  # fmt: skip
    body = [
        "# seed004 privacy: federated agents, ε and membership inference",
        "",
        f"**Scale of this run:** `{command}` — {wall / 60:.0f} min on the shared 2-core host. "
        "The full run is `python benchmarks/bench_seed004_privacy.py` (5 seeds, 50 rounds, the "
        "paper's network sizes, every member and non-member day).",
        "",
        f"The paper's setting (σ = 0.8, C = 1, 50 rounds, all 3 clients each round) spends "
        f"ε = {paper:.1f} at δ = 1e-5 (opacus RDP), not 3.1.",
        "",
        "![privacy-utility curve](seed004_privacy.png)",
        "",
        *_table(curve),
        "",
        "## Against the paper (means over seeds)",
        "",
        *_claims(curve),
        "",
    ]
    (a.out / "seed004_privacy.md").write_text("\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()
