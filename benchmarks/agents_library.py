"""TorchRL's DQN against dispatchlab's own Dueling DQN on ``voltage-control-discrete``.

Run: ``python benchmarks/agents_library.py [--seeds 3] [--steps 2880] [--test-episodes 4]``.

Both learners are independent double, dueling DQNs, one network per agent (OLTC, three
capacitors, SVG), with the same hyperparameters, the same observation scaling (fitted on the
same random rollout), the same ε schedule, the same reward scale and the same episodes:

- ``own``: :class:`SharedDuelingDQN` (seed000's learner, hand-written torch + numpy replay), one
  "kind" per agent;
- ``torchrl``: :class:`dispatchlab.learning.agents.torchrl_offpolicy.DQNAgent` (TorchRL's
  ``DQNLoss(double_dqn=True)``, ``MultiAgentMLP``, ``TensorDictReplayBuffer``, ``HardUpdate``).

Training plays 12 SimBench days (the 4th and 18th of every other month, noise by episode
seed); the test plays 6 other days (the 11th of every other month) at scenario seeds 10 000 +
e. Reported: team return per day (the shared reward summed over the 96 quarter-hours) mean ±
std over seeds, compliance, time per update (one gradient step of all five agents) and training
time. ``hold`` (keep the initial positions) and ``random`` play the same test days. Torch runs on
one thread (``torch.set_num_threads(1)``) for both: on a shared 2-core machine more threads
only add contention. Results: docs/benchmarks/agents_library.md / .csv.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from dispatchlab.learning.agents.torchrl_common import (
    AgentSpaces,
    TrainConfig,
    policy_callable,
    sample_observations,
    train,
)
from dispatchlab.learning.agents.torchrl_offpolicy import DQNAgent, OffPolicyConfig
from dispatchlab.learning.envs import make_env
from dispatchlab.learning.evaluate import EvaluationConfig, evaluate, summarize

try:  # the platform issue moves seed000's learner to learning/agents/dqn.py
    from dispatchlab.learning.agents.dqn import DuelingDQNConfig, SharedDuelingDQN
except ImportError:
    from dispatchlab.learning.methods.dueling_dqn import DuelingDQNConfig, SharedDuelingDQN

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
TRAIN_DAYS = tuple(f"2016-{m:02d}-{d:02d}" for m in (1, 3, 5, 7, 9, 11) for d in (4, 18))
TEST_DAYS = tuple(f"2016-{m:02d}-11" for m in (1, 3, 5, 7, 9, 11))
REWARD_SCALE = 0.01
#: the hyperparameters both learners share
SHARED = {
    "hidden": (64, 64),
    "lr": 1e-3,
    "gamma": 0.95,
    "batch_size": 64,
    "learning_starts": 500,
    "target_update": 200,
    "eps_start": 1.0,
    "eps_end": 0.05,
    "double": True,
    "grad_clip": 10.0,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2880, help="training env steps per seed")
    parser.add_argument("--test-episodes", type=int, default=4)
    parser.add_argument(
        "--reuse-runs", action="store_true", help="keep the training rows of the CSV; re-time only"
    )
    args = parser.parse_args()
    threads = torch.get_num_threads()
    timing = pd.DataFrame([time_updates(n) for n in sorted({1, threads})])
    torch.set_num_threads(1)
    if args.reuse_runs:
        frame = pd.read_csv(OUT / "agents_library.csv")
    else:
        frame = pd.DataFrame(train_and_score(args))
    OUT.mkdir(parents=True, exist_ok=True)
    frame.to_csv(OUT / "agents_library.csv", index=False, float_format="%.6g")
    timing.to_csv(OUT / "agents_library_timing.csv", index=False, float_format="%.6g")
    (OUT / "agents_library.md").write_text(page(frame, timing, args))
    print(page(frame, timing, args))


def train_and_score(args) -> list[dict]:
    """Both learners × seeds, then hold and random, on the test days."""
    rows = []
    for seed in range(args.seeds):
        for learner in ("own", "torchrl"):
            rows.append(run(learner, seed, args.steps, args.test_episodes))
            print(rows[-1])
    test_env = make_env("voltage-control-discrete", profiles={"days": TEST_DAYS})
    for name, policy in (("hold", hold_policy), ("random", "random")):
        rows.append({"learner": name, "seed": 0, **score(test_env, policy, args.test_episodes)})
    return rows


def time_updates(threads: int, fill: int = 1_000, blocks: int = 6, per_block: int = 40) -> dict:
    """Median ms per update step (batch sampling included; all five agents) of each learner,
    on replays filled by random play, alternating blocks so that machine load hits both."""
    torch.set_num_threads(threads)
    env = make_env("voltage-control-discrete", profiles={"days": TRAIN_DAYS})
    spaces = AgentSpaces.from_env(env)
    idle = {**SHARED, "learning_starts": 10**9, "eps_end": 1.0, "eps_decay_steps": 1}
    lib = DQNAgent(spaces, OffPolicyConfig(**idle), seed=0)
    train(env, lib, TrainConfig(env_steps=fill, seed=0, reward_scale=REWARD_SCALE))
    own = own_learner(spaces, DuelingDQNConfig(**idle), 0)
    train_own(env, own, spaces, fill, 0)
    own.config = DuelingDQNConfig(**{**idle, "learning_starts": 0})
    steps = {
        "torchrl": lambda: lib.update(lib.replay.sample()),
        "own": lambda: [own.update(a) for a in spaces.agents],
    }
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(blocks):
        for name, step in steps.items():
            t = time.perf_counter()
            for _ in range(per_block):
                step()
            times[name].append(1e3 * (time.perf_counter() - t) / per_block)
    return {"threads": threads, **{f"{k}_ms": float(np.median(v)) for k, v in times.items()}}


def run(learner: str, seed: int, steps: int, test_episodes: int) -> dict:
    """Train one learner with one seed; score it on the test days."""
    env = make_env("voltage-control-discrete", profiles={"days": TRAIN_DAYS})
    spaces = AgentSpaces.from_env(env)
    sample = sample_observations(env, spaces, 500, seed=10_000 + seed)
    eps_decay = int(0.6 * steps)
    t0 = time.perf_counter()
    if learner == "torchrl":
        agent = DQNAgent(spaces, OffPolicyConfig(**SHARED, eps_decay_steps=eps_decay), seed=seed)
        agent.scaler.fit(sample)
        timer = _timed(agent)
        train(env, agent, TrainConfig(env_steps=steps, seed=seed, reward_scale=REWARD_SCALE))
        policy, updates = policy_callable(agent, "torchrl-dqn"), agent.updates
    else:
        cfg = DuelingDQNConfig(**SHARED, eps_decay_steps=eps_decay)
        own = own_learner(spaces, cfg, seed)
        torch.manual_seed(seed)
        for k, agent_name in enumerate(spaces.agents):
            own.set_obs_scale(agent_name, sample[:, k])
        timer = train_own(env, own, spaces, steps, seed)
        policy, updates = own_policy(own, spaces), own.updates[spaces.agents[0]]
    train_s = time.perf_counter() - t0
    test_env = make_env("voltage-control-discrete", profiles={"days": TEST_DAYS})
    return {
        "learner": learner,
        "seed": seed,
        **score(test_env, policy, test_episodes),
        "train_s": train_s,
        "updates": updates,
        "update_ms": 1e3 * timer["s"] / max(1, timer["n"]),
    }


def own_learner(spaces: AgentSpaces, cfg: DuelingDQNConfig, seed: int) -> SharedDuelingDQN:
    """seed000's learner with one "kind" (network, replay) per agent."""
    kinds = dict(zip(spaces.agents, spaces.act_sizes, strict=True))
    return SharedDuelingDQN(kinds, spaces.obs_dim, cfg, np.random.default_rng(seed))


