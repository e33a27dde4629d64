"""Bad input gets one clear error (from the CLI: one line, exit 2); what a user sees is quiet.

Issue 13, points 5, 7 and 8: each refused input is checked with the message it gets.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import dispatchlab as dl
from dispatchlab.cases.matpower import MatpowerParseError, read_matpower
from dispatchlab.cli import app
from dispatchlab.learning.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

runner = CliRunner()
ROOT = Path(__file__).parents[1]

DUPLICATE_BUS = """function mpc = dup
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
	1	3	0	0	0	0	1	1	0	230	1	1.1	0.9;
	2	1	50	10	0	0	1	1	0	230	1	1.1	0.9;
	2	1	50	10	0	0	1	1	0	230	1	1.1	0.9;
];
mpc.gen = [
	1	0	0	100	-100	1	100	1	200	0;
];
mpc.branch = [
	1	2	0.01	0.1	0	100	100	100	0	0	1	-360	360;
];
mpc.gencost = [
	2	0	0	3	0	10	0;
];
"""


def _one_line_exit_2(result) -> str:
    """The CLI's answer to bad input: exit 2, one line, no traceback; returns the line."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


# ------------------------------------------------------------------------- solve() options
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"periods": -3}, "periods must be a whole number ≥ 1 or 'all', got -3"),
        ({"periods": 0}, "periods must be a whole number ≥ 1 or 'all', got 0"),
        ({"periods": "abc"}, "periods must be a whole number ≥ 1 or 'all', got 'abc'"),
        ({"periods": 2.5}, "periods must be a whole number ≥ 1 or 'all', got 2.5"),
        ({"time_limit": -1}, "time_limit must be a number of seconds > 0 (or None), got -1"),
        ({"start": -2}, "start must be a whole number ≥ 0 (a time-series step), got -2"),
    ],
)
def test_solve_refuses_bad_options(options, message):
    with pytest.raises(ValueError) as err:
        dl.solve("ieee30-seed004", "multiperiod", **options)
    assert str(err.value) == message


def test_solve_accepts_a_case_name_or_says_what_it_needs():
    assert round(dl.solve("pglib/case5_pjm", "dcopf").objective, 2) == 17479.90
    with pytest.raises(dl.UnknownCaseError, match="unknown case 'case57'; closest: pglib/case57"):
        dl.solve("case57")
    with pytest.raises(TypeError, match="solve\\(\\) needs a Case, a library case name or a"):
        dl.solve(57)


# ------------------------------------------------------------------------ MATPOWER files
def test_duplicate_bus_ids_are_named_with_their_lines(tmp_path):
    path = tmp_path / "dup.m"
    path.write_text(DUPLICATE_BUS)
    with pytest.raises(MatpowerParseError) as err:
        read_matpower(path)
    assert str(err.value) == (
        "dup.m line 7, mpc.bus: 1 duplicate bus number(s): bus 2 on lines 6, 7"
    )
    line = _one_line_exit_2(runner.invoke(app, ["solve", str(path)]))
    assert line == "error: dup.m line 7, mpc.bus: 1 duplicate bus number(s): bus 2 on lines 6, 7"


def test_cli_solve_on_an_unparsable_file_is_one_line(tmp_path):
    path = tmp_path / "broken.m"
    path.write_text("mpc.baseMVA = 100;\nmpc.bus = [\n 1 3 0 0\n")
    line = _one_line_exit_2(runner.invoke(app, ["solve", str(path)]))
    assert line == "error: broken.m line 2, mpc.bus: '[' never closed"


# ---------------------------------------------------------------------------- CLI solve
@pytest.mark.parametrize("periods", ["abc", "-3", "0"])
def test_cli_periods_must_be_positive(periods):
    result = runner.invoke(app, ["solve", "ieee30-seed004", "-p", "multiperiod", "--periods",
                                 periods])  # fmt: skip
    assert result.exit_code == 2
    assert f"expected a whole number ≥ 1 or 'all', got '{periods}'" in result.output


def test_cli_rows_must_not_be_negative():
    result = runner.invoke(app, ["solve", "pglib/case5_pjm", "--rows", "-1"])
    assert result.exit_code == 2
    assert "Invalid value for '--rows': Input should be greater than or equal to 0" in (
        " ".join(result.output.replace("│", " ").split())
    )


def test_cli_solve_defaults_to_backend_auto_like_the_api():
    ac = runner.invoke(app, ["solve", "pglib/case5_pjm", "-p", "acopf", "--json", "--show",
                             "none"])  # fmt: skip
    assert ac.exit_code == 0, ac.output
    assert '"status": "optimal"' in ac.output and '"objective": 17551.89' in ac.output
    # the 96-period problem has quadratic costs: auto picks Clarabel (HiGHS's QP took 123 s)
    day = runner.invoke(app, ["solve", "ieee30-seed004", "-p", "multiperiod", "--periods", "96",
                              "--json", "--show", "none"])  # fmt: skip
    assert day.exit_code == 0, day.output
    assert '"backend": "clarabel"' in day.output and '"periods": 96' in day.output


