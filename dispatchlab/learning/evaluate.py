"""Run a policy on an environment and report the paper's metrics beside the exact oracle.

``evaluate(env, policy)`` plays whole episodes of any dispatch environment (PettingZoo parallel
or gymnasium) with a policy — ``"random"``, ``"oracle"`` or a callable ``(env, observations) ->
actions`` — and returns a tidy per-step table: reward, each metric the environment reports in
``info["metrics"]``, each violation family in ``info["violations"]`` and, with
``with_oracle=True``, the exact oracle's objective for the same state (the optimal line of a
learning curve). ``summarize`` turns it into one row per policy: means with spread over episodes
and the tail (p99, max) of violations.

With ``safety=True`` every decision passes through the environment's safety layer
(:func:`~dispatchlab.learning.safety.make_safety_layer`) before it is played; the per-step
table then has a ``safety`` column (ok / repair / fallback / fallback-failed) that
``summarize`` counts, and its violation columns are those of the delivered actions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

Policy = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class EvaluationConfig:
    """How many episodes, from which seed, and what to record."""

    episodes: int = 1  #: episodes to play; episode e is reset with seed + e
    seed: int = 0  #: seeds the environment's reset and the random policy's action spaces
    max_steps: int | None = None  #: stop an episode early after this many steps (None: to the end)
    with_oracle: bool = False  #: also solve the oracle on every state (its objective per step)
    progress: bool = True  #: show a progress bar
    #: scenario days: episode e plays ``reset(seed=seed + e, options={"day": days[e]})``, so
    #: policies compared in separate runs play the same days; None: the seed picks the day
    days: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.days is not None:
            object.__setattr__(self, "days", tuple(self.days))
            object.__setattr__(self, "episodes", len(self.days))
        if self.episodes < 1:
            raise ValueError(f"episodes must be ≥ 1, got {self.episodes}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be ≥ 1 or None, got {self.max_steps}")


def random_policy(env: Any, observations: Any) -> Any:
    """Uniform random actions from each agent's (seeded) action space."""
    if _is_parallel(env):
        return {a: env.action_space(a).sample() for a in env.agents}
    return env.action_space.sample()


def oracle_policy(env: Any, observations: Any) -> Any:
    """The exact optimum's action for the current state."""
    return env.oracle().action


POLICIES: dict[str, Policy] = {"random": random_policy, "oracle": oracle_policy}


def evaluate(
    env: Any,
    policy: str | Policy,
    config: EvaluationConfig | None = None,
    *,
    safety: bool | Any = False,
) -> pd.DataFrame:
    """Play ``config.episodes`` episodes and return one row per step (see the module docstring).

    ``safety``: ``True`` filters every decision through the environment's safety layer, or
    pass a built :class:`~dispatchlab.learning.safety.SafetyLayer`."""
    config = config or EvaluationConfig()
    act = _policy(policy)
    if safety is True:
        from dispatchlab.learning.safety import make_safety_layer

        safety = make_safety_layer(env_name(env), env)
    if safety is not False and safety is not None:
        act = _filtered(act, safety)
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=config.episodes, desc="episodes", disable=not config.progress, leave=False)
    for episode in range(config.episodes):
        rows.extend(_episode(env, act, episode, config))
        bar.update()
    bar.close()
    frame = pd.DataFrame(rows)
    frame.insert(0, "policy", policy if isinstance(policy, str) else _name(policy))
    return frame


def summarize(steps: pd.DataFrame) -> pd.DataFrame:
    """Per policy: episode reward mean ± std, metric means, violation mean / p99 / max."""
    out = []
    for policy, frame in steps.groupby("policy", sort=False):
        per_episode = frame.groupby("episode")
        row: dict[str, Any] = {
            "policy": policy,
            "episodes": per_episode.ngroups,
            "steps": len(frame),
            "episode_reward_mean": per_episode["reward"].sum().mean(),
            "episode_reward_std": per_episode["reward"].sum().std(ddof=0),
        }
        for col in frame.columns:
            if col.startswith("metric_"):
                row[f"{col[7:]}_mean"] = frame[col].mean()
            elif col.startswith("violation_"):
                row[f"{col}_mean"] = frame[col].mean()
                row[f"{col}_p99"] = frame[col].quantile(0.99)
                row[f"{col}_max"] = frame[col].max()
        if "oracle_objective" in frame:
            row["oracle_objective_mean"] = frame["oracle_objective"].mean()
        if "safety" in frame:
            for outcome in ("ok", "clip", "repair", "fallback", "fallback-failed"):
                row[f"safety_{outcome.replace('-', '_')}"] = int((frame["safety"] == outcome).sum())
        out.append(row)
    return pd.DataFrame(out)


