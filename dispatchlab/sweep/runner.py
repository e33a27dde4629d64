"""``run_sweep``: map a task function over tasks on a backend, store rows, resume, summarise."""

from __future__ import annotations

import os
import platform
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dispatchlab.sweep.store import ResultStore, git_revision
from dispatchlab.sweep.task import Task, resolve_function
from dispatchlab.sweep.worker import STATUSES

BACKENDS = ("local", "ray")
FIRST_ERRORS = 3  #: failed tasks whose error a report keeps (the CLI prints them)


class SweepError(RuntimeError):
    """A sweep could not start: its output directory is not writable, no Ray cluster …"""


@dataclass
class SweepReport:
    """What one call of :func:`run_sweep` did."""

    out_dir: str
    backend: str
    workers: int | None
    n_tasks: int
    n_skipped: int
    n_run: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    task_s: dict[str, float] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every task run this time finished with ``task_status == "ok"``."""
        return self.counts.get("ok", 0) == self.n_run

    def rows(self) -> list[tuple[str, str]]:
        """The summary as ``(field, value)`` pairs (what the CLI prints as a table)."""
        out = [
            ("output", self.out_dir),
            ("backend", f"{self.backend} ({self.workers or 'all'} workers)"),
            ("tasks in grid", str(self.n_tasks)),
            ("skipped (already done)", str(self.n_skipped)),
            ("run now", str(self.n_run)),
        ]
        out += [(f"  {s}", str(self.counts[s])) for s in STATUSES if self.counts.get(s)]
        out.append(("wall time", f"{self.wall_s:.2f} s"))
        if self.n_run:
            out.append(("throughput", f"{self.n_run / max(self.wall_s, 1e-9):.1f} tasks/s"))
        out += [(f"task time {k}", f"{1e3 * v:.1f} ms") for k, v in self.task_s.items()]
        return out

    def __str__(self) -> str:
        width = max(len(k) for k, _ in self.rows())
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.rows())

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON summary (stored in the manifest)."""
        keys = ("backend", "workers", "n_tasks", "n_skipped", "n_run", "counts", "wall_s")
        return {k: getattr(self, k) for k in keys} | {"task_s": self.task_s}


def check_bounds(
    workers: int | None,
    timeout_s: float | None,
    memory_mb: float | None,
    retries: int,
    flush_every: int,
) -> None:
    """Refuse bounds that would run silently wrong: ``timeout_s=-1`` killed every task at once,
    ``memory_mb=-5`` made every worker die (exit 127), ``workers=0``/``retries=-1``/
    ``flush_every=0`` were taken as something else without a word."""
    wrong = []
    for name, value, least in (("workers", workers, 1), ("flush_every", flush_every, 1)):
        if value is not None and (isinstance(value, bool) or int(value) != value or value < least):
            wrong.append(f"{name} must be a whole number ≥ {least}, got {value!r}")
    if isinstance(retries, bool) or int(retries) != retries or retries < 0:
        wrong.append(f"retries must be a whole number ≥ 0, got {retries!r}")
    for name, value in (("timeout_s", timeout_s), ("memory_mb", memory_mb)):
        if value is not None and not value > 0:  # NaN fails too
            wrong.append(f"{name} must be > 0 (or None: no limit), got {value!r}")
    if wrong:
        raise ValueError("; ".join(wrong))


def make_backend(
    backend: str,
    function: str,
    *,
    workers: int | None = None,
    address: str | None = None,
    timeout_s: float | None = None,
    memory_mb: float | None = None,
    retries: int = 1,
) -> Any:
    """The backend object for ``"local"`` or ``"ray"`` (both have ``run(tasks) -> rows``)."""
    bounds = {"timeout_s": timeout_s, "memory_mb": memory_mb, "retries": retries}
    if backend == "local":
        from dispatchlab.sweep.local import LocalBackend

        return LocalBackend(function, workers=workers or os.cpu_count() or 1, **bounds)
    if backend == "ray":
        from dispatchlab.sweep.ray_backend import RayBackend

        return RayBackend(function, address=address, workers=workers, **bounds)
    raise ValueError(f"unknown backend {backend!r}: choose one of {BACKENDS}")


def case_hashes(names: Iterable[str]) -> dict[str, str | None]:
    """``case_hash()`` of each library case (None for names ``load_case`` does not know)."""
    from dispatchlab.cases.library import load_case

    out: dict[str, str | None] = {}
    for name in sorted(set(names)):
        try:
            out[name] = load_case(name).case_hash()
        except Exception:
            out[name] = None
    return out


def _provenance(tasks: Sequence[Task]) -> dict[str, Any]:
    from dispatchlab import __version__

    return {
        "dispatchlab_version": __version__,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "host": platform.node(),
        "case_hashes": case_hashes(t.case for t in tasks),
        "seeds": sorted({t.seed for t in tasks}),
    }


def _task_config(function: str, tasks: Sequence[Task], config: Mapping | None) -> dict:
    return {
        "function": function,
        "n_tasks": len(tasks),
        "cases": sorted({t.case for t in tasks}),
        "methods": sorted({t.method for t in tasks}),
        "n_scenarios": len({t.scenario for t in tasks}),
        **dict(config or {}),
    }


