"""seed000 against its exact counterparts on identical test days of the ``der-dispatch`` env.

Every policy plays the same scenario-days (scenario seeds ``first_day`` …; training uses seeds
≥ ``Seed000Config.train_seed_offset``, so no test day is seen in training) and is scored by the
environment itself — the eq.-2/3 reward at the exact DLMPs, the AC power flow's violations and
seed000 §4.1's metrics — so the numbers are comparable row by row:

* ``learned`` — the trained edge controllers (decentralized, local observation + exact LMP),
  every decision through the
  :class:`~dispatchlab.learning.safety.der_dispatch.DERDispatchSafetyLayer` (repairs and
  fallbacks counted);
* ``learned-gcn`` — the same controllers observing the regional agent's *predicted* LMPs; the
  applied actions are scored at the exact prices, so the difference to ``learned`` is the cost
  regret of the price GCN;
* ``exact`` — the centralized exact dispatch of all units per decision (``env.oracle()``, a MILP
  over the same discrete levels): the reference of the optimality gap. It is myopic (it
  maximizes each step's reward), so a policy that shifts storage energy in time may beat it;
* ``sp`` — two-stage stochastic programming (:func:`~dispatchlab.solvers.problems.stochastic.
  solve_two_stage`, copper plate, ``sp_scenarios`` PV scenarios): its non-anticipative
  real-time schedule is the scenario mean of the recourse (storage, flexible load, the PV
  curtailment fraction applied to the realized PV), a convex combination of feasible
  schedules and therefore within the storage limits;
* ``mpc`` — model predictive control (:func:`~dispatchlab.solvers.problems.mpc.run_mpc`): the
  mean-forecast day-ahead plan, then a rolling ``mpc_horizon``-step LP re-solved every step
  with the realized PV of the day (the env's scenario) and refreshed forecasts;
* ``hold`` — do nothing: PV sells all it has, storage and flexible load at 0 MW (nearest level);
* ``random`` — uniform random levels.

SP and MPC decide in MW on their own copper-plate model; their set-points are played in the
env's continuous action mode (a set-point outside the unit's current range is clipped and
counted as ``setpoint_clips``). The learned, exact and random policies play the discrete mode
the controllers were trained on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dispatchlab.cases.case import Case
from dispatchlab.learning.envs.der_dispatch.env import DERDispatchEnv
from dispatchlab.learning.envs.der_dispatch.units import FLEX, PV, STORAGE
from dispatchlab.learning.safety.base import TOL
from dispatchlab.learning.safety.der_dispatch import DERDispatchSafetyLayer
from dispatchlab.solvers.problems.mpc import MPCOptions, run_mpc
from dispatchlab.solvers.problems.stochastic import (
    StochasticOptions,
    day_data,
    pv_scenarios,
    solve_two_stage,
)

POLICIES = ("learned", "learned-gcn", "exact", "sp", "mpc", "hold", "random")


@dataclass(frozen=True)
class CompareConfig:
    """Which policies play which test days (one line each)."""

    days: int = 5  #: test days = scenario seeds first_day … first_day + days − 1
    first_day: int = 0  #: first test scenario seed (training seeds start at 10 000)
    policies: tuple[str, ...] = (
        "learned",
        "exact",
        "sp",
        "mpc",
        "hold",
        "random",
    )  #: from POLICIES
    safety: bool = True  #: pass the learned decisions through the safety layer
    sp_scenarios: int = 10  #: PV scenarios of the two-stage SP
    mpc_horizon: int = 16  #: MPC window, steps (16 × 15 min = 4 h)
    oracle_time_limit: float = 30.0  #: seconds per exact decision (and per fallback)
    seed: int = 0  #: random policy and SP / MPC forecast-error draws
    case: str | Case | None = None  #: play on this case (e.g. a stressed variant); None: trained
    realized_case: str | Case | None = None  #: stress: realized days drawn around this case

    def __post_init__(self) -> None:
        unknown = sorted(set(self.policies) - set(POLICIES))
        if unknown:
            raise ValueError(f"unknown policies {unknown}; known: {list(POLICIES)}")
        if len(set(self.policies)) != len(self.policies):
            raise ValueError(f"policies listed twice: {list(self.policies)}")
        if self.days < 1:
            raise ValueError(f"days must be ≥ 1, got {self.days}")


def _env(method, config: CompareConfig, mode: str, price_model=None) -> DERDispatchEnv:
    cfg = method.config
    opts = {"n_units": cfg.n_units, "n_levels": cfg.n_levels, "action_mode": mode,
            "realized_case": config.realized_case}  # fmt: skip
    return DERDispatchEnv(config.case or cfg.case, price_model=price_model, **opts)


def _mw_to_action(core, p_mw: np.ndarray) -> tuple[np.ndarray, int]:
    """Continuous actions for MW set-points at the current step, and how many were clipped."""
    lo, hi = core.lo[0], core.hi[0]
    span = hi - lo
    a = np.where(span > 1e-12, 2.0 * (p_mw - lo) / np.where(span > 1e-12, span, 1.0) - 1.0, 0.0)
    clips = int(np.sum(np.abs(a) > 1.0 + 1e-6))
    return np.clip(a, -1.0, 1.0), clips


def _day(env, day_seed: int, decide: Callable, *, safety: bool, score_env=None) -> dict:
    """Play one day. ``decide(env, k) -> (actions, clips)``; ``score_env``: a second env with
    exact prices that receives the same actions and provides the score (``learned-gcn``)."""
    score = score_env or env
    env.reset_arrays(day_seed)
    if score_env is not None:
        score_env.reset_arrays(day_seed)
    layer = DERDispatchSafetyLayer(score) if safety else None
    core, g = score.core, score.core.grid
    reward = used = avail = 0.0
    reserve, dev, viol_steps, viol_max, clips, spent = [], [], 0, 0.0, 0, 0.0
    for k in range(core.n_steps):
        t0 = time.perf_counter()
        actions, n_clip = decide(env, k)
        if layer is not None:
            actions, _ = layer.filter(actions)
        spent += time.perf_counter() - t0
        clips += n_clip
        if score_env is not None:
            env.step_arrays(actions)
        _, rew, _, info = score.step_arrays(actions)
        m, v = info["metrics"], info["violations"]
        reward += float(rew.sum())
        pv_used = float(info["p_mw"][g.pv_idx].sum())
        used, avail = used + pv_used, avail + pv_used + m["pv_curtailed_mw"]
        reserve.append(m["reserve_cost_usd_per_h"])
        dev.append(m["net_power_deviation_mw"])
        worst = max(v.values()) if v else 0.0
        viol_steps += int(sum(v.values()) > TOL)
        viol_max = max(viol_max, worst)
    stats = layer.stats.as_dict() if layer else {}
    return {
        "day": day_seed,
        "reward_usd": reward,
        "reserve_cost_usd_per_h": float(np.mean(reserve)),
        "pv_integration_rate": used / avail if avail > 1e-9 else np.nan,
        "net_power_deviation_mean_mw": float(np.mean(dev)),
        "net_power_deviation_max_mw": float(np.max(dev)),
        "violation_steps": viol_steps,
        "max_violation": viol_max,
        "repairs": stats.get("repaired", 0),
        "fallbacks": stats.get("fallbacks", 0),
        "setpoint_clips": clips,
        "decision_ms": 1e3 * spent / core.n_steps,
    }


def hold_levels(core) -> np.ndarray:
    """The do-nothing decision at the current step: every PV unit sells all it has, storage
    and flexible load stay at 0 MW — as discrete levels (the nearest level to that output)."""
    lo, hi = core.lo[0], core.hi[0]
    target = np.clip(np.where(core.units.kind == PV, hi, 0.0), lo, hi)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.rint((target - lo) / span * (core.n_levels - 1)).astype(np.int64)


# ------------------------------------------------------------------ exact counterparts
def _split(core, pv_mw: float, storage_mw: np.ndarray, flex_mw: float) -> np.ndarray:
    """Unit set-points (MW) from the copper-plate decision of one step: PV in proportion to
    each unit's realized availability, storage one to one, flexible load by rated size."""
    u = core.units
    p = np.zeros(u.n)
    pv, st, fl = u.index(PV), u.index(STORAGE), u.index(FLEX)
    avail = core.hi[0, pv]
    if avail.sum() > 1e-12:
        p[pv] = min(pv_mw, avail.sum()) * avail / avail.sum()
    if len(storage_mw) != len(st):
        raise ValueError(
            f"the SP / MPC model has {len(storage_mw)} storage units, the env {len(st)}: "
            "the counterparts need n_units=None (the case's own DERs)"
        )
    p[st] = storage_mw
    if len(fl):
        p[fl] = flex_mw * u.p_max_mw[fl] / u.p_max_mw[fl].sum()
    return p


