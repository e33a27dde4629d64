"""evaluate() plays random and oracle policies on a real environment and reports its metrics."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from dispatchlab.cli import app
from dispatchlab.learning.envs import make_env
from dispatchlab.learning.evaluate import EvaluationConfig, evaluate, summarize


@pytest.fixture(scope="module")
def steps():
    env = make_env("voltage-control")
    config = EvaluationConfig(episodes=2, seed=3, max_steps=6, with_oracle=True, progress=False)
    frames = [evaluate(env, policy, config) for policy in ("random", "oracle")]
    return frames


def test_oracle_beats_random_with_no_violations(steps) -> None:
    random, oracle = steps
    assert len(random) == len(oracle) == 12
    # the oracle's reward on each state is at least the random policy's on the same state
    assert (oracle["reward"].to_numpy() >= random["reward"].to_numpy() - 1e-9).all()
    violations = [c for c in oracle if c.startswith("violation_")]
    assert violations and np.allclose(oracle[violations].to_numpy(), 0.0, atol=1e-6)
    assert np.isfinite(oracle["oracle_objective"]).all()
    # same seed → same first state in both runs (later states depend on the actions taken)
    first = oracle["step"] == 0
    np.testing.assert_allclose(oracle["oracle_objective"][first], random["oracle_objective"][first])


def test_summary_has_paper_metrics_and_tails(steps) -> None:
    import pandas as pd

    table = summarize(pd.concat(steps))
    assert list(table["policy"]) == ["random", "oracle"]
    assert (table["episodes"] == 2).all() and (table["steps"] == 12).all()
    for column in ("compliance_rate_mean", "loss_mw_mean", "voltage_deviation_pu_mean"):
        assert column in table
    assert (table.filter(like="_p99") <= table.filter(like="_max").to_numpy() + 1e-12).all().all()
    assert table.loc[1, "compliance_rate_mean"] >= table.loc[0, "compliance_rate_mean"]


def test_evaluate_cli_prints_metrics() -> None:
    result = CliRunner().invoke(
        app, ["evaluate", "voltage-control", "--policy", "random", "--max-steps", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "compliance_rate_mean" in result.output
    assert "episode_reward_mean" in result.output


def test_unknown_policy_is_named() -> None:
    env = make_env("voltage-control")
    with pytest.raises(ValueError, match="unknown policy 'greedy'"):
        evaluate(env, "greedy", EvaluationConfig(max_steps=1, progress=False))


def test_evaluate_cli_day_the_env_lacks_is_bad_input() -> None:
    result = CliRunner().invoke(
        app, ["evaluate", "transmission-dispatch", "--day", "99999", "--max-steps", "1"]
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "error: day(s) [99999] not in the 'train' split (days 0…59)" in result.output
