"""The distributed backend: the same tasks as Ray tasks, on a local Ray or a Ray cluster.

``address=None`` starts a private local Ray (``num_cpus=workers``) and stops it afterwards;
``"auto"`` or ``"HOST:PORT"`` joins a running cluster (see docs/sweeps.md). If Ray is already
initialised in this process it is used as it is and left running.

Bounds: each task runs :func:`~dispatchlab.sweep.worker.execute_task` (the same code as a local
worker, so rows are identical) under the same memory bound; ``max_retries=retries`` re-runs a
task whose worker died (Ray counts those as system failures; the task's own exceptions are
caught and recorded, never retried); a task past ``timeout_s`` is cancelled with
``ray.cancel(force=True)`` (its worker is killed) and recorded as ``timeout``. At most as many
tasks as the cluster has CPUs are in flight, so a task's clock starts close to when it starts.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any

from dispatchlab.sweep.task import Task
from dispatchlab.sweep.worker import execute_task, make_row


def _ray_execute(function: str, task: Task, memory_mb: float | None) -> dict:
    return execute_task(function, task, memory_mb)


_HINT = "start one (`ray start --head`) or leave --address out for a private local Ray"


def _unreachable(address: str, timeout_s: float = 5.0) -> str | None:
    """Why a ``HOST:PORT`` address takes no TCP connection (None: it does, or the address is
    ``auto`` / ``ray://…``, which Ray resolves itself)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return None
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


class RayBackend:
    """Map a task function over tasks as Ray tasks (``num_cpus=1`` each)."""

    name = "ray"

    def __init__(
        self,
        function: str,
        *,
        address: str | None = None,
        workers: int | None = None,
        timeout_s: float | None = None,
        memory_mb: float | None = None,
        retries: int = 1,
    ):
        self.function = function
        self.address = None if address in (None, "", "local") else address
        self.workers = workers
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.retries = max(0, int(retries))
        reason = _unreachable(self.address) if self.address else None
        if reason:  # now, before a progress bar; ray.init would retry for minutes
            from dispatchlab.sweep.runner import SweepError

            raise SweepError(f"no Ray cluster at {self.address!r} ({reason}): {_HINT}")

    def _init(self, ray: Any) -> bool:
        """Connect (or start a local Ray); True if this backend must shut it down."""
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if self.address is None and self.workers:
            options["num_cpus"] = int(self.workers)
        try:
            ray.init(address=self.address, **options)
        except ConnectionError as exc:  # address="auto" with no cluster on this machine
            from dispatchlab.sweep.runner import SweepError

            raise SweepError(f"no Ray cluster at {self.address!r}: {_HINT}") from exc
        return True

    def run(self, tasks: Sequence[Task]) -> Iterator[dict]:
        """Yield one row per task, in completion order."""
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError("the ray backend needs `pip install 'dispatchlab[ray]'`") from exc
        owned = self._init(ray)
        remote = ray.remote(_ray_execute).options(
            num_cpus=1, max_retries=self.retries, retry_exceptions=False
        )
        capacity = max(1, int(ray.cluster_resources().get("CPU", 1)))
        queue = list(reversed(tasks))
        flying: dict[Any, tuple[Task, float]] = {}
        try:
            while queue or flying:
                while queue and len(flying) < capacity:
                    task = queue.pop()
                    ref = remote.remote(self.function, task, self.memory_mb)
                    flying[ref] = (task, time.perf_counter())
                ready, _ = ray.wait(list(flying), num_returns=1, timeout=self._wait(flying))
                for ref in ready:
                    yield self._row(ray, ref, *flying.pop(ref))
                yield from self._expire(ray, flying)
        finally:
            for ref in flying:
                ray.cancel(ref, force=True)
            if owned:
                ray.shutdown()

    def _wait(self, flying: dict) -> float | None:
        if self.timeout_s is None or not flying:
            return None
        first = min(start for _, start in flying.values()) + self.timeout_s
        return max(0.0, first - time.perf_counter())

    def _row(self, ray: Any, ref: Any, task: Task, start: float) -> dict:
        try:
            return ray.get(ref)
        except Exception as exc:  # the worker died on every attempt, or Ray failed the task
            elapsed = time.perf_counter() - start
            error = f"{type(exc).__name__}: {str(exc)[:2000]}"
            return make_row(
                task, "crashed", elapsed_s=elapsed, attempts=self.retries + 1, error=error
            )

    def _expire(self, ray: Any, flying: dict) -> Iterator[dict]:
        if self.timeout_s is None:
            return
        now = time.perf_counter()
        for ref, (task, start) in list(flying.items()):
            if now - start >= self.timeout_s:
                ray.cancel(ref, force=True)
                del flying[ref]
                error = f"cancelled after {now - start:.1f} s (timeout {self.timeout_s:g} s)"
                yield make_row(task, "timeout", elapsed_s=now - start, error=error)
