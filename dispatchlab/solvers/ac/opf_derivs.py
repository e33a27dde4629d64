"""Exact Jacobian and Hessian of the AC-OPF, assembled branch by branch.

CasADi's own derivatives of the whole NLP (``jacobian(g, x)``, ``hessian(L, x)`` over one SX
graph) cost O(colours × graph) to *build*: 7 s on case2000_goc, 33 s on case10000_goc, more than
Ipopt's iterations. Every nonlinear term of the AC-OPF, however, lives on one branch and depends
only on z = (θ_f, θ_t, |V_f|, |V_t|). So the derivatives are built from one small template:

* J = J_rest + Σ_k E_kᵀ ∂(P_f, Q_f, P_t, Q_t, ψ_f, ψ_t)/∂z, where ψ are the flow-limit rows
  (P² + Q² − rate², or − rate²·|V|² for current limits) and J_rest is CasADi's Jacobian of the
  other terms (shunts, units, angle, S and pwl rows), which are cheap;
* ∇²L = ∇²(σ f + λᵀ g_rest) + Σ_k E_kᵀ ∇²_z(λ_Pf P_f + λ_Qf Q_f + λ_Pt P_t + λ_Qt Q_t
  + μ_f ψ_f + μ_t ψ_t) E_k (upper triangle, as Ipopt takes it).

The template's 24 Jacobian and 10 Hessian entries are evaluated for all branches at once
(``Function.map``) and summed into the global sparse matrices by one constant sparse matrix.
The result is the same J and ∇²L as CasADi's (tests compare them); only the build is faster.
"""

from __future__ import annotations

import casadi as ca
import numpy as np
import scipy.sparse as sp

_UPPER = [(a, b) for b in range(4) for a in range(b + 1)]  # the 10 entries of a 4×4 triu


def _templates() -> tuple[ca.Function, ca.Function, ca.Function]:
    """Per-branch (value, jacobian, hessian) functions of z = (θ_f, θ_t, |V_f|, |V_t|) and the
    8 admittance parts y; the outputs are (P_f, Q_f, P_t, Q_t, |S_f|², |S_t|²) and the
    Hessian's weights w are their multipliers."""
    z, y, w = ca.SX.sym("z", 4), ca.SX.sym("y", 8), ca.SX.sym("w", 6)
    gff, bff, gft, bft, gtf, btf, gtt, btt = ca.vertsplit(y)
    d, vf, vt = z[0] - z[1], z[2], z[3]
    c, s, vv = ca.cos(d), ca.sin(d), vf * vt
    pf = gff * vf**2 + vv * (gft * c + bft * s)
    qf = -bff * vf**2 + vv * (gft * s - bft * c)
    pt = gtt * vt**2 + vv * (gtf * c - btf * s)
    qt = -btt * vt**2 + vv * (-gtf * s - btf * c)
    out = ca.vertcat(pf, qf, pt, qt, pf**2 + qf**2, pt**2 + qt**2)
    jac = ca.vec(ca.densify(ca.jacobian(out, z)))  # column-major: entry = col·6 + row
    hess = ca.densify(ca.hessian(ca.dot(w, out), z)[0])
    upper = ca.vertcat(*[hess[a, b] for a, b in _UPPER])
    return (
        ca.Function("flow_k", [z, y], [out]),
        ca.Function("jac_k", [z, y], [jac]),
        ca.Function("hess_k", [z, y, w], [upper]),
    )


def sparse_dm(m: sp.spmatrix) -> ca.DM:
    """A sparse CasADi matrix from a scipy one (``ca.DM(scipy)`` is 10× slower at 10⁵ nnz)."""
    m = sp.csc_matrix(m)
    m.sort_indices()
    pattern = ca.Sparsity(*m.shape, m.indptr.tolist(), m.indices.tolist())
    return ca.DM(pattern, m.data.tolist())


