"""seed000's SP and MPC baselines on ieee33-seed000: VSS ≥ 0, metrics, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

import dispatchlab as dl
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.problems.mpc import MPCOptions, WindowLP
from dispatchlab.solvers.problems.stochastic import day_data, pv_scenarios


@pytest.fixture(scope="module")
def case():
    return dl.load_case("ieee33-seed000")


@pytest.fixture(scope="module")
def sp(case):
    return solve(case, "stochastic", n_scenarios=5, seed=0)


def test_value_of_stochastic_solution_non_negative(sp):
    """The mean-forecast plan, evaluated on the same 5 scenarios, costs at least the SP."""
    assert sp.optimal
    assert sp.info["vss_usd"] >= -1e-6
    assert sp.info["deterministic_cost_usd"] == pytest.approx(sp.objective + sp.info["vss_usd"])


def test_sp_metrics_follow_their_definitions(sp):
    table = sp.system
    assert len(table) == 96
    dt = 0.25
    capacity = dt * (8.0 * table["reserve_up_mw"] + 4.0 * table["reserve_down_mw"])
    assert (table["expected_reserve_cost_usd"] >= capacity - 1e-9).all()
    rate = table["pv_used_mw"].sum() / table["pv_available_mw"].sum()
    assert sp.info["pv_integration_rate"] == pytest.approx(rate)
    assert 0.0 <= rate <= 1.0 + 1e-9
    # deployment never exceeds the reserve held, so deviations are bounded by it
    held = np.maximum(table["reserve_up_mw"], table["reserve_down_mw"])
    assert (table["net_deviation_max_mw"] <= held + 1e-7).all()


def test_scenarios_are_seeded(case):
    day = day_data(case)
    a, b = pv_scenarios(day, 2, 0.15, 0.9, 7), pv_scenarios(day, 2, 0.15, 0.9, 7)
    assert np.array_equal(a, b) and not np.array_equal(a[0], a[1])
    assert (a >= 0).all() and (a[:, day.pv.sum(axis=1) == 0] == 0).all()


def test_mpc_reproducible_for_a_seed(case):
    r1 = solve(case, "mpc", n_runs=1, seed=3)
    r2 = solve(case, "mpc", n_runs=1, seed=3)
    assert r1.optimal and r1.objective == r2.objective
    assert r1.system.equals(r2.system)
    assert 0.0 <= r1.info["pv_integration_rate"] <= 1.0 + 1e-9
    assert r1.info["max_net_deviation_mw"] <= 1.645 * 0.15 * 1.5 + 1e-7  # ≤ the booked reserve


def test_mpc_window_is_dpp(case):
    lp = WindowLP(day_data(case), MPCOptions())
    assert lp.problem.is_dpp()
