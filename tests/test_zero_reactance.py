"""Branches with r > 0 and x = 0 (valid MATPOWER): they load, the AC problems solve with them,
and the DC model merges their two buses (docs/case-model.md)."""

from __future__ import annotations

import numpy as np
import pytest

from dispatchlab import Case
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.network import dc_network
from dispatchlab.solvers.powerflow import run_ac_powerflow


def tied(x_tie: float = 0.0, rate_tie: float = np.inf, shift_tie: float = 0.0) -> Case:
    """The triangle 1–2–3 (x = 0.1, line 1–3 rated 80 MW) with bus 4 hanging off bus 3 by a
    jumper (r = 0.002, x = ``x_tie``); 60 MW load at bus 3, 90 MW at bus 4; gen A at bus 1
    (10 $/MWh), gen B at bus 2 (30 $/MWh)."""
    return Case(
        "tied",
        buses={"bus_id": [1, 2, 3, 4], "base_kv": [110.0] * 4,
               "bus_type": ["REF", "PV", "PQ", "PQ"]},
        branches={
            "from_bus": [1, 2, 1, 3],
            "to_bus": [2, 3, 3, 4],
            "r_pu": [0.01, 0.01, 0.01, 0.002],
            "x_pu": [0.1, 0.1, 0.1, x_tie],
            "b_pu": [0.02, 0.02, 0.02, 0.0],
            "rate_a_mva": [np.inf, np.inf, 80.0, rate_tie],
            "shift_deg": [0.0, 0.0, 0.0, shift_tie],
            "kind": ["line", "line", "line", "transformer" if shift_tie else "line"],
        },
        gens={"bus": [1, 2], "p_max_mw": [300.0, 300.0], "cost_c1_usd_per_mwh": [10.0, 30.0],
              "q_min_mvar": [-200.0, -200.0], "q_max_mvar": [200.0, 200.0]},
        loads={"bus": [3, 4], "p_mw": [60.0, 90.0], "q_mvar": [10.0, 20.0]},
    )  # fmt: skip


def merged() -> Case:
    """``tied()`` with bus 4 merged into bus 3 by hand (the jumper removed)."""
    return Case(
        "merged",
        buses={"bus_id": [1, 2, 3], "base_kv": [110.0] * 3, "bus_type": ["REF", "PV", "PQ"]},
        branches={"from_bus": [1, 2, 1], "to_bus": [2, 3, 3], "r_pu": [0.01] * 3,
                  "x_pu": [0.1] * 3, "rate_a_mva": [np.inf, np.inf, 80.0]},
        gens={"bus": [1, 2], "p_max_mw": [300.0, 300.0], "cost_c1_usd_per_mwh": [10.0, 30.0]},
        loads={"bus": [3], "p_mw": [150.0]},
    )  # fmt: skip


def test_r_positive_x_zero_branch_loads_and_ac_opf_solves():
    case = tied()
    assert case.branches.loc[3, "x_pu"] == 0.0
    ac = solve(case, "acopf")
    near = solve(tied(x_tie=1e-5), "acopf")  # the same jumper with a tiny reactance
    assert ac.optimal and near.optimal
    assert ac.objective == pytest.approx(near.objective, rel=1e-5)
    # the losses put it above the DC optimum of 2700 $/h (below)
    assert 2700.0 < ac.objective < 2700.0 * 1.01


def test_ac_power_flow_with_an_x_zero_branch():
    pf = run_ac_powerflow(tied())
    near = run_ac_powerflow(tied(x_tie=1e-5))
    vm = pf.bus["vm_pu"].to_numpy()
    assert np.allclose(vm, near.bus["vm_pu"].to_numpy(), atol=1e-5)
    assert abs(vm[2] - vm[3]) < 0.01  # the jumper's r = 0.002 drops little voltage


@pytest.mark.parametrize("formulation", ["btheta", "ptdf", "lazy"])
def test_dc_model_merges_the_buses_of_an_x_zero_branch(formulation):
    # Merged by hand: 150 MW at bus 3 of the triangle. Flow 1–3 = 2/3·P_A + 1/3·P_B ≤ 80 with
    # P_A + P_B = 150 → P_A ≤ 90: 90·10 + 60·30 = 2700 $/h; the jumper carries bus 4's 90 MW.
    got = solve(tied(), "dcopf", formulation=formulation)
    ref = solve(merged(), "dcopf", formulation=formulation)
    assert got.objective == pytest.approx(2700.0, rel=1e-9)
    assert ref.objective == pytest.approx(2700.0, rel=1e-9)
    assert got.gen["p_mw"].tolist() == pytest.approx([90.0, 60.0], abs=1e-6)
    flows = got.branch["p_mw"]
    assert flows.loc[[0, 1, 2]].tolist() == pytest.approx(
        ref.branch["p_mw"].loc[[0, 1, 2]].tolist(), abs=1e-6
    )
    assert flows.loc[3] == pytest.approx(90.0, abs=1e-6)
    lmp = got.bus["lmp_usd_per_mwh"]
    assert lmp.loc[3] == pytest.approx(lmp.loc[4], abs=1e-6)  # one bus for the DC model
    assert lmp.loc[3] == pytest.approx(ref.bus["lmp_usd_per_mwh"].loc[3], abs=1e-6)


def test_x_zero_branch_rating_is_enforced_in_dc():
    # Bus 4 (90 MW) is fed through the jumper only: a 50 MW rating leaves 40 MW unserved.
    r = solve(tied(rate_tie=50.0), "dcopf")
    assert str(r.status) == "infeasible"
    short = r.diagnosis[r.diagnosis["stage"] == "shortfall"]
    assert short[["kind", "element_id"]].values.tolist() == [["balance", 4]]
    assert short["slack_mw"].iloc[0] == pytest.approx(40.0, abs=1e-6)
    shed = solve(tied(rate_tie=50.0), "dcopf", allow_shedding=True)
    assert shed.shed_mw == pytest.approx(40.0, abs=1e-6)
    assert shed.branch.loc[3, "p_mw"] == pytest.approx(50.0, abs=1e-6)


def test_angle_across_the_merged_branch_is_negligible():
    net = dc_network(tied())
    p = np.array([0.9, 0.6, -0.6, -0.9])  # the optimum above, p.u.
    theta = net.solve_angles(p)
    assert abs(np.rad2deg(theta[2] - theta[3])) < 1e-4


def test_x_zero_branch_with_a_phase_shift_is_refused_in_dc():
    with pytest.raises(ValueError, match=r"branch\(es\) 3 \(3–4, shift 5°\) have x = 0"):
        solve(tied(shift_tie=5.0), "dcopf")
