"""The default backend: a pool of local worker processes, each task bounded in time and memory.

No server is started. Each worker runs one task at a time; the parent waits on the workers'
pipes and process sentinels with a deadline per task, so it can kill one runaway worker (and
start a fresh one) without touching the others:

* a task past ``timeout_s`` is killed and recorded as ``timeout`` (not retried);
* a task past ``memory_mb`` raises ``MemoryError`` in its worker and is recorded as ``memory``;
* a worker that dies mid-task (segfault, OOM killer, SIGKILL) is restarted and the task run
  again, up to ``retries`` more times, then recorded as ``crashed``.

Workers are forked from a ``forkserver`` that has imported the task function's module once, so
starting (or restarting) one costs milliseconds, not an import of the whole package. A worker
needs only that module, never the caller's ``__main__``: multiprocessing would otherwise re-run
the calling script in each worker (every task "crashed" in a script without an
``if __name__ == "__main__":`` guard, or run from stdin), so ``__main__`` is hidden while a
worker starts, unless the task function itself lives there.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
import types
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from dispatchlab.sweep.task import Task, resolve_function
from dispatchlab.sweep.worker import execute_task, make_row


def _worker_main(conn: Connection, function: str, memory_mb: float | None) -> None:
    """Worker loop: receive ``(task, attempt)``, send back its row; ``None`` stops."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if message is None:
            return
        task, attempt = message
        conn.send(execute_task(function, task, memory_mb, attempt))


@dataclass
class _Slot:
    """One worker process and the tasks sent to it: the head runs, the rest wait in its pipe."""

    process: Any
    conn: Connection
    queue: deque[tuple[Task, int]] = field(default_factory=deque)
    started: float = 0.0  # when the head task started (≈ when the previous one came back)

    @property
    def task(self) -> Task | None:
        return self.queue[0][0] if self.queue else None

    @property
    def attempt(self) -> int:
        return self.queue[0][1]

    def give_back(self, pending: deque) -> None:
        """Put the tasks waiting behind the head back at the front of ``pending``."""
        while len(self.queue) > 1:
            pending.appendleft(self.queue.pop())


def _context(function: str, start_method: str | None) -> Any:
    """A ``forkserver`` context that preloads the function's module and the modules in its
    ``preload`` attribute (``spawn`` where there is no forkserver)."""
    methods = mp.get_all_start_methods()
    method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
    ctx = mp.get_context(method)
    if method == "forkserver":
        module = _module_of(function)
        extra = list(getattr(resolve_function(function), "preload", ()))
        ctx.set_forkserver_preload(["dispatchlab.sweep.worker", module, *extra])
    return ctx


def _module_of(function: str) -> str:
    return function.partition(":")[0] if ":" in function else function.rpartition(".")[0]


def _check_main(function: str) -> bool:
    """True when workers need ``__main__`` (the task function is defined there); refuse the
    cases where they cannot import it: stdin, ``python -c``, a notebook."""
    if _module_of(function) != "__main__":
        return False
    main = getattr(sys.modules["__main__"], "__file__", None)
    if main is None or not Path(main).is_file():
        raise ValueError(
            f"task function {function!r} is defined in __main__ of an interactive session "
            "(stdin, -c or a notebook), which worker processes cannot import: move it to a "
            ".py module on sys.path and name it 'module:function'"
        )
    return True


