"""seed000's SP and MPC baselines: pinned against hand-solved cases, then on ieee33-seed000
(VSS ≥ 0, metrics, reproducibility)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import dispatchlab as dl
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.data import Table
from dispatchlab.solvers.problems.mpc import MPCOptions, WindowLP, run_mpc
from dispatchlab.solvers.problems.stochastic import (
    DayData,
    StochasticOptions,
    day_data,
    pv_scenarios,
    solve_two_stage,
)


def _copper_plate(load: list[float], pv_forecast: list[float]) -> DayData:
    """1-h periods, one PV unit (no curtailment cost), no storage, no flexible load,
    energy 20 $/MWh, VOLL 1 000 $/MWh: small enough to solve by hand."""
    T = len(load)
    keys = (
        "e_init_mwh",
        "e_min_mwh",
        "e_max_mwh",
        "p_min_mw",
        "p_max_mw",
        "eff_charge",
        "eff_discharge",
    )
    empty = Table(np.zeros(0, int), np.zeros(0, int), {k: np.zeros(0) for k in keys})
    return DayData(
        times=pd.RangeIndex(T),
        dt=1.0,
        price=20.0,
        p0_max=100.0,
        load=np.asarray(load, float),
        pv=np.asarray(pv_forecast, float)[:, None],
        pv_cap=np.array([10.0]),
        storage=empty,
        flex_min=0.0,
        flex_max=0.0,
        flex_cost=0.0,
        voll=1000.0,
        curtail_cost=np.zeros(1),
    )


def test_two_scenario_sp_matches_the_hand_solution():
    """Load 10 MW, PV 2 or 6 MW (probability ½ each); c = 20, c⁺ = 8, c⁻ = 4, π⁺ = 15,
    π⁻ = 5 $/MWh. With all PV used, the scenario needs are 8 and 4 MW. For a day-ahead
    purchase p in [4, 8]: scenario 1 buys 8 − p up (½·35 + capacity 8 per MW), scenario 2
    sells p − 4 down (refund ½·15, capacity 4 per MW): cost 20p + 25.5(8 − p) − 3.5(p − 4) =
    218 − 9p, falling; above 8, 9p + 74, rising; below 4, 274 − 23p, falling. So p = 8,
    r⁺ = 0, r⁻ = 4, cost 146 $. The mean-forecast plan (PV 4: p = 6, no reserve) sheds 2 MW at
    VOLL in scenario 1 and curtails 2 MW in scenario 2: 120 + ½·2 000 = 1 120 $, VSS 974 $."""
    day, o = _copper_plate([10.0], [4.0]), StochasticOptions()
    sol = solve_two_stage(day, np.array([[2.0], [6.0]]), o)
    assert sol["objective"] == pytest.approx(146.0, abs=1e-6)
    np.testing.assert_allclose(
        [sol["p_da"][0], sol["r_up"][0], sol["r_dn"][0]], [8, 0, 4], atol=1e-6
    )
    np.testing.assert_allclose(sol["dn"][:, 0], [0.0, 4.0], atol=1e-6)
    mean = solve_two_stage(day, np.array([[4.0]]), o)
    np.testing.assert_allclose(
        [mean["p_da"][0], mean["r_up"][0], mean["r_dn"][0]], [6, 0, 0], atol=1e-6
    )
    plan = {k: mean[k] for k in ("p_da", "r_up", "r_dn")}
    det = solve_two_stage(day, np.array([[2.0], [6.0]]), o, fixed=plan)
    assert det["objective"] == pytest.approx(1120.0, abs=1e-6)
    np.testing.assert_allclose(det["shed"][:, 0], [2.0, 0.0], atol=1e-6)


def test_mpc_applies_the_hand_solved_recourse_of_each_step():
    """Two 1-h steps, load 10 MW, realized PV 2 then 6 MW, plan p^DA = 6, r⁺ = 1, r⁻ = 3,
    exact forecasts (σ = 0). Step 1 needs 2 MW: 1 MW up (the whole reserve), 1 MW shed.
    Step 2 has 2 MW surplus: 2 MW down (refund 15 $/MWh beats curtailing at 0), all PV used."""
    day = _copper_plate([10.0, 10.0], [4.0, 4.0])
    o = MPCOptions(horizon=2, sp=StochasticOptions(sigma=0.0))
    plan = {"p_da": np.array([6.0, 6.0]), "r_up": np.ones(2), "r_dn": np.full(2, 3.0)}
    out = run_mpc(day, np.array([2.0, 6.0]), plan, o, seed=0)
    np.testing.assert_allclose(out["up"], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(out["shed"], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(out["dn"], [0.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(out["u"], [2.0, 6.0], atol=1e-6)


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
