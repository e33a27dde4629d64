"""Off-policy baselines from TorchRL: (double, dueling) DQN, DDPG, TD3, SAC and their MARL forms.

Every learner here is TorchRL's loss + TorchRL's modules + a TorchRL replay buffer + TorchRL's
target update; dispatchlab adds only the glue of :mod:`.torchrl_common` (padded agents, the
loop, numpy state dicts):

- :class:`DQNAgent` — independent Q-learners, one network per agent (``MultiAgentMLP`` with
  ``share_params=False``), dueling heads (Wang et al. 2016, eq. 9, mean over the agent's own
  options), ``DQNLoss(double_dqn=True)`` (van Hasselt et al. 2016), ``HardUpdate``, ε-greedy.
  With one agent it is plain DQN; with many, IQL.
- :class:`ContinuousAgent` — ``algo="ddpg"`` (``DDPGLoss``, Lillicrap et al. 2016), ``"td3"``
  (``TD3Loss``: twin critics, target smoothing, delayed actor; Fujimoto et al. 2018) or
  ``"sac"`` (``SACLoss``: twin critics, tanh-Gaussian actor, automatic entropy; Haarnoja et al.
  2018), each with ``SoftUpdate``. ``centralized_critic=True`` gives the CTDE forms: MADDPG
  (Lowe et al. 2017; each agent's critic sees every observation and action), MATD3 and MASAC.

Actions are in [−1, 1] (rescaled to each device's box by ``AgentSpaces.to_env``); rewards are
the env's (shared) reward per agent times ``reward_scale``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from tensordict import TensorDict
from tensordict.nn import NormalParamExtractor, TensorDictModule, TensorDictSequential
from torch import nn
from torchrl.data import Bounded, LazyTensorStorage, OneHot, TensorDictReplayBuffer
from torchrl.modules import MultiAgentMLP, ProbabilisticActor, QValueModule, TanhNormal
from torchrl.objectives import DDPGLoss, DQNLoss, HardUpdate, SACLoss, SoftUpdate, TD3Loss
from torchrl.objectives import ValueEstimators as VE

from dispatchlab.learning.agents.torchrl_common import (
    AGENTS,
    AgentSpaces,
    AgentWeights,
    ObsScaler,
    PaddedActions,
    loss_values,
)

# TorchRL sets its logger's level when imported, then logs every buffer allocation at INFO.
logging.getLogger("torchrl").setLevel(logging.WARNING)

_MA_KEYS = {
    "reward": (AGENTS, "reward"),
    "done": (AGENTS, "done"),
    "terminated": (AGENTS, "terminated"),
}


@dataclass(frozen=True)
class OffPolicyConfig:
    """Hyperparameters of the off-policy learners (one line each)."""

    hidden: tuple[int, ...] = (64, 64)  #: hidden widths of every network
    lr: float = 1e-3  #: Adam learning rate (critic; also the actor's unless actor_lr is set)
    actor_lr: float | None = None  #: actor learning rate (None: lr)
    gamma: float = 0.95  #: discount per env step
    buffer_size: int = 50_000  #: replay capacity (transitions = env steps)
    batch_size: int = 128  #: transitions per gradient step
    learning_starts: int = 500  #: env steps stored before the first update
    updates_per_step: int = 1  #: gradient steps per env step once learning has started
    grad_clip: float = 10.0  #: max gradient norm
    # DQN
    target_update: int = 200  #: DQN: gradient steps between hard target copies
    eps_start: float = 1.0  #: DQN: ε at the start
    eps_end: float = 0.05  #: DQN: ε after the decay
    eps_decay_steps: int = 5_000  #: DQN: env steps of the linear ε decay
    double: bool = True  #: DQN: double-DQN target
    dueling: bool = True  #: DQN: value + advantage heads
    mixing_embed_dim: int = 32  #: QMIX: width of the state-conditioned mixing network
    # continuous
    algo: str = "td3"  #: continuous: "ddpg", "td3" or "sac"
    centralized_critic: bool = False  #: critics see every agent's obs and action (MADDPG…)
    tau: float = 0.005  #: soft target update rate
    exploration_noise: float = 0.1  #: DDPG/TD3: σ of the Gaussian action noise in [−1, 1]
    policy_noise: float = 0.2  #: TD3: σ of the target-policy smoothing noise
    noise_clip: float = 0.5  #: TD3: clip of that noise
    policy_delay: int = 2  #: TD3: critic steps per actor step
    alpha_init: float = 0.1  #: SAC: initial entropy temperature (learned)

    def __post_init__(self) -> None:
        for name in ("buffer_size", "batch_size", "updates_per_step", "target_update"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"OffPolicyConfig.{name} must be a positive integer")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"OffPolicyConfig.gamma must be in [0, 1), got {self.gamma}")
        if self.algo not in ("ddpg", "td3", "sac"):
            raise ValueError(f"OffPolicyConfig.algo must be ddpg, td3 or sac, got {self.algo!r}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"OffPolicyConfig.tau must be in (0, 1], got {self.tau}")


def mlp(spaces: AgentSpaces, n_in: int, n_out: int, hidden, centralized=False, share=False):
    """TorchRL's ``MultiAgentMLP`` with ReLU: one net per agent unless ``share``."""
    return MultiAgentMLP(
        n_agent_inputs=n_in,
        n_agent_outputs=n_out,
        n_agents=spaces.n_agents,
        centralized=centralized,
        share_params=share,
        depth=len(hidden),
        num_cells=list(hidden),
        activation_class=nn.ReLU,
    )


