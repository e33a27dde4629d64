"""The branch-flow model of a radial feeder, built once with cvxpy Parameters.

For every period ``t`` and branch ``b = (i → j)`` with series impedance ``r + jx``, sending-end
flow ``P_b + jQ_b`` (entering the impedance), squared current ``ℓ_b = |I_b|²`` and squared
voltages ``v = |V|²`` (Baran & Wu 1989; Farivar & Low 2013):

    Σ_{b=(i→j)} (P_b − r_b ℓ_b) − Σ_{c=(j→k)} P_c + p_j − g_j v_j = 0        (P balance at j)
    Σ_{b=(i→j)} (Q_b − x_b ℓ_b) − Σ_{c=(j→k)} Q_c + q_j + b_j v_j = 0        (Q balance at j)
    v_j = w_b − 2 (r_b P_b + x_b Q_b) + (r_b² + x_b²) ℓ_b,   w_b = v_i / tap_b²  (voltage drop)
    P_b² + Q_b² ≤ w_b ℓ_b   ⇔   ‖(2P_b, 2Q_b, w_b − ℓ_b)‖₂ ≤ w_b + ℓ_b      (SOC relaxation)

The exact model has ``P² + Q² = w ℓ``; the SOCP relaxes it to ``≤`` and is exact on radial
feeders under mild conditions (Farivar & Low 2013; Gan, Li, Topcu & Low 2015) when the
objective increases with ℓ. ``formulation="lindistflow"`` drops ℓ (lossless LP, Baran & Wu
1989 simplified): ``v_j = w_b − 2 (r_b P_b + x_b Q_b)``.

Controllable devices (``discrete="relax"``): an OLTC's head voltage ``w`` is a variable with
``v_i / tap_max² ≤ w ≤ v_i / tap_min²`` (an exact description of a continuous tap, since
``v_i > 0``) and a capacitor's injection ``q_c = B v`` with ``0 ≤ q_c ≤ B_max v`` (an exact
description of a continuous susceptance ``B ∈ [0, B_max]``). With ``discrete="fixed"`` both are
Parameters (``w = a·v_i`` with ``a = 1/tap²``, ``q_c = B·v``), which is how rounded integer
settings are re-solved without rebuilding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from dispatchlab.solvers.distribution.conic import solve_clarabel_blocks
from dispatchlab.solvers.distribution.feeder import PQ_KINDS, Q_KINDS, Feeder

FORMULATIONS = ("socp", "lindistflow")
DISCRETE_MODES = ("relax", "fixed")


@dataclass
class Devices:
    """Positions (rows of ``Feeder.ders``) of the DERs by role, and their bus maps."""

    pq: np.ndarray
    q: np.ndarray
    cap: np.ndarray
    maps: dict = field(default_factory=dict)  # role -> sparse (n_role × N) bus map


def devices(feeder: Feeder) -> Devices:
    kind = feeder.ders["kind"].to_numpy()
    if (kind == "storage").any():
        raise NotImplementedError("distflow: storage (SOC dynamics) is not modelled yet")
    dev = Devices(
        pq=np.flatnonzero(np.isin(kind, PQ_KINDS)),
        q=np.flatnonzero(np.isin(kind, Q_KINDS)),
        cap=np.flatnonzero(kind == "capacitor"),
    )
    bus = feeder.ders["pos"].to_numpy()
    for role in ("pq", "q", "cap"):
        rows = getattr(dev, role)
        dev.maps[role] = _map(bus[rows], feeder.N)
    dev.maps["gen"] = _map(feeder.gens["pos"].to_numpy(), feeder.N)
    return dev


def _map(pos: np.ndarray, n: int) -> sp.csr_matrix:
    k = len(pos)
    return sp.csr_matrix((np.ones(k), (np.arange(k), pos)), shape=(k, n))


class DistFlowModel:
    """DistFlow SOCP / LinDistFlow LP of ``feeder``; ``params`` change data without a rebuild.

    Parameters (shape ``(T, ·)``, p.u.): ``load_p``, ``load_q`` (per bus), ``der_p_max``
    (PQ-kind DERs), ``gen_p_max``, ``v_ref`` (scalar, |V_ref|²) and, when ``discrete="fixed"``,
    ``tap_a`` (1/tap² of each OLTC) and ``cap_b`` (capacitor susceptance, p.u. at 1 p.u.).
    """

    def __init__(
        self,
        feeder: Feeder,
        *,
        formulation: str = "socp",
        discrete: str = "relax",
        voltage_limits: str = "hard",
        curtail: bool = True,
    ) -> None:
        if formulation not in FORMULATIONS:
            raise ValueError(f"unknown formulation '{formulation}'; use one of {FORMULATIONS}")
        if discrete not in DISCRETE_MODES:
            raise ValueError(f"unknown discrete mode '{discrete}'; use one of {DISCRETE_MODES}")
        self.feeder, self.formulation, self.discrete = feeder, formulation, discrete
        self.dev = devices(feeder)
        self.params: dict[str, cp.Parameter] = {}
        self.var: dict[str, cp.Variable] = {}
        self.cons: list = []
        self.named: dict[str, cp.Constraint] = {}
        self._parameters()
        self._variables()
        self._network()
        self._devices(curtail)
        self._voltage_limits(voltage_limits)
        self.problem: cp.Problem | None = None

    # ----------------------------------------------------------------------------- pieces
    def _parameters(self) -> None:
        fd, T = self.feeder, self.feeder.T
        pq = self.dev.pq
        new = self._param
        new("load_p", (T, fd.N), fd.load_p)
        new("load_q", (T, fd.N), fd.load_q)
        new("der_p_max", (T, len(pq)), fd.der_p_max[:, pq])
        new("gen_p_max", (T, len(fd.gens)), fd.gen_p_max)
        new("v_ref", (), fd.v_ref)
        if self.discrete == "fixed":
            tap = np.tile(fd.tap[fd.oltc], (T, 1))
            new("tap_a", (T, int(fd.oltc.sum())), 1.0 / tap**2)
            q0 = fd.ders["q_mvar"].to_numpy()[self.dev.cap] / fd.base_mva
            new("cap_b", (T, len(self.dev.cap)), np.tile(q0, (T, 1)))

    def _param(self, name: str, shape: tuple, value) -> None:
        self.params[name] = cp.Parameter(shape, name=name, value=np.asarray(value, float))

    def _variables(self) -> None:
        fd, T, dev = self.feeder, self.feeder.T, self.dev
        shapes = {
            "P": fd.L,
            "Q": fd.L,
            "v": fd.N,
            "p_der": len(dev.pq),
            "q_der": len(dev.pq),
            "q_var": len(dev.q),
            "q_cap": len(dev.cap),
            "p_gen": len(fd.gens),
            "q_gen": len(fd.gens),
        }
        if self.formulation == "socp":
            shapes["l"] = fd.L
        if self.discrete == "relax":
            shapes["w_oltc"] = int(fd.oltc.sum())
        for name, n in shapes.items():
            self.var[name] = cp.Variable((T, n), name=name, nonneg=name == "l")

    def head_voltage(self) -> cp.Expression:
        """``w`` (T × L): ``v_i / tap²`` for fixed taps, the OLTC variable / Parameter else."""
        fd, v = self.feeder, self.var["v"]
        fixed = ~fd.oltc
        cols = np.flatnonzero(fixed)
        m = sp.csr_matrix((1.0 / fd.tap[fixed] ** 2, (fd.f[fixed], cols)), shape=(fd.N, fd.L))
        w = v @ m
        k = int(fd.oltc.sum())
        if k == 0:
            return w
        sel = sp.csr_matrix((np.ones(k), (np.arange(k), np.flatnonzero(fd.oltc))), (k, fd.L))
        vi = v @ _map(fd.f[fd.oltc], fd.N).T  # parent voltages (sparse selection, CPP-friendly)
        if self.discrete == "fixed":
            w_oltc = cp.multiply(self.params["tap_a"], vi)
        else:
            w_oltc = self.var["w_oltc"]
            # diagonal products, not ``vi / tap²``: a (T, k) / (k,) division broadcasts, and
            # cvxpy's broadcast_to has no C++ canonicalisation — it sent the whole problem to
            # the SciPy backend (6 s of compilation on ieee123 × 24 instead of ~1 s)
            self.cons += [w_oltc >= vi @ sp.diags(1.0 / fd.tap_max[fd.oltc] ** 2)]
            self.cons += [w_oltc <= vi @ sp.diags(1.0 / fd.tap_min[fd.oltc] ** 2)]
        return w + w_oltc @ sel

    def _network(self) -> None:
        fd, var, par, dev = self.feeder, self.var, self.params, self.dev
        cf, ct = fd.incidence()
        P, Q, v = var["P"], var["Q"], var["v"]
        r, x = sp.diags(fd.r), sp.diags(fd.x)
        Pin, Qin = P, Q
        drop = 2 * (P @ r + Q @ x)
        w = self.head_voltage()
        if self.formulation == "socp":
            ell = var["l"]
            Pin, Qin = P - ell @ r, Q - ell @ x
            drop = drop - ell @ sp.diags(fd.r**2 + fd.x**2)
            flat = [cp.vec(e, order="F") for e in (2 * P, 2 * Q, w - ell)]
            self.cons.append(cp.SOC(cp.vec(w + ell, order="F"), cp.vstack(flat), axis=0))
        p_inj = var["p_der"] @ dev.maps["pq"] + var["p_gen"] @ dev.maps["gen"]
        q_inj = (
            var["q_der"] @ dev.maps["pq"]
            + var["q_var"] @ dev.maps["q"]
            + var["q_cap"] @ dev.maps["cap"]
            + var["q_gen"] @ dev.maps["gen"]
        )
        p_bal = Pin @ ct - P @ cf + p_inj - par["load_p"] - v @ sp.diags(fd.g_sh)
        q_bal = Qin @ ct - Q @ cf + q_inj - par["load_q"] + v @ sp.diags(fd.b_sh)
        self.named["p_balance"] = p_bal == 0
        self.named["q_balance"] = q_bal == 0
        self.named["voltage_drop"] = v @ ct.T == w - drop
        self.named["v_ref"] = v[:, fd.ref] == par["v_ref"]
        self.cons += list(self.named.values())
        self.w = w

    def _devices(self, curtail: bool) -> None:
        fd, var, par, dev, T = self.feeder, self.var, self.params, self.dev, self.feeder.T
        ders, base = fd.ders, fd.base_mva
        pq = ders.iloc[dev.pq]
        p, q = var["p_der"], var["q_der"]
        renewable = pq["kind"].isin(["pv", "wind"]).to_numpy()
        p_min = np.tile(pq["p_min_mw"].to_numpy() / base, (T, 1))
        self.cons += [p >= p_min, p <= par["der_p_max"]]
        if not curtail and renewable.any():
            self.cons.append(p[:, renewable] == par["der_p_max"][:, renewable])
        self._q_box(q, pq)
        self._s_limit(p, q, pq["s_max_mva"].to_numpy() / base)
        self._ramps(p, pq["ramp_mw_per_h"].to_numpy() * fd.dt_h / base)
        qd = ders.iloc[dev.q]
        self._q_box(var["q_var"], qd)
        self._capacitors(ders.iloc[dev.cap])
        g = fd.gens
        self.cons += [var["p_gen"] >= np.tile(g["p_min_mw"].to_numpy() / base, (T, 1))]
        self.cons += [var["p_gen"] <= par["gen_p_max"]]
        self._q_box(var["q_gen"], g)

    def _q_box(self, q: cp.Variable, table) -> None:
        base, T = self.feeder.base_mva, self.feeder.T
        for col, sense in (("q_min_mvar", 1), ("q_max_mvar", -1)):
            lim = table[col].to_numpy() / base
            ok = np.isfinite(lim)
            if ok.any():
                self.cons.append(sense * (q[:, ok] - np.tile(lim[ok], (T, 1))) >= 0)

    def _s_limit(self, p: cp.Variable, q: cp.Variable, s_max: np.ndarray) -> None:
        """Inverter limits ``p² + q² ≤ s_max²`` as one vectorised second-order cone."""
        ok = np.isfinite(s_max)
        if not ok.any():
            return
        T = self.feeder.T
        flat = cp.vstack([cp.vec(p[:, ok], order="F"), cp.vec(q[:, ok], order="F")])
        self.cons.append(cp.SOC(np.repeat(s_max[ok], T), flat, axis=0))

    def _ramps(self, p: cp.Variable, ramp: np.ndarray) -> None:
        ok = np.isfinite(ramp)
        if self.feeder.T > 1 and ok.any():
            step = p[1:, ok] - p[:-1, ok]
            lim = np.tile(ramp[ok], (self.feeder.T - 1, 1))
            self.cons += [step <= lim, step >= -lim]

    def _capacitors(self, caps) -> None:
        """``q_c = B·v``: Parameter ``B`` (fixed) or ``B_min·v ≤ q_c ≤ B_max·v`` (relaxed)."""
        if len(caps) == 0:
            return
        fd, qc = self.feeder, self.var["q_cap"]
        v_cap = self.var["v"] @ _map(caps["pos"].to_numpy(), fd.N).T
        if self.discrete == "fixed":
            self.cons.append(qc == cp.multiply(self.params["cap_b"], v_cap))
            return
        b_min, b_max = capacitor_range(caps, fd.base_mva)
        self.cons += [qc >= v_cap @ sp.diags(b_min), qc <= v_cap @ sp.diags(b_max)]

    def _voltage_limits(self, mode: str) -> None:
        if mode not in ("hard", "soft", "none"):
            raise ValueError(f"unknown voltage_limits '{mode}'; use hard, soft or none")
        fd, v = self.feeder, self.var["v"]
        lo, hi = (fd.v_min, fd.v_max) if mode == "hard" else (0.64, 1.44)  # soft: 0.8–1.2
        keep = np.arange(fd.N) != fd.ref  # the source voltage is fixed by v_ref
        self.cons += [v[:, keep] >= np.tile(np.broadcast_to(lo, fd.N)[keep], (fd.T, 1))]
        self.cons += [v[:, keep] <= np.tile(np.broadcast_to(hi, fd.N)[keep], (fd.T, 1))]

    # ----------------------------------------------------------------------------- solve
    def set_objective(self, expr: cp.Expression) -> None:
        self.problem = cp.Problem(cp.Minimize(expr), self.cons)

    def solve(self, solver: str | None = None, **kwargs) -> str:
        if self.problem is None:
            raise RuntimeError("set_objective first")
        solver = solver or ("CLARABEL" if self.needs_conic() else "HIGHS")
        if solver == "CLARABEL" and not kwargs:  # per period, compiled in 0.1 s: conic.py
            return solve_clarabel_blocks(self.problem)
        # Parameters as constants: cvxpy's DPP tensor costs seconds to build (conic.py)
        kwargs.setdefault("ignore_dpp", True)
        self.problem.solve(solver=solver, **kwargs)
        return self.problem.status

    def needs_conic(self) -> bool:
        return any(isinstance(c, cp.SOC) for c in self.problem.constraints) or not (
            self.problem.objective.expr.is_affine()
        )


def capacitor_range(caps, base_mva: float) -> tuple[np.ndarray, np.ndarray]:
    """Susceptance range of capacitors (p.u. at 1 p.u.): ``n_steps·q_step`` or ``q_max``."""
    stepped = caps["n_steps"].to_numpy() > 0
    top = np.where(
        stepped, caps["n_steps"].to_numpy() * caps["q_step_mvar"].to_numpy(), caps["q_max_mvar"]
    )
    bottom = np.where(stepped, 0.0, caps["q_min_mvar"].to_numpy())
    return bottom / base_mva, top / base_mva