def _assemble(vals: ca.MX, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> ca.MX:
    """The sparse matrix Σ vals at (rows, cols), duplicates summed; entries with row −1 dropped."""
    keep = rows >= 0
    vals = vals[np.flatnonzero(keep).tolist()] if not keep.all() else vals
    rows, cols = rows[keep], cols[keep]
    key = cols.astype(np.int64) * shape[0] + rows  # column-major, as CasADi stores nonzeros
    uniq, inv = np.unique(key, return_inverse=True)
    summing = sp.csc_matrix((np.ones(len(key)), (inv, np.arange(len(key)))), (len(uniq), len(key)))
    pattern = ca.Sparsity.triplet(*shape, (uniq % shape[0]).tolist(), (uniq // shape[0]).tolist())
    return ca.sparsity_cast(ca.mtimes(sparse_dm(summing), vals), pattern)


def branch_nlp(
    net, x: ca.SX, f: ca.SX, g_rest: ca.SX, rated: np.ndarray
) -> tuple[dict, dict, ca.Function]:
    """The NLP dict (MX), the ``jac_g``/``hess_lag`` nlpsol options and the branch-flow
    function. ``g_rest`` is the constraint vector without the branch flows (the flow-limit rows
    2n … 2n + 2·len(rated) hold only −rate² or −rate²·|V|²); see the module docstring.

    Each is an MX function of a few nodes: the template runs branch after branch inside one
    ``map`` node and one constant sparse product sums the entries, so nothing is inlined and
    CasADi's own derivative (``nlp_grad``, for the multipliers) stays cheap too."""
    n, m, nx, ng = net.n_bus, net.n_branch, x.numel(), g_rest.numel()
    flow_k, jac_k, hess_k = _templates()
    sig_sx, lam_sx = ca.SX.sym("sigma"), ca.SX.sym("lam", ng)
    rest_g = ca.Function("rest_g", [x], [f, g_rest])
    rest_j = ca.Function("rest_j", [x], [ca.jacobian(g_rest, x)])
    h_rest = ca.triu(ca.hessian(sig_sx * f + ca.dot(lam_sx, g_rest), x)[0])
    rest_h = ca.Function("rest_h", [x, sig_sx, lam_sx], [h_rest])
    xm, p, sigma, lam = ca.MX.sym("x", nx), ca.MX.sym("p", 0), ca.MX.sym("s"), ca.MX.sym("l", ng)
    z_cols = np.stack([net.f, net.t, n + net.f, n + net.t])  # (4, m) positions of z in x
    z = ca.reshape(xm[z_cols.ravel().tolist()], m, 4).T
    adm = [net.yff.real, net.yff.imag, net.yft.real, net.yft.imag]
    adm += [net.ytf.real, net.ytf.imag, net.ytt.real, net.ytt.imag]
    y = ca.DM(np.vstack(adm))
    # global row of each template output (P_f, Q_f, P_t, Q_t, |S_f|², |S_t|²); -1: none
    lim_row = np.full(m, -1)
    lim_row[rated] = np.arange(len(rated))
    nr = len(rated)
    out_rows = np.stack([net.f, n + net.f, net.t, n + net.t, 2 * n + lim_row, 2 * n + nr + lim_row])
    out_rows[4:, lim_row < 0] = -1
    out = flow_k.map(m)(z, y)
    g_flow = _assemble(ca.vec(out), out_rows.T.ravel(), np.zeros(6 * m, int), (ng, 1))
    f_val, g_val = rest_g(xm)
    g_val = g_val + ca.densify(g_flow)
    # Jacobian: entry e = col·6 + row of branch k sits at k·24 + e in vec(jac_k.map(m)(…))
    rows = np.tile(out_rows, (4, 1)).T.ravel()
    cols = np.repeat(z_cols, 6, axis=0).T.ravel()
    jac = rest_j(xm) + _assemble(ca.vec(jac_k.map(m)(z, y)), rows, cols, (ng, nx))
    # Hessian of the Lagrangian: branch k's weights are the multipliers of its rows
    w = ca.reshape(lam[np.maximum(out_rows, 0).T.ravel().tolist()], 6, m)
    w = w * ca.DM((out_rows >= 0).astype(float))
    hv = ca.vec(hess_k.map(m)(z, y, w))
    a = np.array([z_cols[i] for i, _ in _UPPER])  # (10, m) global positions
    b = np.array([z_cols[j] for _, j in _UPPER])
    h_rows, h_cols = np.minimum(a, b).T.ravel(), np.maximum(a, b).T.ravel()
    hess = rest_h(xm, sigma, lam) + _assemble(hv, h_rows, h_cols, (nx, nx))
    derivatives = {
        "jac_g": ca.Function("jac_g", [xm, p], [g_val, jac]),
        "hess_lag": ca.Function("hess_lag", [xm, p, sigma, lam], [hess]),
    }
    flows = ca.Function("flows", [xm], [out[0, :].T, out[1, :].T, out[2, :].T, out[3, :].T])
    return {"x": xm, "f": f_val, "g": g_val}, derivatives, flows
