"""The method and safety-layer registries: every entry resolves, bad names say what exists."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from dispatchlab.cli import app
from dispatchlab.learning.envs import ENVS
from dispatchlab.learning.methods import METHODS, method_spec, resolve
from dispatchlab.learning.safety import SAFETY_LAYERS, SafetyLayer, make_safety_layer
from dispatchlab.learning.safety.base import SafetyStats


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_entry_resolves_and_is_on_the_cli(name):
    spec = METHODS[name]
    for entry in (spec.train, spec.compare, spec.load_policy, spec.leaderboard):
        assert callable(resolve(entry)), entry
    assert set(spec.envs) <= set(ENVS)
    for command in ("train", "compare"):
        res = CliRunner().invoke(app, [command, name, "--help"])
        assert res.exit_code == 0, res.output
    assert "--quick" in CliRunner().invoke(app, ["train", name, "--help"]).output


def test_unknown_method_and_layer_name_the_known_ones():
    with pytest.raises(KeyError, match="unknown method 'seed999'; known: seed000"):
        method_spec("seed999")
    with pytest.raises(KeyError, match="'no-env' has no safety layer; layers exist for: "):
        make_safety_layer("no-env", None)
    assert set(SAFETY_LAYERS) <= set(ENVS)


class _Toy(SafetyLayer):
    """A 1-D toy: actions must lie in [0, 1]; repair clips unless told to fail."""

    env_name = "toy"

    def __init__(self, env, repair_works=True, fallback=0.5):
        super().__init__(env)
        self.repair_works, self.fallback_action = repair_works, fallback

    def verify(self, actions):
        return {"range": max(0.0, actions - 1.0) + max(0.0, -actions)}

    def repair(self, actions, violations):
        return float(np.clip(actions, 0.0, 1.0)) if self.repair_works else None

    def fallback(self):
        return self.fallback_action


def test_the_protocol_counts_every_outcome_and_hides_no_failed_fallback():
    layer = _Toy(None)
    assert layer.filter(0.3) == (0.3, "ok")
    assert layer.filter(1.7) == (1.0, "repair")
    broken = _Toy(None, repair_works=False, fallback=2.0)
    assert broken.filter(-1.0) == (2.0, "fallback-failed")
    assert broken.filter(0.2) == (0.2, "ok")
    s = layer.stats
    assert (s.decisions, s.passed, s.repaired, s.fallbacks) == (2, 1, 1, 0)
    b = broken.stats
    assert (b.fallbacks, b.fallback_failed, b.delivered_violations) == (1, 1, 1)
    assert b.history == ["fallback-failed", "ok"] and b.repaired_share == 0.5
    assert SafetyStats().repaired_share == 0.0
