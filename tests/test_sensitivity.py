"""Voltage–reactive sensitivity (seed002 §3.2) against finite differences of the AC power flow."""

from __future__ import annotations

import numpy as np
import pytest

import dispatchlab as dl
from dispatchlab.solvers.powerflow import run_ac_powerflow
from dispatchlab.solvers.sensitivity import voltage_q_sensitivity


@pytest.fixture(scope="module")
def ieee33():
    return dl.load_case("ieee33")


def _vm_with_q(case, bus: int, q_mvar: float):
    extra = {"bus": [bus], "kind": ["svg"], "q_mvar": [q_mvar]}
    extra |= {"q_min_mvar": [-1.0], "q_max_mvar": [1.0]}
    return run_ac_powerflow(case.with_ders(extra)).bus["vm_pu"]


@pytest.mark.parametrize("bus", [18, 33])
def test_sensitivity_matches_central_differences(ieee33, bus):
    s = voltage_q_sensitivity(ieee33)
    assert s.shape == (32, 32) and 1 not in s.index  # PQ buses only
    dq = 0.01  # MVAr
    fd = (_vm_with_q(ieee33, bus, dq) - _vm_with_q(ieee33, bus, -dq)) / (2 * dq)
    column = s[bus]
    err = np.abs(fd.loc[s.index] - column).max() / np.abs(column).max()
    assert err < 1e-3  # measured ~2e-6
    # physics: injecting Q raises every voltage, most at the end of the lateral
    assert (column > 0).all() and column.idxmax() == bus
