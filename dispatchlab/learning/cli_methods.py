"""``dispatchlab train|compare|privacy|causal METHOD``, built from the registry.

Each method in :data:`dispatchlab.learning.methods.METHODS` names its own typer command
functions; they are attached here under the method's name, so a new method needs no CLI code.
"""

from __future__ import annotations

import typer

from dispatchlab.learning.methods import METHODS, resolve

train_app = typer.Typer(help="Train a learned dispatch method.", no_args_is_help=True)
compare_app = typer.Typer(
    help="Run a learned method and its exact counterparts on the same test days.",
    no_args_is_help=True,
)

privacy_app = typer.Typer(
    help="Privacy of a federated checkpoint: ε (RDP accountant) and membership inference.",
    no_args_is_help=True,
)
causal_app = typer.Typer(
    help="Causal effects on the exact dispatch, estimated against simulated interventions.",
    no_args_is_help=True,
)

for _name, _spec in METHODS.items():
    train_app.command(_name, help=None)(resolve(_spec.train))
    compare_app.command(_name, help=None)(resolve(_spec.compare))
    if _spec.privacy is not None:
        privacy_app.command(_name, help=None)(resolve(_spec.privacy))
    if _spec.causal is not None:
        causal_app.command(_name, help=None)(resolve(_spec.causal))
