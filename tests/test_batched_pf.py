"""Batched power flow against pandapower's runpp, scenario by scenario."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pytest

import dispatchlab as dl
from dispatchlab.cases.pandapower_io import to_pandapower
from dispatchlab.solvers.batched_pf import BatchedPowerFlow, is_radial


def _random_loads(bpf: BatchedPowerFlow, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = bpf.net.s_load
    return (
        s.real * rng.uniform(0.5, 1.4, (n, bpf.n_load)),
        s.imag * rng.uniform(0.5, 1.4, (n, bpf.n_load)),
    )


def _pandapower_voltages(case, bpf, p, q):
    """pandapower runpp of the Case with the loads of one scenario: vm, va at bpf's buses."""
    loads = case.loads.copy()
    loads.loc[bpf.net.load_ids, "p_mw"] = p
    loads.loc[bpf.net.load_ids, "q_mvar"] = q
    net = to_pandapower(case.replace(loads=loads))
    pp.runpp(net, calculate_voltage_angles=True, init="flat", tolerance_mva=1e-10)
    res = net.res_bus.loc[bpf.net.bus_pos.index]
    return res["vm_pu"].to_numpy(), res["va_degree"].to_numpy()


@pytest.mark.parametrize(
    ("name", "method"), [("ieee33", "sweep"), ("ieee123", "sweep"), ("ieee118", "newton")]
)
def test_matches_pandapower(name: str, method: str) -> None:
    case = dl.load_case(name)
    bpf = BatchedPowerFlow(case)
    assert bpf.method == method
    p, q = _random_loads(bpf, 3, seed=1)
    res = bpf.run(p, q).check()
    assert res.vm.shape == (3, len(bpf.net.bus_pos))
    for s in range(3):
        vm, va = _pandapower_voltages(case, bpf, p[s], q[s])
        np.testing.assert_allclose(res.vm[s], vm, atol=1e-6, rtol=0)
        np.testing.assert_allclose(np.deg2rad(res.va_deg[s]), np.deg2rad(va), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["ieee33", "ieee123"])
def test_sweep_equals_newton_on_radial_feeders(name: str) -> None:
    case = dl.load_case(name)
    sweep, newton = BatchedPowerFlow(case), BatchedPowerFlow(case, method="newton")
    assert is_radial(sweep.net) and sweep.method == "sweep"
    p, q = _random_loads(sweep, 20, seed=2)
    a, b = sweep.run(p, q).check(), newton.run(p, q).check()
    np.testing.assert_allclose(a.vm, b.vm, atol=1e-9)
    np.testing.assert_allclose(a.va_deg, b.va_deg, atol=1e-7)


def test_meshed_case_refuses_the_sweep() -> None:
    with pytest.raises(ValueError, match="not radial"):
        BatchedPowerFlow(dl.load_case("ieee118"), method="sweep")


@pytest.mark.parametrize("method", ["sweep", "newton"])
def test_non_convergence_is_reported_per_scenario(method: str) -> None:
    case = dl.load_case("ieee33")
    bpf = BatchedPowerFlow(case, method=method)
    base = bpf.net.s_load
    p = np.vstack([base.real, base.real * 40.0, base.real * 0.8])  # 40x load: no solution
    q = np.vstack([base.imag, base.imag * 40.0, base.imag * 0.8])
    res = bpf.run(p, q)
    assert res.converged.tolist() == [True, False, True]
    assert res.n_failed == 1 and res.mismatch_pu[1] > 1e-6
    with pytest.raises(RuntimeError, match=r"\[1\]"):
        res.check()


def test_der_scenarios_and_defaults() -> None:
    case = dl.load_case("ieee33-seed001")
    bpf = BatchedPowerFlow(case)
    assert bpf.n_der > 0
    default = bpf.run().check()
    same = bpf.run(der_p_mw=bpf.net.s_der.real).check()
    np.testing.assert_allclose(default.vm, same.vm, atol=1e-12)
    more = bpf.run(der_p_mw=bpf.net.s_der.real[None, :] + 0.05).check()
    assert more.vm.min() >= default.vm.min() - 1e-12
    frame = default.frame(0)
    assert frame.index.name == "bus_id" and set(frame.columns) == {"vm_pu", "va_deg"}
