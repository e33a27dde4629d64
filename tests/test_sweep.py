"""Sweeps: stable task ids, failures recorded, kill -9 then resume, local and Ray agree, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from dispatchlab.cli import app
from dispatchlab.sweep import ResultStore, Task, make_grid, read_results, run_sweep

PROBE = "dispatchlab.sweep.tasks:probe"
SOLVE = "dispatchlab.sweep.tasks:solve_scaled_load"
ROOT = Path(__file__).parents[1]


def _raw_ids(out: Path) -> list[str]:
    """Every task_id in every partition, duplicates kept."""
    ids: list[str] = []
    for part in sorted(out.glob("part-*.parquet")):
        ids += pq.read_table(part, columns=["task_id"]).column(0).to_pylist()
    return ids


def test_task_ids_are_stable_and_distinct():
    a = Task("c", "s1", "dcopf", 0, (("lo", 0.8), ("hi", 1.2)))
    b = Task("c", "s1", "dcopf", 0, (("hi", 1.2), ("lo", 0.8)))
    assert a.task_id == b.task_id and a == b and a.param("hi") == 1.2
    grid = make_grid(["c1", "c2"], 3, ["ed", "dcopf"], [0, 1], common={"noise": 0.0})
    assert len(grid) == 24 and len({t.task_id for t in grid}) == 24
    assert make_grid(["c1", "c2"], 3, ["ed", "dcopf"], [0, 1], common={"noise": 0.0}) == grid
    assert Task("c", "s1", "dcopf", 1).task_id != Task("c", "s1", "dcopf", 0).task_id


def test_failures_are_recorded_and_the_sweep_goes_on(tmp_path):
    flag = tmp_path / "crashed-once"
    scenarios = {
        "fails": {"fail": True},
        "slow": {"sleep_s": 60},
        "hog": {"alloc_mb": 4000},
        "dies-once": {"crash_once": str(flag)},
        "always-dies": {"crash": True},
        **{f"fine{i}": {} for i in range(5)},
    }
    tasks = make_grid(["toy"], scenarios, ["probe"], [7])
    out = tmp_path / "out"
    report = run_sweep(
        PROBE, tasks, out, workers=2, timeout_s=2.0, memory_mb=500, retries=1, progress=False
    )
    df = read_results(out).set_index("scenario")
    status = df["task_status"].to_dict()
    assert status == {
        "fails": "error", "slow": "timeout", "hog": "memory", "dies-once": "ok",
        "always-dies": "crashed", **{f"fine{i}": "ok" for i in range(5)},
    }  # fmt: skip
    assert "ValueError: probe fails failed on purpose" in df.loc["fails", "traceback"]
    assert df.loc["dies-once", "attempts"] == 2 and df.loc["always-dies", "attempts"] == 2
    assert report.counts == {"ok": 6, "error": 1, "timeout": 1, "memory": 1, "crashed": 1}
    assert not report.ok and list(read_results(out)["task_id"]) == sorted(df["task_id"])
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["config"]["function"] == PROBE and manifest["seeds"] == [7]
    assert manifest["dispatchlab_version"] and "case_hashes" in manifest
    assert manifest["runs"][0]["summary"]["counts"]["ok"] == 6
    # the failed tasks run again only when asked
    again = run_sweep(PROBE, tasks, out, workers=1, timeout_s=2.0, progress=False)
    assert again.n_run == 0 and again.n_skipped == 10


SCRIPT = """
from dispatchlab.sweep import make_grid, run_sweep
if __name__ == "__main__":
    tasks = make_grid(["toy"], 40, ["probe"], [3], common={{"sleep_s": 0.1}})
    run_sweep("{fn}", tasks, r"{out}", workers=2, flush_every=3, progress=False)
"""


def test_killed_sweep_resumes_without_losing_or_duplicating(tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "sweep.py"
    script.write_text(textwrap.dedent(SCRIPT.format(fn=PROBE, out=out)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(list(out.glob("part-*.parquet"))) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # the runner itself: no chance to flush or clean up
        proc.wait(10)
    finally:
        time.sleep(0.5)
        try:  # its workers and forkserver notice the dead parent; make sure anyway
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    before = set(_raw_ids(out))
    tasks = make_grid(["toy"], 40, ["probe"], [3], common={"sleep_s": 0.1})
    assert 0 < len(before) < len(tasks)
    report = run_sweep(PROBE, tasks, out, workers=2, flush_every=10, progress=False)
    ids = _raw_ids(out)
    assert len(ids) == len(set(ids)) == len(tasks)  # nothing lost, nothing twice
    assert set(ids) == {t.task_id for t in tasks}
    assert report.n_skipped == len(before) and report.n_run == len(tasks) - len(before)
    assert (read_results(out)["task_status"] == "ok").all()
    assert len(json.loads((out / "_manifest.json").read_text())["runs"]) == 2


def _deterministic(df: pd.DataFrame) -> pd.DataFrame:
    """Drop timings (columns ending in ``_s``): everything else must match exactly."""
    return df[[c for c in df.columns if not c.endswith("_s")]]


@pytest.mark.slow
def test_ray_and_local_backends_give_identical_results(tmp_path):
    ray = pytest.importorskip("ray", reason="ray not installed: pip install 'dispatchlab[ray]'")
    tasks = make_grid(["pglib/case5_pjm"], 3, ["dcopf", "ed"], [0, 1])
    run_sweep(SOLVE, tasks, tmp_path / "local", workers=2, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        report = run_sweep(
            SOLVE, tasks, tmp_path / "ray", backend="ray", timeout_s=120, progress=False
        )
    finally:
        ray.shutdown()
    assert report.ok and report.n_run == len(tasks)
    local, remote = read_results(tmp_path / "local"), read_results(tmp_path / "ray")
    assert (local["status"] == "optimal").all() and local["objective"].nunique() > 1
    pd.testing.assert_frame_equal(_deterministic(local), _deterministic(remote), check_exact=True)


def test_cli_sweep_runs_resumes_and_summarises(tmp_path):
    runner = CliRunner()
    args = ["sweep", "toy", "-n", "4", "-s", "0", "-s", "1", "--out", str(tmp_path)]
    args += ["--function", PROBE, "--workers", "1", "--param", "sleep_s=0", "--no-progress"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "sweep summary" in first.output and "ok" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "skipped (already done) │ 8" in second.output
    assert len(read_results(tmp_path)) == 8
    assert ResultStore(tmp_path).read_manifest()["config"]["params"] == {"sleep_s": 0}
    bad = runner.invoke(app, ["sweep", "toy", "--out", str(tmp_path), "--backend", "dask"])
    assert bad.exit_code == 2


def test_a_task_sent_to_a_dead_worker_goes_back_unspent():
    # a worker that died on its head task (or between tasks) breaks its pipe before the parent
    # sees its exit: the next send must not crash the sweep, and the task keeps its attempt
    import multiprocessing as mp
    from collections import deque

    from dispatchlab.sweep.local import LocalBackend, _Slot

    backend = LocalBackend(PROBE, workers=1, retries=1, prefetch=1)
    tasks = make_grid(["toy"], {"a": {}, "b": {}}, ["probe"], [7])
    parent, child = mp.Pipe()
    child.close()  # the worker's end is gone
    running = (tasks[0], 1)
    slot = _Slot(process=None, conn=parent, queue=deque([running]))
    pending = deque([(tasks[1], 2)])
    assert backend._assign(slot, pending) is False
    assert list(pending) == [(tasks[1], 2)] and list(slot.queue) == [running]
