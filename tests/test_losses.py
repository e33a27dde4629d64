"""Linearised losses in the PTDF formulation: LMP components, objective and loss size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dispatchlab.cases.matpower import read_matpower
from dispatchlab.solvers.api import _rates, solve
from dispatchlab.solvers.backends.highs import HighsModel
from dispatchlab.solvers.data import dispatch_data
from dispatchlab.solvers.network import dc_network
from dispatchlab.solvers.problems.dispatch import DispatchOptions, build_dispatch
from dispatchlab.solvers.problems.extract import injections_mw
from dispatchlab.solvers.problems.losses import dc_losses_mw, loss_factors
from dispatchlab.solvers.status import Status

PGLIB = Path(__file__).parents[1] / "dispatchlab" / "cases" / "data" / "pglib"
STEMS = ["case14_ieee", "case30_ieee"]


def pglib(stem: str):
    return read_matpower(PGLIB / f"pglib_opf_{stem}.m")


@pytest.mark.parametrize("stem", STEMS)
def test_components_sum_to_lmp(stem):
    r = solve(pglib(stem), "dcopf", formulation="ptdf", losses=True)
    assert r.optimal
    bus = r.bus
    total = (
        bus["lmp_energy_usd_per_mwh"]
        + bus["lmp_loss_usd_per_mwh"]
        + bus["lmp_congestion_usd_per_mwh"]
    )
    np.testing.assert_allclose(total, bus["lmp_usd_per_mwh"], atol=1e-9)
    assert bus["lmp_loss_usd_per_mwh"].abs().max() > 0.01  # losses do price


@pytest.mark.parametrize("stem", STEMS)
def test_lmp_is_marginal_cost_of_demand(stem):
    """LMP_i = d(objective)/d(demand_i): central differences on the loss-aware model."""
    case = pglib(stem)
    d, net = dispatch_data(case), dc_network(case)
    rate = _rates(case, net, "rate_a_mva")
    opts = DispatchOptions(network="ptdf", losses=True)
    m = build_dispatch(d, opts, net, rate)
    r = solve(case, "dcopf", formulation="ptdf", losses=True)
    hm = HighsModel(m)
    base = {
        name: (m.row_lb[b.positions], m.row_ub[b.positions]) for name, b in m.con_blocks.items()
    }
    labels = m.con_blocks["branch_flow_limit"].index.get_level_values("branch_id")
    ptdf = net.ptdf_rows(pd.Index(net.branch_ids).get_indexer(labels))
    delta = 1e-3
    for i in (0, 5, len(d.bus_ids) - 1):
        obj = []
        for s in (delta, -delta):
            shift = {"power_balance": s, "branch_flow_limit": ptdf[:, i] * s}
            shift.update({k: -lf[i] * s for k, lf in m.loss_factors.items()})
            for name, ds in shift.items():
                lo, hi = base[name]
                hm.set_rhs(name, lo + ds, hi + ds)
            obj.append(hm.solve().objective)
        lmp = r.bus["lmp_usd_per_mwh"].iloc[i]
        assert (obj[0] - obj[1]) / (2 * delta) == pytest.approx(lmp, abs=1e-4)


@pytest.mark.parametrize("stem", STEMS)
def test_losses_raise_cost_and_match_ac_losses(stem):
    case = pglib(stem)
    lossless = solve(case, "dcopf", formulation="ptdf")
    lossy = solve(case, "dcopf", formulation="ptdf", losses=True)
    loss_mw = float(lossy.system["loss_mw"].iloc[0])
    price = float(lossy.system["price_usd_per_mwh"].iloc[0])
    delta = lossy.objective - lossless.objective
    assert 0 < delta < 2 * price * loss_mw
    assert lossy.gen["p_mw"].sum() == pytest.approx(lossy.bus["load_mw"].sum() + loss_mw)
    # the modelled losses are the DC losses Σ r f² of the dispatch
    d, net = dispatch_data(case), dc_network(case)
    inj = np.zeros(len(d.bus_ids))
    np.add.at(inj, d.gens.bus, lossy.gen["p_mw"].reindex(d.gens.ids).to_numpy())
    inj -= lossy.bus["load_mw"].to_numpy()
    assert loss_mw == pytest.approx(float(dc_losses_mw(net, inj)[0]), rel=2e-3)
    # and within 30 % of the AC losses of the same dispatch
    pf = pytest.importorskip("dispatchlab.solvers.powerflow")
    gens = case.gens.copy()
    gens.loc[lossy.gen.index, "p_mw"] = lossy.gen["p_mw"]
    ac = pf.run_ac_powerflow(case.replace(gens=gens)).loss_mw
    assert loss_mw == pytest.approx(ac, rel=0.3)


def test_loss_factors_are_the_gradient_of_dc_losses():
    case = pglib("case14_ieee")
    d, net = dispatch_data(case), dc_network(case)
    rate = _rates(case, net, "rate_a_mva")
    m = build_dispatch(d, DispatchOptions(network="ptdf"), net, rate)
    from dispatchlab.solvers.backends.highs import solve_highs

    p0 = injections_mw(m, solve_highs(m), d)[:, 0]
    lf, l0 = loss_factors(net, p0)
    assert lf[net.ref, 0] == pytest.approx(0.0)
    assert l0[0] + lf[:, 0] @ p0 == pytest.approx(dc_losses_mw(net, p0)[0])
    for i in (1, 4, 9):
        e = np.zeros_like(p0)
        e[i] = 1e-4
        fd = (dc_losses_mw(net, p0 + e) - dc_losses_mw(net, p0 - e))[0] / 2e-4
        assert fd == pytest.approx(lf[i, 0], rel=1e-6, abs=1e-9)


def test_pyomo_backend_with_losses_agrees():
    case = pglib("case30_ieee")
    a = solve(case, "dcopf", formulation="ptdf", losses=True)
    b = solve(case, "dcopf", formulation="ptdf", losses=True, backend="pyomo")
    assert b.status is Status.OPTIMAL
    assert b.objective == pytest.approx(a.objective, rel=1e-6)
    assert np.abs(a.bus["lmp_loss_usd_per_mwh"] - b.bus["lmp_loss_usd_per_mwh"]).max() < 1e-4


def test_losses_need_ptdf():
    with pytest.raises(ValueError, match="ptdf"):
        DispatchOptions(network="btheta", losses=True)
