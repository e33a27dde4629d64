"""seed002 over N training runs against the exact per-step optimum, OPF-round, MPC, DQN, hold.

Run: ``python benchmarks/bench_seed002_compare.py`` for the issue's scale (30 runs of 500
episodes at 15-min steps, ablations with 30 runs each, all six stress days) or e.g.
``--runs 3 --ablation-runs 2 --episodes 48 --dt-h 1`` for a reduced one. Every learned run is
trained on :data:`~dispatchlab.learning.methods.seed002.config.TRAIN_DAYS` with seed r and
played WITHOUT the safety layer on the stress days (held out), beside ``learned-safe`` (run 0
through the Hamming-2 safety layer) and the deterministic counterparts (once per day).
Results: docs/benchmarks/seed002_compare.{md,csv,png} and seed002_compare_runs.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dispatchlab.learning.methods.seed002.compare import CompareConfig, compare, summarize
from dispatchlab.learning.methods.seed002.config import Seed002Config
from dispatchlab.learning.methods.seed002.method import load_method, train
from dispatchlab.learning.methods.seed002.stats import paired_tests

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
ABLATIONS = {"no-pnn": "use_pnn", "no-reduction": "use_rules", "no-sensitivity": "use_sensitivity"}
COUNTERPARTS = ("exact", "opf-round", "mpc", "dqn", "hold", "random")


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


def run(args) -> tuple[pd.DataFrame, list[dict], dict]:
    base = Seed002Config(episodes=args.episodes, dt_h=args.dt_h)
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
        safe = compare(methods[:1], CompareConfig(days=days, policies=("learned-safe",)))
        tables.append(safe)
        print(f"check + learned-safe: {time.perf_counter() - t0:.0f} s", flush=True)
        for name, field in ABLATIONS.items():
            abl, m2 = _train(base.replace(**{field: False}), args.ablation_runs, Path(tmp), name)
            meta += m2
            t0 = time.perf_counter()
            t = compare(abl, CompareConfig(days=days, policies=("learned",)))
            print(f"{name} plays: {time.perf_counter() - t0:.0f} s", flush=True)
            tables.append(t.assign(policy=name))
        print(f"learned plays: {time.perf_counter() - t0:.0f} s", flush=True)
        for name in args.counterparts:
            t = time.perf_counter()
            cfg = CompareConfig(days=days, policies=(name,))  # dqn: trained here, seed 0
            tables.append(compare(methods[:1], cfg))
            print(f"{name}: {time.perf_counter() - t:.0f} s", flush=True)
    return pd.concat(tables, ignore_index=True), meta, extras


def _mean(table: pd.DataFrame, policy: str, col: str) -> float:
    rows = table[table["policy"] == policy]
    return float(rows[col].mean()) if len(rows) else float("nan")


def verdicts(table: pd.DataFrame, meta: list[dict], extras: dict) -> list[str]:
    """One line per claim of the paper and per target of the issue, with the numbers."""
    m = lambda p, c: _mean(table, p, c)  # noqa: E731
    q, q_ex, q_opf, q_mpc, q_dqn = (
        m(p, "qualification_rate") for p in ("learned", "exact", "opf-round", "mpc", "dqn")
    )  # fmt: skip
    loss, loss_ex, loss_hold = (m(p, "avg_loss_pu") for p in ("learned", "exact", "hold"))
    t, t_nored = m("learned", "time_per_cycle_ms"), m("no-reduction", "time_per_cycle_ms")
    cost, cost_nopnn = m("learned", "cost"), m("no-pnn", "cost")
    train_s = max(r["train_s"] for r in meta if r["tag"] == "learned")
    safe_v, ex_v = m("learned-safe", "violation_steps"), m("exact", "violation_steps")
    yes = lambda ok: "**reproduced**" if ok else "**not reproduced**"  # noqa: E731
    return [
        f"- Table 2, MARL-PC qualification 98.7 ± 0.4 %: measured {100 * q:.1f} % without the "
        f"safety layer → {yes(q >= 0.983)}. The exact per-step optimum reaches "
        f"{100 * q_ex:.1f} %, so an OPF at 92.5 % is not an exact OPF: our OPF-round reaches "
        f"{100 * q_opf:.1f} % and the two-layer MPC {100 * q_mpc:.1f} % (paper: 86.2 %); the "
        f"single-agent DQN {100 * q_dqn:.1f} % (paper: 83.1 %).",
        f"- Table 2, 2.1 s per cycle: the learned decision (PNN + rules + actors + S_VQ step) "
        f"takes {t:.2f} ms per step here (target ≤ 5 ms: {'met' if t <= 5 else 'missed'}); "
        "the paper's seconds are a MATLAB/Simulink artefact, not a property of the method.",
        f"- Table 2, loss 0.0131 p.u.: measured {loss:.4f} p.u. per step (exact "
        f"{loss_ex:.4f}); within 5 % of the exact optimum: "
        f"{'yes' if loss <= 1.05 * loss_ex else 'no'} ({100 * (loss / loss_ex - 1):+.1f} %).",
        f'- "Decision time −34.2 %" from action compression: with the rules '
        f"{t:.2f} ms, without {t_nored:.2f} ms ({100 * (t / t_nored - 1):+.1f} %) → "
        f"{yes(t <= 0.9 * t_nored)} (timed on a shared 2-core host: read the sign, not the size).",
        f'- "Loss −30.5 %" (before → after scheduling; hold is before): '
        f"{100 * (loss / loss_hold - 1):+.1f} % → {yes(loss <= 0.75 * loss_hold)}.",
        '- "Max voltage deviation 1.679 → 1.589 p.u.": **physically impossible** — a '
        "deviation above 1 p.u. means a voltage below 0 or above 2 p.u.; here the largest "
        f"mean deviation of any policy is {table['max_deviation_pu'].max():.3f} p.u.",
        f'- Ablation "no PNN: −5 % reward": step cost {cost_nopnn:.3f} without vs '
        f"{cost:.3f} with ({100 * (cost_nopnn / cost - 1):+.1f} % cost). Convergence "
        '"> 550 episodes" needs the full 500-episode runs (not measured at this scale).',
        f"- Target 0 delivered violations beyond the exact optimum's: learned-safe "
        f"{safe_v:.2f} violating steps per day vs exact {ex_v:.2f}.",
        f"- Target training ≤ 10 min per run: the longest run took {train_s:.0f} s.",
        f"- Action reduction: the rules remove {100 * m('learned', 'share_removed'):.1f} % of "
        f"the joint ±1 move set; the exact optimum's position lies outside the reduced set at "
        f"{100 * extras['optimum_outside']:.1f} % of the steps (2 days, run 0).",
        f"- PNN-kernel node-voltage prediction: MAE {m('learned', 'voltage_mae_pu'):.4f} p.u. "
        f"(claim < 0.01), persistence (V_t+1 = V_t) {m('learned', 'persistence_mae_pu'):.4f}.",
    ]


def markdown(df: pd.DataFrame) -> str:
    """A markdown table (pandas' to_markdown needs tabulate, which is not a dependency)."""
    cells = [[str(c) for c in df.columns]]
    for row in df.itertuples(index=False):
        cells.append([f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    lines = ["| " + " | ".join(r) + " |" for r in cells]
    lines.insert(1, "|" + "---|" * len(df.columns))
    return "\n".join(lines)


def page(table: pd.DataFrame, meta: list[dict], extras: dict, args) -> str:
    tests = paired_tests(table[table["policy"].isin(["learned", *COUNTERPARTS])])
    t3 = tests[["counterpart", "metric", "learned_mean", "counterpart_mean", "t", "t_p_holm",
                "wilcoxon_p_holm", "cohen_dz", "rank_biserial"]]  # fmt: skip
    gap = _mean(table, "opf-round", "rounding_gap_rel")
    scale = (
        f"**Scale: {args.runs} training runs × {args.episodes} episodes at {args.dt_h} h "
        f"steps, ablations {args.ablation_runs} runs each, {args.days} stress days** — reduced "
        "from the issue's 30 runs × 500 episodes at 15-min steps to fit 2 shared CPU cores. "
        "The full run: `python benchmarks/bench_seed002_compare.py` (defaults = the issue's "
        "scale)."
    )
    return "\n\n".join(
        [
            "# seed002: PNN-assisted multi-agent actor-critic vs exact, OPF, MPC",
            scale,
            "Learned runs play **without** the safety layer (learned-safe: run 0 through it). "
            "Days are the stress set (never trained on); noise seed 0 on every day. "
            "The rows no-pnn, no-reduction and no-sensitivity are the ablations (learned "
            "without that part), trained and played like learned.",
            "## Table 2 layout (mean ± std over runs × days)",
            markdown(summarize(table).reset_index()),
            f"OPF-round's mean relative rounding gap (relaxed → rounded): {gap:.2e}.",
            "## Table 3 layout: paired tests, learned vs each counterpart (Holm over the table)",
            markdown(t3),
            "## Verdicts",
            "\n".join(verdicts(table, meta, extras)),
            "![seed002](seed002_compare.png)",
        ]
    )


def plot(table: pd.DataFrame, meta: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    g = table.groupby("policy", sort=False)
    g["qualification_rate"].mean().plot.bar(ax=ax[0], yerr=g["qualification_rate"].std())
    ax[0].set_ylabel("qualification rate")
    g["cost"].mean().plot.bar(ax=ax[1], yerr=g["cost"].std())
    ax[1].set_ylabel("mean step cost")
    for r in meta:
        ax[2].plot(r["curve"], alpha=0.5, color="C0" if r["tag"] == "learned" else "C1")
    ax[2].set_xlabel("round")
    ax[2].set_ylabel("mean day reward (blue: learned, orange: ablations)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--ablation-runs", type=int, default=30)
    p.add_argument("--episodes", type=int, default=500)
    p.add_argument("--dt-h", type=float, default=0.25)
    p.add_argument("--days", type=int, default=6)
    p.add_argument("--counterparts", default=",".join(COUNTERPARTS))
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    args.counterparts = tuple(c for c in args.counterparts.split(",") if c)
    table, meta, extras = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "seed002_compare.csv", index=False)
    runs = [{k: v for k, v in r.items() if k != "curve"} for r in meta]
    (args.out / "seed002_compare_runs.json").write_text(json.dumps(runs, indent=1))
    plot(table, meta, args.out / "seed002_compare.png")
    (args.out / "seed002_compare.md").write_text(page(table, meta, extras, args) + "\n")
    print((args.out / "seed002_compare.md").read_text())


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
