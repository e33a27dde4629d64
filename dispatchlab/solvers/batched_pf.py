"""Batched AC power flow: many load/DER scenarios of one network in one call.

:class:`BatchedPowerFlow` prepares the network of a Case once (the π model of
:mod:`dispatchlab.solvers.ac.network`, the same equations pandapower's ``runpp`` solves for
``to_pandapower(case)``) and :meth:`BatchedPowerFlow.run` solves S scenarios at once, the
scenarios being a batch dimension of numpy arrays:

* **radial** networks (a tree, one REF bus, no PV bus) use a backward/forward sweep written as
  two sparse matrix products per iteration (see :mod:`dispatchlab.solvers.ac.sweep`);
* **meshed** networks use Newton–Raphson in polar coordinates with the mismatches, the
  Jacobian values and the updates vectorised over scenarios (one sparse LU per scenario and
  iteration; see :mod:`dispatchlab.solvers.ac.newton`).

Non-convergence is reported per scenario in ``converged`` (and its voltages are NaN-free but
meaningless); it is never silent: ``BatchedPFResult.check()`` raises if any scenario failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from dispatchlab.solvers.ac.network import ACNetwork, ac_network
from dispatchlab.solvers.ac.newton import NewtonSolver
from dispatchlab.solvers.ac.sweep import RadialSweep

METHODS = ("auto", "sweep", "newton")


@dataclass
class BatchedPFResult:
    """Voltages of S scenarios: ``vm`` (S × bus, p.u.), ``va_deg`` (S × bus), ``converged``
    (S,), ``iterations`` (S,) and ``mismatch_pu`` (S,: largest |ΔS| at non-slack buses);
    columns follow ``bus_ids`` (every energized bus of the Case)."""

    bus_ids: np.ndarray
    vm: np.ndarray
    va_deg: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    mismatch_pu: np.ndarray
    method: str
    timings: dict = field(default_factory=dict)

    @property
    def n_failed(self) -> int:
        return int((~self.converged).sum())

    def check(self) -> BatchedPFResult:
        """Raise ``RuntimeError`` naming the scenarios that did not converge."""
        if self.n_failed:
            bad = np.flatnonzero(~self.converged)
            raise RuntimeError(
                f"batched power flow: {self.n_failed} scenario(s) did not converge: "
                f"{bad[:10].tolist()}"
            )
        return self

    def frame(self, s: int) -> pd.DataFrame:
        """Scenario ``s`` as a table indexed by bus_id (``vm_pu``, ``va_deg``)."""
        return pd.DataFrame(
            {"vm_pu": self.vm[s], "va_deg": self.va_deg[s]},
            index=pd.Index(self.bus_ids, name="bus_id"),
        )


class BatchedPowerFlow:
    """Prepare once, solve many: ``BatchedPowerFlow(case).run(load_p_mw, load_q_mvar)``.

    ``method``: ``auto`` (sweep when the in-service network is radial with one REF bus and no
    PV bus, else Newton), ``sweep`` or ``newton``. ``tol_pu`` bounds the largest power
    mismatch (p.u. on ``case.base_mva``) of a converged scenario.
    """

    def __init__(
        self, case, *, method: str = "auto", tol_pu: float = 1e-10, max_iter: int | None = None
    ):
        if method not in METHODS:
            raise ValueError(f"unknown method '{method}'; use one of {METHODS}")
        t0 = time.perf_counter()
        self.case_name = case.name
        self.net: ACNetwork = ac_network(case)
        self.radial = is_radial(self.net)
        if method == "auto":
            method = "sweep" if self.radial else "newton"
        if method == "sweep" and not self.radial:
            raise ValueError(f"case '{case.name}' is not radial (one REF, no PV, a tree)")
        self.method = method
        self.tol_pu = tol_pu
        n = self.net.n_bus
        self._load_map = _incidence(self.net.load_bus, n)
        self._der_map = _incidence(self.net.der_bus, n)
        gen_der = self._gen_injection() + self._der_map @ self.net.s_der
        self._base_injection = gen_der / self.net.base_mva
        if method == "sweep":
            self._solver = RadialSweep(self.net, tol_pu, max_iter or 100)
        else:
            self._solver = NewtonSolver(self.net, tol_pu, max_iter or 20)
        self.prepare_s = time.perf_counter() - t0

    @property
    def n_load(self) -> int:
        return len(self.net.load_ids)

    @property
    def n_der(self) -> int:
        return len(self.net.der_ids)

    def run(
        self,
        load_p_mw: np.ndarray | None = None,
        load_q_mvar: np.ndarray | None = None,
        *,
        der_p_mw: np.ndarray | None = None,
        der_q_mvar: np.ndarray | None = None,
    ) -> BatchedPFResult:
        """Solve S scenarios. Arrays are (S, n_load) over ``net.load_ids`` (in-service loads,
        Case order) and (S, n_der) over ``net.der_ids`` (injecting DERs); a missing one keeps
        the Case's values (Q defaults to the Case's Q when P is given). Gens keep their Case
        set-points: P at PV/PQ buses, |V| at REF/PV buses."""
        p = _batch(load_p_mw, self.net.s_load.real)
        q = _batch(load_q_mvar, self.net.s_load.imag)
        n_s = max(p.shape[0], q.shape[0])
        s_load = np.broadcast_to(p, (n_s, p.shape[1])) + 1j * np.broadcast_to(q, (n_s, q.shape[1]))
        s_bus = -(self._load_map @ s_load.T) / self.net.base_mva  # (bus, S)
        if der_p_mw is not None or der_q_mvar is not None:
            dp = _batch(der_p_mw, self.net.s_der.real)
            dq = _batch(der_q_mvar, self.net.s_der.imag)
            delta = (dp + 1j * dq) - self.net.s_der[None, :]
            s_bus = s_bus + (self._der_map @ delta.T) / self.net.base_mva
        return self.run_injections(s_bus + self._base_injection[:, None])

    def run_injections(self, s_bus_pu: np.ndarray) -> BatchedPFResult:
        """Solve for complex bus injections ``s_bus_pu`` (bus × S, positions of ``net``,
        gens included); P at PV buses and P, Q at PQ buses are used."""
        t0 = time.perf_counter()
        v, conv, iters, mis = self._solver.solve(np.ascontiguousarray(s_bus_pu, complex))
        t1 = time.perf_counter()
        cols = self.net.bus_pos.to_numpy()
        v = v[cols].T
        return BatchedPFResult(
            bus_ids=self.net.bus_pos.index.to_numpy(),
            vm=np.abs(v),
            va_deg=np.rad2deg(np.angle(v)),
            converged=conv,
            iterations=iters,
            mismatch_pu=mis,
            method=self.method,
            timings={"solve": t1 - t0, "extract": time.perf_counter() - t1},
        )

    def _gen_injection(self) -> np.ndarray:
        """Gen injections (MVA) per position: P at REF/PV buses, P + jQ at PQ buses."""
        g = self.net.gens
        s = g["p_mw"].to_numpy() + 1j * g["q_mvar"].to_numpy()
        holds_v = np.isin(g["pos"].to_numpy(), np.r_[self.net.ref, self.net.pv])
        s = np.where(holds_v, s.real, s)
        out = np.zeros(self.net.n_bus, complex)
        np.add.at(out, g["pos"].to_numpy(), s)
        return out


def is_radial(net: ACNetwork) -> bool:
    """One REF bus, no PV bus and the in-service branches form a spanning tree."""
    if len(net.ref) != 1 or len(net.pv) or net.n_branch != net.n_bus - 1:
        return False
    graph = sp.coo_matrix((np.ones(net.n_branch), (net.f, net.t)), shape=(net.n_bus,) * 2)
    return connected_components(graph, directed=False)[0] == 1


def _incidence(pos: np.ndarray, n: int) -> sp.csr_matrix:
    """(bus × element) 0/1 matrix placing each element at its bus position."""
    return sp.csr_matrix((np.ones(len(pos)), (pos, np.arange(len(pos)))), shape=(n, len(pos)))


def _batch(x: np.ndarray | None, default: np.ndarray) -> np.ndarray:
    """(S, k) float array; a missing one is the default row, a 1-D one a single scenario."""
    if x is None:
        return default[None, :]
    x = np.asarray(x, float)
    x = x[None, :] if x.ndim == 1 else x
    if x.shape[1] != len(default):
        raise ValueError(f"expected {len(default)} columns, got {x.shape[1]}")
    return x
