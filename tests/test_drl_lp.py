"""``solve(case, "drl_lp", selected=[…])``: seed003's DRL-LP over a DER selection, certified by
reduced costs and repaired to the full LP's optimum; its DLMPs against the full LP's."""

from __future__ import annotations

import numpy as np
import pytest

import dispatchlab as dl
from dispatchlab.solvers.problems.dlmp_lp import dlmp_lp, solve_lp
from dispatchlab.solvers.problems.linearized import dlmp_model

DLMP = ["dlmp_usd_per_mwh", "dlmp_loss_usd_per_mwh", "dlmp_congestion_usd_per_mwh"]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


@pytest.fixture(scope="module")
def case():
    """ieee123-seed003 without export (as der-selection runs it): the DERs serve the feeder."""
    base = dl.load_case("ieee123-seed003")
    gens = base.gens
    gens["p_min_mw"] = 0.0
    return base.replace(gens=gens)


@pytest.fixture(scope="module")
def full(case):
    return dl.solve(case, "dlmp")


def test_bad_selection_fails_the_certificate_and_is_repaired_to_the_full_optimum(case, full):
    """The 18 dearest DERs (a hand-made bad pick): their LP costs 153.7 $/h against the full
    LP's 81.6; the certificate rejects it, DERs are added back and the result is the full
    optimum (relative gap ≤ 1e-6) with the full LP's DLMPs."""
    dearest = full.der["cost_usd_per_mwh"].sort_values().index[-18:]
    r = dl.solve(case, "drl_lp", selected=dearest, ac=False)
    cert = r.info["certificate"]
    assert full.objective == pytest.approx(81.626, abs=1e-3)
    assert cert["objective_before_certification"] == pytest.approx(153.59, abs=0.01)
    assert cert["certified"] and not cert["certified_without_repair"] and not cert["fallback"]
    assert cert["passes"][0]["missed"] > 0 and len(cert["added_back_ders"]) >= 20
    assert (cert["full_columns"], cert["reduced_columns"], cert["rows"]) == (130, 19, 135)
    assert _rel(r.objective, full.objective) <= 1e-6
    np.testing.assert_allclose(r.bus[DLMP], full.bus[DLMP], atol=1e-6)
    assert r.der["added_back"].sum() == len(cert["added_back_ders"])
    assert set(r.der.index[r.der["selected"]]) == set(dearest)


def test_the_full_optimums_own_ders_are_certified_without_repair(case, full):
    """One pass: the 35 DERs the full LP runs are certified as they are. Two passes: the
    36 DERs of the final dispatch miss DER 85, which the first pass (linearized at zero DER
    output) runs: the certificate adds it back there, and the second pass needs nothing."""
    one = dl.solve(case, "dlmp", iterations=1)
    used = one.der.index[one.der["p_mw"] > 1e-9]
    r = dl.solve(case, "drl_lp", selected=used, iterations=1, ac=False)
    cert = r.info["certificate"]
    assert len(used) == 35 and cert["certified_without_repair"] and cert["rounds"] == 0
    assert cert["added_back_ders"] == []
    assert _rel(r.objective, one.objective) <= 1e-9
    np.testing.assert_allclose(r.der["p_mw"], one.der["p_mw"], atol=1e-7)
    used = full.der.index[full.der["p_mw"] > 1e-9]
    cert = dl.solve(case, "drl_lp", selected=used, ac=False).info["certificate"]
    assert len(used) == 36 and cert["added_back_ders"] == [85]
    assert [(p["missed"], p["rounds"]) for p in cert["passes"]] == [(1, 1), (0, 0)]


@pytest.mark.parametrize("iterations", [1, 3])
def test_every_linearization_pass_is_certified(case, iterations):
    ref = dl.solve(case, "dlmp", iterations=iterations)
    sel = ref.der.index[::7]  # every 7th DER: some needed ones are missing
    r = dl.solve(case, "drl_lp", selected=sel, iterations=iterations, ac=False)
    assert len(r.info["certificate"]["passes"]) == iterations
    assert r.info["certificate"]["certified"]
    assert _rel(r.objective, ref.objective) <= 1e-6


