"""The interface every learned reduction shares, and the report it attaches to its Result.

A reduction is ``Reduction(config).fit(dataset)`` then ``.solve(case, **options)``; ``save`` /
``load`` go through :mod:`dispatchlab.learning.checkpoint` (no pickle). ``solve`` always returns
the *full* problem's optimum: the learned part only decides where the exact solver starts or
what it may leave out, and a certificate (PTDF/LODF check, reduced-cost signs, …) decides whether
that was right; when it was not, the reduction repairs (adds back, un-fixes) and re-solves.
The report below is stored in ``result.info["reduction"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

from dispatchlab.learning.checkpoint import config_from, load_checkpoint, save_checkpoint
from dispatchlab.solvers.certificate import ReductionReport  # noqa: F401 (re-exported)


class Reduction(Protocol):
    """``fit`` / ``solve`` / ``save`` / ``load``, with a ``config`` dataclass."""

    config: Any

    def fit(self, dataset: Any) -> Self: ...

    def solve(self, case: Any, **options: Any) -> Any: ...

    def save(self, path: str | Path) -> Path: ...

    @classmethod
    def load(cls, path: str | Path) -> Self: ...


class EDReductionBase:
    """What the ED reductions (variable pruning, warm start) share: ``solve`` / ``evaluate``
    through a persistent model from ``attach(case)``, and checkpoints of ``arrays`` + ``meta``.
    Subclasses set :attr:`METHOD` and :attr:`Config` and implement ``attach``."""

    METHOD: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, config: Any = None) -> None:
        self.config = config or self.Config()
        self.arrays: dict[str, Any] = {}
        self.meta: dict = {}

    def attach(self, case: Any) -> Any:
        raise NotImplementedError

    def solve(self, case: Any, *, tables: bool = True) -> Any:
        """The full problem's optimum for ``case`` (its loads and DER availability)."""
        return self.attach(case).solve(tables=tables)

    def evaluate(self, dataset: Any) -> Any:
        """Every point of an ED data set (same case) solved with this reduction, beside its
        exact objective: ``rel_gap``, certificate and report counts, time (``reduce evaluate``)."""
        import pandas as pd

        from dispatchlab.learning.reduce.datasets_ed import (
            dataset_provenance,
            evaluate_points,
            resolve_case,
        )

        frame = dataset if isinstance(dataset, pd.DataFrame) else pd.read_parquet(dataset)
        case = resolve_case(dataset_provenance(frame)["case_name"])
        return evaluate_points(self.attach(case), frame)

    def save(self, path: str | Path) -> Path:
        self._require_fit()
        return save_checkpoint(path, self.METHOD, self.config, self.arrays, meta=self.meta)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        header, arrays = load_checkpoint(path, cls.METHOD)
        out = cls(config_from(cls.Config, header))
        out.arrays, out.meta = arrays, dict(header["meta"])
        out._loaded()
        return out

    def _loaded(self) -> None:
        """Rebuild what is derived from ``arrays`` after :meth:`load` (nothing by default)."""

    def _require_fit(self) -> None:
        if not self.arrays:
            raise RuntimeError(
                f"{type(self).__name__} is not fitted: call fit(dataset) or load(path)"
            )
