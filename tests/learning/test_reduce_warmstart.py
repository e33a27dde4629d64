"""Warm start from the nearest stored basis: same optimum as HiGHS cold, exact plumbing of the
basis (a stored point restarts in 0 iterations), checkpoint round-trip, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dispatchlab.learning.reduce.datasets_ed import (
    EDDatasetConfig,
    apply_point,
    build_dataset,
    resolve_case,
    sample_points,
)
from dispatchlab.learning.reduce.warmstart import WarmStart, WarmStartConfig
from dispatchlab.solvers.persistent import DispatchModel

CASE = "pglib/case118_ieee"
CFG = EDDatasetConfig(problem="dcopf", formulation="btheta")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("warm") / "dc.parquet"
    return pd.read_parquet(build_dataset(CASE, 12, 0, path, CFG))


def test_same_optimum_as_cold_start(dataset):
    ws = WarmStart.default().fit(dataset)
    case = resolve_case(CASE)
    warm = ws.attach(case)
    cold = DispatchModel(case, "dcopf", formulation="btheta")
    points = sample_points(cold.data, 4, 5, EDDatasetConfig(first_day=320, n_days=40))
    for i in range(4):
        apply_point(warm, points, i)
        apply_point(cold, points, i)
        cold.highs.h.clearSolver()  # HiGHS's default start: no basis
        ref = cold.solve_raw()
        result = warm.solve(tables=(i == 3))
        assert result.optimal
        assert abs(result.objective - ref.objective) <= 1e-9 * abs(ref.objective)
        assert not result.info["reduction"]["fallback"]
    assert result.gen["p_mw"].sum() == pytest.approx(ref.x[:54].sum(), rel=1e-6)


def test_stored_point_restarts_in_zero_iterations(dataset):
    """The optimal basis of a stored point is optimal for that point: no pivots needed."""
    ws = WarmStart().fit(dataset)
    warm = ws.attach(resolve_case(CASE))
    row = dataset.iloc[7]
    warm.set_loads(np.asarray(row["load_p_mw"]))
    sol, report = warm.solve_raw()
    assert report.extra["neighbour"] == 7 and report.extra["distance"] == pytest.approx(0.0)
    assert sol.iterations == 0
    assert sol.objective == pytest.approx(row["objective_usd"], rel=1e-9)


def test_save_load_round_trip(dataset, tmp_path):
    ws = WarmStart(WarmStartConfig(standardize=False)).fit(dataset)
    loaded = WarmStart.load(ws.save(tmp_path / "ws"))
    assert loaded.config == ws.config
    for key, value in ws.arrays.items():
        assert np.array_equal(loaded.arrays[key], value)
    rng = np.random.default_rng(0)
    feats = np.stack(dataset["features"].to_list())
    for q in feats + rng.normal(0, 5.0, feats.shape):
        assert loaded.nearest(q) == ws.nearest(q)


def test_errors(dataset):
    ws = WarmStart().fit(dataset)
    with pytest.raises(ValueError, match="bases were stored for 'pglib/case118_ieee'"):
        ws.attach(resolve_case("ieee33+ders10"))
    bad = dataset.copy()
    bad["col_status"] = [np.full(len(c), 9, np.int8) for c in bad["col_status"]]
    with pytest.raises(ValueError, match="HighsBasisStatus values"):
        WarmStart().fit(bad)
    with pytest.raises(RuntimeError, match="not fitted"):
        WarmStart().nearest(np.zeros(6))
