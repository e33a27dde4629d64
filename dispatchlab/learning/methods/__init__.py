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


def _spec(name: str, **fields: Any) -> MethodSpec:
    """A spec whose entry points live in ``dispatchlab.learning.methods.<name>``'s usual modules."""
    pkg = f"dispatchlab.learning.methods.{name}"
    return MethodSpec(
        name=name,
        train=f"{pkg}.cli:train",
        compare=f"{pkg}.cli:compare",
        load_policy=f"{pkg}.method:policy_from_checkpoint",
        leaderboard=f"{pkg}.leaderboard:leaderboard_rows",
        **fields,
    )


METHODS: dict[str, MethodSpec] = {
    "seed000": _spec(
        "seed000",
        paper="Yin et al. 2026, hierarchical GNN + Dueling DQN",
        envs=("der-dispatch",),
        counterpart="exact per-decision MILP (env.oracle)",
        description="GCN price agent + Dueling-DQN edge controllers for DER dispatch",
    ),
    "seed001": _spec(
        "seed001",
        paper="Dou et al. 2025, information-fusion MADDPG under extreme scenarios",
        envs=("voltage-control",),
        counterpart="24-h distflow optimum (exact-day) and per-step AC-OPF (env.oracle)",
        description="MADDPG with typed noisy critics, hybrid replay and coach data (voltage)",
    ),
    "seed002": _spec(
        "seed002",
        paper="Lin et al. 2026, PNN-assisted multi-agent actor-critic for reactive power/voltage",
        envs=("voltage-control-discrete",),
        counterpart="exact per-step optimum (env.oracle: taps x capacitors, SVG optimised)",
        description="PNN + rule-reduced CTDE actor-critic + S_VQ regulation of the SVG",
    ),
    "seed003": _spec(
        "seed003",
        paper="seed003, DRL-based LP with MLFACC DER selection (IEEE 123)",
        envs=("der-selection",),
        counterpart="full LP (drl_lp over every DER), certified",
        description="MCTS-RL microgrids + DDMM + leader-follower A2C DER selection for DRL-LP",
    ),
    "seed004": _spec(
        "seed004",
        paper="seed004: topology-anchored dynamic GCN + symbiotic MARL (IEEE 30)",
        envs=("transmission-dispatch",),
        counterpart="perfect-foresight multi-period dispatch",
        description="DGCN + MASRL (task-masked KL, adaptive penalties) for transmission dispatch",
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
