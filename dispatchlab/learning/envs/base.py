"""What every dispatch environment shares: the oracle's answer and the violation report.

Contract (docs/environments.md):

- ``reset(seed=…, options=…)`` / ``step(action)``: gymnasium's 5-tuple, or PettingZoo's
  parallel dicts plus a global ``state()``.
- ``info`` (per agent for PettingZoo; the same dict object may be shared by all agents) holds
  ``"violations"``: ``{constraint name: magnitude ≥ 0 in its own unit}``, one entry per
  constraint family, zero when satisfied, and ``"metrics"``: the paper's metrics for the step.
- ``oracle()`` solves the exact counterpart for the *current* state (nothing is mutated) and
  returns an :class:`Oracle` whose ``action`` can be fed straight back into ``step``.
- The environment never mutates its Case; time series are read through ``case.at(t)`` or arrays.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dispatchlab.solvers.result import Result


@dataclass
class Oracle:
    """The exact optimum for the environment's current state.

    ``action`` is in the environment's own action format (an array for gymnasium, a dict of
    agent → action for PettingZoo) so that ``env.step(oracle.action)`` plays it;
    ``objective`` is the exact problem's objective in the unit ``unit`` names; ``result`` is the
    solver's full :class:`~dispatchlab.solvers.result.Result`.
    """

    action: Any
    objective: float
    unit: str
    result: Result | None = None
    info: dict = field(default_factory=dict)


def violation_total(violations: Mapping[str, float]) -> float:
    """The sum of all violation magnitudes (0.0 means feasible)."""
    return float(sum(violations.values()))


def positive_part(x: np.ndarray | float) -> float:
    """Σ max(x, 0): the magnitude by which ``x ≤ 0`` is violated."""
    return float(np.maximum(np.asarray(x, dtype=float), 0.0).sum())


def require_finite(name: str, values: np.ndarray) -> np.ndarray:
    """Reject NaN/inf actions with an error naming the agent or element."""
    arr = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"action for '{name}' has a non-finite entry: {arr}")
    return arr


def check_reset_options(
    env: str, options: Mapping[str, Any] | None, known: tuple[str, ...]
) -> None:
    """Warn about reset option keys ``env`` does not know (a misspelt ``"day"`` would otherwise
    play a drawn day unnoticed), naming the keys it takes. A warning, not an error: PettingZoo's
    API contract (``parallel_api_test``) resets with arbitrary option keys."""
    unknown = sorted(set(options or {}) - set(known))
    if unknown:
        warnings.warn(
            f"reset options {unknown} ignored; {env} takes {', '.join(known)}", stacklevel=3
        )
