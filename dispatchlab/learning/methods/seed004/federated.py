"""seed004 §2.4: federated averaging of any torch model with client-level differential privacy.

One round (McMahan et al. 2018, DP-FedAvg, the fixed-denominator estimator):

1. every client joins with probability q (Poisson sampling, what the RDP accountant assumes);
2. a joining client starts from the server's parameters θ, trains locally (the
   ``client_update`` callable) and returns its update Δ_k = θ_k − θ;
3. Δ_k is clipped to norm C: Δ_k · min(1, C/‖Δ_k‖);
4. the server adds N(0, σ²C²·I) to Σ_k w_k·Δ_k, with weights w_k = n_k / max_j n_j ∈ (0, 1]
   (sample-weighted, and no client weighs more than 1, so one client moves the sum by ≤ C),
   and divides by the expected weight q·Σ_k w_k (fixed, so the divisor leaks nothing);
5. θ ← θ + η·that average (η: server learning rate, 1 = plain averaging).

Each round is a Gaussian mechanism of noise multiplier σ on the clipped sum; a client's whole
data set is the unit of privacy (client-level DP, which implies the same ε for any one
trajectory of it). ε comes from :func:`.privacy.epsilon`. ``sigma=None`` is the non-private
run (plain FedAvg: no clipping, no noise, ε = ∞) — the paper's "w/o federated RDP".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from dispatchlab.learning.methods.seed004.privacy import check_privacy_params, epsilon

__all__ = ["ClientUpdate", "FederatedConfig", "FederatedRun", "federated_train"]

#: ``(model, client, round) -> n_samples``: train ``model`` (holding the server's parameters)
#: in place on client ``client``'s own data and return how many samples it used (its weight)
ClientUpdate = Callable[[nn.Module, int, int], int]


@dataclass(frozen=True)
class FederatedConfig:
    """DP-FedAvg's settings (seed004 §3.3: 50 rounds, C = 1.0, σ = 0.8)."""

    rounds: int = 50  #: communication rounds (seed004 §3.3)
    clip: float = 1.0  #: C, the clipping norm of a client's update (seed004 §3.3)
    sigma: float | None = 0.8  #: noise multiplier σ (§3.3); None = no noise, no clip (ε = ∞)
    sample_rate: float = 1.0  #: q, the probability that a client joins a round (ours: 1)
    delta: float = 1e-5  #: δ of the reported (ε, δ) (ours: 1e-5, below 1/records)
    server_lr: float = 1.0  #: η, the server's step on the averaged update (1 = FedAvg)
    seed: int = 0  #: seeds the client sampling and the noise

    def __post_init__(self) -> None:
        check_privacy_params(clip=self.clip, delta=self.delta, sample_rate=self.sample_rate)
        if self.sigma is not None:
            check_privacy_params(sigma=self.sigma)
        if not isinstance(self.rounds, int) or self.rounds < 1:
            raise ValueError(f"rounds must be a positive integer, got {self.rounds!r}")
        if not self.server_lr > 0:
            raise ValueError(f"server_lr must be > 0, got {self.server_lr!r}")

    @property
    def private(self) -> bool:
        return self.sigma is not None

    def epsilon(self, rounds: int | None = None) -> float:
        """ε spent after ``rounds`` rounds (default all) at δ, RDP accountant."""
        n = self.rounds if rounds is None else rounds
        return epsilon(self.sigma, self.sample_rate, n, self.delta)[0]


@dataclass
class FederatedRun:
    """What :func:`federated_train` did: one row per round, and the final ε."""

    config: FederatedConfig
    history: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def epsilon(self) -> float:
        return float(self.history["epsilon"].iloc[-1]) if len(self.history) else 0.0


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters to federate")
    return params


def _client_delta(
    model: nn.Module, params: list, theta: torch.Tensor, update: ClientUpdate, k: int, r: int
) -> tuple[torch.Tensor, int]:
    # a copy: vector_to_parameters makes the parameters views of the vector it is given, and
    # the client's in-place steps would otherwise move the server's θ too
    vector_to_parameters(theta.clone(), params)
    n = update(model, k, r)
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"client_update for client {k} returned {n!r}; want a sample count ≥ 1")
    delta = parameters_to_vector(params).detach() - theta
    if not torch.isfinite(delta).all():
        raise FloatingPointError(f"client {k} round {r}: its update has NaN or inf")
    return delta, int(n)


