"""seed001: information-fusion MADDPG with hybrid replay and coach data (Dou et al. 2025).

Readable top to bottom:

1. :class:`~.config.Seed001Config` — every hyperparameter, with its source;
2. :mod:`.data` — the days: JJA cluster centres (6 train / 1 test), coach days, held-out days;
3. :func:`train` — the learner of :mod:`.fusion` on the training days, with the hybrid replay
   of :func:`hybrid_replay` and the coach transitions of :func:`coach_transitions` inserted
   once the warm-up is over;
4. :class:`Seed001Method` — decentralized execution (each agent acts on its local observation);
   ``save`` / :func:`load_method` through :mod:`dispatchlab.learning.checkpoint` (no pickle).

The counterparts (DDPG, MADDPG, MASAC, GRPO from ``learning/agents``) are in
:mod:`.baselines`; the exact ones and the metrics in :mod:`.compare`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer
from tqdm.auto import tqdm

from dispatchlab.learning.agents.torchrl_common import AgentSpaces, sample_observations
from dispatchlab.learning.agents.torchrl_replay import StratifiedReplayBuffer
from dispatchlab.learning.checkpoint import (
    CheckpointError,
    config_from,
    load_checkpoint,
    save_checkpoint,
)
from dispatchlab.learning.methods.seed001.config import Seed001Config
from dispatchlab.learning.methods.seed001.data import (
    check_agents,
    day_sets,
    diverged_step,
    make_day_env,
)
from dispatchlab.learning.methods.seed001.fusion import FusionMADDPG
from dispatchlab.learning.seeding import seed_everything

METHOD = "seed001"
HOURS = 24  #: strata of the hybrid replay: the hour of day of a transition


def hybrid_replay(config: Seed001Config) -> TensorDictReplayBuffer:
    """§4.3's hybrid prioritized replay, or TorchRL's uniform one (``hybrid_replay=False``).

    Table 3 gives "initial sampling ratio 0.99" and "sampling ratio decay rate 0.5". Our
    reading: the *ratio* is the share of each batch drawn from the newest ``recent_window``
    transitions (the "most recent experiences … preferentially selected"), the rest stratified
    over the 24 hours of the day (a stratum uniformly among the non-empty ones, then a
    transition uniformly inside it); the ratio starts at 0.99 and is multiplied by 0.5 after
    every training episode (day), so after a week of days the batches are almost purely
    stratified. :func:`recent_share` is that schedule."""
    if not config.hybrid_replay:
        return TensorDictReplayBuffer(
            storage=LazyTensorStorage(config.buffer_size), batch_size=config.batch_size
        )
    return StratifiedReplayBuffer(
        config.buffer_size,
        config.batch_size,
        HOURS,
        recent_share=config.recent_share,
        recent_window=config.recent_window,
    )


def recent_share(config: Seed001Config, episodes: int) -> float:
    """The newest transitions' share after ``episodes`` finished days: 0.99 · 0.5^episodes."""
    return config.recent_share * config.recent_decay**episodes


def from_env(spaces: AgentSpaces, actions: dict[str, Any]) -> np.ndarray:
    """The env's action dict → padded actions in [−1, 1] (inverse of ``spaces.to_env``)."""
    out = np.zeros((spaces.n_agents, spaces.act_dim), np.float32)
    for k, a in enumerate(spaces.agents):
        x = np.asarray(actions[a], np.float64).ravel()
        lo, hi = spaces.low[k], spaces.high[k]
        out[k, : len(x)] = np.clip(2.0 * (x - lo) / np.where(hi > lo, hi - lo, 1.0) - 1.0, -1, 1)
    return out


def record(raw_obs, action: np.ndarray, out: tuple, hour: int, config) -> dict[str, Any]:
    """One transition with raw observations (scaled when stored: the coach's transitions are
    collected before the learner's scaler exists)."""
    next_obs, rewards, *_ = out
    agents = list(rewards)
    return {
        "obs": raw_obs,
        "action": np.asarray(action, np.float32),
        "reward": np.array([[rewards[a]] for a in agents], np.float32) * config.reward_scale,
        "next_obs": next_obs,
        "done": not next_obs,
        "stratum": hour,
    }


def to_td(agent: FusionMADDPG, tr: dict[str, Any]) -> TensorDict:
    """A :func:`record` dict as the replay's TensorDict (observations standardized)."""
    s = agent.spaces
    obs = agent.scaler(s.stack(tr["obs"]))
    nxt = agent.scaler(s.stack(tr["next_obs"])) if tr["next_obs"] else torch.zeros_like(obs)
    return TensorDict(
        {
            "obs": obs,
            "action": torch.as_tensor(tr["action"]),
            "reward": torch.as_tensor(tr["reward"]),
            "next_obs": nxt,
            "done": torch.tensor([tr["done"]]),
            "stratum": torch.tensor([tr["stratum"]]),
        },
        batch_size=[],
    )


