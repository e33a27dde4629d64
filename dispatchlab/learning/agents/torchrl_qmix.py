"""QMIX from TorchRL: per-agent Q-networks mixed monotonically, conditioned on ``env.state()``.

:class:`QMIXAgent` (Rashid et al. 2018) is :class:`~.torchrl_offpolicy.DQNAgent`'s per-agent
networks and ε-greedy acting with TorchRL's ``QMixer`` (hypernetworks on the global state give
non-negative mixing weights, so Q_tot is monotonic in every agent's Q and the greedy joint
action is the agents' own greedy actions) and ``QMixerLoss`` on the team reward. The loop of
:func:`~.torchrl_common.train` stores the scaled ``env.state()`` under ``"state"`` (and
``("next", "state")``) for agents with a ``state_scaler``; execution stays decentralized (the
mixer is used in training only). seed004 names QMIX among its MARL baselines.
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.modules import QMixer
from torchrl.objectives import QMixerLoss

from dispatchlab.learning.agents.torchrl_common import AGENTS, AgentSpaces, ObsScaler
from dispatchlab.learning.agents.torchrl_offpolicy import DQNAgent, OffPolicyConfig


class QMIXAgent(DQNAgent):
    """QMIX on TorchRL's ``QMixerLoss``; ``state_dim`` is the width of ``env.state()``."""

    def __init__(self, spaces: AgentSpaces, config: OffPolicyConfig, state_dim: int, seed=0):
        if state_dim < 1:
            raise ValueError(f"QMIX needs the env's global state; got state_dim={state_dim}")
        self.state_dim = state_dim
        super().__init__(spaces, config, seed)
        self.state_scaler = ObsScaler(1, state_dim)

    def _make_loss(self) -> Any:
        mixer = TensorDictModule(
            QMixer(
                state_shape=(self.state_dim,),
                mixing_embed_dim=self.config.mixing_embed_dim,
                n_agents=self.spaces.n_agents,
                device="cpu",
            ),
            in_keys=[(AGENTS, "chosen"), "state"],
            out_keys=["chosen_action_value"],
        )
        loss = QMixerLoss(
            self.actor,
            mixer,
            loss_function="smooth_l1",
            delay_value=True,
            action_space=self.spec,
        )
        loss.set_keys(
            action_value=(AGENTS, "action_value"),
            local_value=(AGENTS, "chosen"),
            global_value="chosen_action_value",
            action=(AGENTS, "action"),
        )
        return loss

    def _modules(self) -> dict[str, nn.Module]:
        return {"loss": self.loss, "scaler": self.scaler, "state_scaler": self.state_scaler}

    def fit_state_scale(self, states: torch.Tensor | Any) -> None:
        """Fix the state standardization from sample states (N, 1, state_dim)."""
        self.state_scaler.fit(states)