def _episode(env: Any, act: Policy, episode: int, config: EvaluationConfig) -> list[dict]:
    seed = config.seed + episode
    options = None if config.days is None else {"day": config.days[episode]}
    observations, _ = env.reset(seed=seed, options=options)
    _seed_spaces(env, seed)
    rows: list[dict[str, Any]] = []
    step = 0
    while not _done(env, step, config.max_steps):
        row: dict[str, Any] = {"episode": episode, "step": step}
        if config.with_oracle:
            oracle = env.oracle()
            row["oracle_objective"] = oracle.objective
        actions = act(env, observations)
        if isinstance(actions, _Filtered):
            actions, row["safety"] = actions.actions, actions.outcome
        observations, rewards, terminated, truncated, infos = env.step(actions)
        row["reward"] = _total(rewards)
        row.update(_flatten(_shared_info(infos)))
        rows.append(row)
        step += 1
        if not _is_parallel(env) and (terminated or truncated):
            break
    return rows


def env_name(env: Any) -> str:
    """The ``make_env`` name of environment instance ``env`` (by its class)."""
    from dispatchlab.learning.envs import ENVS

    entry = f"{type(env).__module__}:{type(env).__name__}"
    for name, spec in ENVS.items():
        if entry in (spec.entry, spec.vector_entry):
            return name
    raise ValueError(f"{entry} is no registered environment; pass a safety layer instead")


@dataclass(frozen=True)
class _Filtered:
    actions: Any
    outcome: str


def _filtered(act: Policy, layer: Any) -> Policy:
    """``act`` with every decision passed through ``layer`` (der-dispatch's layer works on the
    action array (n_units,), the others on the env's own action format)."""

    def decide(env: Any, observations: Any) -> _Filtered:
        actions = act(env, observations)
        if layer.env_name != "der-dispatch":
            return _Filtered(*layer.filter(actions))
        agents = env.possible_agents
        arr = np.array([np.asarray(actions[a]).reshape(-1)[0] for a in agents])
        fixed, outcome = layer.filter(arr)
        discrete = env.config.action_mode == "discrete"
        to = (lambda v: int(v)) if discrete else (lambda v: np.array([float(v)]))
        return _Filtered({a: to(v) for a, v in zip(agents, fixed, strict=True)}, outcome)

    decide.__name__ = _name(act)
    return decide


def _done(env: Any, step: int, max_steps: int | None) -> bool:
    if max_steps is not None and step >= max_steps:
        return True
    return _is_parallel(env) and not env.agents


def _seed_spaces(env: Any, seed: int) -> None:
    if _is_parallel(env):
        for i, agent in enumerate(env.possible_agents):
            env.action_space(agent).seed(seed * 100_003 + i)
    else:
        env.action_space.seed(seed)


def _shared_info(infos: Any) -> Mapping[str, Any]:
    """The info dict of a step; for PettingZoo the first agent's (metrics are global)."""
    if isinstance(infos, Mapping) and infos and all(isinstance(v, Mapping) for v in infos.values()):
        if "metrics" not in infos and "violations" not in infos:
            return next(iter(infos.values()))
    return infos


def _flatten(info: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, prefix in (("metrics", "metric_"), ("violations", "violation_")):
        for name, value in dict(info.get(key, {})).items():
            if np.isscalar(value):
                out[prefix + name] = float(value)
    return out


def _total(rewards: Any) -> float:
    if isinstance(rewards, Mapping):
        return float(sum(rewards.values()))
    return float(np.sum(rewards))


def _is_parallel(env: Any) -> bool:
    return hasattr(env, "possible_agents")


def _policy(policy: str | Policy) -> Policy:
    if callable(policy):
        return policy
    try:
        return POLICIES[policy]
    except KeyError:
        raise ValueError(
            f"unknown policy '{policy}'; use one of {sorted(POLICIES)} or a callable"
        ) from None


def _name(policy: Policy) -> str:
    return getattr(policy, "name", getattr(policy, "__name__", type(policy).__name__))
