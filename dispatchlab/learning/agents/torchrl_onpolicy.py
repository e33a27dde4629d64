"""On-policy baselines from TorchRL: PPO and A2C, independent (IPPO) or centralized-critic (MAPPO).

:class:`OnPolicyAgent` is TorchRL's ``ClipPPOLoss`` (Schulman et al. 2017) or ``A2CLoss``
(Mnih et al. 2016) with TorchRL's ``GAE`` (Schulman et al. 2016), ``ProbabilisticActor`` and
``MultiAgentMLP`` networks; dispatchlab adds only the glue of :mod:`.torchrl_common`. The
policy is a tanh-Gaussian on [−1, 1]^d for Box actions (rescaled to each device's box) or a
categorical over the agent's own options (padded options get logit −1e9) for Discrete ones.
``centralized_critic=True`` is MAPPO (Yu et al. 2022: every agent's value sees every
observation), ``False`` IPPO (de Witt et al. 2020). The loop collects ``frames_per_batch`` env
steps, computes GAE once, then runs ``epochs`` passes of minibatch updates (A2C: one pass over
the whole batch, as the method has no ratio clipping to make reuse safe).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict
from tensordict.nn import (
    InteractionType,
    TensorDictModule,
    set_interaction_type,
)
from torch import nn
from torch.distributions import Categorical
from torchrl.data import Bounded
from torchrl.modules import ProbabilisticActor
from torchrl.objectives import A2CLoss, ClipPPOLoss
from torchrl.objectives import ValueEstimators as VE

from dispatchlab.learning.agents.torchrl_common import (
    AGENTS,
    AgentSpaces,
    AgentWeights,
    ObsScaler,
    loss_values,
)
from dispatchlab.learning.agents.torchrl_offpolicy import gaussian_actor, mlp


@dataclass(frozen=True)
class OnPolicyConfig:
    """Hyperparameters of PPO / A2C (one line each)."""

    algo: str = "ppo"  #: "ppo" (clipped surrogate) or "a2c"
    centralized_critic: bool = False  #: MAPPO (True) or IPPO (False)
    hidden: tuple[int, ...] = (64, 64)  #: hidden widths of actor and critic
    lr: float = 3e-4  #: Adam learning rate
    gamma: float = 0.95  #: discount per env step
    lmbda: float = 0.95  #: GAE λ
    frames_per_batch: int = 480  #: env steps collected per update round
    epochs: int = 4  #: PPO passes over each batch
    minibatch_size: int = 120  #: env steps per PPO minibatch
    clip_epsilon: float = 0.2  #: PPO ratio clip
    entropy_coeff: float = 1e-3  #: entropy bonus weight
    critic_coeff: float = 0.5  #: value-loss weight
    grad_clip: float = 1.0  #: max gradient norm

    def __post_init__(self) -> None:
        if self.algo not in ("ppo", "a2c"):
            raise ValueError(f"OnPolicyConfig.algo must be 'ppo' or 'a2c', got {self.algo!r}")
        for name in ("frames_per_batch", "epochs", "minibatch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"OnPolicyConfig.{name} must be a positive integer")
        if self.minibatch_size > self.frames_per_batch:
            raise ValueError("OnPolicyConfig.minibatch_size must be ≤ frames_per_batch")
        if not (0.0 <= self.gamma < 1.0 and 0.0 <= self.lmbda <= 1.0):
            raise ValueError("OnPolicyConfig: gamma must be in [0, 1) and lmbda in [0, 1]")


class _MaskLogits(nn.Module):
    """Adds −1e9 to the logits of the options an agent does not have."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.float())

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits + (self.mask - 1.0) * 1e9


