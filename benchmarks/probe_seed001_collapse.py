"""Why seed001's off-policy learners collapse into over-voltage at the quick budget (probe).

Trains one learner (``maddpg``, ``ddpg``, ``masac`` from ``learning/agents``, or ``learned``,
seed001's own) at ``Seed001Config.quick`` on the training days, and every ``--every`` days
prints one line: the greedy validation day cost on the training days (noise-free), the
bus-hours above 1.06 p.u., the max |V|, the share of greedy P set-points at the top of their
box (|a| > 0.95 on the P component) per agent type, the mean P action per type, and the
critic's mean Q and TD target on a replay batch next to the scaled reward range in the replay.

``python benchmarks/probe_seed001_collapse.py --learner maddpg --seed 0 --days 20``
(≈ 1 min per learner and seed on one core). Diagnosis: docs/methods/seed001.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from dispatchlab.learning.agents.torchrl_common import AgentSpaces, TrainConfig, policy_callable
from dispatchlab.learning.agents.torchrl_common import train as torchrl_train
from dispatchlab.learning.methods.seed001.baselines import _Safe, make_agent
from dispatchlab.learning.methods.seed001.config import Seed001Config
from dispatchlab.learning.methods.seed001.data import day_sets, diverged_step, make_day_env
from dispatchlab.learning.methods.seed001.fusion import TYPES, agent_types
from dispatchlab.learning.methods.seed001.method import from_env


def greedy_stats(policy, env, spaces, config, swap=None, kind=None) -> dict:
    """Day cost, bus-hours out of the band, max/min |V| and the unit actions of ``policy`` on
    ``env``'s days; ``swap`` (another policy) replaces the actions of the agents of type
    ``kind``."""
    types = agent_types(spaces.agents)
    days = env.core.profiles.labels
    cost, vms, hours, acts = 0.0, [], np.zeros(24), []
    for day in days:
        obs, _ = env.reset(seed=0, options={"day": day})
        while env.agents:
            act = policy(env, obs)
            if swap is not None:
                other = swap(env, obs)
                act = {a: other[a] if types[k] == kind else act[a]
                       for k, a in enumerate(spaces.agents)}  # fmt: skip
            t = env.core.t
            out = diverged_step(env, act, config)
            info = next(iter(out[4].values()))
            cost += (env.core.horizon - t if info.get("diverged") else 1) * info["metrics"]["cost"]
            vms.append(env.core.vm[0].copy())
            hours[t % 24] += int((vms[-1] > 1.06).sum())
            acts.append(from_env(spaces, act))
            obs = out[0]
    vm, n = np.asarray(vms), len(days)
    return {"cost": cost / n, "over": (vm > 1.06).sum() / n, "vmax": float(vm.max()),
            "under": (vm < 0.94).sum() / n, "vmin": float(vm.min()),
            "p": action_shares(np.asarray(acts), spaces, types),
            "hours": np.flatnonzero(hours)}  # fmt: skip


def action_shares(acts: np.ndarray, spaces, types: np.ndarray) -> dict:
    """Per agent type: (share of P at |a| > 0.95, mean P, same for Q) of (steps, n, a) unit
    actions; an SVC's only action is Q (P is NaN)."""
    out = {}
    q_col = np.asarray(spaces.act_sizes) - 1
    q = acts[:, np.arange(spaces.n_agents), q_col]
    for i, name in enumerate(TYPES):
        cols = types == i
        if not cols.any():
            continue
        p = acts[:, cols, 0] if name != "svc" else np.full((1, 1), np.nan)
        qq = q[:, cols]
        sat = np.abs(p) > 0.95
        out[name] = (float(sat.mean()), float(p.mean()), float((np.abs(qq) > 0.95).mean()),
                     float(qq.mean()))  # fmt: skip
    return out


