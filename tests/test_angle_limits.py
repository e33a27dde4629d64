"""Branch angle-difference limits in every DC formulation, against an independent LP and
PYPOWER's DC OPF (pandapower.pypower, MATPOWER's formulation: ``makeAang``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from dispatchlab import Case, TimeSeries
from dispatchlab.cases.matpower import read_matpower
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.persistent import DispatchModel
from dispatchlab.solvers.status import Status

PGLIB = Path(__file__).parents[1] / "dispatchlab" / "cases" / "data" / "pglib"
#: every way a DC-OPF can be asked for: (problem, options)
FORMULATIONS = {
    "btheta": ("dcopf", {"formulation": "btheta"}),
    "ptdf": ("dcopf", {"formulation": "ptdf"}),
    "lazy": ("dcopf", {"formulation": "lazy"}),
    "auto": ("dcopf", {}),
    "sced-full": ("sced", {"method": "full", "contingencies": []}),
    "sced-lazy": ("sced", {"method": "lazy", "contingencies": []}),
}


def triangle(limit_deg: float) -> Case:
    """Three buses; branch 3 (1→3) has a 5° phase shifter and the only angle limit ±limit;
    branch 2 has a 1.05 tap (b = 1/(x·tap)). Gen A at bus 1 10 $/MWh, gen B at bus 3 30 $/MWh,
    loads 150 MW at bus 2 and 100 MW at bus 3. Without the limit A serves all 250 MW and
    θ_1 − θ_3 = 12.575°."""
    return Case(
        "triangle-angle",
        buses={"bus_id": [1, 2, 3], "base_kv": [110.0] * 3, "bus_type": ["REF", "PQ", "PV"]},
        branches={
            "from_bus": [1, 2, 1],
            "to_bus": [2, 3, 3],
            "r_pu": [0.0] * 3,
            "x_pu": [0.1, 0.1, 0.2],
            "tap_ratio": [1.0, 1.05, 1.0],
            "shift_deg": [0.0, 0.0, 5.0],
            "rate_a_mva": [np.inf] * 3,
            "angmin_deg": [-360.0, -360.0, -limit_deg],
            "angmax_deg": [360.0, 360.0, limit_deg],
        },
        gens={"bus": [1, 3], "p_max_mw": [400.0, 400.0], "cost_c1_usd_per_mwh": [10.0, 30.0]},
        loads={"bus": [2, 3], "p_mw": [150.0, 100.0]},
    )


def triangle_by_linprog(limit_deg: float):
    """The same DC-OPF written out for scipy's linprog: x = [P_A, P_B, θ_2, θ_3] (rad, θ_1 = 0),
    flows f = base·b·(θ_f − θ_t − φ), a balance per bus, −lim ≤ θ_1 − θ_3 ≤ lim."""
    base, phi = 100.0, np.deg2rad(5.0)
    b = 1.0 / (np.array([0.1, 0.1, 0.2]) * np.array([1.0, 1.05, 1.0]))
    # flow of each branch as (coefficients on x, constant): f12 = −base·b1·θ2, …
    f12 = (np.array([0, 0, -base * b[0], 0]), 0.0)
    f23 = (np.array([0, 0, base * b[1], -base * b[1]]), 0.0)
    f13 = (np.array([0, 0, 0, -base * b[2]]), -base * b[2] * phi)
    # bus balance: generation − Σ flows out + Σ flows in = load
    rows = [
        (np.array([1, 0, 0, 0]) - f12[0] - f13[0], 0.0 + f12[1] + f13[1]),
        (f12[0] - f23[0], 150.0 - f12[1] + f23[1]),
        (np.array([0, 1, 0, 0]) + f23[0] + f13[0], 100.0 - f23[1] - f13[1]),
    ]
    a_eq = np.array([r[0] for r in rows], float)
    b_eq = np.array([r[1] for r in rows])
    lim = np.deg2rad(limit_deg)
    a_ub = np.array([[0, 0, 0, -1.0], [0, 0, 0, 1.0]])  # θ_1 − θ_3 = −θ_3
    res = linprog(
        [10.0, 30.0, 0.0, 0.0],
        A_ub=a_ub,
        b_ub=[lim, lim],
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=[(0, 400), (0, 400), (None, None), (None, None)],
        method="highs",
    )
    assert res.status == 0
    # −∂cost/∂limit per degree at whichever end binds (θ_1 − θ_3 ≤ lim, −(θ_1 − θ_3) ≤ lim)
    shadow = (-res.ineqlin.marginals[0] + res.ineqlin.marginals[1]) * np.pi / 180
    return res.fun, res.x, res.eqlin.marginals, shadow


@pytest.mark.parametrize("limit", [10.0, 8.0])
@pytest.mark.parametrize("way", list(FORMULATIONS))
def test_triangle_matches_an_independent_lp(way, limit):
    problem, options = FORMULATIONS[way]
    fun, x, lmp, shadow = triangle_by_linprog(limit)
    r = solve(triangle(limit), problem, allow_shedding=False, **options)
    assert r.status is Status.OPTIMAL
    assert r.objective == pytest.approx(fun, rel=1e-9)
    np.testing.assert_allclose(r.gen["p_mw"], x[:2], atol=1e-6)
    # the limit is on the bus angles: θ_1 − θ_3 = limit, the 5° shift not included
    assert r.branch.loc[2, "angle_diff_deg"] == pytest.approx(limit, abs=1e-7)
    np.testing.assert_allclose(r.bus["va_deg"], np.rad2deg([0.0, x[2], x[3]]), atol=1e-7)
    np.testing.assert_allclose(r.bus["lmp_usd_per_mwh"], lmp, atol=1e-6)
    assert r.branch.loc[2, "angle_shadow_price_usd_per_deg_h"] == pytest.approx(shadow, rel=1e-6)
    assert shadow > 0  # held at angmax


def test_triangle_hand_numbers_and_limit_off():
    # At 10° the limit binds and B at bus 3 (30 $/MWh) becomes marginal there: LMP_3 = 30;
    # LMP_1 = 10 (A marginal). Without the limit (or with angle_limits=False) A serves all.
    r = solve(triangle(10.0), "dcopf", allow_shedding=False)
    assert r.info["formulation"] == "btheta"
    np.testing.assert_allclose(r.bus["lmp_usd_per_mwh"].iloc[[0, 2]], [10.0, 30.0], atol=1e-9)
    free = solve(triangle(10.0), "dcopf", angle_limits=False, allow_shedding=False)
    assert free.objective == pytest.approx(2500.0)
    assert free.branch.loc[2, "angle_diff_deg"] == pytest.approx(12.575, abs=1e-3)
    assert (free.branch["angle_shadow_price_usd_per_deg_h"] == 0).all()


def test_case_made_infeasible_by_its_angle_limits_reports_infeasible():
    # ±3° on every branch: bus 2 can receive at most 100·10·0.0524 = 52.4 MW over 1→2 and
    # 100·9.52·0.0524 = 49.9 MW over 3→2, short of its 150 MW load. The shifter (5°, ±3° on
    # the bus angles) also pushes 17.5 … 69.8 MW from bus 3 to bus 1 in any dispatch.
    case = triangle(3.0)
    case = case.replace(branches=case.branches.assign(angmin_deg=-3.0, angmax_deg=3.0))
    for way, (problem, options) in FORMULATIONS.items():
        r = solve(case, problem, allow_shedding=False, **options)
        assert r.status is Status.INFEASIBLE, way
    for formulation in ("btheta", "ptdf"):
        diag = solve(case, "dcopf", formulation=formulation, allow_shedding=False).diagnosis
        assert "angle limit" in set(diag["kind"]), formulation
    shed = solve(case, "dcopf", allow_shedding=True)
    assert shed.optimal and shed.bus.loc[2, "shed_mw"] > 150.0 - 52.4 - 49.9 - 1e-6
    assert shed.branch["angle_diff_deg"].abs().max() <= 3.0 + 1e-7


# ------------------------------------------------------------------ PGLib with PYPOWER
def _pypower_dcopf(path: Path, limit_deg: float) -> dict:
    """PYPOWER's DC OPF (pandapower.pypower.opf, PF_DC) on the raw MATPOWER matrices of
    ``path`` with every branch's ANGMIN/ANGMAX set to ∓limit: its opf_setup adds the 'ang'
    rows of makeAang, as MATPOWER does. Returns the objective, θ_f − θ_t (degrees), the LMPs
    and MU_ANGMAX − MU_ANGMIN ($/h per degree)."""
    from pandapower.pypower.idx_brch import ANGMAX, ANGMIN, F_BUS, MU_ANGMAX, MU_ANGMIN, T_BUS
    from pandapower.pypower.idx_bus import LAM_P, VA
    from pandapower.pypower.opf import opf
    from pandapower.pypower.ppoption import ppoption

    from dispatchlab.cases.matpower_parser import parse_matpower

    raw = parse_matpower(path)
    bus, br, gen = (np.array(raw[k], float) for k in ("bus", "branch", "gen"))
    pos = {int(b): i for i, b in enumerate(bus[:, 0])}  # PYPOWER wants buses 0 … n−1
    bus[:, 0] = np.arange(len(bus))
    for a, cols in ((br, (0, 1)), (gen, (0,))):
        for c in cols:
            a[:, c] = [pos[int(b)] for b in a[:, c]]
    br[:, ANGMIN], br[:, ANGMAX] = -limit_deg, limit_deg
    ppc = {"version": "2", "baseMVA": float(raw["baseMVA"]), "bus": bus, "gen": gen,
           "branch": br, "gencost": np.array(raw["gencost"], float)}  # fmt: skip
    res = opf(ppc, ppoption(PF_DC=True, VERBOSE=0, OUT_ALL=0))
    assert res["success"]
    va = res["bus"][:, VA]
    b = res["branch"]
    return {
        "objective": float(res["f"]),
        "angle_diff_deg": va[b[:, F_BUS].astype(int)] - va[b[:, T_BUS].astype(int)],
        "lmp": res["bus"][:, LAM_P],
        "mu_deg": b[:, MU_ANGMAX] - b[:, MU_ANGMIN],
    }


@pytest.mark.parametrize(
    ("name", "limit"),
    [("case118_ieee", 12.0), ("case118_ieee", 11.0), ("case5_pjm", 4.0),
     ("case57_ieee", 10.0), ("case57_ieee", 6.0)],
)  # fmt: skip
def test_pglib_with_binding_limits_matches_pypower(name, limit):
    # No shipped PGLib case binds at its own ±30° in DC (largest θ_f − θ_t at the optimum:
    # 18.9° on case4661_sdet, 16.15° on case118_ieee), so the limits are tightened as PGLib's
    # "small angle difference" (sad) variants do: every branch to ±limit, where 1–3 bind.
    path = PGLIB / f"pglib_opf_{name}.m"
    case = read_matpower(path)
    free = solve(case, "dcopf", allow_shedding=False)
    case = case.replace(branches=case.branches.assign(angmin_deg=-limit, angmax_deg=limit))
    ref = _pypower_dcopf(path, limit)
    results = {w: solve(case, p, allow_shedding=False, **o) for w, (p, o) in FORMULATIONS.items()}
    bt = results["btheta"]
    assert bt.objective == pytest.approx(ref["objective"], rel=1e-7)
    assert bt.objective > free.objective * (1 + 1e-3)  # the limits bind and cost something
    np.testing.assert_allclose(bt.branch["angle_diff_deg"], ref["angle_diff_deg"], atol=1e-4)
    np.testing.assert_allclose(bt.bus["lmp_usd_per_mwh"], ref["lmp"], atol=1e-4)
    # parallel branches share one angle difference, so only the sum of their duals is unique
    # (PYPOWER's interior point splits it evenly, a vertex puts it on one): compare per bus pair
    br = case.branches
    sign = np.where(br["from_bus"] < br["to_bus"], 1.0, -1.0)
    f, t = br["from_bus"].to_numpy(), br["to_bus"].to_numpy()
    pair = np.minimum(f, t) * 1_000_000 + np.maximum(f, t)
    ours = pd.Series(sign * bt.branch["angle_shadow_price_usd_per_deg_h"].to_numpy()).groupby(pair)
    theirs = pd.Series(sign * ref["mu_deg"]).groupby(pair)
    tol = 1e-6 * max(1.0, np.abs(ref["mu_deg"]).max())
    np.testing.assert_allclose(ours.sum(), theirs.sum(), atol=tol)
    for way, r in results.items():
        assert r.optimal, way
        assert r.objective == pytest.approx(bt.objective, rel=1e-9), way
        assert r.branch["angle_diff_deg"].abs().max() <= limit + 1e-7, way
        lmp = r.bus["lmp_usd_per_mwh"] - bt.bus["lmp_usd_per_mwh"]
        assert np.abs(lmp.to_numpy()).max() <= 1e-4, way
        shadow = (
            r.branch["angle_shadow_price_usd_per_deg_h"]
            - bt.branch["angle_shadow_price_usd_per_deg_h"]
        )
        assert np.abs(shadow.to_numpy()).max() <= 1e-4, way
    assert (bt.branch["angle_shadow_price_usd_per_deg_h"].abs() > 1e-6).sum() >= 1
    lazy = results["lazy"]
    assert 0 < lazy.info["angle_rows"] <= 20 and lazy.info["max_angle_violation_deg"] < 1e-9


def test_persistent_ptdf_model_moves_the_angle_rows_with_the_loads():
    case = triangle(10.0)
    dm = DispatchModel(case, "dcopf", formulation="ptdf", allow_shedding=False)
    assert "branch_angle_diff" in dm.model.con_blocks
    for f in (0.6, 1.0, 1.3):
        loads = case.loads.assign(p_mw=case.loads["p_mw"] * f)
        dm.set_loads(loads["p_mw"])
        got = dm.solve()
        ref = solve(case.replace(loads=loads), "dcopf", formulation="btheta", allow_shedding=False)
        assert got.objective == pytest.approx(ref.objective, rel=1e-9)
        np.testing.assert_allclose(got.bus["va_deg"], ref.bus["va_deg"], atol=1e-7)
    assert dm.builds == 1


def test_multiperiod_network_rows_hold_in_every_period():
    index = pd.date_range("2024-01-01", periods=3, freq="h")
    load = pd.DataFrame({0: [100.0, 150.0, 200.0], 1: [60.0, 100.0, 140.0]}, index=index)
    case = triangle(10.0).with_timeseries(TimeSeries({"load_p_mw": load}))
    objs = []
    for formulation in ("btheta", "ptdf"):
        r = solve(case, "multiperiod", formulation=formulation, periods=3, allow_shedding=False)
        assert r.optimal
        assert r.branch.loc[2, "angle_diff_deg"].abs().max() <= 10.0 + 1e-7
        assert r.branch.loc[2, "angle_diff_deg"].max() == pytest.approx(10.0)  # it binds
        objs.append(r.objective)
    lazy = solve(case, "dcopf", formulation="lazy", periods=3, allow_shedding=False)
    assert lazy.info["angle_rows"] >= 1 and lazy.info["max_angle_violation_deg"] < 1e-9
    objs.append(lazy.objective)
    singles = [
        solve(case, "dcopf", periods=1, start=t, allow_shedding=False).objective for t in range(3)
    ]  # no ramps or storage: the periods are independent
    assert objs[0] == pytest.approx(sum(singles), rel=1e-9)
    assert objs[1:] == pytest.approx([objs[0]] * 2, rel=1e-9)


def test_verify_flags_a_dispatch_beyond_the_angle_limit():
    from dispatchlab.solvers.verify import verify

    case = triangle(10.0)
    assert verify(case, solve(case, "dcopf", allow_shedding=False)).ok  # at the limit: clean
    free = solve(case, "dcopf", angle_limits=False, allow_shedding=False)
    bad = verify(case, free).violations  # the unconstrained dispatch: 12.575° on branch 2
    row = bad.query("quantity == 'angle_diff_max_deg'")
    assert row["id"].tolist() == [2]
    assert row["value"].iloc[0] == pytest.approx(12.575, abs=1e-3)
    assert row["limit"].iloc[0] == pytest.approx(10.0)
    assert row["amount"].iloc[0] == pytest.approx(2.575, abs=1e-3)
