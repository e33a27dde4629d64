"""seed002 against its counterparts on identical stress days of ``voltage-control-discrete``.

Every policy plays the same days of the stress set (:data:`~dispatchlab.learning.envs.voltage.
stress.STRESS_DAYS`, never seen in training: the method trains on :data:`~.config.TRAIN_DAYS`)
with the same noise seed, in the env with a continuous SVG, and is scored by the env itself:

* ``learned`` — each checkpoint (one training run) with **no** safety layer: the targets are
  stated before it;
* ``learned-safe`` — the same decisions through
  :class:`~dispatchlab.learning.safety.voltage_discrete.DiscreteVoltageSafetyLayer` (Hamming ≤ 2
  repair, oracle fall back); the delivered violations are counted;
* ``exact`` — ``env.oracle()`` every step: every tap × capacitor position with the SVG
  optimised per position (the exact per-step optimum);
* ``opf-round`` and ``mpc`` — :mod:`.counterparts` (per-step DistFlow rounded; hourly
  DistFlow over 4 h + per-step LinDistFlow SVG);
* ``dqn`` — :mod:`.dqn_baseline`, single-agent DQN over the reduced joint move set, trained
  here with the first checkpoint's config (episodes, days, ε) and seed ``seed``;
* ``hold`` — the initial positions and 0 Mvar; ``random`` — uniform positions and SVG output.

Per day: the qualification rate (share of steps with every bus in [0.95, 1.05]), the decision
time per cycle (ms, the policy's call only), the average loss and average mean |V − 1| (p.u.),
the step cost and the summed band excursion. For ``learned`` also the share of the joint move
set the rules remove, and (with ``check_reduction``) how often the exact optimum's position is
not reachable inside the reduced set, and the PNN's node-voltage MAE against persistence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatchlab.learning.envs import make_env
from dispatchlab.learning.envs.voltage.stress import STRESS_DAYS, hold_policy
from dispatchlab.learning.methods.seed002.method import Seed002Method, env_config, joint_state
from dispatchlab.learning.methods.seed002.rules import joint_size, position_delta

POLICIES = ("learned", "learned-safe", "exact", "opf-round", "mpc", "dqn", "hold", "random")


@dataclass(frozen=True)
class CompareConfig:
    """Which policies play which test days (one line each)."""

    days: tuple[int, ...] = tuple(range(len(STRESS_DAYS)))  #: stress-set day indices
    policies: tuple[str, ...] = ("learned", "exact", "hold", "random")  #: from POLICIES
    seed: int = 0  #: noise seed of every day (the same for every policy) and the random policy
    check_reduction: bool = False  #: run the oracle beside ``learned`` (the reduction's miss rate)

    def __post_init__(self) -> None:
        bad = [p for p in self.policies if p not in POLICIES]
        if bad:
            raise ValueError(f"unknown policies {bad}; known: {', '.join(POLICIES)}")
        if not self.policies:  # an empty table would be a traceback in the summary
            raise ValueError(f"no policy to play; known: {', '.join(POLICIES)}")
        n = len(STRESS_DAYS)
        if not self.days or any(not 0 <= d < n for d in self.days):
            raise ValueError(f"days must be stress-set indices in 0…{n - 1}, got {self.days}")


def compare(methods: list[Seed002Method], config: CompareConfig) -> pd.DataFrame:
    """Per-(policy, run, day) rows; ``run`` numbers the checkpoints (−1 for the others)."""
    cfg = methods[0].config
    env = make_env("voltage-control-discrete", config=env_config(cfg))
    rows = []
    dqn = None
    if "dqn" in config.policies:
        from dispatchlab.learning.methods.seed002.dqn_baseline import train_dqn

        dqn = train_dqn(cfg.replace(seed=config.seed))
    for name in config.policies:
        runs = list(enumerate(methods)) if name.startswith("learned") else [(-1, None)]
        for run, method in runs:
            for day in config.days:
                act, extra = _policy(name, method or dqn, env, config)
                row = play(env, act, day, config.seed, extra)
                rows.append({"policy": name, "run": run, "day": day, **row})
    return pd.DataFrame(rows)


def _policy(name: str, method, env, config: CompareConfig):
    extra: dict = {}
    if name == "learned":
        extra = {"method": method, "check": config.check_reduction}
        return (lambda e: method.act(e)), extra
    if name == "learned-safe":
        from dispatchlab.learning.safety.voltage_discrete import DiscreteVoltageSafetyLayer

        layer = DiscreteVoltageSafetyLayer(env, neighbourhood="hamming", radius=2)
        extra = {"layer": layer}
        return (lambda e: layer.filter(method.act(e))[0]), extra
    if name == "dqn":
        return method.act, extra
    if name == "exact":
        return (lambda e: e.oracle().action), extra
    if name == "hold":
        return hold_policy, extra
    if name in ("opf-round", "mpc"):
        from dispatchlab.learning.methods.seed002.counterparts import OPFRound, TwoLayerMPC

        act = OPFRound() if name == "opf-round" else TwoLayerMPC()
        return act, {"solver": act}
    rng = np.random.default_rng(config.seed)

    def random_policy(e):
        out = {
            a: int(rng.integers(k))
            for a, k in zip(e.possible_agents, e.core.n_options, strict=True)
        }
        out[e.possible_agents[-1]] = rng.uniform(e.core.svg_lo, e.core.svg_hi)
        return out

    return random_policy, extra


def play(env, act, day: int, seed: int, extra: dict) -> dict:
    """One day of ``act(env) -> actions``; the day's metrics (module docstring)."""
    env.reset(seed=seed, options={"day": day})
    method, check = extra.get("method"), extra.get("check", False)
    m, times, reduc = [], [], {"removed": [], "outside": [], "mae": [], "mae_persist": []}
    while env.agents:
        vm_before = env.core.last["vm"][0].copy()
        joint = joint_state(env.core) if method is not None else None
        if method is not None:
            _reduction(method, env, reduc, check)
        t0 = time.perf_counter()
        action = act(env)
        times.append(time.perf_counter() - t0)
        _, _, _, _, info = env.step(action)
        m.append(
            info[env.possible_agents[0]]["metrics"] | info[env.possible_agents[0]]["violations"]
        )
        if method is not None:
            vm = env.core.last["vm"][0]
            reduc["mae"].append(np.abs(method.volt.predict(joint)[0] - vm).mean())
            reduc["mae_persist"].append(np.abs(vm_before - vm).mean())
    frame = pd.DataFrame(m)
    row = {
        "qualification_rate": float((frame["compliance_rate"] >= 1 - 1e-12).mean()),
        "time_per_cycle_ms": 1e3 * float(np.mean(times)),
        "avg_loss_pu": float(frame["loss_pu"].mean()),
        "avg_deviation_pu": float(frame["voltage_deviation_pu"].mean()),
        "cost": float(frame["cost"].mean()),
        "violation_pu": float(frame["voltage_band_pu"].sum()),
        "violation_steps": int((frame["voltage_band_pu"] > 1e-9).sum()),
        "max_deviation_pu": float(frame["voltage_deviation_pu"].max()),
    }
    if method is not None:
        row |= {
            "share_removed": float(np.mean(reduc["removed"])),
            "voltage_mae_pu": float(np.mean(reduc["mae"])),
            "persistence_mae_pu": float(np.mean(reduc["mae_persist"])),
        }
        if check:
            row["optimum_outside"] = float(np.mean(reduc["outside"]))
    if getattr(extra.get("solver"), "gaps", None):
        row["rounding_gap_rel"] = float(np.mean(extra["solver"].gaps))
    if "layer" in extra:
        row |= {f"safety_{k}": v for k, v in extra["layer"].stats.as_dict().items()}
    return row


