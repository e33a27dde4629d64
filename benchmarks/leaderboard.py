"""The learned-vs-exact leaderboard: docs/benchmarks/leaderboard.{csv,md,png} in one command.

Run: ``python benchmarks/leaderboard.py``. It reads each registered method's compare output
(``METHODS[name].leaderboard``; seed000: docs/benchmarks/seed000_compare.csv and its runs JSON,
written by ``benchmarks/bench_seed000_compare.py``) — it reruns nothing, so it takes a second;
rerun the methods' benchmarks first to refresh the numbers. Columns: see
:mod:`dispatchlab.learning.leaderboard`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dispatchlab.learning.leaderboard import COLUMNS
from dispatchlab.learning.methods import METHODS, resolve

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"


def collect(results_dir: Path) -> pd.DataFrame:
    """Every registered method's rows, in registry order."""
    frames = [
        resolve(spec.leaderboard)(results_dir)
        for spec in METHODS.values()
        if spec.leaderboard is not None
    ]
    return pd.concat(frames, ignore_index=True)[list(COLUMNS)]


def markdown(board: pd.DataFrame) -> str:
    """The page: how to regenerate it, what the columns mean, the table."""
    head = [
        "# Leaderboard: learned methods against their exact counterparts",
        "",
        "`python benchmarks/leaderboard.py` regenerates this page, [leaderboard.csv]"
        "(leaderboard.csv) and the plot from each method's compare output (it reruns nothing:",
        "rerun a method's benchmark, e.g. `benchmarks/bench_seed000_compare.py`, to refresh its",
        "rows). One row per (method, environment, policy); `gap_pct` is relative to the named",
        "exact counterpart on the same days, positive when the policy is worse.",
        "`violation_steps_raw` counts decisions whose proposal violated a limit before any",
        "safety layer (for a policy played through the layer: those it repaired or replaced);",
        "`violations_delivered` counts steps delivered with a violation. `decision_ms` is end to",
        "end per decision, `train_s` per training seed. A gap of `inf` means at least one",
        "proposal was infeasible on its own (seed003: a DER selection that cannot meet the tie",
        "limit until certification adds DERs back); the p99 column then shows how rare that is.",
        "Column definitions:",
        "`dispatchlab.learning.leaderboard`.",
        "",
        "![gap to exact per policy](leaderboard.png)",
        "",
    ]
    return "\n".join([*head, *table_lines(board)]) + "\n"


def table_lines(frame: pd.DataFrame) -> list[str]:
    """A pipe table (numbers right-aligned, 4 significant digits, NaN as —)."""

    def cell(v) -> str:
        if isinstance(v, float):
            return "—" if v != v else f"{v:.4g}"
        return str(v)

    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    lines = ["| " + " | ".join(frame.columns) + " |"]
    lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return lines


def plot(board: pd.DataFrame, path: Path) -> None:
    """Mean and max gap to exact per (method, policy), symmetric-log scale (random is far).

    An infinite gap (a proposal infeasible on its own, e.g. seed003's selections that cannot
    meet the tie limit before certification) has no bar and a ∞ ▶ at the right edge.
    """
    labels = board["method"] + " · " + board["policy"]
    mean, worst = board["gap_pct_mean"].to_numpy(float), board["gap_pct_max"].to_numpy(float)
    finite = np.concatenate([mean[np.isfinite(mean)], worst[np.isfinite(worst)], [1.0]])
    right = 3.0 * float(finite.max())
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(board) + 1.2))
    y = np.arange(len(board))
    ax.barh(y, np.where(np.isinf(mean), 0.0, mean), color="tab:blue", label="mean")
    ax.scatter(np.where(np.isinf(worst), right, worst), y, color="tab:red", marker="|", s=200,
               label="max")  # fmt: skip
    for row in np.flatnonzero(np.isinf(mean) | np.isinf(worst)):
        ax.annotate("∞ ▶", (right, row), ha="right", va="center", fontsize=8)
    ax.set_yticks(list(y), labels)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("gap to the exact counterpart (%), symlog; > 0 = worse; ∞ = infeasible proposal")
    low = float(min(np.nanmin(np.where(np.isfinite(mean), mean, 0.0)), 0.0))
    ax.set_xlim(left=-1.0 if low > -1.0 else 2.0 * low, right=right)
    ax.invert_yaxis()
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=OUT, help="compare outputs (in)")
    parser.add_argument("--out", type=Path, default=OUT, help="leaderboard files (out)")
    args = parser.parse_args()
    board = collect(args.results)
    args.out.mkdir(parents=True, exist_ok=True)
    board.to_csv(args.out / "leaderboard.csv", index=False, float_format="%.6g")
    (args.out / "leaderboard.md").write_text(markdown(board))
    plot(board, args.out / "leaderboard.png")
    print(board.to_string(index=False))


if __name__ == "__main__":
    main()
