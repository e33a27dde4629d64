"""Independent verification of dispatch results, and the diagnosis of infeasible problems."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dispatchlab import Case, TimeSeries
from dispatchlab.cases.matpower import read_matpower
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.status import Status
from dispatchlab.solvers.verify import VIOLATION_COLUMNS, verify

PGLIB = Path(__file__).parents[1] / "dispatchlab" / "cases" / "data" / "pglib"


@pytest.fixture(scope="module")
def case5() -> Case:
    return read_matpower(PGLIB / "pglib_opf_case5_pjm.m")


def dense_ptdf(case: Case) -> np.ndarray:
    """PTDF (branch × bus) from a dense inverse of the reduced B matrix, written out here so
    that the test does not lean on dispatchlab's own network code."""
    buses, br = case.buses, case.branches
    pos = {b: i for i, b in enumerate(buses.index)}
    f, t = br["from_bus"].map(pos).to_numpy(), br["to_bus"].map(pos).to_numpy()
    b = 1.0 / (br["x_pu"].to_numpy() * br["tap_ratio"].to_numpy())
    a = np.zeros((len(br), len(buses)))
    a[np.arange(len(br)), f], a[np.arange(len(br)), t] = 1.0, -1.0
    bbus = a.T @ np.diag(b) @ a
    keep = np.flatnonzero(buses["bus_type"].to_numpy() != "REF")
    ptdf = np.zeros_like(a)
    ptdf[:, keep] = np.diag(b) @ a[:, keep] @ np.linalg.inv(bbus[np.ix_(keep, keep)])
    return ptdf


@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_solver_result_verifies_clean(case5, formulation):
    r = solve(case5, "dcopf", formulation=formulation)
    report = verify(case5, r)
    assert report.ok, report.violations
    assert list(report.violations.columns) == VIOLATION_COLUMNS
    assert {"balance", "limits", "branch_flows"} <= set(report.checks)
    np.testing.assert_allclose(report.flows["p_mw"], r.branch["p_mw"], atol=1e-6)
    assert report.summary()["violations"] == 0


def test_tampered_dispatch_overloads_the_congested_branch(case5):
    # The DC-OPF holds line 4–5 (branch 5) at its 240 MW limit. Moving 20 MW from gen 2
    # (bus 3) to gen 4 (bus 5) keeps the balance but changes that flow by
    # 20·(PTDF[5, bus 5] − PTDF[5, bus 3]).
    r = solve(case5, "dcopf")
    tampered = copy.copy(r)
    gen = r.gen.copy()
    gen.loc[2, "p_mw"] -= 20.0
    gen.loc[4, "p_mw"] += 20.0
    tampered.gen = gen
    report = verify(case5, tampered)
    assert not report.ok
    ptdf = dense_ptdf(case5)
    col = {b: i for i, b in enumerate(case5.buses.index)}
    expected = r.branch.loc[5, "p_mw"] + 20.0 * (ptdf[5, col[5]] - ptdf[5, col[3]])
    over = report.violations[report.violations["quantity"] == "flow_mw"]
    assert over["id"].tolist() == [5]
    assert over["value"].iloc[0] == pytest.approx(expected, abs=1e-6)
    assert over["amount"].iloc[0] == pytest.approx(abs(expected) - 240.0, abs=1e-6)
    assert over["amount"].iloc[0] > 1.0
    # the solver's reported flows no longer match the injections either
    assert "reported_flow_mw" in set(report.violations["quantity"])
    assert not (report.violations["quantity"] == "power_balance_mw").any()


def test_limits_and_balance_violations_are_named(case5):
    r = solve(case5, "dcopf")
    bad = copy.copy(r)
    gen = r.gen.copy()
    gen.loc[0, "p_mw"] = 50.0  # gen 0 is rated 40 MW; the system is now 10 MW long
    bad.gen = gen
    v = verify(case5, bad).violations.set_index("quantity")
    assert v.loc["p_max_mw", "id"] == 0
    assert v.loc["p_max_mw", "amount"] == pytest.approx(10.0)
    assert v.loc["power_balance_mw", "amount"] == pytest.approx(10.0)


def test_ramp_violation_in_a_multiperiod_result():
    index = pd.date_range("2024-01-01", periods=3, freq="h")
    case = Case(
        "ramp",
        buses={"bus_id": [1], "base_kv": [20.0], "bus_type": ["REF"]},
        gens={
            "bus": [1, 1],
            "p_max_mw": [200.0, 200.0],
            "cost_c1_usd_per_mwh": [10.0, 50.0],
            "ramp_up_mw_per_h": [30.0, np.inf],
        },
        loads={"bus": [1], "p_mw": [100.0]},
    )
    case = case.with_timeseries(
        TimeSeries({"load_p_mw": pd.DataFrame({0: [100.0, 150, 150]}, index=index)})
    )
    r = solve(case, "multiperiod")
    assert verify(case, r).ok
    bad = copy.copy(r)
    gen = r.gen.copy()
    gen.loc[(0, index[1]), "p_mw"] += 20.0  # A jumps 50 MW in an hour (limit 30) …
    gen.loc[(1, index[1]), "p_mw"] -= 20.0  # … and B gives the 20 MW back
    bad.gen = gen
    v = verify(case, bad).violations
    assert v["quantity"].tolist() == ["ramp_up_mw"]
    assert (v["id"].iloc[0], v["period"].iloc[0]) == (0, index[1])
    assert v["amount"].iloc[0] == pytest.approx(20.0)


