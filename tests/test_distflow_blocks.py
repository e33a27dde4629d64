"""DistFlow solved per independent block (solvers/distribution/conic.py) gives the optimum of
one monolithic Clarabel solve of the same cvxpy problem."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

import dispatchlab as dl
from dispatchlab.cases.timeseries import attach_profiles
from dispatchlab.solvers.distribution.feeder import feeder_data
from dispatchlab.solvers.problems.distflow import build

warnings.filterwarnings("ignore", message="Solution may be inaccurate")


def day(name: str, periods: int):
    case = dl.load_case(name)
    return attach_profiles(case, start="2016-07-15", periods=periods, step="1h", q_profile=True)


# ieee123's optimal voltages are pinned down only to ~1e-5 p.u. by the losses: two monolithic
# Clarabel solves at default and at 1e-11 tolerances already differ by 3e-6 p.u.
@pytest.mark.parametrize(
    ("name", "objective", "vm_tol"),
    [("ieee33", "losses", 1e-6), ("ieee33", "cost", 1e-6), ("ieee123", "losses", 1e-4)],
)
def test_blocks_equal_one_clarabel_solve(name, objective, vm_tol):
    case = day(name, 3)
    fd = feeder_data(case, 3)
    blocks, _ = build(fd, objective_name=objective)
    assert blocks.solve("CLARABEL") == "optimal"
    assert blocks.problem.n_blocks == 3  # periods are independent without DER ramps
    whole, _ = build(feeder_data(case, 3), objective_name=objective)
    whole.problem.solve(cp.CLARABEL, ignore_dpp=True)
    assert blocks.problem.value == pytest.approx(whole.problem.value, rel=1e-6)
    vm_blocks, vm_whole = (np.sqrt(m.var["v"].value) for m in (blocks, whole))
    assert np.abs(vm_blocks - vm_whole).max() <= vm_tol
    dual_blocks = blocks.named["p_balance"].dual_value
    dual_whole = whole.named["p_balance"].dual_value
    assert np.abs(dual_blocks - dual_whole).max() <= 1e-4 * np.abs(dual_whole).max()


def test_coupled_periods_stay_one_block():
    # DERs with a ramp limit couple consecutive periods: one block, as before
    case = day("ieee33", 3)
    ders = {"bus": [18, 33], "kind": ["dg", "dg"], "p_max_mw": [0.5, 0.5]}
    case = case.with_ders(ders | {"ramp_mw_per_h": [0.01, 0.01]})
    model, _ = build(feeder_data(case, 3), objective_name="losses")
    model.solve("CLARABEL")
    assert model.problem.n_blocks == 1 and model.problem.status == "optimal"
