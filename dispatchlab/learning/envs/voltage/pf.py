"""A lean radial power flow for the voltage-control environments (one feeder, many scenarios).

:class:`~dispatchlab.solvers.batched_pf.BatchedPowerFlow` is general (fused switches, sparse
matrices, result tables) and costs about a millisecond per call even for one 33-bus scenario,
which would cap an environment near 1 000 steps/s. An environment calls the same feeder
thousands of times with only the injections changing, so this module reuses its internals —
:func:`~dispatchlab.solvers.ac.network.ac_network` (the π model pandapower also solves) and the
tree matrices of :class:`~dispatchlab.solvers.ac.sweep.RadialSweep` — and folds them into one
dense bus × bus matrix ``Z = F·diag(ẑ)·L`` once. One sweep iteration on S scenarios is then

    I = y ∘ V − conj(S / V),        V = V₀ − I · Zᵀ                  (rows = scenarios)

with ``V₀ = A·V_root`` the no-load voltages. Per scenario the caller may add shunt
susceptances (switched capacitor steps, constant-admittance like the Case's capacitors) and
scale the root voltage seen by the feeder: an on-load tap changer on the branch that leaves the
root, with its tap at the root side, is *exactly* that scaling (see :class:`RadialFlow`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from dispatchlab.solvers.ac.network import ac_network
from dispatchlab.solvers.ac.sweep import RadialSweep
from dispatchlab.solvers.batched_pf import is_radial

#: up to this many scenarios a product goes through numpy's dense matmul (a BLAS call far below
#: OpenBLAS's threading threshold, the fastest option); above it through scipy's sparse kernels,
#: which never call BLAS: threaded BLAS stalls on small, frequent products when the cores are
#: shared (measured on 2 busy cores: 15 ms instead of 50 µs for 64 scenarios × 33 buses)
DENSE_MAX_SCENARIOS = 4


class MatOp:
    """A fixed matrix M kept dense and sparse; ``left(X) = M @ X`` (X: columns = scenarios),
    ``right(X) = X @ M`` (X: rows = scenarios), each by the faster safe route for that size."""

    def __init__(self, m):
        self.dense = np.asarray(m.toarray() if sp.issparse(m) else m)
        self.sparse = sp.csr_matrix(self.dense)
        self.sparse_t = sp.csr_matrix(self.dense.T)

    def left(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 1 or x.shape[1] <= DENSE_MAX_SCENARIOS:
            return self.dense @ x
        return self.sparse @ x

    def right(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 1 or x.shape[0] <= DENSE_MAX_SCENARIOS:
            return x @ self.dense
        return (self.sparse_t @ x.T).T


@dataclass
class FlowResult:
    """Voltages and losses of S scenarios (rows), buses in :attr:`RadialFlow.bus_ids` order."""

    vm: np.ndarray  #: (S, n) |V| in p.u.
    v: np.ndarray  #: (S, n) complex V in p.u. (the root holds its set-point)
    loss_pu: np.ndarray  #: (S,) active series losses, p.u. on the case's base MVA
    head_pu: np.ndarray  #: (S,) complex power leaving the root into the feeder, p.u.
    mismatch_pu: np.ndarray  #: (S,) largest |ΔS| at non-root buses
    iterations: int


class RadialFlow:
    """Backward/forward sweep of the radial feeder of ``case`` on dense (S × bus) arrays.

    ``solve(s_bus_pu, y_extra_pu=None, root_scale=None)``: ``s_bus_pu`` (S, n) complex bus
    injections (loads negative) on the case's base; ``y_extra_pu`` (S, n) extra shunt
    admittances; ``root_scale`` (S,) divides the root voltage seen by every other bus.

    The tap ratio τ of a transformer between the root r and its child c, tap at the root
    side, enters the π model only as ``V_c = V_r/τ − z·J`` (:mod:`dispatchlab.solvers.ac.sweep`),
    so solving the feeder with τ = 1 and root voltage ``V_r/τ`` gives every non-root voltage,
    the branch losses and the head power exactly (the ideal transformer is lossless); the root
    bus itself keeps ``V_r``. :meth:`head_branch` finds that branch.
    """

    def __init__(self, case, *, tol_pu: float = 1e-9, max_iter: int = 100):
        net = ac_network(case)
        if not is_radial(net):
            raise ValueError(f"case '{case.name}' is not a radial feeder (one REF, no PV, a tree)")
        if len(net.bus_pos) != net.n_bus:
            raise ValueError(f"case '{case.name}': zero-impedance switches are not supported here")
        sweep = RadialSweep(net, tol_pu, max_iter)
        self.net, self.tol, self.max_iter = net, tol_pu, max_iter
        self.root = sweep.root
        self.bus_ids = net.bus_ids
        self.n_bus = net.n_bus
        # V = A V_root − F(ẑ ∘ L I): F diag(ẑ) L folded once into one matrix
        self._z = MatOp(sweep.F @ (sweep.zhat[:, None] * sweep.L.toarray()))
        self._v_base = (sweep.A * sweep.v_root)[:, None]
        self._v_root = complex(sweep.v_root)
        self._y = sweep.y_shunt[:, None].copy()
        self._ybus = MatOp(net.ybus)
        self._g_shunt = net.ysh.real[:, None].copy()
        self._nonroot = np.arange(self.n_bus) != self.root
        gens = net.gens[~np.isin(net.gens["pos"].to_numpy(), net.ref)]
        base = np.zeros(self.n_bus, complex)
        np.add.at(base, gens["pos"].to_numpy(), (gens["p_mw"] + 1j * gens["q_mvar"]).to_numpy())
        self.fixed_pu = base / net.base_mva  #: gens outside the root inject their set-points

    def position(self, bus_id: int) -> int:
        """Position of a case bus id in the arrays."""
        return int(self.net.bus_pos.loc[bus_id])

    def head_branch(self) -> int:
        """The branch id leaving the root (error if the root has more than one branch)."""
        at_root = np.flatnonzero((self.net.f == self.root) | (self.net.t == self.root))
        if len(at_root) != 1 or self.net.f[at_root[0]] != self.root:
            raise ValueError("the root must feed exactly one branch, as its from bus")
        return int(self.net.branch_ids[at_root[0]])

    def solve(
        self,
        s_bus_pu: np.ndarray,
        y_extra_pu: np.ndarray | None = None,
        root_scale: np.ndarray | None = None,
    ) -> FlowResult:
        """Solve S scenarios at once; raises ``RuntimeError`` naming any that failed."""
        s = np.ascontiguousarray((np.asarray(s_bus_pu, complex) + self.fixed_pu).T)  # bus × S
        y_extra = None if y_extra_pu is None else np.ascontiguousarray(y_extra_pu.T)
        y = self._y if y_extra is None else self._y + y_extra
        base = np.repeat(self._v_base, s.shape[1], axis=1)
        if root_scale is not None:
            base /= np.asarray(root_scale, float)[None, :]
        v = base.copy()
        iters = 0
        with np.errstate(all="ignore"):
            while iters < self.max_iter:
                iters += 1
                current = y * v - np.conj(s / v)
                v_new = base - self._z.left(current)
                step = np.abs(v_new - v).max()
                v = v_new
                if step < self.tol / 10:
                    break
        return self._finish(v, s, y_extra, iters)

    def _finish(self, v, s, y_extra, iters: int) -> FlowResult:
        """Mismatch, losses and head power from the converged voltages (bus × S)."""
        s_calc = v * np.conj(self._ybus.left(v))
        v2 = v.real**2 + v.imag**2
        if y_extra is not None:
            s_calc += np.conj(y_extra) * v2
        mis = np.abs(s_calc - s)[self._nonroot].max(axis=0)
        bad = ~(mis < self.tol)
        if bad.any():
            raise RuntimeError(
                f"radial power flow: scenario(s) {np.flatnonzero(bad)[:10].tolist()} did not "
                f"converge in {self.max_iter} iterations (largest mismatch "
                f"{np.nanmax(np.where(np.isfinite(mis), mis, np.inf)):.3g} p.u.)"
            )
        # Σ net injections = series losses + shunt conductance; capacitors are lossless
        g = self._g_shunt if y_extra is None else self._g_shunt + y_extra.real
        loss = s_calc.real.sum(axis=0) - (g * v2).sum(axis=0)
        head = s_calc[self.root].copy()
        v[self.root] = self._v_root
        vt = np.ascontiguousarray(v.T)
        return FlowResult(np.abs(vt), vt, loss, head, mis, iters)
