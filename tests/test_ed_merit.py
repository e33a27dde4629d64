"""The merit-order ED path (solvers/problems/ed_merit.py) against HiGHS and Clarabel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dispatchlab import Case
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.backends.clarabel import solve_clarabel
from dispatchlab.solvers.backends.highs import solve_highs
from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.problems.ed_merit import (
    merit_order_dispatch,
    merit_structure,
    solve_merit,
)
from dispatchlab.solvers.status import Status


def random_model(rng: np.random.Generator, quadratic: bool) -> LinearModel:
    """One balance row over n box-bounded columns; costs from a small grid so that ties
    (degenerate prices) occur; a few columns enter with −1 (like storage charging)."""
    n = int(rng.integers(1, 40))
    lb = np.where(rng.random(n) < 0.3, rng.uniform(0.0, 20.0, n), 0.0)
    ub = lb + rng.uniform(0.0, 100.0, n) * (rng.random(n) > 0.05)  # some with lb = ub
    cost = rng.choice(np.arange(-5.0, 60.0, 5.0), n) + (rng.random(n) < 0.5) * rng.random(n)
    sign = np.where(rng.random(n) < 0.15, -1.0, 1.0)
    m = LinearModel("random-ed")
    x = m.add_vars("x", np.arange(n), lb=lb, ub=ub, cost=cost)
    if quadratic:
        q = np.where(rng.random(n) < 0.7, rng.uniform(0.001, 0.5, n), 0.0)
        m.add_quadratic(x.positions, q)
    smin = np.where(sign > 0, lb, -ub).sum()
    smax = np.where(sign > 0, ub, -lb).sum()
    demand = smin + rng.choice([0.0, 1.0, rng.random()]) * (smax - smin)
    m.add_cons("power_balance", [0], np.zeros(n), x.positions, sign, lb=demand, ub=demand)
    m.offset = float(rng.uniform(0, 10))
    return m


def kkt_price_range(m: LinearModel, x: np.ndarray, tol: float = 1e-7) -> tuple[float, float]:
    """All λ for which ``x`` satisfies the KKT conditions: the range a correct price lies in."""
    a = m.matrix().toarray()[0]
    q = np.zeros(m.n_cols)
    cols, qd = m.quadratic()
    q[cols] = qd
    g = (m.cost + q * x) / a  # gradient per unit of balance contribution
    room = m.ub - m.lb > tol
    at_lo = room & (x <= m.lb + tol)
    at_hi = room & (x >= m.ub - tol)
    inside = room & ~at_lo & ~at_hi
    # a·x at its lower end (a > 0: x at lb, a < 0: x at ub) needs λ ≤ g, at its upper end λ ≥ g
    low_end = np.where(a > 0, at_lo, at_hi)
    high_end = np.where(a > 0, at_hi, at_lo)
    lo = max(g[high_end | inside].max(initial=-np.inf), -np.inf)
    hi = min(g[low_end | inside].min(initial=np.inf), np.inf)
    return lo, hi


@pytest.mark.parametrize("quadratic", [False, True])
def test_merit_matches_highs_on_random_instances(quadratic):
    rng = np.random.default_rng(20 + quadratic)
    for k in range(120):
        m = random_model(rng, quadratic)
        assert merit_structure(m) is None
        mine, ref = solve_merit(m), solve_highs(m)
        assert mine.status is ref.status is Status.OPTIMAL, k
        scale = max(1.0, abs(ref.objective))
        assert abs(mine.objective - ref.objective) <= 1e-9 * scale, (k, mine.objective)
        a = m.matrix().toarray()[0]
        assert a @ mine.x == pytest.approx(m.row_lb[0], abs=1e-9 * max(1.0, abs(m.row_lb[0])))
        assert np.all(mine.x >= m.lb - 1e-12) and np.all(mine.x <= m.ub + 1e-12)
        lo, hi = kkt_price_range(m, mine.x)
        price, highs_price = mine.row_dual[0], ref.row_dual[0]
        assert lo - 1e-9 <= price <= hi + 1e-9, (k, lo, price, hi)
        # HiGHS's QP duals are exact only to its solver tolerances (~1e-5 $/MWh seen)
        tol = 1e-4 if quadratic else 1e-7
        assert lo - tol <= highs_price <= hi + tol, (k, lo, highs_price, hi)
        if hi - lo < 1e-9:  # a unique price: equal
            assert price == pytest.approx(highs_price, abs=tol)


def test_merit_matches_clarabel_on_random_qps():
    rng = np.random.default_rng(7)
    for k in range(100):
        m = random_model(rng, quadratic=True)
        mine, ref = solve_merit(m), solve_clarabel(m)
        assert ref.status is Status.OPTIMAL, k
        # an interior point stops at its tolerances (1e-9 relative gap); the merit order is exact
        assert mine.objective == pytest.approx(ref.objective, rel=1e-7, abs=1e-6), k


def test_quadratic_equal_incremental_cost_is_exact():
    # two units 10 + 0.02 P and 12 + 0.04 P (q = 2·c2), load 300 → λ = 44/3, P = 700/3, 200/3
    res = merit_order_dispatch([0, 0], [500, 500], [10.0, 12.0], [0.02, 0.04], 300.0)
    np.testing.assert_allclose(res.x, [700 / 3, 200 / 3], rtol=1e-14)
    assert res.price == pytest.approx(44 / 3, rel=1e-14)
    assert res.objective == pytest.approx(11300 / 3, rel=1e-14)


def test_linear_ties_share_the_marginal_mw_and_infeasible_sides():
    res = merit_order_dispatch([0, 0, 0], [10, 20, 10], [5.0, 7.0, 7.0], None, 25.0)
    np.testing.assert_allclose(res.x, [10.0, 10.0, 5.0])  # 15 MW shared 2:1 by capacity
    assert res.price == 7.0 and res.objective == pytest.approx(50 + 7 * 15)
    assert merit_order_dispatch([5, 5], [10, 10], [1, 2], None, 9.0).status is Status.INFEASIBLE
    assert merit_order_dispatch([0, 0], [10, 10], [1, 2], None, 21.0).status is Status.INFEASIBLE


def one_bus(load_mw: float, **gens) -> Case:
    return Case(
        "one-bus",
        buses={"bus_id": [1], "base_kv": [20.0], "bus_type": ["REF"]},
        gens={"bus": [1] * len(gens["p_max_mw"]), **gens},
        loads={"bus": [1], "p_mw": [load_mw], "voll_usd_per_mwh": [1000.0]},
    )


def test_solve_ed_takes_the_merit_path_with_the_same_result_as_highs():
    from dispatchlab import load_case

    case = load_case("pglib/case118_ieee")  # quadratic costs
    r, ref = solve(case, "ed"), solve(case, "ed", backend="clarabel")
    assert r.info["backend"] == "merit" and r.optimal
    assert r.objective == pytest.approx(ref.objective, rel=1e-7)
    price = r.system["price_usd_per_mwh"].iloc[0]
    assert price == pytest.approx(ref.system["price_usd_per_mwh"].iloc[0], rel=1e-5)
    assert (r.bus["lmp_usd_per_mwh"] == price).all()
    np.testing.assert_allclose(r.gen["p_mw"], ref.gen["p_mw"], atol=1e-3)
    assert r.gen["p_mw"].sum() == pytest.approx(r.system["load_mw"].iloc[0], rel=1e-12)


def test_shedding_is_one_more_merit_block_and_infeasible_without_it():
    case = one_bus(150.0, p_max_mw=[60.0, 50.0], cost_c1_usd_per_mwh=[10.0, 30.0])
    shed = solve(case, "ed", allow_shedding=True)
    assert shed.info["backend"] == "merit"
    assert shed.system["shed_mw"].iloc[0] == pytest.approx(40.0)
    assert shed.system["price_usd_per_mwh"].iloc[0] == pytest.approx(1000.0)
    assert shed.objective == pytest.approx(600 + 1500 + 40_000)
    strict = solve(case, "ed", allow_shedding=False)
    assert strict.status is Status.INFEASIBLE and strict.info["backend"] == "merit"
    assert strict.diagnosis is not None


def test_merit_does_not_apply_where_the_structure_breaks():
    case = one_bus(150.0, p_max_mw=[200.0, 200.0], cost_c1_usd_per_mwh=[10.0, 30.0])
    reserve = case.replace(reserves=pd.DataFrame({"zone": [-1], "up_mw": [100.0]}))
    r = solve(reserve, "ed")
    assert r.info["backend"] == "highs" and r.objective == pytest.approx(1500.0)
    with pytest.raises(ValueError, match=r"\d+ constraint rows"):
        solve(reserve, "ed", backend="merit")
    with pytest.raises(ValueError, match="merit"):
        solve(case, "ed", backend="merit", formulation="btheta", periods=None)
