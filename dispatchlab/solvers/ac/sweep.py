"""Backward/forward sweep for radial networks, vectorised over scenarios.

Every branch k, oriented parent → child on the tree rooted at the REF bus, is an ideal
transformer N_k and a series impedance z_k = 1/y_s; charging (b/2·|N|⁻² at the from bus, b/2
at the to bus) joins the bus shunts y_b. With J_k the current flowing into the child's subtree:

    V_child = a_k V_parent − ẑ_k J_k,        current drawn at the parent = c_k J_k

with (a, ẑ, c) = (1/N, z, 1/conj N) when the parent is the from bus and (N, z|N|², conj N)
when it is the to bus. Unrolled along the tree this is linear:

    J = L · I,     I_b = y_b V_b − conj(S_b / V_b)   (current consumed at bus b, S_b injected)
    V = A·V_root − F · (ẑ ∘ J)

with L[k, b] = Π c over the branches strictly between k and bus b (b in k's subtree),
F[b, k] = Π a over the branches after k on the path root → b, A_b = Π a over the whole path.
One iteration is two sparse products on (bus × S) arrays; it stops when no voltage moves by
more than ``tol/10`` and a scenario converged when its largest mismatch |V conj(Ybus V) − S|
at non-root buses is below ``tol``.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import scipy.sparse as sp

from dispatchlab.solvers.ac.network import ACNetwork

#: scenarios per sweep block (working arrays of bus × CHUNK stay in cache)
CHUNK = 512


class RadialSweep:
    """Prepared sweep matrices of a radial :class:`ACNetwork`."""

    def __init__(self, net: ACNetwork, tol: float, max_iter: int):
        self.net, self.tol, self.max_iter = net, tol, max_iter
        self.root = int(net.ref[0])
        self.v_root = net.vm_set[self.root] * np.exp(1j * net.va0[self.root])
        y = net.ysh.copy()
        np.add.at(y, net.f, net.yff - net.ys / np.abs(net.tap) ** 2)  # j b/2 / |N|²
        np.add.at(y, net.t, net.ytt - net.ys)  # j b/2
        self.y_shunt = y
        self.L, self.F, self.A, self.zhat = tree_matrices(net, self.root)
        self.ybus = net.ybus
        self.nonroot = np.arange(net.n_bus) != self.root

    def solve(self, s_bus: np.ndarray):
        """Voltages (bus × S), converged (S,), iterations (S,) and mismatch (S,).

        Scenarios go in chunks of ``CHUNK`` columns so that the working arrays stay in cache.
        """
        v = np.empty_like(s_bus)
        iters = np.zeros(s_bus.shape[1], int)
        mis = np.empty(s_bus.shape[1])
        with np.errstate(all="ignore"):
            for c0 in range(0, s_bus.shape[1], CHUNK):
                part = np.ascontiguousarray(s_bus[:, c0 : c0 + CHUNK])
                vc, iters[c0 : c0 + CHUNK] = self._sweep(part)
                v[:, c0 : c0 + CHUNK] = vc
                ds = np.abs(vc * np.conj(self.ybus @ vc) - part)
                mis[c0 : c0 + CHUNK] = ds[self.nonroot].max(axis=0)
        conv = np.isfinite(mis) & (mis < self.tol)
        return v, conv, iters, np.where(np.isfinite(mis), mis, np.inf)

    def _sweep(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Iterate V ← A·V_root − F(ẑ ∘ L(y∘V − conj(S/V))) until no |ΔV| exceeds tol/10."""
        base = (self.A * self.v_root)[:, None]
        y, zhat = self.y_shunt[:, None], self.zhat[:, None]
        v = np.repeat(base, s.shape[1], axis=1)
        tmp, current = np.empty_like(v), np.empty_like(v)
        iters = np.zeros(s.shape[1], int)
        for _ in range(self.max_iter):
            np.divide(s, v, out=tmp)
            np.conjugate(tmp, out=tmp)
            np.multiply(y, v, out=current)
            current -= tmp
            v_new = base - self.F @ (zhat * (self.L @ current))
            np.subtract(v_new, v, out=tmp)
            v = v_new
            step = np.abs(tmp).max(axis=0)
            active = ~(step < self.tol / 10)
            iters += active
            if not active.any():
                break
        return v, iters


def tree_matrices(net: ACNetwork, root: int):
    """L (branch × bus), F (bus × branch), A (bus,) and ẑ (branch,) of the tree at ``root``."""
    a, zhat, c, paths = _orient(net, root)
    lr, lc, lv, fr, fc, fv = [], [], [], [], [], []
    amp = np.ones(net.n_bus, complex)
    for b, path in paths.items():
        prod_c, prod_a = 1.0 + 0j, 1.0 + 0j
        for k in reversed(path):  # from bus b up to the root
            lr.append(k)
            lc.append(b)
            lv.append(prod_c)
            fr.append(b)
            fc.append(k)
            fv.append(prod_a)
            prod_c *= c[k]
            prod_a *= a[k]
        amp[b] = prod_a
    m, n = net.n_branch, net.n_bus
    L = sp.csr_matrix((lv, (lr, lc)), shape=(m, n))
    F = sp.csr_matrix((fv, (fr, fc)), shape=(n, m))
    return L, F, amp, zhat


def _orient(net: ACNetwork, root: int):
    """(a, ẑ, c) per branch by orientation and the branch path root → bus of every bus."""
    adj: list[list[int]] = [[] for _ in range(net.n_bus)]
    for k, (i, j) in enumerate(zip(net.f, net.t, strict=True)):
        adj[i].append(k)
        adj[j].append(k)
    tap, z = net.tap, 1.0 / net.ys
    a, zhat, c = np.empty_like(tap), np.empty_like(tap), np.empty_like(tap)
    paths: dict[int, list[int]] = {root: []}
    queue = deque([root])
    while queue:
        b = queue.popleft()
        for k in adj[b]:
            forward = bool(net.f[k] == b)
            child = int(net.t[k]) if forward else int(net.f[k])
            if child in paths:
                continue
            a[k] = 1 / tap[k] if forward else tap[k]
            zhat[k] = z[k] if forward else z[k] * abs(tap[k]) ** 2
            c[k] = 1 / np.conj(tap[k]) if forward else np.conj(tap[k])
            paths[child] = [*paths[b], k]
            queue.append(child)
    return a, zhat, c, paths