def sp_schedule(case, o: StochasticOptions) -> Callable:
    """``decide`` for the two-stage SP (module docstring): a day-ahead plan; at run time its
    PV curtailment fraction is applied to the PV available in the env."""
    day = day_data(case)
    sol = solve_two_stage(day, pv_scenarios(day, o.n_scenarios, o.sigma, o.rho, o.seed), o)
    if "u" not in sol:
        raise RuntimeError(f"two-stage SP on {case.name} did not solve: {sol['status']}")
    pv_mean = sol["pv"].mean(axis=0)
    share = np.divide(sol["u"].mean(axis=0), pv_mean, out=np.ones_like(pv_mean), where=pv_mean > 0)
    storage, flex = sol["storage_mw"].mean(axis=0), sol["flex"].mean(axis=0)

    def decide(env, k):
        pv_now = float(env.core.hi[0, env.core.units.index(PV)].sum())
        return _mw_to_action(env.core, _split(env.core, share[k] * pv_now, storage[k], flex[k]))

    return decide


def mpc_schedule(case, realized_pv: np.ndarray, o: MPCOptions, seed: int) -> Callable:
    """``decide`` for MPC run on the day's realized total PV (T,)."""
    day = day_data(case)
    mean = solve_two_stage(day, day.pv.sum(axis=1)[None, :], o.sp)
    reserve = np.where(day.pv.sum(axis=1) > 0, o.reserve_k * o.sp.sigma * day.pv_cap.sum(), 0.0)
    plan = {"p_da": mean["p_da"], "r_up": reserve, "r_dn": reserve}
    out = run_mpc(day, realized_pv[: len(day.times)], plan, o, seed)

    def decide(env, k):
        return _mw_to_action(
            env.core, _split(env.core, out["u"][k], out["storage_mw"][k], out["flex"][k])
        )

    return decide


