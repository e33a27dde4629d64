"""Steps per second of every dispatch environment, single and vectorized, and the oracle's time.

Run: ``python benchmarks/bench_envs.py [--scenarios 64] [--der-units 5000]``; pin it to two cores
with ``taskset -c 0,1`` to match the targets' "2 cores". One run measures everything, so the
ratios (vectorized / single, oracle / step) are comparable. Actions are random and sampled
*before* timing: the clock covers ``env.step`` only (power flow, settlement, reward, metrics,
violations), which is what a learner pays per transition on top of its own forward pass.
Results: docs/benchmarks/envs.md and envs.csv.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dispatchlab.learning.envs import make_env

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"


def _actions(env, spaces, n: int | None, rng_seed: int) -> dict:
    """One random action per agent (stacked over ``n`` scenarios for vector forms); ``spaces``
    is the single env whose action spaces are sampled (vector forms may not expose them)."""
    out = {}
    for i, agent in enumerate(env.agents):
        space = spaces.action_space(agent)
        space.seed(rng_seed * 1000 + i)
        out[agent] = space.sample() if n is None else np.stack([space.sample() for _ in range(n)])
    return out


def time_steps(env, n: int | None, max_steps: int, spaces=None) -> tuple[float, int]:
    """(env steps per second, agents) over up to ``max_steps`` steps of one episode."""
    env.reset(seed=0)
    agents = len(env.agents)
    plan = [_actions(env, spaces or env, n, k) for k in range(max_steps)]
    env.step(plan[0])  # warm-up: once-per-process work (day-ahead plans, caches) is not a step
    env.reset(seed=0)
    spent, steps = 0.0, 0
    for actions in plan:
        if not env.agents:
            break
        t0 = time.perf_counter()
        env.step(actions)
        spent += time.perf_counter() - t0
        steps += 1
    return steps / spent, agents


def time_oracle(env, calls: int) -> float:
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(calls):
        env.oracle()
    return (time.perf_counter() - t0) / calls


def time_vector_arrays(vec, n: int, max_steps: int) -> float:
    """Vector envs with only the array API (der-dispatch): random levels, (scenarios, units)."""
    vec.reset_arrays(list(range(n)))
    rng = np.random.default_rng(0)
    plan = [rng.integers(0, vec.config.n_levels, (n, vec.n_units)) for _ in range(max_steps)]
    vec.step_arrays(plan[0])  # warm-up, as in time_steps
    vec.reset_arrays(list(range(n)))
    t0 = time.perf_counter()
    for actions in plan:
        vec.step_arrays(actions)
    return max_steps / (time.perf_counter() - t0)


def time_der_arrays(units: int, steps: int) -> float:
    """der-dispatch through its array API (what a batched learner uses) with ``units`` DERs."""
    env = make_env("der-dispatch", n_units=units)
    env.reset_arrays(0)
    rng = np.random.default_rng(0)
    n_actions = env.action_space(env.possible_agents[0]).n
    plan = [rng.integers(0, n_actions, units) for _ in range(steps)]
    env.step_arrays(plan[0])  # warm-up, as in time_steps
    env.reset_arrays(0)
    t0 = time.perf_counter()
    done = 0
    for actions in plan:
        *_, terminated, _ = env.step_arrays(actions)
        done += 1
        if terminated:
            break
    return done / (time.perf_counter() - t0)


ENVS = {  # name -> (options, steps to time, oracle calls)
    "voltage-control": ({}, 24, 5),
    "voltage-control-discrete": ({}, 96, 2),
    "transmission-dispatch": ({}, 96, 10),
    "der-dispatch": ({}, 96, 5),
    "der-selection": ({}, 1, 2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=64, help="vectorized scenarios")
    parser.add_argument("--der-units", type=int, default=5000, help="der-dispatch units")
    args = parser.parse_args()
    rows = []
    for name, (options, steps, calls) in ENVS.items():
        single = make_env(name, **options)
        sps, agents = time_steps(single, None, steps)
        row = {"env": name, "agents": agents, "steps_per_s": sps, "agent_steps_per_s": sps * agents}
        try:
            vec = make_env(name, num_envs=args.scenarios, **options)
        except ValueError:  # no vectorized form
            vec = None
        if vec is not None:
            if hasattr(vec, "step_arrays"):
                vsps = time_vector_arrays(vec, args.scenarios, steps)
            else:
                vsps, _ = time_steps(vec, args.scenarios, steps, single)
            row["vector_steps_per_s"] = vsps
            row["vector_agent_steps_per_s"] = vsps * agents * args.scenarios
        row["oracle_s"] = time_oracle(make_env(name, **options), calls)
        rows.append(row)
        print(row, flush=True)
    big = time_der_arrays(args.der_units, 96)
    rows.append(
        {
            "env": f"der-dispatch ({args.der_units} units, arrays)",
            "agents": args.der_units,
            "steps_per_s": big,
            "agent_steps_per_s": big * args.der_units,
        }
    )
    frame = pd.DataFrame(rows)
    frame.to_csv(OUT / "envs.csv", index=False, float_format="%.6g")
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