class OnPolicyAgent(AgentWeights):
    """PPO or A2C on TorchRL's losses and GAE, for Discrete or Box agents (see module doc)."""

    on_policy = True
    state_scaler = None

    def __init__(self, spaces: AgentSpaces, config: OnPolicyConfig, seed: int = 0):
        torch.manual_seed(seed)
        self.spaces, self.config = spaces, config
        n, d = spaces.n_agents, spaces.obs_dim
        self.scaler = ObsScaler(n, d)
        self.actor = self._actor()
        critic_net = mlp(spaces, d, 1, config.hidden, centralized=config.centralized_critic)
        self.critic = TensorDictModule(
            critic_net, in_keys=[(AGENTS, "observation")], out_keys=[(AGENTS, "state_value")]
        )
        common = {
            "entropy_coeff": config.entropy_coeff,
            "critic_coeff": config.critic_coeff,
            "loss_critic_type": "l2",
        }
        if config.algo == "ppo":
            self.loss = ClipPPOLoss(
                self.actor, self.critic, clip_epsilon=config.clip_epsilon, **common
            )
        else:
            self.loss = A2CLoss(self.actor, self.critic, **common)
        self.loss.set_keys(
            reward=(AGENTS, "reward"),
            done=(AGENTS, "done"),
            terminated=(AGENTS, "terminated"),
            action=(AGENTS, "action"),
            value=(AGENTS, "state_value"),
            sample_log_prob=(AGENTS, "action_log_prob"),
            advantage=(AGENTS, "advantage"),
            value_target=(AGENTS, "value_target"),
        )
        self.loss.make_value_estimator(VE.GAE, gamma=config.gamma, lmbda=config.lmbda)
        self.optim = torch.optim.Adam(self.loss.parameters(), lr=config.lr)
        self._rollout: list[TensorDict] = []
        self._gen = torch.Generator().manual_seed(seed)
        self.steps, self.updates = 0, 0

    def _actor(self) -> ProbabilisticActor:
        s, c = self.spaces, self.config
        if s.discrete:
            mask = _MaskLogits(s.action_mask())
            net = nn.Sequential(mlp(s, s.obs_dim, s.act_dim, c.hidden), mask)
            logits = TensorDictModule(
                net, in_keys=[(AGENTS, "observation")], out_keys=[(AGENTS, "logits")]
            )
            return ProbabilisticActor(
                logits,
                in_keys={"logits": (AGENTS, "logits")},
                out_keys=[(AGENTS, "action")],
                distribution_class=Categorical,
                return_log_prob=True,
                log_prob_key=(AGENTS, "action_log_prob"),
            )
        return gaussian_actor(s, c.hidden, Bounded(-1.0, 1.0, (s.n_agents, s.act_dim)), True)

    def policy_step(self, td: TensorDict, explore: bool) -> TensorDict:
        """A sampled action (with its log-prob) when exploring, the mode/mean otherwise."""
        mode = InteractionType.RANDOM if explore else InteractionType.DETERMINISTIC
        with set_interaction_type(mode):
            return self.actor(td)

    def record(self, td: TensorDict) -> dict[str, float] | None:
        """Keep one step; after ``frames_per_batch`` steps, update on them and start afresh."""
        self._rollout.append(td)
        self.steps += 1
        if len(self._rollout) < self.config.frames_per_batch:
            return None
        batch = torch.stack(self._rollout)
        self._rollout = []
        return self.update(batch)

    def update(self, batch: TensorDict) -> dict[str, float]:
        """GAE on the time-ordered ``batch`` (T,), then PPO epochs / one A2C step."""
        c = self.config
        with torch.no_grad():
            self.loss.value_estimator(
                batch,
                params=self.loss.critic_network_params,
                target_params=self.loss.target_critic_network_params,
            )
        passes, size = (c.epochs, c.minibatch_size) if c.algo == "ppo" else (1, len(batch))
        out: dict[str, float] = {}
        for _ in range(passes):
            order = torch.randperm(len(batch), generator=self._gen)
            for start in range(0, len(batch), size):
                out = self._step(batch[order[start : start + size]])
        return out

    def _step(self, minibatch: TensorDict) -> dict[str, float]:
        losses = self.loss(minibatch)
        total = sum(v for k, v in losses.items() if k.startswith("loss_"))
        self.optim.zero_grad()
        total.backward()
        nn.utils.clip_grad_norm_(self.loss.parameters(), self.config.grad_clip)
        self.optim.step()
        self.updates += 1
        return loss_values(losses)