# ---------------------------------------------------------------------------- compare
def compare(method, config: CompareConfig = CompareConfig(), progress: bool = True) -> pd.DataFrame:
    """One row per (policy, day): reward, seed000's metrics, violations, repairs, time; plus
    ``gap_pct`` to the ``exact`` row of the same day when ``exact`` is among the policies."""
    if "learned-gcn" in config.policies and method.gcn is None:
        raise ValueError("'learned-gcn' needs a checkpoint trained with the price GCN")
    disc = _env(method, config, "discrete")
    kinds = disc.core.units.kind
    rows = []
    days = range(config.first_day, config.first_day + config.days)
    bar = tqdm(total=len(days) * len(config.policies), disable=not progress, desc="seed000 compare")
    for day_seed in days:
        realized_pv = disc.core.grid.scenario(day_seed).pv.sum(axis=1)
        for name in config.policies:
            bar.set_postfix_str(f"day {day_seed} {name}")
            row = _play(name, method, config, day_seed, realized_pv, disc, kinds)
            rows.append({"policy": name, **row})
            bar.update()
    bar.close()
    table = pd.DataFrame(rows)
    if "exact" in config.policies:
        ref = table[table["policy"] == "exact"].set_index("day")["reward_usd"]
        exact = table["day"].map(ref)
        table["gap_pct"] = 100.0 * (exact - table["reward_usd"]) / exact.abs()
    return table


def _play(name, method, config, day_seed, realized_pv, disc, kinds) -> dict:
    if name == "learned":
        decide = lambda env, k: (method.act(env.observation_array(), kinds), 0)  # noqa: E731
        return _day(disc, day_seed, decide, safety=config.safety)
    if name == "learned-gcn":
        gcn_env = _env(method, config, "discrete", price_model=method.price_model(disc.case))
        decide = lambda env, k: (method.act(env.observation_array(), kinds), 0)  # noqa: E731
        return _day(gcn_env, day_seed, decide, safety=config.safety, score_env=disc)
    if name == "exact":
        t_limit = config.oracle_time_limit
        decide = lambda env, k: (env.oracle(time_limit=t_limit).info["action_array"], 0)  # noqa: E731
        return _day(disc, day_seed, decide, safety=False)
    if name == "hold":
        decide = lambda env, k: (hold_levels(env.core), 0)  # noqa: E731
        return _day(disc, day_seed, decide, safety=False)
    if name == "random":
        rng = np.random.default_rng([config.seed, day_seed])
        decide = lambda env, k: (rng.integers(0, env.config.n_levels, env.n_units), 0)  # noqa: E731
        return _day(disc, day_seed, decide, safety=False)
    cont = _env(method, config, "continuous")
    sp = StochasticOptions(n_scenarios=config.sp_scenarios, seed=config.seed)
    t0 = time.perf_counter()
    if name == "sp":
        decide = sp_schedule(cont.case, sp)
    else:
        o = MPCOptions(horizon=config.mpc_horizon, sp=sp)
        decide = mpc_schedule(cont.case, realized_pv, o, config.seed * 1000 + day_seed)
    plan_ms = 1e3 * (time.perf_counter() - t0) / cont.core.n_steps
    row = _day(cont, day_seed, decide, safety=False)
    row["decision_ms"] += plan_ms  # the solves happen up front; charge them per step
    return row


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per policy: mean ± std over days of the reward and metrics, and the gap's tail."""
    cols = [
        "reward_usd",
        "reserve_cost_usd_per_h",
        "pv_integration_rate",
        "net_power_deviation_mean_mw",
        "decision_ms",
    ]
    g = table.groupby("policy", sort=False)
    out = pd.concat(
        {f"{c}_mean": g[c].mean() for c in cols} | {f"{c}_std": g[c].std() for c in cols}, axis=1
    )
    out["net_power_deviation_max_mw"] = g["net_power_deviation_max_mw"].max()
    out["violation_steps"] = g["violation_steps"].sum()
    out["repairs"] = g["repairs"].sum()
    out["fallbacks"] = g["fallbacks"].sum()
    out["setpoint_clips"] = g["setpoint_clips"].sum()
    if "gap_pct" in table:
        out["gap_pct_mean"] = g["gap_pct"].mean()
        out["gap_pct_p99"] = g["gap_pct"].quantile(0.99)
        out["gap_pct_max"] = g["gap_pct"].max()
    return out
