"""GRPO for continuous multi-agent control: group-relative advantages, no critic.

Group Relative Policy Optimization (Shao et al. 2024, DeepSeekMath §4.1) replaces PPO's value
function by a baseline from a *group* of G rollouts of the same prompt. Here the "prompt" is one
scenario day: :meth:`GRPOAgent.fit_group` plays G rollouts of one day at once through the
vector environment (each with its own noise seed and sampled actions), normalizes the team
reward of every step across the group (r̃_g,t = (r_g,t − mean_g r_·,t) / std_g r_·,t, the
process-supervision form of §4.1.3) and gives every step the sum of the normalized rewards
from it to the end of the day as its advantage. The update is PPO's clipped ratio on the joint
log-probability (Σ over agents of the tanh-Gaussian actors) plus β·KL(π_θ ‖ π_ref) with the
unbiased k3 estimator π_ref/π_θ − log(π_ref/π_θ) − 1; π_ref is refreshed from π_θ every
``ref_every`` groups.

Why here and not TorchRL: TorchRL 0.11's ``GRPOLoss`` (``torchrl.objectives.llm``) needs an
``LLMWrapperBase`` actor and token masks; it does not take a continuous control policy. The
actor is TorchRL's (:func:`~.torchrl_offpolicy.gaussian_actor`, ``MultiAgentMLP`` per agent).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from tensordict import TensorDict
from tensordict.nn import InteractionType, set_interaction_type
from torch import nn
from torchrl.data import Bounded

from dispatchlab.learning.agents.torchrl_common import AGENTS, AgentSpaces, AgentWeights, ObsScaler
from dispatchlab.learning.agents.torchrl_offpolicy import gaussian_actor


@dataclass(frozen=True)
class GRPOConfig:
    """Hyperparameters of :class:`GRPOAgent` (one line each)."""

    group_size: int = 8  #: G rollouts of the same day per update
    hidden: tuple[int, ...] = (64, 64)  #: actor hidden widths
    lr: float = 3e-4  #: Adam learning rate
    clip_epsilon: float = 0.2  #: ratio clip
    kl_coeff: float = 0.04  #: β of the KL penalty to the reference policy (DeepSeekMath: 0.04)
    epochs: int = 4  #: passes over each group's steps
    minibatch_size: int = 96  #: (step, rollout) pairs per gradient step
    ref_every: int = 10  #: groups between refreshes of the reference policy
    grad_clip: float = 1.0  #: max gradient norm

    def __post_init__(self) -> None:
        for name in ("group_size", "epochs", "minibatch_size", "ref_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"GRPOConfig.{name} must be a positive integer")
        if self.group_size < 2:
            raise ValueError("GRPOConfig.group_size must be ≥ 2 (the baseline is a group mean)")


class GRPOAgent(AgentWeights):
    """A tanh-Gaussian actor per agent trained by GRPO (see the module docstring)."""

    on_policy = True
    state_scaler = None

    def __init__(self, spaces: AgentSpaces, config: GRPOConfig, seed: int = 0):
        torch.manual_seed(seed)
        self.spaces, self.config = spaces, config
        self.scaler = ObsScaler(spaces.n_agents, spaces.obs_dim)
        spec = Bounded(-1.0, 1.0, (spaces.n_agents, spaces.act_dim))
        self.actor = gaussian_actor(spaces, config.hidden, spec, log_prob=True)
        self.loss = self.actor  # what AgentWeights saves
        self.ref = copy.deepcopy(self.actor).requires_grad_(False)
        self.optim = torch.optim.Adam(self.actor.parameters(), lr=config.lr)
        self._gen = torch.Generator().manual_seed(seed)
        self.groups, self.updates = 0, 0

    def policy_step(self, td: TensorDict, explore: bool) -> TensorDict:
        """A sampled action (with its log-prob) when exploring, the mean otherwise."""
        mode = InteractionType.RANDOM if explore else InteractionType.DETERMINISTIC
        with set_interaction_type(mode):
            return self.actor(td)

    def log_prob(self, actor: nn.Module, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """Joint log-probability (B,) of padded actions ``act`` (B, n, a) under ``actor``."""
        td = TensorDict({AGENTS: TensorDict({"observation": obs}, obs.shape[:2])}, obs.shape[:1])
        dist = actor.get_dist(td)
        lp = dist.log_prob(act.clamp(-1 + 1e-5, 1 - 1e-5))
        return lp.reshape(len(obs), -1).sum(-1)

    def update(self, obs: torch.Tensor, act: torch.Tensor, adv: torch.Tensor) -> dict:
        """Clipped-ratio + KL epochs on one group's (B, …) steps with advantages ``adv``."""
        c = self.config
        with torch.no_grad():
            old = self.log_prob(self.actor, obs, act)
        out = {}
        for _ in range(c.epochs):
            order = torch.randperm(len(obs), generator=self._gen)
            for start in range(0, len(obs), c.minibatch_size):
                i = order[start : start + c.minibatch_size]
                new = self.log_prob(self.actor, obs[i], act[i])
                ratio = torch.exp(new - old[i])
                clipped = ratio.clamp(1 - c.clip_epsilon, 1 + c.clip_epsilon)
                surrogate = -torch.minimum(ratio * adv[i], clipped * adv[i]).mean()
                with torch.no_grad():
                    ref = self.log_prob(self.ref, obs[i], act[i])
                log_r = (ref - new).clamp(-20, 20)
                kl = (torch.exp(log_r) - log_r - 1).mean()
                loss = surrogate + c.kl_coeff * kl
                self.optim.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.actor.parameters(), c.grad_clip)
                self.optim.step()
                self.updates += 1
                out = {"loss_objective": float(surrogate.detach()), "kl_to_ref": float(kl.detach())}
        self.groups += 1
        if self.groups % c.ref_every == 0:
            self.ref.load_state_dict(self.actor.state_dict())
        return out


def group_advantages(rewards: np.ndarray) -> np.ndarray:
    """(T, G) team rewards → (T, G) advantages: per step normalized across the group, then
    summed from each step to the end (process supervision)."""
    mean = rewards.mean(axis=1, keepdims=True)
    std = rewards.std(axis=1, keepdims=True)
    norm = (rewards - mean) / np.where(std > 1e-8, std, 1.0)
    return np.flip(np.cumsum(np.flip(norm, 0), 0), 0).copy()