def critic_stats(agent) -> str:
    """Mean Q, TD target and reward range on a replay batch (TorchRL agents)."""
    if not len(agent.replay):
        return "no replay"
    batch = agent.replay.sample()
    with torch.no_grad():
        out = agent.loss(batch)
    r = agent.replay[: len(agent.replay)]["next", "agents", "reward"]
    keys = [k for k in ("pred_value", "target_value", "loss_value", "loss_qvalue") if k in out]
    vals = " ".join(f"{k}={float(out[k].mean()):.1f}" for k in keys)
    return f"{vals} r[min,p1,mean]=[{float(r.min()):.1f},{float(r.quantile(0.01)):.1f}," \
        f"{float(r.mean()):.2f}]"  # fmt: skip


class _Clipped(_Safe):
    """Rewards below −reward_clip / reward_scale clipped (what seed001's own critic does)."""

    def step(self, actions):
        out = super().step(actions)
        floor = -self._config.reward_clip / self._config.reward_scale
        return out[0], {a: max(r, floor) for a, r in out[1].items()}, *out[2:]


def run_baseline(name: str, config: Seed001Config, days: int, every: int, off: dict,
                 clip: bool) -> None:  # fmt: skip
    sets = day_sets(config.case, config.pool_seed, config.n_train, config.heldout_per_cluster)
    env = make_day_env(config, sets.train)
    val = make_day_env(config, sets.train, noise=False)
    agent = make_agent(name, env, config, config.seed)
    if off:
        import dataclasses

        from dispatchlab.learning.agents.torchrl_offpolicy import ContinuousAgent

        agent = ContinuousAgent(agent.spaces, dataclasses.replace(agent.config, **off), config.seed)
    wrap = _Clipped if clip else _Safe
    from dispatchlab.learning.agents.torchrl_common import sample_observations

    agent.scaler.fit(sample_observations(env, agent.spaces, 24 * len(sets.train), config.seed))
    policy = policy_callable(agent, name)
    per_agent = AgentSpaces.from_env(env)  # DDPG's spaces are one joint agent
    report(0, greedy_stats(policy, val, per_agent, config), "untrained")
    init = make_agent(name, env, config, config.seed)
    init.scaler = agent.scaler
    initial = policy_callable(init, "initial")
    for i in range(days // every):
        tc = TrainConfig(env_steps=24 * every, seed=config.seed * 100_003 + i * 1_000,
                         reward_scale=config.reward_scale)  # fmt: skip
        torchrl_train(wrap(env, config), agent, tc)
        report(24 * every * (i + 1), greedy_stats(policy, val, per_agent, config),
               critic_stats(agent))  # fmt: skip
    print(f"over-voltage hours (final): {report.last}")
    for i, kind in enumerate(TYPES):
        s = greedy_stats(policy, val, per_agent, config, initial, i)
        print(f"  final actors, {kind} agents back to the untrained actor: cost {s['cost']:.1f} "
              f"over/day {s['over']:.1f} vmax {s['vmax']:.3f} under/day {s['under']:.1f} "
              f"vmin {s['vmin']:.3f}")  # fmt: skip


def report(step: int, s: dict, extra: str) -> None:
    report.last = s["hours"]
    ptxt = " ".join(f"{k}:P{v[1]:+.2f}/{v[0]:.2f} Q{v[3]:+.2f}/{v[2]:.2f}"
                    for k, v in s["p"].items())  # fmt: skip
    print(f"step {step:4d} cost {s['cost']:9.1f} over/day {s['over']:6.1f} vmax {s['vmax']:.3f} "
          f"under/day {s['under']:6.1f} vmin {s['vmin']:.3f} "
          f"{ptxt} | {extra}", flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learner", default="maddpg")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], help="Seed001Config NAME=VALUE")
    ap.add_argument("--off", nargs="*", default=[], help="OffPolicyConfig NAME=VALUE")
    ap.add_argument("--clip", action="store_true", help="clip rewards as seed001's critic does")
    args = ap.parse_args()
    torch.set_num_threads(1)
    changes = {k: type(getattr(Seed001Config, k))(v) for k, v in (s.split("=") for s in args.set)}
    config = Seed001Config.quick(seed=args.seed, **changes)
    t0 = time.perf_counter()
    off = {}
    for item in args.off:
        k, v = item.split("=")
        off[k] = v if k == "algo" else float(v)
    run_baseline(args.learner, config, args.days, args.every, off, args.clip)
    print(f"{args.learner} seed {args.seed}: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
