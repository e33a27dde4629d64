"""The ``dispatchlab`` command: it parses arguments and calls the library, nothing more."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dispatchlab.cases.library import ENTRIES, list_cases, load_case
from dispatchlab.cli_common import BAD_INPUT, bad_input, hide_flag_types
from dispatchlab.learning.cli_envs import envs_app, evaluate_command
from dispatchlab.learning.cli_methods import causal_app, compare_app, privacy_app, train_app
from dispatchlab.learning.reduce.cli import reduce_app
from dispatchlab.sweep.cli import sweep_command as _sweep_command

hide_flag_types()
app = typer.Typer(
    help="dispatchlab: exact power-system dispatch beside learned methods.",
    no_args_is_help=True,
    add_completion=False,
)
cases_app = typer.Typer(help="Browse the case library.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")
# rich falls back to 80 columns when stdout is not a terminal (CI, pipes): tables of LMPs
# need more, so give them room there.
console = Console(width=None if sys.stdout.isatty() else 160)


@cases_app.command("list")
def cases_list(
    group: str = typer.Option(
        None, help="Only one group: distribution, transmission, pglib, pandapower, activsg, seed."
    ),
) -> None:
    """List the cases that `load_case` accepts, with their source."""
    names = list_cases(group)
    if not names:
        raise typer.BadParameter(f"no case in group '{group}'", param_hint="--group")
    table = Table(title=f"dispatchlab cases ({len(names)})")
    table.add_column("name", style="bold")
    table.add_column("group")
    table.add_column("source")
    for name in names:
        entry = ENTRIES[name]
        # Text, not markup: "pip install 'dispatchlab[activsg]'" lost its [activsg] as a tag
        table.add_row(name, entry.group, Text(entry.source))
    console.print(table)


@cases_app.command("show")
def cases_show(
    name: str = typer.Argument(..., help="A library name (see `cases list`) or a .m/.json file."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Sizes, total load, DERs and limits of one case."""
    case = _load(name)
    summary = case.summary()
    if as_json:
        typer.echo(json.dumps(summary, default=str, indent=2))
        return
    _print_mapping(f"case {case.name}", summary)


@app.command("pf")
def powerflow(
    name: str = typer.Argument(..., help="A library name or a .m/.json file."),
) -> None:
    """Solve the AC power flow of a case (pandapower Newton–Raphson) and print a summary."""
    from dispatchlab.solvers.powerflow import PowerFlowError, run_ac_powerflow

    case = _load(name)
    try:
        result = run_ac_powerflow(case)
    except PowerFlowError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    _print_mapping(f"AC power flow of {case.name}: converged", result.summary())


#: the Result tables ``solve --show`` prints
SHOW_TABLES = ("bus", "gen", "branch", "der", "storage", "system", "none")


@app.command("solve")
def solve_command(
    name: str = typer.Argument(..., help="A library name or a .m/.json file."),
    problem: str = typer.Option("dcopf", "--problem", "-p", help="ed, dcopf, multiperiod, sced …"),
    formulation: str = typer.Option(
        None,
        help="copperplate, btheta, ptdf; for dcopf also lazy and auto, its default "
        "(lazy PTDF rows from 1000 buses on, else btheta).",
    ),
    backend: str = typer.Option(
        "auto",
        help="auto (the merit order for a copper-plate single-period ed, else HiGHS for LPs, "
        "Clarabel for QPs), highs, clarabel, pyomo or merit.",
    ),
    periods: str = typer.Option(None, help="Multi-period: a number of steps (≥ 1) or 'all'."),
    show: str = typer.Option(
        "bus", help="Table to print: bus, gen, branch, der, storage, system, none."
    ),
    rows: int = typer.Option(20, min=0, help="Print at most this many rows of the table."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    allow_shedding: bool = typer.Option(
        False, "--allow-shedding", help="Shed load at VOLL instead of reporting infeasible."
    ),
) -> None:
    """Solve a dispatch problem and print its summary and one result table (LMPs by default)."""
    from dispatchlab.solvers.api import solve

    if show not in SHOW_TABLES:  # before solving: a typo should not cost a solve
        raise typer.BadParameter(
            f"unknown table '{show}'; use one of {SHOW_TABLES}", param_hint="--show"
        )
    options = {} if formulation is None else {"formulation": formulation}
    if periods is not None:
        options["periods"] = _periods(periods)
    if allow_shedding:  # off by default, as in the API: an infeasible case says so
        options["allow_shedding"] = True
    case = _load(name)
    try:
        result = solve(case, problem, backend=backend, **options)
    except BAD_INPUT as exc:
        raise bad_input(exc) from exc
    summary = result.summary()
    if as_json:
        typer.echo(json.dumps(summary, default=str, indent=2))
    else:
        _print_mapping(f"{problem} on {case.name}: {result.status}", summary)
    if result.diagnosis is not None and len(result.diagnosis):
        _print_frame("diagnosis: slack needed", result.diagnosis, rows)
    if show != "none" and result.optimal:
        _print_frame(f"{show} table", getattr(result, show), rows)
    if not result.optimal:
        raise typer.Exit(1)


app.command("sweep")(_sweep_command)  # dispatchlab/sweep/cli.py: grid sweeps, local or Ray
app.add_typer(envs_app, name="envs")  # dispatchlab/learning/cli_envs.py
app.command("evaluate")(evaluate_command)
app.add_typer(reduce_app, name="reduce")  # dispatchlab/learning/reduce/cli.py
app.add_typer(train_app, name="train")  # dispatchlab/learning/cli_methods.py (METHODS)
app.add_typer(compare_app, name="compare")
app.add_typer(privacy_app, name="privacy")  # METHODS entries with a `privacy` command
app.add_typer(causal_app, name="causal")  # METHODS entries with a `causal` command


def _periods(text: str) -> int | str:
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise typer.BadParameter(
            f"expected a whole number ≥ 1 or 'all', got {text!r}", param_hint="--periods"
        )
    return value


def _print_mapping(title: str, mapping: dict) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in mapping.items():
        table.add_row(key, Text(f"{value:,.6g}" if isinstance(value, float) else str(value)))
    console.print(table)


def _print_frame(title: str, frame, rows: int) -> None:
    table = Table(title=f"{title} ({len(frame)} rows)")
    index_names = [n or "index" for n in frame.index.names]
    for col in [*index_names, *frame.columns]:
        table.add_column(str(col), justify="right")
    for idx, row in frame.head(rows).iterrows():
        idx = idx if isinstance(idx, tuple) else (idx,)
        cells = [str(i) for i in idx] + [
            f"{v:,.4f}" if isinstance(v, float) else str(v) for v in row.to_numpy()
        ]
        table.add_row(*cells)
    console.print(table)


def _load(name: str):
    """The case, or one line and exit 2 (unknown name, missing file, a file that does not parse
    or validate: the message names file, line and element)."""
    from dispatchlab.cases.library import UnknownCaseError

    try:
        return load_case(name)
    except (*BAD_INPUT, UnknownCaseError, OSError) as exc:
        raise bad_input(exc) from exc


if __name__ == "__main__":
    app()
