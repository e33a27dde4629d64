"""Solver status and the raw solution every backend returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Status(StrEnum):
    """Outcome of a solve."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "time_limit"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass
class Solution:
    """Primal values, duals and solver facts of one solve of a LinearModel.

    Duals follow the convention d(objective)/d(right-hand side): the dual of a balance row
    ``Σ injections = demand`` is the marginal cost of demand (the LMP, $/MWh on MW rows).
    """

    status: Status
    objective: float
    x: np.ndarray
    row_dual: np.ndarray
    col_dual: np.ndarray
    row_activity: np.ndarray
    iterations: int = 0
    solve_s: float = 0.0
    message: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def failed(
        cls, status: Status, n_cols: int, n_rows: int, iterations: int, solve_s: float, message: str
    ) -> Solution:
        """A Solution without values (NaN everywhere) for a solve that did not reach optimality."""
        cols, rows = np.full(n_cols, np.nan), np.full(n_rows, np.nan)
        return cls(
            status, np.nan, cols, rows, cols.copy(), rows.copy(), iterations, solve_s, message
        )
