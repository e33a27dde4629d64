"""evaluate(..., safety=True) on all five environments: a random policy through the safety layer
delivers fewer violating steps than without it, and every step it still delivers with a
violation is one the layer counted as a failed fallback (never hidden)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dispatchlab.cli import app
from dispatchlab.learning.envs import list_envs, make_env
from dispatchlab.learning.evaluate import EvaluationConfig, env_name, evaluate, summarize
from dispatchlab.learning.safety import SAFETY_LAYERS
from dispatchlab.learning.safety.base import TOL

CASES = {  # env -> (options, first seed, episodes, steps): a random policy violates there
    "der-dispatch": ({}, 0, 1, 24),
    "voltage-control": ({}, 0, 1, 6),
    "voltage-control-discrete": ({}, 0, 1, 6),
    "transmission-dispatch": ({}, 0, 1, 6),
    # centroids at 4× load: scenario 2's random selection overloads a line, 1's does not
    "der-selection": ({"centroid_factor": 4.0, "market": "dispatch"}, 1, 2, 1),
}


def test_every_environment_has_a_safety_layer() -> None:
    assert sorted(SAFETY_LAYERS) == list_envs() == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_safety_layer_cuts_the_random_policys_violations(name: str) -> None:
    options, seed, episodes, steps = CASES[name]
    env = make_env(name, **options)
    assert env_name(env) == name
    config = EvaluationConfig(episodes=episodes, seed=seed, max_steps=steps, progress=False)
    raw = evaluate(env, "random", config)
    safe = evaluate(env, "random", config, safety=True)
    bad_raw = raw.filter(like="violation_").sum(axis=1) > TOL
    bad_safe = safe.filter(like="violation_").sum(axis=1) > TOL
    assert len(raw) == len(safe) == episodes * steps
    assert bad_safe.sum() < bad_raw.sum()
    # what is still delivered with a violation is exactly what the layer reported as failed
    assert bad_safe.tolist() == (safe["safety"] == "fallback-failed").tolist()
    row = summarize(safe).iloc[0]
    counts = [row[f"safety_{k}"] for k in ("ok", "clip", "repair", "fallback", "fallback_failed")]
    assert sum(counts) == len(safe) and row["safety_ok"] < len(safe)


def test_evaluate_cli_safety_flag() -> None:
    args = ["evaluate", "transmission-dispatch", "--max-steps", "2", "--safety"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "safety_repair" in result.output and "safety_fallback_failed" in result.output
