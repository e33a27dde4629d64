"""What every ``dispatchlab`` subcommand shares: one-line errors for bad input (exit 2) and
help pages without type tags on flags."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

T = TypeVar("T")

#: errors a library call raises for input it refuses (a CheckpointError, a CaseValidationError,
#: a MatpowerParseError … are subclasses of these; UnknownCaseError, a KeyError, is caught
#: where a case is loaded)
BAD_INPUT = (ValueError, TypeError, FileNotFoundError, NotImplementedError)


def bad_input(error: Exception | str) -> typer.Exit:
    """Print ``error: <message>`` as one line on stderr; raise the returned ``Exit(2)``.

    The docs promise exit 2 and one line, no traceback, for bad input (docs/cli.md).
    """
    message = " ".join(
        str(error.args[0] if isinstance(error, KeyError) and error.args else error).split()
    )
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def hide_flag_types() -> None:
    """Typer ≥ 0.2x prints a ``<bool>`` type tag beside every flag (``--json <bool>``,
    ``--help <bool>``) although a flag takes no value; show the tag for valued options only."""
    from typer import core

    option = getattr(core, "TyperOption", None)
    original = getattr(option, "display_type_rich", None)
    if original is None or getattr(original, "_hides_flags", False):
        return  # an older typer: it never printed the tag

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else original(self, ctx)

    display_type_rich._hides_flags = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich


def summary_table(summary, title: str, label: str = "metric"):
    """A rich table of a compare summary (rows: metrics, columns: policies), 4 significant
    digits — what every ``dispatchlab compare METHOD`` prints."""
    from rich.table import Table

    view = Table(title=title)
    view.add_column(label, style="bold")
    for name in summary.index:
        view.add_column(str(name), justify="right")
    for col in summary.columns:
        view.add_row(col, *(f"{v:,.4g}" for v in summary[col].to_numpy()))
    return view


def comma_list(text: str) -> tuple[str, ...]:
    """``"a, b,,c"`` → ``("a", "b", "c")``: the names of a ``--policies``-style option."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


def load_checkpoint_arg(load: Callable[[Path], T], path: Path) -> T:
    """``load(path)`` for a CHECKPOINT argument; a checkpoint of another method, case or agent
    set, or a missing file, becomes typer's usage error on CHECKPOINT (exit 2)."""
    from dispatchlab.learning.checkpoint import CheckpointError

    try:
        return load(path)
    except (CheckpointError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc), param_hint="CHECKPOINT") from None
