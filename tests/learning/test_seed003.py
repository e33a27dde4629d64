"""seed003 end to end: the MCTS-RL partition, DDMM merge/split, leader–follower picks, a short
training that beats random on held-out minutes, checkpoints, the certified compare and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dispatchlab.cases.library import load_case
from dispatchlab.cli import app
from dispatchlab.learning.checkpoint import CheckpointError
from dispatchlab.learning.envs.der_selection.lp import microgrid_zones
from dispatchlab.learning.methods.seed003.compare import CompareConfig, compare, summarize
from dispatchlab.learning.methods.seed003.config import Seed003Config
from dispatchlab.learning.methods.seed003.ddmm import DDMM
from dispatchlab.learning.methods.seed003.method import (
    bus_load_mw,
    load_method,
    partition_case,
    train,
)
from dispatchlab.learning.methods.seed003.mlfacc import MLFACC
from dispatchlab.learning.methods.seed003.partition import (
    feeder_tree,
    partition_quality,
    validate_partition,
)
from dispatchlab.learning.policies import load_policy

QUICK = Seed003Config.quick(episodes=480)
HELD_OUT = [(d, t) for d in (0, 1) for t in (300, 720, 1080)]  # training: days ≥ 10 000


@pytest.fixture(scope="module")
def case():
    return load_case("ieee123-seed003")


@pytest.fixture(scope="module")
def part(case):
    return partition_case(case, QUICK, np.random.default_rng(0))


@pytest.fixture(scope="module")
def tiny():
    """A short A2C run (480 minutes, ~10 s on 2 cores)."""
    return train(QUICK)


def test_partition_six_zones_cover_their_peak_and_beat_ward_on_the_search_reward(case, part):
    labels = validate_partition(case, part["labels"], 6)
    q = part["quality"]
    assert q["zones"] == 6 and q["zones_covered"] == 6
    assert q["capacity_over_peak_min"] == pytest.approx(1.0811, abs=1e-3)  # 4.0 MW of 3.7 MW
    assert np.bincount(labels).tolist() == [9, 37, 13, 9, 37, 25]
    assert q["mcts_reward"] == pytest.approx(1.6385, abs=1e-3)
    ward = microgrid_zones(case, 6, max(3, case.n_buses // 18))
    tree = feeder_tree(case, 1.5 * bus_load_mw(case), QUICK.min_zone_buses)
    ward_q = partition_quality(tree, ward, QUICK)
    assert ward_q["mcts_reward"] == pytest.approx(1.3457, abs=1e-3)
    assert ward_q["zones_covered"] == 6


def test_a_bad_partition_names_the_buses(case, part):
    labels = part["labels"].astype(float)
    labels[[5, 7]] = -1
    bus = case.buses.index.to_numpy()
    with pytest.raises(ValueError, match=rf"bus\(es\) \[{bus[5]}, {bus[7]}\] unassigned"):
        validate_partition(case, labels)
    split = part["labels"].copy()
    leaf = np.flatnonzero(split == split[-1])[-1]  # move one bus into a zone it does not touch
    other = next(z for z in range(6) if z != split[leaf] and len(np.flatnonzero(split == z)) > 1)
    split[leaf] = other
    with pytest.raises(ValueError, match=rf"zone {other} is disconnected: pieces"):
        validate_partition(case, split)


def test_ddmm_merges_on_a_rising_centroid_and_splits_with_hysteresis(case, part):
    nominal = bus_load_mw(case)
    ddmm = DDMM(case, part["labels"], nominal, QUICK)
    tie = 3
    region = ddmm.regions[tie][1]  # the downstream boundary region of tie 3
    merged, sizes = [], []
    for level in (0.95, 1.05, 0.95, 0.85):  # rising, then falling past the split threshold
        load = 0.8 * nominal
        load[region] = level * nominal[region]
        labels = ddmm.step(load)
        validate_partition(case, labels, 6)
        merged.append(bool(ddmm.merged[tie]))
        sizes.append(np.bincount(labels, minlength=6).tolist())
    assert ddmm.lc[tie, 1] == pytest.approx(0.85)
    assert merged == [False, True, True, False]  # 0.95 < 1.0; ≥ 1.0; > 0.9 stays; < 0.9 splits
    assert sizes[0] == sizes[3] == np.bincount(part["labels"]).tolist()
    assert sizes[1] != sizes[0]
    up, down = (int(ddmm.bus_ids[b]) for b in ddmm.ties[tie])
    flags = ddmm.boundary(np.ones(case.n_buses), np.zeros(case.n_buses))
    assert flags.loc[flags["bus_id"] == up, "flag"].item() == "PQ"
    assert flags.loc[flags["bus_id"] == down, "flag"].item() == "PV"
    ddmm.step(np.where(np.isin(np.arange(case.n_buses), region), 1.2 * nominal, 0.8 * nominal))
    flags = ddmm.boundary(np.ones(case.n_buses), np.zeros(case.n_buses))
    assert set(flags.loc[flags["tie"] == tie, "flag"]) == {"coupled"}


def test_leader_follower_picks_never_overlap_and_the_tracing_term_sees_leader_mass():
    torch.manual_seed(0)
    n_der, k = 40, 3
    groups = np.repeat([0, 1, 2, 3], [4, 10, 3, 23])  # a zone of exactly k DERs
    x = torch.randn(n_der, 9)
    dist = torch.rand(n_der, n_der)
    net = MLFACC(9, k, 16)
    gen = torch.Generator().manual_seed(1)
    for _ in range(50):
        out = net.forward_picks(x, groups, dist, greedy=False, generator=gen)
        for z, row in zip(out["zones"], out["picks"], strict=True):
            assert len(set(row.tolist())) == k
            assert set(groups[row]) == {z}
    assert out["logp"].shape == (4, k)
    trace = out["trace"]  # (followers, zones): unmasked probability of earlier picks
    assert trace.shape == (k - 1, 4)
    assert bool(((trace > 0) & (trace < 1)).all())


def test_learned_selector_beats_random_on_held_out_minutes_without_certificate(tiny):
    task = tiny.task()
    rng = np.random.default_rng(0)
    learned, rand = [], []
    for day, minute in HELD_OUT:
        task.reset(day, minute)
        picks, zones = tiny.select(task)
        learned.append(task.reward(picks.ravel())[1])
        g = task.groups
        sel = np.concatenate([rng.choice(np.flatnonzero(g == z), 3, replace=False) for z in zones])
        rand.append(task.reward(sel)[1])
    learned, rand = np.array(learned), np.array(rand)
    assert np.isfinite(learned).all()
    assert learned.mean() < rand.mean() - 0.05  # $/h over the held-out minutes
    bound = task.boundary()  # the last minute's tie ends, tracked by DDMM
    assert len(bound) == 10 and set(bound["flag"]) <= {"PQ", "PV", "coupled"}
    assert bound["vm_pu"].between(0.95, 1.05).all() and (bound["va_deg"].abs() < 10).all()


def test_checkpoint_round_trip_and_refusals(tiny, tmp_path, case):
    path = tiny.save(tmp_path / "s3.npz", case.case_hash())
    back = load_method(path, case=case, zone_of_bus=tiny.labels)
    task = tiny.task()
    task.reset(0, 600)
    assert np.array_equal(back.select(task)[0], tiny.select(task)[0])
    assert back.config == tiny.config
    other = tiny.labels.copy()
    other[other == 5] = 4
    with pytest.raises(CheckpointError, match="trained on partition"):
        load_method(path, zone_of_bus=other)
    with pytest.raises(CheckpointError, match="trained on case hash"):
        load_method(path, case=load_case("ieee33-seed000"))


def test_compare_certifies_every_policy_to_the_full_optimum(tiny):
    cfg = CompareConfig(minutes=2, days=(0,), policies=("mlfacc", "random", "lf-rank", "full"))
    table = compare(tiny, cfg)
    assert len(table) == 8
    assert (table["gap_after_cert"].abs() <= 1e-6).all()
    assert (table["dlmp_err_usd_per_mwh"] <= 1e-6).all()
    summary = summarize(table)
    assert summary.loc["full", "variables_removed_mean"] == 0
    assert summary.loc["random", "variables_removed_mean"] == 222  # 2 × (129 − 18) moves
    assert summary.loc["random", "ders_added_back_mean"] > 0


def test_cli_compare_and_evaluate_run(tiny, tmp_path, case):
    path = tiny.save(tmp_path / "s3.npz", case.case_hash())
    runner = CliRunner()
    out = tmp_path / "minutes.csv"
    res = runner.invoke(
        app,
        ["compare", "seed003", str(path), "--minutes", "1", "--case", "dynamic",
         "--policies", "mlfacc,full", "-o", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "at_optimum_pct" in res.output and out.exists()
    res = runner.invoke(app, ["evaluate", "der-selection", "--policy", str(path)])
    assert res.exit_code == 0, res.output
    policy = load_policy(path, "der-selection")
    assert policy.name == "seed003"
    res = runner.invoke(app, ["compare", "seed003", str(path), "--case", "storm"])
    assert res.exit_code == 2 and "unknown case 'storm'" in res.output


@pytest.mark.slow
def test_cli_train_quick_writes_a_loadable_checkpoint(tmp_path):
    # the < 60 s budget of --quick is a timing: measured by benchmarks, not asserted here
    out = tmp_path / "q.npz"
    res = CliRunner().invoke(app, ["train", "seed003", "--quick", "-o", str(out)])
    assert res.exit_code == 0, res.output
    back = load_method(out)
    assert back.config == Seed003Config.quick()
    assert np.isfinite(back.metrics["train_reward_curve"]).all()


def test_env_zones_settable_per_step_and_bad_labels_refused(tiny):
    task = tiny.task()
    env = task.env
    env.reset(seed=3)
    task.follow(env)
    sizes = {a: len(env.zone_ders[a]) for a in env.possible_agents}
    assert sum(sizes.values()) == 129
    assert env.action_space("mg_0").nvec.tolist() == [sizes["mg_0"]] * 3
    bad = task.labels.copy()
    bad[0] = 6
    with pytest.raises(ValueError, match=r"zone labels must be 0 … 5"):
        env.set_zone_of_bus(bad)
    starved = np.zeros_like(task.labels)
    starved[:2] = [1, 2]
    with pytest.raises(ValueError, match=r"fewer than k=3 DERs"):
        env.set_zone_of_bus(starved)


def test_a_minute_beyond_the_profile_names_both_lengths(tiny):
    task = tiny.task()
    with pytest.raises(ValueError, match=r"minute 1440 outside the profile's 1440 minutes"):
        task.reset(0, 1440)
    with pytest.raises(ValueError, match=r"2000 minutes asked for; the profile has 1440"):
        compare(tiny, CompareConfig(minutes=2000, policies=("full",)), task)
    with pytest.raises(ValueError, match=r"no day to play: days is empty"):
        CompareConfig(days=())
    with pytest.raises(ValueError, match=r"no policy to play; known: mlfacc"):
        CompareConfig(policies=())


def test_leaderboard_rows_come_from_the_committed_compare_output(tmp_path):
    import json
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from dispatchlab.learning.leaderboard import COLUMNS
    from dispatchlab.learning.methods.seed003.leaderboard import leaderboard_rows

    # a synthetic compare output in bench_seed003_compare.py's columns: mlfacc over 2 seeds x
    # 2 (case, day, minute) decisions, the full LP (its own counterpart) on the same 2
    cols = ["policy", "train_seed", "case", "day", "minute", "gap_before_cert",
            "certified_first", "fallback_full_lp", "voltage_violation_pu",
            "flow_violation_mw", "end_to_end_ms"]  # fmt: skip
    table = pd.DataFrame(
        [
            ("mlfacc", 0, "normal", 0, 0, 0.01, 1, 0, 0.0, 0.0, 10.0),
            ("mlfacc", 0, "normal", 0, 5, 0.03, 0, 0, 0.0, 0.0, 20.0),
            ("mlfacc", 1, "normal", 0, 0, 0.00, 0, 1, 0.0, 2e-3, 30.0),
            ("mlfacc", 1, "normal", 0, 5, 0.04, 1, 0, 0.01, 0.0, 40.0),
            ("full", 0, "normal", 0, 0, 0.0, 1, 0, 0.0, 0.0, 15.0),
            ("full", 0, "normal", 0, 5, 0.0, 1, 0, 0.0, 0.0, 25.0),
        ],
        columns=cols,
    )
    table.to_csv(tmp_path / "seed003_compare.csv", index=False)  # read_compare_output's names
    (tmp_path / "seed003_compare_runs.json").write_text(
        json.dumps([{"train_s": 40.0}, {"train_s": 60.0}])
    )
    board = leaderboard_rows(tmp_path)
    assert tuple(board.columns) == COLUMNS and list(board["policy"]) == ["mlfacc", "full"]
    learned, full = (board.set_index("policy").loc[p] for p in ("mlfacc", "full"))
    assert (learned["seeds"], learned["days"], full["seeds"], full["days"]) == (2, 2, 1, 2)
    assert learned["gap_pct_mean"] == pytest.approx(2.0)  # 100 * (1 + 3 + 0 + 4) / 4 %
    assert learned["gap_pct_p99"] == pytest.approx(3.0 + 0.97 * 1.0)  # linear, rank 2.97
    assert learned["gap_pct_max"] == pytest.approx(4.0) and full["gap_pct_max"] == 0.0
    # repairs = decisions not certified first; a fallback is a repair that gave up
    assert (learned["repairs"], learned["fallbacks"], learned["violation_steps_raw"]) == (2, 1, 3)
    assert learned["violations_delivered"] == 2  # the voltage and the flow violation
    assert (full["repairs"], full["violation_steps_raw"], full["violations_delivered"]) == (0, 0, 0)
    assert learned["decision_ms"] == pytest.approx(25.0) and full["decision_ms"] == 20.0
    assert learned["train_s"] == pytest.approx(50.0) and np.isnan(full["train_s"])

    # the committed output, whatever its numbers: one row per policy, the counterpart's gap 0
    docs = Path(__file__).resolve().parents[2] / "docs" / "benchmarks"
    committed = leaderboard_rows(docs)
    assert tuple(committed.columns) == COLUMNS
    committed = committed.set_index("policy")
    assert set(committed.index) >= {"mlfacc", "lf-rank", "random", "oracle-topk", "full"}
    assert committed.loc["full", "gap_pct_max"] == 0.0 and committed.loc["full", "repairs"] == 0


def test_mcts_backup_is_the_q_learning_rule_of_eq_11():
    from dispatchlab.learning.methods.seed003.partition import _backup, _Node

    cfg = QUICK.replace(mcts_alpha=0.5, mcts_gamma=0.9)
    nodes = {(): _Node(), (3,): _Node()}
    path = [((), 3), ((3,), 7)]
    _backup(nodes, path, 2.0, cfg)  # first visit: Q takes the target
    assert nodes[(3,)].q == {7: 2.0} and nodes[()].q == {3: pytest.approx(1.8)}
    _backup(nodes, path, 0.0, cfg)  # Q ← Q + α (r + γ max Q' − Q)
    assert nodes[(3,)].q[7] == pytest.approx(1.0)
    assert nodes[()].q[3] == pytest.approx(1.8 + 0.5 * (0.9 * 1.0 - 1.8))
    assert (nodes[()].n, nodes[()].na[3]) == (2, 2)
