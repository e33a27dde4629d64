"""seed004 trained with ``Seed004Config.quick()`` (one budget, shared by the tests here): it beats
hold without the safety layer on held-out days, delivers no violation through it, round-trips
through a checkpoint, refuses a checkpoint of another case or agent set, and runs from the CLI."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import dispatchlab as dl
from dispatchlab.cli import app
from dispatchlab.learning.checkpoint import CheckpointError
from dispatchlab.learning.envs.transmission.env import TransmissionDispatchEnv
from dispatchlab.learning.methods.seed004.compare import hold_policy, play_day
from dispatchlab.learning.methods.seed004.config import Seed004Config
from dispatchlab.learning.methods.seed004.method import (
    TEST_DAYS,
    TRAIN_DAYS,
    Seed004Trainer,
    load_trainer,
)

pytestmark = pytest.mark.slow  # one quick training (≈ 40–90 s on 2 shared cores)
runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    trainer = Seed004Trainer(Seed004Config.quick(seed=0))
    trainer.train_days(TRAIN_DAYS, trainer.config.episodes)
    path = trainer.save(tmp_path_factory.mktemp("seed004") / "quick.npz")
    return trainer, path


def test_quick_policy_without_safety_beats_hold(trained) -> None:
    trainer, _ = trained
    days = list(TEST_DAYS[:5])
    learned = trainer.evaluate(days)  # greedy actors, no safety layer
    env = TransmissionDispatchEnv(case=trainer.case, split="test")
    hold = [play_day(env, hold_policy(trainer.spaces), d)["cost_usd"] for d in days]
    costs = learned["cost_usd"].round().tolist()
    pf = learned["pf_cost_usd"].round().tolist()
    print("seed004 quick, held-out days", days, "learned", costs, "hold", np.round(hold), "PF", pf)
    assert learned["cost_usd"].mean() < np.mean(hold)
    assert learned["cost_usd"].mean() < 1.1 * learned["pf_cost_usd"].mean()  # within 10 % of PF
    assert (learned["gap_pct"] > -1.0).all()  # PF is the bound (≤ 1 % model difference)


def test_safety_layer_delivers_no_violation(trained) -> None:
    trainer, _ = trained
    env = TransmissionDispatchEnv(case=trainer.case, split="test")
    row = play_day(env, trainer.policy(), TEST_DAYS[0], safety=True)
    assert row["violation_steps"] == 0 and row["delivered_violations"] == 0
    assert row["shed_mwh"] < 1.0
    # the balance completion closes the schedule's mismatch; what is left to repair are line
    # overloads (quick policy: ≈ 23 repairs a day); without it every decision is repaired
    assert 0 < row["repairs"] + row["fallbacks"] < 48
    config = trainer.config
    try:
        trainer.config = config.replace(balance_completion="off")
        off = play_day(env, trainer.policy(), TEST_DAYS[0], safety=True)
    finally:
        trainer.config = config
    assert off["repairs"] + off["fallbacks"] >= 90 and off["cost_usd"] > row["cost_usd"]


def test_checkpoint_round_trip_and_td_errors(trained) -> None:
    trainer, path = trained
    again = load_trainer(path)
    a = trainer.evaluate([TEST_DAYS[1]])
    b = again.evaluate([TEST_DAYS[1]])
    assert b["cost_usd"][0] == pytest.approx(a["cost_usd"][0], rel=1e-9)
    td = again.td_errors(TEST_DAYS[1])
    assert td.shape == (96,) and np.isfinite(td).all()
    np.testing.assert_allclose(again.critic_losses(TEST_DAYS[1]), td**2, rtol=1e-5)
    assert set(again.summary()) >= {"episodes", "train_s", "penalty_weights"}
    assert sum(p.numel() for p in again.model.parameters()) > 100_000


def test_checkpoint_of_another_case_or_agent_set(trained, tmp_path) -> None:
    _, path = trained
    case = dl.load_case("ieee30-seed004")
    other = case.replace(branches=case.branches.assign(rate_a_mva=case.branches["rate_a_mva"] * 2))
    with pytest.raises(CheckpointError, match=f"hash {case.case_hash()}.*hash {other.case_hash()}"):
        load_trainer(path, case=other)
    # the same checkpoint with one agent renamed in its header
    bad = tmp_path / "agents.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "__header__.npy":
                arr = np.load(src.open(item))
                header = json.loads(arr.tobytes().decode())
                header["meta"]["agents"][0] = "gen_99"
                text = np.frombuffer(json.dumps(header).encode(), np.uint8)
                import io

                buf = io.BytesIO()
                np.save(buf, text)
                data = buf.getvalue()
            dst.writestr(item, data)
    with pytest.raises(
        CheckpointError, match=r"agents \['gen_99'.*differ from the env's \['gen_0'"
    ):
        load_trainer(bad)


def test_cli_train_compare_evaluate(trained, tmp_path) -> None:
    _, path = trained
    csv = tmp_path / "days.csv"
    policies = "learned-raw,hold,perfect"
    res = runner.invoke(app, ["compare", "seed004", str(path), "--days", "1",
                              "--policies", policies, "-o", str(csv)])  # fmt: skip
    assert res.exit_code == 0, res.output
    table = pd.read_csv(csv)
    assert table["policy"].tolist() == ["learned-raw", "hold", "perfect"]
    assert table.loc[2, "gap_pct"] == 0.0 and (table["day"] == 75).all()
    bad = runner.invoke(app, ["compare", "seed004", str(path), "--policies", "learned,qmx"])
    assert bad.exit_code == 2 and "valid: learned, learned-raw" in bad.output
    res = runner.invoke(app, ["evaluate", "transmission-dispatch", "--policy", str(path),
                              "--max-steps", "4", "--day", "3"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = tmp_path / "tiny.npz"
    res = runner.invoke(app, ["train", "seed004", "--quick", "-o", str(out), "--episodes", "2",
                              "--set", "demo_days=1", "--set", "bc_steps=2",
                              "--set", "parallel_days=2"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert load_trainer(out).episodes_done == 2
