"""Case <-> pandapower conversion: power flows agree, round trips are lossless."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import pytest
import scipy.sparse as sp

from dispatchlab import Case
from dispatchlab.cases import units
from dispatchlab.cases.pandapower_io import TAG_KEY, from_pandapower, to_pandapower

PF = dict(
    calculate_voltage_angles=True, init="flat", tolerance_mva=1e-10, max_iteration=30, numba=False
)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def run(net: pp.pandapowerNet, **kw) -> pd.DataFrame:
    pp.runpp(net, **{**PF, **kw})
    return net.res_bus


def assert_same_pf(a: pd.DataFrame, b: pd.DataFrame, tol: float = 1e-6) -> None:
    b = b.loc[a.index]
    assert np.array_equal(a["vm_pu"].isna(), b["vm_pu"].isna())
    assert np.nanmax(np.abs(a["vm_pu"] - b["vm_pu"])) <= tol
    assert np.nanmax(np.abs(a["va_degree"] - b["va_degree"])) <= tol


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def case33() -> Case:
    return from_pandapower(pn.case33bw())


@pytest.fixture(scope="module")
def case118() -> Case:
    return from_pandapower(pn.case118())


def hand_built() -> Case:
    """Every DER kind, a pwl cost, a phase shifter, an off branch, a zero-impedance switch,
    transformers with charging (one fed from its low-voltage side), ids out of order."""
    buses = pd.DataFrame(
        {
            "bus_id": [1, 2, 3, 4, 5, 6, 7],
            "name": ["slack", "pv", "load", "mv", "mv-b", "shifted", "lv"],
            "bus_type": ["REF", "PV", "PQ", "PQ", "PQ", "PQ", "PQ"],
            "base_kv": [110.0, 110.0, 110.0, 20.0, 20.0, 110.0, 0.4],
            "vm_pu": [1.02, 1.01, 1.0, 1.0, 1.0, 1.0, 1.0],
            "va_deg": [3.0, 0, 0, 0, 0, 0, 0],
            "gs_mw": [0, 0, 1.5, 0, 0, 0, 0],
            "bs_mvar": [0, 0, 8.0, 0, 0, 0, -0.2],
            "zone": [1, 1, 2, 2, 2, 3, 3],
            "area": [1, 1, 1, 2, 2, 2, 2],
            "vm_min_pu": 0.94,
            "vm_max_pu": [1.06] * 6 + [1.08],
            "x_coord": [0.0, 1.0, 2.0, np.nan, 3.5, 4.0, 5.0],
            "y_coord": [0.0, 1.0, 0.5, np.nan, 2.0, 1.0, 1.5],
        }
    )
    branches = pd.DataFrame(
        {
            "branch_id": [10, 11, 12, 13, 14, 15, 16, 17, 18],
            "from_bus": [1, 2, 1, 3, 2, 6, 4, 7, 5],
            "to_bus": [2, 3, 3, 4, 6, 3, 5, 6, 6],
            "kind": [
                "line",
                "line",
                "line",
                "transformer",
                "transformer",
                "line",
                "switch",
                "transformer",
                "switch",
            ],
            "r_pu": [0.01, 0.02, 0.015, 0.002, 0.001, 0.01, 0.0, 0.01, 0.05],
            "x_pu": [0.1, 0.15, 0.12, 0.08, 0.05, 0.09, 0.0, 0.3, 0.2],
            "b_pu": [0.04, 0.03, 0.02, -0.004, 0.0, 0.02, 0.0, -0.001, 0.0],
            "rate_a_mva": [150, 120, 100, 60, np.inf, 100, np.inf, 2, np.inf],
            "rate_b_mva": [160, 130, np.inf, 70, np.inf, 110, np.inf, 2.5, np.inf],
            "tap_ratio": [1, 1, 1, 1.05, 1, 1, 1, 0.98, 1],
            "shift_deg": [0, 0, 0, 0, 5.0, 0, 0, 0, 0],
            "tap_min": [1, 1, 1, 0.9, 1, 1, 1, 0.95, 1],
            "tap_max": [1, 1, 1, 1.1, 1, 1, 1, 1.05, 1],
            "tap_steps": [0, 0, 0, 17, 0, 0, 0, 5, 0],
            "angmin_deg": [-30, -360, -360, -360, -60, -360, -360, -360, -360],
            "length_km": [40.0, np.nan, 25.0, np.nan, np.nan, 30.0, np.nan, np.nan, np.nan],
            "in_service": [True, True, False, True, True, True, True, True, False],
        }
    )
    gens = pd.DataFrame(
        {
            "gen_id": [7, 3, 5, 9, 1],
            "bus": [1, 1, 2, 3, 2],
            "p_mw": [0.0, 20.0, 60.0, 5.0, 10.0],
            "q_mvar": [0, 0, 0, 2.0, 0],
            "p_min_mw": [0, 5, 10, 0, 0],
            "p_max_mw": [300, 50, 120, 10, 40],
            "q_min_mvar": [-100, -20, -50, 0, -10],
            "q_max_mvar": [100, 20, 50, 5, 10],
            "vm_set_pu": [1.02, 1.03, 1.01, 1.0, 1.04],
            "ramp_up_mw_per_h": [60, np.inf, 30, 5, 10],
            "reserve_up_max_mw": [50, 10, 20, 0, 5],
            "reserve_cost_usd_per_mwh": [2, 0, 3, 0, 1],
            "cost_model": ["poly", "pwl", "poly", "poly", "poly"],
            "cost_c2_usd_per_mw2h": [0.01, 0, 0.02, 0, 0],
            "cost_c1_usd_per_mwh": [20, 0, 30, 5, 40],
            "cost_c0_usd_per_h": [100, 0, 50, 0, 0],
            "co2_t_per_mwh": [0.4, 0.9, 0.35, 0, 0.5],
            "fuel": ["gas", "coal", "gas", "", "oil"],
            "in_service": [True, True, True, True, False],
        }
    )
    pwl = pd.DataFrame(
        {
            "gen_id": [3, 3, 3],
            "point": [0, 1, 2],
            "p_mw": [5.0, 25.0, 50.0],
            "cost_usd_per_h": [150.0, 750.0, 1750.0],
        }
    )
    loads = pd.DataFrame(
        {
            "load_id": [4, 2, 8, 6],
            "bus": [3, 4, 6, 7],
            "p_mw": [90.0, 30.0, 20.0, 0.5],
            "q_mvar": [30.0, 10.0, 5.0, 0.1],
            "voll_usd_per_mwh": [9000, 12000, 10000, 5000],
            "in_service": [True, True, True, False],
        }
    )
    kinds = [
        "pv",
        "wind",
        "storage",
        "flexible_load",
        "microturbine",
        "svc",
        "svg",
        "capacitor",
        "dg",
    ]
    ders = pd.DataFrame(
        {
            "der_id": [20, 21, 22, 23, 24, 25, 26, 27, 28],
            "bus": [4, 5, 4, 3, 5, 4, 6, 4, 7],
            "kind": kinds,
            "p_mw": [4.0, 6.0, -2.0, -3.0, 1.0, 0.0, 0.0, 0.0, 0.2],
            "q_mvar": [0.5, 0.0, 0.3, -1.0, 0.2, 1.5, -2.0, 3.0, 0.0],
            "p_min_mw": [0, 0, -5, -6, 0, 0, 0, 0, 0],
            "p_max_mw": [5, 8, 5, 0, 2, 0, 0, 0, 0.3],
            "q_min_mvar": [-1, -2, -3, -2, -1, -3, -3, 0, 0],
            "q_max_mvar": [1, 2, 3, 0, 1, 3, 3, 3, 0],
            "s_max_mva": [5.5, 9.0, 5.0, np.inf, 2.5, 3.0, 3.0, np.inf, np.inf],
            "e_min_mwh": [0, 0, 1, 0, 0, 0, 0, 0, 0],
            "e_max_mwh": [0, 0, 10, 0, 0, 0, 0, 0, 0],
            "e_init_mwh": [0, 0, 4, 0, 0, 0, 0, 0, 0],
            "eff_charge": [1, 1, 0.95, 1, 1, 1, 1, 1, 1],
            "eff_discharge": [1, 1, 0.96, 1, 1, 1, 1, 1, 1],
            "q_step_mvar": [0, 0, 0, 0, 0, 0, 0, 1.0, 0],
            "n_steps": [0, 0, 0, 0, 0, 0, 0, 3, 0],
            "cost_usd_per_mwh": [0, 0, 2, 50, 60, 0, 0, 0, 70],
            "curtail_cost_usd_per_mwh": [30, 25, 0, 0, 0, 0, 0, 0, 0],
            "profile": ["solar", "wind", "", "", "", "", "", "", ""],
            "in_service": [True] * 8 + [False],
        }
    )
    reserves = {"zone": [-1, 2], "up_mw": [30.0, 5.0], "down_mw": [10.0, 0.0]}
    contingencies = {
        "ctg_id": [0, 1, 1],
        "element": ["branch", "branch", "gen"],
        "element_id": [11, 15, 5],
        "probability": [0.01, 0.002, 0.002],
    }
    return Case(
        "hand",
        buses,
        branches,
        gens,
        loads,
        ders=ders,
        gen_cost_pwl=pwl,
        reserves=reserves,
        contingencies=contingencies,
        base_mva=100.0,
        meta={"source": "test", "f_hz": 60.0},
    )


# ------------------------------------------------------------------- independent check
def case_ybus(case: Case) -> tuple[sp.csr_matrix, pd.Series]:
    """MATPOWER's π-model Ybus of ``case`` (closed zero-impedance switches merge buses), the
    capacitors as constant susceptances; returns Ybus and the row of each bus."""
    buses, br = case.buses, case.branches
    row = pd.Series(np.arange(len(buses)), index=buses.index)
    ideal = (br["kind"] == "switch") & (br["r_pu"] == 0) & (br["x_pu"] == 0) & br["in_service"]
    for f, t in zip(br.loc[ideal, "from_bus"], br.loc[ideal, "to_bus"], strict=True):
        row[row == row[t]] = row[f]
    br = br[br["in_service"] & ~ideal]
    ys = 1 / (br["r_pu"] + 1j * br["x_pu"]).to_numpy()
    tap = (br["tap_ratio"] * np.exp(1j * np.deg2rad(br["shift_deg"]))).to_numpy()
    bc = 1j * br["b_pu"].to_numpy() / 2
    f, t = row[br["from_bus"]].to_numpy(), row[br["to_bus"]].to_numpy()
    cap = case.ders[(case.ders["kind"] == "capacitor") & case.ders["in_service"]]
    shunt = (buses["gs_mw"] + 1j * buses["bs_mvar"]) / case.base_mva
    i = np.r_[f, f, t, t, row.to_numpy(), row[cap["bus"]].to_numpy()]
    j = np.r_[f, t, f, t, row.to_numpy(), row[cap["bus"]].to_numpy()]
    v = np.r_[
        (ys + bc) / abs(tap) ** 2,
        -ys / np.conj(tap),
        -ys / tap,
        ys + bc,
        shunt,
        1j * cap["q_mvar"].to_numpy() / case.base_mva,
    ]
    n = len(buses)
    return sp.coo_matrix((v, (i, j)), shape=(n, n)).tocsr(), row


def injections(net: pp.pandapowerNet) -> pd.Series:
    """Complex power injected at each pandapower bus by gens, sgens, loads and storage."""
    parts = []
    for el, sign in (("ext_grid", 1), ("gen", 1), ("sgen", 1), ("load", -1), ("storage", -1)):
        res = net[f"res_{el}"]
        s = sign * (res["p_mw"] + 1j * res["q_mvar"]).fillna(0)
        parts.append(pd.Series(s.to_numpy(), index=net[el].loc[res.index, "bus"].to_numpy()))
    return pd.concat(parts).groupby(level=0).sum().reindex(net.bus.index, fill_value=0)


def test_pandapower_solution_satisfies_the_case_equations():
    """pandapower's voltages solve the Case's own power-flow equations (MATPOWER model)."""
    case = hand_built()
    net = to_pandapower(case)
    res = run(net)
    ybus, row = case_ybus(case)
    v_bus = res["vm_pu"] * np.exp(1j * np.deg2rad(res["va_degree"]))
    v = np.zeros(len(case.buses), dtype=complex)
    v[row.loc[res.index].to_numpy()] = v_bus.to_numpy()
    s_calc = v * np.conj(ybus @ v) * case.base_mva
    s_inj = np.zeros(len(v), dtype=complex)
    np.add.at(s_inj, row.loc[res.index].to_numpy(), injections(net).to_numpy())
    assert np.abs(s_calc - s_inj).max() < 1e-6
    assert res.at[4, "vm_pu"] == pytest.approx(res.at[5, "vm_pu"], abs=1e-12)  # fused switch
    assert res.at[1, "va_degree"] == pytest.approx(3.0)  # slack angle
    assert res.at[2, "vm_pu"] == pytest.approx(1.01)  # first in-service gen's set-point
    assert net.res_line.loc[12, "p_from_mw"] == 0.0  # out-of-service line


# ------------------------------------------------------------------------ round trips
def test_hand_built_round_trip_is_lossless():
    case = hand_built()
    net = to_pandapower(case)
    back = from_pandapower(net)
    assert case.differences(back) == []
    assert back.name == "hand" and dict(back.meta) == dict(case.meta)
    assert back.allow_negative_x == case.allow_negative_x
    # branch 18 is a switch between 20 and 110 kV: only a trafo joins different voltages
    assert len(net.ext_grid) == 1 and len(net.trafo) == 4 and len(net.switch) == 1
    assert set(net.sgen["type"].dropna()) >= {"PV", "WP", "MT", "DG", "SVC", "SVG"}
    assert net.storage.at[net.storage.index[0], "p_mw"] == 2.0  # load sign
    cap = net.shunt[net.shunt["dl_table"] == "ders"]
    assert cap["q_mvar"].tolist() == [-3.0]  # pandapower shunt q is consumption


def test_round_trip_through_a_pandapower_json_file(tmp_path):
    case = hand_built()
    pp.to_json(to_pandapower(case), str(tmp_path / "net.json"))
    back = from_pandapower(pp.from_json(str(tmp_path / "net.json")))
    assert case.differences(back) == []


def test_pandapower_edits_are_carried_back():
    net = to_pandapower(hand_built())
    net.load.loc[4, "p_mw"] = 95.0
    net.line.loc[12, "in_service"] = True
    back = from_pandapower(net)
    assert back.loads.at[4, "p_mw"] == 95.0
    assert back.branches.at[12, "in_service"]
    pp.create_load(net, 3, p_mw=1.0)
    with pytest.raises(ValueError, match="load"):
        from_pandapower(net)


def test_costs_in_pandapower():
    net = to_pandapower(hand_built())
    poly = net.poly_cost.set_index(["et", "element"])
    assert poly.loc[("ext_grid", 7), "cp1_eur_per_mw"] == 20.0
    assert poly.loc[("gen", 5), "cp2_eur_per_mw2"] == 0.02
    pwl = net.pwl_cost.iloc[0]
    assert (pwl["et"], pwl["element"]) == ("gen", 3)
    assert np.allclose(pwl["points"], [[5, 25, 30.0], [25, 50, 40.0]])


def test_untagged_copy_converts_from_pandapower_data():
    """The same net without the dispatchlab tags goes through the general import."""
    case = hand_built()
    net = to_pandapower(case)
    expected = run(to_pandapower(case)).copy()
    del net[TAG_KEY]
    general = from_pandapower(net)
    assert general.n_buses == 7 and general.branches["kind"].value_counts()["transformer"] == 4
    # see the mapping; the controllable load (a flexible_load DER) comes back as a DER
    assert (general.n_gens, len(general.loads), len(general.ders)) == (4, 4, 9)
    br = general.branches.loc[[10, 11]]  # lines keep their ids, per-unit values come back
    assert np.allclose(
        br[["r_pu", "x_pu", "b_pu"]], case.branches.loc[[10, 11], ["r_pu", "x_pu", "b_pu"]]
    )
    pwl = general.gen_cost_pwl
    # pandapower's cost at the first breakpoint is lower · slope (make_objective.costs_from_areas)
    assert np.allclose(pwl["cost_usd_per_h"], [150.0, 750.0, 1750.0])
    assert_same_pf(expected, run(to_pandapower(general)))


def test_case33bw(case33):
    assert case33.n_buses == 33 and case33.n_branches == 37
    assert case33.total_load_mw == pytest.approx(3.715)
    assert case33.branches.at[0, "r_pu"] == pytest.approx(units.ohm_to_pu(0.0922, 12.66, 10.0))
    assert int((~case33.branches["in_service"]).sum()) == 5
    assert case33.gens.at[0, "cost_c1_usd_per_mwh"] == 20.0
    assert_same_pf(run(pn.case33bw()), run(to_pandapower(case33)))
    assert case33.differences(from_pandapower(to_pandapower(case33))) == []


def test_case118(case118):
    assert case118.n_buses == 118 and case118.n_branches == 186
    assert (case118.buses["bus_type"] == "PV").sum() == 53
    trafos = case118.branches[case118.branches["kind"] == "transformer"]
    assert len(trafos) == 13 and (trafos["tap_ratio"] != 1).sum() == 9
    net = to_pandapower(case118)
    assert len(net.gen) == 53 and len(net.trafo) == 13
    assert_same_pf(run(pn.case118()), run(net))
    assert case118.differences(from_pandapower(to_pandapower(case118))) == []


def test_mv_oberrhein_open_switches_and_sgens():
    net = pn.mv_oberrhein()
    case = from_pandapower(net)
    assert case.n_buses == len(net.bus) + 6  # one auxiliary bus per open line switch
    assert len(case.ders) == len(net.sgen) and (case.buses["bus_type"] == "REF").sum() == 2
    assert_same_pf(run(net, init="dc"), run(to_pandapower(case), init="dc"))


def test_build_ieee33_matches_pandapower():
    feeders = pytest.importorskip("dispatchlab.cases.feeders")
    native = feeders.build_ieee33()
    ours = run(to_pandapower(native))
    theirs = run(pn.case33bw())
    ours = ours.loc[native.buses.index]  # MATPOWER ids 1…33 ↔ pandapower 0…32
    assert np.abs(ours["vm_pu"].to_numpy() - theirs["vm_pu"].to_numpy()).max() <= 1e-6
    assert np.abs(ours["va_degree"].to_numpy() - theirs["va_degree"].to_numpy()).max() <= 1e-6
    assert native.differences(from_pandapower(to_pandapower(native))) == []


# ------------------------------------------------------------------------- refusals
def _small_net() -> pp.pandapowerNet:
    net = pp.create_empty_network()
    b = pp.create_buses(net, 3, vn_kv=[110.0, 20.0, 10.0])
    pp.create_ext_grid(net, b[0])
    pp.create_line_from_parameters(net, b[1], b[2], 1.0, 0.1, 0.3, 10.0, 0.4)
    return net


@pytest.mark.parametrize("element", ["trafo3w", "impedance", "dcline", "ward"])
def test_unsupported_elements_are_named(element):
    net = _small_net()
    if element == "trafo3w":
        pp.create_transformer3w(net, 0, 1, 2, "63/25/38 MVA 110/20/10 kV")
    elif element == "impedance":
        pp.create_impedance(net, 0, 1, rft_pu=0.01, xft_pu=0.05, sn_mva=10)
    elif element == "dcline":
        pp.create_dcline(net, 0, 1, p_mw=1, loss_percent=1, loss_mw=0, vm_from_pu=1, vm_to_pu=1)
    else:
        pp.create_ward(net, 1, ps_mw=1, qs_mvar=0, pz_mw=0, qz_mvar=0)
    with pytest.raises(ValueError, match=element):
        from_pandapower(net)


def test_voltage_dependent_load_is_refused():
    net = _small_net()
    pp.create_load(net, 2, p_mw=1.0, const_z_p_percent=50)
    with pytest.raises(ValueError, match=r"load \[0\]"):
        from_pandapower(net)


def test_meta_is_json():
    net = to_pandapower(hand_built())
    assert json.loads(net[TAG_KEY])["meta"]["source"] == "test"
    assert net.sn_mva == 100.0 and net.name == "hand" and net.f_hz == 60.0


def test_non_controllable_sgens_stay_fixed_injections():
    net = pp.create_empty_network(sn_mva=100.0)
    b0, b1 = pp.create_bus(net, 110.0), pp.create_bus(net, 110.0)
    pp.create_ext_grid(net, b0)
    pp.create_line_from_parameters(net, b0, b1, 10.0, 0.1, 0.4, 10.0, 1.0)
    pp.create_load(net, b1, p_mw=30.0)
    pp.create_sgen(net, b1, p_mw=12.0, q_mvar=1.0)  # pandapower default: not controllable
    pp.create_sgen(net, b1, p_mw=5.0, controllable=True, min_p_mw=0.0, max_p_mw=8.0)
    ders = from_pandapower(net).ders
    assert ders.loc[0, ["p_min_mw", "p_max_mw", "q_min_mvar", "q_max_mvar"]].tolist() == [
        12.0,
        12.0,
        1.0,
        1.0,
    ]
    assert ders.loc[1, ["p_min_mw", "p_max_mw"]].tolist() == [0.0, 8.0]
