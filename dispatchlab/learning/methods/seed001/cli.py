"""``dispatchlab train seed001`` and ``dispatchlab compare seed001`` (docs/methods/seed001.md).

Registered in :data:`dispatchlab.learning.methods.METHODS`; the commands only parse arguments
and call :mod:`.method`, :mod:`.baselines` and :mod:`.compare`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from dispatchlab.cli_common import BAD_INPUT, bad_input, comma_list, load_checkpoint_arg
from dispatchlab.learning.reduce.cli import config_with

console = Console(width=None if sys.stdout.isatty() else 200)


CASE = typer.Option("ieee33-seed001-mw", help="Feeder: ieee33-seed001(-mw).")
SEED = typer.Option(0, "--seed", "-s", help="Seeds torch, replay, days, episodes.")
CHECKPOINT_OUT = typer.Option(None, "--out", "-o", help="Checkpoint (.npz) to write.")
SETS = typer.Option(None, "--set", help="Seed001Config field NAME=VALUE (repeatable).")
BASELINES = typer.Option(
    "",
    help="Also train these counterparts (ddpg,maddpg,masac,grpo) on the same budget; each is "
    "written beside OUT as <stem>-<name>.npz for `compare`.",
)
QUICK = typer.Option(
    False, "--quick", help="A small budget (< 60 s on 2 cores): a smoke run, not a result."
)
CHECKPOINT = typer.Argument(..., help="A checkpoint written by `train seed001`.")
DAYS = typer.Option(
    "test", help="test, heldout, train, coach, all, or comma-separated dates of the pool."
)
POLICIES = typer.Option(
    "learned,exact-day,exact-step,hold,random",
    help="Comma-separated: learned, maddpg, ddpg, masac, grpo, exact-day, exact-step, hold, "
    "random (counterparts need `train --baselines`).",
)
SAFETY = typer.Option(True, "--safety/--no-safety", help="Safety layer on learned policies.")
RANDOM_SEED = typer.Option(0, "--seed", "-s", help="The random policy's draws.")
CSV_OUT = typer.Option(None, "--out", "-o", help="Write the per-day CSV here.")


def train(
    case: str = CASE,
    seed: int = SEED,
    out: Path = CHECKPOINT_OUT,
    sets: list[str] | None = SETS,
    baselines: str = BASELINES,
    quick: bool = QUICK,
) -> None:
    """Train seed001's information-fusion MADDPG on the JJA centre days; save a checkpoint."""
    from dispatchlab.cases.library import UnknownCaseError
    from dispatchlab.learning.methods.seed001.baselines import (
        BASELINES,
        save_baseline,
        train_baseline,
    )
    from dispatchlab.learning.methods.seed001.config import Seed001Config
    from dispatchlab.learning.methods.seed001.method import train as train_method

    names = [b.strip() for b in baselines.split(",") if b.strip()]
    unknown = [b for b in names if b not in BASELINES]
    if unknown:
        valid = ", ".join(BASELINES)
        msg = f"unknown counterpart(s) {unknown}; valid: {valid}"
        raise typer.BadParameter(msg, param_hint="--baselines")
    base = Seed001Config.quick() if quick else Seed001Config()
    overrides = config_with(Seed001Config, sets)  # parses and checks each NAME=VALUE
    changes = {n: getattr(overrides, n) for n in (i.partition("=")[0] for i in sets or [])}
    try:
        cfg = base.replace(**changes, case=case, seed=seed)
        method = train_method(cfg, log=console.print)
    except (*BAD_INPUT, UnknownCaseError) as exc:
        raise bad_input(exc) from exc
    path = method.save(out or Path(f"seed001-{case}-seed{seed}.npz"))
    console.print(f"{method.metrics['updates']} updates in {method.metrics['train_s']:.0f} s; "
                  f"checkpoint: {path}")  # fmt: skip
    for name in names:
        agent, metrics = train_baseline(name, cfg, log=console.print)
        console.print(f"{name}: {save_baseline(sibling(path, name), name, cfg, agent, metrics)}")


def sibling(path: Path, name: str) -> Path:
    """Where counterpart ``name`` of checkpoint ``path`` lives: ``<stem>-<name>.npz``."""
    return Path(path).with_name(f"{Path(path).stem}-{name}.npz")


def compare(
    checkpoint: Path = CHECKPOINT,
    days: str = DAYS,
    policies: str = POLICIES,
    safety: bool = SAFETY,
    seed: int = RANDOM_SEED,
    out: Path = CSV_OUT,
) -> None:
    """Play the learned policy, its counterparts, the 24-h optimum and the per-step AC-OPF on
    the same days; print Table 4's metrics and the gap to the 24-h optimum."""
    from dispatchlab.learning.checkpoint import CheckpointError
    from dispatchlab.learning.methods.seed001.baselines import load_baseline
    from dispatchlab.learning.methods.seed001.compare import CompareConfig, summarize
    from dispatchlab.learning.methods.seed001.compare import compare as run_compare
    from dispatchlab.learning.methods.seed001.data import day_sets, make_day_env
    from dispatchlab.learning.methods.seed001.method import load_method

    method = load_checkpoint_arg(load_method, checkpoint)
    cfg = method.config
    sets = day_sets(cfg.case, cfg.pool_seed, cfg.n_train, cfg.heldout_per_cluster)
    names = comma_list(policies)
    try:
        ccfg = CompareConfig(sets.named(days), names, safety, seed, cfg.case, cfg.pool_seed)
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc).strip("'\""), param_hint="--policies / --days") from None
    env = make_day_env(cfg, ccfg.days, noise=False)
    loaded = {"learned": method.policy()}
    for name in set(names) & {"maddpg", "ddpg", "masac", "grpo"}:
        try:
            loaded[name] = load_baseline(sibling(checkpoint, name), name, env)
        except (CheckpointError, FileNotFoundError) as exc:
            hint = f"train it with `dispatchlab train seed001 --baselines {name} -o {checkpoint}`"
            raise typer.BadParameter(f"{exc} ({hint})", param_hint="--policies") from None
    table = run_compare(loaded, env, ccfg)
    if out:
        table.to_csv(out, index=False)
    console.print(
        f"seed001 on {len(ccfg.days)} day(s) ({days}), safety {'on' if safety else 'off'}"
    )
    console.print(summarize(table).to_string(float_format=lambda v: f"{v:,.4g}"))
