"""Parameter sweeps: map a task function over a grid of cases × scenarios × methods × seeds.

>>> from dispatchlab.sweep import make_grid, run_sweep, read_results
>>> tasks = make_grid(["pglib/case118_ieee"], scenarios=1000, methods=["dcopf"], seeds=[0])
>>> report = run_sweep("dispatchlab.sweep.tasks:solve_scaled_load", tasks, "out/sweep")
>>> df = read_results("out/sweep")        # one row per task, sorted by task_id
>>> raw = pd.read_parquet("out/sweep")    # every stored row (a re-run task has several)

A local process pool is the default backend; ``backend="ray"`` runs the same tasks on Ray
(``address="auto"`` or ``"HOST:PORT"`` for a cluster). See docs/sweeps.md.
"""

from dispatchlab.sweep.runner import BACKENDS, SweepError, SweepReport, make_backend, run_sweep
from dispatchlab.sweep.store import ResultStore, read_results
from dispatchlab.sweep.task import Task, make_grid, resolve_function
from dispatchlab.sweep.worker import STATUSES, execute_task

__all__ = [
    "BACKENDS",
    "STATUSES",
    "ResultStore",
    "SweepError",
    "SweepReport",
    "Task",
    "execute_task",
    "make_backend",
    "make_grid",
    "read_results",
    "resolve_function",
    "run_sweep",
]
