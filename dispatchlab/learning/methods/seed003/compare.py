"""seed003 against its counterparts on the same scenario minutes, every one certified alike.

Each scenario minute of the balancing market (:mod:`.task`) is solved by the array core of
``solve(case, "drl_lp")`` (:func:`~dispatchlab.solvers.problems.drl_lp.drl_lp`) once per
policy: the LP (eqs. 24–31) over the selected DERs' moves from their base, the others held at
base, certified by reduced costs against the full LP at the same linearization and repaired by
adding DERs back until certified. So every policy ends at the full LP's optimum; what differs is
the gap it *would* have shipped, the certificate failures, the DERs added back and the time.
Policies:

* ``mlfacc`` — the trained leader–follower actors (greedy);
* ``lf-rank`` — per zone, the k DERs of least loss-adjusted cost c_k / (1 − LF_k) (eq. 9)
  among those with room to move up (a DER at p_max in the base cannot balance a rising load;
  ranking it anyway would only feed the repair);
* ``random`` — k random DERs per zone (seeded);
* ``oracle-topk`` — per zone, the k DERs the full LP moves most (it needs the full LP: a bound,
  not a method);
* ``full`` — no selection: the full LP itself (``drl_lp`` over every DER).

DLMPs (eq. 32) are the certified LP's (:meth:`DLMPModel.components`), compared with the full
LP's at every bus.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatchlab.learning.envs.der_selection.lp import network_check
from dispatchlab.solvers.certificate import RepairOptions
from dispatchlab.solvers.problems.drl_lp import drl_lp

POLICIES = ("mlfacc", "lf-rank", "random", "oracle-topk", "full")
GAP_TOL = 1e-6  #: relative gap counted as "at the full optimum"


@dataclass(frozen=True)
class CompareConfig:
    """What ``compare`` plays: scenario minutes, policies, seeds."""

    minutes: int = 1440  #: minutes of the day played (evenly spaced when < the profile's)
    days: tuple[int, ...] = (0,)  #: day seeds (centroid draws; training used ≥ 10 000)
    policies: tuple[str, ...] = POLICIES  #: a subset of POLICIES
    seed: int = 0  #: the random policy's draws

    def __post_init__(self) -> None:
        unknown = sorted(set(self.policies) - set(POLICIES))
        if unknown:
            raise ValueError(f"unknown policies {unknown}; known: {', '.join(POLICIES)}")
        if self.minutes < 1:
            raise ValueError(f"minutes must be ≥ 1, got {self.minutes}")
        # an empty table would reach summarize's groupby as a KeyError traceback
        if not self.days:
            raise ValueError("no day to play: days is empty (--days must be ≥ 1)")
        if not self.policies:
            raise ValueError(f"no policy to play; known: {', '.join(POLICIES)}")


def lf_rank(task, k: int) -> np.ndarray:
    """Per zone, the k DERs of least c_k / (1 − LF_k) (eq. 9), those with up-room first."""
    m, lf = task.model, task.lin["LF"][task.env._der_bus]
    full = task.base_mw >= m.der_lim[1] - 1e-9
    score = m.der_cost / (1.0 - lf) + 1e6 * full
    return _per_zone(task.groups, lambda idx: idx[np.argsort(score[idx], kind="stable")[:k]])


def random_k(task, k: int, rng: np.random.Generator) -> np.ndarray:
    """k random DERs per zone."""
    return _per_zone(task.groups, lambda idx: rng.choice(idx, k, replace=False))


def oracle_topk(task, k: int, moved: np.ndarray) -> np.ndarray:
    """Per zone, the k DERs the full LP moves most from their base (ties: cheaper first)."""
    cost = task.model.der_cost
    return _per_zone(
        task.groups, lambda idx: idx[np.lexsort((cost[idx], -np.round(moved[idx], 9)))[:k]]
    )


def _per_zone(groups: np.ndarray, pick) -> np.ndarray:
    return np.sort(np.concatenate([pick(np.flatnonzero(groups == z)) for z in np.unique(groups)]))


class MinuteLP:
    """One scenario minute: the full LP's optimum, and the certified DRL-LP of a selection."""

    def __init__(self, task):
        self.task, self.options = task, RepairOptions(max_rounds=20)
        n = len(task.model.der_ids)
        self.full = self._solve(np.arange(n))
        if not self.full.certified:
            raise RuntimeError(f"full LP of minute {task.minute} is {self.full.sol['status']}")
        self.full_obj = self.full.sol["objective"]
        parts = task.model.components(self.full.sol)
        self.dlmp_full = parts["dlmp_usd_per_mwh"].to_numpy()
        self.prices = {  # the full LP's DLMP range and its congestion / loss parts (eq. 32)
            "full_dlmp_min_usd_per_mwh": self.dlmp_full.min(),
            "full_dlmp_max_usd_per_mwh": self.dlmp_full.max(),
            "full_dlmp_congestion_min_usd_per_mwh": parts["dlmp_congestion_usd_per_mwh"].min(),
            "full_dlmp_congestion_max_usd_per_mwh": parts["dlmp_congestion_usd_per_mwh"].max(),
            "full_dlmp_loss_min_usd_per_mwh": parts["dlmp_loss_usd_per_mwh"].min(),
        }
        moved = np.abs(self.full.sol["p_der"] - task.base_mw)
        self.moved = moved

    def _solve(self, sel: np.ndarray):
        t = self.task
        return drl_lp(t.model, t.lin, sel, base_mw=t.base_mw, iterations=1, options=self.options)

    def dlmp(self, out) -> np.ndarray:
        """DLMP per bus ($/MWh) from the certified duals."""
        return self.task.model.components(out.sol)["dlmp_usd_per_mwh"].to_numpy()

    def run(self, sel: np.ndarray) -> dict:
        """Certified DRL-LP over DER positions ``sel``: gap before certification, certificate,
        DERs added back, DLMP error, linearized limit check, time."""
        out = self._solve(sel)
        report = out.reports[0]
        first = report.extra.get("first_objective", np.nan)
        ok = np.isfinite(first)
        m = self.task.model
        check = network_check(m, out.sol["x"])
        return {
            "lp_variables": out.reduced_columns,
            "variables_removed": out.full_columns - out.reduced_columns,
            "rows_removed": 0,  # every DER enters the balance and every sensitivity row
            "gap_before_cert": (first - self.full_obj) / abs(self.full_obj) if ok else np.inf,
            "infeasible_before_cert": int(not ok),
            "certified_first": int(report.certified and report.rounds == 0),
            "repair_rounds": report.rounds,
            "ders_added_back": len(out.added_back),
            "fallback_full_lp": int(report.fallback),
            "gap_after_cert": (out.sol["objective"] - self.full_obj) / abs(self.full_obj),
            "cost_usd_per_h": out.sol["objective"],
            "dlmp_err_usd_per_mwh": float(np.abs(self.dlmp(out) - self.dlmp_full).max()),
            "voltage_violation_pu": check["voltage_pu"],
            "flow_violation_mw": check["line_flow_mw"],
            "lp_ms": 1e3 * (out.timings["build"] + out.timings["solve"]),
        }


