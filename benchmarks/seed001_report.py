"""docs/benchmarks/seed001_compare.{md,csv,png} from ``bench_seed001_compare.py``'s rows.

Tables in the paper's Table 4 layout per case, ablations, convergence, a verdict on each paper
claim and each target of issue 16 with the measured numbers. Every number on the page is
computed here from the rows; the fixed sentences (``WHY``) say why a target is missed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
LEARNED = ("learned", "maddpg", "ddpg", "masac", "grpo")
PAPER = {  # Table 4: avg loss, avg voltage deviation, compliance %
    "exact-day": (0.6945, 0.0266, 100.0),
    "learned": (0.6813, 0.0268, 99.98),
    "maddpg": (0.9085, 0.0276, 98.36),
    "ddpg": (0.7517, 0.0270, 99.24),
    "masac": (1.2855, 0.0367, 89.27),
    "grpo": (1.3487, 0.0387, 81.31),
}
WHY = {
    "loss": "the loss term (4.4 $/MWh) is small beside the in-band reward (5 per bus-hour, "
    "≈ −3 960 a day at 1 p.u.), so the rewards the learners see barely rank losses; the learned "
    "policies pay {lo:.1f}–{hi:.1f}× the optimum's loss cost",
    "total": "the off-policy learners (the proposed method, MADDPG, DDPG, MASAC) are unstable "
    "at this budget: {share:.0f} % of their greedy validations had a positive day cost "
    "(band penalties, over- or under-voltage, above the whole in-band reward; learning "
    "curves); model selection keeps the best actor seen, which is often the untrained "
    "(mid-range) one for the counterparts (`untrained_kept`) while the proposed method, "
    "validated only after its first update, keeps a trained one that can be far worse on a "
    "seed (`best_cost`)",
    "budget": "the learners do not collapse on this case, but at this budget (40 training "
    "days, 2 × 64 networks) the proposed method's best validation day cost stays {gap:.0f} % "
    "above the 24-h optimum of its own training days (convergence table)",
    "decision": "the 11-actor forward pass (TorchRL MultiAgentMLP under vmap) alone takes "
    "≈ 1 ms in Python; the layer's verify adds a radial power flow, a clip a second one, a "
    "repair an Ipopt solve (≈ 20 ms)",
}


def markdown(df: pd.DataFrame) -> str:
    """A markdown table of ``df`` with its index (pandas' to_markdown needs tabulate)."""

    def fmt(v) -> str:
        return f"{v:.4g}" if isinstance(v, float | np.floating) else str(v)

    head = [str(df.index.name or ""), *map(str, df.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx), *(fmt(v) for v in row)]) + " |")
    return "\n".join(lines)


def table4(frame: pd.DataFrame) -> pd.DataFrame:
    """Per policy: Table 4 columns (after safety) with before-safety compliance, gaps (mean,
    std over the seeds' means, p99, max over policy-days), safety counts and timings."""
    on, off = frame[frame["safety"]], frame[~frame["safety"]]
    g = on.groupby("policy", sort=False)
    out = g[["avg_loss_cost", "avg_voltage_deviation_pu", "compliance", "cost"]].mean()
    out.insert(2, "compliance_before", off.groupby("policy")["compliance"].mean())
    out["compliance_before"] = out["compliance_before"].fillna(out["compliance"])
    seeds = on.groupby(["policy", "seed"])[["cost", "gap_pct"]].mean().groupby("policy")
    out["cost_std_seeds"] = seeds["cost"].std(ddof=0)
    out["gap_pct_mean"] = g["gap_pct"].mean()
    out["gap_pct_std_seeds"] = seeds["gap_pct"].std(ddof=0)
    out["gap_pct_p99"] = g["gap_pct"].quantile(0.99)
    out["gap_pct_max"] = g["gap_pct"].max()
    out["diverged_days_before"] = off.groupby("policy")["diverged"].sum()
    out["diverged_days_before"] = out["diverged_days_before"].fillna(0).astype(int)
    out["band_steps_before"] = g["band_steps_raw"].sum()
    out["delivered"] = g["violation_steps"].sum()
    for col in ("clips", "repairs", "fallbacks"):
        out[col] = g[col].sum() if col in on else np.nan
    out["decision_ms"] = g["decision_ms"].mean()
    out["decision_ms_no_safety"] = off.groupby("policy")["decision_ms"].mean()
    out["train_s"] = g["train_s"].mean()
    return out


