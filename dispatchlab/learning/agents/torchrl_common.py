"""What every TorchRL-backed agent shares: the env's agents as padded tensors, the loop, arrays.

The learners of :mod:`.torchrl_offpolicy` and :mod:`.torchrl_onpolicy` take their losses,
networks, replay buffers, target updates and GAE from TorchRL (docs/design/learning.md
says why). This module is the glue to dispatchlab's PettingZoo parallel environments:

- :class:`AgentSpaces` reads the agents' spaces from an env. Agents may differ in observation
  width (``voltage-control``: one region per device) and in action size (an SVC sets only Q, a
  capacitor has 5 steps and the OLTC 11), while TorchRL's multi-agent modules
  (``MultiAgentMLP``) want one width per group, so observations are zero-padded to the widest and
  actions live in a padded space: continuous actions in [−1, 1]^d (rescaled to each agent's box
  by :meth:`AgentSpaces.to_env`, extra dimensions dropped), discrete actions with the options an
  agent lacks masked out. ``joint=True`` views the whole env as one agent (DDPG on the joint
  observation → joint action, seed001's single-agent baseline).
- :func:`transition` turns one env step into the TensorDict layout of TorchRL's multi-agent
  examples (``("agents", "observation")`` of shape (n_agents, d), ``("next", "agents",
  "reward")`` of shape (n_agents, 1) …).
- :func:`train` runs any agent on an env for a step budget (off-policy: store, sample, update;
  on-policy: collect ``frames_per_batch`` steps, update) and :func:`policy_callable` wraps a
  trained agent for :func:`dispatchlab.learning.evaluate.evaluate`.
- :func:`module_arrays` / :func:`load_module_arrays`: weights as numpy arrays, so checkpoints
  stay ``.npz`` (:mod:`dispatchlab.learning.checkpoint`, never pickle); :class:`AgentWeights`
  gives every agent its ``state_dict`` / ``load_state_dict`` from them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from tensordict import TensorDict
from torch import nn

AGENTS = "agents"


@dataclass(frozen=True)
class AgentSpaces:
    """The agents of a parallel env as one padded group (see the module docstring)."""

    agents: tuple[str, ...]  #: env agent names, in the env's order
    obs_dims: tuple[int, ...]  #: flattened observation width per agent
    discrete: bool  #: Discrete actions (True) or Box actions (False)
    act_sizes: tuple[int, ...]  #: options per agent (discrete) or action dimensions (continuous)
    low: tuple[np.ndarray, ...] = ()  #: Box lower bounds per agent (continuous only)
    high: tuple[np.ndarray, ...] = ()  #: Box upper bounds per agent (continuous only)
    joint: bool = False  #: the whole env as one agent

    @classmethod
    def from_env(cls, env: Any, joint: bool = False) -> AgentSpaces:
        """Read the spaces of every possible agent; mixed Discrete/Box agents are an error."""
        agents = tuple(env.possible_agents)
        obs = tuple(int(np.prod(env.observation_space(a).shape)) for a in agents)
        acts = [env.action_space(a) for a in agents]
        kinds = {type(s).__name__ for s in acts}
        if kinds == {"Discrete"}:
            if joint:
                raise ValueError(
                    "joint=True needs Box actions: a joint Discrete space has "
                    f"{int(np.prod([s.n for s in acts]))} options; use one agent per device"
                )
            return cls(agents, obs, True, tuple(int(s.n) for s in acts))
        if kinds == {"Box"}:
            low = tuple(np.asarray(s.low, np.float64).ravel() for s in acts)
            high = tuple(np.asarray(s.high, np.float64).ravel() for s in acts)
            if any(not np.isfinite(np.r_[lo, hi]).all() for lo, hi in zip(low, high, strict=True)):
                raise ValueError("Box actions need finite bounds to be scaled into [-1, 1]")
            return cls(agents, obs, False, tuple(len(lo) for lo in low), low, high, joint)
        raise ValueError(f"agents need all-Discrete or all-Box action spaces, got {sorted(kinds)}")

    @property
    def n_agents(self) -> int:
        """Agents as the networks see them (1 when ``joint``)."""
        return 1 if self.joint else len(self.agents)

    @property
    def obs_dim(self) -> int:
        """Padded observation width (the sum of all widths when ``joint``)."""
        return sum(self.obs_dims) if self.joint else max(self.obs_dims)

    @property
    def act_dim(self) -> int:
        """Padded action width: options (discrete) or dimensions (continuous)."""
        return sum(self.act_sizes) if self.joint else max(self.act_sizes)

    def action_mask(self) -> torch.Tensor:
        """(n_agents, act_dim) bool: which padded options / dimensions an agent really has."""
        if self.joint:
            return torch.ones(1, self.act_dim, dtype=torch.bool)
        idx = torch.arange(self.act_dim)
        return idx[None, :] < torch.tensor(self.act_sizes)[:, None]

    def stack(self, observations: Mapping[str, Any]) -> np.ndarray:
        """(n_agents, obs_dim) float32, zero-padded (or one concatenated row when joint)."""
        rows = [np.asarray(observations[a], np.float32).ravel() for a in self.agents]
        if self.joint:
            return np.concatenate(rows)[None, :]
        out = np.zeros((len(rows), self.obs_dim), np.float32)
        for k, row in enumerate(rows):
            out[k, : len(row)] = row
        return out

    def to_env(self, action: np.ndarray) -> dict[str, Any]:
        """Padded actions (n_agents, ·) → the env's dict: positions, or set-points in the box."""
        action = np.asarray(action)
        if self.discrete:
            return {a: int(action[k]) for k, a in enumerate(self.agents)}
        parts = (
            np.split(action[0], np.cumsum(self.act_sizes)[:-1])
            if self.joint
            else [action[k, :n] for k, n in enumerate(self.act_sizes)]
        )
        out = {}
        for a, u, lo, hi in zip(self.agents, parts, self.low, self.high, strict=True):
            u = np.clip(np.asarray(u, np.float64), -1.0, 1.0)
            out[a] = lo + 0.5 * (u + 1.0) * (hi - lo)
        return out


