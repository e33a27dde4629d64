"""The interface every learned reduction shares, and the report it attaches to its Result.

A reduction is ``Reduction(config).fit(dataset)`` then ``.solve(case, **options)``; ``save`` /
``load`` go through :mod:`dispatchlab.learning.checkpoint` (no pickle). ``solve`` always returns
the *full* problem's optimum: the learned part only decides where the exact solver starts or
what it may leave out, and a certificate (PTDF/LODF check, reduced-cost signs, …) decides whether
that was right; when it was not, the reduction repairs (adds back, un-fixes) and re-solves.
The report below is stored in ``result.info["reduction"]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self


@dataclass
class ReductionReport:
    """How a reduced solve went: what was predicted, missed and repaired, and the time per stage."""

    method: str
    predicted: int = 0  #: constraints kept / variables fixed / basis entries predicted
    missed: int = 0  #: predictions the certificate rejected
    added_back: int = 0  #: constraints added or variables un-fixed by the repair
    rounds: int = 0  #: re-solves after the first reduced solve
    fallback: bool = False  #: True when the reduction gave up and solved the full problem
    certified: bool = False  #: the certificate holds for the returned solution
    timings: dict[str, float] = field(default_factory=dict)  #: features/inference/solve/verify s
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Reduction(Protocol):
    """``fit`` / ``solve`` / ``save`` / ``load``, with a ``config`` dataclass."""

    config: Any

    def fit(self, dataset: Any) -> Self: ...

    def solve(self, case: Any, **options: Any) -> Any: ...

    def save(self, path: str | Path) -> Path: ...

    @classmethod
    def load(cls, path: str | Path) -> Self: ...
