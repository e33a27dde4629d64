"""Learned variable pruning with a reduced-cost certificate (issue 7).

Fix the DERs (and sheddable loads) that a predictor says sit at a bound, solve the LP over the
rest, and prove that the reduced optimum is the full one. With the reduced LP's row duals y
(balance price / LMP, line duals) the reduced cost of every fixed column in the FULL LP is

    d_j = c_j + q_j x_j − a_jᵀ y                                   (LP/QP optimality, KKT)

and the reduced solution is optimal for the full problem iff every column fixed at its lower
bound has d_j ≥ −tol and every one at its upper bound d_j ≤ tol (the free columns already
satisfy this, the rows are the full LP's rows, so primal feasibility carries over). Columns
that fail are un-fixed (all, or the worst) and the LP re-solved until the certificate holds —
the same test decides whether a seed003-style DER subset (DRL-LP, eqs. 24–31: the LP over the
selected DERs only) was good enough: every DER left out is a column fixed at 0.

The predictor is a nearest-neighbour band on the duals, not a per-DER classifier: in an LP a
column's status is *exactly* the sign of its reduced cost, and the reduced costs of thousands
of DERs are all driven by a handful of duals (one price per period on a copper plate, the
binding line duals on a network). So we store solved operating points (features → row duals),
take the k nearest points in feature space, and fix a column only when its reduced cost has the
same sign for all k neighbours with a margin calibrated on held-out points. It transfers to
new DER costs (c_j enters directly) and costs one sparse product for 10 000 columns; a per-DER
logistic regression would need 10 000 models and relearn whenever a cost changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Self

import numpy as np
from sklearn.neighbors import KDTree

from dispatchlab.learning.reduce.base import EDReductionBase, ReductionReport
from dispatchlab.learning.reduce.certificate import (  # noqa: F401 (re-exported)
    METHOD,
    Candidates,
    Certificate,
    LPArrays,
    PruningConfig,
    certify,
    reduced_highs,
    repair_solve,
    solve_fixed,
)
from dispatchlab.learning.reduce.datasets_ed import (
    dataset_provenance,
    kind_codes,
    point_features,
    resolve_case,
    stacked,
)
from dispatchlab.learning.seeding import child_rngs
from dispatchlab.solvers.data import DispatchData
from dispatchlab.solvers.persistent import DispatchModel
from dispatchlab.solvers.problems.extract import build_result_tables
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Solution, Status


class VariablePruning(EDReductionBase):
    """Learned variable pruning: ``VariablePruning(config).fit(dataset).solve(case)``.

    ``dataset``: a DataFrame from :func:`~dispatchlab.learning.reduce.datasets_ed.build_dataset`
    (features and row duals of solved operating points of one case). ``solve`` returns the full
    problem's Result with ``info["reduction"]`` (a :class:`ReductionReport`); for loops over
    many operating points use :meth:`attach` (a persistent :class:`PrunedDispatch`).
    Exact counterpart: the persistent full LP (:class:`DispatchModel`).
    """

    METHOD = METHOD
    Config = PruningConfig

    @classmethod
    def default(cls) -> VariablePruning:
        return cls(PruningConfig())

    # ----------------------------------------------------------------------------- fit
    def fit(self, dataset) -> Self:
        """Store features and duals; calibrate the margin on a held-out part (see module doc)."""
        prov = dataset_provenance(dataset)
        case = resolve_case(prov["case_name"])
        if case.case_hash() != prov["case_hash"]:
            raise ValueError(
                f"data set was built on another version of case '{case.name}' (hash differs)"
            )
        feats, duals = stacked(dataset, "features"), stacked(dataset, "row_dual")
        dm = DispatchModel(case, prov["problem"], formulation=prov["formulation"])
        return self.fit_arrays(LPArrays(dm.model), feats, duals, prov)

    def fit_arrays(
        self,
        lp: LPArrays,
        feats: np.ndarray,
        duals: np.ndarray,
        meta: dict | None = None,
        bases: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Self:
        """:meth:`fit` from arrays: ``feats`` (points × features) and the full LP's row duals
        (points × rows of ``lp``) of solved points — for problems whose operating points
        :func:`build_dataset` does not sample (e.g. multi-period network dispatch).
        ``bases``: the points' optimal (column, row) basis statuses; when given, each reduced
        LP starts from the nearest point's basis instead of a cold start."""
        cfg = self.config
        if len(feats) < 2 or len(feats) != len(duals):
            raise ValueError(
                f"need ≥ 2 operating points with one dual row each, got {len(feats)} feature "
                f"rows and {len(duals)} dual rows"
            )
        if duals.shape[1] != lp.a.shape[0]:
            raise ValueError(
                f"row_dual has {duals.shape[1]} entries, the LP has {lp.a.shape[0]} rows"
            )
        cand = lp.columns(cfg.blocks)
        mu, sd = feats.mean(axis=0), feats.std(axis=0)
        sd[sd == 0] = 1.0
        z = (feats - mu) / sd
        rng = child_rngs(cfg.seed, 1)[0]
        order = rng.permutation(len(z))
        n_hold = max(1, round(cfg.holdout_fraction * len(z)))
        hold, train = order[:n_hold], order[n_hold:]
        k = min(cfg.n_neighbors, len(train))
        _, nb = KDTree(z[train]).query(z[hold], k=k)
        miss = np.array(
            [_band_miss(cand, duals[train[i]], duals[j]) for i, j in zip(nb, hold, strict=True)]
        )
        margin = max(
            cfg.min_margin, cfg.margin_scale * float(np.quantile(miss, cfg.margin_quantile))
        )
        self.arrays = {"z": z, "duals": duals, "mu": mu, "sd": sd, "margin": np.array(margin)}
        if bases is not None:
            self.arrays.update(col_status=np.asarray(bases[0]), row_status=np.asarray(bases[1]))
        self.meta = {
            **(meta or {}),
            "n_cols": int(lp.a.shape[1]),
            "holdout_miss_max": float(miss.max()),
        }
        return self

    # --------------------------------------------------------------------------- predict
    def predict_fixing(self, lp: LPArrays, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Columns to fix and whether at their upper bound: a column is fixed when its reduced
        cost at that bound keeps its sign over the k nearest stored duals ± the margin."""
        cols, at_ub, _ = self.predict(lp, features)
        return cols, at_ub

    def predict(
        self, lp: LPArrays, features: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`predict_fixing` plus the stored points it used, nearest first."""
        self._require_fit()
        z = (np.asarray(features, float) - self.arrays["mu"]) / self.arrays["sd"]
        cand = lp.columns(self.config.blocks)
        nearest = self._nearest(z)
        near = self.arrays["duals"][nearest]
        lo, hi = cand.band(near.min(axis=0), near.max(axis=0))
        m, sel = float(self.arrays["margin"]), cand.sel
        lb, ub, c = lp.lb[sel], lp.ub[sel], lp.cost[sel]
        if lp.quadratic:
            c_lb, c_ub = c + lp.q[sel] * lb, c + lp.q[sel] * ub
        else:
            c_lb = c_ub = c
        at_lb = (c_lb - hi > m) & (lb > -np.inf)
        at_ub = (c_ub - lo < -m) & (ub < np.inf) & ~at_lb
        keep = np.flatnonzero(at_lb | at_ub)
        return cand.cols[keep], at_ub[keep], nearest

    def attach(self, case) -> PrunedDispatch:
        """A persistent pruned model of ``case`` (same network as the data set)."""
        return PrunedDispatch(self, case)

    def _nearest(self, z: np.ndarray) -> np.ndarray:
        """The k stored points nearest to one query. Hand-written on purpose: a brute-force
        scan of a few thousand points is ~10 µs, while a single sklearn query spends ~200 µs
        validating its input — more than the reduced LP itself (fit uses sklearn's KDTree)."""
        d = ((self.arrays["z"] - z) ** 2).sum(axis=1)
        k = min(self.config.n_neighbors, len(d))
        near = np.argpartition(d, k - 1)[:k] if k < len(d) else np.arange(len(d))
        return near[np.argsort(d[near])]


def _band_miss(cand: Candidates, neighbour_duals: np.ndarray, duals: np.ndarray) -> float:
    """How far the true a_jᵀy falls outside the neighbours' band, worst candidate column."""
    lo, hi = cand.band(neighbour_duals.min(axis=0), neighbour_duals.max(axis=0))
    true = (cand.a_pos + cand.a_neg) @ duals
    return float(np.max(np.maximum(lo - true, true - hi), initial=0.0))


class PrunedDispatch:
    """A DispatchModel whose full LP lives in :class:`LPArrays`; each :meth:`solve` predicts a
    fixing, solves the reduced LP, certifies it and repairs (see :func:`repair_solve`)."""

    def __init__(
        self,
        pruning: VariablePruning,
        case,
        *,
        model: DispatchModel | None = None,
        features: Callable[[DispatchData], np.ndarray] | None = None,
    ) -> None:
        """``model``: a DispatchModel of ``case`` built by the caller (default: the data set's
        problem and formulation); ``features``: the operating point's features from the
        model's data (default: :func:`point_features`, single-period)."""
        pruning._require_fit()
        meta = pruning.meta
        self.pruning = pruning
        self.dm = model or DispatchModel(case, meta["problem"], formulation=meta["formulation"])
        self.lp = LPArrays(self.dm.model)
        if self.lp.a.shape[1] != meta["n_cols"]:
            raise ValueError(
                f"case '{case.name}' gives {self.lp.a.shape[1]} columns; the model was fitted "
                f"on '{meta.get('case_name', '?')}' with {meta['n_cols']}"
            )
        self.dm.highs = self.lp  # DispatchModel's updates now land in the arrays
        self.h = reduced_highs(pruning.config)
        self.codes = kind_codes(self.dm.data)
        self.features = features or partial(point_features, codes=self.codes)

    def set_loads(self, p_mw, period: int | None = None) -> None:
        self.dm.set_loads(p_mw, period)

    def set_der_available(self, p_max, period: int | None = None) -> None:
        self.dm.set_der_available(p_max, period)

    def solve_raw(self, fixing: tuple | None = None) -> tuple[Solution, ReductionReport]:
        """Predict (or take ``fixing`` = (columns, at_upper)), solve, certify, repair: the
        full-size Solution and the report, without Result tables (timing loops)."""
        t0 = time.perf_counter()
        feats = self.features(self.dm.data)
        t1 = time.perf_counter()
        basis = None
        if fixing is None:
            *fixing, nearest = self.pruning.predict(self.lp, feats)
            arrays = self.pruning.arrays
            if "col_status" in arrays:
                basis = (arrays["col_status"][nearest[0]], arrays["row_status"][nearest[0]])
        t2 = time.perf_counter()
        sol, report = repair_solve(self.lp, *fixing, self.pruning.config, self.h, basis)
        report.timings.update(features=t1 - t0, inference=t2 - t1)
        report.timings["total"] = time.perf_counter() - t0
        return sol, report

    def solve(self, *, tables: bool = True, fixing: tuple | None = None) -> Result:
        """:meth:`solve_raw` wrapped in a Result (``info["reduction"]``: the report)."""
        sol, report = self.solve_raw(fixing)
        dm = self.dm
        result = Result(sol.status, sol.objective, dm.problem, dm.case_name)
        if tables and sol.status is Status.OPTIMAL:
            parts = build_result_tables(dm.model, sol, dm.data, dm.options, dm.net, dm.rate)
            for key, table in parts.items():
                setattr(result, key, table)
        result.timings = {"solve": report.timings["solve"], "total": report.timings["total"]}
        result.info = {
            "backend": "highs",
            "reduction": report.as_dict(),
            "iterations": report.extra.get("iterations", 0),
        }
        return result
