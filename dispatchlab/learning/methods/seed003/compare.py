"""seed003 against its counterparts on the same scenario minutes, every one certified alike.

Per minute, one LP over all DERs at the scenario's linearization (the DLMP LP of
``solve(case, "dlmp")``, :func:`~dispatchlab.learning.envs.der_selection.lp.selection_lp`)
is held as arrays (:class:`~dispatchlab.learning.reduce.certificate.LPArrays`), and every
policy's selection is solved on it with the left-out DERs fixed at 0 (DRL-LP, eqs. 24–31),
certified by reduced costs and repaired by adding DERs back until certified
(:func:`~dispatchlab.learning.reduce.certificate.repair_solve`): so every policy ends at the
full LP's optimum, and what differs is the gap it *would* have shipped, the certificate
failures, the DERs added back and the time. Policies:

* ``mlfacc`` — the trained leader–follower actors (greedy);
* ``lf-rank`` — per zone, the k DERs of least loss-adjusted cost c_k / (1 − LF_k) (eq. 9);
* ``random`` — k random DERs per zone (seeded);
* ``oracle-topk`` — per zone, the full LP's k most dispatched DERs (it needs the full LP: a
  bound, not a method);
* ``full`` — no selection: the full LP itself.

DLMPs (eq. 32) are read from the certified LP's row duals: a MW withdrawn at bus i moves the
balance row by (LF_i − 1) and each flow / voltage row by its sensitivity, so
DLMP_i = y_bal (LF_i − 1) + Σ_r y_r S_r,i, compared with the full LP's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatchlab.learning.envs.der_selection.lp import network_check, selection_lp
from dispatchlab.learning.reduce.certificate import (
    LPArrays,
    PruningConfig,
    reduced_highs,
    repair_solve,
    solve_fixed,
)
from dispatchlab.solvers.status import Status

POLICIES = ("mlfacc", "lf-rank", "random", "oracle-topk", "full")
GAP_TOL = 1e-6  #: relative gap counted as "at the full optimum"


@dataclass(frozen=True)
class CompareConfig:
    """What ``compare`` plays: scenario minutes, policies, seeds."""

    minutes: int = 1440  #: scenario minutes (seeds first_minute … first_minute+minutes−1)
    first_minute: int = 0  #: first scenario seed (training used ≥ 10 000)
    policies: tuple[str, ...] = POLICIES  #: a subset of POLICIES
    seed: int = 0  #: the random policy's draws

    def __post_init__(self) -> None:
        unknown = sorted(set(self.policies) - set(POLICIES))
        if unknown:
            raise ValueError(f"unknown policies {unknown}; known: {', '.join(POLICIES)}")
        if self.minutes < 1:
            raise ValueError(f"minutes must be ≥ 1, got {self.minutes}")


def lf_rank(task, k: int) -> np.ndarray:
    """Per zone, the k DERs of least c_k / (1 − LF_k) (eq. 9)."""
    m, lf = task.model, task.lin["LF"][task.env._der_bus]
    score = m.der_cost / (1.0 - lf)
    return _per_zone(task.groups, lambda idx: idx[np.argsort(score[idx], kind="stable")[:k]])


def random_k(task, k: int, rng: np.random.Generator) -> np.ndarray:
    """k random DERs per zone."""
    return _per_zone(task.groups, lambda idx: rng.choice(idx, k, replace=False))


def oracle_topk(task, k: int, p_full: np.ndarray, reduced: np.ndarray) -> np.ndarray:
    """Per zone, the full LP's k most dispatched DERs (ties: most negative reduced cost)."""
    return _per_zone(
        task.groups, lambda idx: idx[np.lexsort((reduced[idx], -np.round(p_full[idx], 9)))[:k]]
    )


def _per_zone(groups: np.ndarray, pick) -> np.ndarray:
    return np.sort(np.concatenate([pick(np.flatnonzero(groups == z)) for z in np.unique(groups)]))