def _timed(agent: DQNAgent) -> dict:
    """Wrap ``agent.update`` to add up the seconds spent in it."""
    timer = {"s": 0.0, "n": 0}
    inner = agent.update

    def update(batch):
        t = time.perf_counter()
        out = inner(batch)
        timer["s"] += time.perf_counter() - t
        timer["n"] += 1
        return out

    agent.update = update
    return timer


def train_own(env, own: SharedDuelingDQN, spaces: AgentSpaces, steps: int, seed: int) -> dict:
    """The same loop as :func:`train` for the hand-written learner: act, store, update all."""
    timer = {"s": 0.0, "n": 0}
    raw, _ = env.reset(seed=seed)
    episode = 0
    for step in range(steps):
        obs = spaces.stack(raw)
        eps = own.epsilon(step)
        act = {a: int(own.act(a, obs[k : k + 1], eps)[0]) for k, a in enumerate(spaces.agents)}
        nxt_raw, rew, term, trunc, _ = env.step(act)
        nxt = spaces.stack(nxt_raw) if nxt_raw else np.zeros_like(obs)
        for k, a in enumerate(spaces.agents):  # done = terminated, as TorchRL's TD0 target
            own.replay[a].add(obs[k], act[a], rew[a] * REWARD_SCALE, nxt[k], float(term[a]))
        t = time.perf_counter()
        did = [own.update(a) for a in spaces.agents]
        if did[0] is not None:
            timer["s"] += time.perf_counter() - t
            timer["n"] += 1
        raw = nxt_raw
        if not env.agents or any(term.values()) or any(trunc.values()):
            episode += 1
            raw, _ = env.reset(seed=seed + episode)
    return timer


