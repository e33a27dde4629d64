"""Variable pruning on multi-period B-θ dispatch with network rows and ramps (issue 20, point
7): the certificate over the full LP's rows makes every pruned day equal to the full LP."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from dispatchlab.learning.reduce.datasets_network import (
    DayConfig,
    apply_day,
    day_features,
    kind_matrix,
    network_der_case,
    sample_days,
    solve_days,
)
from dispatchlab.learning.reduce.pruning import (
    LPArrays,
    PrunedDispatch,
    PruningConfig,
    VariablePruning,
    reduced_highs,
    repair_solve,
)
from dispatchlab.solvers.persistent import DispatchModel
from dispatchlab.solvers.status import Status

PERIODS = 12


@pytest.fixture(scope="module")
def setup():
    case = network_der_case(60, periods=PERIODS)
    full = DispatchModel(case, "multiperiod", formulation="btheta")
    train = solve_days(full, sample_days(case, full.data, 10, 0, DayConfig()))
    vp = VariablePruning(PruningConfig()).fit_arrays(
        LPArrays(full.model),
        train.features,
        train.row_dual,
        {"problem": "multiperiod"},
        (train.col_status, train.row_status),
    )
    model = DispatchModel(case, "multiperiod", formulation="btheta")
    feats = partial(day_features, onehot=kind_matrix(model.data))
    pruned = PrunedDispatch(vp, case, model=model, features=feats)
    days = sample_days(case, full.data, 3, 1, DayConfig(first_day=300, n_days=65))
    return full, pruned, days


def test_case_has_ramps_network_rows_and_periods(setup):
    full, _, _ = setup
    blocks = full.model.con_blocks
    assert full.data.T == PERIODS
    assert blocks["gen_ramp"].size > 0  # the periods are coupled
    assert blocks["power_balance"].size == 118 * PERIODS  # one balance row per bus and period
    assert "branch_flow_definition" in blocks


def test_pruned_days_equal_full_lp(setup):
    full, pruned, days = setup
    for i in range(len(days.days)):
        apply_day(full, days, i)
        ref = full.solve_raw()
        apply_day(pruned, days, i)
        sol, report = pruned.solve_raw()
        assert ref.status is Status.OPTIMAL and sol.status is Status.OPTIMAL
        assert sol.objective == pytest.approx(ref.objective, rel=1e-9)
        assert report.certified and not report.fallback
        assert report.predicted > 0.2 * len(pruned.lp.cost)  # it does fix columns
        assert report.extra["max_primal_violation"] < 1e-6


def test_wrong_fixing_is_rejected_and_repaired(setup):
    full, pruned, days = setup
    apply_day(full, days, 0)
    ref = full.solve_raw()
    apply_day(pruned, days, 0)  # the pruned model's arrays hold day 0 (the full model's do not)
    lp = pruned.lp
    ders = full.model.var_blocks["der_p_mw"].positions
    x = ref.x[ders]
    wrong = ders[np.argsort(-x)[:5]]  # the five most-used DER columns, fixed at zero
    assert ref.x[wrong].min() > 1.0
    sol, report = repair_solve(
        lp, wrong, np.zeros(5, bool), pruned.pruning.config, reduced_highs(pruned.pruning.config)
    )
    assert report.rounds >= 1 and report.missed >= 1 and report.certified
    assert sol.objective == pytest.approx(ref.objective, rel=1e-9)