def _reduction(method: Seed002Method, env, out: dict, check: bool) -> None:
    """Share of the joint in-range move set the rules (+ one device per feeder) remove; with
    ``check``, whether the exact optimum's discrete position is outside the reduced set."""
    from dispatchlab.learning.methods.seed002.rules import action_masks

    core = env.core
    cfg_off = method.config.replace(use_rules=False)
    full = action_masks(core, core.last["vm"], core.last["head"], core.pos, cfg_off)
    red = method.masks(core)
    agents = method.agents
    out["removed"].append(
        1 - joint_size(red, agents, method.config.feeders)[0] / joint_size(full, agents)[0]
    )
    if check:
        target = np.array([env.oracle().action[a] for a in agents])
        step = target - core.pos[0, : len(agents)]
        moves = np.arange(3)
        ok = True
        for i in range(len(agents)):
            reach = {int(position_delta(np.full(len(agents), mv))[i]) for mv in moves[red[0, i]]}
            ok &= int(step[i]) in reach
        movers = int((step != 0).sum())
        out["outside"].append(float(not ok or movers > len(method.config.feeders)))


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over (run, day) per policy (the paper's Table 2 layout)."""
    cols = ["qualification_rate", "time_per_cycle_ms", "avg_loss_pu", "avg_deviation_pu"]
    g = table.groupby("policy", sort=False)[cols]
    mean, std = g.mean(), g.std().fillna(0.0)
    out = pd.DataFrame(index=mean.index)
    for c in cols:
        out[c] = [f"{m:.4g} ± {s:.2g}" for m, s in zip(mean[c], std[c], strict=True)]
    return out
