"""Sweeps refuse bad input before any task starts, say why tasks failed, run from scripts
without a main guard and from stdin, and leave a directory ``pd.read_parquet`` reads."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from dispatchlab.cli import app
from dispatchlab.sweep import make_grid, read_results, run_sweep
from dispatchlab.sweep.store import ResultStore

runner = CliRunner()
ROOT = Path(__file__).parents[1]
PROBE = "dispatchlab.sweep.tasks:probe"


def _error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_unwritable_out_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = blocker / "out"
    line = _error_line(runner.invoke(app, ["sweep", "pglib/case5_pjm", "-o", str(out), "-n", "2"]))
    assert line == (
        f"error: cannot write the sweep output to {out}: Not a directory; choose a directory "
        "you can write (--out)"
    )


@pytest.mark.parametrize("n", ["0", "-5"])
def test_scenario_count_must_be_positive(tmp_path, n):
    result = runner.invoke(app, ["sweep", "pglib/case5_pjm", "-o", str(tmp_path / "o"), "-n", n])
    assert result.exit_code == 2
    assert "Invalid value for '--scenarios' / '-n': Input should be greater than or equal to 1" in (
        " ".join(result.output.replace("│", " ").split())
    )
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="the number of scenarios must be ≥ 1, got 0"):
        make_grid(["pglib/case5_pjm"], 0)
    with pytest.raises(ValueError, match="make_grid: no method given"):
        make_grid(["pglib/case5_pjm"], 2, methods=[])


def test_unknown_case_and_problem_are_named_before_anything_runs(tmp_path):
    out = tmp_path / "o"
    args = ["sweep", "case5", "pglib/case5_pjm", "-o", str(out), "-n", "2", "-m", "dcopf",
            "-m", "dcopff"]  # fmt: skip
    line = _error_line(runner.invoke(app, args))
    assert line.startswith("error: unknown problem 'dcopff'; case 'case5' (unknown case 'case5';")
    assert "pglib/case5_pjm" in line and "problems: ed, dcopf, multiperiod" in line
    assert "sced" in line.split("problems:")[1]
    assert not out.exists()  # refused before the output directory was made
    bad_fn = ["sweep", "pglib/case5_pjm", "-o", str(out), "-n", "1", "--function", "nope:f"]
    assert "No module named 'nope'" in _error_line(runner.invoke(app, bad_fn))


def test_failed_tasks_print_their_first_errors(tmp_path):
    args = ["sweep", "toy", "-o", str(tmp_path / "o"), "-n", "4", "--function", PROBE,
            "-p", "fail=true", "--workers", "1", "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed: ")]
    assert failed == [
        f"failed: toy/s0000{i}/dcopf seed 0: error: ValueError: probe s0000{i} failed on purpose"
        for i in range(3)
    ]  # the first three only


def test_ray_without_a_cluster_says_what_to_do(tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["sweep", "pglib/case5_pjm", "-o", str(tmp_path / "o"), "-n", "1", "--backend", "ray",
            "--address", f"127.0.0.1:{port}"]  # fmt: skip
    line = _error_line(runner.invoke(app, args))
    assert line == (
        f"error: no Ray cluster at '127.0.0.1:{port}' (Connection refused): start one "
        "(`ray start --head`) or leave --address out for a private local Ray"
    )


def test_pandas_reads_the_output_directory(tmp_path):
    out = tmp_path / "o"
    scenarios = {"a": {"fail": True}, "b": {}, "c": {"fail": True}, "d": {}}
    tasks = make_grid(["toy"], scenarios, ["probe"], [0])
    report = run_sweep(PROBE, tasks, out, workers=1, flush_every=1, progress=False)
    assert report.counts == {"ok": 2, "error": 2} and len(report.first_errors) == 2
    # the first partition holds only a failure: its columns were extended when 'value' came
    raw = pd.read_parquet(out).set_index("scenario").sort_index()
    assert raw["task_status"].to_dict() == {"a": "error", "b": "ok", "c": "error", "d": "ok"}
    assert raw["value"].notna().tolist() == [False, True, False, True]
    assert raw.loc["a", "error"] == "ValueError: probe a failed on purpose"
    latest = read_results(out).set_index("scenario").sort_index()
    pd.testing.assert_series_equal(raw["value"], latest["value"])
    assert json.loads((out / "_manifest.json").read_text())["runs"][0]["summary"]["n_run"] == 4
    again = run_sweep(PROBE, tasks, out, workers=1, progress=False, retry_failed=True)
    assert again.n_skipped == 2 and again.n_run == 2
    assert len(pd.read_parquet(out)) == 6 and len(read_results(out)) == 4


def test_an_old_manifest_is_read_and_renamed(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"config": {"function": PROBE},
                                                        "runs": []}))  # fmt: skip
    store = ResultStore(tmp_path)
    assert store.read_manifest()["config"]["function"] == PROBE
    store.start_run({"function": PROBE}, {})
    assert (tmp_path / "_manifest.json").exists() and not (tmp_path / "manifest.json").exists()


NO_GUARD = """
from dispatchlab.sweep import make_grid, run_sweep
tasks = make_grid(["toy"], 3, ["probe"], [0])
report = run_sweep("dispatchlab.sweep.tasks:probe", tasks, {out!r}, workers=2, progress=False)
print(report.counts)
"""


@pytest.mark.parametrize("how", ["script", "stdin"])
def test_a_sweep_without_main_guard_runs(tmp_path, how):
    code = textwrap.dedent(NO_GUARD.format(out=str(tmp_path / "o")))
    if how == "script":
        script = tmp_path / "no_guard.py"
        script.write_text(code)
        cmd, stdin = [sys.executable, str(script)], None
    else:
        cmd, stdin = [sys.executable, "-"], code
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'ok': 3}"


def test_a_task_function_in_stdin_main_is_refused_with_advice(tmp_path):
    code = textwrap.dedent(f"""
        from dispatchlab.sweep import make_grid, run_sweep
        def mine(task):
            return {{"x": 1}}
        try:
            run_sweep("__main__:mine", make_grid(["toy"], 1), {str(tmp_path / "o")!r})
        except ValueError as err:
            print(err)
    """)
    done = subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)  # fmt: skip
    assert done.stdout.strip() == (
        "task function '__main__:mine' is defined in __main__ of an interactive session "
        "(stdin, -c or a notebook), which worker processes cannot import: move it to a .py "
        "module on sys.path and name it 'module:function'"
    )


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ({"timeout_s": -1.0}, "timeout_s must be > 0 (or None: no limit), got -1.0"),
        ({"memory_mb": -5.0}, "memory_mb must be > 0 (or None: no limit), got -5.0"),
        ({"workers": 0}, "workers must be a whole number ≥ 1, got 0"),
        ({"retries": -1}, "retries must be a whole number ≥ 0, got -1"),
        ({"flush_every": 0}, "flush_every must be a whole number ≥ 1, got 0"),
    ],
)
def test_run_sweep_refuses_bounds_that_ran_silently_wrong(bounds, message, tmp_path):
    tasks = make_grid(["pglib/case5_pjm"], 1, ["dcopf"], [0])
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_sweep(
            "dispatchlab.sweep.tasks:solve_scaled_load",
            tasks,
            tmp_path / "out",
            progress=False,
            **bounds,
        )
    assert not (tmp_path / "out").exists()  # refused before the store is opened


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--timeout", "-1", "error: timeout_s must be > 0 (or None: no limit), got -1.0"),
        ("--workers", "0", "Invalid value for '--workers': Input should be greater than or"),
        ("--flush-every", "0", "Invalid value for '--flush-every': Input should be greater than"),
    ],
)
def test_sweep_cli_bounds_exit_2(flag, value, message, tmp_path):
    result = runner.invoke(
        app, ["sweep", "pglib/case5_pjm", "-n", "1", "-o", str(tmp_path / "o"), flag, value]
    )
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())
