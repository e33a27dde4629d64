"""N-1 SCED: hand-checked numbers, an independent B-θ LP per contingency, lazy == full."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from dispatchlab import Case
from dispatchlab.cases.case import TimeSeries
from dispatchlab.cases.matpower import read_matpower
from dispatchlab.solvers.api import problems, solve
from dispatchlab.solvers.network import dc_network
from dispatchlab.solvers.status import Status

PGLIB = Path(__file__).resolve().parents[1] / "dispatchlab" / "cases" / "data" / "pglib"


def four_bus(**extra) -> Case:
    """Triangle 1-2-3 (x = 0.1 p.u.) plus a radial line 3-4.

    Gen A at bus 1 ($10/MWh), gen B at bus 3 ($50/MWh); loads 30 MW at bus 2, 250 at bus 3,
    20 at bus 4. Ratings: 150 MW base on every line; emergency 160 MW on 1-3, 200 elsewhere.
    Outage of 1-2 (branch 0) sends all of gen A's output over 1-3, so p_A ≤ 160: p_A = 160,
    p_B = 140, cost 8600 $/h; bus 1 prices at gen A's 10 $/MWh, buses 2-4 at gen B's 50.
    Without N-1 the base limit f_13 = 2/3 p_A − 10 ≤ 150 allows p_A = 240 (cost 5400).
    """
    return Case(
        "four-bus-n1",
        buses={
            "bus_id": [1, 2, 3, 4],
            "base_kv": [110.0] * 4,
            "bus_type": ["REF", "PQ", "PV", "PQ"],
        },
        branches={
            "from_bus": [1, 1, 2, 3],
            "to_bus": [2, 3, 3, 4],
            "r_pu": [0.0] * 4,
            "x_pu": [0.1] * 4,
            "rate_a_mva": [150.0] * 4,
            "rate_c_mva": [200.0, 160.0, 200.0, 200.0],
        },
        gens={"bus": [1, 3], "p_max_mw": [400.0, 400.0], "cost_c1_usd_per_mwh": [10.0, 50.0]},
        loads={"bus": [2, 3, 4], "p_mw": [30.0, 250.0, 20.0]},
        **extra,
    )


def btheta_n1_lp(case: Case, outages: list[int]) -> tuple[float, np.ndarray]:
    """min Σ c·p + VOLL·shed subject to, for the base case and each outaged branch k, a
    separate B-θ network without k: B^(k) θ^(k) = C_g p + C_l shed − d and |flows| ≤ rate
    (rate_a in the base case, rate_c — or rate_a where inf — after the outage). Linear costs
    only; solved with scipy's linprog. Returns (objective, p of the in-service gens)."""
    buses, br = case.buses, case.branches[case.branches["in_service"]]
    gens, loads = case.gens[case.gens["in_service"]], case.loads[case.loads["in_service"]]
    pos = {b: i for i, b in enumerate(buses.index)}
    nb, ng, nl = len(buses), len(gens), len(loads)
    rate_c = np.where(np.isfinite(br["rate_c_mva"]), br["rate_c_mva"], br["rate_a_mva"])
    scenarios = [(None, br["rate_a_mva"].to_numpy())] + [(k, rate_c) for k in outages]
    n_x = ng + nl + nb * len(scenarios)
    inj = sp.lil_matrix((nb, n_x))  # C_g p + C_l shed
    inj[gens["bus"].map(pos).to_numpy(), np.arange(ng)] = 1.0
    inj[loads["bus"].map(pos).to_numpy(), ng + np.arange(nl)] = 1.0
    demand = buses["gs_mw"].to_numpy().copy()
    np.add.at(demand, loads["bus"].map(pos).to_numpy(), loads["p_mw"].to_numpy())
    parts = [_btheta_rows(case, br, pos, br.index != out, rate, ng + nl + s * nb, inj, demand)
             for s, (out, rate) in enumerate(scenarios)]  # fmt: skip
    a_eq, b_eq, a_ub, b_ub = zip(*parts, strict=True)
    cost = np.r_[gens["cost_c1_usd_per_mwh"], loads["voll_usd_per_mwh"], np.zeros(n_x - ng - nl)]
    bounds = (
        list(zip(gens["p_min_mw"], gens["p_max_mw"], strict=True))
        + [(0.0, p) for p in loads["p_mw"]]
        + [(None, None)] * (n_x - ng - nl)
    )
    for s in range(len(scenarios)):  # θ_ref = 0 in every network
        for b in buses.index[buses["bus_type"] == "REF"]:
            bounds[ng + nl + s * nb + pos[b]] = (0.0, 0.0)
    res = linprog(cost, A_ub=sp.vstack(a_ub), b_ub=np.concatenate(b_ub), A_eq=sp.vstack(a_eq),
                  b_eq=np.concatenate(b_eq), bounds=bounds, method="highs")  # fmt: skip
    assert res.status == 0, res.message
    return res.fun + float(gens["cost_c0_usd_per_h"].sum()), res.x[:ng]


