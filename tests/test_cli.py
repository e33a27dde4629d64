"""The dispatchlab command: it lists, shows, solves and fails with clear messages."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dispatchlab.cli import app

runner = CliRunner()


def test_help_everywhere():
    for args in ([], ["cases"], ["cases", "list"], ["cases", "show"], ["solve"], ["pf"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_cases_list_and_group():
    result = runner.invoke(app, ["cases", "list", "--group", "seed"])
    assert result.exit_code == 0
    assert "ieee33-seed001" in result.output and "dispatchlab cases (6)" in result.output
    bad = runner.invoke(app, ["cases", "list", "--group", "nope"])
    assert bad.exit_code == 2 and "no case in group 'nope'" in bad.output


def test_cases_show_json_numbers():
    result = runner.invoke(app, ["cases", "show", "ieee123", "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.output)
    assert summary["buses"] == 130
    assert summary["total_load_mw"] == pytest.approx(3.49)


def test_unknown_case_exits_2_with_suggestions():
    result = runner.invoke(app, ["cases", "show", "ieee1188"])
    assert result.exit_code == 2
    assert "closest: ieee118" in result.output


def test_pf_prints_the_lowest_voltage():
    result = runner.invoke(app, ["pf", "ieee33"])
    assert result.exit_code == 0
    assert "vm_min_pu" in result.output and "0.91" in result.output


def test_solve_dcopf_prints_objective_and_lmps():
    result = runner.invoke(app, ["solve", "pglib/case5_pjm", "--problem", "dcopf", "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.output.split("\n}\n")[0] + "\n}")
    assert round(summary["objective"], 2) == 17479.90
    assert "lmp_usd_per_mwh" in result.output


def test_solve_bad_problem_exits_2():
    result = runner.invoke(app, ["solve", "pglib/case5_pjm", "--problem", "nope"])
    assert result.exit_code == 2
    assert "unknown problem 'nope'" in result.output


def test_solve_infeasible_then_with_shedding(tmp_path):
    from dispatchlab.cases.matpower import write_matpower
    from tests.test_shedding import short_three_bus

    path = write_matpower(short_three_bus(), tmp_path / "short.m")
    result = runner.invoke(app, ["solve", str(path), "--show", "none"])
    assert result.exit_code == 1
    assert "infeasible" in result.output and "diagnosis" in result.output
    shed = runner.invoke(app, ["solve", str(path), "--allow-shedding", "--json", "--show", "none"])
    assert shed.exit_code == 0, shed.output
    summary = json.loads(shed.output)
    assert summary["shed_mw"] == pytest.approx(50.0, abs=1e-6)
    assert summary["shedding"] == "50 MW of load shed at VOLL (allow_shedding=True)"


def test_solve_unknown_show_table_is_refused_before_solving(monkeypatch):
    import dispatchlab.solvers.api as api

    monkeypatch.setattr(api, "solve", lambda *a, **k: pytest.fail("solved despite --show typo"))
    result = runner.invoke(app, ["solve", "pglib/case5_pjm", "--show", "busses"])
    assert result.exit_code == 2
    assert "unknown table 'busses'" in result.output and "system" in result.output


def test_solve_show_system_and_merit_backend():
    result = runner.invoke(
        app, ["solve", "pglib/case5_pjm", "-p", "ed", "--backend", "merit", "--show", "system"]
    )
    assert result.exit_code == 0, result.output
    assert "system table" in result.output and "price_usd_per_mwh" in result.output


def test_solve_unknown_dcopf_formulation_lists_lazy_and_auto():
    result = runner.invoke(app, ["solve", "pglib/case5_pjm", "--formulation", "lazzy"])
    assert result.exit_code == 2
    assert (
        "unknown formulation 'lazzy' for dcopf; use one of "
        "('copperplate', 'btheta', 'ptdf', 'lazy', 'auto')" in " ".join(result.output.split())
    )