def replay(config: OffPolicyConfig) -> TensorDictReplayBuffer:
    """TorchRL's uniform replay over a preallocated tensor storage."""
    return TensorDictReplayBuffer(
        storage=LazyTensorStorage(config.buffer_size), batch_size=config.batch_size
    )


class _MaskedDuelingQ(nn.Module):
    """Q(s, a) = V(s) + A(s, a) − mean A over the agent's own options; padded options −1e9.

    The value and advantage heads are both linear on the last hidden layer, so they are one
    linear layer with 1 + |A| outputs: one ``MultiAgentMLP`` call (one vmap) instead of three.
    """

    def __init__(self, spaces: AgentSpaces, hidden: tuple[int, ...], dueling: bool):
        super().__init__()
        self.dueling = dueling
        self.net = mlp(spaces, spaces.obs_dim, spaces.act_dim + int(dueling), hidden)
        self.register_buffer("mask", spaces.action_mask().float())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.net(obs)
        if self.dueling:
            value, adv = out[..., :1], out[..., 1:]
            mean = (adv * self.mask).sum(-1, keepdim=True) / self.mask.sum(-1, keepdim=True)
            out = value + adv - mean
        return out + (self.mask - 1.0) * 1e9


class _OffPolicyAgent(AgentWeights):
    """Replay-buffer bookkeeping shared by :class:`DQNAgent` and :class:`ContinuousAgent`."""

    config: OffPolicyConfig
    replay: TensorDictReplayBuffer
    steps: int

    def record(self, td: TensorDict) -> dict[str, float] | None:
        """Store one transition; update when due. Returns the losses of this step's updates."""
        self.replay.add(td)
        self.steps += 1
        c = self.config
        if self.steps < max(c.learning_starts, c.batch_size):
            return None
        out: dict[str, float] = {}
        for _ in range(c.updates_per_step):
            out = self.update(self.replay.sample())
        return out

    def update(self, batch: TensorDict) -> dict[str, float]:
        raise NotImplementedError


