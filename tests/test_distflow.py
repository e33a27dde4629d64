"""Distribution OPF (DistFlow SOCP, LinDistFlow): exactness, AC agreement, DPP re-solve,
seed001's cost by hand, discrete devices and the CLI."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import dispatchlab as dl
from dispatchlab import Case, TimeSeries
from dispatchlab.cli import app
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.distribution.feeder import feeder_data
from dispatchlab.solvers.distribution.objectives import seed001_terms
from dispatchlab.solvers.distribution.verify import ac_check
from dispatchlab.solvers.powerflow import run_ac_powerflow
from dispatchlab.solvers.problems.distflow import _solve, build

warnings.filterwarnings("ignore", message="Solution may be inaccurate")


@pytest.fixture(scope="module")
def ieee33():
    return dl.load_case("ieee33")


@pytest.fixture(scope="module")
def socp33(ieee33):
    return solve(ieee33, "distflow", objective="losses")


def test_socp_exact_and_equal_to_ac_on_ieee33(ieee33, socp33):
    r = socp33
    assert r.optimal and r.info["is_dpp"]
    assert r.info["relaxation_gap_rel"] <= 1e-4
    assert r.info["ac_max_voltage_error_pu"] <= 1e-4
    # no controllable device: the optimum is the power flow itself (0.2027 MW of losses)
    pf = run_ac_powerflow(ieee33)
    assert r.objective == pytest.approx(pf.loss_mw, rel=1e-5)
    assert np.abs(r.bus["vm_pu"] - pf.bus["vm_pu"]).max() <= 1e-4
    assert r.branch["loss_mw"].sum() == pytest.approx(0.2027, abs=1e-4)
    assert set(r.bus.columns) >= {"vm_pu", "marginal_loss_mw_per_mw", "vm_ac_pu"}
    assert set(r.der.columns) >= {"p_mw", "q_mvar"} and set(r.branch.columns) >= {"p_mw"}


def test_lindistflow_voltage_error_measured(ieee33):
    r = solve(ieee33, "lindistflow")
    assert r.optimal and r.info["formulation"] == "lindistflow"
    # measured 0.0028 p.u. on ieee33 (LinDistFlow ignores losses: voltages slightly high)
    assert 0.001 < r.info["ac_max_voltage_error_pu"] <= 0.005


def test_dpp_resolve_equals_fresh_build(ieee33):
    fd = feeder_data(ieee33)
    model, _ = build(fd)
    assert model.problem.is_dpp()
    _solve(model, "auto", {}, "solve")
    model.params["load_p"].value = fd.load_p * 0.8
    model.params["load_q"].value = fd.load_q * 0.8
    _solve(model, "auto", {}, "solve")
    fresh = solve(ieee33.scaled_loads(0.8), "distflow", verify=False)
    assert model.problem.value == pytest.approx(fresh.objective, rel=1e-6)
    vm = np.sqrt(model.var["v"].value[0])
    assert np.abs(vm - fresh.bus["vm_pu"].to_numpy()).max() < 1e-6


def _tiny_two_period() -> Case:
    index = pd.date_range("2024-06-01 10:00", periods=2, freq="h")
    series = {"load_p_mw": pd.DataFrame({0: [1.0, 2.0]}, index=index)}
    series["load_q_mvar"] = pd.DataFrame({0: [0.5, 1.0]}, index=index)
    return Case(
        "tiny",
        buses={"bus_id": [1, 2], "base_kv": [10.0, 10.0], "bus_type": ["REF", "PQ"]},
        branches={"from_bus": [1], "to_bus": [2], "r_pu": [0.05], "x_pu": [0.1]},
        gens={"bus": [1], "p_max_mw": [10.0]},
        loads={"bus": [2], "p_mw": [1.0], "q_mvar": [0.5]},
    ).with_timeseries(TimeSeries(series))


def test_seed001_terms_by_hand():
    vm = np.array([[1.0, 0.92], [1.0, 1.03]])  # bus 2 below the band, then in it
    terms = seed001_terms(vm, np.array([0.01, 0.02]))
    width = 0.12
    assert terms["loss_cost"] == pytest.approx(44 * 0.03)
    assert terms["vol_res"] == pytest.approx(1000 * 0.02 / width)
    # fluctuation around the horizon mean: bus 2 mean 0.975, deviations ±0.055
    assert terms["vol_flu"] == pytest.approx(500 * 2 * 0.055**2 / 2)
    # reward only in band: bus 1 twice (1 each), bus 2 at 1.03: 1 − (0.03/0.06)² = 0.75
    assert terms["vol_rew"] == pytest.approx(-5 * (2 + 0.75))


def test_seed001_model_terms_on_tiny_case():
    """Nothing is controllable: the model's terms follow from its voltages by the documented
    linearisation (U − 1 ≈ (v − 1)/2), and the AC terms from the AC voltages exactly."""
    case = _tiny_two_period()
    r = solve(case, "distflow", objective="seed001", periods="all")
    assert r.optimal
    v = r.bus["vm_pu"].unstack("period").to_numpy().T ** 2  # (T, N)
    du = (v - 1) / 2
    flu = 500 * np.sum((du - du.mean(axis=0)) ** 2) / 2
    res = 1000 * np.sum(np.maximum(0.94**2 - v, 0) / (2 * 0.94 * 0.12))
    rew = -5 * np.sum(1 - (du / 0.06) ** 2)
    loss = 44 * r.system["loss_mw"].sum()
    t = r.info["terms"]
    assert t["vol_flu"] == pytest.approx(flu, rel=1e-5)
    assert t["vol_res"] == pytest.approx(res, rel=1e-5, abs=1e-6)
    assert t["vol_rew"] == pytest.approx(rew, rel=1e-5)
    assert t["loss_cost"] == pytest.approx(loss, rel=1e-5)
    vm_ac = r.bus["vm_ac_pu"].unstack("period").to_numpy().T
    exact = seed001_terms(vm_ac, np.full(2, r.info["ac_loss_mw"] / 2))
    assert r.info["ac_seed001"]["vol_flu"] == pytest.approx(exact["vol_flu"])
    assert r.info["ac_max_voltage_error_pu"] < 1e-5
    assert "dlmp_usd_per_mwh" in r.bus


def test_seed002_discrete_devices_rounded_and_verified():
    case = dl.load_case("ieee33-seed002")
    r = solve(case, "distflow", periods=2)
    assert r.optimal and r.info["discrete"] == "round"
    assert 0 <= r.info["integer_gap_rel"] < 0.01  # measured 5e-4
    assert r.info["ac_max_voltage_error_pu"] < 1e-6
    caps = r.der.loc[[0, 1, 2], "q_mvar"]  # at 1 p.u. ≈ steps of 0.03 Mvar times v
    assert (caps >= -1e-9).all()
    # the fast AC check (one pandapower net, updated) equals Case → run_ac_powerflow
    fd = feeder_data(case, 1)
    model, _ = build(fd, discrete="fixed")
    model.params["tap_a"].value = np.array([[1 / 0.985**2]])
    model.params["cap_b"].value = np.array([[0.006, 0.0, 0.012]])
    _solve(model, "auto", {}, "solve")
    from dispatchlab.solvers.distribution.verify import relaxed_settings
    from dispatchlab.solvers.problems.distflow import _tables

    tables = _tables(fd, model, "losses")
    tables["settings"] = relaxed_settings(model)
    tables["der_q"][:, model.dev.cap] = tables["settings"].caps * fd.base_mva
    fast, slow = ac_check(case, fd, tables), ac_check(case, fd, tables, fast=False)
    assert np.abs(fast["vm"] - slow["vm"]).max() < 1e-9
    assert np.abs(fast["vm"] - np.sqrt(model.var["v"].value)).max() < 1e-6


def test_meshed_case_is_refused():
    with pytest.raises(ValueError, match="meshed"):
        solve(dl.load_case("pglib/case5_pjm"), "distflow")


def test_cli_solve_distflow():
    result = CliRunner().invoke(app, ["solve", "ieee33", "--problem", "distflow"])
    assert result.exit_code == 0, result.output
    assert "relaxation_gap_rel" in result.output and "vm_pu" in result.output
