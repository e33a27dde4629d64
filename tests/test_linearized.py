"""seed003's linearized power flow, loss factors and DLMPs, checked against AC differences."""

from __future__ import annotations

import numpy as np
import pytest

import dispatchlab as dl
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.powerflow import run_ac_powerflow
from dispatchlab.solvers.problems.linearized import (
    ac_finite_differences,
    dlmp_model,
    linear_sensitivities,
    linearized_network,
    linearized_powerflow,
)

COMPONENTS = [
    "dlmp_energy_usd_per_mwh",
    "dlmp_loss_usd_per_mwh",
    "dlmp_congestion_usd_per_mwh",
    "dlmp_voltage_usd_per_mwh",
]


@pytest.fixture(scope="module")
def ieee123():
    return dl.load_case("ieee123-seed003")


def test_k_factors_by_hand():
    """k1/x = r/(r²+x²), k2/x = x/(r²+x²): r = 0.3, x = 0.4 -> g = 1.2, b = 1.6."""
    case = dl.load_case("ieee33")
    net = linearized_network(case)
    r, x = net.r[0], net.x[0]
    k1, k2 = r * x / (r**2 + x**2), x**2 / (r**2 + x**2)
    assert net.g[0] == pytest.approx(k1 / x) and net.b[0] == pytest.approx(k2 / x)


def test_linearized_flows_and_voltages_match_ac(ieee123):
    """At the case's set-points: |P_lin − P_ac| ≤ total AC losses (the linear model is
    lossless), |V_lin − V_ac| ≤ 0.01 p.u., eq. 7 losses within 10 % of AC losses."""
    lin, ac = linearized_powerflow(ieee123), run_ac_powerflow(ieee123)
    err = (lin["branch"]["p_mw"] - ac.branch["p_from_mw"]).abs().max()
    assert err <= ac.loss_mw + 1e-6
    assert (lin["bus"]["vm_pu"] - ac.bus["vm_pu"]).abs().max() < 0.01
    assert lin["branch"]["loss_mw"].sum() == pytest.approx(ac.loss_mw, rel=0.10)


@pytest.mark.parametrize("bus", [114, 35])
def test_sensitivities_match_ac_finite_differences(ieee123, bus):
    """∂P_flow/∂P_DER within 0.08 MW/MW (AC adds the loss change on the path), loss factor
    (eq. 8) within 12 %, ∂V/∂P_DER within 12 % of its largest value (measured: 6.8 %/8.5 %/
    10.2 % at bus 114, 3.9 %/7.5 %/11 % at bus 35)."""
    der = ieee123.ders.index[(ieee123.ders["bus"] == bus) & (ieee123.ders["kind"] == "dg")][0]
    ac, li = ac_finite_differences(ieee123, der, 0.01), linear_sensitivities(ieee123, der)
    assert (ac["dflow"] - li["dflow"].reindex(ac["dflow"].index)).abs().max() < 0.08
    assert li["dloss"] == pytest.approx(ac["dloss"], rel=0.12)
    scale = ac["dv"].abs().max()
    assert (ac["dv"] - li["dv"].reindex(ac["dv"].index)).abs().max() < 0.12 * scale


@pytest.mark.parametrize(
    "options", [{}, {"flow_limits_mw": {0: 2.0}}, {"v_limits": (0.95, 1.05)}], ids=str
)
def test_dlmp_components_sum_and_equal_marginal_cost(options):
    """IEEE 33 (seed000): components sum to the DLMP, and the DLMP equals the finite-difference
    cost of 1 kW more load at the bus (same linearization); a 2 MW limit on the first line
    adds a congestion part, a 0.95 p.u. floor a voltage part."""
    case = dl.load_case("ieee33-seed000")
    r = solve(case, "dlmp", **options)
    assert r.optimal
    assert np.allclose(r.bus[COMPONENTS].sum(axis=1), r.bus["dlmp_usd_per_mwh"], atol=1e-9)
    m, sol = dlmp_model(case, **options), r.info["solution"]
    for i in (5, 17, 32):
        demand = m.demand.copy()
        demand[i] += 1e-3
        bumped = m.solve(m.lam0, m.p0_lim, sol["lin"], demand=demand)
        fd = (bumped["objective"] - sol["objective"]) / 1e-3
        assert fd == pytest.approx(r.bus["dlmp_usd_per_mwh"].iloc[i], abs=1e-4)
    if "flow_limits_mw" in options:
        assert r.bus["dlmp_congestion_usd_per_mwh"].iloc[1:].min() > 1.0
    if "v_limits" in options:
        assert r.bus["dlmp_voltage_usd_per_mwh"].max() > 1.0


def test_dlmp_ieee123(ieee123):
    """Cheap DERs (21–40 $/MWh < λ0 = 50) export through the 5 MVA regulator: it binds."""
    r = solve(ieee123, "dlmp")
    assert r.optimal and r.info["reference_price_usd_per_mwh"] == 50.0
    assert np.allclose(r.bus[COMPONENTS].sum(axis=1), r.bus["dlmp_usd_per_mwh"], atol=1e-9)
    assert (r.branch["shadow_price_usd_per_mwh"].abs() > 1e-6).any()
    assert r.bus["dlmp_usd_per_mwh"].max() <= 50.0 + 1e-9
