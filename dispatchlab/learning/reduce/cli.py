"""``dispatchlab reduce fit|evaluate``: train a learned reduction on a dataset, or check one.

The command only parses arguments and calls the method. A method is a class named in
:data:`REGISTRY` (imported on use) with a ``Config`` dataclass, ``fit(dataset)`` (the
DataFrame read from the Parquet file given), ``save(path)``, ``load(path)`` and, for
``evaluate``, ``evaluate(dataset) -> DataFrame`` (one row per point, with ``rel_gap`` to the
exact objective and ``certified``). Config fields are set with ``--set name=value``.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from pathlib import Path
from typing import Any

import typer

#: method name -> "module:Class"
REGISTRY = {
    "screening": "dispatchlab.learning.reduce.screening:ConstraintScreening",
    "pruning": "dispatchlab.learning.reduce.pruning:VariablePruning",
    "warmstart": "dispatchlab.learning.reduce.warmstart:WarmStart",
}

reduce_app = typer.Typer(
    help="Learned reductions of exact solvers, certified (docs/reduce.md).",
    no_args_is_help=True,
)

METHOD = typer.Option("screening", "--method", "-m", help=f"One of {', '.join(REGISTRY)}.")
SETS = typer.Option(None, "--set", help="Config field override NAME=VALUE (repeatable).")
DATASET = typer.Argument(..., help="Dataset (Parquet) written by the method's builder.")
CHECKPOINT_OUT = typer.Option(..., "--out", "-o", help="Checkpoint to write (.npz).")
CHECKPOINT = typer.Argument(..., help="A checkpoint written by `reduce fit`.")
CSV_OUT = typer.Option(None, "--out", "-o", help="Write the per-point CSV here.")
GAP_TOL = typer.Option(1e-6, help="Largest relative objective gap accepted.")


def reduction_class(method: str) -> type:
    """The class registered as ``method`` (imported now)."""
    if method not in REGISTRY:
        raise typer.BadParameter(f"unknown method '{method}'; choose one of {list(REGISTRY)}",
                                 param_hint="--method")  # fmt: skip
    module, _, name = REGISTRY[method].partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise typer.BadParameter(f"method '{method}' ({REGISTRY[method]}) is not available: "
                                 f"{exc}", param_hint="--method") from exc  # fmt: skip


def config_with(cls: type, items: list[str] | None) -> Any:
    """``cls()`` with ``NAME=VALUE`` overrides converted to each field's type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        if not sep or name not in fields:
            raise typer.BadParameter(f"'{item}': expected NAME=VALUE with NAME one of "
                                     f"{sorted(fields)}", param_hint="--set")  # fmt: skip
        values[name] = _convert(raw, hints[name], item)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--set") from exc


def _convert(raw: str, hint: Any, item: str) -> Any:
    kinds = [hint] if typing.get_origin(hint) is None else list(typing.get_args(hint))
    if raw.lower() in ("none", "null") and type(None) in kinds:
        return None
    for kind in kinds:
        try:
            if kind is bool:
                if raw.lower() in ("true", "1", "yes", "false", "0", "no"):
                    return raw.lower() in ("true", "1", "yes")
                continue
            if kind in (int, float, str):
                return kind(raw)
        except ValueError:
            continue
    raise typer.BadParameter(f"'{item}': cannot read '{raw}' as {hint}", param_hint="--set")


def read_table(path: Path) -> Any:
    """The dataset at ``path`` as a DataFrame (Parquet)."""
    import pandas as pd

    if not path.exists():
        raise FileNotFoundError(f"dataset {path} does not exist")
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a Parquet dataset ({exc})") from exc


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


@reduce_app.command("fit")
def fit_command(
    dataset: Path = DATASET,
    out: Path = CHECKPOINT_OUT,
    method: str = METHOD,
    sets: list[str] = SETS,
) -> None:
    """Fit a reduction on DATASET and save its checkpoint."""
    cls = reduction_class(method)
    config = config_with(cls.Config, sets)
    try:
        path = cls(config).fit(read_table(dataset)).save(out)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        raise _fail(exc) from exc
    typer.echo(f"{method}: fitted on {dataset}, saved {path}")


@reduce_app.command("evaluate")
def evaluate_command(
    checkpoint: Path = CHECKPOINT,
    dataset: Path = DATASET,
    method: str = METHOD,
    out: Path | None = CSV_OUT,
    gap_tol: float = GAP_TOL,
) -> None:
    """Solve every point of DATASET with the reduction; exit 1 if one misses the optimum."""
    cls = reduction_class(method)
    if not callable(getattr(cls, "evaluate", None)):
        raise _fail(
            NotImplementedError(f"method '{method}' ({REGISTRY[method]}) has no evaluate()")
        )
    try:
        df = cls.load(checkpoint).evaluate(read_table(dataset))
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        raise _fail(exc) from exc
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False)
    exact = df["rel_gap"] <= gap_tol
    typer.echo(f"{method}: {int(exact.sum())} of {len(df)} points at the exact optimum "
               f"(rel. gap ≤ {gap_tol:g}; worst {df['rel_gap'].max():.2e})")  # fmt: skip
    numeric = df.select_dtypes("number").drop(columns=["rel_gap"], errors="ignore")
    for col in numeric.columns:
        s = numeric[col]
        typer.echo(f"  {col:<16} mean {s.mean():.6g}  max {s.max():.6g}")
    if "certified" in df:
        typer.echo(f"  certified        {int(df['certified'].sum())} of {len(df)}")
    if not exact.all():
        raise typer.Exit(1)
