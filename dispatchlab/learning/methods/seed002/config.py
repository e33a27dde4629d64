"""seed002's one ``Config``: every hyperparameter of the method, with its source.

"§" refers to Lin et al. 2026 (/work/shared/seeds/seed002-…txt); "ours" marks a value the paper
does not give, chosen here and said so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: the training days: sunny days next to the stress set's, scaled like it (the stress days
#: themselves, :data:`~dispatchlab.learning.envs.voltage.stress.STRESS_DAYS`, are the test days)
TRAIN_DAYS: dict[str, float] = {
    "2016-03-23": 1.3,
    "2016-03-25": 1.4,
    "2016-03-26": 1.5,
    "2016-04-12": 1.3,
    "2016-04-14": 1.5,
    "2016-04-22": 1.4,
    "2016-08-19": 1.3,
    "2016-08-21": 1.5,
}


@dataclass(frozen=True)
class Seed002Config:
    """The method's hyperparameters (one line each, with the source)."""

    #: actor hidden widths, ReLU (§4.1: "two hidden layers with 128 and 64 neurons")
    actor_hidden: tuple[int, ...] = (128, 64)
    #: centralized critic hidden widths, ReLU (§4.1: 256, 128, 64)
    critic_hidden: tuple[int, ...] = (256, 128, 64)
    lr: float = 1e-3  #: Adam learning rate of actors and critic (§4.1)
    gamma: float = 0.95  #: discount (§4.1)
    tau: float = 0.01  #: soft target update (§4.1)
    buffer_size: int = 100_000  #: replay capacity (§4.1: 10⁵)
    batch_size: int = 64  #: mini-batch (§4.1)
    episodes: int = 500  #: training episodes (scenario-days); §4.3 converges after ≈ 400
    eps_start: float = 1.0  #: ε-greedy start (§4.1)
    eps_end: float = 0.01  #: ε-greedy end, reached exponentially after ``eps_episodes`` (§4.1)
    eps_episodes: int = 500  #: episodes of the ε decay (§4.1)
    num_envs: int = 8  #: scenario-days stepped together by the batched env; ours (speed)
    learning_starts: int = 500  #: transitions stored before the first update; ours
    updates_per_step: int = 1  #: gradient steps per vector env step; ours
    reward_scale: float = 1.0  #: reward (−step cost) × this in the TD loss; ours
    entropy: float = 0.01  #: entropy bonus of the actors; ours (keeps the masked softmax open)
    #: PNN smoothing σ on standardized joint states (§4.1: 0.1)
    pnn_sigma: float = 0.1
    pnn_patterns: int = 2_000  #: pattern-layer size (newest kept); ours (the paper grows it)
    use_pnn: bool = True  #: False: the ablation "no PNN" (zeros in the actors' input)
    use_rules: bool = True  #: False: the ablation "no action reduction" (every ±1 move)
    use_sensitivity: bool = True  #: False: the ablation "no sensitivity feedback" (SVG at 0)
    #: the perception band of the rules and the regulation lies this far inside the
    #: qualification band (§3.1: "limit values … with a small safety margin"); ours
    margin_pu: float = 0.005
    #: S_VQ cache key: "tap" (11 power flows) or "tap-cap" (1 375); regulation.py says why
    sensitivity_key: str = "tap"
    rule_high: float = 0.3  #: voltage high → lower where the device's indicator > this (§3.1)
    rule_low: float = 0.7  #: voltage low → raise where the device's indicator < this (§3.1)
    #: moves while every voltage is in band: "paper" (§3.1: none, devices are "only regulated
    #: … when an environmental state contains non-compliant indicators") or "headroom" (ours:
    #: also a single-device move whose first-order predicted voltages stay in the band, so the
    #: actors can cut losses and pre-empt a violation; rules.py). Default "headroom": over 4
    #: seeds × 200 hourly episodes it qualified 96.4 % vs 95.3 % and cost 7.4 % less
    #: (paired t p = 0.008); the 30-run benchmark's paper-rules row (5 seeds × 128 episodes)
    #: shows no difference (docs/methods/seed002.md)
    in_band_moves: str = "headroom"
    #: devices on one feeder (at most one of them moves per step, §3.1); ours, from the
    #: ieee33 topology: the head OLTC, the main feeder (CB10, CB12), the 26–33 lateral (CB29)
    feeders: tuple[tuple[str, ...], ...] = (("oltc",), ("cb10", "cb12"), ("cb29",))
    case: str = "ieee33-seed002"  #: feeder (§4.1: IEEE 33 with OLTC, CB10/12/29, SVG15)
    dt_h: float = 0.25  #: env step (h); the case's series is 15-min; ours
    train_days: tuple[str, ...] = tuple(TRAIN_DAYS)  #: training days (apart from the test days)
    train_peaks: tuple[float, ...] = tuple(TRAIN_DAYS.values())  #: their peak scales
    torch_threads: int = 1  #: torch intra-op threads (2 threads are 3.5× slower here)
    seed: int = 0  #: seeds torch, numpy, scenario noise (design rule: one seed)

    def __post_init__(self) -> None:
        for name in ("buffer_size", "batch_size", "episodes", "num_envs", "eps_episodes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Seed002Config.{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.gamma < 1.0 or not 0.0 < self.tau <= 1.0:
            raise ValueError("Seed002Config: gamma must be in [0, 1) and tau in (0, 1]")
        if not self.pnn_sigma > 0:
            raise ValueError(f"Seed002Config.pnn_sigma must be > 0, got {self.pnn_sigma}")
        if self.in_band_moves not in ("paper", "headroom"):
            raise ValueError(
                "Seed002Config.in_band_moves must be 'paper' or 'headroom', "
                f"got {self.in_band_moves!r}"
            )
        if len(self.train_days) != len(self.train_peaks):
            raise ValueError(
                f"Seed002Config: {len(self.train_days)} train_days but "
                f"{len(self.train_peaks)} train_peaks"
            )
        for name in ("actor_hidden", "critic_hidden", "train_days", "train_peaks"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if not isinstance(self.feeders, tuple) or any(
            not isinstance(f, tuple) for f in self.feeders
        ):
            object.__setattr__(self, "feeders", tuple(tuple(f) for f in self.feeders))

    def replace(self, **changes) -> Seed002Config:
        """A copy with ``changes`` (validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def quick(cls, **changes) -> Seed002Config:
        """The ``--quick`` budget (< 60 s on 2 cores; the tests train with it): 16 episodes at
        hourly steps, ε decayed over them. A smoke run, not a result."""
        base = cls(episodes=16, eps_episodes=12, dt_h=1.0, learning_starts=64, num_envs=8)
        return base.replace(**changes)


Config = Seed002Config  #: the name every method's config module exports

__all__ = ["TRAIN_DAYS", "Config", "Seed002Config"]
