"""Chance-constrained ED / SCED-lite: hand-checked tightening, DPP re-solves, Monte Carlo."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.stats import norm

import dispatchlab as dl
from dispatchlab import Case
from dispatchlab.solvers.api import solve
from dispatchlab.solvers.problems.chance import ChanceDispatch, default_cov

Z95 = norm.ppf(0.95)  # 1.6449


def two_gen(wind_mw: float = 30.0) -> Case:
    """Gen A 10 $/MWh ≤ 100 MW, gen B 30 $/MWh ≤ 200 MW, load 150 MW, one wind farm."""
    return Case(
        "two-gen-cc",
        buses={"bus_id": [1], "base_kv": [110.0], "bus_type": ["REF"]},
        gens={"bus": [1, 1], "p_max_mw": [100.0, 200.0], "cost_c1_usd_per_mwh": [10.0, 30.0]},
        loads={"bus": [1], "p_mw": [150.0]},
        ders={"bus": [1], "kind": ["wind"], "p_max_mw": [wind_mw], "p_min_mw": [0.0]},
    )


def test_fixed_alpha_tightened_limit_by_hand():
    """σ = 5 MW, α = (0.5, 0.5): A's limit is 100 − z₀.₉₅·0.5·5 = 95.888 MW, B takes the rest."""
    r = solve(two_gen(), "chance", epsilon=0.05, alpha=(0.5, 0.5), cov=np.array([[25.0]]))
    p_a = 100.0 - Z95 * 0.5 * 5.0
    assert r.gen["p_mw"].tolist() == pytest.approx([p_a, 150.0 - 30.0 - p_a], abs=1e-6)
    assert r.gen.loc[0, "margin_mw"] == pytest.approx(Z95 * 2.5, abs=1e-9)
    assert r.info["backend"] == "highs"  # fixed α and linear costs: an LP
    assert r.objective == pytest.approx(10 * p_a + 30 * (120.0 - p_a), abs=1e-5)
    # the margin binds: the empirical violation of A's upper limit is ε up to sampling error
    mc = r.info["monte_carlo"].set_index(["element", "id", "side"])["violation_prob"]
    assert abs(mc[("gen", 0, "max")] - 0.05) < 3 * r.info["mc_standard_error"]


def test_optimized_alpha_moves_response_to_the_slack_unit():
    """With α optimized the cheap unit runs at 100 MW with α_A = 0; B absorbs all errors."""
    r = solve(two_gen(), "chance", epsilon=0.05, alpha="optimize", cov=np.array([[25.0]]))
    assert r.gen["p_mw"].tolist() == pytest.approx([100.0, 20.0], abs=1e-5)
    assert r.gen["alpha"].tolist() == pytest.approx([0.0, 1.0], abs=1e-6)
    assert r.info["is_dpp"]


def test_default_covariance():
    cov = default_cov(np.array([10.0, 20.0]), 0.1, 0.5)
    assert cov.ravel().tolist() == pytest.approx([1.0, 1.0, 1.0, 4.0])


@pytest.fixture(scope="module")
def ieee30_tight():
    case = dl.load_case("ieee30-seed004")
    rate = dl.load_case("ieee30").branches["rate_a_mva"] * 0.88  # case30's ratings × 0.88
    return case.replace(branches=case.branches.assign(rate_a_mva=rate))


@pytest.mark.parametrize("alpha", ["optimize", "proportional"])
def test_sced_lite_monte_carlo_within_three_standard_errors(ieee30_tight, alpha):
    """SCED-lite on IEEE 30 (90-day wind case, case30 ratings × 0.88 so a line binds): every limit's
    empirical violation over 10 000 seeded samples ≤ ε + 3 s.e."""
    r = solve(ieee30_tight, "chance", network="ptdf", alpha=alpha, period=48, sigma_rel=0.2)
    assert r.optimal and r.info["is_dpp"]
    eps, se = r.info["epsilon"], r.info["mc_standard_error"]
    assert r.info["mc_samples"] == 10_000
    assert r.info["mc_max_violation"] <= eps + 3 * se
    assert r.info["mc_max_violation"] > eps - 3 * se  # a line binds: the bound is tight
    slack = r.branch["rate_mva"] - r.branch["p_mw"].abs() - r.branch["margin_mw"]
    assert slack.min() == pytest.approx(0.0, abs=1e-5)


def test_parameters_are_updated_not_recompiled(ieee30_tight):
    """One compiled SOCP re-solved for several forecasts; optimal costs fall as wind rises."""
    m = ChanceDispatch(ieee30_tight, network="ptdf", period=48, sigma_rel=0.2)
    assert m.problem.is_dpp()
    costs = [m.solve(forecast=m.forecast * k).objective for k in (0.9, 1.0, 1.1)]
    assert costs[0] > costs[1] > costs[2]
    assert m.problem._cache.param_prog is not None  # the DPP program is cached for re-solves


def test_ptdf_refuses_angle_limits_it_cannot_model_instead_of_dropping_them(ieee30_tight):
    """The SOCP has no angle rows: a case whose angle limits bind before its ratings is refused,
    naming the branches; angle_limits=False solves it without them, as asked."""
    branches = ieee30_tight.branches
    branches.loc[branches.index[:2], ["angmin_deg", "angmax_deg"]] = [-0.5, 0.5]
    case = ieee30_tight.replace(branches=branches)
    ids = [int(i) for i in branches.index[:2]]
    with pytest.raises(ValueError, match=re.escape(f"branch(es) {ids} have angle limits tighter")):
        solve(case, "chance", network="ptdf", period=48, sigma_rel=0.2, monte_carlo=False)
    r = solve(
        case, "chance", network="ptdf", period=48, sigma_rel=0.2, monte_carlo=False,
        angle_limits=False,
    )  # fmt: skip
    assert r.optimal
    # the shipped case's ±360° limits never bind before a rating: solved as before
    assert solve(ieee30_tight, "chance", network="ptdf", period=48, monte_carlo=False).optimal