class DQNAgent(_OffPolicyAgent):
    """Independent (double, dueling) DQN per agent on TorchRL's ``DQNLoss``."""

    on_policy = False

    def __init__(self, spaces: AgentSpaces, config: OffPolicyConfig, seed: int = 0):
        if not spaces.discrete:
            raise ValueError("DQNAgent needs Discrete actions; use ContinuousAgent for Box")
        torch.manual_seed(seed)
        self.spaces, self.config = spaces, config
        n, a = spaces.n_agents, spaces.act_dim
        self.scaler = ObsScaler(n, spaces.obs_dim)
        self.state_scaler: ObsScaler | None = None
        self.qnet = _MaskedDuelingQ(spaces, config.hidden, config.dueling)
        self.spec = OneHot(a, shape=(n, a))
        self.actor = TensorDictSequential(
            TensorDictModule(
                self.qnet, in_keys=[(AGENTS, "observation")], out_keys=[(AGENTS, "action_value")]
            ),
            QValueModule(
                action_value_key=(AGENTS, "action_value"),
                out_keys=[(AGENTS, "action"), (AGENTS, "action_value"), (AGENTS, "chosen")],
                spec=self.spec,
            ),
        )
        self.loss = self._make_loss()
        self.loss.make_value_estimator(VE.TD0, gamma=config.gamma)
        self.target = HardUpdate(self.loss, value_network_update_interval=config.target_update)
        self.optim = torch.optim.Adam(self.loss.parameters(), lr=config.lr)
        self.replay = replay(config)
        self.steps, self.updates = 0, 0
        self._gen = torch.Generator().manual_seed(seed)
        self._valid = spaces.action_mask()

    def _make_loss(self) -> Any:
        """TorchRL's (double) DQN loss on each agent's own reward."""
        loss = DQNLoss(
            self.actor,
            loss_function="smooth_l1",
            delay_value=True,
            double_dqn=self.config.double,
            action_space=self.spec,
        )
        loss.set_keys(
            action_value=(AGENTS, "action_value"),
            action=(AGENTS, "action"),
            value=(AGENTS, "chosen"),
            **_MA_KEYS,
        )
        return loss

    def epsilon(self) -> float:
        """Linear decay from eps_start to eps_end over eps_decay_steps env steps."""
        c = self.config
        frac = min(1.0, self.steps / max(1, c.eps_decay_steps))
        return c.eps_start + frac * (c.eps_end - c.eps_start)

    def policy_step(self, td: TensorDict, explore: bool) -> TensorDict:
        """Greedy one-hot actions; with ``explore``, each replaced by a valid uniform one w.p. ε."""
        td = self.actor(td)
        if explore:
            act = td[AGENTS, "action"]
            rand = torch.multinomial(self._valid.float(), 1, generator=self._gen).squeeze(-1)
            swap = torch.rand(act.shape[0], generator=self._gen) < self.epsilon()
            idx = torch.where(swap, rand, act.argmax(-1))
            td[AGENTS, "action"] = nn.functional.one_hot(idx, act.shape[-1]).to(act.dtype)
        return td

    def update(self, batch: TensorDict) -> dict[str, float]:
        """One gradient step of the TD loss on ``batch``, then the target-update counter."""
        loss = self.loss(batch)["loss"]
        self.optim.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.loss.parameters(), self.config.grad_clip)
        self.optim.step()
        self.target.step()
        self.updates += 1
        return {"loss": float(loss.detach())}


def gaussian_actor(
    spaces: AgentSpaces, hidden: tuple[int, ...], spec: Bounded, log_prob: bool
) -> ProbabilisticActor:
    """TorchRL's tanh-Gaussian ``ProbabilisticActor`` on [−1, 1]^d, padded dimensions pinned."""
    s = spaces
    net = nn.Sequential(mlp(s, s.obs_dim, 2 * s.act_dim, hidden), NormalParamExtractor())
    params = TensorDictSequential(
        TensorDictModule(
            net, in_keys=[(AGENTS, "observation")], out_keys=[(AGENTS, "loc"), (AGENTS, "scale")]
        ),
        TensorDictModule(
            PaddedActions(s),
            in_keys=[(AGENTS, "loc"), (AGENTS, "scale")],
            out_keys=[(AGENTS, "loc"), (AGENTS, "scale")],
        ),
    )
    extra = {"log_prob_key": (AGENTS, "action_log_prob")} if log_prob else {}
    return ProbabilisticActor(
        params,
        in_keys=[(AGENTS, "loc"), (AGENTS, "scale")],
        out_keys=[(AGENTS, "action")],
        distribution_class=TanhNormal,
        distribution_kwargs={"low": -1.0, "high": 1.0},
        spec=spec,
        return_log_prob=log_prob,
        **extra,
    )