def test_setpoint_mode_keeps_omitted_ders_at_their_set_points(case, full):
    """The balancing market: a base schedule in the case's ``p_mw``, 50 % more load at buses
    43, 76 and 109. The full LP at those set-points moves DERs 26 and 85 only: that pair is
    certified as it is and every other DER keeps its base; DERs 80 and 81 are not enough and
    the repair adds DERs back (all failing ones at once: ``repair="all"``)."""
    ders, loads = case.ders, case.loads
    ders.loc[full.der.index, "p_mw"] = full.der["p_mw"]
    at = loads["bus"].isin([43, 76, 109])
    loads.loc[at, ["p_mw", "q_mvar"]] *= 1.5
    rt = case.replace(ders=ders, loads=loads)
    ref = dl.solve(rt, "dlmp")
    moved = (ref.der["p_mw"] - full.der["p_mw"]).abs()
    assert moved.index[moved > 1e-6].tolist() == [26, 85]
    r = dl.solve(rt, "drl_lp", selected=[26, 85], omitted="setpoint", ac=False)
    assert r.info["certificate"]["certified_without_repair"]
    assert _rel(r.objective, ref.objective) <= 1e-9
    kept = ~r.der["selected"]
    np.testing.assert_allclose(r.der.loc[kept, "p_mw"], full.der.loc[kept[kept].index, "p_mw"])
    r = dl.solve(rt, "drl_lp", selected=[80, 81], omitted="setpoint", ac=False)
    cert = r.info["certificate"]
    assert cert["certified"] and not cert["certified_without_repair"]
    assert {26, 85} <= set(cert["added_back_ders"])
    assert _rel(r.objective, ref.objective) <= 1e-6


def test_ac_check_of_the_certified_dispatch(case, full):
    r = dl.solve(case, "drl_lp", selected=full.der.index[:18])
    ac = r.info["ac_check"]
    assert ac["voltage_violation_pu"] == 0.0 and ac["flow_violation_mw"] == 0.0
    assert 0.95 <= ac["vm_min_pu"] <= ac["vm_max_pu"] <= 1.05
    # the linearized losses (eq. 7) against AC: the slack covers the difference
    assert abs(ac["slack_mismatch_mw"]) < 0.01
    assert ac["loss_mw"] == pytest.approx(r.info["loss_mw"], rel=0.15)


def test_ac_flow_overflow_is_corrected_and_drl_lp_still_equals_the_full_lp(case, full):
    """Line 115 limited to 90 % of its flow (0.3195 MW): the linearized LP holds it there and
    the AC flow is 1.616 kW over. Unchecked (``ac_corrections=0``) that is flagged and warned
    of, naming the branch; one correction (limit − AC/linear mismatch = 0.317884 MW) makes the
    AC check clean, and DRL-LP equals the full LP with the corrected limit."""
    sel, lim = full.der.index[:18], {115: 0.9 * 0.355}
    with pytest.warns(RuntimeWarning, match=r"branch 115: AC 0.321116 MW .* by 1.616 kW"):
        raw = dl.solve(case, "drl_lp", selected=sel, flow_limits_mw=lim, ac_corrections=0)
    assert raw.info["ac_corrections"]["ac_violated"]
    assert raw.info["ac_check"]["flow_violation_mw"] == pytest.approx(1.616e-3, abs=1e-6)
    r = dl.solve(case, "drl_lp", selected=sel, flow_limits_mw=lim)
    corr = r.info["ac_corrections"]
    assert corr["n_corrections"] == 1 and not corr["ac_violated"] and corr["violations"] == []
    (fixed,) = corr["rounds"][0]["branches"]
    assert fixed["ac_flow_mw"] - fixed["linear_flow_mw"] == pytest.approx(1.616e-3, abs=1e-6)
    assert corr["corrected_flow_limits_mw"][115] == pytest.approx(0.317884, abs=1e-6)
    assert r.info["ac_check"]["flow_violation_mw"] <= 1e-5
    assert abs(r.branch.loc[115, "p_mw"]) <= lim[115]
    assert r.objective == pytest.approx(81.6955, abs=1e-4)
    assert r.objective > raw.objective  # the tighter limit costs 0.003 $/h
    ref = dl.solve(case, "dlmp", flow_limits_mw=corr["corrected_flow_limits_mw"])
    assert _rel(r.objective, ref.objective) <= 1e-6


