"""Learned constraint screening: a forced miss is repaired to the full SCED optimum, the fitted
counts match the dataset, checkpoints round-trip, bad datasets are refused by name.

The dataset: pglib case57 with ratings × 0.8 and every non-radial outage; loads scaled 0.35–1.0.
Branch 6 after the outage of branch 7 binds at the heavier loads and at none of the light ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from dispatchlab.learning.checkpoint import CheckpointError
from dispatchlab.learning.reduce.base import ReductionReport
from dispatchlab.learning.reduce.dataset import (
    DatasetConfig,
    DatasetError,
    base_case,
    build_sced_dataset,
    decode_pairs,
    operating_point,
    point_cases,
    read_dataset,
    write_dataset,
)
from dispatchlab.learning.reduce.screening import Config, ConstraintScreening
from dispatchlab.solvers.api import solve

CASE, RATING = "pglib/case57_ieee", 0.8
SCALES = [0.35, 0.4, 0.45, 0.8, 0.9, 1.0]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("screening") / "case57.parquet"
    scenarios = [{"load_scale": s, "load_noise": 0.05} for s in SCALES]
    cfg = DatasetConfig(rating_factor=RATING, workers=2, seed=3)
    return build_sced_dataset(CASE, scenarios, "all", cfg, out), out


def heavy_point():
    return operating_point(base_case(CASE, False, RATING), {"load_scale": 1.0})


def test_dataset_rows_provenance_and_labels(dataset):
    df, path = dataset
    assert len(df) == len(SCALES) and (df["status"] == "optimal").all()
    assert df["solver_version"].str.startswith("highspy ").all()
    assert df["case_hash"].nunique() == 1 and df["network_hash"].nunique() == 1
    assert df["case_hash"].iloc[0] == base_case(CASE, False, RATING).case_hash()
    labels = [decode_pairs(b) for b in df["binding"]]
    assert labels[:3] == [[], [], []]  # light loads: nothing binds
    assert all((6, 7) in lab for lab in labels[3:])
    # every point replays from its recipe to the same exact objective
    case = point_cases(df.iloc[[4]])[0]
    r = solve(case, "sced", method="lazy", contingencies="all", backend="highs")
    assert r.objective == pytest.approx(df["objective"].iloc[4], rel=1e-9)
    assert read_dataset(path).shape == df.shape


def test_forced_miss_is_repaired_to_the_full_optimum(dataset):
    df, _ = dataset
    blind = ConstraintScreening().fit(df.assign(binding=""))  # learned: nothing ever binds
    case = heavy_point()
    assert len(blind.predict(case)) == 0
    r = blind.solve(case)
    rep = r.info["reduction"]
    assert isinstance(rep, ReductionReport) and rep.method == "screening"
    assert rep.predicted == 0 and rep.missed > 0 and rep.added_back >= 1 and rep.rounds >= 1
    assert rep.certified and not rep.fallback
    full = solve(case, "sced", method="full", contingencies="all", backend="highs")
    assert r.objective == pytest.approx(full.objective, rel=1e-6)
    bc = r.info["binding_contingencies"]
    found = bc[(bc["branch_id"] == 6) & (bc["outage_branch_id"] == 7)]
    assert len(found) == 1 and abs(found["shadow_price_usd_per_mwh"].iloc[0]) > 1e-6
    assert set(rep.timings) >= {"features", "inference", "build", "solve", "verify", "total"}


def test_fit_learns_the_pair_and_reports_counts(dataset):
    df, _ = dataset
    model = ConstraintScreening(Config(threshold=0.5, keep_frequency=1.0)).fit(df)
    assert model.fitted.pairs.tolist() == [[6, 7]]
    assert model.fitted.frequency.tolist() == [pytest.approx(0.5)]
    light, heavy = point_cases(df.iloc[[0]])[0], heavy_point()
    assert model.predict_proba(light)[0] < 0.5 < model.predict_proba(heavy)[0]
    r = model.solve(heavy)
    rep = r.info["reduction"]
    assert (rep.predicted, rep.missed, rep.added_back, rep.rounds) == (1, 0, 0, 0)
    assert rep.extra["predicted_contingency"] == 1 and rep.certified
    exact = solve(heavy, "sced", method="lazy", contingencies="all", backend="highs")
    assert r.objective == pytest.approx(exact.objective, rel=1e-9)
    ev = model.evaluate(df)
    assert ev["certified"].all() and (ev["rel_gap"] <= 1e-6).all()
    assert ev["predicted"].tolist() == [0, 0, 0, 1, 1, 1]


def test_save_load_round_trip(dataset, tmp_path):
    df, _ = dataset
    model = ConstraintScreening(Config(threshold=0.3, c=0.5)).fit(df)
    path = model.save(tmp_path / "screen")
    assert path.suffix == ".npz"
    back = ConstraintScreening.load(path)
    assert back.config == model.config and back.meta == model.meta
    for case in point_cases(df):
        np.testing.assert_array_equal(back.predict_proba(case), model.predict_proba(case))
        np.testing.assert_array_equal(back.predict(case), model.predict(case))
    with pytest.raises(CheckpointError, match="not 'pruning'"):
        from dispatchlab.learning.checkpoint import load_checkpoint

        load_checkpoint(path, "pruning")


def test_clear_errors(dataset, tmp_path):
    df, path = dataset
    model = ConstraintScreening().fit(df)
    other = base_case(CASE, False, 0.7)  # other ratings: another network
    with pytest.raises(DatasetError, match="retrain on a dataset of this network"):
        model.solve(other)
    with pytest.raises(DatasetError, match="rebuild the dataset for this case"):
        read_dataset(path, case=other)
    with pytest.raises(DatasetError, match=r"missing columns \['binding'\]"):
        ConstraintScreening().fit(df.drop(columns=["binding"]))
    with pytest.raises(DatasetError, match="no feature columns"):
        write_dataset(df[[c for c in df if not c.startswith("x/")]], tmp_path / "d.parquet")
    with pytest.raises(DatasetError, match="mixes networks"):
        ConstraintScreening().fit(df.assign(network_hash=["a", "b"] * 3))
    with pytest.raises(DatasetError, match="scenario p00002: infeasible"):
        ConstraintScreening().fit(df.assign(status=["optimal"] * 2 + ["infeasible"] * 4))
    with pytest.raises(RuntimeError, match="not fitted"):
        ConstraintScreening().solve(other)
    with pytest.raises(ValueError, match="threshold and keep_frequency"):
        Config(threshold=1.5)
    with pytest.raises(ValueError, match=r"\['method'\] are fixed"):
        model.solve(heavy_point(), method="full")
