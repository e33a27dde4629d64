"""DC-OPF with lazily added line limits reaches the B-θ optimum and the same LMPs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import dispatchlab as dl


@pytest.mark.parametrize("name", ["pglib/case5_pjm", "pglib/case118_ieee", "pglib/case300_ieee"])
def test_lazy_equals_btheta(name):
    case = dl.load_case(name)
    full = dl.solve(case, "dcopf", formulation="btheta")
    lazy = dl.solve(case, "dcopf", formulation="lazy")
    assert lazy.optimal and lazy.problem == "dcopf" and lazy.info["formulation"] == "lazy"
    assert lazy.objective == pytest.approx(full.objective, rel=1e-6)
    lmp = lazy.bus["lmp_usd_per_mwh"] - full.bus["lmp_usd_per_mwh"]
    assert np.abs(lmp.to_numpy()).max() <= 1e-3
    # only the limits that bind were added, far fewer rows than the branches
    assert lazy.info["constraints_added"] < case.n_branches / 2


def test_case5_lazy_adds_the_congested_line():
    lazy = dl.solve(dl.load_case("pglib/case5_pjm"), "dcopf", formulation="lazy")
    assert lazy.objective == pytest.approx(17479.897, abs=1e-2)
    assert lazy.info["rounds"] >= 1 and lazy.info["constraints_added"] >= 1


# ------------------------------------------------------------------ formulation="auto"
def test_auto_picks_btheta_below_the_threshold_and_lazy_above(monkeypatch):
    from dispatchlab.solvers import api

    case = dl.load_case("pglib/case118_ieee")
    assert api.choose_dc_formulation(case)[0] == "btheta"
    small = dl.solve(case, "dcopf")  # auto is the default
    assert small.info["formulation"] == "btheta"
    assert small.info["formulation_choice"] == "auto: 118 buses < 1000, btheta"
    monkeypatch.setattr(api, "AUTO_LAZY_MIN_BUSES", 100)
    large = dl.solve(case, "dcopf", formulation="auto")
    assert large.info["formulation"] == "lazy" and large.info["method"] == "lazy"
    assert large.info["formulation_choice"].startswith("auto: 118 buses >= 100")
    assert large.objective == pytest.approx(small.objective, rel=1e-9)
    # where the lazy loop lacks a feature, auto stays with a full model
    assert api.choose_dc_formulation(case, "pyomo")[0] == "btheta"
    assert api.choose_dc_formulation(case, "auto", {"losses": True})[0] == "ptdf"
    storage = case.replace(
        ders=pd.DataFrame(
            {
                "bus": [1],
                "kind": ["storage"],
                "p_max_mw": [10.0],
                "p_min_mw": [-10.0],
                "e_max_mwh": [20.0],
            }
        )
    )
    assert api.choose_dc_formulation(storage)[0] == "btheta"
    assert api.choose_dc_formulation(storage, "auto", {"storage_exclusive": "off"})[0] == "lazy"


def test_auto_threshold_sits_between_shipped_cases():
    from dispatchlab.solvers.api import AUTO_LAZY_MIN_BUSES, choose_dc_formulation

    assert AUTO_LAZY_MIN_BUSES == 1000  # docs/solvers.md gives the measurements behind it
    assert choose_dc_formulation(dl.load_case("pglib/case500_goc"))[0] == "btheta"
    assert choose_dc_formulation(dl.load_case("pglib/case1354_pegase"))[0] == "lazy"


@pytest.mark.parametrize("name", ["pglib/case5_pjm", "pglib/case14_ieee", "pglib/case30_ieee",
                                  "pglib/case57_ieee", "pglib/case118_ieee"])  # fmt: skip
def test_every_formulation_same_optimum_with_the_case_angle_limits(name):
    case = dl.load_case(name)
    ref = dl.solve(case, "dcopf", formulation="btheta", allow_shedding=False)
    assert ref.optimal and ref.branch["angle_diff_deg"].abs().max() <= 30.0  # PGLib: ±30°
    for formulation in ("ptdf", "lazy", "auto"):
        r = dl.solve(case, "dcopf", formulation=formulation, allow_shedding=False)
        assert r.objective == pytest.approx(ref.objective, rel=1e-8), formulation
        np.testing.assert_allclose(r.gen["p_mw"], ref.gen["p_mw"], atol=1e-4)
    sced = dl.solve(case, "sced", formulation="auto", contingencies=[], allow_shedding=False)
    assert sced.objective == pytest.approx(ref.objective, rel=1e-8)


# ------------------------------------------------------------- the lazy loop (issue 20)
def test_lazy_clarabel_rounds_are_small_and_reach_the_btheta_optimum():
    """Cold (Clarabel) re-solves add ≤ 10 rows per round (``K_PER_ROUND``), the first solve
    (balance row only) is the exact merit order, and the optimum is B-θ's."""
    from dispatchlab.solvers.problems.sced import K_PER_ROUND

    case = dl.load_case("pglib/case300_ieee")  # 22 limits violated at the copper-plate optimum
    ref = dl.solve(case, "dcopf", formulation="btheta")
    lazy = dl.solve(case, "dcopf", formulation="lazy", backend="clarabel")
    assert lazy.info["backend"] == "clarabel" and K_PER_ROUND["clarabel"] == 10
    assert lazy.objective == pytest.approx(ref.objective, rel=1e-8)
    added = [e["added_base"] for e in lazy.info["per_round"][:-1]]
    assert lazy.info["per_round"][0]["base_violations"] == 22
    assert max(added) == 10 and 1 <= lazy.info["rounds"] <= 5
    warm = dl.solve(case, "dcopf", formulation="lazy", backend="highs")
    assert warm.info["per_round"][0]["added_base"] == 22  # 50 per round
    assert warm.objective == pytest.approx(ref.objective, rel=1e-9)


def test_lazy_first_solve_is_the_merit_order(monkeypatch):
    from dispatchlab.solvers.problems import ed_merit

    calls = []
    original = ed_merit.solve_merit
    monkeypatch.setattr(ed_merit, "solve_merit", lambda m: calls.append(m.n_rows) or original(m))
    case = dl.load_case("pglib/case118_ieee")
    r = dl.solve(case, "dcopf", formulation="lazy", backend="clarabel")
    assert calls == [1] and r.info["rounds"] == 1
    assert r.objective == pytest.approx(93132.679288, rel=1e-9)


def test_flow_rows_leave_out_columns_fixed_at_zero():
    """PTDF rows carry no coefficient on load shedding when it is off (ub = 0): dense and
    useless; with shedding allowed they do, and the objective does not depend on it."""
    from dispatchlab.solvers.data import dispatch_data
    from dispatchlab.solvers.problems.dispatch import DispatchOptions, build_dispatch
    from dispatchlab.solvers.problems.sced_rows import live_injection_terms

    case = dl.load_case("pglib/case118_ieee")
    d = dispatch_data(case)
    for shed in (False, True):
        m = build_dispatch(d, DispatchOptions(allow_shedding=shed))
        _, _, cols, _ = live_injection_terms(m, d)
        shed_cols = m.var_blocks["load_shed_mw"].positions
        assert np.isin(shed_cols, cols).all() if shed else not np.isin(shed_cols, cols).any()
    a = dl.solve(case, "dcopf", formulation="lazy", allow_shedding=True)
    b = dl.solve(case, "dcopf", formulation="lazy")
    assert a.objective == pytest.approx(b.objective, rel=1e-9)
