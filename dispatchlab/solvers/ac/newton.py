"""Newton–Raphson power flow in polar coordinates, vectorised over scenarios.

Unknowns per scenario: θ at PV and PQ buses, |V| at PQ buses. Mismatch
ΔS = V ∘ conj(Ybus V) − S_spec; equations Re ΔS at PV+PQ buses and Im ΔS at PQ buses. The
Jacobian blocks are MATPOWER's (I = Ybus V, V̂ = V/|V|)::

    ∂S/∂θ   = j·diag(V)·conj(diag(I) − Ybus·diag(V))
    ∂S/∂|V| = diag(V)·conj(Ybus·diag(V̂)) + conj(diag(I))·diag(V̂)

Every scenario shares the sparsity of Ybus, so the values of all scenarios are computed at once
on the nonzeros (S × nnz arrays) and scattered into a fixed CSC pattern of the reduced
Jacobian; only the sparse LU factorisation and solve run per scenario.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from dispatchlab.solvers.ac.network import ACNetwork


class NewtonSolver:
    """Prepared index maps of the reduced Jacobian of an :class:`ACNetwork`."""

    def __init__(self, net: ACNetwork, tol: float, max_iter: int):
        self.net, self.tol, self.max_iter = net, tol, max_iter
        n = net.n_bus
        pattern = (abs(net.ybus) + sp.eye(n)).tocsr()  # the diagonal is always in the pattern
        pattern.sort_indices()
        self.ybus = net.ybus
        coo = pattern.tocoo()
        self.rows, self.cols = coo.row, coo.col
        self.yv = np.asarray(net.ybus[self.rows, self.cols]).ravel()
        self.diag = np.flatnonzero(self.rows == self.cols)
        self.diag_bus = self.rows[self.diag]
        self.pvpq = np.r_[net.pv, net.pq]
        self.pq = net.pq
        self.jac, self.perm = _jacobian_template(pattern, self.pvpq, self.pq)

    def solve(self, s_bus: np.ndarray):
        """Voltages (bus × S), converged (S,), iterations (S,) and mismatch (S,)."""
        net, n_s = self.net, s_bus.shape[1]
        vm0 = np.where(np.isin(np.arange(net.n_bus), self.pq), 1.0, net.vm_set)
        va0 = np.full(net.n_bus, net.va0[net.ref].mean() if len(net.ref) else 0.0)
        va0[net.ref] = net.va0[net.ref]
        vm = np.repeat(vm0[:, None], n_s, axis=1)
        va = np.repeat(va0[:, None], n_s, axis=1)
        iters = np.zeros(n_s, int)
        npv = len(self.pvpq)
        for _ in range(self.max_iter + 1):
            v = vm * np.exp(1j * va)
            current = self.ybus @ v
            f = self._residual(v, current, s_bus)
            mis = np.abs(f).max(axis=0) if f.size else np.zeros(n_s)
            active = np.flatnonzero(~(mis < self.tol) & np.isfinite(mis) & (iters < self.max_iter))
            if not len(active):
                break
            values = self._jacobian_values(v[:, active], current[:, active])
            for col, s in enumerate(active):
                jac = sp.csc_matrix(
                    (values[col, self.perm], self.jac.indices, self.jac.indptr),
                    shape=self.jac.shape,
                )
                try:
                    dx = spla.splu(jac).solve(-f[:, s])
                except RuntimeError:  # singular Jacobian: give up on this scenario
                    iters[s] = self.max_iter
                    continue
                va[self.pvpq, s] += dx[:npv]
                vm[self.pq, s] += dx[npv:]
                iters[s] += 1
        v = vm * np.exp(1j * va)
        f = self._residual(v, self.ybus @ v, s_bus)
        mis = np.abs(f).max(axis=0) if f.size else np.zeros(n_s)
        conv = np.isfinite(mis) & (mis < self.tol)
        return v, conv, iters, np.where(np.isfinite(mis), mis, np.inf)

    def _residual(self, v, current, s_bus) -> np.ndarray:
        ds = v * np.conj(current) - s_bus
        return np.vstack([ds.real[self.pvpq], ds.imag[self.pq]])

    def _jacobian_values(self, v: np.ndarray, current: np.ndarray) -> np.ndarray:
        """Re/Im of ∂S/∂θ and ∂S/∂|V| on the pattern, (S × 4·nnz)."""
        vt, it = v.T, current.T
        vn = vt / np.abs(vt)
        vr, vc = vt[:, self.rows], vt[:, self.cols]
        d_va = 1j * vr * np.conj(-self.yv * vc)
        d_vm = vr * np.conj(self.yv * vn[:, self.cols])
        d_va[:, self.diag] += 1j * vt[:, self.diag_bus] * np.conj(it[:, self.diag_bus])
        d_vm[:, self.diag] += np.conj(it[:, self.diag_bus]) * vn[:, self.diag_bus]
        return np.hstack([d_va.real, d_vm.real, d_va.imag, d_vm.imag])


def _jacobian_template(pattern: sp.csr_matrix, pvpq: np.ndarray, pq: np.ndarray):
    """CSC pattern of the reduced Jacobian and, per entry, its place in the value vector."""
    nnz = pattern.nnz
    code = pattern.copy().astype(float)
    code.data = np.arange(1, nnz + 1, dtype=float)  # 1-based: no entry is an explicit zero

    def block(rows, cols, offset):
        b = code[rows][:, cols].tocsr()
        b.data = b.data + offset * nnz
        return b

    jac = sp.bmat(
        [
            [block(pvpq, pvpq, 0), block(pvpq, pq, 1)],
            [block(pq, pvpq, 2), block(pq, pq, 3)],
        ],
        format="csc",
    )
    jac.sort_indices()
    perm = jac.data.astype(np.int64) - 1
    return jac, perm