@contextmanager
def main_hidden(hide: bool = True) -> Iterator[None]:
    """Start processes (``spawn``/``forkserver``) without handing them the caller's ``__main__``
    to re-run: for workers whose code lives in the package (see module doc)."""
    if not hide:
        yield
        return
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")  # no __file__, no __spec__
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class LocalBackend:
    """Map a task function over tasks with ``workers`` local processes."""

    name = "local"

    def __init__(
        self,
        function: str,
        *,
        workers: int = 2,
        timeout_s: float | None = None,
        memory_mb: float | None = None,
        retries: int = 1,
        start_method: str | None = None,
        prefetch: int = 1,
    ):
        self.function = function
        self.workers = max(1, int(workers))
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.retries = max(0, int(retries))
        self.depth = 1 + max(0, int(prefetch))  # tasks in a worker's pipe: no idle round trip
        needs_main = _check_main(function)
        self._ctx = _context(function, start_method)
        self._hide_main = not needs_main and self._ctx.get_start_method() != "fork"

    def _spawn(self) -> _Slot:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_worker_main, args=(child, self.function, self.memory_mb), daemon=True
        )
        with main_hidden(self._hide_main):
            process.start()
        child.close()
        return _Slot(process, parent)

    def _assign(self, slot: _Slot, pending: deque) -> bool:
        """Fill ``slot``'s pipe from ``pending``; False when its worker is gone (the pipe is
        broken: it died on its head task, or between tasks) — the unsent task goes back to
        the front of ``pending``, unspent; the death itself is handled where it is seen."""
        while pending and len(slot.queue) < self.depth:
            task, attempt = pending.popleft()
            if not slot.queue:
                slot.started = time.perf_counter()
            slot.queue.append((task, attempt))
            try:
                slot.conn.send((task, attempt))
            except (BrokenPipeError, ConnectionResetError):
                pending.appendleft(slot.queue.pop())
                return False
        return True

    def _replace(self, slots: list[_Slot], i: int) -> None:
        _stop(slots[i], kill=True)
        slots[i] = self._spawn()

    def _wait_timeout(self, busy: list[_Slot]) -> float | None:
        if self.timeout_s is None or not busy:
            return None
        first = min(s.started for s in busy) + self.timeout_s
        return max(0.0, first - time.perf_counter())

    def run(self, tasks: Sequence[Task]) -> Iterator[dict]:
        """Yield one row per task, in completion order."""
        pending: deque[tuple[Task, int]] = deque((t, 1) for t in tasks)
        slots = [self._spawn() for _ in range(min(self.workers, len(pending)))]
        try:
            while pending or any(s.task is not None for s in slots):
                for i, slot in enumerate(slots):
                    if not self._assign(slot, pending) and slot.task is None:
                        self._replace(slots, i)  # died idle: nothing of its own to report
                        self._assign(slots[i], pending)
                busy = [s for s in slots if s.task is not None]
                handles = [s.conn for s in busy] + [s.process.sentinel for s in busy]
                ready = set(wait(handles, timeout=self._wait_timeout(busy)))
                yield from self._collect(slots, ready, pending)
                yield from self._expire(slots, pending)
        finally:
            for slot in slots:
                _stop(slot, kill=slot.task is not None)

    def _collect(self, slots: list[_Slot], ready: set, pending: deque) -> Iterator[dict]:
        """Rows from workers that answered; retries or ``crashed`` rows for dead ones."""
        for i, slot in enumerate(slots):
            if slot.task is None:
                continue
            if slot.conn in ready:
                yield from self._receive(slot)
                if slot.process.sentinel not in ready or slot.task is None:
                    continue
            elif slot.process.sentinel not in ready:
                continue
            task, attempt = slot.task, slot.attempt
            elapsed = time.perf_counter() - slot.started
            slot.give_back(pending)
            slot.process.join(1.0)
            code = slot.process.exitcode
            self._replace(slots, i)
            if attempt <= self.retries:
                pending.appendleft((task, attempt + 1))
            else:
                error = f"worker died (exit code {code}) on each of {attempt} attempt(s)"
                if code == 1:  # Python failed before the task: an import, a script re-run
                    error += (
                        "; exit code 1 means the worker could not start the task: check that "
                        f"{self.function!r} imports in a fresh Python, and that a script defining "
                        "it runs its sweep under `if __name__ == '__main__':`"
                    )
                yield make_row(task, "crashed", elapsed_s=elapsed, attempts=attempt, error=error)

    def _receive(self, slot: _Slot) -> Iterator[dict]:
        """Every row waiting in a worker's pipe (each one finishes the head task)."""
        try:
            while slot.queue and slot.conn.poll():
                row = slot.conn.recv()
                slot.queue.popleft()
                slot.started = time.perf_counter()
                yield row
        except (EOFError, OSError):
            return  # the worker died: its sentinel says so

    def _expire(self, slots: list[_Slot], pending: deque) -> Iterator[dict]:
        """Kill the workers whose task ran past ``timeout_s``; a ``timeout`` row for each."""
        if self.timeout_s is None:
            return
        now = time.perf_counter()
        for i, slot in enumerate(slots):
            if slot.task is not None and now - slot.started >= self.timeout_s:
                task, attempt, elapsed = slot.task, slot.attempt, now - slot.started
                slot.give_back(pending)
                self._replace(slots, i)
                error = f"killed after {elapsed:.1f} s (timeout {self.timeout_s:g} s)"
                yield make_row(task, "timeout", elapsed_s=elapsed, attempts=attempt, error=error)


def _stop(slot: _Slot, *, kill: bool) -> None:
    """Stop a worker: politely when idle, SIGKILL when it is running a task."""
    try:
        if kill:
            slot.process.kill()
        else:
            slot.conn.send(None)
    except (OSError, ValueError, BrokenPipeError):
        pass
    slot.process.join(2.0)
    if slot.process.is_alive():
        slot.process.kill()
        slot.process.join(1.0)
    slot.conn.close()
    slot.queue.clear()
