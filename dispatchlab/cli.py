"""The ``dispatchlab`` command: it parses arguments and calls the library, nothing more."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from dispatchlab.cases.library import ENTRIES, list_cases, load_case

app = typer.Typer(
    help="dispatchlab: exact power-system dispatch beside learned methods.",
    no_args_is_help=True,
    add_completion=False,
)
cases_app = typer.Typer(help="Browse the case library.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")
console = Console()


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
        table.add_row(name, entry.group, entry.source)
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
    table = Table(title=f"case {case.name}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in summary.items():
        if isinstance(value, float):
            value = f"{value:,.4g}"
        table.add_row(key, str(value))
    console.print(table)


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
    table = Table(title=f"AC power flow of {case.name}: converged", show_header=False)
    table.add_column("quantity", style="bold")
    table.add_column("value")
    for key, value in result.summary().items():
        table.add_row(key, f"{value:,.6g}" if isinstance(value, float) else str(value))
    console.print(table)


def _load(name: str):
    from dispatchlab.cases.library import UnknownCaseError

    try:
        return load_case(name)
    except (UnknownCaseError, FileNotFoundError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


if __name__ == "__main__":
    app()