def test_ac_check_reports_slack_mismatch_and_voltages():
    case = read_matpower(PGLIB / "pglib_opf_case14_ieee.m")
    r = solve(case, "dcopf")
    report = verify(case, r, ac=True)
    ac = report.ac.iloc[0]
    # The DC dispatch ignores losses: the AC slack must make them up.
    assert ac["loss_mw"] > 1.0
    assert ac["slack_mismatch_mw"] == pytest.approx(ac["slack_ac_mw"] - ac["slack_dispatch_mw"])
    assert ac["slack_mismatch_mw"] == pytest.approx(ac["loss_mw"], abs=0.5)
    assert 0.9 < ac["vm_min_pu"] <= ac["vm_max_pu"] < 1.1
    summary = report.summary()
    assert summary["ac_slack_mismatch_mw"] == pytest.approx(ac["slack_mismatch_mw"])
    voltage = report.violations[report.violations["quantity"].str.startswith("vm_")]
    in_range = (case.buses["vm_min_pu"] <= ac["vm_min_pu"]).all() and (
        ac["vm_max_pu"] <= case.buses["vm_max_pu"]
    ).all()
    assert voltage.empty == in_range


# --------------------------------------------------------------------------- diagnosis
def pocket() -> Case:
    """Triangle, x = 0.1 everywhere. 200 MW load at bus 3 with a 50 MW local gen; the two
    lines into bus 3 are rated 60 MW; all cheap power comes from bus 1."""
    return Case(
        "pocket",
        buses={"bus_id": [1, 2, 3], "base_kv": [110.0] * 3, "bus_type": ["REF", "PQ", "PQ"]},
        branches={
            "from_bus": [1, 1, 2],
            "to_bus": [2, 3, 3],
            "r_pu": [0.0] * 3,
            "x_pu": [0.1] * 3,
            "rate_a_mva": [np.inf, 60.0, 60.0],
        },
        gens={"bus": [1, 3], "p_max_mw": [500.0, 50.0], "cost_c1_usd_per_mwh": [10.0, 30.0]},
        loads={"bus": [3], "p_mw": [200.0]},
    )


@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_diagnosis_names_the_bus_and_the_line(formulation):
    # Bus 3 must import 200 − 50 = 150 MW. An import I splits 2/3 on line 1–3 (branch 1) and
    # 1/3 on 1–2–3, so branch 1 caps it: 2I/3 ≤ 60 → I ≤ 90. Shortfall at bus 3: 60 MW.
    # Relaxing lines instead: I = 150 puts 100 MW on branch 1 (40 over) and 50 on branch 2 (ok).
    r = solve(pocket(), "dcopf", formulation=formulation, allow_shedding=False)
    assert r.status is Status.INFEASIBLE
    diag = r.diagnosis
    short = diag[diag["stage"] == "shortfall"]
    assert short[["kind", "element_id", "direction"]].values.tolist() == [
        ["balance", 3, "shortfall"]
    ]
    assert short["slack_mw"].iloc[0] == pytest.approx(60.0, abs=1e-6)
    limits = diag[diag["stage"] == "limits"]
    assert limits[["kind", "element_id", "direction"]].values.tolist() == [
        ["branch limit", 1, "over from→to"]
    ]
    assert limits["slack_mw"].iloc[0] == pytest.approx(40.0, abs=1e-6)
    # with shedding allowed the same case is feasible and sheds exactly the shortfall
    shed = solve(pocket(), "dcopf", formulation=formulation, allow_shedding=True)
    assert shed.shed_mw == pytest.approx(60.0)


def test_diagnosis_of_a_ramp_and_a_copper_plate_shortfall():
    # One gen (150 MW, ramp 30 MW/h), loads 100 then 140: the ramp allows 130 (10 short);
    # in the third hour the load of 170 exceeds the 150 MW capacity (20 short), which no
    # ramp can fix (130 → 150 or 140 → 150 are both within the ramp)
    index = pd.date_range("2024-01-01", periods=3, freq="h")
    case = Case(
        "ramp",
        buses={"bus_id": [1], "base_kv": [20.0], "bus_type": ["REF"]},
        gens={
            "bus": [1],
            "p_max_mw": [150.0],
            "cost_c1_usd_per_mwh": [10.0],
            "ramp_up_mw_per_h": [30.0],
        },
        loads={"bus": [1], "p_mw": [100.0]},
    )
    case = case.with_timeseries(
        TimeSeries({"load_p_mw": pd.DataFrame({0: [100.0, 140.0, 170.0]}, index=index)})
    )
    r = solve(case, "multiperiod", allow_shedding=False)
    assert r.status is Status.INFEASIBLE
    diag = r.diagnosis.set_index(["stage", "kind", "period"])
    assert diag.loc[("shortfall", "balance", index[1]), "slack_mw"] == pytest.approx(10.0)
    assert diag.loc[("shortfall", "balance", index[2]), "slack_mw"] == pytest.approx(20.0)
    assert diag.loc[("limits", "ramp", index[1]), "slack_mw"] == pytest.approx(10.0)
    assert diag.loc[("limits", "ramp", index[1]), "direction"] == "up too fast"
    assert diag.loc[("limits", "balance", index[2]), "slack_mw"] == pytest.approx(20.0)
    assert len(r.diagnosis) == 4
    assert set(r.diagnosis["element_id"][r.diagnosis["kind"] == "balance"]) == {-1}