class ContinuousAgent(_OffPolicyAgent):
    """DDPG / TD3 / SAC per agent, or MADDPG / MATD3 / MASAC with ``centralized_critic``."""

    on_policy = False
    state_scaler = None

    def __init__(self, spaces: AgentSpaces, config: OffPolicyConfig, seed: int = 0):
        if spaces.discrete:
            raise ValueError("ContinuousAgent needs Box actions; use DQNAgent for Discrete")
        torch.manual_seed(seed)
        self.spaces, self.config = spaces, config
        n, d, a = spaces.n_agents, spaces.obs_dim, spaces.act_dim
        self.scaler = ObsScaler(n, d)
        self.spec = Bounded(-1.0, 1.0, shape=(n, a))
        self.actor = self._actor(config.algo == "sac")
        critic_net = mlp(spaces, d + a, 1, config.hidden, centralized=config.centralized_critic)
        self.critic = TensorDictModule(
            critic_net,
            in_keys=[(AGENTS, "observation"), (AGENTS, "action")],
            out_keys=[(AGENTS, "state_action_value")],
        )
        self.loss = self._loss()
        keys = {"state_action_value": (AGENTS, "state_action_value"), **_MA_KEYS}
        if config.algo != "ddpg":  # DDPGLoss reads the action through its actor's out_keys
            keys["action"] = (AGENTS, "action")
        self.loss.set_keys(**keys)
        self.loss.make_value_estimator(VE.TD0, gamma=config.gamma)
        self.target = SoftUpdate(self.loss, tau=config.tau)
        actor_params = list(self.loss.actor_network_params.values(True, True))
        ids = {id(p) for p in actor_params}
        rest = [p for p in self.loss.parameters() if id(p) not in ids]
        self.optim_actor = torch.optim.Adam(actor_params, lr=config.actor_lr or config.lr)
        self.optim_critic = torch.optim.Adam(rest, lr=config.lr)
        self.replay = replay(config)
        self.steps, self.updates = 0, 0
        self._gen = torch.Generator().manual_seed(seed)

    def _actor(self, stochastic: bool) -> TensorDictModule:
        s, c = self.spaces, self.config
        if not stochastic:  # deterministic tanh policy (DDPG, TD3)
            net = nn.Sequential(mlp(s, s.obs_dim, s.act_dim, c.hidden), nn.Tanh(), PaddedActions(s))
            return TensorDictModule(
                net, in_keys=[(AGENTS, "observation")], out_keys=[(AGENTS, "action")]
            )
        return gaussian_actor(s, c.hidden, self.spec, log_prob=False)

    def _loss(self) -> Any:
        c = self.config
        if c.algo == "ddpg":
            return DDPGLoss(self.actor, self.critic, delay_actor=True, delay_value=True)
        if c.algo == "td3":
            return TD3Loss(
                self.actor,
                self.critic,
                action_spec=self.spec,
                policy_noise=c.policy_noise,
                noise_clip=c.noise_clip,
                loss_function="l2",
            )
        return SACLoss(
            self.actor,
            self.critic,
            action_spec=self.spec,
            alpha_init=c.alpha_init,
            loss_function="l2",
        )

    def policy_step(self, td: TensorDict, explore: bool) -> TensorDict:
        """Mean (SAC) or deterministic action; ``explore``: sampled (SAC) or + Gaussian noise."""
        from tensordict.nn import InteractionType, set_interaction_type

        mode = InteractionType.RANDOM if explore else InteractionType.DETERMINISTIC
        with set_interaction_type(mode):
            td = self.actor(td)
        if explore and self.config.algo != "sac":
            act = td[AGENTS, "action"]
            noise = torch.randn(act.shape, generator=self._gen) * self.config.exploration_noise
            td[AGENTS, "action"] = (act + noise).clamp(-1.0, 1.0)
        return td

    def update(self, batch: TensorDict) -> dict[str, float]:
        """Critic (and entropy) step every call; actor step every ``policy_delay`` for TD3."""
        losses = self.loss(batch)
        c = self.config
        critic = sum(v for k, v in losses.items() if k.startswith("loss_") and k != "loss_actor")
        actor_due = c.algo != "td3" or self.updates % c.policy_delay == 0
        self.optim_critic.zero_grad()
        self.optim_actor.zero_grad()
        (critic + (losses["loss_actor"] if actor_due else 0.0)).backward()
        nn.utils.clip_grad_norm_(self.loss.parameters(), c.grad_clip)
        self.optim_critic.step()
        if actor_due:
            self.optim_actor.step()
            self.target.step()
        self.updates += 1
        return loss_values(losses)
