"""The Case model: validation reports every problem, tables are immutable, variants are new."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dispatchlab import Case, CaseValidationError, TimeSeries
from tests.conftest import three_bus_tables


def test_defaults_and_dtypes(three_bus):
    assert three_bus.n_buses == 3 and three_bus.n_branches == 3 and three_bus.n_gens == 2
    assert three_bus.buses["vm_max_pu"].tolist() == [1.1, 1.1, 1.1]
    assert three_bus.gens["q_max_mvar"].tolist() == [math.inf, math.inf]
    assert three_bus.branches["tap_ratio"].dtype == np.float64
    assert three_bus.branches.index.name == "branch_id"
    assert three_bus.total_load_mw == 150.0
    assert three_bus.summary()["gen_capacity_mw"] == 300.0


def test_validation_reports_every_problem_at_once():
    t = three_bus_tables()
    t["buses"]["bus_type"] = ["PQ", "PV", "PQ"]  # island without a reference bus
    t["buses"]["vm_min_pu"] = [1.2, 0.9, 0.9]  # reversed limits
    t["branches"]["x_pu"] = [0.1, 0.0, -0.2]  # zero impedance and negative reactance
    t["branches"]["r_pu"] = [0.01, 0.0, 0.02]
    t["branches"]["to_bus"] = [2, 9, 3]  # missing bus
    t["gens"]["p_min_mw"] = [250.0, 0.0]  # reversed limits
    t["loads"]["p_mw"] = [float("nan")]
    with pytest.raises(CaseValidationError) as err:
        Case("bad", **t)
    problems = err.value.problems
    text = "\n".join(problems)
    assert "loads.p_mw: NaN or inf at id(s) [0]" in text
    assert "buses: vm_min_pu > vm_max_pu (reversed limits) at id(s) [1]" in text
    assert "branches.to_bus: reference(s) to missing bus(es): ['1->9']" in text
    assert "zero impedance (r_pu = x_pu = 0) at id(s) [1]" in text
    assert "non-positive reactance at id(s) [2]" in text
    assert "gens: p_min_mw > p_max_mw (reversed limits) at id(s) [0]" in text
    assert "has no REF bus" in text
    assert len(problems) == 7
    assert "case 'bad' is invalid (7 problem(s))" in str(err.value)


def test_negative_reactance_allowed_when_asked():
    t = three_bus_tables()
    t["branches"]["x_pu"] = [0.1, 0.1, -0.05]
    case = Case("series-compensated", **t, allow_negative_x=True)
    assert case.branches.loc[2, "x_pu"] == -0.05


def test_unknown_column_and_bad_category_are_errors():
    t = three_bus_tables()
    t["gens"]["pmax"] = [1.0, 2.0]
    t["buses"]["bus_type"] = ["REF", "PV", "SLACK"]
    with pytest.raises(CaseValidationError) as err:
        Case("bad", **t)
    text = str(err.value)
    assert "gens: unknown column(s) ['pmax']" in text
    assert "buses.bus_type: unknown value(s) ['SLACK'] at id(s) [3]" in text


def test_required_column_missing():
    t = three_bus_tables()
    del t["branches"]["x_pu"]
    with pytest.raises(CaseValidationError, match="branches: required column 'x_pu' is missing"):
        Case("bad", **t)


def test_tables_are_copies_and_the_case_is_immutable(three_bus):
    buses = three_bus.buses
    buses.loc[1, "vm_pu"] = 1.05  # editing a copy is fine …
    buses["extra"] = 1.0
    assert three_bus.buses.loc[1, "vm_pu"] == 1.0  # … and never reaches the Case
    assert "extra" not in three_bus.buses.columns
    assert three_bus.replace(buses=buses.drop(columns="extra")).buses.loc[1, "vm_pu"] == 1.05
    with pytest.raises(ValueError, match="read-only"):
        three_bus.table("buses").loc[1, "vm_pu"] = 1.05
    with pytest.raises(AttributeError, match="immutable"):
        three_bus.base_mva = 10.0


def test_with_ders_returns_a_new_validated_case(three_bus):
    pv = three_bus.with_ders({"bus": [3], "kind": ["pv"], "p_max_mw": [40.0]})
    both = pv.with_ders(
        {
            "bus": [2],
            "kind": ["storage"],
            "p_min_mw": [-10.0],
            "p_max_mw": [10.0],
            "e_max_mwh": [40.0],
            "e_init_mwh": [20.0],
            "eff_charge": [0.95],
            "eff_discharge": [0.95],
        }
    )
    assert len(three_bus.ders) == 0 and len(pv.ders) == 1
    assert both.ders.index.tolist() == [0, 1]
    assert both.ders["kind"].tolist() == ["pv", "storage"]
    assert both.summary()["der_capacity_mw"] == 50.0
    with pytest.raises(CaseValidationError, match="e_init_mwh: outside"):
        three_bus.with_ders(
            {"bus": [2], "kind": ["storage"], "e_max_mwh": [10.0], "e_init_mwh": [20.0]}
        )


def test_at_takes_values_from_the_time_series(three_bus, hourly_index):
    pv = three_bus.with_ders({"bus": [3], "kind": ["pv"], "p_max_mw": [40.0]})
    load = pd.DataFrame({0: np.linspace(100, 146, 24)}, index=hourly_index)
    solar = pd.DataFrame({0: np.linspace(0, 23, 24)}, index=hourly_index)
    ts = TimeSeries({"load_p_mw": load, "der_p_max_mw": solar}, source="hand-made")
    case = pv.with_timeseries(ts)
    snap = case.at(5)
    assert snap.loads.loc[0, "p_mw"] == pytest.approx(110.0)
    assert snap.ders.loc[0, "p_max_mw"] == pytest.approx(5.0)
    assert snap.timeseries is None and snap.meta["time"] == "2024-01-01 05:00:00"
    assert case.at("2024-01-01 05:00").loads.loc[0, "p_mw"] == pytest.approx(110.0)
    assert case.loads.loc[0, "p_mw"] == 150.0  # the original is untouched
    with pytest.raises(IndexError, match="outside the time series of 24 steps"):
        case.at(24)


def test_time_series_errors(three_bus, hourly_index):
    bad = pd.DataFrame({7: np.ones(24)}, index=hourly_index)
    with pytest.raises(CaseValidationError, match=r"columns name missing loads \[7\]"):
        three_bus.with_timeseries(TimeSeries({"load_p_mw": bad}))
    nan = pd.DataFrame({0: [np.nan] + [1.0] * 23}, index=hourly_index)
    with pytest.raises(ValueError, match="NaN or inf in column"):
        TimeSeries({"load_p_mw": nan})
    with pytest.raises(ValueError, match="unknown key"):
        TimeSeries({"load_pmw": nan})


def test_hash_and_equality(three_bus):
    same = Case("three-bus", **three_bus_tables())
    assert same.case_hash() == three_bus.case_hash()
    heavier = three_bus.scaled_loads(1.1)
    assert heavier.case_hash() != three_bus.case_hash()
    assert heavier.total_load_mw == pytest.approx(165.0)
    assert heavier.differences(three_bus) == [
        "loads.p_mw: differs at id(s) [0]",
        "loads.q_mvar: differs at id(s) [0]",
    ]
    assert three_bus.equals(same)


def test_replace_rejects_unknown_fields(three_bus):
    with pytest.raises(TypeError, match="unknown field"):
        three_bus.replace(bus=None)
    assert three_bus.replace(base_mva=10.0).base_mva == 10.0