def convergence(curves: dict, case: str, learning_starts: int) -> pd.DataFrame:
    """Per trained policy, mean over seeds: env steps until the greedy validation cost first
    comes within 5 % of |best| (reward = −cost: "95 % of the final reward"), the step of the
    kept (best) actor, and how many seeds kept an actor validated before any update."""
    rows = []
    for (c, seed, name), curve in curves.items():
        if c != case or not curve or seed < 0:
            continue
        steps, cost = np.array(curve, float).T
        best = cost.min()
        hit = steps[np.argmax(cost <= best + 0.05 * abs(best))]
        kept = steps[np.argmin(cost)]
        rows.append({"policy": name, "steps_to_95": hit, "kept_step": kept, "best_cost": best,
                     "untrained_kept": int(kept <= learning_starts)})  # fmt: skip
    if not rows:
        return pd.DataFrame()
    g = pd.DataFrame(rows).groupby("policy", sort=False)
    out = g[["steps_to_95", "kept_step", "best_cost"]].mean()
    out["steps_to_95_std"] = g["steps_to_95"].std(ddof=0)
    out["untrained_kept"] = g["untrained_kept"].sum().astype(str) + "/" + g.size().astype(str)
    return out


def claims(full: pd.DataFrame, conv: pd.DataFrame, exact_train: float | None) -> list[str]:
    """A verdict with numbers on each of the paper's claims."""
    t = table4(full)
    ex, le = t.loc["exact-day"], t.loc["learned"]
    cmp = ", ".join(f"{p} {PAPER[p][2]:.2f} → {100 * t.loc[p, 'compliance_before']:.2f}"
                    for p in PAPER if p in t.index)  # fmt: skip
    order = t.loc[[p for p in PAPER if p in t.index], "compliance_before"]
    order = ", ".join(order.sort_values(ascending=False).index)
    lines = [f"- **Table 4** (compliance %, paper → ours before the safety layer): {cmp}. "
             "Paper's order by compliance: optimization, proposed, DDPG, MADDPG, MASAC, GRPO; "
             f"ours: {order}."]  # fmt: skip
    dl = 100 * (le["avg_loss_cost"] / ex["avg_loss_cost"] - 1)
    below = full[full.policy.isin(LEARNED) & (full["gap_pct"] < -1e-6)]
    lines.append(
        f'- **"Beats the optimization on loss by 1.9 %"**: refuted — proposed loss cost '
        f"{le['avg_loss_cost']:.4f} vs optimum {ex['avg_loss_cost']:.4f} ({dl:+.0f} %); total "
        f"cost gap {le['gap_pct_mean']:+.2f} ± {le['gap_pct_std_seeds']:.2f} % (mean ± std over "
        f"seeds). Learned policy-days with a total below the exact optimum: {len(below)} "
        f"of {int(full.policy.isin(LEARNED).sum())}."
    )
    if {"learned", "maddpg"} <= set(conv.index):
        a, b = conv.loc["learned"], conv.loc["maddpg"]
        faster = 100 * (1 - a["steps_to_95"] / b["steps_to_95"])
        verdict = "holds" if a["steps_to_95"] <= b["steps_to_95"] - 50 else "not reproduced"
        lines.append(
            f'- **"Converges ≥ 6.25 % faster / 50 steps earlier"** (than MADDPG): {verdict} — '
            f"steps to 95 % of the best validation reward {a['steps_to_95']:.0f} ± "
            f"{a['steps_to_95_std']:.0f} vs MADDPG {b['steps_to_95']:.0f} ± "
            f"{b['steps_to_95_std']:.0f} ({faster:+.1f} %; validations every 120 steps). Seeds "
            f"whose kept actor is the untrained one: proposed {a['untrained_kept']}, MADDPG "
            f"{b['untrained_kept']}."
        )
    lines.append(
        f'- **"≈ 5 s execution"**: {le["decision_ms"]:.2f} ms per decision with the safety '
        f"layer, {le['decision_ms_no_safety']:.2f} ms without (11 agents, featurization "
        f"included); the 24-h optimum takes {24 * ex['decision_ms'] / 1e3:.1f} s per day."
    )
    if "learned" in conv.index:
        best = conv.loc["learned", "best_cost"]
        ref = f" (the 24-h optimum of those days: {exact_train:.0f})" if exact_train else ""
        lines.append(
            "- **Table 3's '144 training steps'**: read as the warm-up (6 training days × 24 h "
            f"stored before the first update); training takes {int(le['train_s'])} s here and "
            f"many more steps: mean best validation day cost {best:.0f}{ref} at step "
            f"{conv.loc['learned', 'kept_step']:.0f} on average."
        )
    return lines