class Seed001Method:
    """A trained seed001 policy: the actors and the observation scaler."""

    def __init__(self, config: Seed001Config, agent: FusionMADDPG, metrics: dict | None = None):
        self.config, self.agent = config, agent
        self.metrics = dict(metrics or {})

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The env's action dict for the env's observation dict (greedy, no noise)."""
        s = self.agent.spaces
        obs = self.agent.scaler(s.stack(observations))
        return s.to_env(self.agent.act(obs).numpy())

    def policy(self, name: str = "learned") -> Callable:
        """``policy(env, observations) -> actions`` for :func:`~dispatchlab.learning.evaluate.
        evaluate` and :mod:`.compare`."""

        def policy(env, observations):
            return self.act(observations)

        policy.name = name  # type: ignore[attr-defined]
        return policy

    def save(self, path: str | Path) -> Path:
        """Checkpoint: actor weights, scaler, config, metrics and the agent set."""
        meta = {"agents": list(self.agent.spaces.agents), "case": self.config.case}
        return save_checkpoint(
            path, METHOD, self.config, self.agent.state_dict(), self.metrics, meta
        )


def load_method(path: str | Path, env=None) -> Seed001Method:
    """Rebuild a :class:`Seed001Method` from :meth:`Seed001Method.save`'s file (no pickle);
    ``env`` (optional) must have the checkpoint's agents."""
    header, arrays = load_checkpoint(path, METHOD)
    cfg = config_from(Seed001Config, header)
    env = env if env is not None else make_day_env(cfg, day_sets(cfg.case, cfg.pool_seed).test)
    check_agents(header, env.possible_agents, path)
    agent = FusionMADDPG(AgentSpaces.from_env(env), cfg, cfg.seed)
    agent.load_state_dict(arrays)
    return Seed001Method(cfg, agent, header.get("metrics", {}))


def policy_from_checkpoint(path: str | Path, env_name: str) -> Callable:
    """A ``policy(env, observations) -> actions`` for ``dispatchlab evaluate`` from a
    ``seed001`` or ``seed001-<counterpart>`` checkpoint; the env must be the checkpoint's case
    (``-o case=…``) with its agents, else a CheckpointError naming both."""
    if env_name != "voltage-control":
        raise ValueError(f"a seed001 checkpoint drives 'voltage-control', not '{env_name}'")
    header, _ = load_checkpoint(path)
    case = header["config"].get("case")
    name = str(header.get("method"))
    loaded: dict[str, Callable] = {}

    def policy(env, observations):
        if env.case.name != case:
            raise CheckpointError(
                f"{path}: checkpoint ({name}) was trained on case '{case}', this env runs "
                f"'{env.case.name}' (pass -o case={case})"
            )
        if "policy" not in loaded:
            if name == METHOD:
                loaded["policy"] = load_method(path, env).policy(f"seed001:{Path(path).name}")
            else:
                from dispatchlab.learning.methods.seed001.baselines import load_baseline

                loaded["policy"] = load_baseline(path, name.partition("-")[2], env)
        return loaded["policy"](env, observations)

    policy.name = f"{name}:{Path(path).name}"  # type: ignore[attr-defined]
    return policy


# ------------------------------------------------------------------------------- training
def train(config: Seed001Config, log: Callable | None = print) -> Seed001Method:
    """Train on the training days (see the module docstring). Metrics: the day cost of every
    training episode, the coach run's time, the training time, the gradient steps."""
    torch.set_num_threads(config.torch_threads)
    seed_everything(config.seed)
    t0 = time.perf_counter()
    days = day_sets(config.case, config.pool_seed, config.n_train, config.heldout_per_cluster)
    coach = coach_transitions(config, days.coach, log) if config.coach != "none" else []
    t_coach = time.perf_counter() - t0
    env = make_day_env(config, days.train)
    agent = FusionMADDPG(AgentSpaces.from_env(env), config, config.seed)
    agent.scaler.fit(sample_observations(env, agent.spaces, 24 * len(days.train), config.seed))
    val_env = make_day_env(config, days.train, noise=False)
    curve, val_curve = run_training(env, agent, config, coach, log, val_env)
    metrics = {
        "train_day_cost": curve,
        "validation_day_cost": val_curve,
        "coach_s": t_coach,
        "train_s": time.perf_counter() - t0,
        "updates": agent.updates,
        "train_days": list(days.train),
        "coach_transitions": len(coach),
    }
    return Seed001Method(config, agent, metrics)


