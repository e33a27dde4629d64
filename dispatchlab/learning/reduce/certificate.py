"""The reduced-cost certificate behind variable pruning (docs/reduce.md): the LP as arrays,
a solve with some columns fixed at a bound, the certificate and the repair loop.

The certificate itself is exact LP math and lives in :mod:`dispatchlab.solvers.certificate`
(the ``drl_lp`` problem uses it, and ``solvers/`` may not import ``learning/``); it is
re-exported here with the pruning hyperparameters, so any fixing — a learned prediction, a
hand-made one, a seed003 DER subset — can be certified without the predictor.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from dispatchlab.solvers.certificate import (  # noqa: F401 (re-exported)
    Candidates,
    Certificate,
    LPArrays,
    ReductionReport,
    RepairOptions,
    certify,
    reduced_highs,
    solve_fixed,
)
from dispatchlab.solvers.certificate import repair_solve as _repair_solve
from dispatchlab.solvers.status import Solution

METHOD = "variable_pruning"


@dataclass(frozen=True)
class PruningConfig:
    """Hyperparameters of :class:`VariablePruning`."""

    blocks: tuple[str, ...] = ("der_p_mw", "load_shed_mw")  #: variable blocks that may be fixed
    n_neighbors: int = 5  #: stored points whose duals form the band of a prediction
    holdout_fraction: float = 0.25  #: share of the data set held out to calibrate the margin
    margin_quantile: float = 0.95  #: quantile of held-out band misses covered by the margin
    margin_scale: float = 1.5  #: safety factor on that quantile
    min_margin: float = 0.01  #: smallest margin, $/MWh (reduced-cost units)
    repair: str = "all"  #: un-fix "all" failing columns per round, or the "worst" one
    max_rounds: int = 5  #: repair rounds before falling back to the full LP
    tol: float = 1e-7  #: certificate tolerance on reduced costs, relative to max(1, |c|∞)
    reduced_presolve: str = "off"  #: HiGHS presolve for the (small) reduced LP
    seed: int = 0  #: seeds the hold-out split

    def __post_init__(self) -> None:
        if self.repair not in ("all", "worst"):
            raise ValueError(f"repair must be 'all' or 'worst', got {self.repair!r}")
        if self.n_neighbors < 1 or self.max_rounds < 0:
            raise ValueError("n_neighbors must be ≥ 1 and max_rounds ≥ 0")
        if not 0.0 < self.holdout_fraction < 1.0 or not 0.0 < self.margin_quantile <= 1.0:
            raise ValueError("holdout_fraction must be in (0, 1) and margin_quantile in (0, 1]")


def repair_solve(
    lp: LPArrays,
    fixed: np.ndarray,
    at_upper: np.ndarray,
    config: PruningConfig,
    h: highspy.Highs,
    basis: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Solution, ReductionReport]:
    """:func:`dispatchlab.solvers.certificate.repair_solve` with the report named
    ``variable_pruning``."""
    return _repair_solve(lp, fixed, at_upper, config, h, basis, method=METHOD)
