"""``dispatchlab train seed004`` and ``dispatchlab compare seed004`` (docs/methods/seed004.md).

Registered in :data:`dispatchlab.learning.methods.METHODS`; the commands only parse arguments
and call :mod:`.method` and :mod:`.compare`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from dispatchlab.cli_common import BAD_INPUT, bad_input, comma_list
from dispatchlab.learning.reduce.cli import config_with

console = Console(width=None if sys.stdout.isatty() else 200)
CHECKPOINT_OUT = typer.Option(None, "--out", "-o", help="Checkpoint (.npz) to write.")
SETS = typer.Option(None, "--set", help="Seed004Config field NAME=VALUE (repeatable).")
CHECKPOINT = typer.Argument(..., help="A checkpoint written by `train seed004`.")
CSV_OUT = typer.Option(None, "--out", "-o", help="Write the per-day CSV here.")


def train(
    seed: int = typer.Option(0, "--seed", "-s", help="Seeds torch, exploration, day draws."),
    episodes: int = typer.Option(None, help="Training days (default: the config's, 1 200)."),
    quick: bool = typer.Option(
        False, "--quick", help="A small budget (< 60 s on 2 cores): a smoke run, not a result."
    ),
    out: Path = CHECKPOINT_OUT,
    sets: list[str] | None = SETS,
    federated: bool = typer.Option(
        False, "--federated", help="DP-FedAvg over the 3 regional clients (issue 19)."
    ),
    sigma: float = typer.Option(0.8, help="--federated: noise multiplier σ."),
    non_private: bool = typer.Option(False, "--non-private", help="--federated: no noise/clip."),
    clip: float = typer.Option(1.0, help="--federated: clipping norm C of a client update."),
    rounds: int | None = typer.Option(
        None, help="--federated: communication rounds (default 50; 1 with --quick)."
    ),
    sample_rate: float = typer.Option(1.0, help="--federated: client sampling rate q."),
    episodes_per_round: int | None = typer.Option(
        None, help="--federated: days per client per round (default 8; 2 with --quick)."
    ),
) -> None:
    """Train seed004's DGCN + MASRL actors and critics on the training days; save a checkpoint.
    With --federated: by differentially private federated averaging over ieee30's three areas
    (docs/methods/seed004-privacy.md)."""
    from dispatchlab.learning.methods.seed004.config import Seed004Config
    from dispatchlab.learning.methods.seed004.method import TRAIN_DAYS, Seed004Trainer

    overrides = config_with(Seed004Config, sets)  # parses and checks each NAME=VALUE
    changes = {n: getattr(overrides, n) for n in (i.partition("=")[0] for i in sets or [])}
    changes["seed"] = seed
    if episodes is not None:
        changes["episodes"] = episodes
    try:
        cfg = (Seed004Config.quick() if quick else Seed004Config()).replace(**changes)
        if federated:
            from dispatchlab.learning.methods.seed004.cli_privacy import train_federated

            # --quick shrinks the federation too: 50 rounds × 8 days × 3 clients is no smoke run
            rounds = rounds if rounds is not None else (1 if quick else 50)
            per_round = episodes_per_round if episodes_per_round is not None else 2 if quick else 8
            train_federated(config=cfg, sigma=None if non_private else sigma, clip=clip,
                            rounds=rounds, sample_rate=sample_rate,
                            episodes_per_round=per_round, out=out)  # fmt: skip
            return
        trainer = Seed004Trainer(cfg)
        summary = trainer.train_days(TRAIN_DAYS, cfg.episodes, log=console.print)
    except BAD_INPUT as exc:
        raise bad_input(exc) from exc
    path = trainer.save(out or Path(f"seed004-seed{seed}.npz"))
    stop = summary["stopped_early_at"]
    note = f", stopped early at {stop} (flat curve)" if stop else ""
    console.print(f"{summary['episodes']} episodes in {summary['train_s']:.0f} s{note}; {path}")


def compare(
    checkpoint: Path = CHECKPOINT,
    split: str = typer.Option("test", help="Days of this split (train, validation, test, all)."),
    days: int = typer.Option(None, help="Only the first this many days of the split."),
    policies: str = typer.Option(
        "learned,learned-raw,perfect,lookahead,oracle,cc-sced,mappo,maddpg,hold,random",
        help="Comma-separated: learned (with the safety layer), learned-raw, perfect, "
        "lookahead, oracle, cc-sced, mappo, maddpg, qmix (on an action grid), hold, random, "
        "interval-opf, deepopf, "
        "deepopf-raw, lstm-dispatch.",
    ),
    baseline_steps: int = typer.Option(20_000, help="Env steps of MAPPO / MADDPG / QMIX training."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random policy and MARL baseline seed."),
    out: Path = CSV_OUT,
) -> None:
    """Play the learned policy and its counterparts on the same days; print Tables 5–6."""
    from dispatchlab.learning.methods.seed004.compare import CompareConfig, split_days, summarize
    from dispatchlab.learning.methods.seed004.compare import compare as run_compare
    from dispatchlab.learning.methods.seed004.method import load_trainer

    names = comma_list(policies)
    try:
        cfg = CompareConfig(policies=names, split=split, days=days, seed=seed,
                            baseline_steps=baseline_steps)  # fmt: skip
        trainer = load_trainer(checkpoint)
        split_days(trainer, split)  # an unknown or empty split: one line, exit 2
        table = run_compare(trainer, cfg, log=console.print)
    except BAD_INPUT as exc:
        raise bad_input(exc) from exc
    if out:
        table.to_csv(out, index=False)
    summary = summarize(table)
    view = Table(title=f"seed004 vs counterparts, {split} split, {checkpoint.name}")
    view.add_column("policy", style="bold")
    for col in summary.columns:
        view.add_column(col, justify="right")
    for name, row in summary.iterrows():
        view.add_row(str(name), *(f"{v:,.4g}" for v in row.to_numpy(float)))
    console.print(view)
