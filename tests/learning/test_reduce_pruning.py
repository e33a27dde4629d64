"""Variable pruning: the reduced-cost certificate rejects wrong fixings, accepts right ones,
repairs to the full optimum; the learned predictor round-trips through a checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dispatchlab import load_case
from dispatchlab.learning.reduce.datasets_ed import (
    HIGHSPY_VERSION,
    EDDatasetConfig,
    apply_point,
    build_dataset,
    point_features,
    resolve_case,
    sample_points,
)
from dispatchlab.learning.reduce.pruning import (
    LPArrays,
    PruningConfig,
    VariablePruning,
    certify,
    reduced_highs,
    repair_solve,
    solve_fixed,
)
from dispatchlab.solvers.persistent import DispatchModel

CASE = "ieee33+ders60"


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("prune") / "ed.parquet"
    return pd.read_parquet(build_dataset(CASE, 40, 0, path))


@pytest.fixture
def three_bus_lp(three_bus):
    # shedding keeps a wrong fixing feasible, so the certificate has prices to check
    dm = DispatchModel(three_bus, "ed", allow_shedding=True)
    full = dm.solve_raw()
    return LPArrays(dm.model), full


def test_certificate_rejects_cheap_generator_fixed_at_zero_and_repairs(three_bus_lp):
    lp, full = three_bus_lp
    assert full.objective == pytest.approx(20.0 * 150.0, rel=1e-12)  # gen 0 (20 $/MWh) serves all
    cheap = lp.model.var_blocks["gen_p_mw"].positions[[0]]
    cfg = PruningConfig()
    wrong = solve_fixed(lp, cheap, np.array([False]), reduced_highs(cfg))
    cert = certify(lp, wrong, cheap, np.array([False]), cfg.tol)
    assert not cert.ok and cert.failing.tolist() == cheap.tolist()
    # gen 1 (100 MW) + 50 MW shed at VOLL set the price; the cheap unit's reduced cost is 20 − λ
    assert cert.violation[0] == pytest.approx(wrong.row_dual[0] - 20.0, rel=1e-9)
    assert wrong.objective > full.objective
    sol, report = repair_solve(lp, cheap, np.array([False]), cfg, reduced_highs(cfg))
    assert (report.predicted, report.missed, report.added_back, report.rounds) == (1, 1, 1, 1)
    assert report.certified and not report.fallback
    assert _rel(sol.objective, full.objective) <= 1e-9


def test_correct_fixing_is_certified_without_resolve(three_bus_lp):
    lp, full = three_bus_lp
    expensive = lp.model.var_blocks["gen_p_mw"].positions[[1]]
    cfg = PruningConfig()
    sol, report = repair_solve(lp, expensive, np.array([False]), cfg, reduced_highs(cfg))
    assert report.certified and report.rounds == 0 and report.missed == 0
    assert _rel(sol.objective, full.objective) <= 1e-9
    assert report.extra["max_primal_violation"] <= 1e-9


def test_worst_repair_unfixes_one_column_per_round(three_bus_lp):
    lp, full = three_bus_lp
    cols = lp.model.var_blocks["gen_p_mw"].positions[[0, 1]]  # both at 0: only shedding is left
    cfg = PruningConfig(repair="worst")
    sol, report = repair_solve(lp, cols, np.array([False, False]), cfg, reduced_highs(cfg))
    assert report.certified and report.added_back == 1 and report.rounds == 1
    assert _rel(sol.objective, full.objective) <= 1e-9


def test_dataset_has_provenance(dataset):
    assert len(dataset) == 40
    assert set(dataset["highspy_version"]) == {HIGHSPY_VERSION}
    assert set(dataset["case_hash"]) == {resolve_case(CASE).case_hash()}
    assert (dataset["objective_usd"] > 0).all()


def test_dataset_schema_metadata(tmp_path):
    path = build_dataset("ieee33+ders10", 3, 1, tmp_path / "m.parquet")
    meta = json.loads(pq.read_schema(path).metadata[b"dispatchlab"])
    assert meta["case_name"] == "ieee33+ders10" and meta["highspy_version"] == HIGHSPY_VERSION
    assert meta["feature_names"][0] == "load_total_mw"


def test_learned_pruning_matches_full_lp_and_round_trips(dataset, tmp_path):
    vp = VariablePruning(PruningConfig(n_neighbors=3)).fit(dataset)
    assert float(vp.arrays["margin"]) >= vp.config.min_margin
    case = resolve_case(CASE)
    pruned, full = vp.attach(case), DispatchModel(case, "ed")
    points = sample_points(full.data, 6, 7, EDDatasetConfig(first_day=300, n_days=60))
    loaded = VariablePruning.load(vp.save(tmp_path / "vp"))
    assert loaded.config == vp.config
    for i in range(6):
        apply_point(pruned, points, i)
        apply_point(full, points, i)
        result = pruned.solve(tables=(i == 5))
        report = result.info["reduction"]
        assert report["certified"] and report["predicted"] > 0
        assert _rel(result.objective, full.solve_raw().objective) <= 1e-9
        a = vp.predict_fixing(pruned.lp, _feat(pruned))
        b = loaded.predict_fixing(pruned.lp, _feat(pruned))
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert result.der["p_mw"].sum() == pytest.approx(full.solve().der["p_mw"].sum(), abs=1e-7)


def _feat(pruned) -> np.ndarray:
    return point_features(pruned.dm.data, pruned.codes)


def test_seed003_der_subset_certificate():
    """seed003's DRL-LP solves over a selected DER subset: the DERs left out are columns fixed
    at 0. On ieee123-seed003 (DC-OPF, PTDF, line limits) a subset that drops cheap DERs the
    optimum needs is rejected and repaired; the optimum's own subset is certified as is."""
    dm = DispatchModel(load_case("ieee123-seed003"), "dcopf", formulation="ptdf")
    full = dm.solve_raw()
    lp, cfg = LPArrays(dm.model), PruningConfig()
    ders = lp.model.var_blocks["der_p_mw"].positions
    assert np.abs(full.row_dual[1:]).max() > 1.0  # a binding line prices the DERs differently
    cost = lp.cost[ders]
    expensive = ders[np.argsort(cost)[-30:]]  # a poor subset: the 30 dearest DERs
    left_out = np.setdiff1d(ders, expensive)
    sol, report = repair_solve(lp, left_out, np.zeros(len(left_out), bool), cfg, reduced_highs(cfg))
    assert report.missed > 0 and report.certified
    assert _rel(sol.objective, full.objective) <= 1e-9
    used = ders[full.x[ders] > 1e-9]
    left_out = np.setdiff1d(ders, used)
    sol, report = repair_solve(lp, left_out, np.zeros(len(left_out), bool), cfg, reduced_highs(cfg))
    assert report.certified and report.rounds == 0 and len(left_out) > 20
    assert _rel(sol.objective, full.objective) <= 1e-9


def test_bad_inputs_raise_clear_errors(dataset):
    with pytest.raises(ValueError, match="repair must be"):
        PruningConfig(repair="some")
    with pytest.raises(ValueError, match=r"lacks column.*case_hash"):
        VariablePruning().fit(dataset.drop(columns=["case_hash"]))
    lp = LPArrays(DispatchModel(resolve_case("ieee33+ders10"), "ed").model)
    with pytest.raises(ValueError, match="fixed column -1 outside"):
        repair_solve(lp, np.array([-1]), np.array([False]), PruningConfig(), None)
    with pytest.raises(RuntimeError, match="not fitted"):
        VariablePruning().solve(resolve_case("ieee33+ders10"))
    with pytest.raises(KeyError, match="no_such_block"):
        VariablePruning(PruningConfig(blocks=("no_such_block",))).fit(dataset)
