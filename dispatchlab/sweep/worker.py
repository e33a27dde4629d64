"""What runs inside a worker (a local process or a Ray task): one task, bounded, to one row."""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

from dispatchlab.sweep.task import Scalar, Task, resolve_function

try:  # POSIX only: without it memory bounds are not enforced (time bounds still are)
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

#: Columns the runner writes in every row (a task's own outputs never overwrite them).
RUNNER_COLUMNS = (
    "task_id", "case", "scenario", "method", "seed", "params",
    "task_status", "error", "traceback", "elapsed_s", "attempts",
)  # fmt: skip
#: ``task_status`` values.
STATUSES = ("ok", "error", "timeout", "memory", "crashed")


def _address_space_bytes() -> int:
    """The process's current virtual size (what RLIMIT_AS counts)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def memory_limit(memory_mb: float | None) -> Iterator[None]:
    """Cap the address space at the current size + ``memory_mb`` MiB while the block runs.

    Only the soft ``RLIMIT_AS`` is changed and it is restored afterwards, so a long-lived
    worker (a pool process, a Ray worker) keeps working after a task hit the bound. An
    allocation past the bound raises ``MemoryError`` in Python code (or kills the process when
    it happens in C++ code; the parent then records the task as crashed).
    """
    if not memory_mb or resource is None or not os.path.exists("/proc/self/statm"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space_bytes() + int(memory_mb * 2**20)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _scalar(value: Any) -> Scalar:
    """A Parquet-friendly scalar: numpy scalars unwrapped, anything else as its str."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        with contextlib.suppress(Exception):
            value = item()
            if isinstance(value, str | bool | int | float):
                return value
    return str(value)


def make_row(
    task: Task,
    status: str,
    *,
    elapsed_s: float,
    attempts: int = 1,
    error: str | None = None,
    tb: str | None = None,
    outputs: Mapping[str, Any] | None = None,
) -> dict[str, Scalar]:
    """One result row: the task's columns, the runner's columns, then the task's outputs.

    An output named like a runner column is stored as ``result_<name>``.
    """
    row: dict[str, Scalar] = {
        **task.columns(),
        "task_status": status,
        "error": error,
        "traceback": tb,
        "elapsed_s": float(elapsed_s),
        "attempts": int(attempts),
    }
    for key, value in (outputs or {}).items():
        name = f"result_{key}" if key in RUNNER_COLUMNS else str(key)
        row[name] = _scalar(value)
    return row


def execute_task(
    function: str, task: Task, memory_mb: float | None = None, attempts: int = 1
) -> dict[str, Scalar]:
    """Run ``function(task)`` under the memory bound and turn whatever happens into a row.

    Never raises for a task's own failure: an exception is recorded as ``error`` with its
    traceback, ``MemoryError`` as ``memory``. A result that is not a mapping is an error.
    """
    start = time.perf_counter()
    try:
        fn = resolve_function(function)
        with memory_limit(memory_mb):
            outputs = fn(task)
        if outputs is None:
            outputs = {}
        if not isinstance(outputs, Mapping):
            raise TypeError(f"task function returned {type(outputs).__name__}, not a dict")
        status, error, tb = "ok", None, None
    except MemoryError:
        outputs, status = None, "memory"
        error = f"MemoryError: more than {memory_mb} MiB of address space requested"
        tb = traceback.format_exc()
    except Exception as exc:
        outputs, status = None, "error"
        error, tb = f"{type(exc).__name__}: {exc}", traceback.format_exc()
    elapsed = time.perf_counter() - start
    return make_row(
        task, status, elapsed_s=elapsed, attempts=attempts, error=error, tb=tb, outputs=outputs
    )