def _btheta_rows(case, br, pos, keep, rate, th0, inj, demand) -> tuple:
    """Balance (A_eq, b_eq) and flow-limit (A_ub, b_ub) rows of one network: the branches
    ``keep``, angles at columns th0 …; flow_l = base·b_l (θ_f − θ_t − φ_l)."""
    nb, n_x = inj.shape
    f, t = br["from_bus"].map(pos).to_numpy()[keep], br["to_bus"].map(pos).to_numpy()[keep]
    bb = case.base_mva / (br["x_pu"] * br["tap_ratio"]).to_numpy()[keep]
    bphi = bb * np.deg2rad(br["shift_deg"].to_numpy()[keep])
    lines = np.arange(len(f))
    flow = sp.csr_matrix((np.r_[bb, -bb], (np.r_[lines, lines], th0 + np.r_[f, t])),
                         shape=(len(f), n_x))  # fmt: skip
    ones = np.ones(len(f))
    inc = sp.csr_matrix((np.r_[ones, -ones], (np.r_[f, t], np.r_[lines, lines])),
                        shape=(nb, len(f)))  # fmt: skip
    lim = np.isfinite(rate[keep])
    rate = rate[keep][lim]
    return (inj.tocsr() - inc @ flow, demand - inc @ bphi, sp.vstack([flow[lim], -flow[lim]]),
            np.r_[rate + bphi[lim], rate - bphi[lim]])  # fmt: skip


@pytest.mark.parametrize("method", ["full", "lazy"])
def test_four_bus_hand_numbers_and_independent_lp(method):
    case = four_bus()
    r = solve(case, "sced", method=method, contingencies="all")
    assert r.status is Status.OPTIMAL
    assert r.objective == pytest.approx(8600.0, rel=1e-9)
    np.testing.assert_allclose(r.gen["p_mw"], [160.0, 140.0], atol=1e-6)
    np.testing.assert_allclose(r.bus["lmp_usd_per_mwh"], [10.0, 50.0, 50.0, 50.0], atol=1e-6)
    obj, p = btheta_n1_lp(case, outages=[0, 1, 2])  # the bridge 3-4 would island bus 4
    assert r.objective == pytest.approx(obj, rel=1e-9)
    np.testing.assert_allclose(r.gen["p_mw"], p, atol=1e-6)
    assert r.info["skipped_radial"] == 1 and r.info["contingencies_used"] == 3
    assert r.info["max_post_contingency_loading_pct"] == pytest.approx(100.0)
    bc = r.info["binding_contingencies"]  # only 1-3 after losing 1-2 binds, at 50 − 10 $/MWh
    assert list(zip(bc["branch_id"], bc["outage_branch_id"], strict=True)) == [(1, 0)]
    assert bc["shadow_price_usd_per_mwh"].iloc[0] == pytest.approx(40.0)
    assert solve(case, "dcopf").objective == pytest.approx(5400.0)  # N-1 costs 3200 $/h


def test_four_bus_lmp_is_the_marginal_cost_of_load():
    """LMP at bus 2 (where only the post-contingency row links it to gen B) by finite
    difference: one more MW of load at bus 2 raises the cost by 50 $/h."""
    base = solve(four_bus(), "sced")
    more = four_bus().replace(loads={"bus": [2, 3, 4], "p_mw": [31.0, 250.0, 20.0]})
    bumped = solve(more, "sced")
    assert bumped.objective - base.objective == pytest.approx(50.0, rel=1e-9)
    bus = base.bus
    np.testing.assert_allclose(
        bus["lmp_energy_usd_per_mwh"] + bus["lmp_congestion_usd_per_mwh"],
        bus["lmp_usd_per_mwh"],
        atol=1e-9,
    )
    np.testing.assert_allclose(
        bus["lmp_congestion_usd_per_mwh"], [0.0, 40.0, 40.0, 40.0], atol=1e-6
    )


