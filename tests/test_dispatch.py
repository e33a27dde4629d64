"""Dispatch problems checked against numbers worked out by hand (in the comments)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dispatchlab import Case
from dispatchlab.cases.matpower import read_matpower
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.persistent import DispatchModel

PGLIB = Path(__file__).parents[1] / "dispatchlab" / "cases" / "data" / "pglib"


def triangle() -> Case:
    """Three buses in a triangle, every line x = 0.1 p.u.; only line 1–3 is rated (80 MW).

    Gen A at bus 1 (reference) 10 $/MWh, gen B at bus 2 30 $/MWh, 150 MW load at bus 3.
    """
    return Case(
        "triangle",
        buses={"bus_id": [1, 2, 3], "base_kv": [110.0] * 3, "bus_type": ["REF", "PV", "PQ"]},
        branches={
            "from_bus": [1, 2, 1],
            "to_bus": [2, 3, 3],
            "r_pu": [0.0] * 3,
            "x_pu": [0.1] * 3,
            "rate_a_mva": [np.inf, np.inf, 80.0],
        },
        gens={"bus": [1, 2], "p_max_mw": [300.0, 300.0], "cost_c1_usd_per_mwh": [10.0, 30.0]},
        loads={"bus": [3], "p_mw": [150.0]},
    )


def one_bus(gens: dict, load_mw: float, **tables) -> Case:
    buses = {"bus_id": [1], "base_kv": [20.0], "bus_type": ["REF"]}
    return Case(
        "one-bus",
        buses=buses,
        gens={"bus": 1, **gens},
        loads={"bus": [1], "p_mw": [load_mw]},
        **tables,
    )


@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_three_bus_dcopf_by_hand(formulation):
    # PTDF with bus 1 as slack, equal reactances: an injection at bus 2 (withdrawn at 1) flows
    # 2/3 directly 2→1 and 1/3 around 2→3→1; likewise for bus 3. Rows (buses 1, 2, 3):
    #   L12 (1→2): [0, -2/3, -1/3]   L23 (2→3): [0, 1/3, -1/3]   L13 (1→3): [0, -1/3, -2/3]
    # All 150 MW from A would put 2/3·150 = 100 MW on L13 > 80. With B = x at bus 2:
    #   f13 = -x/3 + (2/3)·150 = 100 - x/3 ≤ 80  =>  x = 60, A = 90.
    # Objective 90·10 + 60·30 = 2700 $/h. Flows: f12 = -40 + 50 = 10, f23 = 20 + 50 = 70, f13 = 80.
    # LMP_i = λ − μ·PTDF_13,i with λ = 10 (reference bus). B is marginal at bus 2:
    #   30 = 10 + μ/3  =>  μ = 60 $/MWh (shadow price of L13);  LMP_3 = 10 + 60·2/3 = 50.
    r = solve(triangle(), "dcopf", formulation=formulation)
    assert r.optimal
    assert r.objective == pytest.approx(2700.0, rel=1e-9)
    np.testing.assert_allclose(r.gen["p_mw"], [90.0, 60.0], atol=1e-6)
    np.testing.assert_allclose(r.branch["p_mw"], [10.0, 70.0, 80.0], atol=1e-6)
    bus = r.bus
    np.testing.assert_allclose(bus["lmp_usd_per_mwh"], [10.0, 30.0, 50.0], atol=1e-6)
    np.testing.assert_allclose(bus["lmp_energy_usd_per_mwh"], [10.0] * 3, atol=1e-6)
    np.testing.assert_allclose(bus["lmp_congestion_usd_per_mwh"], [0.0, 20.0, 40.0], atol=1e-6)
    np.testing.assert_allclose(
        bus["lmp_energy_usd_per_mwh"]
        + bus["lmp_congestion_usd_per_mwh"]
        + bus["lmp_loss_usd_per_mwh"],
        bus["lmp_usd_per_mwh"],
        atol=1e-9,
    )
    np.testing.assert_allclose(r.branch["shadow_price_usd_per_mwh"], [0.0, 0.0, 60.0], atol=1e-6)
    assert r.branch.loc[2, "loading_pct"] == pytest.approx(100.0)


def test_case5_pjm_dcopf_matches_matpower_and_formulations_agree():
    case = read_matpower(PGLIB / "pglib_opf_case5_pjm.m")
    bt = solve(case, "dcopf", formulation="btheta")
    pt = solve(case, "dcopf", formulation="ptdf")
    assert bt.objective == pytest.approx(17479.90, abs=0.01)  # MATPOWER rundcopf
    assert pt.objective == pytest.approx(bt.objective, rel=1e-6)
    np.testing.assert_allclose(pt.gen["p_mw"], bt.gen["p_mw"], atol=1e-5)
    np.testing.assert_allclose(pt.bus["lmp_usd_per_mwh"], bt.bus["lmp_usd_per_mwh"], atol=1e-5)
    # line 4–5 (branch 5) is the one binding limit: 240 MW
    assert abs(bt.branch.loc[5, "p_mw"]) == pytest.approx(240.0)
    assert (bt.branch["shadow_price_usd_per_mwh"].abs() > 1e-6).sum() == 1


def test_ed_quadratic_equal_incremental_cost():
    # C_A = 0.01 P² + 10 P, C_B = 0.02 P² + 12 P, load 300:
    #   10 + 0.02 P_A = 12 + 0.04 P_B, P_A + P_B = 300  =>  P_B = 200/3, P_A = 700/3,
    #   λ = 10 + 0.02·700/3 = 14.6667 $/MWh;
    #   cost = 0.01·(700/3)² + 10·700/3 + 0.02·(200/3)² + 12·200/3 = 11300/3 = 3766.67 $/h.
    case = one_bus(
        {
            "p_max_mw": [500.0, 500.0],
            "cost_c1_usd_per_mwh": [10.0, 12.0],
            "cost_c2_usd_per_mw2h": [0.01, 0.02],
        },
        300.0,
    )
    r = solve(case, "ed")
    # HiGHS's QP solver stops ~3e-4 MW from the exact split (its default tolerances)
    np.testing.assert_allclose(r.gen["p_mw"], [700 / 3, 200 / 3], atol=1e-3)
    assert r.objective == pytest.approx(11300 / 3, rel=1e-8)
    assert r.system["price_usd_per_mwh"].iloc[0] == pytest.approx(44 / 3, abs=1e-4)


def test_ed_piecewise_linear_cost():
    # PWL gen: (0, 0) (50, 500) (100, 1500) (150, 3000): slopes 10, 20, 30. Other gen 25 $/MWh.
    # Load 120: PWL runs its 10 and 20 segments (to 100 MW), the 25 $/MWh gen takes 20 MW;
    # cost 1500 + 500 = 2000 $/h, price 25.
    pwl = {
        "gen_id": [0] * 4,
        "point": [0, 1, 2, 3],
        "p_mw": [0.0, 50.0, 100.0, 150.0],
        "cost_usd_per_h": [0.0, 500.0, 1500.0, 3000.0],
    }
    case = one_bus(
        {
            "p_max_mw": [150.0, 200.0],
            "cost_model": ["pwl", "poly"],
            "cost_c1_usd_per_mwh": [0.0, 25.0],
        },
        120.0,
        gen_cost_pwl=pwl,
    )
    r = solve(case, "ed")
    np.testing.assert_allclose(r.gen["p_mw"], [100.0, 20.0], atol=1e-6)
    assert r.objective == pytest.approx(2000.0)
    assert r.gen.loc[0, "cost_usd_per_h"] == pytest.approx(1500.0)
    assert r.system["price_usd_per_mwh"].iloc[0] == pytest.approx(25.0)


def reserve_case(reserves: dict | None) -> Case:
    """A (zone 1, 10 $/MWh), B and C (zone 2, 20 and 30 $/MWh), 100 MW each; load 150."""
    buses = {"bus_id": [1, 2], "base_kv": [20.0] * 2, "bus_type": ["REF", "PQ"], "zone": [1, 2]}
    return Case(
        "reserves",
        buses=buses,
        branches={"from_bus": [1], "to_bus": [2], "r_pu": [0.0], "x_pu": [0.1]},
        gens={
            "bus": [1, 2, 2],
            "p_max_mw": [100.0] * 3,
            "cost_c1_usd_per_mwh": [10.0, 20.0, 30.0],
            "reserve_up_max_mw": [100.0, 20.0, 100.0],
        },
        loads={"bus": [2], "p_mw": [150.0]},
        reserves=reserves,
    )


def test_reserve_requirements_system_and_zonal():
    # No requirement: A = 100, B = 50, cost 2000.
    base = solve(reserve_case(None), "ed")
    np.testing.assert_allclose(base.gen["p_mw"], [100.0, 50.0, 0.0], atol=1e-6)
    # System 30 MW: B offers up to 20 MW and C 100 MW of idle headroom: nothing moves.
    system = solve(reserve_case({"zone": [-1], "up_mw": [30.0]}), "ed")
    np.testing.assert_allclose(system.gen["p_mw"], [100.0, 50.0, 0.0], atol=1e-6)
    assert system.objective == pytest.approx(2000.0)
    assert system.gen["reserve_up_mw"].sum() >= 30.0 - 1e-6
    # Zone 1 needs 30 MW and only A is in zone 1: A + 30 ≤ 100 => A = 70, B = 80;
    # cost 700 + 1600 = 2300; energy price 20 (B marginal).
    zonal = solve(reserve_case({"zone": [1], "up_mw": [30.0]}), "ed")
    np.testing.assert_allclose(zonal.gen["p_mw"], [70.0, 80.0, 0.0], atol=1e-6)
    assert zonal.gen.loc[0, "reserve_up_mw"] == pytest.approx(30.0)
    assert zonal.objective == pytest.approx(2300.0)
    assert zonal.system["price_usd_per_mwh"].iloc[0] == pytest.approx(20.0)


def test_system_reserve_binding_brings_in_the_expensive_unit():
    # System 60 MW with C offering no reserve: A + B = 150 alone gives at most
    # (100 - A) + min(20, A - 50) ≤ 50 MW of reserve, so C must run. Cheapest: B keeps its full
    # 20 MW offer (B ≤ 80), A holds 40 (A ≤ 60), C = 10: cost 600 + 1600 + 300 = 2500 $/h.
    case = reserve_case({"zone": [-1], "up_mw": [60.0]})
    gens = case.gens
    gens["reserve_up_max_mw"] = [100.0, 20.0, 0.0]
    r = solve(case.replace(gens=gens), "ed")
    np.testing.assert_allclose(r.gen["p_mw"], [60.0, 80.0, 10.0], atol=1e-6)
    np.testing.assert_allclose(r.gen["reserve_up_mw"], [40.0, 20.0, 0.0], atol=1e-6)
    assert r.objective == pytest.approx(2500.0)


def test_load_shedding_at_voll_when_capacity_short():
    # 100 MW of capacity for 150 MW: 50 MW shed at VOLL 10 000 $/MWh, price = VOLL.
    case = one_bus({"p_max_mw": [100.0], "cost_c1_usd_per_mwh": [20.0]}, 150.0)
    assert solve(case, "ed").status == "infeasible"  # nothing is shed unless asked for
    r = solve(case, "ed", allow_shedding=True)
    assert r.shed_mw == pytest.approx(50.0)
    assert r.objective == pytest.approx(100 * 20.0 + 50 * 10_000.0)
    assert r.bus["lmp_usd_per_mwh"].iloc[0] == pytest.approx(10_000.0)
    assert r.system["shed_mw"].iloc[0] == pytest.approx(50.0)


@pytest.mark.parametrize(("curtail_cost", "price"), [(0.0, 0.0), (5.0, -5.0)])
def test_renewable_curtailment_when_pv_exceeds_load(curtail_cost, price):
    # PV 80 MW available, load 50, gen at 20 $/MWh idle: 30 MW of PV curtailed; the price is
    # minus the curtailment cost (one more MW of load saves that much spill).
    ders = {
        "bus": [1],
        "kind": ["pv"],
        "p_max_mw": [80.0],
        "curtail_cost_usd_per_mwh": [curtail_cost],
    }
    case = one_bus({"p_max_mw": [100.0], "cost_c1_usd_per_mwh": [20.0]}, 50.0, ders=ders)
    r = solve(case, "ed")
    assert r.der.loc[0, "p_mw"] == pytest.approx(50.0)
    assert r.der.loc[0, "curtailed_mw"] == pytest.approx(30.0)
    assert r.gen.loc[0, "p_mw"] == pytest.approx(0.0, abs=1e-9)
    assert r.objective == pytest.approx(30.0 * curtail_cost)
    assert r.system["price_usd_per_mwh"].iloc[0] == pytest.approx(price)


# ----------------------------------------------------------------------- persistent model
@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_persistent_model_matches_fresh_solves_without_rebuilding(formulation):
    case = read_matpower(PGLIB / "pglib_opf_case5_pjm.m")
    dm = DispatchModel(case, "dcopf", formulation=formulation)
    highs = dm.highs.h
    rng = np.random.default_rng(7)
    base = case.loads
    congested = 0
    for _ in range(20):
        loads = base.copy()
        loads["p_mw"] = base["p_mw"] * rng.uniform(0.6, 1.2, len(base))
        dm.set_loads(loads["p_mw"])  # a Series by load_id
        got = dm.solve()
        ref = solve(case.replace(loads=loads), "dcopf", formulation=formulation)
        assert got.objective == pytest.approx(ref.objective, rel=1e-7)
        np.testing.assert_allclose(
            got.bus["lmp_usd_per_mwh"], ref.bus["lmp_usd_per_mwh"], atol=1e-5
        )
        np.testing.assert_allclose(got.branch["p_mw"], ref.branch["p_mw"], atol=1e-5)
        congested += int((ref.branch["shadow_price_usd_per_mwh"].abs() > 1e-6).any())
    assert congested >= 5  # the scenarios exercise the flow-limit rows
    assert dm.builds == 1 and dm.highs.h is highs


def test_persistent_model_costs_limits_and_der_availability():
    # One bus: A 10 $/MWh (100 MW), B 30 $/MWh, PV 40 MW with 5 $/MWh curtailment cost; load 120.
    ders = {"bus": [1], "kind": ["pv"], "p_max_mw": [40.0], "curtail_cost_usd_per_mwh": [5.0]}
    case = one_bus(
        {"p_max_mw": [100.0, 100.0], "cost_c1_usd_per_mwh": [10.0, 30.0]}, 120.0, ders=ders
    )
    dm = DispatchModel(case, "ed", allow_shedding=True)
    assert dm.solve().objective == pytest.approx(800.0)  # PV 40, A 80
    dm.set_gen_costs(np.array([40.0, 30.0]))  # A now dearer than B: B 80
    assert dm.solve().objective == pytest.approx(2400.0)
    dm.set_der_available(pd.Series([10.0], index=[0]))  # PV 10: B 100, A 10
    r = dm.solve()
    assert r.objective == pytest.approx(3000.0 + 400.0)
    assert r.der.loc[0, "available_mw"] == pytest.approx(10.0)
    dm.set_gen_limits(p_max=np.array([100.0, 50.0]))  # B capped at 50: A 60
    assert dm.solve().objective == pytest.approx(1500.0 + 2400.0)
    dm.set_loads(np.array([200.0]))  # 200 > 160 MW: 40 shed at VOLL
    r = dm.solve()
    assert r.shed_mw == pytest.approx(40.0)
    fresh = solve(
        case.replace(
            gens=case.gens.assign(cost_c1_usd_per_mwh=[40.0, 30.0], p_max_mw=[100.0, 50.0]),
            ders=case.ders.assign(p_max_mw=[10.0]),
            loads=case.loads.assign(p_mw=[200.0]),
        ),
        "ed",
        allow_shedding=True,
    )
    assert r.objective == pytest.approx(fresh.objective, rel=1e-9)
    assert dm.builds == 1
    with pytest.raises(KeyError, match="load_id"):
        dm.set_loads(pd.Series([1.0], index=[99]))


def test_persistent_qp_falls_back_to_clarabel_when_highs_cycles():
    """ieee30-seed004's DC-OPF (quadratic costs) at interval 6034: HiGHS's QP solver cycled
    for hours in the persistent model; now it stops at its iteration limit and Clarabel
    solves the model HiGHS holds, with the one-shot optimum."""
    from dispatchlab import load_case, solve
    from dispatchlab.solvers.persistent import DispatchModel

    case = load_case("ieee30-seed004")
    dm = DispatchModel(case, "dcopf", formulation="ptdf")
    assert dm.highs.quadratic
    dm.solve_raw()

    def move_to(t: int) -> None:  # the loads and the wind of interval t
        dm.set_loads(case.timeseries["load_p_mw"].to_numpy()[t])
        dm.set_der_available(case.at(t).ders.loc[dm.data.ders.ids, "p_max_mw"].to_numpy())

    move_to(6034)
    sol = dm.solve_raw()  # returns (highspy 1.16 cycles here; a later one may not)
    assert sol.status == "optimal"
    if sol.extra.get("fallback"):
        assert "iteration limit" in sol.message
    ref = solve(case.at(6034), "dcopf", formulation="ptdf", backend="clarabel")
    assert sol.objective == pytest.approx(ref.objective, rel=1e-7)
    # force the fallback: HiGHS stops after one QP iteration, Clarabel finishes the same model
    good = dm.solve_raw()
    dm.highs.h.setOptionValue("qp_iteration_limit", 1)
    move_to(100)
    forced = dm.solve_raw()
    assert forced.status == "optimal" and forced.extra["fallback"] == "clarabel"
    ref100 = solve(case.at(100), "dcopf", formulation="ptdf", backend="clarabel")
    assert forced.objective == pytest.approx(ref100.objective, rel=1e-7)
    assert good.objective == pytest.approx(ref.objective, rel=1e-7)
    assert len(forced.x) == dm.model.n_cols and len(forced.row_dual) == dm.model.n_rows
