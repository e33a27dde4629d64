"""seed001's policies and exact counterparts on identical days, with the paper's metrics.

Every policy plays each day once, noise-free (the day exactly as ``year_pool`` has it, so the
24-h optimum solves the same loads), from the same initial set-points:

* ``learned`` — the seed001 checkpoint; ``maddpg``, ``ddpg``, ``masac``, ``grpo`` — the
  counterparts of :mod:`.baselines` (their checkpoints beside it, ``<stem>-<name>.npz``);
  with ``safety`` all five pass through ``learning/safety``'s voltage-control layer;
* ``exact-day`` — the 24-h ``distflow`` optimum (SOCP, ``objective="seed001"``, AC-verified;
  its cost is ``info["ac_seed001"]``, the paper's cost on the AC power flow of its set-points);
* ``exact-step`` — ``env.oracle()``, the per-step AC-OPF of the same cost (myopic);
* ``hold`` — every device at its initial set-point (0 MW, 0 Mvar); ``random`` — uniform.

The day cost of a played policy is :func:`~dispatchlab.solvers.distribution.objectives.
seed001_terms` on its per-step voltages and losses, the function ``exact-day``'s
``ac_seed001`` uses, with ``c_loss`` = the env's 44 / base MVA (:func:`coefficients`: the env
charges losses in p.u. of the 10 MVA base, docs/env-voltage-control.md, the solver in MW), so
the optimum and the env reward rank alike.
``gap_pct`` = 100 (cost − exact-day cost) / |exact-day cost|.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatchlab.learning.safety.base import TOL

POLICIES = ("learned", "maddpg", "ddpg", "masac", "grpo", "exact-day", "exact-step", "hold")
POLICIES = (*POLICIES, "random")
LEARNED = ("learned", "maddpg", "ddpg", "masac", "grpo")


@dataclass(frozen=True)
class CompareConfig:
    """Which days and policies, with or without the safety layer."""

    days: tuple[str, ...]  #: dates, all in seed001's day pool
    policies: tuple[str, ...] = POLICIES  #: any of :data:`POLICIES`
    safety: bool = True  #: learned policies through the voltage-control safety layer
    seed: int = 0  #: the random policy's action spaces
    case: str = "ieee33-seed001-mw"  #: the case (its year pool gives exact-day's loads)
    pool_seed: int = 1  #: ``year_pool`` seed, as the method's config
    #: a diverged power flow: "raise" (an error naming step and day) or "count" (the day's
    #: row gets ``diverged`` = 1, compliance 0 and NaN costs; the benchmark reports how many)
    on_diverge: str = "raise"

    def __post_init__(self) -> None:
        unknown = [p for p in self.policies if p not in POLICIES]
        if unknown or not self.policies:
            raise ValueError(f"unknown policy(ies) {unknown}; valid: {', '.join(POLICIES)}")
        if self.on_diverge not in ("raise", "count"):
            raise ValueError(f"on_diverge must be 'raise' or 'count', got {self.on_diverge!r}")
        if not self.days:
            raise ValueError("CompareConfig.days is empty")


def coefficients(env) -> dict:
    """seed001's coefficients for :func:`seed001_terms` and the ``distflow`` objective, with
    ``c_loss`` per MW taken from the env's own weights: the env charges ``c_loss`` (44) per p.u.
    of loss on the case's base MVA, the solver's :data:`SEED001` per MW, so the one value both
    use is ``env.config.weights.c_loss / base_mva`` (4.4 $/MWh on the 10 MVA base)."""
    return {"c_loss": env.config.weights.c_loss / env.case.base_mva}


def hold_action(env) -> dict:
    """Every device at its initial set-point."""
    c = env.core
    return {
        a: np.array([c.p_init[k], c.q_init[k]]) if c.has_p[k] else np.array([c.q_init[k]])
        for k, a in enumerate(env.possible_agents)
    }


def play_day(env, policy: Callable, day: str, layer=None) -> dict:
    """One noise-free day of ``policy``; a diverged power flow is an error naming step and day."""
    from dispatchlab.solvers.distribution.objectives import seed001_terms

    obs, _ = env.reset(seed=0, options={"day": day})
    if layer is not None:
        layer.stats.__init__()
    vms, losses, comp, dev, raw, band, decide_s = [], [], [], [], 0, 0, 0.0
    while env.agents:
        t0 = time.perf_counter()
        action = policy(env, obs)
        if layer is not None:
            viol = layer.verify(action)
            raw += int(sum(viol.values()) > TOL)
            band += int(viol.get("voltage_band_pu", np.inf) > TOL)  # absent: flow diverged
            action = layer.filter(action)[0]
        decide_s += time.perf_counter() - t0
        try:
            obs, _, _, _, infos = env.step(action)
        except RuntimeError as err:
            raise RuntimeError(
                f"power flow diverged at step {env.core.t} of day {day} "
                f"({getattr(policy, 'name', 'policy')}): {err}"
            ) from None
        info = next(iter(infos.values()))
        vms.append(env.core.vm[0].copy())
        losses.append(info["metrics"]["loss_mw"])
        comp.append(info["metrics"]["compliance_rate"])
        dev.append(info["metrics"]["voltage_deviation_pu"])
        if layer is None:
            raw += int(sum(info["violations"].values()) > TOL)
            band += int(info["violations"]["voltage_band_pu"] > TOL)
    terms = seed001_terms(np.array(vms), np.array(losses), coefficients=coefficients(env))
    row = _row(terms, np.array(losses), comp, dev, env)
    s = layer.stats if layer is not None else None
    row.update(
        violation_steps_raw=raw,
        band_steps_raw=band,
        # delivered: left after the layer beyond what the oracle itself cannot avoid (a
        # fallback that still violates is the oracle's own excursion: fallback_failed)
        violation_steps=s.delivered_violations - s.fallback_failed if s else raw,
        clips=s.clipped if s else 0,
        repairs=s.repaired if s else 0,
        fallbacks=s.fallbacks if s else 0,
        fallback_failed=s.fallback_failed if s else 0,
        decision_ms=1e3 * decide_s / len(vms),
    )
    return row


def _row(terms: dict, loss_mw: np.ndarray, comp, dev, env) -> dict:
    c_loss = coefficients(env)["c_loss"]
    return {
        "cost": terms["total"],
        "loss_cost": terms["loss_cost"],
        "avg_loss_cost": c_loss * float(np.mean(loss_mw)),
        "avg_voltage_deviation_pu": float(np.mean(dev)),
        "compliance": float(np.mean(comp)),
    }


def exact_day(day: str, env, config: CompareConfig) -> dict:
    """The 24-h distflow optimum of ``day`` (its AC-verified seed001 cost)."""
    from dispatchlab import solve
    from dispatchlab.cases.scenarios import select_days
    from dispatchlab.learning.methods.seed001.data import pool_case

    case = select_days(pool_case(config.case, config.pool_seed), [day])
    t0 = time.perf_counter()
    res = solve(case, "distflow", objective="seed001", periods="all",
                coefficients=coefficients(env))  # fmt: skip
    vm = res.bus["vm_ac_pu"].unstack("period").T.to_numpy()
    w = env.config.weights
    inside = (vm >= w.v_min_pu) & (vm <= w.v_max_pu)
    terms = res.info["ac_seed001"]
    loss = np.full(len(vm), res.info["ac_loss_mw"] / len(vm))
    row = _row(terms, loss, inside.mean(axis=1), np.abs(vm - w.v_ref_pu).mean(axis=1), env)
    viol = int((~inside).any(axis=1).sum())
    row.update(violation_steps_raw=viol, band_steps_raw=viol, violation_steps=viol)
    row.update(clips=0, repairs=0, fallbacks=0)
    row.update(fallback_failed=0, decision_ms=1e3 * (time.perf_counter() - t0) / len(vm))
    return row


def compare(
    policies: dict[str, Callable], env, config: CompareConfig, exact: dict | None = None
) -> pd.DataFrame:
    """One row per (policy, day): costs, Table 4 metrics, gap to exact-day, safety counts.
    ``policies`` maps the learned names to ``policy(env, obs)`` callables; ``env`` is a
    noise-free :func:`~.data.make_day_env` on ``config.days``. ``exact``: a dict kept across
    calls on the same case (the benchmark's seeds, with and without safety) that memoizes the
    24-h optimum of each day, which depends on neither (its ``decision_ms`` is its first
    solve's)."""
    from dispatchlab.learning.safety import make_safety_layer

    layer = make_safety_layer("voltage-control", env) if config.safety else None
    rng = np.random.default_rng(config.seed)
    builtin = {
        "exact-step": lambda e, o: e.oracle().action,
        "hold": lambda e, o: hold_action(e),
        "random": lambda e, o: {
            a: rng.uniform(e.action_space(a).low, e.action_space(a).high) for a in e.agents
        },
    }
    rows, memo = [], exact if exact is not None else {}
    for day in config.days:
        key = (config.case, config.pool_seed, day)
        if key not in memo:
            memo[key] = exact_day(day, env, config)
        best = memo[key]
        for name in config.policies:
            if name == "exact-day":
                row = best
            else:
                pol = policies[name] if name in LEARNED else builtin[name]
                try:
                    row = play_day(env, pol, day, layer if name in LEARNED else None)
                except RuntimeError as err:
                    if config.on_diverge != "count" or "diverged" not in str(err):
                        raise
                    row = {k: np.nan for k in best} | {"compliance": 0.0, "diverged": 1}
            gap = 100.0 * (row["cost"] - best["cost"]) / abs(best["cost"])
            rows.append({"policy": name, "day": day, "diverged": 0, **row, "gap_pct": gap})
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per policy: Table 4 columns, cost, gap mean / p99 / max, violation and safety sums."""
    g = table.groupby("policy", sort=False)
    out = g[["avg_loss_cost", "avg_voltage_deviation_pu", "compliance", "cost"]].mean()
    out["gap_pct_mean"] = g["gap_pct"].mean()
    out["gap_pct_p99"] = g["gap_pct"].quantile(0.99)
    out["gap_pct_max"] = g["gap_pct"].max()
    cols = ["violation_steps_raw", "band_steps_raw", "violation_steps", "clips", "repairs"]
    cols.append("fallbacks")
    out[cols] = g[cols].sum()
    out["decision_ms"] = g["decision_ms"].mean()
    return out