def federated_train(
    model: nn.Module,
    client_update: ClientUpdate,
    sample_counts: Sequence[int],
    config: FederatedConfig | None = None,
    *,
    on_round: Callable[[int, nn.Module], dict] | None = None,
) -> FederatedRun:
    """Train ``model`` (the server's; its parameters end as the final global model) by
    DP-FedAvg over ``len(sample_counts)`` clients (module docstring). ``sample_counts[k]`` is
    client k's data-set size n_k, which fixes its weight (known to the server in advance, so
    the weights are public). ``on_round(round, model)`` may return metrics for the history."""
    cfg = config or FederatedConfig()
    counts = np.asarray(sample_counts, float)
    if counts.ndim != 1 or len(counts) < 1 or not (counts >= 1).all():
        raise ValueError(f"sample_counts must be ≥ 1 per client, got {list(sample_counts)}")
    weights = counts / counts.max()
    params = _trainable(model)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    rows = []
    for r in range(cfg.rounds):
        theta = parameters_to_vector(params).detach().clone()
        joined = np.flatnonzero(rng.random(len(counts)) < cfg.sample_rate)
        total = torch.zeros_like(theta)
        norms, used = [], 0
        for k in joined:
            delta, n = _client_delta(model, params, theta, client_update, int(k), r)
            norms.append(float(delta.norm()))
            used += n
            if cfg.private:
                delta = delta * min(1.0, cfg.clip / max(norms[-1], 1e-12))
            total += float(weights[k]) * delta
        if cfg.private:
            noise = torch.randn(theta.shape, generator=gen, dtype=theta.dtype) * cfg.sigma
            average = (total + noise * cfg.clip) / (cfg.sample_rate * weights.sum())
        elif len(joined):
            average = total / weights[joined].sum()
        else:
            average = total
        vector_to_parameters(theta + cfg.server_lr * average, params)
        row = {
            "round": r + 1,
            "clients": len(joined),
            "samples": used,
            "update_norm_max": max(norms) if norms else math.nan,
            "step_norm": float(average.norm()),
            "epsilon": cfg.epsilon(r + 1),
        }
        if on_round is not None:
            row.update(on_round(r + 1, model))
        rows.append(row)
    return FederatedRun(config=cfg, history=pd.DataFrame(rows))


# ---------------------------------------------------------------------- seed004's agents
#: the chronological split of transmission-dispatch (60 / 15 / 15 days, seed004 §3.1)
TRAIN_SPLIT, VALIDATION_SPLIT, TEST_SPLIT = range(60), range(60, 75), range(75, 90)


@dataclass(frozen=True)
class DaySplit:
    """Whose days are whose. Members: training days, dealt to the clients in turn;
    non-members: every 4th training day, never trained on (same season as the members);
    shadow in / out: the validation days, alternating (the shadow model's own members and
    non-members); test: the utility days (gap to perfect foresight)."""

    clients: tuple[tuple[int, ...], ...]
    nonmembers: tuple[int, ...]
    shadow_in: tuple[int, ...]
    shadow_out: tuple[int, ...]
    test: tuple[int, ...]

    @classmethod
    def make(
        cls, n_clients: int = 3, per_client: int | None = None, nonmembers: int | None = None
    ) -> DaySplit:
        held = [d for d in TRAIN_SPLIT if d % 4 == 3][:nonmembers]
        pool = [d for d in TRAIN_SPLIT if d % 4 != 3]
        clients = tuple(tuple(pool[k::n_clients][:per_client]) for k in range(n_clients))
        val = list(VALIDATION_SPLIT)
        return cls(clients, tuple(held), tuple(val[0::2]), tuple(val[1::2]), tuple(TEST_SPLIT))

    @property
    def members(self) -> tuple[int, ...]:
        return tuple(d for c in self.clients for d in c)


