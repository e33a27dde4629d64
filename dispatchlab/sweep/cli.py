"""The ``dispatchlab sweep`` command (registered in :mod:`dispatchlab.cli`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

DEFAULT_FUNCTION = "dispatchlab.sweep.tasks:solve_scaled_load"


def _parse_params(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values are read as JSON when they parse (numbers, true, null)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--param")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def sweep_command(
    cases: Annotated[list[str], typer.Argument(help="Library case names (or .m files).")],
    out: str = typer.Option(..., "--out", "-o", help="Output directory (resumed if it exists)."),
    scenarios: int = typer.Option(100, "--scenarios", "-n", min=1, help="Scenarios per case."),
    method: Annotated[list[str] | None, typer.Option("--method", "-m", help="Problems.")] = None,
    seed: Annotated[list[int] | None, typer.Option("--seed", "-s", help="Seeds.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE.")] = None,
    function: str = typer.Option(DEFAULT_FUNCTION, help="Task function, module:function."),
    backend: str = typer.Option("local", help="local (process pool) or ray."),
    address: str = typer.Option(None, help="Ray: 'auto' or HOST:PORT (none: a local Ray)."),
    workers: int = typer.Option(None, min=1, help="Local processes (default: all cores)."),
    timeout: float = typer.Option(None, help="Seconds per task before it is killed (> 0)."),
    memory_mb: float = typer.Option(None, help="MiB of address space a task may add (> 0)."),
    retries: int = typer.Option(1, min=0, help="Re-runs of a task whose worker died."),
    retry_failed: bool = typer.Option(False, help="Re-run tasks stored as failed."),
    flush_every: int = typer.Option(200, min=1, help="Rows per Parquet partition (at most)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Run (or resume) a sweep of CASES × scenarios × methods × seeds; print a summary.

    Exits 1 if a task of this run failed (error, timeout, memory, crashed; the first errors
    are printed), 2 on bad input (checked before any task starts).
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from dispatchlab.cli_common import bad_input
    from dispatchlab.sweep import BACKENDS, SweepError, make_grid, run_sweep

    if backend not in BACKENDS:
        raise typer.BadParameter(f"choose one of {', '.join(BACKENDS)}", param_hint="--backend")
    method, seed = method or ["dcopf"], seed or [0]
    common = _parse_params(param)
    config = {"scenarios": scenarios, "seeds": seed, "params": common}
    try:  # unknown case or problem, bad function, unwritable --out, no Ray cluster: exit 2
        tasks = make_grid(cases, scenarios, method, seed, common=common)
        report = run_sweep(
            function, tasks, out, backend=backend, workers=workers, address=address,
            timeout_s=timeout, memory_mb=memory_mb, retries=retries, retry_failed=retry_failed,
            flush_every=flush_every, progress=progress, config=config,
        )  # fmt: skip
    except (ValueError, TypeError, ImportError, AttributeError, SweepError) as exc:
        raise bad_input(exc) from exc
    table = Table(title="sweep summary", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in report.rows():
        table.add_row(key, Text(value))
    Console().print(table)
    for error in report.first_errors:  # one line each, whole (a table cell would wrap them)
        typer.secho(f"failed: {error}", fg=typer.colors.RED, err=True)
    if not report.ok:
        raise typer.Exit(1)
