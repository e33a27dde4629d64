"""The exact counterpart of ``voltage-control``: the AC-OPF of seed001's per-step cost.

``dispatchlab.solve(case, "acopf")`` minimises the gens' and DERs' costs, so it cannot express
seed001's objective (losses plus voltage terms, the step's ramp window on DER P).
:class:`StepOPF` therefore builds the same polar AC model on the same network arrays — the
branch-flow expressions of :func:`dispatchlab.solvers.ac.opf_model.branch_flows` on
:func:`~dispatchlab.solvers.ac.network.ac_network` — with the DER set-points as variables and
solves it with Ipopt (CasADi, exact derivatives)::

    min  c_loss·Σ_k (P_f,k + P_t,k) + c_vol_res/(U_max − U_min)·Σ_n (e⁻_n + e⁺_n)
         + w_t·Σ_n (U_n − Ū_n,t−1)² − c_vol_rew·Σ_n (1 − ((u_n − 1)/(½(U_max − U_min)))²)
    s.t. AC power balance at every bus (loads of the current step),
         P_lo ≤ P ≤ P_hi (bounds, availability, ramp window), Q_min ≤ Q ≤ Q_max,
         P² + Q² ≤ S², u_n = U_n + e⁻_n − e⁺_n ∈ [U_min, U_max], e ≥ 0,

with w_t = c_vol_flu/T·(t−1)/t (:mod:`.costs`). The slacks e are the over-limit
excursions ΔU, priced as in C_vol_res; u is |V| clamped into the band, so the smooth reward term
equals the paper's in-band reward (0 outside the band). Raising e beyond ΔU costs
c_vol_res/band = 8 333 per p.u. and gains at most 2·c_vol_rew/(½ band) = 167, so at the
optimum e = ΔU and the NLP objective *is* the per-step cost the environment charges. The band
is tightened by ``margin_pu`` so that the power flow of the played action stays inside it.
Ipopt returns a local optimum of a non-convex problem; on a radial feeder it has matched every
random action we compared it with (tests/learning/test_env_voltage.py).

``StepOPF(core, objective="distance")`` keeps every constraint, fixes the slacks e at 0 (the
band is hard) and minimizes Σ_k (P_k − P̂_k)² + (Q_k − Q̂_k)² instead: the projection of a
proposal (P̂, Q̂) onto the step's feasible set, the repair of the voltage-control safety layer.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from dispatchlab.solvers.ac.opf_model import branch_flows


class StepOPF:
    """The NLP of one step, built once per environment; :meth:`solve` per state."""

    def __init__(
        self, core, *, margin_pu: float = 1e-6, tol: float = 1e-9, objective: str = "cost"
    ):
        import casadi as ca

        if objective not in ("cost", "distance"):
            raise ValueError(f"objective must be 'cost' or 'distance', got {objective!r}")
        self.objective = objective

        net, w = core.flow.net, core.config.weights
        self.core, self.margin = core, margin_pu
        n, a = net.n_bus, len(core.agents)
        self.n, self.a = n, a
        x = ca.SX.sym("x", 2 * n + 2 * a + 2 + 2 * n)
        va, vm = x[:n], x[n : 2 * n]
        p, q = x[2 * n : 2 * n + a], x[2 * n + a : 2 * n + 2 * a]
        pg, qg = x[2 * n + 2 * a], x[2 * n + 2 * a + 1]
        e_lo, e_hi = x[2 * n + 2 * a + 2 : 3 * n + 2 * a + 2], x[3 * n + 2 * a + 2 :]
        par = ca.SX.sym("par", n + 1 + 2 * a)  # running mean of |V|, w_t, then P̂, Q̂
        pf, qf, pt, qt = branch_flows(net, va, vm)
        cf, ct = _dm(net.cf.T), _dm(net.ct.T)
        c_der = _dm(core.m_der.sparse_t)  # MW -> p.u.
        root = np.zeros(n)
        root[core.flow.root] = 1.0
        v2 = vm**2
        g_p = ca.mtimes(cf, pf) + ca.mtimes(ct, pt) + ca.DM(net.ysh.real) * v2
        g_p = g_p - ca.mtimes(c_der, p) - ca.DM(root) * pg
        g_q = ca.mtimes(cf, qf) + ca.mtimes(ct, qt) - ca.DM(net.ysh.imag) * v2
        g_q = g_q - ca.mtimes(c_der, q) - ca.DM(root) * qg
        u = vm + e_lo - e_hi
        s_rows = np.flatnonzero(np.isfinite(core.s_max))
        s_idx = s_rows.tolist()
        g = ca.vertcat(g_p, g_q, u, p[s_idx] ** 2 + q[s_idx] ** 2)
        band = w.v_max_pu - w.v_min_pu
        x_rew = (u - w.v_ref_pu) / (0.5 * band)
        cost = (
            w.c_loss * ca.sum1(pf + pt)
            + w.c_vol_res / band * ca.sum1(e_lo + e_hi)
            + par[n] * ca.sumsqr(vm - par[:n])
            - w.c_vol_rew * ca.sum1(1 - x_rew**2)
        )
        if objective == "distance":
            cost = ca.sumsqr(p - par[n + 1 : n + 1 + a]) + ca.sumsqr(q - par[n + 1 + a :])
        opts = {"print_time": False, "ipopt.sb": "yes", "ipopt.print_level": 0}
        # no bound relaxation: the slacks e must stay ≥ 0 for the objective to be the true cost
        opts.update({"ipopt.tol": tol, "ipopt.max_iter": 500, "ipopt.bound_relax_factor": 0.0})
        self.solver = ca.nlpsol(
            "voltage_step", "ipopt", {"x": x, "p": par, "f": cost, "g": g}, opts
        )
        self.s2 = core.s_max[s_rows] ** 2
        self.net, self.weights = net, w

    def solve(self, scen: int = 0, proposal: tuple | None = None) -> dict:
        """Optimal (P, Q) of every agent at the core's current step for scenario ``scen``;
        with ``objective="distance"``, the feasible (P, Q) nearest ``proposal`` = (P̂, Q̂)."""
        core, n, a, w = self.core, self.n, self.a, self.weights
        t = core.t
        if (proposal is None) != (self.objective == "cost"):
            raise ValueError("a proposal (P̂, Q̂) is needed by, and only by, objective='distance'")
        target = np.zeros(2 * a) if proposal is None else np.r_[proposal[0], proposal[1]]
        bounds = {k: v[scen] for k, v in core.bounds().items()}
        load = core.m_load.right(core.load_p[scen, t] + 1j * core.load_q[scen, t])
        rhs = -load + core.flow.fixed_pu
        lbx, ubx = self._bounds(bounds)
        if self.objective == "distance":
            ubx[2 * n + 2 * a + 2 :] = 0.0  # no band excursion: the projection must be feasible
        lo_u, hi_u = np.full(n, w.v_min_pu + self.margin), np.full(n, w.v_max_pu - self.margin)
        lbg = np.r_[rhs.real, rhs.imag, lo_u, np.full(len(self.s2), -np.inf)]
        ubg = np.r_[rhs.real, rhs.imag, hi_u, self.s2]
        w_t = w.c_vol_flu / core.horizon * t / (t + 1)
        x0 = np.r_[
            np.zeros(n),
            core.vm[scen],
            np.clip(core.p_prev[scen], lbx[2 * n : 2 * n + a], ubx[2 * n : 2 * n + a]),
            np.zeros(a + 2 + 2 * n),
        ]
        sol = self.solver(
            x0=np.clip(x0, lbx, ubx),
            lbx=lbx,
            ubx=ubx,
            lbg=lbg,
            ubg=ubg,
            p=np.r_[core.vm_mean[scen], w_t, target],
        )
        stats = self.solver.stats()
        x = np.asarray(sol["x"]).ravel()
        return {
            "p_mw": x[2 * n : 2 * n + a],
            "q_mvar": x[2 * n + a : 2 * n + 2 * a],
            "vm_pu": x[n : 2 * n],
            "nlp_objective": float(sol["f"]),
            "ipopt_status": stats["return_status"],
            "success": bool(stats["success"]),
        }

    def _bounds(self, b: dict) -> tuple[np.ndarray, np.ndarray]:
        core, n, net = self.core, self.n, self.net
        lo_va, hi_va = np.full(n, -np.inf), np.full(n, np.inf)
        lo_va[net.ref] = hi_va[net.ref] = net.va0[net.ref]
        lo_vm, hi_vm = np.full(n, 0.5), np.full(n, 1.5)
        lo_vm[net.ref] = hi_vm[net.ref] = net.vm_set[net.ref]
        lbx = np.r_[lo_va, lo_vm, b["p_lo"], core.q_min, -np.inf, -np.inf, np.zeros(2 * n)]
        ubx = np.r_[hi_va, hi_vm, b["p_hi"], core.q_max, np.inf, np.inf, np.full(2 * n, np.inf)]
        return lbx, ubx


def _dm(m: sp.spmatrix):
    import casadi as ca

    return ca.DM(sp.csc_matrix(m))