def test_case_contingency_table_is_used_and_gen_outages_counted():
    """Table: outage of 1-3, of gen A, and of the bridge 3-4. Only 1-3 is secured: then all of
    gen A flows over 1-2 (emergency rating 200), so p_A = 200, p_B = 100, cost 7000."""
    ctg = {"ctg_id": [1, 2, 3], "element": ["branch", "gen", "branch"], "element_id": [1, 0, 3]}
    case = four_bus(contingencies=ctg)
    for spec in ("auto", "case"):
        r = solve(case, "sced", contingencies=spec)
        assert r.info["contingency_source"] == "case"
        assert r.objective == pytest.approx(7000.0, rel=1e-9)
        np.testing.assert_allclose(r.gen["p_mw"], [200.0, 100.0], atol=1e-6)
        assert (r.info["contingencies_used"], r.info["skipped_gen"], r.info["skipped_radial"]) == (
            1,
            1,
            1,
        )
    assert btheta_n1_lp(case, outages=[1])[0] == pytest.approx(7000.0, rel=1e-9)
    with pytest.raises(ValueError, match="no contingencies table"):
        solve(four_bus(), "sced", contingencies="case")


def test_explicit_list_bridges_and_bad_options():
    r = solve(four_bus(), "sced", contingencies=[3])  # only the bridge: nothing to secure
    assert (r.info["contingencies_used"], r.info["skipped_radial"]) == (0, 1)
    assert r.objective == pytest.approx(5400.0, rel=1e-9)
    assert solve(four_bus(), "sced", contingencies=[0, 2]).objective == pytest.approx(8600.0)
    with pytest.raises(ValueError, match="not in-service"):
        solve(four_bus(), "sced", contingencies=[99])
    with pytest.raises(ValueError, match="unknown SCED method"):
        solve(four_bus(), "sced", method="benders")
    with pytest.raises(ValueError, match="ptdf"):
        solve(four_bus(), "sced", formulation="btheta")
    assert "sced" in problems()


def test_max_rounds_reached_is_reported():
    with pytest.warns(RuntimeWarning, match="violations remain"):
        r = solve(four_bus(), "sced", max_rounds=0)
    assert r.status is Status.TIME_LIMIT and r.info["converged"] is False
    assert r.info["max_violation_mw"] > 0


def non_bridges(case: Case) -> np.ndarray:
    """Branch positions whose LODF column is finite (DCNetwork's own test for islanding)."""
    net = dc_network(case)
    return np.flatnonzero(np.isfinite(net.lodf_columns(np.arange(net.n_branch))).all(axis=0))


def post_contingency_loading(case: Case, r) -> float:
    """max |f_l + LODF_l,k f_k| / rate_c over every non-bridge k, with DCNetwork's dense
    LODF (not the SCED code's chunked one) and injections rebuilt from the Result tables."""
    net = dc_network(case)
    pos = {b: i for i, b in enumerate(net.bus_ids)}
    gens, loads = case.gens.loc[r.gen.index], case.loads[case.loads["in_service"]]
    inj = r.bus["shed_mw"].to_numpy() - case.buses["gs_mw"].to_numpy()
    np.add.at(inj, gens["bus"].map(pos).to_numpy(), r.gen["p_mw"].to_numpy())
    np.add.at(inj, loads["bus"].map(pos).to_numpy(), -loads["p_mw"].to_numpy())
    f = net.base_mva * net.flows_pu(inj / net.base_mva)
    k = non_bridges(case)
    post = f[:, None] + net.lodf_columns(k) * f[k][None, :]
    br = case.branches.reindex(net.branch_ids)
    rate = np.where(np.isfinite(br["rate_c_mva"]), br["rate_c_mva"], br["rate_a_mva"])
    return float(np.max(np.abs(post) / rate[:, None]))


