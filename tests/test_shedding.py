"""No silent shedding: infeasible cases say so (with a diagnosis); shedding is one option away
and shows in the summary; HiGHS's ambiguous statuses are settled (issue 13)."""

from __future__ import annotations

import highspy
import numpy as np
import pandas as pd
import pytest

import dispatchlab as dl
from dispatchlab import Case
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.backends.highs import HighsModel, _settle_ambiguous
from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.persistent import DispatchModel
from dispatchlab.solvers.status import Status
from tests.conftest import three_bus_tables


def short_three_bus() -> Case:
    """conftest's three-bus case with 200 MW at bus 3. Its two lines in (2–3: 100 MW, 1–3:
    50 MW) can bring 150 MW: flow 1–3 = 0.5·P1 + 0.25·P2 = 50 and P1 + P2 = 150 give P1 = 50,
    P2 = 100 (gen 2's limit). 50 MW cannot be served whatever the dispatch."""
    t = three_bus_tables()
    t["loads"]["p_mw"] = [200.0]
    return Case("short-three-bus", **t)


@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_infeasible_case_says_so_and_names_the_short_bus(formulation):
    r = solve(short_three_bus(), "dcopf", formulation=formulation)
    assert r.status is Status.INFEASIBLE and not r.optimal
    short = r.diagnosis[r.diagnosis["stage"] == "shortfall"]
    assert short[["kind", "element_id", "direction"]].values.tolist() == [
        ["balance", 3, "shortfall"]
    ]
    assert short["slack_mw"].iloc[0] == pytest.approx(50.0, abs=1e-6)
    limits = r.diagnosis[r.diagnosis["stage"] == "limits"]
    assert set(limits["kind"]) == {"branch limit"}  # lines 1–3 and/or 2–3, 50 MW over in all
    assert limits["slack_mw"].sum() == pytest.approx(50.0, abs=1e-6)


def test_shedding_when_asked_equals_the_hand_computed_shortfall():
    r = solve(short_three_bus(), "dcopf", allow_shedding=True)
    assert r.optimal
    assert r.shed_mw == pytest.approx(50.0, abs=1e-6)
    assert r.gen["p_mw"].tolist() == pytest.approx([50.0, 100.0], abs=1e-6)
    assert r.objective == pytest.approx(50 * 20.0 + 100 * 30.0 + 50 * 10_000.0, rel=1e-9)
    summary = r.summary()
    assert summary["shed_mw"] == pytest.approx(50.0, abs=1e-6)
    assert summary["shedding"] == "50 MW of load shed at VOLL (allow_shedding=True)"
    assert "shed_mw=50" in repr(r)
    served = solve(dl.Case("ok", **three_bus_tables()), "dcopf")
    assert "shedding" not in served.summary() and "shed_mw=" not in repr(served)


def test_persistent_model_does_not_shed_by_default():
    case = short_three_bus()
    assert DispatchModel(case, "ed").solve().status is Status.OPTIMAL  # copper plate: 300 MW
    assert DispatchModel(case, "dcopf").solve().status is Status.INFEASIBLE
    assert DispatchModel(case, "dcopf", allow_shedding=True).solve().shed_mw == pytest.approx(50)


def test_sced_infeasible_names_the_post_contingency_limits():
    # conftest's 150 MW: losing 2–3 leaves 1–3 (rated 50) to carry 150 (100 over); losing 1–3
    # leaves 2–3 (100) to carry 150 (50 over). No dispatch avoids either.
    case = Case("three-bus", **three_bus_tables())
    expected = [
        (1, "over from→to after outage of branch 2", 50.0),
        (2, "over from→to after outage of branch 1", 100.0),
    ]
    for method in ("full", "lazy"):
        r = solve(case, "sced", contingencies=[0, 1, 2], method=method)
        assert r.status is Status.INFEASIBLE
        limits = r.diagnosis[r.diagnosis["stage"] == "limits"]
        assert set(limits["kind"]) == {"post-contingency limit"}
        rows = sorted(
            zip(limits["element_id"], limits["direction"], limits["slack_mw"].round(6), strict=True)
        )
        if method == "full":
            assert rows == expected
        else:  # lazy stops at the first infeasible round: the rows added so far
            assert rows and set(rows) <= set(expected)
    shed = solve(case, "sced", contingencies=[0, 1, 2], allow_shedding=True)
    assert shed.optimal and shed.shed_mw == pytest.approx(100.0, abs=1e-6)


def test_sced_summary_counts_binding_post_contingency_rows():
    r = solve(dl.load_case("pglib/case57_ieee"), "sced", contingencies="all")
    s = r.summary()
    assert s["max_post_contingency_loading_pct"] == pytest.approx(100.0, abs=1e-4)
    assert s["binding_branches"] == 0  # no base-case row binds …
    assert s["binding_contingency_rows"] == len(r.info["binding_contingencies"]) == 1  # … one does


def _lp(cost: list[float], rows: dict) -> LinearModel:
    m = LinearModel()
    m.add_vars("x", pd.RangeIndex(len(cost)), lb=0.0, ub=np.inf, cost=cost)
    for name, (r, c, v, lb, ub) in rows.items():
        m.add_cons(name, pd.RangeIndex(len(lb)), r, c, v, lb=lb, ub=ub)
    return m


INFEASIBLE_LP = {"a": ([0], [1], [1.0], [-np.inf], [-1.0])}  # x1 ≤ −1 with x1 ≥ 0


def test_highs_unknown_on_an_infeasible_lp_comes_back_infeasible():
    # interior point without crossover or presolve ends this LP with "Unknown"
    m = _lp([-1.0, 0.0], INFEASIBLE_LP)
    opts = {"solver": "ipm", "run_crossover": "off", "presolve": "off"}
    raw = HighsModel(m, options=opts)
    raw.h.run()
    assert raw.h.getModelStatus() == highspy.HighsModelStatus.kUnknown
    sol = HighsModel(m, options=opts).solve()
    assert sol.status is Status.INFEASIBLE
    assert sol.message == "infeasible (HiGHS: Unknown; a dual ray proves it)"


class _NoRay(highspy.Highs):
    """A HiGHS that reports an ambiguous status and no dual ray: the re-solve must decide."""

    def getDualRay(self):
        return highspy.HighsStatus.kOk, False, np.zeros(0)

    def getModelStatus(self):
        return highspy.HighsModelStatus.kUnboundedOrInfeasible


def _loaded(m: LinearModel) -> _NoRay:
    h = _NoRay()
    h.setOptionValue("output_flag", False)
    h.passModel(HighsModel(m).h.getLp())
    return h


def test_feasibility_resolve_tells_infeasible_from_unbounded():
    status, msg = _settle_ambiguous(_loaded(_lp([-1.0, 0.0], INFEASIBLE_LP)), "x")
    assert status is Status.INFEASIBLE and msg == "infeasible (HiGHS: x; a feasibility re-solve)"
    unbounded = _lp([-1.0, 0.0], {"b": ([0], [1], [1.0], [0.0], [1.0])})  # x0 free upward
    status, msg = _settle_ambiguous(_loaded(unbounded), "x")
    assert status is Status.UNBOUNDED and "the constraints are feasible" in msg
