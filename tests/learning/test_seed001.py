"""seed001: days, hybrid replay shares, safety, checkpoint round trip, a quick run beats hold,
CLI and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tensordict import TensorDict
from typer.testing import CliRunner

from dispatchlab.learning.checkpoint import CheckpointError
from dispatchlab.learning.methods.seed001.config import Seed001Config
from dispatchlab.learning.methods.seed001.data import day_sets, make_day_env
from dispatchlab.learning.methods.seed001.method import (
    Seed001Method,
    hybrid_replay,
    load_method,
    recent_share,
    train,
)

CFG = Seed001Config.quick()


@pytest.fixture(scope="module")
def days():
    return day_sets(CFG.case)


@pytest.fixture(scope="module")
def quick_method() -> Seed001Method:
    torch.set_num_threads(1)
    return train(CFG, log=None)


def play(env, policy, day) -> tuple[float, float]:
    """(day cost, compliance) of ``policy(env, obs)`` on a noise-free ``day``."""
    obs, _ = env.reset(seed=0, options={"day": day})
    cost, comp = 0.0, []
    while env.agents:
        obs, _, _, _, infos = env.step(policy(env, obs))
        info = next(iter(infos.values()))
        cost += info["metrics"]["cost"]
        comp.append(info["metrics"]["compliance_rate"])
    return cost, float(np.mean(comp))


def test_days_follow_the_paper_split_and_a_foreign_day_is_a_key_error(days) -> None:
    assert (len(days.train), len(days.test)) == (6, 1)  # seven JJA centres, 6 / 1
    assert all(d[5:7] in ("06", "07", "08") for d in days.train + days.test)
    assert len(days.heldout) >= 20
    assert {d[5:7] for d in days.heldout} >= {"01", "04", "07", "10"}  # every season
    assert not set(days.heldout) & set(days.train + days.coach)
    assert not set(days.coach) & set(days.test)
    with pytest.raises(KeyError, match="2016-05-05"):
        days.named("2016-05-05")


def test_hybrid_replay_draws_the_newest_share_then_every_hour_alike() -> None:
    torch.manual_seed(0)  # the sampler draws from torch's global RNG: unseeded, the bound
    # below fails for about 1 test order in 12 (min of 24 binomial(1 010, 1/24) counts)
    cfg = CFG.replace(batch_size=2_000, recent_window=24, buffer_size=5_000)
    buffer = hybrid_replay(cfg)
    n = 24 * 40  # 40 days, hour h at positions h, h + 24 …; the newest 24 are the last day
    hours = torch.arange(n) % 24
    data = TensorDict({"i": torch.arange(n), "stratum": hours.reshape(-1, 1)}, [n])
    buffer.extend(data)
    assert recent_share(cfg, 0) == 0.99 and recent_share(cfg, 3) == pytest.approx(0.12375)
    buffer.sampler.recent_share = recent_share(cfg, 1)  # 0.495
    idx = buffer.sample()["i"]
    newest = (idx >= n - 24).float().mean().item()
    # 49.5 % drawn from the newest day, plus the stratified part's 1/40 of its own 50.5 %
    assert newest == pytest.approx(0.495 + 0.505 / 40, abs=0.03)
    counts = torch.bincount(idx[round(0.495 * 2000) :] % 24, minlength=24).float()
    assert counts.min() > 0.6 * counts.mean()  # each hour ≈ 1/24 of the stratified part


@pytest.mark.slow  # the quick training (≈ 45 s on a loaded 2-core host), shared
def test_quick_policy_without_safety_beats_hold_on_held_out_days(quick_method, days) -> None:
    from dispatchlab.learning.methods.seed001.compare import hold_action

    env = make_day_env(CFG, days.heldout[:8], noise=False)
    learned = [play(env, quick_method.policy(), d) for d in days.heldout[:8]]
    hold = [play(env, lambda e, o: hold_action(e), d) for d in days.heldout[:8]]
    assert np.mean([c for c, _ in learned]) < np.mean([c for c, _ in hold]) - 500.0
    assert np.mean([r for _, r in learned]) > 0.99  # measured 0.999 (hold 0.973 on 24 days)


@pytest.mark.slow  # the quick training (≈ 45 s on a loaded 2-core host), shared
def test_quick_training_stays_in_the_band_at_the_quick_actor_rate(quick_method) -> None:
    # At Table 3's actor rate 1e-4 this run (seed 0) validated at 76 930, −1 878, 20 723,
    # 32 812, 148 709, 29 451, −3 452 (over/under-voltage swings); at the quick budget's 1e-5
    # at −3 436 … −3 834 (the training days' 24-h optimum: −3 949). docs/methods/seed001.md.
    assert CFG.actor_lr == 1e-5 and Seed001Config().actor_lr == 1e-4
    costs = [c for _, c in quick_method.metrics["validation_day_cost"]]
    assert len(costs) == 7  # every 5 days from day 10 (the first update at step 144)
    assert max(costs) < -3_300.0  # no validation leaves the band (at 1e-4: 5 of 7 > 0)
    assert min(costs) < -3_780.0  # measured −3 834; the untrained 10 %-P actor: −3 081


@pytest.mark.slow  # the quick training (≈ 45 s on a loaded 2-core host), shared
def test_checkpoint_round_trip_gives_identical_actions(quick_method, days, tmp_path) -> None:
    path = quick_method.save(tmp_path / "s1.npz")
    again = load_method(path)
    env = make_day_env(CFG, days.test, noise=False)
    obs, _ = env.reset(seed=0, options={"day": days.test[0]})
    for _ in range(3):
        a, b = quick_method.act(obs), again.act(obs)
        for agent in env.possible_agents:
            np.testing.assert_array_equal(a[agent], b[agent])
        obs, *_ = env.step(a)
    with pytest.raises(CheckpointError, match="'seed001', not 'seed001-ddpg'"):
        from dispatchlab.learning.methods.seed001.baselines import load_baseline

        load_baseline(path, "ddpg", env)


def test_a_bad_action_is_repaired_or_falls_back_with_no_delivered_violation(days) -> None:
    from dispatchlab.learning.methods.seed001.compare import play_day
    from dispatchlab.learning.safety import make_safety_layer

    env = make_day_env(CFG, days.test, noise=False)
    layer = make_safety_layer("voltage-control", env)

    def flood(env, obs):  # every device at its P and Q maximum: over-voltage all day
        return {a: env.action_space(a).high for a in env.possible_agents}

    row = play_day(env, flood, days.test[0], layer)
    assert row["band_steps_raw"] >= 20  # the proposal leaves the band most hours
    assert row["repairs"] + row["fallbacks"] == 24
    assert row["violation_steps"] == 0 and row["compliance"] == 1.0
    unsafe = play_day(env, flood, days.test[0])
    assert unsafe["compliance"] < 0.9 and unsafe["violation_steps"] >= 20


@pytest.mark.slow  # the quick training (≈ 45 s on a loaded 2-core host), shared
def test_cli_compare_runs_and_rejects_unknown_policy_and_day(quick_method, tmp_path) -> None:
    from dispatchlab.cli import app

    path = quick_method.save(tmp_path / "s1.npz")
    runner = CliRunner()
    out = tmp_path / "days.csv"
    res = runner.invoke(app, ["compare", "seed001", str(path), "--policies",
                              "learned,exact-day,hold", "--no-safety", "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    import pandas as pd

    table = pd.read_csv(out)
    exact = table[table["policy"] == "exact-day"].iloc[0]
    assert exact["gap_pct"] == 0.0 and exact["compliance"] == 1.0
    assert table.loc[table["policy"] == "hold", "gap_pct"].iloc[0] > 5.0
    bad = runner.invoke(app, ["compare", "seed001", str(path), "--policies", "learned,oops"])
    assert bad.exit_code == 2 and "exact-step" in bad.output
    bad = runner.invoke(app, ["compare", "seed001", str(path), "--days", "2016-05-05"])
    assert bad.exit_code == 2 and "2016-05-05" in bad.output
    bad = runner.invoke(app, ["train", "seed001", "--quick", "--set", "nope=1"])
    assert bad.exit_code == 2 and "tau" in bad.output


def test_a_diverged_power_flow_names_step_and_day(days) -> None:
    from dispatchlab.learning.methods.seed001.compare import play_day

    env = make_day_env(CFG, days.test, noise=False)

    def sink(env, obs):  # no P and every device at its Q minimum: the sweep does not converge
        return {a: env.action_space(a).low for a in env.possible_agents}

    with pytest.raises(RuntimeError, match=f"diverged at step 0 of day {days.test[0]}"):
        play_day(env, sink, days.test[0])
    # through the safety layer the same proposal is an infinite violation: repaired, not raised
    from dispatchlab.learning.safety import make_safety_layer

    row = play_day(env, sink, days.test[0], make_safety_layer("voltage-control", env))
    assert row["band_steps_raw"] == 24 and row["repairs"] + row["fallbacks"] == 24
    assert row["violation_steps"] == 0 and row["compliance"] == 1.0


@pytest.mark.slow  # the quick training, shared
def test_evaluate_plays_the_checkpoint_on_its_case_only(quick_method, tmp_path) -> None:
    from dispatchlab.learning.envs import make_env
    from dispatchlab.learning.policies import load_policy

    path = quick_method.save(tmp_path / "s1.npz")
    policy = load_policy(path, "voltage-control")
    env = make_env("voltage-control", case="ieee33-seed001-mw")
    obs, _ = env.reset(seed=0)
    assert set(policy(env, obs)) == set(env.possible_agents)
    other = make_env("voltage-control")  # ieee33-seed001, the kW reading
    obs, _ = other.reset(seed=0)
    with pytest.raises(CheckpointError, match=r"'ieee33-seed001-mw'.*'ieee33-seed001'"):
        policy(other, obs)


def test_leaderboard_rows_come_from_the_committed_compare_output(tmp_path) -> None:
    from pathlib import Path

    import pandas as pd

    from dispatchlab.learning.leaderboard import COLUMNS
    from dispatchlab.learning.methods.seed001.leaderboard import COMPARE_CSV, leaderboard_rows

    # a synthetic compare output in bench_seed001_compare.py's columns: 2 seeds x 2 days of
    # "learned" (shielded), 2 days of "hold" (unshielded), plus rows the board must drop
    base = {"case": "ieee33-seed001-mw", "variant": "full", "safety": True, "fallbacks": 0.0}
    rows = [
        {"policy": "learned", "seed": 0, "day": "d1", "gap_pct": 1.0, "repairs": 3.0,
         "violation_steps": 0.0, "decision_ms": 10.0, "train_s": 30.0},
        {"policy": "learned", "seed": 0, "day": "d2", "gap_pct": 2.0, "repairs": 1.0,
         "violation_steps": 0.0, "decision_ms": 20.0, "train_s": 30.0},
        {"policy": "learned", "seed": 1, "day": "d1", "gap_pct": 3.0, "repairs": 0.0,
         "violation_steps": 1.0, "decision_ms": 30.0, "train_s": 50.0, "fallbacks": 2.0},
        {"policy": "learned", "seed": 1, "day": "d2", "gap_pct": 10.0, "repairs": 4.0,
         "violation_steps": 0.0, "decision_ms": 40.0, "train_s": 50.0},
        {"policy": "hold", "seed": -1, "day": "d1", "gap_pct": 50.0, "repairs": 0.0,
         "violation_steps": 7.0, "decision_ms": 0.5, "train_s": None},
        {"policy": "hold", "seed": -1, "day": "d2", "gap_pct": 70.0, "repairs": 0.0,
         "violation_steps": 5.0, "decision_ms": 1.5, "train_s": None},
        # dropped: another case, an ablation, the learned policy played without the layer
        {"policy": "learned", "seed": 0, "day": "d1", "gap_pct": 99.0, "case": "ieee33-seed001"},
        {"policy": "learned", "seed": 0, "day": "d1", "gap_pct": 99.0, "variant": "no-replay"},
        {"policy": "learned", "seed": 0, "day": "d1", "gap_pct": 99.0, "safety": False},
    ]  # fmt: skip
    frame = pd.DataFrame([{**base, "repairs": 0.0, "violation_steps": 0.0, "decision_ms": 1.0,
                           "train_s": None, **r} for r in rows])  # fmt: skip
    frame.to_csv(tmp_path / COMPARE_CSV, index=False)
    board = leaderboard_rows(tmp_path)
    assert tuple(board.columns) == COLUMNS and list(board["policy"]) == ["learned", "hold"]
    learned, hold = (board.set_index("policy").loc[p] for p in ("learned", "hold"))
    assert (learned["seeds"], learned["days"], hold["seeds"], hold["days"]) == (2, 2, 1, 2)
    assert learned["gap_pct_mean"] == pytest.approx(4.0)  # (1 + 2 + 3 + 10) / 4
    assert learned["gap_pct_p99"] == pytest.approx(3.0 + 0.97 * 7.0)  # linear, rank 2.97
    assert learned["gap_pct_max"] == 10.0 and hold["gap_pct_max"] == 70.0
    assert (learned["repairs"], learned["fallbacks"], learned["violations_delivered"]) == (8, 2, 1)
    assert learned["violation_steps_raw"] == 10  # shielded: repairs + fallbacks
    assert (hold["violation_steps_raw"], hold["violations_delivered"], hold["repairs"]) == (
        12,
        12,
        0,
    )
    assert learned["decision_ms"] == pytest.approx(25.0) and hold["decision_ms"] == 1.0
    assert learned["train_s"] == pytest.approx(40.0) and np.isnan(hold["train_s"])
    assert (learned["method"], learned["env"], learned["counterpart"]) == (
        "seed001", "voltage-control", "exact-day")  # fmt: skip

    # the committed output, whatever its numbers: one row per policy, the counterpart's gap 0
    committed = leaderboard_rows(Path(__file__).parents[2] / "docs" / "benchmarks")
    assert tuple(committed.columns) == COLUMNS
    committed = committed.set_index("policy")
    assert set(committed.index) >= {"learned", "maddpg", "ddpg", "masac", "grpo", "exact-step",
                                    "exact-day", "hold", "random"}  # fmt: skip
    assert committed.loc["exact-day", "gap_pct_max"] == 0.0


def test_grpo_advantages_are_group_normalized_rewards_to_go() -> None:
    from dispatchlab.learning.agents.grpo import GRPOConfig, group_advantages

    rewards = np.array([[1.0, 3.0], [0.0, 0.0], [2.0, 0.0]])  # (T = 3 steps, G = 2 rollouts)
    adv = group_advantages(rewards)
    # per step (r − mean) / std: [−1, 1], [0, 0], [1, −1]; summed from each step to the end
    np.testing.assert_allclose(adv, [[0.0, 0.0], [1.0, -1.0], [1.0, -1.0]])
    with pytest.raises(ValueError, match="group_size must be ≥ 2"):
        GRPOConfig(group_size=1)


def test_env_cost_and_solver_terms_share_one_loss_coefficient(days) -> None:
    """The env charges c_loss per p.u. of loss (10 MVA base), the distflow objective per MW:
    with ``coefficients(env)`` a day's summed env step costs equal ``seed001_terms``' total
    (the online fluctuation term sums to the paper's exactly), loss term included."""
    from dispatchlab.learning.methods.seed001.compare import coefficients, hold_action
    from dispatchlab.solvers.distribution.objectives import seed001_terms

    env = make_day_env(CFG, days.test, noise=False)
    assert coefficients(env)["c_loss"] == pytest.approx(44.0 / 10.0)
    env.reset(seed=0, options={"day": days.test[0]})
    cost, vms, loss_mw = 0.0, [], []
    while env.agents:
        *_, infos = env.step(hold_action(env))
        metrics = next(iter(infos.values()))["metrics"]
        cost += metrics["cost"]
        vms.append(env.core.vm[0].copy())
        loss_mw.append(metrics["loss_mw"])
    terms = seed001_terms(np.array(vms), np.array(loss_mw), coefficients=coefficients(env))
    assert terms["total"] == pytest.approx(cost, rel=1e-9)
    assert terms["loss_cost"] == pytest.approx(4.4 * sum(loss_mw)) and terms["loss_cost"] > 1.0
