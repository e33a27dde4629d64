"""seed004's causal claims against simulated interventions on ieee30-seed004.

Run: ``python benchmarks/bench_seed004_causal.py [--every 1] [--test-days 15] [--n-boot 200]``
(the defaults are the full study: all 90 days observed, the 15 test days re-simulated, 200
bootstrap resamples, 20 placebo permutations). The observed data are the exact
perfect-foresight dispatch of each day; every intervention re-solves the test days with the
same exact dispatch (do(wind p90 vs p50), load × 1.1, ratings × 0.9), and the g-computation
estimate from the observed data is compared with that simulated effect.
Results: docs/benchmarks/seed004_causal.md / .csv / .png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dispatchlab.cases.library import load_case
from dispatchlab.learning.methods.seed004.causal_data import dispatch_table
from dispatchlab.learning.methods.seed004.causal_study import CausalStudyConfig, causal_study

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"


def _plot(table: pd.DataFrame, path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (outcome, rows) in zip(axes, table.groupby("outcome", sort=False), strict=False):
        y = np.arange(len(rows))
        for dy, (col, label, color) in enumerate(
            (("ate_est", "estimated (g-computation)", "C0"), ("ate_sim", "simulated", "C3"))
        ):
            err = np.c_[rows[col] - rows[col + "_lo"], rows[col + "_hi"] - rows[col]].T
            ax.errorbar(rows[col], y + 0.15 * (dy - 0.5), xerr=np.abs(err), fmt="o",
                        color=color, label=label, capsize=3)  # fmt: skip
        paper = rows["paper"].to_numpy()
        ax.scatter(paper, y, marker="x", color="k", label="paper", zorder=3)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_yticks(y, rows["intervention"])
        ax.set_title(outcome)
    axes[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _fmt(v: float) -> str:
    if pd.isna(v):
        return "–"
    return "0" if abs(v) < 1e-6 else f"{v:+.3g}"  # solver noise (1e-10) is zero


def _verdicts(table: pd.DataFrame) -> list[str]:
    """One line per claim of the paper, from the numbers (no judgement added here)."""
    out = []
    for r in table[table["paper"].notna()].itertuples():
        sim_has = r.ate_sim_lo <= r.paper <= r.ate_sim_hi
        same_sign = np.sign(r.paper) == np.sign(r.ate_sim) and abs(r.ate_sim) > 1e-6
        verdict = (
            "reproduced"
            if sim_has
            else ("sign reproduced, size not" if same_sign else "not reproduced")
        )
        est = "inside" if r.est_in_sim_ci else "outside"
        overlap = "overlap" if r.cis_overlap else "do not overlap"
        out.append(
            f"- {r.intervention} → {r.outcome}: paper {r.paper:+g}; simulated "
            f"{_fmt(r.ate_sim)} [{_fmt(r.ate_sim_lo)}, {_fmt(r.ate_sim_hi)}]; our estimate "
            f"{_fmt(r.ate_est)} [{_fmt(r.ate_est_lo)}, {_fmt(r.ate_est_hi)}] ({est} the "
            f"simulated CI; the CIs {overlap}). **{verdict}**."
        )
    return out


def _markdown(table: pd.DataFrame, scale: str, command: str, post_hoc: str) -> str:
    lines = [
        "# seed004 causal analysis: estimated against simulated effects",
        "",
        f"**Scale of this run:** {scale}. Full study: `python benchmarks/"
        "bench_seed004_causal.py` (all 90 days observed, 15 test days, 200 resamples).",
        f"This page: `{command}`.",
        "",
        "| intervention | outcome | estimated ATE [95 % CI] | simulated ATE [95 % CI] | "
        "est. in sim. CI | CIs overlap | placebo [95 %] | LOCO range | RV | paper |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.intervention} | {r.outcome} | {_fmt(r.ate_est)} [{_fmt(r.ate_est_lo)}, "
            f"{_fmt(r.ate_est_hi)}] | {_fmt(r.ate_sim)} [{_fmt(r.ate_sim_lo)}, "
            f"{_fmt(r.ate_sim_hi)}] | {'yes' if r.est_in_sim_ci else 'no'} | "
            f"{'yes' if r.cis_overlap else 'no'} | "
            f"{_fmt(r.placebo)} [{_fmt(r.placebo_lo)}, {_fmt(r.placebo_hi)}] | "
            f"{_fmt(r.loco_min)} … {_fmt(r.loco_max)} | {r.robustness_value:.2f} | "
            f"{_fmt(r.paper)} |"
        )
    lines += ["", "## The paper's claims", "", *_verdicts(table), "", post_hoc, "",
              "Why an estimate misses its simulated CI where it does: "
              "[seed004 privacy and causality](../methods/seed004-privacy.md#estimated-against-"
              "simulated).", ""]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1, help="observe every N-th day")
    parser.add_argument("--test-days", type=int, default=15, help="last N days re-simulated")
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--n-placebo", type=int, default=20)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--render", metavar="SCALE", help="only rewrite the page from the CSV")
    args = parser.parse_args()
    if args.render:
        table = pd.read_csv(args.out / "seed004_causal.csv")
        _write(table, args, args.render)
        return
    test = tuple(range(90 - args.test_days, 90))
    observed = tuple(sorted(set(range(0, 90, args.every)) | set(test)))
    cfg = CausalStudyConfig(
        observed_days=observed, test_days=test, n_boot=args.n_boot, n_placebo=args.n_placebo
    )
    case = load_case("ieee30-seed004")
    t0 = time.perf_counter()
    before = dispatch_table(case, test)["cost_usd_per_mwh"].to_numpy()
    table, _ = causal_study(case, cfg, progress=print)
    after = dispatch_table(case, test)["cost_usd_per_mwh"].to_numpy()
    table["dispatch_change_usd_per_mwh"] = float(np.abs(after - before).max())
    table["post_hoc_intervals"] = len(before)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "seed004_causal.csv", index=False)
    scale = (
        f"{len(observed)} observed days (every {args.every}th + the test days), "
        f"{len(test)} test days, {args.n_boot} bootstrap resamples, {args.n_placebo} placebo "
        f"permutations; {time.perf_counter() - t0:.0f} s on the shared 2-core host"
    )
    _write(table, args, scale)


def _write(table: pd.DataFrame, args, scale: str) -> None:
    command = (
        f"python benchmarks/bench_seed004_causal.py --every {args.every} --test-days "
        f"{args.test_days} --n-boot {args.n_boot} --n-placebo {args.n_placebo}"
    )
    post_hoc = (
        f"**'Removing the causal module changes the dispatch metrics'** cannot hold: the "
        f"module only reads the dispatch. Measured: the exact dispatch cost of the test days "
        f"before and after running the whole study differs by at most "
        f"{table['dispatch_change_usd_per_mwh'].iloc[0]:.1e} $/MWh over "
        f"{table['post_hoc_intervals'].iloc[0]} intervals."
    )
    _plot(table, args.out / "seed004_causal.png")
    body = _markdown(table, scale, command, post_hoc)
    (args.out / "seed004_causal.md").write_text(body)
    print(body)


if __name__ == "__main__":
    main()