def run_training(env, agent, config: Seed001Config, coach: list, log, val_env=None) -> tuple:
    """The loop: explore, store (hour stratum), insert the coach data after warm-up, update.
    Every ``eval_every`` days the greedy policy plays ``val_env``'s days (the training days
    without noise) and the best actor is kept: MADDPG's returns are not monotone (runs here
    collapsed from near-optimal days into over-voltage after a few hundred updates), and
    choosing on training days leaks nothing of the test days. Returns the env cost of every
    training day and the (env step, mean validation day cost) pairs."""
    buffer = hybrid_replay(config)
    gen = np.random.default_rng(config.seed)
    curve, day_cost, episode = [], 0.0, 0
    raw, _ = env.reset(seed=config.seed)
    sigma = config.exploration_noise
    best, best_state, val_curve = np.inf, None, []
    # a bar with the time left when the run logs (the CLI); silent in library use
    steps = tqdm(range(config.env_steps), desc="seed001 train", unit="step", disable=log is None)
    for step in steps:
        hour = env.core.t % HOURS
        act = agent.act(agent.scaler(agent.spaces.stack(raw)), sigma).numpy()
        out = diverged_step(env, agent.spaces.to_env(act), config)
        buffer.add(to_td(agent, record(raw, act, out, hour, config)))
        day_cost += float(next(iter(out[4].values()))["metrics"]["cost"])
        if step + 1 == config.learning_starts and coach:
            buffer.extend(torch.stack([to_td(agent, tr) for tr in coach]))
        if step + 1 >= max(config.learning_starts, 1) and len(buffer) >= min(
            config.batch_size, 256
        ):
            for _ in range(config.updates_per_step):
                agent.update(buffer.sample())
        raw = out[0]
        if not env.agents:
            curve.append(day_cost)
            episode, day_cost = episode + 1, 0.0
            sigma = max(0.02, sigma * config.exploration_decay)
            if isinstance(buffer, StratifiedReplayBuffer):
                buffer.sampler.recent_share = recent_share(config, episode)
            raw, _ = env.reset(seed=config.seed * 100_003 + episode + int(gen.integers(1 << 20)))
            if val_env is not None and episode % config.eval_every == 0 and agent.updates:
                val_curve.append((step + 1, greedy_day_cost(agent, val_env, config)))
                if val_curve[-1][1] < best:
                    best, best_state = val_curve[-1][1], agent.state_dict()
            if log and episode % 5 == 0:
                log(f"day {episode}: cost {curve[-1]:.1f} (mean of last 10 "
                    f"{np.mean(curve[-10:]):.1f}), {agent.updates} updates")  # fmt: skip
    if best_state is not None:
        agent.load_state_dict(best_state)
        if log:
            log(f"kept the actor of step {min(val_curve, key=lambda v: v[1])[0]}: "
                f"validation day cost {best:.1f}")  # fmt: skip
    return curve, val_curve


def greedy_day_cost(agent: FusionMADDPG, env, config: Seed001Config) -> float:
    """Mean env day cost of the greedy policy over ``env``'s profile days (a diverged power
    flow costs ``diverged_cost`` per remaining step)."""
    days = env.core.profiles.labels
    total = 0.0
    for day in days:
        raw, _ = env.reset(seed=0, options={"day": day})
        while env.agents:
            act = agent.act(agent.scaler(agent.spaces.stack(raw)))
            t = env.core.t
            out = diverged_step(env, agent.spaces.to_env(act.numpy()), config)
            info = next(iter(out[4].values()))
            n = env.core.horizon - t if info.get("diverged") else 1
            total += n * float(info["metrics"]["cost"])
            raw = out[0]
    return total / len(days)


def coach_transitions(config: Seed001Config, coach_days: tuple[str, ...], log) -> list[dict]:
    """§4.5's coach data on ``coach_days``: ``coach="reference"`` trains a reference policy
    (the same learner, no coach of its own, ``coach_steps`` steps) on them and records its
    greedy play; ``"opf"`` records the per-step AC-OPF (``env.oracle()``) instead. Each day is
    played ``coach_passes`` times (different noise)."""
    env = make_day_env(config, coach_days)
    spaces = AgentSpaces.from_env(env)
    if config.coach == "reference":
        ref_cfg = config.replace(coach="none", env_steps=max(1, config.coach_steps))
        ref = FusionMADDPG(spaces, ref_cfg, config.seed + 1)
        ref.scaler.fit(sample_observations(env, spaces, 24 * len(coach_days), config.seed + 1))
        run_training(env, ref, ref_cfg, [], None, make_day_env(config, coach_days, noise=False))

        def decide(obs):
            return spaces.to_env(ref.act(ref.scaler(spaces.stack(obs))).numpy())
    else:

        def decide(obs):
            return env.oracle().action

    out = []
    for p in range(config.coach_passes):
        for i, day in enumerate(coach_days):
            raw, _ = env.reset(seed=10_000 + p * 1_000 + i, options={"day": day})
            while env.agents:
                hour = env.core.t % HOURS
                action = decide(raw)
                step = diverged_step(env, action, config)
                out.append(record(raw, from_env(spaces, action), step, hour, config))
                raw = step[0]
    if log:
        log(f"coach ({config.coach}): {len(out)} transitions on {len(coach_days)} day(s)")
    return out
