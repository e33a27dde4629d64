"""The seed configurations: the numbers each paper states (and the ones we chose) are there."""

from __future__ import annotations

import pandas as pd
import pytest

import dispatchlab as dl


def kinds_at(case, kind):
    ders = case.ders
    return sorted(ders.loc[ders["kind"] == kind, "bus"].tolist())


def test_seed000_units_and_day():
    case = dl.load_case("ieee33-seed000")
    assert kinds_at(case, "pv") == [14, 18, 22, 25, 30, 33]
    assert kinds_at(case, "storage") == [6, 16, 31]
    assert kinds_at(case, "flexible_load") == [8, 24, 29]
    ts = case.timeseries
    assert len(ts) == 96 and ts.step == pd.Timedelta("15min")
    # the case's p_mw is the peak of the day: the busiest step carries the full 3.715 MW
    assert ts["load_p_mw"].sum(axis=1).max() == pytest.approx(3.715, rel=0.02)
    assert (ts["der_p_max_mw"].max() <= 0.25 + 1e-12).all()


def test_seed001_table1_with_kw_scaling():
    case = dl.load_case("ieee33-seed001")
    assert kinds_at(case, "microturbine") == [13, 21]
    assert kinds_at(case, "pv") == [15, 19, 29]
    assert kinds_at(case, "wind") == [5, 17, 26]
    assert kinds_at(case, "svc") == [8, 18, 19]
    ders = case.ders
    assert ders.loc[ders["kind"] == "microturbine", "p_max_mw"].tolist() == [0.2, 0.2]
    assert ders.loc[ders["kind"] == "svc", "q_max_mvar"].tolist() == [0.1, 0.1, 0.1]
    buses = case.buses
    assert buses.loc[2, ["vm_min_pu", "vm_max_pu"]].tolist() == [0.94, 1.06]
    assert len(case.timeseries) == 24 and case.timeseries.step == pd.Timedelta("1h")


def test_seed002_devices():
    case = dl.load_case("ieee33-seed002")
    assert case.buses.loc[1, "vm_pu"] == 1.05
    head = case.branches.query("from_bus == 1 and to_bus == 2").iloc[0]
    assert head["kind"] == "transformer"
    assert (head["tap_min"], head["tap_max"], head["tap_steps"]) == (0.975, 1.025, 11)
    caps = case.ders[case.ders["kind"] == "capacitor"]
    assert sorted(caps["bus"]) == [10, 12, 29]
    assert (caps["q_step_mvar"] * caps["n_steps"]).tolist() == pytest.approx([0.12] * 3)
    assert kinds_at(case, "dg") == [17, 25, 32] and kinds_at(case, "svg") == [15]


def test_seed003_a_100kw_der_at_every_bus():
    case = dl.load_case("ieee123-seed003")
    dg = case.ders[case.ders["kind"] == "dg"]
    assert len(dg) == case.n_buses - 1  # every bus but the substation source
    assert (dg["p_max_mw"] == 0.1).all()
    assert dg["cost_usd_per_mwh"].between(20, 40).all()


def test_seed004_units_wind_and_horizon():
    case = dl.load_case("ieee30-seed004")
    gens = case.gens
    assert gens["p_min_mw"].min() == 6.0 and gens["p_max_mw"].max() == 82.0
    ramps_15min = gens["ramp_up_mw_per_h"] / 4
    assert ramps_15min.min() == 8.0 and ramps_15min.max() == 16.0
    wind = case.ders[case.ders["kind"] == "wind"]
    assert dict(zip(wind["bus"], wind["p_max_mw"], strict=True)) == {7: 58.0, 19: 42.0, 27: 38.0}
    assert case.n_branches == 41
    assert len(case.timeseries) == 8640  # 90 days at 15 min


def test_seed004_multiperiod_dispatch_is_feasible_without_shedding():
    case = dl.load_case("ieee30-seed004")
    result = dl.solve(case, "multiperiod", periods=24, allow_shedding=False)
    assert result.optimal
    assert result.system["gen_mw"].min() >= case.gens["p_min_mw"].sum() - 1e-6
