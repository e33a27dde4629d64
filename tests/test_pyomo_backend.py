"""The Pyomo backend solves the same problem as highspy, and its model can be extended."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pe = pytest.importorskip("pyomo.environ")

from dispatchlab.cases.matpower import read_matpower  # noqa: E402
from dispatchlab.solvers.api import _rates, solve  # noqa: E402
from dispatchlab.solvers.backends.highs import solve_highs  # noqa: E402
from dispatchlab.solvers.backends.pyomo import (  # noqa: E402
    PyomoSolverError,
    solve_pyomo,
    solve_pyomo_model,
    to_pyomo,
)
from dispatchlab.solvers.data import dispatch_data  # noqa: E402
from dispatchlab.solvers.model import LinearModel  # noqa: E402
from dispatchlab.solvers.network import dc_network  # noqa: E402
from dispatchlab.solvers.problems.dispatch import DispatchOptions, build_dispatch  # noqa: E402
from dispatchlab.solvers.status import Status  # noqa: E402

PGLIB = Path(__file__).parents[1] / "dispatchlab" / "cases" / "data" / "pglib"


def pglib(stem: str):
    return read_matpower(PGLIB / f"pglib_opf_{stem}.m")


def dispatch_model(case, network: str = "btheta") -> LinearModel:
    d = dispatch_data(case)
    net = dc_network(case) if network != "copperplate" else None
    rate = _rates(case, net, "rate_a_mva") if net is not None else None
    return build_dispatch(d, DispatchOptions(network=network), net, rate)


def assert_same(a, b) -> None:
    assert a.status is Status.OPTIMAL and b.status is Status.OPTIMAL
    assert b.objective == pytest.approx(a.objective, rel=1e-6)
    lmp_a, lmp_b = a.bus["lmp_usd_per_mwh"], b.bus["lmp_usd_per_mwh"]
    assert np.abs(lmp_a - lmp_b).max() <= 1e-4
    assert np.abs(a.gen["p_mw"] - b.gen["p_mw"]).max() <= 1e-3


@pytest.mark.parametrize("stem", ["case5_pjm", "case14_ieee", "case30_ieee", "case118_ieee"])
@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_dcopf_same_objective_and_lmps(stem, formulation):
    case = pglib(stem)
    a = solve(case, "dcopf", formulation=formulation)
    b = solve(case, "dcopf", formulation=formulation, backend="pyomo")
    assert_same(a, b)
    assert b.info["backend"] == "pyomo"


@pytest.mark.parametrize("problem", ["ed", "dcopf"])
def test_quadratic_costs_same_objective_and_lmps(problem):
    case = pglib("case24_ieee_rts")
    assert (case.gens["cost_c2_usd_per_mw2h"] > 0).any()
    a = solve(case, problem)
    b = solve(case, problem, backend="pyomo")  # appsi_highs is LP-only: 'highs' takes the QP
    assert_same(a, b)


@pytest.mark.parametrize("stem", ["case14_ieee", "case24_ieee_rts"])
def test_raw_solution_matches_highs(stem):
    """Duals follow HiGHS's sign convention; reduced costs and activities agree too."""
    lm = dispatch_model(pglib(stem), "btheta")
    a, b = solve_highs(lm), solve_pyomo(lm)
    np.testing.assert_allclose(b.x, a.x, atol=1e-6)
    np.testing.assert_allclose(b.row_dual, a.row_dual, atol=1e-6)
    np.testing.assert_allclose(b.col_dual, a.col_dual, atol=1e-5)
    np.testing.assert_allclose(b.row_activity, a.row_activity, atol=1e-6)


def test_components_are_named_after_blocks():
    lm = dispatch_model(pglib("case14_ieee"), "btheta")
    m = to_pyomo(lm)
    for name, block in {**lm.var_blocks, **lm.con_blocks}.items():
        assert m.find_component(name) is not None
        assert len(m.find_component(name)) <= block.size
    assert len(m._dl_cols) == lm.n_cols and len(m._dl_rows) == lm.n_rows
    gen_id = int(lm.var_blocks["gen_p_mw"].index.get_level_values("gen_id")[0])
    assert m.gen_p_mw[gen_id] is m._dl_cols[lm.var_blocks["gen_p_mw"].start]
    full = to_pyomo(lm, squeeze_period=False)
    assert full.gen_p_mw[gen_id, 0] is full._dl_cols[lm.var_blocks["gen_p_mw"].start]


def test_user_constraint_equals_lower_p_max():
    """Capping one generator in Pyomo = solving with that generator's p_max lowered."""
    case = pglib("case30_ieee")
    lm = dispatch_model(case, "btheta")
    base = solve_highs(lm)
    block = lm.var_blocks["gen_p_mw"]
    p = base.x[block.positions]
    k = int(np.argmax(p))
    gen_id = block.index.get_level_values("gen_id")[k]
    cap = 0.9 * p[k]  # 0.8 would leave 265 MW for 283 MW of load: infeasible without shedding

    m = to_pyomo(lm)
    m.cap = pe.Constraint(expr=m.gen_p_mw[gen_id] <= cap)
    capped = solve_pyomo_model(m, lm, "appsi_highs")
    assert capped.status is Status.OPTIMAL
    assert capped.x[block.start + k] == pytest.approx(cap, abs=1e-6)
    assert m.dual[m.cap] < 0  # tighter cap costs money: d(objective)/d(cap) < 0

    lowered = dispatch_model(case, "btheta")
    ub = lowered.ub[block.positions]
    ub[k] = cap
    lowered.set_var_bounds("gen_p_mw", ub=ub)
    reference = solve_highs(lowered)
    assert capped.objective > base.objective
    assert capped.objective == pytest.approx(reference.objective, rel=1e-8)
    assert -m.dual[m.cap] == pytest.approx(-reference.col_dual[block.start + k], abs=1e-6)


def test_solver_highs_and_time_limit():
    lm = dispatch_model(pglib("case14_ieee"), "ptdf")
    sol = solve_pyomo(lm, solver="highs", time_limit=60)
    assert sol.status is Status.OPTIMAL and sol.extra["solver"] == "highs"
    assert sol.objective == pytest.approx(solve_highs(lm).objective, rel=1e-9)


def test_infeasible_status():
    lm = LinearModel("infeasible")
    lm.add_vars("x", [0, 1], lb=0.0, ub=1.0, cost=1.0)
    lm.add_cons("demand", ["d"], [0, 0], [0, 1], 1.0, lb=5.0, ub=5.0)
    sol = solve_pyomo(lm)
    assert sol.status is Status.INFEASIBLE
    assert np.isnan(sol.objective)


def test_bad_solver_name_raises_clear_error():
    lm = dispatch_model(pglib("case5_pjm"), "copperplate")
    with pytest.raises(PyomoSolverError, match=r"no_such_solver.*not known or not available"):
        solve_pyomo(lm, solver="no_such_solver")
    with pytest.raises(PyomoSolverError):
        solve(pglib("case5_pjm"), "ed", backend="pyomo", solver="no_such_solver")
