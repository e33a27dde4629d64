"""Multi-period dispatch checked by hand: ramps, storage arbitrage, SOC bounds, terminal
conditions, and exclusive charge/discharge when prices go negative."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dispatchlab import Case, TimeSeries
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.persistent import DispatchModel
from dispatchlab.solvers.verify import verify


def one_bus_series(gens: dict, loads: list[float], ders: dict | None = None) -> Case:
    """One bus, hourly loads from a time series."""
    index = pd.date_range("2024-01-01", periods=len(loads), freq="h")
    case = Case(
        "one-bus",
        buses={"bus_id": [1], "base_kv": [20.0], "bus_type": ["REF"]},
        gens={"bus": 1, **gens},
        loads={"bus": [1], "p_mw": [loads[0]]},
        ders=ders,
    )
    return case.with_timeseries(TimeSeries({"load_p_mw": pd.DataFrame({0: loads}, index=index)}))


def test_ramp_limits_bind():
    # A: 10 $/MWh, ramps ±30 MW/h; B: 50 $/MWh, no ramp limit. Loads 100, 150, 200, 130.
    #   t0: A = 100.  t1: A ≤ 130 → A = 130, B = 20.  t2: A ≤ 160 → A = 160, B = 40.
    #   t3: A ≥ 160 − 30 = 130 = load → A = 130, B = 0.
    # Cost 1000 + (1300 + 1000) + (1600 + 2000) + 1300 = 8200 $.
    # Prices: t1, t2: B marginal, 50. t0: one more MW lets A reach 131 at t1 and displace B:
    # 10 − (50 − 10) = −30. t3: likewise A could be 161 at t2: −30.
    case = one_bus_series(
        {
            "p_max_mw": [200.0, 200.0],
            "cost_c1_usd_per_mwh": [10.0, 50.0],
            "ramp_up_mw_per_h": [30.0, np.inf],
            "ramp_down_mw_per_h": [30.0, np.inf],
        },
        [100.0, 150.0, 200.0, 130.0],
    )
    r = solve(case, "multiperiod")
    assert r.objective == pytest.approx(8200.0)
    p = r.gen["p_mw"].unstack("period").to_numpy()
    np.testing.assert_allclose(p, [[100, 130, 160, 130], [0, 20, 40, 0]], atol=1e-6)
    np.testing.assert_allclose(r.system["price_usd_per_mwh"], [-30, 50, 50, -30], atol=1e-6)
    assert verify(case, r).ok
    free = solve(case, "multiperiod", ramping=False)
    assert free.objective == pytest.approx(5800.0)  # all 580 MWh from A at 10 $/MWh


def test_storage_arbitrage_with_efficiencies():
    # Cheap gen 10 $/MWh (100 MW), dear 40 $/MWh; loads 50, 50, 150, 150. Storage 20 MW,
    # 100 MWh, η_c = η_d = 0.9, empty at start, cyclic (end ≥ start = 0).
    # Charging 1 MWh costs 10 and returns 0.81 MWh worth 40·0.81 = 32.4 > 10: charge fully at
    # t0, t1 (20 MW each → SOC 18, 36 MWh), then deliver 36·0.9 = 32.4 MWh at t2, t3.
    # Cost: t0, t1: 2·70·10 = 1400; t2, t3: 2·100·10 + (300 − 200 − 32.4)·40 = 4704. Total 6104.
    storage = {
        "bus": [1],
        "kind": ["storage"],
        "p_min_mw": [-20.0],
        "p_max_mw": [20.0],
        "e_max_mwh": [100.0],
        "eff_charge": [0.9],
        "eff_discharge": [0.9],
    }
    case = one_bus_series(
        {"p_max_mw": [100.0, 500.0], "cost_c1_usd_per_mwh": [10.0, 40.0]},
        [50.0, 50.0, 150.0, 150.0],
        storage,
    )
    r = solve(case, "multiperiod")
    assert r.objective == pytest.approx(6104.0)
    st = r.storage.loc[0]
    np.testing.assert_allclose(st["p_charge_mw"].to_numpy()[:2], [20.0, 20.0], atol=1e-6)
    assert st["soc_mwh"].iloc[1] == pytest.approx(36.0)
    assert st["p_discharge_mw"].sum() == pytest.approx(32.4)
    assert st["soc_mwh"].iloc[-1] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(r.system["price_usd_per_mwh"], [10, 10, 40, 40], atol=1e-6)
    assert verify(case, r).ok


@pytest.mark.parametrize(
    ("terminal", "objective", "soc"),
    [
        # free: charge 10 at t0 (20 → 30 = e_max), discharge 20 at t1 (→ 10 = e_min):
        #   600 + 1000 + 30·40 = 2800
        ("free", 2800.0, [30.0, 10.0]),
        # cyclic (end ≥ 20) and fixed (end = 20): discharge only what was charged:
        #   600 + 1000 + 40·40 = 3200
        ("cyclic", 3200.0, [30.0, 20.0]),
        ("fixed", 3200.0, [30.0, 20.0]),
    ],
)
def test_soc_bounds_and_terminal_condition(terminal, objective, soc):
    # Storage 20 MW, SOC in [10, 30] MWh starting at 20; loads 50 (cheap gen spare) and 150.
    storage = {
        "bus": [1],
        "kind": ["storage"],
        "p_min_mw": [-20.0],
        "p_max_mw": [20.0],
        "e_min_mwh": [10.0],
        "e_max_mwh": [30.0],
        "e_init_mwh": [20.0],
    }
    case = one_bus_series(
        {"p_max_mw": [100.0, 500.0], "cost_c1_usd_per_mwh": [10.0, 40.0]}, [50.0, 150.0], storage
    )
    r = solve(case, "multiperiod", storage_terminal=terminal)
    assert r.objective == pytest.approx(objective)
    np.testing.assert_allclose(r.storage["soc_mwh"], soc, atol=1e-6)


def surplus_pv_case() -> Case:
    """Load 10 MW for 4 h, PV 30 MW with a 100 $/MWh curtailment cost (prices go to −100),
    storage 10 MW / 20 MWh, η = 0.9 both ways, empty at start."""
    ders = {
        "bus": [1, 1],
        "kind": ["pv", "storage"],
        "p_max_mw": [30.0, 10.0],
        "p_min_mw": [0.0, -10.0],
        "curtail_cost_usd_per_mwh": [100.0, 0.0],
        "e_max_mwh": [0.0, 20.0],
        "eff_charge": [1.0, 0.9],
        "eff_discharge": [1.0, 0.9],
    }
    return one_bus_series({"p_max_mw": [50.0], "cost_c1_usd_per_mwh": [20.0]}, [10.0] * 4, ders)


def test_negative_prices_lp_burns_energy_and_mip_fixes_it():
    # 80 MWh of PV surplus; every MWh the storage absorbs (Σch − Σdis) saves 100 $.
    # SOC limit: 0.9·Σch − Σdis/0.9 ≤ 20  =>  Σch − Σdis ≤ 0.19·Σch + 18.
    # LP (charge and discharge at once allowed): Σch = 40 → 25.6 MWh absorbed;
    #   cost 100·(80 − 25.6) = 5440.
    # Exclusive modes: charge in k periods (≤ 10k MWh), discharge in the others.
    #   k = 4: no discharge, Σch ≤ 20/0.9: absorbs 22.22. k = 3: Σch = 30, Σdis = 6.3:
    #   absorbs 23.7 (e.g. charge, charge, discharge 6.3, charge). Cost 100·(80 − 23.7) = 5630.
    case = surplus_pv_case()
    lp = solve(case, "multiperiod", storage_exclusive="off")
    assert lp.objective == pytest.approx(5440.0)
    st = lp.storage
    overlap = (st["p_charge_mw"] > 1e-6) & (st["p_discharge_mw"] > 1e-6)
    assert overlap.any()  # the LP cycles through the losses to burn energy
    report = verify(case, lp)
    assert "simultaneous_charge_discharge_mw" in set(report.violations["quantity"])

    r = solve(case, "multiperiod")  # storage_exclusive="auto"
    assert r.info["storage_mip"] is True
    assert r.info["storage_overlaps"] == int(overlap.sum())
    st = r.storage
    assert not ((st["p_charge_mw"] > 1e-6) & (st["p_discharge_mw"] > 1e-6)).any()
    assert r.objective >= r.info["lp_objective"] - 1e-9
    assert r.info["lp_objective"] == pytest.approx(lp.objective)
    assert r.objective == pytest.approx(5630.0)
    assert st["p_charge_mw"].sum() == pytest.approx(30.0)
    assert st["p_discharge_mw"].sum() == pytest.approx(6.3)
    np.testing.assert_allclose(r.system["price_usd_per_mwh"], -100.0, atol=1e-6)  # LP duals
    assert verify(case, r).ok


def test_storage_exclusive_auto_is_a_no_op_without_overlap():
    storage = {
        "bus": [1],
        "kind": ["storage"],
        "p_min_mw": [-20.0],
        "p_max_mw": [20.0],
        "e_max_mwh": [100.0],
        "eff_charge": [0.9],
        "eff_discharge": [0.9],
    }
    case = one_bus_series(
        {"p_max_mw": [100.0, 500.0], "cost_c1_usd_per_mwh": [10.0, 40.0]},
        [50.0, 50.0, 150.0, 150.0],
        storage,
    )
    auto = solve(case, "multiperiod")
    assert auto.info["storage_mip"] is False and "lp_objective" not in auto.info
    always = solve(case, "multiperiod", storage_exclusive="always")
    assert always.info["storage_mip"] is True
    assert always.objective == pytest.approx(auto.objective)
    with pytest.raises(ValueError, match="storage_exclusive"):
        solve(case, "multiperiod", storage_exclusive="sometimes")


def test_storage_exclusive_with_quadratic_costs_uses_the_heuristic():
    case = surplus_pv_case()
    gens = case.gens
    gens["cost_c2_usd_per_mw2h"] = 0.01
    r = solve(case.replace(gens=gens), "multiperiod")
    assert r.optimal and r.info["storage_mip"] is False
    assert r.info["storage_exclusive_method"].startswith("heuristic")
    st = r.storage
    assert not ((st["p_charge_mw"] > 1e-6) & (st["p_discharge_mw"] > 1e-6)).any()
    assert r.objective >= r.info["lp_objective"] - 1e-6


def test_persistent_multiperiod_load_update_of_one_period():
    # The ramp case again; raise the load of the second hour from 150 to 160 in place.
    gens = {"p_max_mw": [200.0, 200.0], "cost_c1_usd_per_mwh": [10.0, 50.0],
            "ramp_up_mw_per_h": [30.0, np.inf], "ramp_down_mw_per_h": [30.0, np.inf]}  # fmt: skip
    case = one_bus_series(gens, [100.0, 150.0, 200.0, 130.0])
    dm = DispatchModel(case, "multiperiod")
    assert dm.solve().objective == pytest.approx(8200.0)
    dm.set_loads(np.array([160.0]), period=1)  # B takes the extra 10 MW: +500 $
    r = dm.solve()
    fresh = solve(one_bus_series(gens, [100.0, 160.0, 200.0, 130.0]), "multiperiod")
    assert r.objective == pytest.approx(fresh.objective) == pytest.approx(8700.0)
    np.testing.assert_allclose(r.system["load_mw"], [100.0, 160.0, 200.0, 130.0])
    assert dm.builds == 1
