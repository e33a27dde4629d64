"""seed004 (DGCN + MASRL): the adjacency gate, the KL mask, the penalty update, a quick-trained
policy against hold, the safety layer, checkpoints, the CLI and bad input — with numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dispatchlab as dl
from dispatchlab.learning.envs.transmission.env import TransmissionDispatchEnv
from dispatchlab.learning.methods.seed004 import graph
from dispatchlab.learning.methods.seed004.config import Seed004Config
from dispatchlab.learning.methods.seed004.masrl import AdaptivePenalties, TaskMask, masked_kl


@pytest.fixture(scope="module")
def case():
    return dl.load_case("ieee30-seed004")


@pytest.fixture(scope="module")
def system(case):
    return TransmissionDispatchEnv(case=case).engine.sys


def test_physical_graph_and_areas(case) -> None:
    conn, z = graph.connectivity(case), graph.electrical_distance(case)
    a = graph.physical_adjacency(case)
    assert conn.sum() == 82  # 41 branches, no parallel pair in case30
    assert np.allclose(a, a.T) and np.all(np.diag(z) < 1e-12) and z.min() >= 0
    # exp(−Z/median Z) over the branches: the median branch has weight e^-1
    assert np.median(a[conn > 0]) == pytest.approx(np.exp(-1.0), rel=1e-6)
    assert graph.topology_consistency(a, conn) == pytest.approx(1.0)
    areas = graph.regional_areas(case)
    assert areas.value_counts().sort_index().tolist() == [11, 10, 9]
    assert areas[1] == 1 and areas[30] == 3


def _history(system, loading=1.2, margin=-0.5, ramp_pu=0.25, lookback=8) -> torch.Tensor:
    from dispatchlab.learning.envs.transmission.obs import STATE_LAYOUT

    sl, start = {}, 0
    for name, size in STATE_LAYOUT:
        sl[name], start = slice(start, start + size), start + size
    h = torch.zeros(1, lookback, start)
    h[0, -1, sl["line_loading"]] = torch.linspace(0, loading, 41)
    h[0, -1, sl["reserve_margin"]] = torch.tensor([0.2, margin])
    h[0, -1, sl["wind_realized_pu"]] = ramp_pu  # each plant +ramp_pu of capacity in 1 h
    return h


def test_adjacency_gate_and_plausibility(case, system) -> None:
    cfg = Seed004Config(graph_hidden=8, lookback=8)
    dist, a_phys = graph.electrical_distance(case), graph.physical_adjacency(case)
    dgcn = graph.DGCN(system, a_phys, dist, cfg)
    hist = _history(system)
    z = dgcn.stresses(hist)[0].tolist()
    # max loading 1.2, reserve shortage 0.5, ramp 0.25 × 138 MW of wind = 34.5 MW (/100)
    assert z == pytest.approx([1.2, 0.5, 0.345], rel=1e-5)
    with torch.no_grad():
        dgcn.gate.weight.copy_(torch.tensor([[1.0, 2.0, 0.0]]))
        dgcn.gate.bias.fill_(-2.2)  # σ(1.2 + 1.0 − 2.2) = σ(0) = 0.5
        adj = dgcn.adjacency(hist)[0]
        r = dgcn.residual_matrix()
    assert torch.allclose(adj, torch.as_tensor(a_phys, dtype=torch.float32) + 0.5 * r, atol=1e-6)
    calm = _history(system, loading=0.0, margin=0.5, ramp_pu=0.0)
    with torch.no_grad():  # no stress: gate σ(−2.2) = 0.0998
        calm_adj = dgcn.adjacency(calm)[0]
    expected = torch.as_tensor(a_phys, dtype=torch.float32) + torch.sigmoid(torch.tensor(-2.2)) * r
    assert torch.allclose(calm_adj, expected, atol=1e-6)
    pen = float(dgcn.plausibility(adj[None]))
    ref = float(((0.5 * r) ** 2 * dgcn.dist_weight).mean())
    assert pen == pytest.approx(ref, rel=1e-6) and pen > 0
    off = graph.DGCN(system, a_phys, dist, cfg.replace(residual_graph=False))
    assert float(off.plausibility(off.adjacency(hist))) == 0.0
    emb, _ = off(hist)
    assert emb.shape == (1, 30, 8)


def test_masked_kl_numbers() -> None:
    mu = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.0, 2.0]]])  # 3 units, reserve head
    full = torch.ones(1, 3, 3, dtype=torch.bool)
    # KL = ‖Δμ‖²/2σ² with σ = 0.5: pairs (0,1) 4, (0,2) 8, (1,2) 4 → mean over 6 ordered pairs
    assert float(masked_kl(mu, full, 0.5)) == pytest.approx((4 + 8 + 4) * 2 / 6)
    only01 = torch.zeros(1, 3, 3, dtype=torch.bool)
    only01[0, 0, 1] = only01[0, 1, 0] = True
    assert float(masked_kl(mu, only01, 0.5)) == pytest.approx(4.0)
    assert float(masked_kl(mu, torch.zeros_like(full), 0.5)) == 0.0


def test_task_mask_is_event_triggered(case, system) -> None:
    areas = graph.regional_areas(case).to_numpy()
    mask = TaskMask(system, areas, Seed004Config())
    calm = (np.zeros((1, 41)), np.full((1, 2), 0.5), np.array([5.0]))
    m0 = mask(*calm)[0]
    unit_area = areas[system.gen_bus]  # units at buses 1, 2, 22, 27, 23, 13
    assert np.array_equal(m0, unit_area[:, None] == unit_area[None, :])
    assert mask.updates == 1
    mask(*calm)
    assert mask.updates == 1  # same events: the mask is kept
    ramp = (np.zeros((1, 41)), np.full((1, 2), 0.5), np.array([25.0]))  # > 18 MW
    assert mask(*ramp)[0].all() and mask.updates == 2
    line = int(np.argmax(np.abs(system.ptdf[:, system.gen_bus]).sum(1)))
    loading = np.zeros((1, 41))
    loading[0, line] = 0.95  # a corridor event on the most sensitive line
    m = mask(loading, np.full((1, 2), 0.5), np.array([5.0]))[0]
    sens = np.abs(system.ptdf[line, system.gen_bus]) >= 0.1
    assert np.array_equal(m, m0 | (sens[:, None] & sens[None, :])) and mask.updates == 3


def test_adaptive_penalty_update() -> None:
    env_w = {"line_overload_mw": 18.0, "reserve_shortfall_mw": 10.0, "ramp_mw": 10.0}
    pen = AdaptivePenalties(env_w, Seed004Config())
    w = pen.update({"line_overload_mw": 0.013, "reserve_shortfall_mw": 0.0, "ramp_mw": 0.01})
    # 18 (1 + 0.05 (0.013 − 0.003)/(0.003 + 0.001)) = 20.25; 10 (1 − 0.05 · 0.01/0.011)
    assert w["line_overload_mw"] == pytest.approx(20.25)
    assert w["reserve_shortfall_mw"] == pytest.approx(10.0 * (1 - 0.05 * 0.01 / 0.011))
    assert w["ramp_mw"] == pytest.approx(10.0)  # at its target rate
    for _ in range(200):
        w = pen.update({"line_overload_mw": 1.0, "reserve_shortfall_mw": 0.0, "ramp_mw": 0.01})
    assert w["line_overload_mw"] == pytest.approx(72.0)  # 4 × the env's weight, the bound
    shaped = pen.shaped(np.array([-5.0]), {"line_overload_mw": np.array([0.5]),
                                            "reserve_shortfall_mw": np.array([0.0]),
                                            "ramp_mw": np.array([0.0])})  # fmt: skip
    assert shaped[0] == pytest.approx(-5.0 + (18.0 - 72.0) * 0.5)
    fixed = AdaptivePenalties(env_w, Seed004Config(adaptive_penalties=False))
    assert fixed.update({k: 1.0 for k in env_w}) == env_w


def test_perfect_foresight_day(case) -> None:
    from dispatchlab.learning.methods.seed004.foresight import perfect_foresight

    env = TransmissionDispatchEnv(case=case, split="test")
    pf = perfect_foresight(env.engine, 75)
    assert pf["status"] == "optimal"
    assert pf["objective_usd"] == pytest.approx(145_703.0, rel=1e-4)
    p = pf["gen_p_mw"]
    ramp = env.engine.sys.ramp_up[:, None]
    assert p.shape == (6, 96) and np.all(np.abs(np.diff(p, axis=1)) <= ramp + 1e-6)


def test_split_and_config_errors(case) -> None:
    from dispatchlab.learning.methods.seed004.compare import CompareConfig, split_days

    class _T:  # split_days reads only the trainer's case
        pass

    t = _T()
    t.case = case
    assert split_days(t, "test") == list(range(75, 90))
    with pytest.raises(ValueError, match="split 'validation' has no days"):
        split_days(t, "validation", (90, 0, 0))
    with pytest.raises(ValueError, match="unknown policies \\['qmx'\\]; valid: learned"):
        CompareConfig(policies=("learned", "qmx"))
    with pytest.raises(ValueError, match="temporal_kernel must be odd"):
        Seed004Config(temporal_kernel=2)


def _write_seed004_compare(results_dir) -> None:
    """A synthetic compare output in bench_seed004_compare.py's columns and runs json."""
    import json

    import pandas as pd

    cols = ["policy", "seed", "day", "cost_usd", "gap_pct", "violation_steps", "repairs",
            "fallbacks", "decision_ms", "train_s"]  # fmt: skip
    nan = float("nan")
    table = pd.DataFrame(
        [
            ("learned", 0, 75, 110.0, 10.0, 0, 96.0, 0.0, 100.0, 180.0),
            ("learned", 0, 76, 102.0, 2.0, 0, 90.0, 2.0, 120.0, 180.0),
            ("learned", 1, 75, 104.0, 4.0, 1, 80.0, 0.0, 110.0, 80.0),
            ("learned", 1, 76, 108.0, 8.0, 0, 70.0, 1.0, 130.0, 80.0),
            ("learned-raw", 0, 75, 99.0, -1.0, 5, 0.0, 0.0, 1.0, 180.0),
            ("abl-no-KL", 0, 75, 120.0, 20.0, 0, 40.0, 3.0, 90.0, nan),
            ("maddpg", 0, 75, 150.0, 50.0, 9, nan, nan, 2.0, 12.0),
            ("maddpg", 0, 76, nan, nan, 0, nan, nan, 2.0, 12.0),  # diverged: dropped
            ("perfect", -1, 75, 100.0, 0.0, 0, nan, nan, 5.0, nan),  # the counterpart
        ],
        columns=cols,
    )
    table.to_csv(results_dir / "seed004_compare.csv", index=False)
    runs = {"train_s": {"learned": 130.0, "learned-raw": 130.0},
            "runs": [{"seed": 0, "train_s_abl-no-KL": 20.0}]}  # fmt: skip
    (results_dir / "seed004_compare_runs.json").write_text(json.dumps(runs))


