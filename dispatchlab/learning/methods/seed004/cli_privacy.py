"""``dispatchlab privacy seed004 CKPT``, ``dispatchlab causal seed004`` and the federated part of
``dispatchlab train seed004 --federated`` (docs/methods/seed004-privacy.md).

The commands only parse arguments and call :mod:`.privacy_study`, :mod:`.federated` and
:mod:`.causal_study`."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from dispatchlab.learning.methods.seed004.causal_data import INTERVENTIONS

console = Console(width=None if sys.stdout.isatty() else 200)
CHECKPOINT = typer.Argument(..., help="A checkpoint of `train seed004 --federated`.")
CSV_OUT = typer.Option(None, "--out", "-o", help="Write the effects table (CSV) here.")


def _attack_rows(table: Table, results) -> None:
    for a in results:
        table.add_row(
            a.attack,
            f"{a.auc:.3f} [{a.auc_lo:.3f}, {a.auc_hi:.3f}]",
            f"{a.tpr_at_10fpr:.3f} [{a.tpr_lo:.3f}, {a.tpr_hi:.3f}]",
            f"{a.n_members} / {a.n_nonmembers}",
        )


def privacy(
    checkpoint: Path = CHECKPOINT,
    delta: float = typer.Option(1e-5, help="δ of the reported (ε, δ)."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples of the attack metrics."),
) -> None:
    """ε of a federated seed004 checkpoint (opacus RDP accountant) and the loss-threshold
    membership attack (members: its clients' training days; non-members: held-out days)."""
    from dispatchlab.learning.checkpoint import CheckpointError, load_checkpoint
    from dispatchlab.learning.methods.seed004.federated import DaySplit
    from dispatchlab.learning.methods.seed004.method import load_trainer
    from dispatchlab.learning.methods.seed004.privacy import check_privacy_params, epsilon
    from dispatchlab.learning.methods.seed004.privacy_study import attack_table

    if n_boot < 1:  # checked before the attack's work (np.percentile of no resample fails)
        raise typer.BadParameter(f"must be ≥ 1, got {n_boot}", param_hint="--n-boot")
    try:
        check_privacy_params(delta=delta)
        header, _ = load_checkpoint(checkpoint, "seed004")
        fed = header.get("meta", {}).get("federated")
        if fed is None:
            raise CheckpointError(
                f"{checkpoint}: not trained with `train seed004 --federated` (no federation in "
                "its header): its members and privacy budget are unknown"
            )
        trainer = load_trainer(checkpoint)
    except (CheckpointError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="CHECKPOINT / --delta") from None
    eps, alpha = epsilon(fed["sigma"], fed["sample_rate"], fed["rounds"], delta)
    sigma = "none (non-private)" if fed["sigma"] is None else f"{fed['sigma']:.4g}"
    console.print(
        f"σ = {sigma}, C = {fed['clip']}, q = {fed['sample_rate']}, {fed['rounds']} rounds: "
        f"ε = {eps:.4g} at δ = {delta:g}" + ("" if math.isnan(alpha) else f" (RDP order {alpha:g})")
    )
    split = DaySplit(
        clients=tuple(tuple(c) for c in fed["clients"]),
        nonmembers=tuple(fed["nonmembers"]),
        shadow_in=tuple(fed["shadow_in"]),
        shadow_out=tuple(fed["shadow_out"]),
        test=(),
    )
    table = Table("attack", "AUC [95 % CI]", "TPR at 10 % FPR [95 % CI]", "members / non")
    _attack_rows(table, attack_table(trainer, split, None, n_boot=n_boot, seed=0))
    console.print(table)
    console.print("The shadow-model attack needs a shadow federation: benchmarks/"
                  "bench_seed004_privacy.py runs it.")  # fmt: skip


def causal(
    intervention: str = typer.Option(
        "wind", help=f"One of {', '.join(INTERVENTIONS)}: " + "; ".join(INTERVENTIONS.values())
    ),
    quick: bool = typer.Option(
        True, "--quick/--full", help="30 observed days and 5 test days (--full: 90 and 15)."
    ),
    n_boot: int = typer.Option(None, help="Bootstrap resamples (default: 50 quick, 200 full)."),
    out: Path = CSV_OUT,
) -> None:
    """Estimated (g-computation on the exact dispatch) against simulated (the test days
    re-solved under the intervention) average effects on cost, curtailment and congestion."""
    from dispatchlab.cases.library import load_case
    from dispatchlab.learning.methods.seed004.causal_study import CausalStudyConfig, causal_study

    if intervention not in INTERVENTIONS:
        raise typer.BadParameter(
            f"unknown intervention {intervention!r}; use one of {', '.join(INTERVENTIONS)}",
            param_hint="--intervention",
        )
    changes = {"interventions": (intervention,)}
    if n_boot is not None:
        changes["n_boot"] = n_boot
    try:  # a bad --n-boot: one line naming it, exit 2 (not a traceback)
        cfg = CausalStudyConfig.quick(**changes) if quick else CausalStudyConfig(**changes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--n-boot") from None
    effects, _ = causal_study(load_case("ieee30-seed004"), cfg, progress=console.print)
    table = Table("outcome", "estimated [95 % CI]", "simulated [95 % CI]", "placebo", "RV",
                  "paper", title=INTERVENTIONS[intervention])  # fmt: skip
    for r in effects.itertuples():
        table.add_row(
            r.outcome,
            f"{r.ate_est:+.3g} [{r.ate_est_lo:+.3g}, {r.ate_est_hi:+.3g}]",
            f"{r.ate_sim:+.3g} [{r.ate_sim_lo:+.3g}, {r.ate_sim_hi:+.3g}]",
            f"{r.placebo:+.3g}",
            f"{r.robustness_value:.2f}",
            "–" if math.isnan(r.paper) else f"{r.paper:+g}",
        )
    console.print(table)
    if out is not None:
        effects.to_csv(out, index=False)
        console.print(f"written: {out}")


def train_federated(
    *,
    config,
    sigma: float | None,
    clip: float,
    rounds: int,
    sample_rate: float,
    episodes_per_round: int,
    out: Path | None,
) -> Path:
    """What ``train seed004 --federated`` runs: DP-FedAvg over the three regional clients,
    then the server's checkpoint with the federation in its header."""
    from dispatchlab.learning.methods.seed004.federated import (
        DaySplit,
        FederatedConfig,
        save_federated,
        train_federated_seed004,
    )

    fed = FederatedConfig(rounds=rounds, clip=clip, sigma=sigma, sample_rate=sample_rate,
                          seed=config.seed)  # fmt: skip
    console.print(f"{rounds} rounds, σ = {sigma}, C = {clip}, q = {sample_rate}: "
                  f"ε = {fed.epsilon():.4g} at δ = {fed.delta:g}")  # fmt: skip
    split = DaySplit.make()
    server, run = train_federated_seed004(
        config, fed, split, episodes=episodes_per_round, log=console.print
    )
    path = save_federated(
        out or Path(f"seed004-federated-seed{config.seed}.npz"), server, run, split
    )
    console.print(f"checkpoint: {path}")
    return path
