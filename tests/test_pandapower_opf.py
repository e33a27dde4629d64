"""pandapower nets with OPF data: ``solve(from_pandapower(net), "acopf")`` against ``runopp``.

The contract (docs/case-model.md): where pandapower's ``runopp`` converges, our AC-OPF converges
with an objective ≤ runopp's × (1 + 1e-6). Ipopt's tighter feasibility makes ours a little
lower or higher than PIPS' (whose power balances keep residuals up to ``OPF_VIOLATION``); a
lower cost by more than 1e-4 would mean a constraint got lost, so that is checked too.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import warnings

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

import dispatchlab as dl
from dispatchlab.cases.matpower import read_matpower, write_matpower
from dispatchlab.cases.pandapower_io import TAG_KEY, from_pandapower, to_pandapower
from dispatchlab.solvers.status import Status
from tests import pandapower_opf_nets as nets

NETS = {
    "opf_basic": (nets.opf_basic, {"delta": 1e-16}),  # as the tutorial runs it
    "opf_basic_pwl": (lambda: nets.opf_basic(pwl=True), {}),
    "reactive_market": (nets.reactive_market, {}),
    "storage_and_curtailment": (nets.storage_and_curtailment, {}),
    "cigre_mv_all_ders": (nets.cigre_mv_market, {}),
    "cigre_mv_pv_wind": (lambda: nets.cigre_mv_market("pv_wind"), {}),
    **{name: (lambda name=name: nets.matpower_case(name), {}) for name in
       ("case9", "case14", "case30", "case_ieee30", "case39", "case118")},
}  # fmt: skip


def runopp_cost(net: pp.pandapowerNet, **options) -> float | None:
    """pandapower's objective on a copy of ``net`` (``None`` where runopp does not converge)."""
    work = copy.deepcopy(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            pp.runopp(work, **options)
        except pp.optimal_powerflow.OPFNotConverged:
            return None
        finally:
            logging.disable(logging.NOTSET)
    return float(work.res_cost)


def assert_contract(net: pp.pandapowerNet, **options) -> dl.Result:
    expected = runopp_cost(net, **options)
    if expected is None:
        pytest.skip("runopp does not converge on this net: no contract")
    r = dl.solve(from_pandapower(net), "acopf")
    assert r.status is Status.OPTIMAL, r.info
    scale = max(abs(expected), 1.0)
    assert r.objective <= expected + 1e-6 * scale
    assert r.objective >= expected - 1e-4 * scale
    return r


@pytest.mark.parametrize("name", list(NETS))
def test_objective_is_runopps(name: str) -> None:
    build, options = NETS[name]
    assert_contract(build(), **options)


def test_opf_basic_limits_hold_in_pandapowers_power_flow() -> None:
    """The tutorial's 50 % transformer and line limits bind: at our set-points pandapower's own
    power flow loads them to 50 % of the rated current (iron losses included), not more."""
    net = nets.opf_basic()
    r = assert_contract(net, delta=1e-16)
    net.gen["p_mw"] = r.gen.loc[[1, 2], "p_mw"].to_numpy()
    net.gen["vm_pu"] = r.bus.loc[net.gen["bus"], "vm_pu"].to_numpy()
    net.ext_grid["vm_pu"] = r.bus.loc[net.ext_grid["bus"], "vm_pu"].to_numpy()
    pp.runpp(net, tolerance_mva=1e-10)
    assert net.res_trafo.at[0, "loading_percent"] == pytest.approx(50.0, abs=1e-4)
    assert net.res_line["loading_percent"].max() == pytest.approx(50.0, abs=1e-4)
    assert r.objective == pytest.approx(1642.2574, rel=1e-6)  # runopp: 1642.25741


@functools.cache
def _simbench(code: str) -> pp.pandapowerNet:
    """A SimBench net as ``simbench`` ships it (reading its CSV files takes ~9 s: once)."""
    return pytest.importorskip("simbench").get_simbench_net(code)


@pytest.mark.parametrize(
    "code",
    [
        "1-HV-urban--0-sw",  # ≈ 7 s each, mostly reading SimBench's CSV files
        "1-HV-mixed--0-sw",
        pytest.param("1-MV-urban--0-sw", marks=pytest.mark.slow),  # 150° HV/MV shifts
    ],
)
def test_simbench_curtailment(code: str) -> None:
    """SimBench grids (metadata tables, open bus-bus switches; HV-mixed: three ext_grids, of
    which pandapower's OPF frees two angles) with curtailable sgens: runopp's objective, and our
    set-points feasible in pandapower's own power flow (voltage band, line limits)."""
    net = nets.simbench_curtailment(copy.deepcopy(_simbench(code)))
    r = assert_contract(net)
    net.sgen["p_mw"] = r.der.loc[net.sgen.index, "p_mw"].to_numpy()
    net.sgen["q_mvar"] = r.der.loc[net.sgen.index, "q_mvar"].to_numpy()
    at = r.bus.loc[net.ext_grid["bus"]]
    net.ext_grid["vm_pu"] = at["vm_pu"].to_numpy()
    net.ext_grid["va_degree"] = at["va_deg"].to_numpy()
    pp.runpp(net, calculate_voltage_angles=True, tolerance_mva=1e-9)
    vm = net.res_bus["vm_pu"].dropna()
    band = net.bus.loc[vm.index, ["min_vm_pu", "max_vm_pu"]]
    assert (vm <= band["max_vm_pu"] + 1e-6).all() and (vm >= band["min_vm_pu"] - 1e-6).all()
    assert (net.res_line["loading_percent"] <= net.line["max_loading_percent"] + 1e-3).all()
    eg_cost = net.res_ext_grid["p_mw"].sum() - net.res_sgen["p_mw"].sum()
    assert eg_cost == pytest.approx(r.objective, abs=1e-5 * abs(r.objective))


def test_simbench_metadata_is_kept_in_meta() -> None:
    net = _simbench("1-HV-urban--0-sw")
    case = from_pandapower(net)
    kept = case.meta["pandapower_tables"]
    assert {"loadcases", "substation", "measurement", "profiles"} <= set(kept)
    assert kept["loadcases"].equals(net.loadcases)
    assert case.meta["ac_flow_limit"] == "current"


# ----------------------------------------------------------------------- the mapping
def _two_bus(**ext_grid) -> pp.pandapowerNet:
    net = pp.create_empty_network(sn_mva=10.0)
    b0 = pp.create_bus(net, 20.0, min_vm_pu=0.95, max_vm_pu=1.05)
    b1 = pp.create_bus(net, 20.0, min_vm_pu=0.95, max_vm_pu=1.05)
    pp.create_ext_grid(net, b0, vm_pu=1.02, **ext_grid)
    pp.create_line(net, b0, b1, 2.0, "NA2XS2Y 1x240 RM/25 12/20 kV")
    return net


def test_metadata_and_result_tables_do_not_stop_the_import() -> None:
    net = _two_bus()
    pp.create_load(net, 1, p_mw=2.0)
    pp.create_measurement(net, "v", "bus", 1.01, 0.01, 0)
    net["substation"] = pd.DataFrame({"name": ["S1"], "subnet": ["MV1"]})
    net["characteristic"] = pd.DataFrame({"object": ["c0"]})
    pp.runpp(net)
    case = from_pandapower(net)
    kept = case.meta["pandapower_tables"]
    assert set(kept) == {"measurement", "substation", "characteristic"}
    assert kept["measurement"]["value"].tolist() == [1.01]
    back = to_pandapower(case)  # the tables go back into the net, beside the JSON meta
    assert back["substation"].equals(net["substation"]) and len(back.measurement) == 1
    assert "pandapower_tables" not in json.loads(back[TAG_KEY])["meta"]


def test_unsupported_electrical_rows_are_named() -> None:
    net = _two_bus()
    pp.create_ward(net, 1, ps_mw=1, qs_mvar=0, pz_mw=0, qz_mvar=0)
    pp.create_ward(net, 1, ps_mw=1, qs_mvar=0, pz_mw=0, qz_mvar=0, in_service=False)
    pp.create_ward(net, 0, ps_mw=2, qs_mvar=0, pz_mw=0, qz_mvar=0)
    with pytest.raises(ValueError, match=r"'ward' \(rows \[0, 2\]\)"):
        from_pandapower(net)
    net.ward["in_service"] = False  # out of service: no effect on the net, nothing refused
    assert from_pandapower(net).n_buses == 2


def test_ratings_only_from_max_loading_percent() -> None:
    """pandapower's OPF rates a branch only where max_loading_percent is given (RATE_A)."""
    net = _two_bus()
    t = pp.create_bus(net, 0.4)
    pp.create_transformer(net, 1, t, "0.63 MVA 20/0.4 kV")
    case = from_pandapower(net)
    assert np.isinf(case.branches["rate_a_mva"]).all()  # sn_mva is no thermal limit
    net.line["max_loading_percent"] = 50.0
    net.trafo["max_loading_percent"] = 80.0
    rate = from_pandapower(net).branches["rate_a_mva"].to_numpy()
    i_ka = net.line.at[0, "max_i_ka"]
    assert rate == pytest.approx([0.5 * i_ka * 20.0 * np.sqrt(3), 0.8 * 0.63])
    # from_ppc's placeholders for a MATPOWER rate_a of 0 (case9241pegase: sn_mva 99.999)
    net.trafo["sn_mva"], net.line["max_i_ka"] = 99.999, 99999.0
    assert np.isinf(from_pandapower(net).branches["rate_a_mva"]).all()


def test_controllable_elements_and_their_costs() -> None:
    """Limits and the cost signs of pandapower's make_objective: load/storage costs × −1 on
    their injection; costs of fixed injections are ignored; Q costs are carried."""
    net = _two_bus(controllable=True, max_q_mvar=3.0)
    pp.create_load(net, 1, p_mw=2.0, q_mvar=0.5, controllable=True, min_p_mw=1.0, max_p_mw=3.0,
                   min_q_mvar=0.2, max_q_mvar=0.5)  # fmt: skip
    pp.create_sgen(net, 1, p_mw=1.0, controllable=True, min_p_mw=0.0, max_p_mw=1.5,
                   min_q_mvar=-0.5, max_q_mvar=0.5)  # fmt: skip
    pp.create_sgen(net, 1, p_mw=0.4)  # fixed
    pp.create_gen(net, 0, p_mw=1.0, vm_pu=1.02, controllable=False, min_q_mvar=-2, max_q_mvar=2)
    pp.create_poly_cost(net, 0, "ext_grid", cp1_eur_per_mw=30, cq1_eur_per_mvar=0.5)
    pp.create_poly_cost(net, 0, "load", cp1_eur_per_mw=-50, cq2_eur_per_mvar2=0.1)
    pp.create_poly_cost(net, 0, "sgen", cp1_eur_per_mw=4, cp2_eur_per_mw2=0.2)
    pp.create_poly_cost(net, 1, "sgen", cp1_eur_per_mw=99)  # on a fixed sgen: ignored
    case = from_pandapower(net)
    g, d = case.gens, case.ders
    assert g.loc[0, ["cost_c1_usd_per_mwh", "cost_q_c1_usd_per_mvarh"]].tolist() == [30, 0.5]
    assert g.loc[0, ["p_min_mw", "p_max_mw", "q_max_mvar"]].tolist() == [-1e5, 1e5, 3.0]
    assert g.loc[1, ["p_min_mw", "p_max_mw"]].tolist() == [1.0, 1.0]  # not controllable
    assert len(case.loads) == 0 and d.loc[2, "kind"] == "flexible_load"
    assert d.loc[2, ["p_min_mw", "p_max_mw", "cost_usd_per_mwh"]].tolist() == [-3, -1, 50]
    assert d.loc[2, "cost_q_c2_usd_per_mvar2h"] == -0.1
    assert d.loc[0, ["cost_usd_per_mwh", "cost_c2_usd_per_mw2h"]].tolist() == [4, 0.2]
    assert d.loc[1, ["p_min_mw", "p_max_mw", "cost_usd_per_mwh"]].tolist() == [0.4, 0.4, 0]
    assert case.buses.loc[0, ["vm_min_pu", "vm_max_pu"]].tolist() == [1.02, 1.02]  # fixed gen
    r = assert_contract(net)
    assert r.der.loc[2, "p_mw"] == pytest.approx(-3.0, abs=1e-6)  # pays 50 > 30: consumes more
    assert r.gen.loc[1, "p_mw"] == pytest.approx(1.0, abs=1e-6)


def test_pwl_costs_of_controllable_sgens_and_loads() -> None:
    """A controllable sgen or load with a P pwl cost becomes a Case gen (pwl costs are gens');
    the load's breakpoints are in its injection and its costs × −1, as pandapower's."""
    net = _two_bus(controllable=True, min_q_mvar=-5, max_q_mvar=5)
    pp.create_sgen(net, 1, p_mw=1.0, controllable=True, min_p_mw=0, max_p_mw=3,
                   min_q_mvar=-1, max_q_mvar=1)  # fmt: skip
    pp.create_load(net, 1, p_mw=2.0, controllable=True, min_p_mw=1, max_p_mw=4,
                   min_q_mvar=0, max_q_mvar=0)  # fmt: skip
    pp.create_pwl_cost(net, 0, "ext_grid", [[-50, 0, 20], [0, 50, 30]])
    pp.create_pwl_cost(net, 0, "sgen", [[0, 1, 10], [1, 3, 35]])
    pp.create_pwl_cost(net, 0, "load", [[-4, -2, 40], [-2, -1, 25]])
    case = from_pandapower(net)
    assert len(case.ders) == 0 and case.gens["cost_model"].tolist() == ["pwl"] * 3
    pwl = case.gen_cost_pwl
    assert pwl[pwl["gen_id"] == 2]["p_mw"].tolist() == [-4, -2, -1]
    assert pwl[pwl["gen_id"] == 2]["cost_usd_per_h"].tolist() == [160, 80, 55]
    r = assert_contract(net)
    assert r.gen.loc[1, "p_mw"] == pytest.approx(1.0, abs=1e-5)  # 10 < 30 < 35: the first MW
    # the load's cost falls as its injection rises (sign −1): it consumes its minimum
    assert r.gen.loc[2, "p_mw"] == pytest.approx(-1.0, abs=1e-5)


@pytest.fixture
def makeay_fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    """pandapower 3.5's PYPOWER port gives ``makeAy`` the 0-based first Qg column (``q1 = ng``)
    where it expects MATLAB's 1-based one: every reactive pwl cost but the first generator's
    lands on the Q of the generator before it. This passes the 1-based column, so runopp
    minimises the stated cost."""
    import pandapower.pypower.opf_setup as opf_setup
    from pandapower.pypower.makeAy import makeAy

    def fixed(base_mva, ng, gencost, pgbas, qgbas, ybas):
        return makeAy(base_mva, ng, gencost, pgbas, qgbas + 1, ybas)

    monkeypatch.setattr(opf_setup, "makeAy", fixed)


def test_pwl_costs_of_reactive_power(makeay_fixed: None) -> None:
    """pwl Q costs (``power_type="q"``) on gens, a controllable sgen and a controllable load:
    ``gen_cost_pwl`` rows with power 'q' (the load's in its injection, costs × −1), an epigraph
    per gen in the AC-OPF; the objective is runopp's (with its Q-cost column fixed)."""
    net = nets.pwl_reactive_costs()
    case = from_pandapower(net)
    assert len(case.ders) == 0  # the sgen (P and Q pwl) and the load (Q pwl) became gens 3, 4
    assert case.gens["cost_model"].tolist() == ["pwl"] * 4 + ["poly"]
    q = case.gen_cost_pwl[case.gen_cost_pwl["power"] == "q"]
    assert sorted(set(q["gen_id"])) == [1, 2, 3, 4]
    assert q[q["gen_id"] == 4]["p_mw"].tolist() == [-6, 0, 3]  # load Q ∈ [−3, 6] consumed
    assert q[q["gen_id"] == 4]["cost_usd_per_h"].tolist() == [6, 0, 6]
    assert q[q["gen_id"] == 2]["cost_usd_per_h"].tolist() == [200, 40, 30, 105]  # from −50·−4
    r = assert_contract(net)
    assert r.objective == pytest.approx(1539.8742, rel=1e-5)  # runopp (fixed): 1539.87416
    # absorbing is cheap on the sgen (0.5 per MVAr) and dear on the gens: it holds the band
    assert r.gen.loc[3, "q_mvar"] == pytest.approx(-11.1435, abs=1e-3)
    assert r.gen.loc[2, "q_mvar"] == pytest.approx(0.0, abs=1e-5)  # the kink of its V
    assert r.gen.loc[4, "q_mvar"] == pytest.approx(0.0, abs=1e-5)


def test_runopp_misplaces_reactive_pwl_costs() -> None:
    """A tripwire on the pandapower bug that ``makeay_fixed`` works around: unpatched, runopp
    charges gen 0's V-shaped Q cost on the ext_grid's Q (≈ 0) and reports 15.9 less. When this
    fails, pandapower has fixed it and the fixture can go."""
    assert runopp_cost(nets.pwl_reactive_costs()) == pytest.approx(1523.9533, rel=1e-5)


def test_reactive_pwl_costs_round_trip_and_are_checked(tmp_path) -> None:
    case = from_pandapower(nets.pwl_reactive_costs())
    back = from_pandapower(to_pandapower(case))
    cols = ["gen_id", "point", "p_mw", "cost_usd_per_h", "power"]
    want = case.gen_cost_pwl.sort_values(["power", "gen_id", "point"])[cols]
    got = back.gen_cost_pwl.sort_values(["power", "gen_id", "point"])[cols]
    np.testing.assert_allclose(got[cols[:4]].to_numpy(float), want[cols[:4]].to_numpy(float))
    assert got["power"].tolist() == want["power"].tolist()
    c5 = dl.load_case("pglib/case5_pjm")
    q_pwl = pd.DataFrame({"gen_id": 1, "point": [0, 1], "p_mw": [-10.0, 10.0],
                          "cost_usd_per_h": [5.0, 7.0], "power": "q"})  # fmt: skip
    c5 = dl.Case("c5", c5.buses, c5.branches, c5.gens, c5.loads, gen_cost_pwl=q_pwl)
    with pytest.raises(ValueError, match=r"reactive-power pwl costs .* gen\(s\) \[1\]"):
        write_matpower(c5, tmp_path / "q.m")
    written = write_matpower(c5, tmp_path / "q.m", strict=False)  # P costs only
    again = read_matpower(written)
    assert len(again.gen_cost_pwl) == 0 and "q_gencost" not in again.meta
    gens = case.gens
    gens.loc[2, "cost_q_c1_usd_per_mvarh"] = 1.0
    with pytest.raises(ValueError, match=r"gen\(s\) \[2\] have both a pwl"):
        dl.Case(case.name, case.buses, case.branches, gens, case.loads,
                gen_cost_pwl=case.gen_cost_pwl, base_mva=case.base_mva)  # fmt: skip
    pwl = case.gen_cost_pwl
    pwl.loc[pwl["power"] == "q", "power"] = "Q"
    with pytest.raises(ValueError, match=r"gen_cost_pwl.power: unknown value\(s\) \['Q'\]"):
        dl.Case(case.name, case.buses, case.branches, case.gens, case.loads,
                gen_cost_pwl=pwl, base_mva=case.base_mva)  # fmt: skip