# ------------------------------------------------------------------ environments, checkpoints
@pytest.mark.parametrize("name", ["voltage-control", "voltage-control-discrete"])
@pytest.mark.parametrize("num_envs", [None, 2])
def test_voltage_oracle_before_reset(name, num_envs):
    env = dl.make_env(name, num_envs=num_envs)
    with pytest.raises(RuntimeError, match=r"^call reset\(\) first \(the episode is over or"):
        env.oracle()


@pytest.fixture
def checkpoints(tmp_path):
    good = save_checkpoint(tmp_path / "good.npz", "m", {"a": 1}, {"w": np.arange(5000.0)})
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    return {"truncated": truncated, "empty": empty, "missing": tmp_path / "missing.npz"}


def test_truncated_or_missing_checkpoints(checkpoints):
    for key in ("truncated", "empty"):
        with pytest.raises(
            CheckpointError, match=r"not a dispatchlab checkpoint \(truncated, or not \.npz; "
        ):
            load_checkpoint(checkpoints[key])
    with pytest.raises(CheckpointError, match=r"missing\.npz does not exist"):
        load_checkpoint(checkpoints["missing"])
    text = checkpoints["empty"].with_name("text.npz")
    text.write_text("not an archive")
    with pytest.raises(CheckpointError, match=r"\(neither \.npz nor \.npy: a pickle or another"):
        load_checkpoint(text)
    objects = checkpoints["empty"].with_name("objects.npz")
    np.savez(objects, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(CheckpointError, match=r"\(it holds pickled objects, never loaded; "):
        load_checkpoint(objects)
    with pytest.raises(FileNotFoundError):  # still a FileNotFoundError for callers that ask
        load_checkpoint(checkpoints["missing"])


@pytest.mark.parametrize("key", ["truncated", "missing"])
def test_evaluate_and_reduce_with_a_bad_checkpoint(checkpoints, key, tmp_path):
    path = str(checkpoints[key])
    why = "does not exist" if key == "missing" else "not a dispatchlab checkpoint (truncated"
    line = _one_line_exit_2(runner.invoke(app, ["evaluate", "voltage-control", "--policy", path]))
    assert line.startswith(f"error: {path}" if key == "truncated" else "error: checkpoint")
    assert why in line
    data = tmp_path / "data.parquet"
    data.write_bytes(b"")
    result = runner.invoke(app, ["reduce", "evaluate", path, str(data)])
    assert result.exit_code == 2 and why in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------------ noise, public face
def test_help_has_no_bool_tags_and_cases_list_keeps_the_install_hint():
    for args in (["solve", "--help"], ["sweep", "--help"], ["cases", "show", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "<bool>" not in result.output
        assert "<str>" in result.output  # valued options keep their type
    listing = runner.invoke(app, ["cases", "list", "--group", "activsg"])
    assert "pip install 'dispatchlab[activsg]'" in listing.output


def test_no_highs_banner_and_no_numba_notice():
    code = (
        "import dispatchlab as dl\n"
        "dl.solve('pglib/case5_pjm', 'dcopf')\n"
        "dl.to_pandapower(dl.load_case('ieee33'))\n"
        "from dispatchlab.solvers.powerflow import run_ac_powerflow\n"
        "run_ac_powerflow(dl.load_case('ieee123'))\n"  # unrated lines: no NaN rating warning
        "import highspy; highspy.Highs()\n"
        "print('done')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, check=True)  # fmt: skip
    assert out.stdout == "done\n"
    assert "numba" not in out.stderr and "HiGHS" not in out.stderr
    assert "Warning" not in out.stderr, out.stderr


def test_top_level_names():
    for name in ("make_env", "list_envs", "to_pandapower", "from_pandapower", "verify"):
        assert name in dl.__all__ and callable(getattr(dl, name))
    net = dl.to_pandapower(dl.load_case("ieee33"))
    assert len(dl.from_pandapower(net).buses) == 33
    report = dl.verify(dl.load_case("pglib/case5_pjm"), dl.solve("pglib/case5_pjm"))
    assert report.ok and report.summary()["violations"] == 0


def test_evaluate_names_a_mistyped_policy():
    line = _one_line_exit_2(
        runner.invoke(app, ["evaluate", "voltage-control", "--policy", "greedy"])
    )
    assert line == (
        "error: unknown policy 'greedy': use random, oracle or a trained method's checkpoint .npz"
    )
