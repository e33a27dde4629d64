"""``dispatchlab train seed002`` and ``dispatchlab compare seed002`` (docs/methods/seed002.md).

Registered in :data:`dispatchlab.learning.methods.METHODS`; the commands only parse arguments
and call :mod:`.method`, :mod:`.compare` and :mod:`.stats`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from dispatchlab.cli_common import BAD_INPUT, bad_input, comma_list, load_checkpoint_arg

console = Console(width=None if sys.stdout.isatty() else 200)
CHECKPOINT_OUT = typer.Option(
    None, "--out", "-o", help="Checkpoint (.npz); run r > 0 gets '-runR' before the suffix."
)
CHECKPOINTS = typer.Argument(..., help="Checkpoints of `train seed002` (runs).")
CSV_OUT = typer.Option(None, "--out", "-o", help="Write the per-day CSV here.")


def train(
    runs: int = typer.Option(1, "--runs", help="Independent runs (seeds SEED … SEED+runs−1)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of the first run."),
    episodes: int = typer.Option(None, help="Training episodes (default: the config's 500)."),
    quick: bool = typer.Option(
        False, "--quick", help="A small budget (< 60 s on 2 cores): a smoke run, not a result."
    ),
    out: Path = CHECKPOINT_OUT,
) -> None:
    """Train seed002's PNN-assisted multi-agent actor-critic; one checkpoint per run."""
    from dispatchlab.learning.methods.seed002.config import Seed002Config
    from dispatchlab.learning.methods.seed002.method import train as train_method

    if runs < 1:
        raise bad_input(f"--runs must be ≥ 1, got {runs}")
    base = Seed002Config.quick() if quick else Seed002Config()
    out = out or Path(f"seed002-seed{seed}.npz")
    for r in range(runs):
        try:
            cfg = base.replace(seed=seed + r)
            if episodes is not None:
                cfg = cfg.replace(episodes=episodes)
            method = train_method(cfg, log=console.print, progress=True)
        except BAD_INPUT as exc:
            raise bad_input(exc) from exc
        path = out if r == 0 else out.with_name(f"{out.stem}-run{r}{out.suffix or '.npz'}")
        path = method.save(path)
        m = method.metrics
        console.print(
            f"run {r} (seed {seed + r}): last day reward {m['train_reward_curve'][-1]:.3f}, "
            f"{m['train_s']:.1f} s; checkpoint: {path}"
        )


def compare(
    checkpoints: list[Path] = CHECKPOINTS,
    days: str = typer.Option(None, "--days", help="Stress-set day indices, e.g. 0,1,2 (all)."),
    policies: str = typer.Option(
        "learned,exact,hold,random",
        help="Comma-separated: learned, learned-safe, exact, opf-round, mpc, dqn (trained "
        "here on the first checkpoint's budget), hold, random.",
    ),
    seed: int = typer.Option(0, "--seed", "-s", help="Noise seed of every day; random policy."),
    out: Path = CSV_OUT,
) -> None:
    """Play the learned runs and the counterparts on the same stress days; print Table 2 and
    the paired tests (Table 3; needs ≥ 2 checkpoints)."""
    from dispatchlab.learning.methods.seed002.compare import CompareConfig, summarize
    from dispatchlab.learning.methods.seed002.compare import compare as run_compare
    from dispatchlab.learning.methods.seed002.method import load_method
    from dispatchlab.learning.methods.seed002.stats import paired_tests

    methods = [load_checkpoint_arg(load_method, p) for p in checkpoints]
    names = comma_list(policies)
    try:
        day_ids = tuple(int(d) for d in days.split(",")) if days else None
        kw = {"days": day_ids} if day_ids else {}
        cfg = CompareConfig(policies=names, seed=seed, **kw)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--policies / --days") from None
    table = run_compare(methods, cfg)
    if out:
        table.to_csv(out, index=False)
    _print(summarize(table), f"seed002 on {len(cfg.days)} stress day(s), {len(methods)} run(s)")
    if "learned" in names and len(methods) >= 2:
        tests = paired_tests(table)
        cols = ["counterpart", "metric", "diff_mean", "t", "t_p_holm", "wilcoxon_p_holm",
                "cohen_dz"]  # fmt: skip
        _print(tests[cols].set_index("counterpart"), "paired tests (Holm-corrected)")
    elif "learned" in names:
        console.print("paired tests need ≥ 2 checkpoints (runs); got 1")
    extra = [c for c in ("share_removed", "voltage_mae_pu", "persistence_mae_pu") if c in table]
    if extra:
        learned = table[table["policy"] == "learned"][extra].mean()
        console.print(json.dumps({k: round(float(v), 5) for k, v in learned.items()}))


def _print(frame, title: str) -> None:
    view = Table(title=title)
    view.add_column(frame.index.name or "", style="bold")
    for col in frame.columns:
        view.add_column(str(col), justify="right")
    for idx, row in frame.iterrows():
        view.add_row(str(idx), *(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    console.print(view)
