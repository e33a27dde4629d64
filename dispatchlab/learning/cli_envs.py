"""The ``dispatchlab envs list`` and ``dispatchlab evaluate`` commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dispatchlab.cli_common import BAD_INPUT, bad_input
from dispatchlab.learning.envs import ENVS, env_spec, list_envs, make_env
from dispatchlab.sweep.cli import _parse_params

envs_app = typer.Typer(help="Dispatch environments (gymnasium / PettingZoo).", no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 160)


@envs_app.command("list")
def envs_list() -> None:
    """Each environment: its paper, API, default case, what it models and the metrics it reports."""
    table = Table(title=f"dispatchlab environments ({len(ENVS)})")
    for col in ("name", "paper", "api", "case", "vector", "description", "metrics"):
        table.add_column(col, style="bold" if col == "name" else None)
    for name in list_envs():
        spec = ENVS[name]
        table.add_row(
            name,
            spec.paper,
            spec.api,
            spec.case,
            "yes" if spec.vector_entry else "no",
            spec.description,
            ", ".join(spec.metrics),
        )
    console.print(table)


def evaluate_command(
    env: Annotated[str, typer.Argument(help="An environment name (see `envs list`).")],
    policy: str = typer.Option(
        "random", help="random, oracle, or a checkpoint .npz of a trained method."
    ),
    episodes: int = typer.Option(1, "--episodes", "-e", help="Episodes (seeds seed … seed+e−1)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of the first episode."),
    max_steps: int = typer.Option(None, help="Stop each episode after this many steps."),
    safety: bool = typer.Option(
        False, "--safety/--no-safety", help="Filter every decision through the env's safety layer."
    ),
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Environment option KEY=VALUE.")
    ] = None,
    day: Annotated[
        list[int] | None,
        typer.Option("--day", "-d", help="Scenario day to play (repeatable; replaces -e)."),
    ] = None,
) -> None:
    """Play a policy on an environment and print the paper's metrics and the violations."""
    from dispatchlab.learning.evaluate import EvaluationConfig, evaluate, summarize

    try:
        env_spec(env)
    except KeyError as err:
        raise typer.BadParameter(str(err.args[0]), param_hint="ENV") from None
    try:  # a bad option value, a missing or truncated checkpoint: one line, exit 2
        instance = make_env(env, **_parse_params(option))
        act = _policy(policy, env)
    except BAD_INPUT as err:
        raise bad_input(err) from err
    layer = None
    if safety:
        from dispatchlab.learning.safety import make_safety_layer

        try:
            layer = make_safety_layer(env, instance)
        except KeyError as err:
            raise typer.BadParameter(str(err.args[0]), param_hint="--safety") from None
    try:
        config = EvaluationConfig(
            episodes=episodes, seed=seed, max_steps=max_steps, days=tuple(day) if day else None
        )
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--episodes / --max-steps") from None
    try:  # a --day the env does not have is refused by its reset: one line, exit 2
        steps = evaluate(instance, act, config, safety=layer or False)
    except BAD_INPUT as err:
        raise bad_input(err) from err
    summary = summarize(steps).iloc[0]
    if layer is not None:
        stats = layer.stats
        summary["safety_repaired_share"] = stats.repaired_share
        for key, value in stats.as_dict().items():
            summary[f"safety_{key}"] = value
    title = f"{env}: policy {policy}{' + safety' if safety else ''}, {config.episodes} episode(s)"
    table = Table(title=title)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(str(key), f"{value:.6g}" if isinstance(value, float) else str(value))
    console.print(table)


def _policy(policy: str, env: str):
    if policy in ("random", "oracle"):
        return policy
    if Path(policy).suffix != ".npz" and not Path(policy).exists():  # a mistyped policy name
        raise ValueError(
            f"unknown policy {policy!r}: use random, oracle or a trained method's checkpoint .npz"
        )
    from dispatchlab.learning.policies import load_policy

    return load_policy(policy, env)
