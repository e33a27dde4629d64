"""AC-OPF (Ipopt via CasADi) against pandapower's runopp and pandapower's power flow."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pytest
import scipy.sparse as sp

import dispatchlab as dl
from dispatchlab.cases.pandapower_io import to_pandapower
from dispatchlab.solvers.status import Status


def _pandapower_opf_cost(case, monkeypatch) -> float:
    """pandapower runopp (PYPOWER interior point) on ``to_pandapower(case)``.

    The net gets what runopp needs to state the same problem: branch limits (``max_loading_
    percent`` = 100 % of ``rate_a``, apparent power: ``OPF_FLOW_LIM=0``) and a controllable
    ext_grid (its |V| within bus limits). PYPOWER's apparent-power limit uses the ``.H`` of
    scipy sparse matrices, which scipy ≥ 1.14 removed: it is put back for this test only.
    """
    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix):
        if not hasattr(cls, "H"):
            monkeypatch.setattr(cls, "H", property(lambda m: m.conj().T), raising=False)
    net = to_pandapower(case)
    assert len(net.poly_cost) == len(case.gens)  # to_pandapower wrote every gen's cost
    net.ext_grid["controllable"] = True
    for element in ("line", "trafo"):
        if len(net[element]):
            net[element]["max_loading_percent"] = 100.0
    pp.runopp(net, calculate_voltage_angles=True, init="flat", OPF_FLOW_LIM=0)
    assert net.OPF_converged
    return float(net.res_cost)


@pytest.mark.parametrize("name", ["pglib/case5_pjm", "pglib/case14_ieee"])
def test_objective_matches_pandapower_runopp(name: str, monkeypatch) -> None:
    case = dl.load_case(name)
    r = dl.solve(case, "acopf", verify=True)
    assert r.status is Status.OPTIMAL and r.info["ipopt_status"] == "Solve_Succeeded"
    expected = _pandapower_opf_cost(case, monkeypatch)
    assert r.objective == pytest.approx(expected, rel=1e-4)
    assert r.info["verify_converged"]
    assert r.info["verify_max_dvm_pu"] <= 1e-5
    assert r.info["verify_max_dva_deg"] <= 1e-4


def test_solution_is_feasible_and_tables_are_consistent() -> None:
    case = dl.load_case("pglib/case5_pjm")
    r = dl.solve(case, "acopf", init="dcopf")
    assert r.optimal and set(r.timings) == {"build", "solve", "extract"}
    g, b, br = r.gen, r.bus, r.branch
    assert (g["p_mw"] <= case.gens["p_max_mw"] + 1e-5).all()
    assert (b["vm_pu"] <= case.buses["vm_max_pu"] + 1e-6).all()
    assert (br["loading_pct"] <= 100 + 1e-4).all()
    assert br["loading_pct"].max() == pytest.approx(100.0, abs=1e-3)  # branch 4-5 binds
    losses = br["loss_mw"].sum()
    assert g["p_mw"].sum() == pytest.approx(case.loads["p_mw"].sum() + losses, abs=1e-5)
    assert g["cost_usd_per_h"].sum() == pytest.approx(r.objective, rel=1e-9)


def test_lmp_is_the_marginal_cost_of_demand() -> None:
    case = dl.load_case("pglib/case5_pjm")
    r = dl.solve(case, "acopf", tol=1e-10)
    loads = case.loads.copy()
    lid = loads.index[loads["bus"] == 2][0]
    loads.loc[lid, "p_mw"] += 0.01
    r2 = dl.solve(case.replace(loads=loads), "acopf", tol=1e-10)
    finite_difference = (r2.objective - r.objective) / 0.01
    assert r.bus.loc[2, "lmp_usd_per_mwh"] == pytest.approx(finite_difference, rel=1e-4)


@pytest.mark.parametrize("init", ["flat", "dcopf", "powerflow"])
def test_every_init_reaches_the_same_optimum(init: str) -> None:
    case = dl.load_case("pglib/case14_ieee")
    r = dl.solve(case, "acopf", init=init)
    assert r.optimal and r.info["init"] == init
    assert r.objective == pytest.approx(2178.0804, rel=1e-6)


def test_status_mapping_and_bad_options() -> None:
    case = dl.load_case("pglib/case14_ieee")
    assert dl.solve(case, "acopf", max_iter=2).status is Status.TIME_LIMIT
    loads = case.loads.assign(p_mw=case.loads["p_mw"] * 10)
    r = dl.solve(case.replace(loads=loads), "acopf")
    assert r.status is not Status.OPTIMAL and r.gen.empty
    with pytest.raises(ValueError, match="init"):
        dl.solve(case, "acopf", init="warm")
    with pytest.raises(ValueError, match="backend"):
        dl.solve(case, "acopf", backend="highs")


def test_pwl_costs_use_an_epigraph() -> None:
    case = dl.load_case("pglib/case5_pjm")
    gens = case.gens.copy()
    gid = gens.index[0]
    c1 = gens.loc[gid, "cost_c1_usd_per_mwh"]
    gens.loc[gid, "cost_model"] = "pwl"
    pwl = {
        "gen_id": [gid] * 2,
        "point": [0, 1],
        "p_mw": [0.0, 40.0],
        "cost_usd_per_h": [0, 40 * c1],
    }
    r = dl.solve(case.replace(gens=gens, gen_cost_pwl=pwl), "acopf")
    assert r.optimal
    poly = dl.solve(case, "acopf")  # a linear pwl equals the linear poly cost
    assert r.objective == pytest.approx(poly.objective, rel=1e-6)
    assert np.isnan(r.gen.loc[gid, "cost_usd_per_h"])