class RegionalClients:
    """The ``client_update`` of :func:`federated_train` for seed004: client k is the operator
    of ieee30 area k (:func:`~.graph.regional_areas`), owns its days and its own trainer
    (optimizers, replay, adaptive penalties); a round loads the server's weights into it,
    trains ``episodes`` days drawn from its days, and hands the weights back."""

    def __init__(self, config, split: DaySplit, episodes: int, case=None, scalers=None):
        from dispatchlab.learning.methods.seed004.method import Seed004Trainer

        if episodes < 1:
            raise ValueError(f"episodes per round must be ≥ 1, got {episodes}")
        self.split, self.episodes = split, int(episodes)
        self.trainers = [
            Seed004Trainer(config.replace(seed=1000 * (config.seed + 1) + k), case)
            for k in range(len(split.clients))
        ]
        for t in self.trainers:
            t.scaled = True  # the server's (public) scalers arrive with its weights
        self._demonstrated: set[int] = set()

    def sample_counts(self) -> list[int]:
        return [len(days) * self.trainers[0].steps for days in self.split.clients]

    def __call__(self, model: nn.Module, k: int, r: int) -> int:
        trainer = self.trainers[k]
        trainer.model.load_state_dict(model.state_dict())
        trainer.sync_targets(1.0)
        if k not in self._demonstrated and hasattr(trainer, "demonstrate"):
            # the trainer's warm start (oracle days into its replay, behaviour cloning) runs
            # on the client's own days inside its first update: it is part of what is clipped
            # and noised, not a side channel
            trainer.demonstrate(self.split.clients[k])
            self._demonstrated.add(k)
        trainer.train_days(self.split.clients[k], self.episodes)
        model.load_state_dict(trainer.model.state_dict())
        return self.episodes * trainer.steps


def train_federated_seed004(config, fed: FederatedConfig, split: DaySplit, *, episodes: int,
                            case=None, log: Callable[[str], None] | None = None):  # fmt: skip
    """The seed004 agents trained by DP-FedAvg over the regional clients: returns the server
    trainer (its ``.model`` holds the global weights, targets synced) and the run. The
    observation scalers are fixed once from random play of the shadow-out days (public data,
    not accounted)."""
    from dispatchlab.learning.methods.seed004.method import Seed004Trainer

    torch.set_num_threads(1)
    server = Seed004Trainer(config, case)
    server.fit_scalers(split.shadow_out)
    clients = RegionalClients(config, split, episodes, server.case)

    def on_round(r: int, model: nn.Module) -> dict:
        if log is not None:
            log(f"round {r}/{fed.rounds}: ε = {fed.epsilon(r):.3g}")
        return {}

    run = federated_train(server.model, clients, clients.sample_counts(), fed, on_round=on_round)
    server.sync_targets(1.0)
    server.episodes_done = sum(t.episodes_done for t in clients.trainers)
    server.train_s = sum(t.train_s for t in clients.trainers)
    return server, run


def save_federated(path, server, run: FederatedRun, split: DaySplit):
    """The server's checkpoint (the seed004 format) with the federation in its header."""
    from dispatchlab.learning.agents.torchrl_common import module_arrays
    from dispatchlab.learning.checkpoint import save_checkpoint
    from dispatchlab.learning.methods.seed004.method import METHOD

    cfg = run.config
    fed = {"rounds": cfg.rounds, "clip": cfg.clip, "sigma": cfg.sigma,
           "sample_rate": cfg.sample_rate, "delta": cfg.delta, "epsilon": run.epsilon,
           "clients": [list(c) for c in split.clients], "nonmembers": list(split.nonmembers),
           "shadow_in": list(split.shadow_in), "shadow_out": list(split.shadow_out)}  # fmt: skip
    arrays = module_arrays({"model": server.model, "target": server.target})
    meta = {"case": server.case.name, "case_hash": server.case.case_hash(),
            "agents": list(server.spaces.agents), "env": "transmission-dispatch",
            "federated": fed}  # fmt: skip
    return save_checkpoint(path, METHOD, server.config, arrays, server.summary(), meta)
