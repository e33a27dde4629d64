"""Learned warm start: start HiGHS from the optimal basis of the nearest stored operating point.

``WarmStart.fit(dataset)`` stores the optimal simplex basis (column and row statuses) of every
solved operating point with its features; ``solve(case)`` finds the nearest stored point
(sklearn ``NearestNeighbors``, Euclidean on standardised features), hands its basis to HiGHS
(``setBasis``) and runs the simplex from there. Loads and DER availability only move right-hand
sides and bounds, so a basis that was optimal elsewhere stays *dual* feasible and the dual
simplex starts in phase 2 — the closer the point, the fewer pivots. The answer is HiGHS's
optimum whatever the prediction: a poor basis costs iterations, never optimality.

Two honest baselines (``benchmarks/bench_reduce_warmstart.py``): HiGHS's default cold start
(``clearSolver`` — presolve and simplex from scratch) and, in a rolling dispatch, the previous
interval's basis (what :class:`~dispatchlab.solvers.persistent.DispatchModel` does anyway).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
from sklearn.neighbors import NearestNeighbors

from dispatchlab.learning.reduce.base import EDReductionBase, ReductionReport
from dispatchlab.learning.reduce.datasets_ed import (
    dataset_provenance,
    kind_codes,
    point_features,
    stacked,
)
from dispatchlab.solvers.persistent import DispatchModel
from dispatchlab.solvers.problems.extract import build_result_tables
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Solution, Status

METHOD = "warm_start"
_STATUS = [
    highspy.HighsBasisStatus(i) for i in range(5)
]  # kLower, kBasic, kUpper, kZero, kNonbasic


@dataclass(frozen=True)
class WarmStartConfig:
    """Hyperparameters of :class:`WarmStart`."""

    standardize: bool = True  #: scale every feature to unit variance before the distance
    fallback_cold: bool = True  #: if HiGHS rejects the basis, solve from its default start
    seed: int = 0  #: unused by the (deterministic) nearest-neighbour search; kept for the CLI


class WarmStart(EDReductionBase):
    """``WarmStart(config).fit(dataset)``; ``solve(case)`` or ``attach(case)`` for loops.

    ``dataset``: a DataFrame from :func:`~dispatchlab.learning.reduce.datasets_ed.build_dataset`
    (features and optimal bases of one case and problem). Exact counterpart: the same HiGHS
    solve from its default start, and from the previous interval's basis.
    """

    METHOD = METHOD
    Config = WarmStartConfig

    def __init__(self, config: WarmStartConfig | None = None) -> None:
        super().__init__(config)
        self._nn: NearestNeighbors | None = None
        self._bases: dict[int, highspy.HighsBasis] = {}

    @classmethod
    def default(cls) -> WarmStart:
        return cls(WarmStartConfig())

    def fit(self, dataset) -> WarmStart:
        """Store standardised features and the optimal basis of every point."""
        prov = dataset_provenance(dataset)
        feats = stacked(dataset, "features")
        cols = stacked(dataset, "col_status", np.int8)
        rows = stacked(dataset, "row_status", np.int8)
        if cols.min() < 0 or cols.max() > 4 or rows.min() < 0 or rows.max() > 4:
            raise ValueError("col_status / row_status must hold HighsBasisStatus values 0 … 4")
        mu = feats.mean(axis=0) if self.config.standardize else np.zeros(feats.shape[1])
        sd = feats.std(axis=0) if self.config.standardize else np.ones(feats.shape[1])
        sd[sd == 0] = 1.0
        self.arrays = {"z": (feats - mu) / sd, "mu": mu, "sd": sd, "cols": cols, "rows": rows}
        self.meta = {**prov, "n_cols": int(cols.shape[1]), "n_rows": int(rows.shape[1])}
        self._bases = {}
        self._nn = NearestNeighbors(n_neighbors=1).fit(self.arrays["z"])
        return self

    def nearest(self, features: np.ndarray) -> tuple[int, float]:
        """Index of the stored point nearest to ``features`` and its distance."""
        self._require_fit()
        z = (np.asarray(features, float) - self.arrays["mu"]) / self.arrays["sd"]
        dist, idx = self._nn.kneighbors(z[None, :])
        return int(idx[0, 0]), float(dist[0, 0])

    def basis(self, i: int) -> highspy.HighsBasis:
        """Stored basis ``i`` as a HighsBasis (built once: the enum list costs ~1 µs/entry)."""
        if i not in self._bases:
            b = highspy.HighsBasis()
            b.col_status = [_STATUS[v] for v in self.arrays["cols"][i].tolist()]
            b.row_status = [_STATUS[v] for v in self.arrays["rows"][i].tolist()]
            b.valid = True
            self._bases[i] = b
        return self._bases[i]

    def attach(self, case) -> WarmStartedDispatch:
        """A persistent model of ``case`` that starts every solve from the predicted basis."""
        return WarmStartedDispatch(self, case)

    def _loaded(self) -> None:
        self._nn = NearestNeighbors(n_neighbors=1).fit(self.arrays["z"])  # exact: same answers


class WarmStartedDispatch:
    """A DispatchModel whose every solve starts from the nearest stored basis."""

    def __init__(self, warm: WarmStart, case) -> None:
        warm._require_fit()
        meta = warm.meta
        self.warm = warm
        self.dm = DispatchModel(case, meta["problem"], formulation=meta["formulation"])
        shape = (self.dm.model.n_cols, self.dm.model.n_rows)
        if shape != (meta["n_cols"], meta["n_rows"]):
            raise ValueError(
                f"case '{case.name}' gives an LP of {shape[0]} columns × {shape[1]} rows; the "
                f"bases were stored for '{meta['case_name']}' ({meta['n_cols']} × "
                f"{meta['n_rows']})"
            )
        self.codes = kind_codes(self.dm.data)

    def set_loads(self, p_mw, period: int | None = None) -> None:
        self.dm.set_loads(p_mw, period)

    def set_der_available(self, p_max, period: int | None = None) -> None:
        self.dm.set_der_available(p_max, period)

    def solve_raw(self) -> tuple[Solution, ReductionReport]:
        """Features → nearest basis → ``setBasis`` → HiGHS run; the raw Solution and report."""
        t0 = time.perf_counter()
        feats = point_features(self.dm.data, self.codes)
        t1 = time.perf_counter()
        i, dist = self.warm.nearest(feats)
        t2 = time.perf_counter()
        h = self.dm.highs.h
        accepted = h.setBasis(self.warm.basis(i)) == highspy.HighsStatus.kOk
        if not accepted and self.warm.config.fallback_cold:
            h.clearSolver()
        t3 = time.perf_counter()
        sol = self.dm.solve_raw()
        report = ReductionReport(
            METHOD,
            predicted=int(self.warm.arrays["cols"].shape[1] + self.warm.arrays["rows"].shape[1]),
            fallback=not accepted,
            certified=sol.status is Status.OPTIMAL,
            timings={
                "features": t1 - t0,
                "inference": t2 - t1,
                "set_basis": t3 - t2,
                "solve": sol.solve_s,
                "total": time.perf_counter() - t0,
            },
            extra={"neighbour": i, "distance": dist, "iterations": sol.iterations},
        )
        return sol, report

    def solve(self, *, tables: bool = True) -> Result:
        """:meth:`solve_raw` as a Result (``info["reduction"]``: the report)."""
        sol, report = self.solve_raw()
        dm = self.dm  # DispatchModel.solve would run HiGHS again: build from this solve
        result = Result(sol.status, sol.objective, dm.problem, dm.case_name)
        if tables and sol.status is Status.OPTIMAL:
            parts = build_result_tables(dm.model, sol, dm.data, dm.options, dm.net, dm.rate)
            for key, table in parts.items():
                setattr(result, key, table)
        result.timings = {"solve": sol.solve_s, "total": report.timings["total"]}
        result.info = {
            "backend": "highs",
            "iterations": sol.iterations,
            "reduction": report.as_dict(),
        }
        return result
