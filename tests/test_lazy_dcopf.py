"""DC-OPF with lazily added line limits reaches the B-θ optimum and the same LMPs."""

from __future__ import annotations

import numpy as np
import pytest

import dispatchlab as dl


@pytest.mark.parametrize("name", ["pglib/case5_pjm", "pglib/case118_ieee", "pglib/case300_ieee"])
def test_lazy_equals_btheta(name):
    case = dl.load_case(name)
    full = dl.solve(case, "dcopf", formulation="btheta")
    lazy = dl.solve(case, "dcopf", formulation="lazy")
    assert lazy.optimal and lazy.problem == "dcopf" and lazy.info["formulation"] == "lazy"
    assert lazy.objective == pytest.approx(full.objective, rel=1e-6)
    lmp = lazy.bus["lmp_usd_per_mwh"] - full.bus["lmp_usd_per_mwh"]
    assert np.abs(lmp.to_numpy()).max() <= 1e-3
    # only the limits that bind were added, far fewer rows than the branches
    assert lazy.info["constraints_added"] < case.n_branches / 2


def test_case5_lazy_adds_the_congested_line():
    lazy = dl.solve(dl.load_case("pglib/case5_pjm"), "dcopf", formulation="lazy")
    assert lazy.objective == pytest.approx(17479.897, abs=1e-2)
    assert lazy.info["rounds"] >= 1 and lazy.info["constraints_added"] >= 1