@pytest.mark.parametrize("name", ["case14_ieee", "case30_ieee", "case118_ieee"])
def test_lazy_equals_full_on_pglib(name):
    case = read_matpower(PGLIB / f"pglib_opf_{name}.m")
    # PGLib cases are not N-1 secure: shedding (at VOLL, as the B-θ LP below) keeps them feasible
    full = solve(case, "sced", method="full", contingencies="all", allow_shedding=True)
    lazy = solve(
        case, "sced", method="lazy", contingencies="all", k_per_round=50, allow_shedding=True
    )
    assert full.optimal and lazy.optimal
    assert lazy.objective == pytest.approx(full.objective, rel=1e-6)
    scale = case.gens["p_max_mw"].max()
    np.testing.assert_allclose(lazy.gen["p_mw"], full.gen["p_mw"], atol=1e-6 * scale)
    assert lazy.info["rounds"] >= 1 and full.info["rounds"] == 0
    assert lazy.info["constraints_added"] < full.info["constraints_added"] / 10
    assert lazy.info["contingencies_used"] == full.info["contingencies_used"] > 0
    for r in (full, lazy):
        bus = r.bus
        np.testing.assert_allclose(
            bus["lmp_energy_usd_per_mwh"] + bus["lmp_congestion_usd_per_mwh"],
            bus["lmp_usd_per_mwh"],
            atol=1e-9,
        )
        assert r.info["max_post_contingency_loading_pct"] <= 100.0 + 1e-4
        assert post_contingency_loading(case, r) <= 1.0 + 1e-6
    if name == "case14_ieee":  # and the independent B-θ LP, one network per outage
        outages = dc_network(case).branch_ids[non_bridges(case)]
        assert btheta_n1_lp(case, list(outages))[0] == pytest.approx(full.objective, rel=1e-6)
        assert full.info["skipped_radial"] == len(case.branches) - len(outages) == 1


def test_chunked_and_uncached_lodf_give_the_same_optimum():
    case = read_matpower(PGLIB / "pglib_opf_case30_ieee.m")
    shed = {"contingencies": "all", "allow_shedding": True}  # case30 is not N-1 secure
    ref = solve(case, "sced", **shed)
    small = solve(case, "sced", chunk=4, lodf_cache_mb=0, k_per_round=7, **shed)
    full = solve(case, "sced", method="full", chunk=3, **shed)
    assert small.objective == pytest.approx(ref.objective, rel=1e-6)
    assert full.objective == pytest.approx(ref.objective, rel=1e-6)
    assert small.info["lodf_cached_mb"] == 0.0
    assert small.info["lodf_columns_computed"] == small.info["contingencies_used"] * (
        small.info["rounds"] + 1
    )
    assert 0 < small.info["constraints_added"] <= 7 * small.info["rounds"]


def test_periods_get_their_own_contingency_rows():
    """Two hours: the four-bus loads (N-1 binds: 8600 $) then 30/100/20 MW, where gen A
    alone (150 MW ≤ 160) suffices (1500 $). Lazy adds rows only for the first hour."""
    index = pd.date_range("2024-01-01", periods=2, freq="h")
    loads = pd.DataFrame([[30.0, 250.0, 20.0], [30.0, 100.0, 20.0]], index=index, columns=[0, 1, 2])
    case = four_bus(timeseries=TimeSeries({"load_p_mw": loads}))
    for method in ("full", "lazy"):
        r = solve(case, "sced", method=method, periods=2, contingencies="all")
        assert r.objective == pytest.approx(10100.0, rel=1e-9)
        np.testing.assert_allclose(
            r.gen["p_mw"].unstack().to_numpy(), [[160.0, 150.0], [140.0, 0.0]], atol=1e-6
        )
        lmp = r.bus["lmp_usd_per_mwh"].unstack().to_numpy()
        np.testing.assert_allclose(lmp[:, 0], [10.0, 50.0, 50.0, 50.0], atol=1e-6)
        np.testing.assert_allclose(lmp[:, 1], 10.0, atol=1e-6)
    periods = r.info["binding_contingencies"]["period"]
    assert list(periods) == [index[0]]


def test_quadratic_costs_with_clarabel_and_highs():
    """Gen A with ½·0.1·p² more cost: marginal cost 10 + 0.1 p_A. N-1 still caps p_A at 160."""
    gens = {
        "bus": [1, 3],
        "p_max_mw": [400.0, 400.0],
        "cost_c1_usd_per_mwh": [10.0, 50.0],
        "cost_c2_usd_per_mw2h": [0.05, 0.0],
    }
    case = four_bus().replace(gens=gens)
    expected = 10.0 * 160 + 0.05 * 160**2 + 50.0 * 140
    for backend in ("highs", "clarabel", "auto"):
        r = solve(case, "sced", backend=backend)
        assert r.objective == pytest.approx(expected, rel=1e-7)
        assert r.info["backend"] == ("clarabel" if backend == "auto" else backend)
        np.testing.assert_allclose(r.bus["lmp_usd_per_mwh"], [26.0, 50.0, 50.0, 50.0], atol=1e-4)


