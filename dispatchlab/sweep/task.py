"""Tasks of a sweep: small frozen records with a stable id, and the grid that makes them."""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

Scalar = str | int | float | bool | None
TaskFunction = Callable[["Task"], Mapping[str, Scalar]]


@dataclass(frozen=True)
class Task:
    """One unit of work: a case × scenario × method × seed, plus the scenario's parameters.

    ``params`` is a sorted tuple of ``(name, scalar)`` pairs (use :meth:`param` to read one);
    ``task_id`` is a hash of all the fields, so the same task always has the same id whichever
    process, machine or run makes it.
    """

    case: str
    scenario: str
    method: str
    seed: int
    params: tuple[tuple[str, Scalar], ...] = ()
    task_id: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        params = tuple(sorted((str(k), v) for k, v in dict(self.params).items()))
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "task_id", _task_hash(self))

    def param(self, name: str, default: Scalar = None) -> Scalar:
        """The value of one scenario parameter (``default`` when absent)."""
        return dict(self.params).get(name, default)

    def params_json(self) -> str:
        """The parameters as a compact, sorted JSON object (how they are stored)."""
        return json.dumps(dict(self.params), sort_keys=True, separators=(",", ":"))

    def columns(self) -> dict[str, Scalar]:
        """The task's fields as the leading columns of its result row."""
        return {
            "task_id": self.task_id,
            "case": self.case,
            "scenario": self.scenario,
            "method": self.method,
            "seed": self.seed,
            "params": self.params_json(),
        }


def _task_hash(task: Task) -> str:
    payload = json.dumps(
        [task.case, task.scenario, task.method, task.seed, [list(p) for p in task.params]],
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def make_grid(
    cases: Sequence[str],
    scenarios: int | Mapping[str, Mapping[str, Scalar]] | Sequence[Mapping[str, Scalar]],
    methods: Sequence[str] = ("dcopf",),
    seeds: Iterable[int] = (0,),
    common: Mapping[str, Scalar] | None = None,
) -> list[Task]:
    """The full grid ``cases × scenarios × methods × seeds`` in a fixed order.

    ``scenarios`` is a count (ids ``s00000``…, each with parameter ``index``), a sequence of
    parameter dicts (ids by position) or a mapping ``id -> params``. ``common`` parameters are
    added to every scenario (a scenario's own value wins).
    """
    named = _named_scenarios(scenarios)
    extra = dict(common or {})
    seeds = list(seeds)
    for what, values in (("case", cases), ("scenario", named), ("method", methods),
                         ("seed", seeds)):  # fmt: skip
        if not len(values):
            raise ValueError(f"make_grid: no {what} given; the grid would be empty")
    return [
        Task(case, sid, method, seed, tuple({**extra, **params}.items()))
        for case in cases
        for sid, params in named.items()
        for method in methods
        for seed in seeds
    ]


def _named_scenarios(
    scenarios: int | Mapping[str, Mapping[str, Scalar]] | Sequence[Mapping[str, Scalar]],
) -> dict[str, dict[str, Scalar]]:
    if isinstance(scenarios, int):
        if isinstance(scenarios, bool) or scenarios < 1:
            raise ValueError(f"the number of scenarios must be ≥ 1, got {scenarios!r}")
        width = max(5, len(str(scenarios - 1)))
        return {f"s{i:0{width}d}": {"index": i} for i in range(scenarios)}
    if isinstance(scenarios, Mapping):
        return {str(k): dict(v) for k, v in scenarios.items()}
    width = max(5, len(str(len(scenarios) - 1)))
    return {f"s{i:0{width}d}": dict(p) for i, p in enumerate(scenarios)}


@cache
def resolve_function(name: str) -> TaskFunction:
    """Import ``module:function`` (or ``module.function``) and return the function."""
    module_name, sep, attr = name.partition(":")
    if not sep:
        module_name, _, attr = name.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"task function must be 'module:function', got {name!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{name!r} is not callable")
    return obj
