"""The environment registry names every task and fails clearly on unknown ones."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dispatchlab.cli import app
from dispatchlab.learning.envs import ENVS, list_envs, make_env


def test_every_paper_has_an_environment() -> None:
    assert {spec.paper for spec in ENVS.values()} == {
        "seed000",
        "seed001",
        "seed002",
        "seed003",
        "seed004",
    }
    assert list_envs() == sorted(ENVS)


def test_unknown_environment_error_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown environment 'grid'; known: der-dispatch"):
        make_env("grid")


def test_envs_list_cli_describes_each_environment() -> None:
    result = CliRunner().invoke(app, ["envs", "list"])
    assert result.exit_code == 0, result.output
    for name in ENVS:
        assert name in result.output
    assert "seed004" in result.output


def test_evaluate_cli_rejects_unknown_environment() -> None:
    result = CliRunner().invoke(app, ["evaluate", "grid"])
    assert result.exit_code != 0
    assert "unknown environment 'grid'" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rounds", "0"], "error: Seed000Config.rounds must be a positive integer, got 0"),
        (["--case", "pglib/case14_ieee"], "error: case 'pglib/case14_ieee' needs a time series"),
        (["--case", "nope-case"], "error: unknown case 'nope-case'"),
    ],
)
def test_train_bad_input_is_one_line_and_exit_2(args, message, tmp_path) -> None:
    result = CliRunner().invoke(
        app, ["train", "seed000", "--quick", "-o", str(tmp_path / "x.npz"), *args]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.npz").exists()
