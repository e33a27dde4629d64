"""Every hyperparameter of seed004 (DGCN + MASRL) in one dataclass, one line each."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: the policy's balance completion (balance.py)
BALANCE_RULES = ("merit", "proportional", "off")


@dataclass(frozen=True)
class Seed004Config:
    """seed004 §3–4 (Liu et al., DGCN + MASRL on a modified IEEE 30); "(ours)" marks what the
    paper does not give."""

    case: str = "ieee30-seed004"  #: the case of the transmission-dispatch env
    seed: int = 0  #: seeds torch, exploration noise, day draws
    # --- DGCN (§3.2)
    graph_hidden: int = 64  #: width of each of the two graph layers
    graph_layers: int = 2  #: graph convolutions per time step
    temporal_kernel: int = 3  #: temporal convolution kernel over the look-back
    temporal_channels: int = 16  #: channels of the temporal convolution per bus (ours)
    lookback: int = 16  #: intervals of global-state history the DGCN reads
    residual_graph: bool = True  #: learned residual adjacency (False: physical A only, ablation)
    residual_rank: int = 8  #: rank of the learned residual E1·E2ᵀ (ours)
    plausibility_weight: float = 1e-2  #: weight of the plausibility penalty (ours)
    distance_scale: float = 1.0  #: A_phys = connected · exp(−Z / (scale · median Z)) (ours)
    # --- MASRL (§3.3)
    hidden: tuple[int, int] = (128, 128)  #: actor and critic widths (2 × 128)
    lr: float = 1e-4  #: Adam learning rate (critics and DGCN; the actors' too unless actor_lr)
    actor_lr: float | None = None  #: Adam learning rate of the actors (None: lr)
    batch_size: int = 256  #: transitions per gradient step
    gamma: float = 0.99  #: discount per 15-min interval
    episodes: int = 1200  #: training days (episodes) of 96 intervals
    parallel_days: int = 8  #: days stepped at once by the vector env (ours)
    updates_per_step: float = 0.25  #: gradient steps per vector-env step × parallel_days (ours)
    learning_starts: int = 8  #: episodes of experience before the first update (ours)
    buffer_days: int = 400  #: replay capacity in days (ours)
    tau: float = 0.005  #: soft target update rate (ours)
    actor_delay: int = 500  #: critic-only updates before the actors move (ours: a Q fitted
    #: on a few days would otherwise push the actors off the hold action at once)
    policy_delay: int = 2  #: critic steps per actor step (TD3)
    exploration_noise: float = 0.3  #: σ of the tanh-Gaussian policy, pre-tanh space (ours)
    reward_scale: float = 0.1  #: rewards × this before the critic (ours)
    grad_clip: float = 10.0  #: max gradient norm (ours)
    flat_patience: int = 200  #: stop early when the curve's 100-episode mean has not
    #: improved by flat_tolerance for this many episodes (reported; ours)
    flat_tolerance: float = 0.005  #: relative improvement that counts (ours)
    # --- demonstration warm start (ours; not in the paper, see docs/methods/seed004.md)
    demo_days: int = 16  #: training days played by the exact oracle into the replay first
    bc_steps: int = 400  #: behaviour-cloning steps of actors + DGCN on them (0: pure RL)
    bc_lr: float = 1e-3  #: Adam learning rate of the behaviour cloning
    bc_weight: float = 1.0  #: TD3+BC: weight of the distance to the demonstrations (0: off)
    # --- coordination: KL on task-mask pairs (§3.3, made concrete here)
    kl_mask: bool = True  #: KL term on task-mask pairs (False: the "no KL mask" ablation)
    kl_weight: float = 0.1  #: λ_KL (ours; the paper gives none)
    event_loading: float = 0.9  #: a line above this loading fires a corridor event
    event_reserve_margin: float = 0.0  #: reserve margin below this fires a reserve event
    event_ramp_mw: float = 18.0  #: 1-h wind ramp above this fires a ramp event (normal label)
    # --- adaptive penalties (§3.3): w ← w(1 + η(v − v*)/(v* + ε)), per episode batch
    adaptive_penalties: bool = True  #: False: the env's fixed weights (ablation)
    penalty_eta: float = 0.05  #: η
    penalty_eps: float = 1e-3  #: ε
    target_overload_rate: float = 0.003  #: v* for line overload (the paper's 0.30 %)
    target_reserve_rate: float = 0.01  #: v* for reserve shortfall (ours)
    target_ramp_rate: float = 0.01  #: v* for ramp violations (ours)
    penalty_bounds: tuple[float, float] = (0.25, 4.0)  #: w / w_env stays in this range (ours)
    # --- the policy's last step (ours, balance.py)
    balance_completion: str = "merit"  #: close the schedule's MW mismatch with curtailed wind
    #: and the units' ramp room before acting: "merit" (cheapest marginal cost first),
    #: "proportional" (to each unit's room) or "off" (the actors' raw proposal)

    def __post_init__(self) -> None:
        for name in ("graph_hidden", "graph_layers", "lookback", "batch_size", "episodes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"Seed004Config.{name} must be ≥ 1, got {getattr(self, name)}")
        if self.temporal_kernel < 1 or self.temporal_kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd ≥ 1, got {self.temporal_kernel}")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {self.gamma}")
        if self.parallel_days < 1 or self.learning_starts < 0:
            raise ValueError("parallel_days must be ≥ 1 and learning_starts ≥ 0")
        if self.balance_completion not in BALANCE_RULES:
            got = self.balance_completion
            raise ValueError(f"balance_completion must be one of {BALANCE_RULES}, got {got!r}")
        lo, hi = self.penalty_bounds
        if not 0 < lo <= 1 <= hi:
            raise ValueError(f"penalty_bounds must satisfy 0 < lo ≤ 1 ≤ hi, got {(lo, hi)}")

    def replace(self, **changes) -> Seed004Config:
        """A copy with ``changes`` (each validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def quick(cls, **changes) -> Seed004Config:
        """A ≈ 40 s (CPU) budget: 8 demonstration days, 150 cloning steps, 16 RL days, a
        32-wide graph over a look-back of 8, critic learning rate 1e-3 — a smoke run that
        already beats hold (tests/learning/test_seed004_trained.py), not a result."""
        base = dict(
            learning_starts=8, graph_hidden=32, lookback=8, lr=1e-3,
            updates_per_step=0.125, actor_delay=150, actor_lr=1e-4,
            demo_days=8, bc_steps=150, episodes=16,
        )  # fmt: skip
        return cls(**{**base, **changes})
