"""The page of ``bench_seed002_compare.py``: Table 2 and Table 3 layouts, the ablations, a
verdict per paper claim and per issue target (every number from the run's table)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dispatchlab.learning.methods.seed002.compare import summarize
from dispatchlab.learning.methods.seed002.stats import paired_tests

COUNTERPARTS = ("exact", "opf-round", "mpc", "dqn", "hold", "random")
TRAINED = ("learned", "dqn", "no-pnn", "no-reduction", "no-sensitivity", "paper-rules")
FULL = (
    "python benchmarks/bench_seed002_compare.py  # 30 runs × 500 episodes at 15-min steps, "
    "DQN and every ablation 30 runs"
)


def _mean(table: pd.DataFrame, policy: str, col: str) -> float:
    rows = table[table["policy"] == policy]
    return float(rows[col].mean()) if len(rows) else float("nan")


def markdown(df: pd.DataFrame) -> str:
    """A markdown table (pandas' to_markdown needs tabulate, which is not a dependency)."""
    cells = [[str(c) for c in df.columns]]
    for row in df.itertuples(index=False):
        cells.append([f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    lines = ["| " + " | ".join(r) + " |" for r in cells]
    lines.insert(1, "|" + "---|" * len(df.columns))
    return "\n".join(lines)


def convergence_episode(curve: list[float], num_envs: int, tol: float = 0.05) -> int:
    """Episodes until the 5-round rolling mean of the training day reward first comes within
    ``tol`` (relative) of its plateau, the mean of the last 20 % of the rounds."""
    c = pd.Series(curve, dtype=float).rolling(5, min_periods=1).mean().to_numpy()
    plateau = float(np.mean(curve[-max(1, len(curve) // 5) :]))
    hit = np.flatnonzero(c >= plateau - tol * abs(plateau))
    return int((hit[0] + 1) * num_envs) if len(hit) else len(curve) * num_envs


def per_run(table: pd.DataFrame, meta: list[dict], num_envs: int) -> pd.DataFrame:
    """Trained policies: the day-mean of each run, then mean ± std over runs (the paper's ±),
    the median convergence episode and the mean training time."""
    out = []
    for policy in [p for p in TRAINED if p in set(table["policy"])]:
        g = table[table["policy"] == policy].groupby("run")
        runs = [r for r in meta if r["tag"] == policy]
        conv = [convergence_episode(r["curve"], num_envs) for r in runs if r["curve"]]
        row = {"policy": policy, "runs": int(g.ngroups)}
        for col in ("qualification_rate", "avg_loss_pu", "cost"):
            m = g[col].mean()
            row[col] = f"{m.mean():.4g} ± {m.std():.2g}" if len(m) > 1 else f"{m.mean():.4g}"
        row["converged_episode_median"] = f"{np.median(conv):.0f}" if conv else "—"
        row["train_s_mean"] = float(np.mean([r["train_s"] for r in runs])) if runs else np.nan
        out.append(row)
    return pd.DataFrame(out)


def ablation_tests(table: pd.DataFrame) -> pd.DataFrame:
    """Each ablation against learned on the same seeds and days (ablation − learned)."""
    rows = []
    for name in ("no-pnn", "no-reduction", "no-sensitivity", "paper-rules"):
        sub = table[table["policy"].isin([name, "learned"])]
        if name not in set(sub["policy"]) or sub[sub["policy"] == name]["run"].nunique() < 2:
            continue
        t = paired_tests(sub, method=name, metrics=("qualification_rate", "avg_loss_pu", "cost"))
        rows.append(t.assign(ablation=name))
    if not rows:
        return pd.DataFrame()
    t = pd.concat(rows, ignore_index=True)
    return t[
        [
            "ablation",
            "metric",
            "n_pairs",
            "learned_mean",
            "counterpart_mean",
            "t_p_holm",
            "wilcoxon_p_holm",
            "cohen_dz",
        ]
    ].rename(columns={"learned_mean": "ablation_mean", "counterpart_mean": "learned_mean"})


def verdicts(table: pd.DataFrame, meta: list[dict], extras: dict, num_envs: int) -> list[str]:
    """One line per claim of the paper, with the numbers."""
    m = lambda p, c: _mean(table, p, c)  # noqa: E731
    q, q_ex, q_opf, q_mpc, q_dqn = (
        m(p, "qualification_rate") for p in ("learned", "exact", "opf-round", "mpc", "dqn")
    )  # fmt: skip
    run_q = table[table["policy"] == "learned"].groupby("run")["qualification_rate"].mean()
    loss, loss_hold = m("learned", "avg_loss_pu"), m("hold", "avg_loss_pu")
    t, t_nored = m("learned", "time_per_cycle_ms"), m("no-reduction", "time_per_cycle_ms")
    cost, cost_nopnn = m("learned", "cost"), m("no-pnn", "cost")
    conv = {
        tag: np.median(
            [
                convergence_episode(r["curve"], num_envs)
                for r in meta
                if r["tag"] == tag and r["curve"]
            ]
            or [np.nan]
        )
        for tag in ("learned", "no-pnn")
    }
    n_ep = max(len(r["curve"]) for r in meta if r["tag"] == "learned") * num_envs
    yes = lambda ok: "**reproduced**" if ok else "**not reproduced**"  # noqa: E731
    return [
        f"- Table 2, MARL-PC qualification 98.7 ± 0.4 % (± over runs): measured "
        f"{100 * q:.1f} ± {100 * run_q.std():.1f} % over {len(run_q)} runs without the safety "
        f"layer → {yes(q >= 0.983)}. The exact per-step optimum reaches {100 * q_ex:.1f} %, so "
        f"an OPF at 92.5 % is not an exact OPF: our OPF-round reaches {100 * q_opf:.1f} %, the "
        f"two-layer MPC {100 * q_mpc:.1f} % (paper 86.2 %), the single-agent DQN "
        f"{100 * q_dqn:.1f} % (paper 83.1 %).",
        f"- Table 2, 2.1 s per cycle and OPF 5.8 s: the learned decision takes {t:.2f} ms, "
        f"OPF-round {m('opf-round', 'time_per_cycle_ms'):.0f} ms, exact "
        f"{m('exact', 'time_per_cycle_ms'):.0f} ms per step here; the ordering (learned ≪ OPF) "
        "is reproduced, the paper's seconds are its MATLAB/Simulink loop, not the method.",
        f"- Table 2, loss 0.0131 p.u. and deviation 0.041: measured {loss:.4f} p.u. and "
        f"{m('learned', 'avg_deviation_pu'):.4f} p.u. per step on our stress set (exact "
        f"{m('exact', 'avg_loss_pu'):.4f} and {m('exact', 'avg_deviation_pu'):.4f}); the paper's "
        "feeder loading is not given, so the absolute values are not comparable.",
        f'- "Decision time −34.2 %" from action compression: with the rules {t:.2f} ms, without '
        f"{t_nored:.2f} ms ({100 * (t / t_nored - 1):+.1f} %), the paper's rules alone "
        f"{m('paper-rules', 'time_per_cycle_ms'):.2f} ms → {yes(t <= 0.9 * t_nored)} in sign "
        "(timed on a shared 2-core host whose load changed between the phases: read the sign, "
        "not the size).",
        f'- "Loss −30.5 %" (before → after scheduling; holding the devices is before): '
        f"{100 * (loss / loss_hold - 1):+.1f} % → {yes(loss <= 0.75 * loss_hold)}. The exact "
        f"optimum itself is only {100 * (m('exact', 'avg_loss_pu') / loss_hold - 1):+.1f} % "
        "against hold: its objective also weighs deviation and violations.",
        '- "Max voltage deviation 1.679 → 1.589 p.u.": **physically impossible** — a deviation '
        "above 1 p.u. means a voltage below 0 or above 2 p.u.; here the largest per-step mean "
        f"deviation of any policy is {table['max_deviation_pu'].max():.3f} p.u.",
        f'- Ablation "without the PNN > 550 episodes to converge, −5 % reward": the training '
        f"curve reaches its plateau (5-round mean within 5 %) after a median {conv['no-pnn']:.0f} "
        f"episodes without the PNN vs {conv['learned']:.0f} with"
        + (
            " — i.e. from the first round: the rules and the S_VQ step carry the day reward, "
            "so no convergence time can be read from it"
            if max(conv.values()) <= 2 * num_envs
            else ""
        )
        + "; test-day step cost "
        f"{cost_nopnn:.3f} vs {cost:.3f} ({100 * (cost_nopnn / cost - 1):+.1f} % cost, i.e. "
        f"{100 * (1 - cost_nopnn / cost):+.1f} % reward; runs of {n_ep} episodes cannot show "
        "'> 550', and the ε decay over the run shapes the curve) → "
        f"{yes(cost_nopnn >= 1.05 * cost and conv['no-pnn'] > 1.1 * conv['learned'])}.",
        f"- Action reduction: the rules remove {100 * m('learned', 'share_removed'):.1f} % of "
        f"the joint ±1 move set; the exact optimum's position lies outside the reduced set at "
        f"{100 * extras['optimum_outside']:.1f} % of the steps (2 days, run 0).",
        "- PNN-kernel node-voltage prediction MAE < 0.01 p.u.: "
        f"{m('learned', 'voltage_mae_pu'):.4f} p.u.; persistence (V_t+1 = V_t) gets "
        f"{m('learned', 'persistence_mae_pu'):.4f}.",
    ]


def targets(table: pd.DataFrame, meta: list[dict], extras: dict, full_run_s) -> list[str]:
    """The issue's targets on the stress set: met or missed, by how much, and why."""
    m = lambda p, c: _mean(table, p, c)  # noqa: E731
    q, loss, loss_ex = m("learned", "qualification_rate"), *(
        m(p, "avg_loss_pu") for p in ("learned", "exact"))  # fmt: skip
    t, out = m("learned", "time_per_cycle_ms"), 100 * extras["optimum_outside"]
    safe_v, ex_v = m("learned-safe", "violation_steps"), m("exact", "violation_steps")
    train_s = max(r["train_s"] for r in meta if r["tag"] == "learned")
    ok = lambda b: "**met**" if b else "**missed**"  # noqa: E731
    full = (
        f"; at the issue's 500 episodes × 15-min steps one run takes ≈ {full_run_s / 60:.1f} "
        f"min (wall, extrapolated from a timed run at 15-min steps) → {ok(full_run_s <= 600)}"
        if full_run_s
        else ""
    )
    return [
        f"- Qualification ≥ 98 % before the safety layer: {100 * q:.1f} % → {ok(q >= 0.98)} "
        f"({100 * (q - 0.98):+.1f} points; {m('learned', 'violation_steps'):.2f} violating "
        "steps per day). Why: the actors move each device at most one position per step inside "
        f"the reduced set, and the exact optimum lies outside that set at {out:.0f} % of the "
        "steps; the SVG (±0.3 Mvar) cannot cover the rest.",
        f"- 0 delivered violations beyond the exact optimum's: learned-safe {safe_v:.2f} "
        f"violating steps per day vs exact {ex_v:.2f} → {ok(safe_v <= ex_v)}.",
        f"- Loss within 5 % of the exact optimum: {loss:.4f} vs {loss_ex:.4f} p.u. "
        f"({100 * (loss / loss_ex - 1):+.1f} %) → {ok(loss <= 1.05 * loss_ex)}; the same "
        "reason: one position per step from where the devices are, the optimum jumps.",
        f"- Decision ≤ 5 ms (PNN + rules + actors + S_VQ step): {t:.2f} ms → {ok(t <= 5)} "
        "(wall time per step on a shared host).",
        f"- Training ≤ 10 min per run: the longest run of this benchmark took {train_s:.0f} s "
        f"→ {ok(train_s <= 600)}{full}.",
    ]


def page(table, meta, extras, args, wall_s: float, command: str, full_run_s=None) -> str:
    tests = paired_tests(table[table["policy"].isin(["learned", *COUNTERPARTS])])
    t3 = tests[["counterpart", "metric", "n_pairs", "learned_mean", "counterpart_mean", "t",
                "t_p_holm", "wilcoxon_p_holm", "cohen_dz", "rank_biserial"]]  # fmt: skip
    gap = _mean(table, "opf-round", "rounding_gap_rel")
    abl = ablation_tests(table)
    scale = (
        f"**Scale: {args.runs} learned runs (seeds 0–{args.runs - 1}) × {args.episodes} "
        f"episodes at {args.dt_h} h steps (ε decayed over the {args.episodes} episodes); DQN "
        f"{args.dqn_runs} runs; ablations {args.ablation_runs} runs each; {args.days} stress "
        f"days; learned = the default `Seed002Config` (in_band_moves='{args.in_band_moves}').** "
        "Command: `{command}`; wall time {wall_s / 60:.1f} min on one core of a shared "
        "2-core host (torch 1 thread). Reduced from the issue's 500 episodes at 15-min steps to "
        f"fit the session's CPU budget. The issue's full scale: `{FULL}`."
    )
    return "\n\n".join(
        [
            "# seed002: PNN-assisted multi-agent actor-critic vs exact, OPF, MPC, DQN",
            scale,
            "Learned runs play **without** the safety layer (learned-safe: run 0 through it). "
            "Days are the stress set (never trained on); noise seed 0 on every day. "
            "no-pnn, no-reduction, no-sensitivity (and paper-rules, where the default admits "
            "in-band moves) are the ablations, trained with the same seeds and played like "
            "learned.",
            "## Table 2 layout (mean ± std over runs × days)",
            markdown(summarize(table).reset_index()),
            f"OPF-round's mean relative rounding gap (relaxed → rounded): {gap:.2e}.",
            "Trained policies, mean ± std over runs of each run's day mean (the paper's ±), the "
            "median episode where training converged, the mean training time (s):",
            markdown(per_run(table, meta, 8)),
            "## Table 3 layout: paired tests, learned vs each counterpart (Holm over the table)",
            "Pairs (run, day); the DQN is paired run by run (same seeds), a deterministic "
            "counterpart's day with every run.",
            markdown(t3),
            "## Ablations (paired with learned on the same seeds and days; Holm per ablation)",
            markdown(abl) if len(abl) else "(fewer than 2 runs per ablation: no tests)",
            "## Verdicts on the paper's claims",
            "\n".join(verdicts(table, meta, extras, 8)),
            "## The issue's targets (stress set)",
            "\n".join(targets(table, meta, extras, full_run_s)),
            "![seed002](seed002_compare.png)",
        ]
    )


def plot(table: pd.DataFrame, meta: list[dict], path) -> None:
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    g = table.groupby("policy", sort=False)
    g["qualification_rate"].mean().plot.bar(ax=ax[0], yerr=g["qualification_rate"].std())
    ax[0].set_ylabel("qualification rate")
    g["cost"].mean().plot.bar(ax=ax[1], yerr=g["cost"].std())
    ax[1].set_ylabel("mean step cost")
    for r in meta:
        if r["curve"]:
            ax[2].plot(r["curve"], alpha=0.4, color="C0" if r["tag"] == "learned" else "C1")
    ax[2].set_xlabel("round (8 episodes)")
    ax[2].set_ylabel("mean day reward (blue: learned, orange: ablations)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
