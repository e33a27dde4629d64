"""``dispatchlab train seed000`` and ``dispatchlab compare seed000`` (docs/methods/seed000.md).

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
from dispatchlab.learning.reduce.cli import config_with

console = Console(width=None if sys.stdout.isatty() else 200)
CHECKPOINT_OUT = typer.Option(None, "--out", "-o", help="Checkpoint (.npz) to write.")
SETS = typer.Option(None, "--set", help="Seed000Config field NAME=VALUE (repeatable).")
CHECKPOINT = typer.Argument(..., help="A checkpoint written by `train seed000`.")
CSV_OUT = typer.Option(None, "--out", "-o", help="Write the per-day CSV here.")


def train(
    case: str = typer.Option("ieee33-seed000", help="Feeder with a 15-min time series."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seeds torch, replay, scenarios, GCN."),
    rounds: int = typer.Option(None, help="Training rounds (default: the config's)."),
    gcn: bool = typer.Option(True, "--gcn/--no-gcn", help="Also train the price GCN."),
    quick: bool = typer.Option(
        False, "--quick", help="A small budget (< 60 s on 2 cores): a smoke run, not a result."
    ),
    out: Path = CHECKPOINT_OUT,
    sets: list[str] | None = SETS,
) -> None:
    """Train seed000's regional price GCN and Dueling-DQN edge controllers; save a checkpoint."""
    from dispatchlab.cases.library import UnknownCaseError
    from dispatchlab.learning.methods.seed000.config import Seed000Config
    from dispatchlab.learning.methods.seed000.method import train as train_method

    base = Seed000Config.quick() if quick else Seed000Config()
    overrides = config_with(Seed000Config, sets)  # parses and checks each NAME=VALUE
    changes = {n: getattr(overrides, n) for n in (i.partition("=")[0] for i in sets or [])}
    changes.update(case=case, seed=seed, train_gcn=gcn)
    if rounds is not None:
        changes["rounds"] = rounds
    try:  # a bad --rounds / --case (no time series …): one line, exit 2, as docs/cli.md says
        cfg = base.replace(**changes)
        method = train_method(cfg, log=console.print, progress=True)
    except (*BAD_INPUT, UnknownCaseError) as exc:
        raise bad_input(exc) from exc
    path = method.save(out or Path(f"seed000-{case}-seed{seed}.npz"))
    curve = method.metrics["train_reward_curve_usd"]
    console.print(f"last round's mean day reward {curve[-1]:.2f} $; checkpoint: {path}")


def compare(
    checkpoint: Path = CHECKPOINT,
    days: int = typer.Option(5, help="Test days (scenario seeds first-day … first-day+days−1)."),
    first_day: int = typer.Option(0, help="First test scenario seed."),
    policies: str = typer.Option(
        "learned,exact,sp,mpc,hold,random",
        help="Comma-separated: learned, learned-gcn, exact, sp, mpc, hold, random.",
    ),
    safety: bool = typer.Option(True, "--safety/--no-safety", help="Safety layer on learned."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random policy and SP/MPC draws."),
    out: Path = CSV_OUT,
) -> None:
    """Play the learned controllers, the exact per-decision dispatch, two-stage SP, MPC and a
    random policy on identical test days; print seed000's metrics and the optimality gap."""
    from dispatchlab.learning.methods.seed000.compare import CompareConfig, summarize
    from dispatchlab.learning.methods.seed000.compare import compare as run_compare
    from dispatchlab.learning.methods.seed000.method import load_method

    method = load_checkpoint_arg(load_method, checkpoint)
    names = comma_list(policies)
    try:
        cfg = CompareConfig(
            days=days, first_day=first_day, policies=names, safety=safety, seed=seed
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--policies / --days") from None
    if "learned-gcn" in names and method.gcn is None:
        raise typer.BadParameter(
            "'learned-gcn' needs a checkpoint trained with the price GCN", param_hint="--policies"
        )
    table = run_compare(method, cfg)
    if out:
        table.to_csv(out, index=False)
    summary = summarize(table)
    console.print(
        summary_table(
            summary,
            f"seed000 vs exact counterparts, {days} test day(s), {checkpoint.name}",
            "metric (over days)",
        )
    )
    if method.gcn is not None:
        console.print(f"price GCN on held-out states: {method.gcn.metrics}")