def compare(method, cfg: CompareConfig, task=None) -> pd.DataFrame:
    """One row per (minute, policy): the columns of :meth:`MinuteLP.run` plus decision and
    end-to-end time (features + selection + LP + certificate + repair)."""
    task = task or method.task()
    rng = np.random.default_rng(cfg.seed)
    k = task.cfg.k
    rows = []
    for day, minute in _scenarios(cfg, task.minutes):
        task.reset(day, minute)
        mlp = MinuteLP(task)
        full_ms = 1e3 * (mlp.full.timings["build"] + mlp.full.timings["solve"])
        for policy in cfg.policies:
            t0 = time.perf_counter()
            sel = _select(policy, method, task, k, rng, mlp)
            decision_ms = 1e3 * (time.perf_counter() - t0)
            row = mlp.run(sel)
            if policy == "full":
                row["lp_ms"] = full_ms
            row.update(
                day=day,
                minute=minute,
                case=task.kind,
                policy=policy,
                selected_ders=len(sel),
                merged_ties=int(task.ddmm.merged.sum()),
                decision_ms=decision_ms,
                end_to_end_ms=decision_ms + row["lp_ms"],
                full_lp_ms=full_ms,
                full_cost_usd_per_h=mlp.full_obj,
                full_dlmp_mean_usd_per_mwh=float(mlp.dlmp_full.mean()),
                **mlp.prices,
            )
            rows.append(row)
    return pd.DataFrame(rows)


def _scenarios(cfg: CompareConfig, available: int) -> list[tuple[int, int]]:
    """(day, minute) pairs: ``cfg.minutes`` minutes of each day, evenly spread over the day."""
    if cfg.minutes > available:
        raise ValueError(f"{cfg.minutes} minutes asked for; the profile has {available}")
    minutes = np.linspace(0, available, cfg.minutes, endpoint=False).astype(int)
    return [(d, int(t)) for d in cfg.days for t in minutes]


def _select(policy: str, method, task, k: int, rng, mlp: MinuteLP) -> np.ndarray:
    if policy == "mlfacc":
        picks, _ = method.select(task)
        return np.sort(picks.ravel())
    if policy == "lf-rank":
        return lf_rank(task, k)
    if policy == "random":
        return random_k(task, k, rng)
    if policy == "oracle-topk":
        return oracle_topk(task, k, mlp.moved)
    return np.arange(len(task.model.der_ids))


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per policy: the issue's metrics over minutes."""
    g = table.groupby("policy", sort=False)
    gap = g["gap_before_cert"]
    return pd.DataFrame(
        {
            "minutes": g.size(),
            "merged_ties_mean": g["merged_ties"].mean(),
            "variables_removed_mean": g["variables_removed"].mean(),
            "gap_before_cert_mean_pct": 100 * gap.mean(),
            "gap_before_cert_p99_pct": 100 * gap.quantile(0.99),
            "gap_before_cert_max_pct": 100 * gap.max(),
            "certified_first_pct": 100 * g["certified_first"].mean(),
            "ders_added_back_mean": g["ders_added_back"].mean(),
            "at_optimum_pct": 100
            * g["gap_after_cert"].apply(lambda s: (s.abs() <= GAP_TOL).mean()),
            "dlmp_err_max_usd_per_mwh": g["dlmp_err_usd_per_mwh"].max(),
            "lp_ms_mean": g["lp_ms"].mean(),
            "end_to_end_ms_mean": g["end_to_end_ms"].mean(),
            "violations": g["voltage_violation_pu"].apply(lambda s: int((s > 1e-6).sum()))
            + g["flow_violation_mw"].apply(lambda s: int((s > 1e-6).sum())),
        }
    )
