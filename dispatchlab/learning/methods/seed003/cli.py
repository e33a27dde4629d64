"""``dispatchlab train seed003`` and ``dispatchlab compare seed003`` (docs/methods/seed003.md).

Registered in :data:`dispatchlab.learning.methods.METHODS`; the commands only parse arguments
and call :mod:`.method` and :mod:`.compare`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from dispatchlab.cli_common import (
    BAD_INPUT,
    bad_input,
    comma_list,
    load_checkpoint_arg,
    summary_table,
)

console = Console(width=None if sys.stdout.isatty() else 200)
CHECKPOINT_OUT = typer.Option(None, "--out", "-o", help="Checkpoint (.npz) to write.")
CHECKPOINT = typer.Argument(..., help="A checkpoint written by `train seed003`.")
CSV_OUT = typer.Option(None, "--out", "-o", help="Write the per-minute CSV here.")


def train(
    episodes: int = typer.Option(None, help="A2C episodes (default: the config's 3 000)."),
    seed: int = typer.Option(
        0, "--seed", "-s", help="Seeds the partition search, A2C and the training days."
    ),
    quick: bool = typer.Option(
        False, "--quick", help="A small budget (< 60 s on 2 cores): a smoke run, not a result."
    ),
    out: Path = CHECKPOINT_OUT,
) -> None:
    """Partition the feeder by MCTS-RL, train the MLFACC actors and critic; save a checkpoint
    (partition, DDMM thresholds, weights)."""
    from dispatchlab.learning.methods.seed003.config import Seed003Config
    from dispatchlab.learning.methods.seed003.method import train as train_method

    base = Seed003Config.quick() if quick else Seed003Config()
    changes = {"seed": seed} | ({"episodes": episodes} if episodes is not None else {})
    try:
        cfg = base.replace(**changes)
        method = train_method(cfg, log=console.print, progress=True)
    except BAD_INPUT as exc:
        raise bad_input(exc) from exc
    path = method.save(out or Path(f"seed003-seed{seed}.npz"))
    curve = method.metrics["train_reward_curve"]
    console.print(
        f"last batch's mean reward {curve[-1]:.3f}; {method.metrics['train_s']:.1f} s; "
        f"checkpoint: {path}"
    )


def compare(
    checkpoint: Path = CHECKPOINT,
    minutes: int = typer.Option(1440, help="Minutes of each day, evenly spread over 24 h."),
    days: int = typer.Option(1, help="Day seeds (centroid draws) first-day … first-day+days−1."),
    first_day: int = typer.Option(0, help="First day seed (training used ≥ 10 000)."),
    case: str = typer.Option("normal", "--case", help="normal, dynamic or congestion."),
    policies: str = typer.Option(
        "mlfacc,lf-rank,random,oracle-topk,full", help="Comma-separated policies."
    ),
    seed: int = typer.Option(0, "--seed", "-s", help="The random policy's draws."),
    out: Path = CSV_OUT,
) -> None:
    """Play MLFACC, the loss-adjusted ranking, random k, the oracle's top k and the full LP on
    the same minutes, every selection certified and repaired to the full optimum."""
    from dispatchlab.learning.methods.seed003.compare import CompareConfig, summarize
    from dispatchlab.learning.methods.seed003.compare import compare as run_compare
    from dispatchlab.learning.methods.seed003.method import load_method

    method = load_checkpoint_arg(load_method, checkpoint)
    names = comma_list(policies)
    try:
        cfg = CompareConfig(
            minutes=minutes, days=tuple(range(first_day, first_day + days)), policies=names,
            seed=seed,
        )  # fmt: skip
        task = method.task(kind=case)
        table = run_compare(method, cfg, task)
    except BAD_INPUT as exc:
        raise bad_input(exc) from exc
    if out:
        table.to_csv(out, index=False)
    summary = summarize(table)
    console.print(
        summary_table(
            summary, f"seed003 ({case}), {days} day(s) × {minutes} minute(s), {checkpoint.name}"
        )
    )
