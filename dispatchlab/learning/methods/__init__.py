"""Learned dispatch methods, one subpackage per paper, found through one registry.

A method registers a :class:`MethodSpec` in :data:`METHODS` under its checkpoint name; the CLI
builds ``dispatchlab train NAME``, ``dispatchlab compare NAME CKPT`` and the policy loader of
``dispatchlab evaluate ENV --policy CKPT`` from it, so adding a method adds an entry here and
its own ``cli.py``, never code in ``dispatchlab/cli.py``. Entries are ``"module:callable"``
strings, imported only when used.

What each entry must provide:

* ``train`` — a typer command function (its options are the method's); it has ``--quick`` (a
  budget that runs in < 60 s on 2 cores) and shows progress with the time left;
* ``compare`` — a typer command function ``(checkpoint, …)`` that plays the method and its exact
  counterparts on the same days and can write the per-day table (``--out``);
* ``load_policy`` — ``(path, env_name) -> policy(env, observations) -> actions``;
* ``leaderboard`` — ``(table: DataFrame, meta: dict) -> DataFrame``: the method's rows of
  ``docs/benchmarks/leaderboard.csv`` from its compare output (see ``benchmarks/leaderboard.py``);
* ``privacy`` / ``causal`` (optional) — typer command functions of ``dispatchlab privacy NAME
  CKPT`` (ε and membership inference of a checkpoint) and ``dispatchlab causal NAME``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class MethodSpec:
    """One learned method: what it is and where its entry points live."""

    name: str  #: checkpoint method name and CLI name, e.g. "seed000"
    paper: str  #: the paper, short citation
    envs: tuple[str, ...]  #: the environments its policies drive
    counterpart: str  #: its exact counterpart, as named in the leaderboard
    description: str  #: one line for --help
    train: str  #: "module:function", the typer command of ``dispatchlab train NAME``
    compare: str  #: "module:function", the typer command of ``dispatchlab compare NAME``
    load_policy: str  #: "module:function" (path, env_name) -> policy
    leaderboard: str | None = None  #: "module:function" (table, meta) -> leaderboard rows
    #: "module:function", the typer command of ``dispatchlab privacy NAME CKPT`` (optional)
    privacy: str | None = None
    #: "module:function", the typer command of ``dispatchlab causal NAME`` (optional)
    causal: str | None = None


_SEED000 = "dispatchlab.learning.methods.seed000"

METHODS: dict[str, MethodSpec] = {
    "seed000": MethodSpec(
        name="seed000",
        paper="Yin et al. 2026, hierarchical GNN + Dueling DQN",
        envs=("der-dispatch",),
        counterpart="exact per-decision MILP (env.oracle)",
        description="GCN price agent + Dueling-DQN edge controllers for DER dispatch",
        train=f"{_SEED000}.cli:train",
        compare=f"{_SEED000}.cli:compare",
        load_policy=f"{_SEED000}.method:policy_from_checkpoint",
        leaderboard=f"{_SEED000}.leaderboard:leaderboard_rows",
    ),
    # seed004 (issue 18): DGCN + MASRL on transmission-dispatch
    "seed004": MethodSpec(
        name="seed004",
        paper="seed004: topology-anchored dynamic GCN + symbiotic MARL (IEEE 30)",
        envs=("transmission-dispatch",),
        counterpart="perfect-foresight multi-period dispatch",
        description="DGCN + MASRL (task-masked KL, adaptive penalties) for transmission dispatch",
        train="dispatchlab.learning.methods.seed004.cli:train",
        compare="dispatchlab.learning.methods.seed004.cli:compare",
        load_policy="dispatchlab.learning.methods.seed004.method:policy_from_checkpoint",
        leaderboard="dispatchlab.learning.methods.seed004.leaderboard:leaderboard_rows",
        # issue 19: privacy of a federated checkpoint, causal effects on the exact dispatch
        privacy="dispatchlab.learning.methods.seed004.cli_privacy:privacy",
        causal="dispatchlab.learning.methods.seed004.cli_privacy:causal",
    ),
}


def method_spec(name: str) -> MethodSpec:
    """The spec of method ``name``; a clear error names the known ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method '{name}'; known: {', '.join(sorted(METHODS))}") from None


def resolve(entry: str) -> Any:
    """The object an entry ``"module:attr"`` names (its module imported now)."""
    module, _, attr = entry.partition(":")
    return getattr(import_module(module), attr)


__all__ = ["METHODS", "MethodSpec", "method_spec", "resolve"]