def test_leaderboard_rows_come_from_the_committed_compare_output(tmp_path) -> None:
    from pathlib import Path

    import pandas as pd

    from dispatchlab.learning.leaderboard import COLUMNS
    from dispatchlab.learning.methods.seed004.leaderboard import leaderboard_rows

    _write_seed004_compare(tmp_path)
    board = leaderboard_rows(tmp_path)  # no seed004_privacy_days.csv: no federated rows
    assert tuple(board.columns) == COLUMNS
    assert list(board["policy"]) == ["learned", "learned-raw", "abl-no-KL", "maddpg"]
    rows = board.set_index("policy")
    learned, raw, abl, maddpg = (rows.loc[p] for p in rows.index)
    assert (learned["seeds"], learned["days"], maddpg["days"]) == (2, 2, 1)
    assert learned["gap_pct_mean"] == pytest.approx(6.0)  # (10 + 2 + 4 + 8) / 4
    assert learned["gap_pct_p99"] == pytest.approx(8.0 + 0.97 * 2.0)  # linear, rank 2.97
    assert learned["gap_pct_max"] == 10.0 and raw["gap_pct_max"] == -1.0
    # learned and the ablation are shielded (raw = repairs + fallbacks), learned-raw is not
    assert (learned["repairs"], learned["fallbacks"]) == (336, 3)
    assert (learned["violation_steps_raw"], learned["violations_delivered"]) == (339, 1)
    assert (raw["violation_steps_raw"], raw["violations_delivered"]) == (5, 5)
    assert (abl["violation_steps_raw"], maddpg["violation_steps_raw"]) == (43, 9)
    assert learned["decision_ms"] == pytest.approx(115.0)
    # training time: the runs json wins over the table's column; ablations come from "runs"
    assert (learned["train_s"], abl["train_s"], maddpg["train_s"]) == (130.0, 20.0, 12.0)
    # with the privacy study's output beside it, the federated agents' rows are appended
    fed = {"policy": "federated ε=∞", "seed": 0, "day": 75, "gap_pct": 3.0,
           "violation_steps": 0, "decision_ms": 1.0, "train_s": 9.0}  # fmt: skip
    pd.DataFrame([fed]).to_csv(tmp_path / "seed004_privacy_days.csv", index=False)
    board = leaderboard_rows(tmp_path)
    assert list(board["policy"])[4:] == ["federated ε=∞"]
    assert board["gap_pct_mean"].iloc[4] == 3.0

    # the committed output, whatever its numbers
    docs = Path(__file__).resolve().parents[2] / "docs" / "benchmarks"
    committed = leaderboard_rows(docs)
    assert tuple(committed.columns) == COLUMNS
    committed = committed.set_index("policy")
    assert {"learned", "learned-raw", "lookahead", "oracle", "abl-no-KL"} <= set(committed.index)
    assert "perfect" not in committed.index  # the counterpart itself
    learned = committed.loc["learned"]
    assert learned["violation_steps_raw"] == learned["repairs"] + learned["fallbacks"]
    board = pd.read_csv(docs / "leaderboard.csv")
    assert len(board[board["method"] == "seed004"]) == len(committed)