class MinuteLP:
    """The full LP of one scenario minute as arrays, its optimum, and DRL-LP over selections."""

    def __init__(self, task):
        t0 = time.perf_counter()
        self.task, m = task, task.model
        self.lp = LPArrays(selection_lp(m, np.arange(len(m.der_ids)), task.lin))
        self.cols = self.lp.model.var_blocks["der_p_mw"].positions
        self.build_s = time.perf_counter() - t0
        self.cfg = PruningConfig(max_rounds=20)
        self.h = reduced_highs(self.cfg)
        self.full = solve_fixed(self.lp, np.array([], int), np.array([], bool), self.h)
        if self.full.status is not Status.OPTIMAL:
            raise RuntimeError(f"full LP of the minute is {self.full.status.name}")
        self.dlmp_full = self.dlmp(self.full)

    def dlmp(self, sol) -> np.ndarray:
        """DLMP_i ($/MWh) from the row duals (module docstring)."""
        m, lin = self.task.model, self.task.lin
        net = m.net
        y = sol.row_dual
        mon = np.flatnonzero(np.isfinite(m.flow_limits))
        vb = np.setdiff1d(np.arange(net.n), [net.ref])
        sens = np.vstack([net.flow_sensitivity[0][mon], net.voltage_sensitivity[vb]])
        return y[0] * (lin["LF"] - 1.0) + y[1 : 1 + len(sens)] @ sens

    def run(self, sel: np.ndarray) -> dict:
        """DRL-LP over DER positions ``sel``: gap before certification, certificate, repair."""
        out = np.setdiff1d(np.arange(len(self.cols)), sel)
        fixed, at_upper = self.cols[out], np.zeros(len(out), bool)
        full_obj = self.full.objective
        t0 = time.perf_counter()
        first = solve_fixed(self.lp, fixed, at_upper, self.h)
        first_s = time.perf_counter() - t0
        sol, report = repair_solve(self.lp, fixed, at_upper, self.cfg, self.h)
        total_s = first_s + report.timings["solve"] + report.timings["verify"]
        ok = first.status is Status.OPTIMAL
        gap0 = (first.objective - full_obj) / abs(full_obj) if ok else np.inf
        gap = (sol.objective - full_obj) / abs(full_obj)
        m = self.task.model
        x = m.a_der @ sol.x[self.cols] - m.demand
        check = network_check(m, x)
        return {
            "lp_variables": len(self.lp.cost) - len(fixed),
            "variables_removed": len(fixed),
            "rows_removed": 0,  # every DER enters the balance and every sensitivity row
            "gap_before_cert": gap0,
            "infeasible_before_cert": int(not ok),
            "certified_first": int(report.certified and report.rounds == 0),
            "repair_rounds": report.rounds,
            "ders_added_back": report.added_back,
            "fallback_full_lp": int(report.fallback),
            "gap_after_cert": gap,
            "cost_usd_per_h": sol.objective,
            "dlmp_err_usd_per_mwh": float(np.abs(self.dlmp(sol) - self.dlmp_full).max()),
            "voltage_violation_pu": check["voltage_pu"],
            "flow_violation_mw": check["line_flow_mw"],
            "lp_ms": 1e3 * total_s,
        }


def compare(method, cfg: CompareConfig, task=None) -> pd.DataFrame:
    """One row per (minute, policy): the columns of :meth:`MinuteLP.run` plus decision and
    end-to-end time (features + selection + LP + certificate + repair)."""
    task = task or method.task()
    rng = np.random.default_rng(cfg.seed)
    k = method.config.k if method is not None else task.cfg.k
    rows = []
    for minute in range(cfg.first_minute, cfg.first_minute + cfg.minutes):
        task.reset(minute)
        mlp = MinuteLP(task)
        full_ms = 1e3 * mlp.full.solve_s
        for policy in cfg.policies:
            t0 = time.perf_counter()
            sel = _select(policy, method, task, k, rng, mlp)
            decision_ms = 1e3 * (time.perf_counter() - t0)
            row = mlp.run(sel)
            if policy == "full":
                row["lp_ms"] = full_ms
            row.update(
                minute=minute,
                policy=policy,
                selected_ders=len(sel),
                merged_ties=int(task.ddmm.merged.sum()),
                decision_ms=decision_ms,
                end_to_end_ms=decision_ms + row["lp_ms"],
                full_lp_ms=full_ms,
                full_cost_usd_per_h=mlp.full.objective,
            )
            rows.append(row)
    return pd.DataFrame(rows)


def _select(policy: str, method, task, k: int, rng, mlp: MinuteLP) -> np.ndarray:
    if policy == "mlfacc":
        picks, _ = method.select(task)
        return np.sort(picks.ravel())
    if policy == "lf-rank":
        return lf_rank(task, k)
    if policy == "random":
        return random_k(task, k, rng)
    if policy == "oracle-topk":
        return oracle_topk(task, k, mlp.full.x[mlp.cols], mlp.full.col_dual[mlp.cols])
    return np.arange(len(mlp.cols))


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per policy: the issue's metrics over minutes."""
    g = table.groupby("policy", sort=False)
    gap = g["gap_before_cert"]
    return pd.DataFrame(
        {
            "minutes": g.size(),
            "variables_removed_mean": g["variables_removed"].mean(),
            "gap_before_cert_mean_pct": 100 * gap.mean(),
            "gap_before_cert_p99_pct": 100 * gap.quantile(0.99),
            "gap_before_cert_max_pct": 100 * gap.max(),
            "certified_first_pct": 100 * g["certified_first"].mean(),
            "ders_added_back_mean": g["ders_added_back"].mean(),
            "at_optimum_pct": 100 * g["gap_after_cert"].apply(lambda s: (s.abs() <= GAP_TOL).mean()),
            "dlmp_err_max_usd_per_mwh": g["dlmp_err_usd_per_mwh"].max(),
            "lp_ms_mean": g["lp_ms"].mean(),
            "end_to_end_ms_mean": g["end_to_end_ms"].mean(),
            "violations": g["voltage_violation_pu"].apply(lambda s: int((s > 1e-6).sum()))
            + g["flow_violation_mw"].apply(lambda s: int((s > 1e-6).sum())),
        }
    )