def own_policy(own: SharedDuelingDQN, spaces: AgentSpaces):
    def policy(env, observations):
        obs = spaces.stack(observations)
        return {a: int(own.act(a, obs[k : k + 1])[0]) for k, a in enumerate(spaces.agents)}

    policy.name = "own-dqn"
    return policy


def hold_policy(env, observations):
    """Keep every device at its current position."""
    return {a: int(env.core.pos[0, k]) for k, a in enumerate(env.possible_agents)}


def score(env, policy, episodes: int) -> dict:
    """Team return per day (mean over test episodes) and compliance on the test days."""
    steps = evaluate(env, policy, EvaluationConfig(episodes, seed=10_000, progress=False))
    row = summarize(steps).iloc[0]
    n = len(env.possible_agents)  # evaluate sums the shared reward over the agents
    return {
        "team_return": row["episode_reward_mean"] / n,
        "compliance": row["compliance_rate_mean"],
    }


def page(frame: pd.DataFrame, timing: pd.DataFrame, args) -> str:
    """The markdown page: setup, per-learner table, Welch t-test, update timing."""
    g = frame.groupby("learner", sort=False)
    table = g.agg(
        seeds=("seed", "nunique"),
        return_mean=("team_return", "mean"),
        return_std=("team_return", lambda x: x.std(ddof=1) if len(x) > 1 else 0.0),
        compliance=("compliance", "mean"),
        update_ms=("update_ms", "mean"),
        train_s=("train_s", "mean"),
    )
    own = frame.loc[frame.learner == "own", "team_return"]
    lib = frame.loc[frame.learner == "torchrl", "team_return"]
    t = stats.ttest_ind(lib, own, equal_var=False) if len(own) > 1 else None
    verdict = (
        f"TorchRL − own = {lib.mean() - own.mean():+.1f} per day "
        f"(Welch t = {t.statistic:.2f}, p = {t.pvalue:.2f}, {len(own)} seeds each)."
        if t is not None
        else "one seed: no test."
    )
    lines = [
        "# Baseline agents: TorchRL's DQN against our own",
        "",
        "Generated by `python benchmarks/agents_library.py "
        f"--seeds {args.seeds} --steps {args.steps} --test-episodes {args.test_episodes}`; "
        "the setup is in the script's docstring (both learners: independent double dueling "
        "DQN per device, same hyperparameters, scaling, ε schedule and episodes; train on 12 "
        "SimBench days, test on 6 others; torch on one thread).",
        "",
        "| learner | seeds | team return per day | compliance | ms per update (in training) "
        "| train s |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in table.iterrows():
        upd = "–" if np.isnan(r.update_ms) else f"{r.update_ms:.2f}"
        trn = "–" if np.isnan(r.train_s) else f"{r.train_s:.0f}"
        lines.append(
            f"| {name} | {int(r.seeds)} | {r.return_mean:.1f} ± {r.return_std:.1f} | "
            f"{r.compliance:.3f} | {upd} | {trn} |"
        )
    lines += [
        "",
        verdict,
        "",
        "Time per update step (one gradient step of all five agents, batch sampling "
        f"included; median of {6} blocks of 40, the two learners alternating, on replays "
        "filled by 1 000 steps of random play):",
        "",
        "| torch threads | own ms | TorchRL ms | TorchRL / own |",
        "|---|---|---|---|",
    ]
    for r in timing.itertuples():
        ratio = r.torchrl_ms / r.own_ms
        lines.append(f"| {r.threads} | {r.own_ms:.2f} | {r.torchrl_ms:.2f} | {ratio:.2f} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