class ObsScaler(nn.Module):
    """Standardizes padded observations with a mean and std fixed before training.

    Fixed (not running) statistics so the same numbers act in training and in the saved policy;
    they are buffers, so they travel in the state dict and the checkpoint.
    """

    def __init__(self, n_agents: int, obs_dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_agents, obs_dim))
        self.register_buffer("std", torch.ones(n_agents, obs_dim))

    def fit(self, obs: np.ndarray) -> None:
        """Set the statistics from sample observations (N, n_agents, obs_dim)."""
        x = torch.as_tensor(obs, dtype=torch.float32)
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0, unbiased=False) + 1e-6)

    def forward(self, obs: np.ndarray | torch.Tensor) -> torch.Tensor:
        return (torch.as_tensor(obs, dtype=torch.float32) - self.mean) / self.std


class PaddedActions(nn.Module):
    """Pins the padded action dimensions an agent does not have (an SVC's missing P).

    Deterministic actors: the padded entries are set to 0. Gaussian actors (``(loc, scale)``
    in, the same out): the padded entries get loc 0 and scale 1 whatever the parameters, so
    their log-probability and entropy do not depend on the weights and PPO's ratio and SAC's
    entropy term see only the dimensions that act on the grid.
    """

    def __init__(self, spaces: AgentSpaces):
        super().__init__()
        self.register_buffer("mask", spaces.action_mask().float())

    def forward(self, *x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if len(x) == 1:
            return x[0] * self.mask
        loc, scale = x
        return loc * self.mask, scale * self.mask + (1.0 - self.mask)


def sample_observations(env: Any, spaces: AgentSpaces, steps: int, seed: int) -> np.ndarray:
    """(steps, n_agents, obs_dim) observations under uniform random actions (for the scaler)."""
    return random_rollout(env, steps, seed, lambda obs: spaces.stack(obs))


def sample_states(env: Any, steps: int, seed: int) -> np.ndarray:
    """(steps, 1, state_dim) global states ``env.state()`` under uniform random actions."""
    return random_rollout(env, steps, seed, lambda obs: np.asarray(env.state(), np.float32)[None])


def random_rollout(env: Any, steps: int, seed: int, record: Callable[[Any], np.ndarray]):
    """``record(observations)`` at each of ``steps`` steps of uniform random play, stacked."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    rows = []
    for _ in range(steps):
        rows.append(record(obs))
        obs, *_ = env.step(_random_actions(env, rng))
        if not env.agents:
            obs, _ = env.reset(seed=int(rng.integers(2**31)))
    return np.stack(rows)


def _random_actions(env: Any, rng: np.random.Generator) -> dict[str, Any]:
    out = {}
    for a in env.agents:
        space = env.action_space(a)
        if hasattr(space, "n"):
            out[a] = int(rng.integers(space.n))
        else:
            out[a] = rng.uniform(space.low, space.high)
    return out


class TorchRLAgent(Protocol):
    """What :func:`train` needs from an agent of :mod:`.torchrl_offpolicy` / `.torchrl_onpolicy`."""

    spaces: AgentSpaces
    scaler: ObsScaler
    on_policy: bool
    state_scaler: ObsScaler | None  #: set by agents that read ``env.state()`` (QMIX's mixer)

    def policy_step(self, td: TensorDict, explore: bool) -> TensorDict: ...

    def record(self, td: TensorDict) -> dict[str, float] | None: ...


def transition(
    spaces: AgentSpaces, scaler: ObsScaler, step_td: TensorDict, out: tuple, reward_scale: float
) -> TensorDict:
    """One env step in TorchRL's multi-agent layout; ``out`` is the env's step 5-tuple.

    ``step_td`` holds the (scaled) observation and what the policy wrote (action, log-prob);
    the next observation is scaled with ``scaler`` (zeros after the last step: never
    bootstrapped from, as ``done`` is set).
    """
    next_obs, rewards, terminated, truncated, _ = out
    n = spaces.n_agents
    names = spaces.agents
    r = np.array([rewards[a] for a in names], np.float32) * reward_scale
    r = r.mean(keepdims=True) if spaces.joint else r  # joint: the (shared) team reward
    term = bool(any(terminated[a] for a in names))
    done = term or bool(any(truncated[a] for a in names)) or not next_obs
    nxt = scaler(spaces.stack(next_obs)) if next_obs else torch.zeros(n, spaces.obs_dim)
    agents_next = TensorDict(
        {
            "observation": nxt,
            "reward": torch.from_numpy(r).reshape(n, 1),
            "done": torch.full((n, 1), done),
            "terminated": torch.full((n, 1), term),
        },
        batch_size=[n],
    )
    td = step_td.clone(False)
    td.set(
        "next",
        TensorDict(
            {
                AGENTS: agents_next,
                "reward": torch.from_numpy(r).mean().reshape(1),  # the team reward (QMIX)
                "done": torch.tensor([done]),
                "terminated": torch.tensor([term]),
            },
            batch_size=[],
        ),
    )
    return td


@dataclass(frozen=True)
class TrainConfig:
    """The budget and seed of :func:`train`."""

    env_steps: int = 20_000  #: environment steps (each agent acts once per step)
    seed: int = 0  #: seeds torch, the replay sampling and the episodes (reset seed + episode)
    reward_scale: float = 1.0  #: rewards are multiplied by this before they reach the losses
    log_every: int = 0  #: print progress every this many steps (0: quiet)

    def __post_init__(self) -> None:
        if not isinstance(self.env_steps, int) or self.env_steps < 1:
            raise ValueError(f"TrainConfig.env_steps must be a positive integer: {self.env_steps}")
        if not self.reward_scale > 0:
            raise ValueError(f"TrainConfig.reward_scale must be > 0, got {self.reward_scale}")

    @classmethod
    def quick(cls, seed: int = 0, reward_scale: float = 1.0) -> TrainConfig:
        """The test budget: 480 env steps (20 days of ``voltage-control``, 5 of the discrete
        env), seconds per learner on one CPU thread; shows the loop, not converged learning."""
        return cls(env_steps=480, seed=seed, reward_scale=reward_scale)


def train(env: Any, agent: TorchRLAgent, config: TrainConfig) -> dict[str, list[float]]:
    """Run ``agent`` on ``env`` for ``config.env_steps`` steps; returns episode returns and losses.

    Episode returns are the sum over steps of the mean agent reward (the shared team reward of
    the dispatch envs), unscaled.
    """
    torch.manual_seed(config.seed)
    history: dict[str, list[float]] = {"episode_return": [], "loss": []}
    episode, ep_return, t0 = 0, 0.0, time.perf_counter()
    raw, _ = env.reset(seed=config.seed)
    for step in range(config.env_steps):
        obs = agent.scaler(agent.spaces.stack(raw))
        td = TensorDict({AGENTS: TensorDict({"observation": obs}, [obs.shape[0]])}, [])
        state_scaler = getattr(agent, "state_scaler", None)
        if state_scaler is not None:
            td["state"] = state_scaler(np.asarray(env.state())[None])[0]
        with torch.no_grad():
            td = agent.policy_step(td, explore=True)
        action = td[AGENTS, "action"]
        out = env.step(agent.spaces.to_env(_env_action(agent.spaces, action)))
        ep_return += float(np.mean([out[1][a] for a in agent.spaces.agents]))
        full = transition(agent.spaces, agent.scaler, td, out, config.reward_scale)
        if state_scaler is not None:  # after the last step: the final state, never bootstrapped
            full["next", "state"] = state_scaler(np.asarray(env.state())[None])[0]
        losses = agent.record(full)
        if losses:
            history["loss"].append(float(sum(losses.values())))
        raw = out[0]
        if bool(full["next", "done"]):
            history["episode_return"].append(ep_return)
            episode, ep_return = episode + 1, 0.0
            raw, _ = env.reset(seed=config.seed + episode)
        if config.log_every and (step + 1) % config.log_every == 0:
            _progress(step + 1, config.env_steps, t0, history)
    return history


def _env_action(spaces: AgentSpaces, action: torch.Tensor) -> np.ndarray:
    """Discrete: one-hot or index → index per agent; continuous: the values."""
    a = action.detach().numpy()
    if spaces.discrete and a.ndim == 2:
        return a.argmax(-1)
    return a


def _progress(step: int, total: int, t0: float, history: dict[str, list[float]]) -> None:
    elapsed = time.perf_counter() - t0
    eta = elapsed / step * (total - step)
    recent = history["episode_return"][-5:]
    ret = f"{np.mean(recent):.1f}" if recent else "-"
    print(f"step {step}/{total}  return(last 5) {ret}  {elapsed:.0f} s, ETA {eta:.0f} s")


def policy_callable(agent: TorchRLAgent, name: str) -> Callable[[Any, Any], dict[str, Any]]:
    """``policy(env, observations) -> actions`` (greedy / mean action) for ``evaluate``."""

    def policy(env: Any, observations: Any) -> dict[str, Any]:
        obs = agent.scaler(agent.spaces.stack(observations))
        td = TensorDict({AGENTS: TensorDict({"observation": obs}, [obs.shape[0]])}, [])
        with torch.no_grad():
            td = agent.policy_step(td, explore=False)
        return agent.spaces.to_env(_env_action(agent.spaces, td[AGENTS, "action"]))

    policy.name = name  # type: ignore[attr-defined]
    return policy


def module_arrays(modules: Mapping[str, nn.Module]) -> dict[str, np.ndarray]:
    """Every parameter and buffer of ``modules`` as numpy arrays named ``name/<key>``.

    TorchRL's loss modules also put the batch size and device of their parameter TensorDicts
    in the state dict; those are structure, not weights, and are rebuilt by the constructor.
    """
    out: dict[str, np.ndarray] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            if isinstance(value, torch.Tensor):
                out[f"{name}/{key}"] = value.detach().cpu().numpy().copy()
    return out


def load_module_arrays(modules: Mapping[str, nn.Module], arrays: Mapping[str, np.ndarray]) -> None:
    """Inverse of :func:`module_arrays`; a missing or unknown weight is an error naming it."""
    for name, module in modules.items():
        start = f"{name}/"
        given = {k[len(start) :]: v for k, v in arrays.items() if k.startswith(start)}
        if not given:
            raise KeyError(f"the arrays hold no weights for '{name}'")
        state = module.state_dict()
        wanted = {k for k, v in state.items() if isinstance(v, torch.Tensor)}
        missing, unknown = sorted(wanted - set(given)), sorted(set(given) - wanted)
        if missing or unknown:
            raise KeyError(f"weights of '{name}': missing {missing[:5]}, unknown {unknown[:5]}")
        state.update({k: torch.from_numpy(np.array(v)) for k, v in given.items()})
        module.load_state_dict(state, strict=True)


def loss_values(losses: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """The ``loss_*`` terms of a TorchRL loss output as floats (what :func:`train` logs)."""
    return {k: float(v.detach()) for k, v in losses.items() if k.startswith("loss_")}


class AgentWeights:
    """An agent's checkpoint: its loss module (every network and target) and scaler(s)."""

    loss: nn.Module
    scaler: ObsScaler

    def _modules(self) -> dict[str, nn.Module]:
        return {"loss": self.loss, "scaler": self.scaler}

    def state_dict(self) -> dict[str, np.ndarray]:
        """The weights of :meth:`_modules` as numpy arrays (:func:`module_arrays`)."""
        return module_arrays(self._modules())

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        load_module_arrays(self._modules(), arrays)
