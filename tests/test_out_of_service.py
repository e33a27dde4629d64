"""Out-of-service elements: loaded and kept as written, ignored by every problem (issue 13)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import dispatchlab as dl
from dispatchlab import Case, TimeSeries
from dispatchlab.cases.matpower import read_matpower, write_matpower
from dispatchlab.cases.pandapower_io import from_pandapower, to_pandapower
from dispatchlab.solvers.api import solve

# A MATPOWER file as others write them: gen 3 is out of service with Pmin 50 > Pmax 10 and a
# cost of 1 $/MWh (were it counted it would take the load); branch 4 is out of service with
# r = x = 0 and a rating of -1. MATPOWER and PowerModels drop both before solving.
CASE_M = """function mpc = oos3
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
\t1\t3\t0\t0\t0\t0\t1\t1\t0\t110\t1\t1.1\t0.9;
\t2\t2\t0\t0\t0\t0\t1\t1\t0\t110\t1\t1.1\t0.9;
\t3\t1\t150\t30\t0\t0\t1\t1\t0\t110\t1\t1.1\t0.9;
];
mpc.gen = [
\t1\t0\t0\t200\t-200\t1\t100\t1\t200\t0;
\t2\t0\t0\t200\t-200\t1\t100\t1\t100\t0;
\t2\t0\t0\t200\t-200\t1\t100\t0\t10\t50;
];
mpc.branch = [
\t1\t2\t0.01\t0.1\t0\t100\t100\t100\t0\t0\t1\t-360\t360;
\t2\t3\t0.01\t0.1\t0\t100\t100\t100\t0\t0\t1\t-360\t360;
\t1\t3\t0.02\t0.2\t0\t60\t60\t60\t0\t0\t1\t-360\t360;
\t1\t3\t0\t0\t0\t-1\t0\t0\t0\t0\t0\t-360\t360;
];
mpc.gencost = [
\t2\t0\t0\t2\t20\t0;
\t2\t0\t0\t2\t30\t0;
\t2\t0\t0\t2\t1\t0;
];
"""


@pytest.fixture
def oos(tmp_path) -> Case:
    path = tmp_path / "oos3.m"
    path.write_text(CASE_M)
    return read_matpower(path)


def _without_oos(case: Case) -> Case:
    return case.replace(
        gens=case.gens[case.gens["in_service"]],
        branches=case.branches[case.branches["in_service"]],
    )


def test_oos_gen_with_reversed_limits_loads_and_round_trips(oos, tmp_path):
    assert oos.gens.loc[2, ["p_min_mw", "p_max_mw"]].tolist() == [50.0, 10.0]
    assert not oos.gens.loc[2, "in_service"] and not oos.branches.loc[3, "in_service"]
    back = read_matpower(write_matpower(oos, tmp_path / "back.m"))
    assert oos.differences(back) == []
    pp_back = from_pandapower(to_pandapower(oos))
    assert oos.differences(pp_back) == []
    assert pp_back.gens["in_service"].tolist() == [True, True, False]
    assert pp_back.gens.loc[2, ["p_min_mw", "p_max_mw"]].tolist() == [50.0, 10.0]
    # an in-service generator with the same limits is still refused
    with pytest.raises(dl.CaseValidationError, match=r"p_min_mw > p_max_mw .* at id\(s\) \[2\]"):
        oos.replace(gens=oos.gens.assign(in_service=True))


@pytest.mark.parametrize(
    ("problem", "options"),
    [
        ("ed", {}),
        ("dcopf", {"formulation": "btheta"}),
        ("dcopf", {"formulation": "ptdf"}),
        ("dcopf", {"formulation": "lazy"}),
        # the triangle is not N-1 secure for 150 MW (losing 2–3 leaves 1–3, 60 MW): shed
        ("sced", {"contingencies": [0, 1, 2], "allow_shedding": True}),
    ],
)
def test_dc_problems_ignore_oos_rows(oos, problem, options):
    # the same optimum as the case without its out-of-service rows (what MATPOWER solves)
    got = solve(oos, problem, **options)
    ref = solve(_without_oos(oos), problem, **options)
    assert got.optimal and ref.optimal
    assert got.objective == pytest.approx(ref.objective, rel=1e-9)
    assert 2 not in got.gen.index
    assert got.gen["p_mw"].sum() + got.shed_mw == pytest.approx(150.0)


def test_dcopf_objective_by_hand(oos):
    # Lines x: 1–2 0.1, 2–3 0.1, 1–3 0.2; gen 1 injects P1, gen 2 the rest. PTDF of 1–3 for
    # an injection at bus 1 (to bus 3): 0.5; at bus 2: 0.25. Flow 1–3 = 0.5·P1 + 0.25·P2 ≤ 60
    # with P1 + P2 = 150 → 0.25·P1 ≤ 60 − 37.5 → P1 = 90, P2 = 60: 90·20 + 60·30 = 3600 $/h.
    r = solve(oos, "dcopf")
    assert r.objective == pytest.approx(3600.0, rel=1e-9)
    assert r.gen["p_mw"].tolist() == pytest.approx([90.0, 60.0])


def test_acopf_ignores_oos_rows(oos):
    got, ref = solve(oos, "acopf"), solve(_without_oos(oos), "acopf")
    assert got.optimal and got.objective == pytest.approx(ref.objective, rel=1e-6)


def test_multiperiod_ignores_oos_gen_and_der():
    index = pd.date_range("2024-01-01", periods=3, freq="h")
    case = Case(
        "oos-mp",
        buses={"bus_id": [1], "base_kv": [20.0], "bus_type": ["REF"]},
        gens={
            "bus": [1, 1],
            "p_max_mw": [200.0, 10.0],
            "p_min_mw": [0.0, 50.0],
            "cost_c1_usd_per_mwh": [20.0, 1.0],
            "in_service": [True, False],
        },
        loads={"bus": [1], "p_mw": [100.0]},
        ders={
            "bus": [1],
            "kind": ["pv"],
            "p_min_mw": [30.0],
            "p_max_mw": [5.0],
            "in_service": [False],
        },
    ).with_timeseries(TimeSeries({"load_p_mw": pd.DataFrame({0: [100.0, 120.0, 80.0]}, index)}))
    r = solve(case, "multiperiod")
    assert r.objective == pytest.approx(20.0 * 300.0)  # only gen 0 serves 100 + 120 + 80 MWh


def test_distflow_ignores_an_oos_gen():
    case = dl.load_case("ieee33")  # its 5 tie lines are out of service already
    bad = case.gens.iloc[[0]].assign(
        bus=case.buses.index[5], p_max_mw=0.1, p_min_mw=2.0, in_service=False
    )
    bad.index = pd.Index([case.gens.index.max() + 1], name="gen_id")
    with_bad = case.replace(gens=pd.concat([case.gens, bad]))
    got, ref = solve(with_bad, "distflow"), solve(case, "distflow")
    assert got.optimal and got.objective == pytest.approx(ref.objective, rel=1e-6)
    assert np.isclose(got.gen["p_mw"].sum(), ref.gen["p_mw"].sum(), rtol=1e-6)
