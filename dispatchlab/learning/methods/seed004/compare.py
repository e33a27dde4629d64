"""seed004 against its counterparts on identical test days of ``transmission-dispatch``.

Every played policy runs the same days of the env's test split (the env scores it: seed004
eq. 4's cost, the violations of eqs. 5–8) and the table has one row per (policy, day):

* ``learned`` — the trained DGCN + MASRL actors, every decision through the
  :class:`~dispatchlab.learning.safety.transmission.TransmissionSafetyLayer` (repairs and
  fallbacks counted); ``learned-raw`` — the same actors without it;
* ``perfect`` — perfect-foresight multi-period dispatch of the whole day
  (:func:`~.foresight.perfect_foresight`; not played: its objective is the row's cost);
* ``lookahead`` — rolling 4-h look-ahead ED with the env's wind forecast
  (:func:`~.foresight.lookahead_schedule`, played by :func:`~.foresight.play_plan`);
* ``oracle`` — the env's exact per-interval dispatch (``env.oracle()``, myopic);
* ``cc-sced`` — chance-constrained SCED (``solve(case, "chance")``, ε = 0.05, PTDF line
  limits, wind errors σ = 10 % of the interval's wind, correlation 0.3, optimized
  participation factors) per interval; its unit outputs are played by
  :func:`~.foresight.play_plan` with the storage idle, as the chance problem holds it;
* ``mappo`` / ``maddpg`` — TorchRL's MAPPO and MADDPG from :mod:`dispatchlab.learning.agents`,
  trained here for ``baseline_steps`` env steps on the training days with the same seed;
  ``qmix`` — the library's QMIX on a discretized action grid (:mod:`~.qmix_grid`), same budget;
* ``interval-opf`` — interval-uncertainty OPF per interval, robust to both ends of the wind
  forecast's 90 % interval (:func:`~.counterparts.interval_opf_policy`), played like ``cc-sced``;
* ``deepopf`` / ``deepopf-raw`` — a DeepOPF-style MLP trained on the oracle's dispatch of
  ``deepopf_days`` training days (:func:`~.counterparts.train_deepopf`), with / without the
  safety layer's repair;
* ``lstm-dispatch`` — LSTM wind forecast, the exact interval dispatch on it, then the safety
  layer (:func:`~.counterparts.train_lstm`; its rows carry the forecast's validation MAE and
  persistence's, ``forecast_mae_mw`` / ``persistence_mae_mw``);
* ``hold`` — units keep their output, wind delivers all it has, storage idles, no LSE action;
* ``random`` — uniform random actions.

``violation_steps`` counts intervals with a violation, a balance mismatch within the safety
layer's tolerance (1e-3 MW) not counted. ``decision_ms`` is the whole decision: featurizing,
inference, the solves and the repair.
``gap_pct`` = 100 (cost − perfect-foresight cost) / perfect-foresight cost of the same day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatchlab.learning.envs.transmission.core import TOL
from dispatchlab.learning.envs.transmission.engine import KINDS
from dispatchlab.learning.envs.transmission.env import TransmissionDispatchEnv
from dispatchlab.learning.methods.seed004.foresight import (
    lookahead_schedule,
    oracle_policy,
    play_plan,
)
from dispatchlab.learning.methods.seed004.masrl import hold_actions
from dispatchlab.learning.safety.transmission import TransmissionSafetyLayer, significant

POLICIES = ("learned", "learned-raw", "perfect", "lookahead", "oracle", "cc-sced", "mappo",
            "maddpg", "qmix", "hold", "random", "interval-opf", "deepopf", "deepopf-raw",
            "lstm-dispatch")  # fmt: skip
DEFAULT_POLICIES = POLICIES


@dataclass(frozen=True)
class CompareConfig:
    """Which policies play which days (one line each)."""

    policies: tuple[str, ...] = DEFAULT_POLICIES  #: from :data:`POLICIES`
    split: str = "test"  #: the env split whose days are played
    days: int | None = None  #: play only the first this many days of the split (None: all)
    seed: int = 0  #: random policy and the MARL baselines' training seed
    baseline_steps: int = 20_000  #: env steps of MAPPO / MADDPG / QMIX training
    lookahead_h: int = 16  #: look-ahead horizon, intervals (16 × 15 min = 4 h)
    deepopf_days: int = 10  #: training days of oracle dispatch the DeepOPF MLP learns from

    def __post_init__(self) -> None:
        unknown = sorted(set(self.policies) - set(POLICIES))
        if unknown:
            raise ValueError(f"unknown policies {unknown}; valid: {', '.join(POLICIES)}")
        if self.days is not None and self.days < 1:
            raise ValueError(f"days must be ≥ 1, got {self.days}")


def split_days(trainer, split: str, sizes: tuple[int, int, int] | None = None) -> list[int]:
    """The series days of ``split`` (train / validation / test / all; ``sizes``: days per
    split, the env's 60 / 15 / 15 by default); an empty split is an error that names it."""
    from dispatchlab.learning.envs.transmission.config import SPLITS

    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; valid: {', '.join(SPLITS)}")
    opts = {} if sizes is None else {"split_days": tuple(sizes)}
    env = TransmissionDispatchEnv(case=trainer.case, split=split, **opts)
    days = [int(d) for d in env.days]
    if not days:
        raise ValueError(f"split '{split}' has no days (split_days {env.config.split_days})")
    return days


def _as_dict(env, arr: np.ndarray) -> dict[str, np.ndarray]:
    return {a: np.asarray(arr[i], float) for i, a in enumerate(env.possible_agents)}


def hold_policy(spaces) -> Callable:
    act = hold_actions(spaces)
    sizes = spaces.act_sizes

    def decide(env, obs):
        return {a: act[i, : sizes[i]].copy() for i, a in enumerate(env.possible_agents)}

    return decide


def random_policy(seed: int) -> Callable:
    rng = np.random.default_rng(seed)

    def decide(env, obs):
        return {a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.agents}

    return decide


def lookahead_policy(horizon: int) -> Callable:
    def decide(env, obs):
        targets = lookahead_schedule(env.engine, horizon)
        acts = play_plan(env.engine, targets) if targets is not None else None
        if acts is None:
            decide.fallbacks += 1
            return oracle_policy(env, obs)
        return {
            n: np.asarray(acts[k][i], float)
            for k in KINDS
            for i, n in enumerate(env.engine.agents[k])
        }

    decide.fallbacks = 0
    return decide


def cc_sced_policy(epsilon: float = 0.05) -> Callable:
    """Chance-constrained SCED per interval, played by :func:`play_plan` (module docstring)."""
    from dispatchlab import solve

    def decide(env, obs):
        eng = env.engine
        t = int(eng.state.t[0])
        # the chance constraints model no angle limits; the interval QP that plays the
        # schedule (the env oracle's) keeps them
        r = solve(eng.priced, "chance", epsilon=epsilon, network="ptdf", period=t,
                  angle_limits=False)  # fmt: skip
        acts = None
        if r.optimal:
            zero = np.zeros(len(eng.sys.sto_ids))
            plan = {"gen_p_mw": r.gen["p_mw"].to_numpy(float), "storage_charge_mw": zero,
                    "storage_discharge_mw": zero}  # fmt: skip
            acts = play_plan(eng, plan)
        if acts is None:
            decide.fallbacks += 1
            return oracle_policy(env, obs)
        agents = eng.agents
        return {n: np.asarray(acts[k][i], float) for k in KINDS for i, n in enumerate(agents[k])}

    decide.fallbacks = 0
    return decide


def play_day(env, decide: Callable, day: int, safety: bool = False, record=None) -> dict:
    """Play one day; the env's cost, violations and the safety layer's counts. ``record``: a
    list that receives, per interval, the global state seen and the settled line flows."""
    obs, _ = env.reset(options={"day": int(day)})
    layer = TransmissionSafetyLayer(env) if safety else None
    cost = shed = curtailed = avail = over = 0.0
    viol_steps, spent, steps = 0, 0.0, 0
    while env.agents:
        t0 = time.perf_counter()
        actions = decide(env, obs)
        if layer is not None:
            actions, _ = layer.filter(actions)
        spent += time.perf_counter() - t0
        seen = env.state() if record is not None else None
        obs, _, _, _, infos = env.step(actions)
        if record is not None:
            record.append({"state": seen, "flow": env.engine.state.flow[0].copy()})
        info = next(iter(infos.values()))
        m = info["metrics"]
        cost += m["total_cost_usd"]
        shed += m["shed_mwh"]
        curtailed += m["curtailed_mwh"]
        over += m["overload_rate"]
        viol_steps += int(sum(significant(info["violations"]).values()) > TOL)
        steps += 1
    t = env.engine.sys
    t0 = int(day) * env.engine.steps
    avail = float(t.wind_mw[t0 : t0 + steps].sum() * t.dt_h)
    row = {"day": int(day), "cost_usd": cost, "shed_mwh": shed,
           "curtailment_pct": 100.0 * curtailed / max(avail, 1e-9),
           "overload_pct": 100.0 * over / steps, "violation_steps": viol_steps,
           "decision_ms": 1e3 * spent / steps}  # fmt: skip
    if layer is not None:
        s = layer.stats
        row.update(
            repairs=s.repaired, fallbacks=s.fallbacks, delivered_violations=s.delivered_violations
        )
    return row


def train_marl(trainer, kind: str, steps: int, seed: int) -> Callable:
    """MAPPO or MADDPG from :mod:`dispatchlab.learning.agents`, trained on the training days."""
    from dispatchlab.learning.agents.torchrl_common import (
        AgentSpaces,
        TrainConfig,
        policy_callable,
        sample_observations,
        train,
    )

    env = TransmissionDispatchEnv(case=trainer.case, split="train")
    spaces = AgentSpaces.from_env(env)
    if kind == "mappo":
        from dispatchlab.learning.agents.torchrl_onpolicy import OnPolicyAgent, OnPolicyConfig

        agent = OnPolicyAgent(spaces, OnPolicyConfig(centralized_critic=True, gamma=0.99), seed)
    else:
        from dispatchlab.learning.agents.torchrl_offpolicy import ContinuousAgent, OffPolicyConfig

        cfg = OffPolicyConfig(algo="ddpg", centralized_critic=True, gamma=0.99, lr=1e-4)
        agent = ContinuousAgent(spaces, cfg, seed)
    agent.scaler.fit(sample_observations(env, spaces, 480, seed))
    t0 = time.perf_counter()
    train(env, agent, TrainConfig(env_steps=steps, seed=seed, reward_scale=0.01))
    policy = policy_callable(agent, kind)
    policy.train_s = time.perf_counter() - t0
    return policy


def compare(trainer, config: CompareConfig, log: Callable | None = None) -> pd.DataFrame:
    """One row per (policy, day) (module docstring)."""
    days = split_days(trainer, config.split)[: config.days]
    env = TransmissionDispatchEnv(case=trainer.case, split=config.split)
    rows = []
    for name in config.policies:
        t0 = time.perf_counter()
        if name == "perfect":
            for d in days:
                pf = trainer.perfect_foresight_cost(d)
                rows.append({"policy": name, "day": d, "cost_usd": pf, "violation_steps": 0,
                             "decision_ms": np.nan})  # fmt: skip
            continue
        try:
            decide, safety, train_s = _decider(trainer, name, config, env)
        except ValueError as err:  # a baseline that diverged in training (NaN actions)
            if "non-finite" not in str(err):
                raise
            rows += [{"policy": name, "day": d, "cost_usd": np.nan, "violation_steps": 0,
                      "failed": f"diverged in training: {err}"} for d in days]  # fmt: skip
            continue
        for d in days:
            try:
                row = play_day(env, decide, d, safety=safety)
            except ValueError as err:  # a diverged baseline (NaN actions): reported, not hidden
                if "non-finite" not in str(err):
                    raise
                row = {"day": d, "cost_usd": np.nan, "violation_steps": env.engine.steps,
                       "failed": f"non-finite actions: {err}"}  # fmt: skip
            rows.append({"policy": name, **row, "train_s": train_s, **_extras(decide)})
        if log:
            log(f"{name}: {time.perf_counter() - t0:.0f} s")
    table = pd.DataFrame(rows)
    pf = table["day"].map(trainer.perfect_foresight_cost)
    table["pf_cost_usd"] = pf
    table["gap_pct"] = 100.0 * (table["cost_usd"] - pf) / pf.abs()
    table["seed"] = trainer.config.seed
    return table


def _decider(trainer, name: str, config: CompareConfig, env):
    if name in ("learned", "learned-raw"):
        return trainer.policy(), name == "learned", trainer.train_s
    if name == "oracle":
        return oracle_policy, False, np.nan
    if name == "hold":
        return hold_policy(trainer.spaces), False, np.nan
    if name == "random":
        return random_policy(config.seed), False, np.nan
    if name == "lookahead":
        return lookahead_policy(config.lookahead_h), False, np.nan
    if name == "cc-sced":
        return cc_sced_policy(0.05), False, np.nan
    if name in ("interval-opf", "deepopf", "deepopf-raw", "lstm-dispatch"):
        return _counterpart(trainer, name, config)
    if name == "qmix":
        from dispatchlab.learning.methods.seed004.qmix_grid import train_qmix

        policy = train_qmix(trainer.case, config.baseline_steps, config.seed)
        return policy, False, policy.train_s
    policy = train_marl(trainer, name, config.baseline_steps, config.seed)
    return policy, False, policy.train_s


def _counterpart(trainer, name: str, config: CompareConfig):
    from dispatchlab.learning.methods.seed004 import counterparts as cp

    if name == "interval-opf":
        return cp.interval_opf_policy(), False, np.nan
    if name == "lstm-dispatch":
        policy = cp.train_lstm(trainer.case, seed=config.seed)
        return policy, True, policy.train_s
    policy = cp.train_deepopf(trainer.case, days=config.deepopf_days, seed=config.seed)
    return policy, name == "deepopf", policy.train_s


def _extras(decide) -> dict:
    """Per-policy numbers a learned counterpart carries (forecast errors, fit error)."""
    names = {"mae_mw": "forecast_mae_mw", "persistence_mae_mw": "persistence_mae_mw",
             "fit_mae": "fit_mae"}  # fmt: skip
    return {col: getattr(decide, a) for a, col in names.items() if hasattr(decide, a)}


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per policy, over days (and seeds): Table 5–6 quantities."""
    g = table.groupby("policy", sort=False)
    out = pd.DataFrame({
        "cost_k_usd_per_day": g["cost_usd"].mean() / 1e3,
        "gap_pct_mean": g["gap_pct"].mean(),
        "gap_pct_max": g["gap_pct"].max(),
        "curtailment_pct": g["curtailment_pct"].mean() if "curtailment_pct" in table else np.nan,
        "overload_pct": g["overload_pct"].mean() if "overload_pct" in table else np.nan,
        "shed_mwh_per_day": g["shed_mwh"].mean() if "shed_mwh" in table else np.nan,
        "violation_steps": g["violation_steps"].sum(),
        "decision_ms": g["decision_ms"].mean(),
    })  # fmt: skip
    for col in ("repairs", "fallbacks", "delivered_violations"):
        if col in table:
            out[col] = g[col].sum(min_count=1)
    return out