def run_sweep(
    function: str,
    tasks: Sequence[Task],
    out_dir: str | os.PathLike,
    *,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    timeout_s: float | None = None,
    memory_mb: float | None = None,
    retries: int = 1,
    retry_failed: bool = False,
    flush_every: int = 200,
    flush_seconds: float = 10.0,
    progress: bool = True,
    config: Mapping[str, Any] | None = None,
) -> SweepReport:
    """Run ``function`` (a ``"module:function"`` name) on every task not yet in ``out_dir``.

    Rows are flushed to a new Parquet partition every ``flush_every`` rows or
    ``flush_seconds`` seconds (and on exit, Ctrl-C included); a later call with the same tasks
    skips those already stored (``retry_failed``: all but the ``ok`` ones). ``timeout_s``,
    ``memory_mb`` and ``retries`` bound each task (see the backends). ``config`` is recorded in
    the manifest beside the package version, git revision, case hashes and seeds. Input is
    checked before anything starts (:func:`check_tasks`: ``ValueError``); an unwritable
    ``out_dir`` or a Ray address with no cluster raise :class:`SweepError`.
    """
    check_tasks(function, tasks)  # fail fast, in the parent, on a bad name
    check_bounds(workers, timeout_s, memory_mb, retries, flush_every)
    runner = make_backend(
        backend, function, workers=workers, address=address,
        timeout_s=timeout_s, memory_mb=memory_mb, retries=retries,
    )  # fmt: skip
    store = _open_store(out_dir)
    meta = {"backend": backend, "workers": workers, "address": address}
    meta |= {"timeout_s": timeout_s, "memory_mb": memory_mb, "retries": retries}
    store.start_run(_task_config(function, tasks, config), {**_provenance(tasks), **meta})
    done = store.finished_ids(only_ok=retry_failed)
    todo = [t for t in tasks if t.task_id not in done]
    report = SweepReport(str(store.path), backend, workers, len(tasks), len(tasks) - len(todo))
    start = time.perf_counter()
    if todo:
        report.workers = getattr(runner, "workers", workers)
        _drain(runner.run(todo), store, report, flush_every, flush_seconds, progress)
    report.wall_s = time.perf_counter() - start
    store.finish_run(report.as_dict())
    return report


def check_tasks(function: str, tasks: Sequence[Task]) -> None:
    """Refuse, before anything starts, a task function that does not import, an empty grid,
    and what the function's own ``check(tasks)`` refuses (unknown cases or problems for the
    built-in solve tasks), with the names."""
    fn = resolve_function(function)
    if not len(tasks):
        raise ValueError("no tasks: the grid is empty (no case, scenario, method or seed)")
    check = getattr(fn, "check", None)
    if check is not None:
        check(tasks)


def _open_store(out_dir: str | os.PathLike) -> ResultStore:
    try:
        return ResultStore(out_dir)
    except OSError as exc:
        raise SweepError(
            f"cannot write the sweep output to {out_dir}: {exc.strerror or exc}; choose a "
            "directory you can write (--out)"
        ) from exc


def _drain(
    rows: Iterable[dict],
    store: ResultStore,
    report: SweepReport,
    flush_every: int,
    flush_seconds: float,
    progress: bool,
) -> None:
    """Consume rows as they come: count them, show progress, flush partitions."""
    counts: Counter[str] = Counter()
    elapsed: list[float] = []
    buffer: list[dict] = []
    last = time.perf_counter()
    total, initial = report.n_tasks, report.n_skipped
    bar = tqdm(total=total, initial=initial, unit="task", disable=not progress, smoothing=0.05)
    try:
        for row in rows:
            buffer.append(row)
            counts[row["task_status"]] += 1
            if row["task_status"] != "ok" and len(report.first_errors) < FIRST_ERRORS:
                report.first_errors.append(_describe(row))
            elapsed.append(row["elapsed_s"])
            bar.update(1)
            if counts.total() - counts["ok"] and bar.n % 50 == 0:
                bar.set_postfix(failed=counts.total() - counts["ok"], refresh=False)
            if len(buffer) >= flush_every or time.perf_counter() - last >= flush_seconds:
                store.write(buffer)
                buffer, last = [], time.perf_counter()
    finally:
        store.write(buffer)
        bar.close()
        report.n_run = counts.total()
        report.counts = dict(counts)
        if elapsed:
            e = np.asarray(elapsed)
            report.task_s = {"mean": e.mean(), "p50": np.median(e), "p95": np.quantile(e, 0.95)}
            report.task_s = {k: float(v) for k, v in report.task_s.items()}


def _describe(row: Mapping[str, Any]) -> str:
    """``case/scenario/method seed: status: error`` on one line (the error's last line)."""
    lines = str(row.get("error") or "").strip().splitlines()
    what = f"{row.get('case')}/{row.get('scenario')}/{row.get('method')} seed {row.get('seed')}"
    return f"{what}: {row['task_status']}: {lines[-1] if lines else 'no message'}"[:300]