def test_ac_voltage_violation_is_corrected(case, full):
    """A 0.98 p.u. floor: the linearized LP puts bus 51 at 0.98, AC at 0.97942. One
    correction raises the floor of the 8 low buses by their mismatch; AC ≥ 0.98 after."""
    r = dl.solve(case, "drl_lp", selected=full.der.index[:18], v_limits=(0.98, 1.05))
    corr = r.info["ac_corrections"]
    assert corr["n_corrections"] == 1 and not corr["ac_violated"]
    assert len(corr["rounds"][0]["buses"]) == 8
    assert corr["corrected_v_limits_pu"][51][0] == pytest.approx(0.980584, abs=1e-6)
    assert r.info["ac_check"]["vm_min_pu"] >= 0.98 - 1e-6
    assert r.objective == pytest.approx(81.8601, abs=1e-4)


def test_highs_path_equals_cvxpy_path(case):
    """The full LP moved from cvxpy to LinearModel + HiGHS: same optimum, same DLMPs."""
    a, b = dl.solve(case, "dlmp"), dl.solve(case, "dlmp", backend="cvxpy")
    assert a.info["backend"] == "highs" and b.info["backend"] == "cvxpy+highs"
    assert _rel(a.objective, b.objective) <= 1e-9
    np.testing.assert_allclose(a.bus[DLMP], b.bus[DLMP], atol=1e-7)
    m = dlmp_model(case)
    lp = dlmp_lp(m, m.linearize(m.x_b))
    assert (lp.n_cols, lp.n_rows) == (130, 135)  # p0 + 129 DERs; balance, 5 rated, 129 V
    assert solve_lp(m, m.linearize(m.x_b), np.arange(18))["n_cols"] == 19


def test_bad_input_is_named(case):
    with pytest.raises(ValueError, match=r"selected DER id\(s\) \[999, -1\] are not .*4 … 132"):
        dl.solve(case, "drl_lp", selected=[4, 999, -1])
    with pytest.raises(ValueError, match="drl_lp needs selected="):
        dl.solve(case, "drl_lp")
    with pytest.raises(ValueError, match="omitted must be one of"):
        dl.solve(case, "drl_lp", selected=[4], omitted="base")
    ders = case.ders
    ders.loc[ders.index[5], "p_mw"] = 0.2
    with pytest.raises(ValueError, match=rf"DER {ders.index[5]}: set-point p_mw = 0.2 outside"):
        dl.solve(case.replace(ders=ders), "drl_lp", selected=[4], omitted="setpoint")
    with pytest.raises(ValueError, match="iterations must be a whole number ≥ 1, got 0"):
        dl.solve(case, "drl_lp", selected=[4], iterations=0)
    with pytest.raises(ValueError, match="use backend 'auto' or 'highs'"):
        dl.solve(case, "drl_lp", selected=[4], backend="pyomo")


def test_certificate_is_shared_with_learning_reduce():
    """One certificate: learning.reduce re-exports the solvers' objects."""
    from dispatchlab.learning.reduce import base, certificate
    from dispatchlab.solvers import certificate as exact

    assert certificate.LPArrays is exact.LPArrays and certificate.certify is exact.certify
    assert base.ReductionReport is exact.ReductionReport