def test_lodf_rows_of_the_monitored_branches_match_the_dense_lodf():
    """``lodf_block`` on a subset of rows (the lazy screen's monitored branches) gives those
    rows of ``DCNetwork.lodf_columns`` (dense reference), −1 on the outaged branch itself."""
    from dispatchlab.solvers.problems.sced_rows import LodfChunks, lodf_block, select_contingencies

    case = read_matpower(PGLIB / "pglib_opf_case118_ieee.m")
    net = dc_network(case)
    k = select_contingencies(case, net, "all").outages[:40]
    ref = net.lodf_columns(k)
    rows = np.arange(0, net.n_branch, 3)
    np.testing.assert_allclose(lodf_block(net, k, rows), ref[rows], atol=1e-10)
    np.testing.assert_allclose(lodf_block(net, k), ref, atol=1e-10)
    got = np.concatenate([c for _, c in LodfChunks(net, k, chunk=16, rows=rows)], axis=1)
    np.testing.assert_allclose(got, ref[rows], atol=1e-10)
    own = np.flatnonzero(np.isin(k, rows))
    assert np.all(got[np.searchsorted(rows, k[own]), own] == -1.0)


def test_sparse_lodf_cache_gives_the_same_optimum_and_exact_rows():
    """Chunks beyond the dense budget kept sparse (here |LODF| ≥ 0.05, a coarse threshold so
    that many entries are dropped): the lazy optimum and the binding rows are those of the
    dense run, columns are computed once, and rows near their limit were made exact."""
    from dispatchlab.solvers.problems.lodf import LodfChunks

    case = read_matpower(PGLIB / "pglib_opf_case118_ieee.m")
    shed = {"contingencies": "all", "allow_shedding": True, "chunk": 8}
    ref = solve(case, "sced", lodf_sparse_tol=0.0, **shed)
    sparse = solve(case, "sced", lodf_cache_mb=0.1, lodf_sparse_tol=0.05, **shed)
    assert sparse.objective == pytest.approx(ref.objective, rel=1e-9)
    assert sparse.info["lodf_sparse_uses"] > 0 and sparse.info["rounds"] >= 1
    # every column computed once (0.1 MB holds them all sparse), against once per pass
    assert sparse.info["lodf_columns_computed"] == sparse.info["contingencies_used"]
    assert ref.info["lodf_columns_computed"] == ref.info["contingencies_used"]  # dense cache
    dense_small = solve(case, "sced", lodf_cache_mb=0.1, lodf_sparse_tol=0.0, **shed)
    assert dense_small.info["lodf_columns_computed"] > dense_small.info["contingencies_used"]
    assert post_contingency_loading(case, sparse) <= 1.0 + 1e-6
    # the chunk rebuilt from a sparse entry equals the dense one on the exact rows, and
    # elsewhere differs by at most the dropped magnitude
    net = dc_network(case)
    k = np.arange(net.n_branch)[~bridges_mask(net)][:16]
    chunks = LodfChunks(net, k, chunk=16, cache_mb=0.01, sparse_tol=0.05)
    dense = next(iter(chunks))[1]
    assert isinstance(chunks._cache[0], tuple)  # kept sparse
    flows = np.zeros((net.n_branch, 1))
    flows[k[0]] = 100.0
    chunks.begin_pass(flows, np.full(net.n_branch, 2.0))  # rows within 5 MW of 2 MW: exact
    rebuilt = next(iter(chunks))[1]
    exact_rows = chunks._exact[0]
    assert len(exact_rows) == net.n_branch  # every base flow (0) is within reach of 2 MW
    np.testing.assert_allclose(rebuilt, dense, atol=1e-12)
    chunks.begin_pass(flows, np.full(net.n_branch, 1e4))  # nothing can reach: no exact row
    assert len(chunks._exact[0]) == 0
    gap = np.abs(next(iter(chunks))[1] - dense)
    assert gap.max() < 0.05 and (gap > 0).any()


def bridges_mask(net):
    from dispatchlab.solvers.problems.sced_rows import bridges

    return bridges(net)
