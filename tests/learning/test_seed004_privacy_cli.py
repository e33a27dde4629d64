"""`privacy seed004 CKPT` on a federated checkpoint: ε from its header, the attack table, and
the errors for a non-federated checkpoint, another case's checkpoint and a bad δ; `causal`
refuses an unknown intervention; both refuse a bad --n-boot."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from dispatchlab.learning.checkpoint import load_checkpoint, save_checkpoint
from dispatchlab.learning.methods.seed004.cli_privacy import causal, privacy, train_federated
from dispatchlab.learning.methods.seed004.config import Seed004Config
from dispatchlab.learning.methods.seed004.federated import DaySplit
from dispatchlab.learning.methods.seed004.privacy import epsilon, loss_threshold_attack

runner = CliRunner()


def _flat(text: str) -> str:
    """The output without rich's error box and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def _app(command) -> typer.Typer:
    app = typer.Typer()
    app.command()(command)
    app.command("noop")(lambda: None)  # two commands: typer keeps the sub-command name
    return app


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("fed") / "fed.npz"
    small = DaySplit.make(3, per_client=1, nonmembers=2)
    original = DaySplit.make
    DaySplit.make = classmethod(lambda cls, *a, **k: small)  # a 5-day split for speed
    try:
        cfg = Seed004Config.quick(demo_days=0, bc_steps=0, learning_starts=1)
        train_federated(config=cfg, sigma=2.0, clip=1.0, rounds=1, sample_rate=1.0,
                            episodes_per_round=1, out=path)  # fmt: skip
    finally:
        DaySplit.make = original
    return path


@pytest.mark.slow
def test_privacy_command_reports_epsilon_and_attack(checkpoint):
    header, _ = load_checkpoint(checkpoint, "seed004")
    fed = header["meta"]["federated"]
    assert fed["sigma"] == 2.0 and fed["rounds"] == 1 and len(fed["clients"]) == 3
    result = runner.invoke(_app(privacy), ["privacy", str(checkpoint), "--n-boot", "20"])
    assert result.exit_code == 0, result.output
    eps = epsilon(2.0, 1.0, 1, 1e-5)[0]
    assert math.isclose(eps, 2.1657, abs_tol=1e-3)  # one Gaussian round at σ = 2
    assert f"ε = {eps:.4g} at δ = 1e-05" in result.output
    assert "loss_threshold" in result.output and "3 / 2" in result.output


@pytest.mark.slow
def test_privacy_command_errors(checkpoint, tmp_path):
    header, arrays = load_checkpoint(checkpoint, "seed004")
    bad = runner.invoke(_app(privacy), ["privacy", str(checkpoint), "--delta", "1.5"])
    assert bad.exit_code == 2 and "delta (δ) must be in (0, 1), got 1.5" in _flat(bad.output)
    meta = dict(header["meta"], case_hash="0" * 16)
    other = save_checkpoint(tmp_path / "other.npz", "seed004", header["config"], arrays,
                            header["metrics"], meta)  # fmt: skip
    res = runner.invoke(_app(privacy), ["privacy", str(other)])
    assert res.exit_code == 2 and "hash 0000000000000000" in _flat(res.output)
    plain = {k: v for k, v in header["meta"].items() if k != "federated"}
    plain_path = save_checkpoint(tmp_path / "plain.npz", "seed004", header["config"], arrays,
                                 header["metrics"], plain)  # fmt: skip
    res = runner.invoke(_app(privacy), ["privacy", str(plain_path)])
    assert res.exit_code == 2 and "not trained with `train seed004 --federated`" in _flat(
        res.output
    )
    assert np.isfinite(header["metrics"]["train_s"])


def test_causal_command_refuses_unknown_intervention():
    res = runner.invoke(_app(causal), ["causal", "--intervention", "weather"])
    assert res.exit_code == 2
    assert "unknown intervention 'weather'; use one of wind, load, lines" in _flat(res.output)


def test_a_bad_n_boot_is_named_before_any_work(tmp_path):
    res = runner.invoke(_app(causal), ["causal", "--n-boot", "0"])
    assert res.exit_code == 2
    assert "n_boot (bootstrap resamples) must be ≥ 1, got 0" in _flat(res.output)
    res = runner.invoke(_app(privacy), ["privacy", str(tmp_path / "x.npz"), "--n-boot", "-3"])
    assert res.exit_code == 2 and "must be ≥ 1, got -3" in _flat(res.output)
    with pytest.raises(ValueError, match=r"loss_threshold: n_boot .* must be ≥ 1, got 0"):
        loss_threshold_attack([1.0, 2.0], [1.5, 3.0], n_boot=0)


def test_commands_are_registered_and_federated_train_checks_its_values():
    from dispatchlab.cli import app

    assert runner.invoke(app, ["privacy", "seed004", "--help"]).exit_code == 0
    assert runner.invoke(app, ["causal", "seed004", "--help"]).exit_code == 0
    for args, message in (
        (["--sigma", "0"], "sigma (noise multiplier σ) must be > 0, got 0.0"),
        (["--clip", "-1"], "clip (clipping norm C) must be > 0, got -1.0"),
        (["--sample-rate", "1.5"], "sample_rate (q) must be in (0, 1], got 1.5"),
    ):
        res = runner.invoke(app, ["train", "seed004", "--federated", "--quick", *args])
        assert res.exit_code == 2, res.output
        assert message in _flat(res.output)


def test_federated_quick_shrinks_the_federation(monkeypatch):
    import dispatchlab.learning.methods.seed004.cli_privacy as cli_privacy
    from dispatchlab.cli import app

    seen = []
    monkeypatch.setattr(cli_privacy, "train_federated", lambda **kw: seen.append(kw))
    for args in (["--quick"], ["--quick", "--rounds", "3"], []):
        res = runner.invoke(app, ["train", "seed004", "--federated", *args])
        assert res.exit_code == 0, res.output
    got = [(kw["rounds"], kw["episodes_per_round"]) for kw in seen]
    assert got == [(1, 2), (3, 2), (50, 8)]  # 50 rounds × 8 days is the federation