def collapsed_share(curves: dict, case: str) -> float:
    """Share of the off-policy learners' greedy validations (proposed, MADDPG, DDPG, MASAC)
    with a positive day cost: the over-voltage penalties outweigh the whole in-band reward."""
    costs = [c for (k, s, n), v in curves.items() if k == case and s >= 0
             and n in ("learned", "maddpg", "ddpg", "masac") for _, c in v]  # fmt: skip
    return float(np.mean(np.array(costs) > 0)) if costs else float("nan")


def targets(full: pd.DataFrame, curves: dict, case: str) -> list[str]:
    """Issue 16's targets for the proposed method, met or missed, by how much, why."""
    t = table4(full)
    ex, le = t.loc["exact-day"], t.loc["learned"]
    ratio = t.loc[list(LEARNED), "avg_loss_cost"] / ex["avg_loss_cost"]
    why_loss = WHY["loss"].format(lo=ratio.min(), hi=ratio.max())
    share, ex_train = collapsed_share(curves, case), curves.get((case, -1, "exact-day"))
    why_total = WHY["total"].format(share=100 * share)
    if share < 0.1 and ex_train:  # no collapse: the budget, measured on the training days
        best = convergence(curves, case, 0).loc["learned", "best_cost"]
        why_total = WHY["budget"].format(gap=100 * (best / ex_train[0][1] - 1) * -1)

    def mark(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    comp = 100 * le["compliance_before"]
    dl = 100 * (le["avg_loss_cost"] / ex["avg_loss_cost"] - 1)
    gap, ms, tr = le["gap_pct_mean"], le["decision_ms"], le["train_s"]
    return [
        f"- Compliance before safety ≥ 99.5 %: {comp:.2f} % — {mark(comp >= 99.5)} "
        f"({comp - 99.5:+.2f} points).",
        f"- 0 delivered violations after safety: {int(le['delivered'])} — "
        f"{mark(le['delivered'] == 0)}.",
        f"- Loss cost within 3 % of the 24-h optimum: {dl:+.0f} % — {mark(abs(dl) <= 3)}"
        + ("" if abs(dl) <= 3 else f" by {abs(dl) - 3:.0f} points: {why_loss}."),
        f"- Total cost within 5 % of the 24-h optimum: {gap:+.2f} % mean (p99 "
        f"{le['gap_pct_p99']:.1f} %, max {le['gap_pct_max']:.1f} %) — {mark(gap <= 5)}"
        + ("" if gap <= 5 else f" by {gap - 5:.2f} points: {why_total}."),
        f"- Decision ≤ 1 ms on CPU: {ms:.2f} ms with safety, {le['decision_ms_no_safety']:.2f} "
        f"ms without — {mark(ms <= 1)}" + ("" if ms <= 1 else f" ({ms:.1f}×): {WHY['decision']}."),
        f"- Training ≤ 30 min/seed on 2 cores: {tr:.0f} s — {mark(tr <= 1800)} (at the "
        "budget stated above, one core).",
    ]


def section(frame: pd.DataFrame, curves: dict, case: str, learning_starts: int) -> list[str]:
    full = frame[(frame["variant"] == "full") & (frame["case"] == case)]
    seeds, days = full["seed"].nunique(), full["day"].nunique()
    lines = [f"## {case}: Table 4 layout ({seeds} seeds × {days} days; safety on, "
             "`compliance_before` = the same policy without the layer)", "",
             markdown(table4(full)), ""]  # fmt: skip
    abl = frame[(frame["case"] == case) & (frame["policy"] == "learned")]
    if abl["variant"].nunique() > 1:
        abl = abl[abl["seed"].isin(abl.loc[abl["variant"] != "full", "seed"].unique())]
        a = table4(abl.assign(policy=abl["variant"]))
        cols = ["cost", "compliance_before", "compliance", "gap_pct_mean", "gap_pct_std_seeds"]
        n = abl["seed"].nunique()
        lines += [f"### {case}: ablations (learned policy, the {n} seeds with ablations; "
                  "`full` re-averaged on the same seeds)", "",
                  markdown(a[[*cols, "train_s"]]), ""]  # fmt: skip
    conv = convergence(curves, case, learning_starts)
    if len(conv):
        lines += [f"### {case}: convergence (greedy validation on the training days)", "",
                  markdown(conv), ""]  # fmt: skip
    ex = curves.get((case, -1, "exact-day"))
    lines += [f"### {case}: paper claims", "", *claims(full, conv, ex[0][1] if ex else None)]
    lines += [
        "",
        f"### {case}: targets of issue 16 (proposed method)",
        "",
        *targets(full, curves, case),
        "",
    ]
    return lines


def write(frame: pd.DataFrame, curves: dict, args, wall_s: float, cpu_s: float) -> None:
    """The csv, the page and the plot."""
    from dispatchlab.learning.methods.seed001.config import Seed001Config

    frame.to_csv(OUT / "seed001_compare.csv", index=False)
    base = (Seed001Config.quick if args.quick else Seed001Config)().replace(**args.changes)
    budget = (f"{'quick' if args.quick else 'full'} Seed001Config: {len(base.hidden)} × "
              f"{base.hidden[0]} networks, batch {base.batch_size}, {base.env_steps // 24} "
              f"training days ({base.env_steps} env steps), coach {base.coach_steps // 24} days"
              + (f", changes {args.changes}" if args.changes else ""))  # fmt: skip
    full = frame[frame["variant"] == "full"]
    abl = frame[frame["variant"] != "full"]
    cmd = "python benchmarks/bench_seed001_compare.py " + " ".join(args.argv)
    lines = [
        "# seed001: information-fusion MADDPG vs counterparts and the exact optimum", "",
        f"**Scale of this run:** `{cmd}` — {budget}; {full['seed'].nunique()} seeds × "
        f"{full['case'].nunique()} cases × {full['day'].nunique()} days (the paper's test day "
        f"+ {full['day'].nunique() - 1} all-season held-out days) × every counterpart; "
        + (f"ablations on {abl['seed'].nunique()} seeds of {', '.join(abl['case'].unique())} "
           "only" if len(abl) else "no ablations")
        + f". **{wall_s / 60:.0f} min wall, {cpu_s / 60:.0f} min CPU** on one core of a "
        "shared 2-core host (torch 1 thread, one process).", "",
        "**Full budget** (not run here): `python benchmarks/bench_seed001_compare.py` (5 seeds, "
        "`Seed001Config()`: 3 × 256, batch 1024, 200 training days, all 24 held-out days, "
        "ablations on every seed). Every number below is what this run measured.", "",
        "Costs are the paper's objective on each day's AC voltages and losses (c_loss per MW = "
        "the env's 44 per p.u. of the 10 MVA base); `gap_pct` against the 24-h DistFlow "
        "optimum of the same day. Learned policies are played through the safety layer; "
        "`clips` are decisions that only asked for more (or less) than a device's box allows "
        "(the env's own projection, band intact), `repairs` the layer's Ipopt projections "
        "onto the band. `decision_ms` includes featurization and the layer. Learning curves: "
        "median over seeds of the greedy validation day cost (the training days, noise-free), "
        "the dashed line their 24-h optimum.", "",
        "![gaps and learning curves](seed001_compare.png)", "",
    ]  # fmt: skip
    for case in full["case"].unique():
        lines += section(frame, curves, case, base.learning_starts)
    paper = pd.DataFrame(PAPER, index=["avg loss", "avg V dev", "compliance %"]).T
    note = ("The paper's loss column is c_loss·P̄ in its units; ours is 4.4 $/MWh × P̄_loss "
            "(44 per p.u. of 10 MVA), so only orders of magnitude compare.")  # fmt: skip
    lines += ["## The paper's Table 4 (for reference)", "", markdown(paper), "", note, ""]
    (OUT / "seed001_compare.md").write_text("\n".join(lines + before_fix_section()))
    plot(full, curves)


def before_fix_section() -> list[str]:
    """The same benchmark at the quick actor rate of Table 3 (1e-4), kept from its run
    (``seed001_compare_lr1e-4.csv``) because it shows the collapse that set the quick rate to
    1e-5; empty if that file is absent."""
    csv = OUT / "seed001_compare_lr1e-4.csv"
    if not csv.exists():
        return []
    old = pd.read_csv(csv)
    intro = (
        "The quick budget first ran the actors at Table 3's 1e-4 (same command with "
        "`--set actor_lr=1e-4`; GRPO's rate was then 3 × `actor_lr` = 3e-4, its `grpo_lr` "
        "default now). At that rate the off-policy learners walked out of the voltage band "
        'within ≈ 100 updates (docs/methods/seed001.md, "Why the learners collapse at the quick '
        'budget"): 66 % of their greedy validations had a positive day cost, and model '
        "selection kept the untrained actor of DDPG and MASAC on 5/5 seeds. That run, 5 seeds "
        "× 25 days, measured on a host shared with two other benchmarks:"
    )
    lines = ["## Before the fix: quick actor rate 1e-4 (earlier run)", "", intro, ""]
    cols = ["compliance_before", "cost", "gap_pct_mean", "gap_pct_std_seeds", "gap_pct_max"]
    for case in old["case"].unique():
        full = old[(old["variant"] == "full") & (old["case"] == case)]
        lines += [f"### {case} at actor rate 1e-4", "", markdown(table4(full)[cols]), ""]
    return lines


def plot(full: pd.DataFrame, curves: dict) -> None:
    cases = list(full["case"].unique())
    fig, axes = plt.subplots(1, 1 + len(cases), figsize=(5 * (1 + len(cases)), 4))
    on = full[full["safety"] & (full["policy"] != "random")]
    seeds = on.groupby(["case", "policy", "seed"])["gap_pct"].mean()
    mean = seeds.groupby(["policy", "case"]).mean().unstack()
    std = seeds.groupby(["policy", "case"]).std(ddof=0).unstack()
    mean.plot.bar(ax=axes[0], yerr=std, capsize=2)
    axes[0].set_ylabel("gap to 24-h optimum, % (± std over seeds)")
    axes[0].set_title("mean gap, safety on", fontsize=9)
    for ax, case in zip(axes[1:], cases, strict=True):
        for name in LEARNED:
            runs = [np.array(v, float) for (c, s, n), v in curves.items()
                    if c == case and n == name and s >= 0 and v]  # fmt: skip
            if runs:
                n = min(len(r) for r in runs)
                ax.plot(runs[0][:n, 0], np.median([r[:n, 1] for r in runs], axis=0), label=name)
        ex = curves.get((case, -1, "exact-day"))
        if ex:
            ax.axhline(ex[0][1], color="k", ls="--", label="24-h optimum")
        # linear where the policies compete (≈ −4 000 … 0), logarithmic for the collapses
        ax.set_yscale("symlog", linthresh=5e3)
        ax.set_title(f"{case}: validation (median over seeds)", fontsize=9)
        ax.set_xlabel("env steps")
        ax.set_ylabel("greedy day cost (symlog beyond ±5 000)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "seed001_compare.png", dpi=110)
