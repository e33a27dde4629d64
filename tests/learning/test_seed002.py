"""seed002 (issue 17): the PNN on a hand-made set, the rule masks on chosen states, the
sensitivity step on a chosen violation, a quick-trained policy against hold and random on the
held-out stress days (no safety layer), the Hamming-2 safety layer with bad actions, the
paired tests and the checkpoint round trip."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from dispatchlab.learning.checkpoint import CheckpointError
from dispatchlab.learning.envs import make_env
from dispatchlab.learning.envs.voltage.stress import hold_policy, stress_config
from dispatchlab.learning.methods.seed002.compare import CompareConfig, compare
from dispatchlab.learning.methods.seed002.config import Seed002Config
from dispatchlab.learning.methods.seed002.method import load_method, train
from dispatchlab.learning.methods.seed002.pnn import PNN, ParzenRegressor
from dispatchlab.learning.methods.seed002.regulation import SensitivityRegulator
from dispatchlab.learning.methods.seed002.rules import (
    HOLD,
    LOWER,
    RAISE,
    action_masks,
    device_buses,
    joint_size,
    one_per_feeder,
)
from dispatchlab.learning.methods.seed002.stats import holm, paired_tests
from dispatchlab.learning.safety.voltage_discrete import DiscreteVoltageSafetyLayer, hamming_ball

DAY = "2016-03-28"


def _env(**options):
    cfg = stress_config(svg_mode="continuous", dt_h=1.0, **options)
    return make_env("voltage-control-discrete", config=cfg)


def _at_hour(env, hour: int):
    env.reset(seed=0, options={"day": DAY})
    for _ in range(hour):
        env.step(hold_policy(env))
    return env.core


def test_pnn_on_a_hand_made_set() -> None:
    x = np.array([[0.0, 0.0], [0.0, 1.0], [2.0, 2.0], [2.0, 3.0]])
    pnn = PNN(2, 3, sigma=1.0)
    pnn.add(x, [0, 0, 1, 1])
    z = (x - x.mean(0)) / x.std(0)  # standardized with the first batch
    q = np.array([[1.0, 1.5]])
    zq = (q - x.mean(0)) / x.std(0)
    logk = -((zq - z) ** 2).sum(1) / 2.0
    want = np.exp([logsumexp(logk[:2]), logsumexp(logk[2:])])
    p = pnn.predict_proba(q)
    np.testing.assert_allclose(p[0, :2], want / want.sum(), rtol=1e-12)
    assert p[0, 2] == 0.0 and p[0, 0] == pytest.approx(0.5, abs=1e-12)  # the midpoint
    assert pnn.predict(np.array([[0.1, 0.2], [2.1, 2.9]])).tolist() == [0, 1]
    sharp = PNN(2, 3, sigma=0.1)  # the paper's σ: kernels underflow, the log domain does not
    sharp.add(x, [0, 0, 1, 2])
    np.testing.assert_allclose(sharp.predict_proba([[2.0, 2.9]]), [[0, 0, 1]], atol=1e-12)
    assert np.allclose(PNN(2, 3).predict_proba([[0, 0]]), 1 / 3)  # no patterns: uniform
    with pytest.raises(ValueError, match="PNN state has width 3, the PNN was built for width 2"):
        pnn.predict_proba(np.zeros((1, 3)))
    reg = ParzenRegressor(2, sigma=0.1)
    reg.add(x, x[:, :1] * 10)
    np.testing.assert_allclose(reg.predict([[2.0, 2.9]]), [[20.0]], atol=1e-9)


def test_rule_masks_on_chosen_states() -> None:
    env = _env()
    core = _at_hour(env, 12)  # 11:00 played: the DGs lift bus 17 to 1.057 p.u.
    cfg = Seed002Config(in_band_moves="paper")
    assert device_buses(core).tolist() == [1, 9, 11, 28]  # bus ids 2, 10, 12, 29
    pos = np.array([[5, 2, 2, 2, 6]])
    vm, head = core.last["vm"].copy(), core.last["head"]
    high = action_masks(core, vm, head, pos, cfg)[0]
    # voltage high: lower where the device's indicator > 0.3 — all four are (0.91…1.05)
    assert high[:, LOWER].all() and high[:, HOLD].all() and not high[:, RAISE].any()
    low_vm = np.full_like(vm, 0.96)
    low_vm[:, 17] = 0.94  # bus 18 below the band, the devices' buses at u = 0.056 < 0.7
    low = action_masks(core, low_vm, head, pos, cfg)[0]
    assert low[:, RAISE].all() and not low[:, LOWER].any()
    ok = action_masks(core, np.full_like(vm, 1.0), np.array([1 + 0.1j]), pos, cfg)[0]
    assert ok.tolist() == [[False, True, False]] * 4  # in band, pf 0.995: hold only
    lagging = action_masks(core, np.full_like(vm, 1.0), np.array([1 + 0.6j]), pos, cfg)[0]
    assert lagging[1:, RAISE].all() and not lagging[0, RAISE]  # pf 0.86 < 0.9: capacitors on
    edge = action_masks(core, vm, head, np.array([[10, 0, 0, 0, 6]]), cfg)[0]
    assert not edge[:, LOWER].any()  # ratio 1.025 and capacitors off: nothing left to lower
    # one device per feeder: cb10 and cb12 share the main feeder, the likelier mover stays
    moves = one_per_feeder(
        np.array([[LOWER, LOWER, LOWER, LOWER]]), np.array([[0.9, 0.6, 0.8, 0.7]]),
        ["oltc", "cb10", "cb12", "cb29"], cfg.feeders,
    )  # fmt: skip
    assert moves.tolist() == [[LOWER, HOLD, LOWER, LOWER]]
    # 4 devices × 3 moves = 81 joint moves; high voltage + one per feeder: 2·3·2 = 12 remain
    full = action_masks(core, vm, head, pos, cfg.replace(use_rules=False))
    assert joint_size(full, ["oltc", "cb10", "cb12", "cb29"])[0] == 81
    assert joint_size(high[None], ["oltc", "cb10", "cb12", "cb29"], cfg.feeders)[0] == 12


def test_headroom_rule_admits_in_band_moves_that_keep_the_band() -> None:
    core = _at_hour(_env(), 12)
    reg = SensitivityRegulator(core, margin_pu=0.005)
    pos, head = np.array([[5, 2, 2, 2, 6]]), np.array([1 + 0.1j])  # ratio 1.0, 0.06 Mvar stages
    paper, ours = Seed002Config(in_band_moves="paper"), Seed002Config()  # ours: "headroom"
    vm = np.full_like(core.last["vm"], 1.04)
    vm[:, 0] = 1.05  # the source: above the 1.045 perception edge, but no device's to move
    assert action_masks(core, vm, head, pos, paper, reg)[0].tolist() == [[False, True, False]] * 4
    m = action_masks(core, vm, head, pos, ours, reg)[0]
    # OLTC RAISE (ratio 1.0 → 0.995) predicts 1.04 / 0.995 = 1.0452 > 1.045: not admitted; a
    # capacitor stage (+0.03 Mvar) lifts the buses by ≤ 0.0008 p.u. and stays in band
    assert reg.predict(vm[0], pos[0], np.array([4, 2, 2, 2, 6]))[1] == pytest.approx(
        1.04523, abs=1e-5
    )
    assert m.tolist() == [[True, True, False]] + [[True, True, True]] * 3
    vm[:, 1:] = 0.958  # OLTC LOWER predicts 0.958 / 1.005 = 0.9532 < 0.955: not admitted
    m = action_masks(core, vm, head, pos, ours, reg)[0]
    assert m.tolist() == [[False, True, True]] + [[True, True, True]] * 3
    vm[:, 17] = 0.94  # a bus below the band: the paper's rules alone (RAISE where u < 0.7)
    assert (
        action_masks(core, vm, head, pos, ours, reg) == action_masks(core, vm, head, pos, paper)
    ).all()
    with pytest.raises(ValueError, match="in_band_moves must be 'paper' or 'headroom'"):
        Seed002Config(in_band_moves="always")


def test_sensitivity_step_removes_a_chosen_over_voltage() -> None:
    core = _at_hour(_env(), 12)
    reg = SensitivityRegulator(core, margin_pu=0.005)
    q = reg.svg_mvar(core.last["vm"][0], core.pos[0], core.pos[0], 0.0)
    assert q == -0.3  # S_VQ⁻¹ ΔV asks for more absorption than the SVG has: clipped
    before = core.evaluate_now(core.pos[0], svg=np.array([0.0]))["voltage_band_pu"][0]
    after = core.evaluate_now(core.pos[0], svg=np.array([q]))["voltage_band_pu"][0]
    assert before == pytest.approx(0.0332, abs=2e-4) and after == pytest.approx(2.0e-4, abs=1e-4)
    col = reg.matrix(core.pos[0])[:, core.flow.position(15)]
    assert col[core.flow.position(15)] == pytest.approx(0.0420, abs=5e-4)  # p.u. per Mvar
    # in the band the SVG returns towards 0 Mvar as far as every bus allows
    assert reg.svg_mvar(np.full(33, 1.0), core.pos[0], core.pos[0], 0.2) == 0.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("seed002") / "run0.npz"
    return train(Seed002Config.quick(), log=None).save(path)


def test_quick_policy_beats_hold_and_random_on_held_out_stress_days(trained) -> None:
    method = load_method(trained)
    assert set(method.config.train_days).isdisjoint(stress_config().profiles.days)
    table = compare([method], CompareConfig(policies=("learned", "hold", "random")))
    mean = table.groupby("policy")[["qualification_rate", "cost", "avg_deviation_pu"]].mean()
    assert mean.loc["learned", "qualification_rate"] > mean.loc["hold", "qualification_rate"]
    assert mean.loc["learned", "cost"] < 0.9 * mean.loc["hold", "cost"]
    assert mean.loc["learned", "cost"] < mean.loc["random", "cost"]
    assert mean.loc["hold", "qualification_rate"] == pytest.approx(0.9167, abs=1e-3)
    learned = table[table["policy"] == "learned"]
    # the rules remove a third or more of the joint moves (0.34–0.49 measured; the paper's
    # rules alone, without the in-band headroom moves, > 0.5)
    assert (learned["share_removed"] > 0.3).all()
    assert learned["voltage_mae_pu"].mean() < 0.02


def test_checkpoint_round_trip_and_mismatches(trained, tmp_path) -> None:
    method = load_method(trained)
    env = _env()
    env.reset(seed=0, options={"day": 0})
    a = method.act(env)
    again = load_method(method.save(tmp_path / "copy.npz"))
    b = again.act(env)
    assert {k: np.ravel(v).tolist() for k, v in a.items()} == {
        k: np.ravel(v).tolist() for k, v in b.items()
    }
    assert again.pnns[0].patterns.x.shape == method.pnns[0].patterns.x.shape
    for bad in ({"svg_mode": "discrete"}, {"svg_mode": "continuous", "observation": "continuous"}):
        other = make_env("voltage-control-discrete", config=stress_config(**bad))
        other.reset(seed=0)
        with pytest.raises(CheckpointError, match=f"trained with {list(bad)[-1]}="):
            method.act(other)


def test_hamming_safety_layer_delivers_no_violation_from_bad_actions() -> None:
    env = _env()
    env.reset(seed=0, options={"day": DAY})
    layer = DiscreteVoltageSafetyLayer(env, neighbourhood="hamming", radius=2)
    assert len(hamming_ball(np.array([5, 2, 2, 2, 6]), env.core.n_options, 2, True)) == 1 + 22 + 168
    rng = np.random.default_rng(1)
    raw = 0
    while env.agents:
        bad = {"oltc": 0, "cb10": 4, "cb12": 4, "cb29": 4, "svg15": np.array([0.3])}
        if rng.random() < 0.5:
            bad = {"oltc": 10, "cb10": 0, "cb12": 0, "cb29": 0, "svg15": np.array([-0.3])}
        raw += layer.verify(bad)["voltage_band_pu"] > 1e-9
        out, _ = layer.filter(bad)
        info = env.step(out)[4]["oltc"]
        assert info["violations"]["voltage_band_pu"] <= 1e-9
    assert raw >= 10 and layer.stats.delivered_violations == 0
    assert layer.stats.repaired + layer.stats.fallbacks == raw


def test_paired_tests_need_two_runs_and_holm() -> None:
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    import pandas as pd

    rows = [
        {"policy": p, "run": r, "day": d, "qualification_rate": q + 0.01 * d}
        for p, r, q in (
            ("learned", 0, 0.99),
            ("learned", 1, 0.98),
            ("hold", -1, 0.88),
            ("dqn", 0, 0.90),
            ("dqn", 1, 0.99),
        )
        for d in range(3)
    ]
    table = pd.DataFrame(rows)
    out = paired_tests(table, metrics=("qualification_rate",)).set_index("counterpart")
    assert out.loc["hold", "diff_mean"] == pytest.approx(0.105) and out.loc["hold", "n_pairs"] == 6
    # the DQN has the same seeds: run r against run r, diffs 0.09 (×3) and −0.01 (×3)
    assert out.loc["dqn", "cohen_dz"] == pytest.approx(0.04 / (0.05 * 1.2**0.5))
    with pytest.raises(ValueError, match=r"paired tests need ≥ 2 runs of 'learned'.*got 1"):
        paired_tests(table[table["run"] != 1], metrics=("qualification_rate",))


def test_cli_train_compare_evaluate(tmp_path) -> None:
    from typer.testing import CliRunner

    from dispatchlab.cli import app

    runner = CliRunner()
    ckpt = tmp_path / "s2.npz"
    res = runner.invoke(
        app, ["train", "seed002", "--quick", "--runs", "2", "-s", "3", "-o", str(ckpt)]
    )
    assert res.exit_code == 0, res.output
    second = tmp_path / "s2-run1.npz"
    assert ckpt.is_file() and second.is_file() and "run 1 (seed 4)" in res.output
    csv = tmp_path / "days.csv"
    res = runner.invoke(
        app,
        ["compare", "seed002", str(ckpt), str(second), "--days", "0,1",
         "--policies", "learned,hold", "-o", str(csv)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "paired tests (Holm-corrected)" in res.output and "qualification_rate" in res.output
    import pandas as pd

    days = pd.read_csv(csv)
    assert len(days) == 2 * 2 + 2 and set(days["policy"]) == {"learned", "hold"}
    bad = runner.invoke(app, ["compare", "seed002", str(ckpt), "--policies", "learned,magic"])
    assert bad.exit_code == 2 and "unknown policies ['magic']" in bad.output
    res = runner.invoke(
        app,
        ["evaluate", "voltage-control-discrete", "--policy", str(ckpt),
         "-o", "svg_mode=continuous", "--max-steps", "3"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    wrong = runner.invoke(
        app, ["evaluate", "voltage-control-discrete", "--policy", str(ckpt), "--max-steps", "2"]
    )
    assert wrong.exit_code == 2 and "svg_mode='continuous'" in wrong.output


def test_dqn_baseline_masks_the_same_joint_moves_and_plays() -> None:
    from dispatchlab.learning.methods.seed002.dqn_baseline import JointDQN, train_dqn

    core = _at_hour(_env(), 12)  # over-voltage: 12 joint moves remain of 81 (rule test)
    core.pos[0, :4] = [5, 2, 2, 2]
    agent = JointDQN(Seed002Config(), 4, 40, np.random.default_rng(0))
    assert agent.joint_mask(core).sum() == 12 and agent.moves.shape == (81, 4)
    dqn = train_dqn(Seed002Config.quick(episodes=8))
    env = _env()
    env.reset(seed=0, options={"day": 1})
    action = dqn.act(env)
    assert set(action) == set(env.possible_agents) and -0.3 <= action["svg15"][0] <= 0.3
    env.step(action)


def test_compare_config_refuses_no_policy_unknown_policy_and_bad_days() -> None:
    with pytest.raises(ValueError, match=r"no policy to play; known: learned"):
        CompareConfig(policies=())
    with pytest.raises(ValueError, match=r"unknown policies \['magic'\]"):
        CompareConfig(policies=("learned", "magic"))
    with pytest.raises(ValueError, match=r"days must be stress-set indices in 0…5, got \(6,\)"):
        CompareConfig(days=(6,))
