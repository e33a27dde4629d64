"""Linearized power flow of seed003 (approximation (c)), loss factors and DLMPs.

Approximation (c) of seed003 (Yang et al.): G_ij V_i (V_i − V_j cos θ_ij) ≈ G_ij (V_i − V_j),
sin θ_ij ≈ θ_ij, V_i V_j ≈ 1, so that (eqs. 3–5)

    P_i = Σ_j  k2_ij/x_ij (δ_i − δ_j) + k1_ij/x_ij (V_i − V_j),
    Q_i = Σ_j −k1_ij/x_ij (δ_i − δ_j) + k2_ij/x_ij (V_i − V_j),
    k1 = r x / (r² + x²),  k2 = x² / (r² + x²)   (so k2/x = b = x/|z|², k1/x = g = r/|z|²).

In matrix form [P; Q] = [[L_b, L_g], [−L_g, L_b]] [δ; V − V₀] with the weighted Laplacians
L_b = Aᵀ diag(b) A, L_g = Aᵀ diag(g) A; eq. 6 solves it for δ and V with δ_ref = 0 and
V_ref = V₀ (the reference generator's set-point). Branch flows use the same linear terms,
P_ij = b(δ_i − δ_j) + g(V_i − V_j), Q_ij = −g(δ_i − δ_j) + b(V_i − V_j); losses follow eq. 7,
P_loss,l = (P_l² + Q_l²) r_l / V_l² (V_l the sending-end voltage), and the loss factor eq. 8,
LF_i = Σ_l (2 P_l ∂P_l/∂P_i + 2 Q_l ∂Q_l/∂P_i) r_l / V_l², or eq. 9 without the Q term
(``loss_q_term=False``: seed003's assumption that Q does not move with a DER's P).
Taps, phase shifts and line charging are ignored (the model of the paper has none).

DLMP (seed003 eq. 32). The LP ``solve(case, "dlmp")`` dispatches the substation (price λ0,
its linear cost unless ``reference_price`` is given) and the generating DERs on the network
linearized at an operating point x_b (net bus injections, MW):

    min λ0 p0 + Σ c_k p_k   s.t.  p0 + Σ p_k = D + L_b + LFᵀ(x − x_b)          (dual λ)
    −F̄ ≤ F_b + S_F (x − x_b) ≤ F̄   (μ±),    V_min ≤ V_b + S_V (x − x_b) ≤ V_max   (η±)

and the price of a MW withdrawn at bus i, read from the duals, splits as eq. 32 does:

    DLMP_i = λ  −  λ·LF_i  −  Σ_l (μ⁺−μ⁻)_l S_F[l, i]  −  Σ_k (η⁺−η⁻)_k S_V[k, i]
             energy   loss        congestion                  voltage

(eq. 32 writes λ0 in front of every factor; here λ = λ0 when the substation is not at a limit,
and the flow / voltage factors are weighted by the duals of the limits they come from,
eqs. 28 and 30, so only binding limits price). ``iterations`` ≥ 2 re-linearizes at the LP's
dispatch (losses are quadratic: the point matters).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from dispatchlab.solvers.api import EXTRA_PROBLEMS
from dispatchlab.solvers.data import GENERATING_DERS
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Status


@dataclass(frozen=True)
class LinearizedPF:
    """The linearized AC network of a Case (positions 0 … n−1, p.u. on ``base_mva``)."""

    bus_ids: np.ndarray
    branch_ids: np.ndarray
    f: np.ndarray
    t: np.ndarray
    r: np.ndarray
    x: np.ndarray
    ref: int
    v0: float
    base_mva: float

    @property
    def n(self) -> int:
        return len(self.bus_ids)

    @cached_property
    def g(self) -> np.ndarray:
        """k1/x = r/(r² + x²) (eq. 5)."""
        return self.r / (self.r**2 + self.x**2)

    @cached_property
    def b(self) -> np.ndarray:
        """k2/x = x/(r² + x²) (eq. 5)."""
        return self.x / (self.r**2 + self.x**2)

    @cached_property
    def incidence(self) -> sp.csr_matrix:
        nl = len(self.f)
        rows = np.r_[np.arange(nl), np.arange(nl)]
        vals = np.r_[np.ones(nl), -np.ones(nl)]
        return sp.csr_matrix((vals, (rows, np.r_[self.f, self.t])), shape=(nl, self.n))

    @cached_property
    def sensitivity(self) -> np.ndarray:
        """S (2n × 2n) with [δ; V − V₀] = S [P; Q] (p.u.); zero rows/columns at the reference."""
        a = self.incidence
        lb = (a.T @ sp.diags(self.b) @ a).toarray()
        lg = (a.T @ sp.diags(self.g) @ a).toarray()
        jac = np.block([[lb, lg], [-lg, lb]])
        keep = np.setdiff1d(np.arange(2 * self.n), [self.ref, self.n + self.ref])
        s = np.zeros((2 * self.n, 2 * self.n))
        s[np.ix_(keep, keep)] = np.linalg.inv(jac[np.ix_(keep, keep)])
        return s

    def state(self, p_mw: np.ndarray, q_mvar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eq. 6: angles (rad) and voltage magnitudes (p.u.) for bus injections in MW / Mvar."""
        dv = self.sensitivity @ (np.r_[p_mw, q_mvar] / self.base_mva)
        return dv[: self.n], self.v0 + dv[self.n :]

    def flows(self, delta: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sending-end P (MW) and Q (Mvar) of every branch from the linear terms of eqs. 3–4."""
        dd, dv = delta[self.f] - delta[self.t], v[self.f] - v[self.t]
        return (
            self.base_mva * (self.b * dd + self.g * dv),
            self.base_mva * (-self.g * dd + self.b * dv),
        )

    def losses(self, p_mw: np.ndarray, q_mvar: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Eq. 7: P_loss,l = (P² + Q²) r / V² per branch, MW."""
        p, q = p_mw / self.base_mva, q_mvar / self.base_mva
        return self.base_mva * (p**2 + q**2) * self.r / v[self.f] ** 2

    @cached_property
    def flow_sensitivity(self) -> tuple[np.ndarray, np.ndarray]:
        """(∂P_flow/∂P_inj, ∂Q_flow/∂P_inj): branch × bus, MW per MW (and Mvar per MW)."""
        s = self.sensitivity[:, : self.n]  # columns: P injections
        dd = s[self.f] - s[self.t]  # δ_f − δ_t per p.u. injection
        dv = s[self.n + self.f] - s[self.n + self.t]
        return self.b[:, None] * dd + self.g[:, None] * dv, -self.g[:, None] * dd + (
            self.b[:, None] * dv
        )

    @cached_property
    def voltage_sensitivity(self) -> np.ndarray:
        """∂V/∂P_inj: bus × bus, p.u. per MW."""
        return self.sensitivity[self.n :, : self.n] / self.base_mva

    def loss_factors(
        self, p_mw: np.ndarray, q_mvar: np.ndarray, v: np.ndarray, *, loss_q_term: bool = True
    ) -> np.ndarray:
        """∂(Σ P_loss)/∂P_i for every bus (MW per MW): eq. 8, or eq. 9 without the Q term."""
        dp, dq = self.flow_sensitivity
        w = 2.0 * self.r / v[self.f] ** 2 / self.base_mva
        lf = (w * p_mw) @ dp
        return lf + (w * q_mvar) @ dq if loss_q_term else lf


def linearized_network(case) -> LinearizedPF:
    """The linearized network of the in-service branches of ``case``."""
    buses = case.buses
    br = case.branches[case.branches["in_service"]]
    pos = pd.Series(np.arange(len(buses)), index=buses.index)
    ref = int(np.flatnonzero(buses["bus_type"].to_numpy() == "REF")[0])
    gens = case.gens[case.gens["in_service"]]
    at_ref = gens[gens["bus"] == buses.index[ref]]
    v0 = float(at_ref["vm_set_pu"].iloc[0]) if len(at_ref) else float(buses["vm_pu"].iloc[ref])
    return LinearizedPF(
        bus_ids=buses.index.to_numpy(),
        branch_ids=br.index.to_numpy(),
        f=pos[br["from_bus"]].to_numpy(),
        t=pos[br["to_bus"]].to_numpy(),
        r=br["r_pu"].to_numpy(float),
        x=np.where(br["x_pu"].to_numpy(float) == 0, 1e-6, br["x_pu"].to_numpy(float)),
        ref=ref,
        v0=v0,
        base_mva=case.base_mva,
    )


def bus_injections(case) -> tuple[np.ndarray, np.ndarray]:
    """Net P (MW) and Q (Mvar) injected at each bus by the case's set-points: generators
    other than the reference, DERs (``p_mw``, ``q_mvar``), minus loads, plus shunts at 1 p.u."""
    buses = case.buses
    pos = pd.Series(np.arange(len(buses)), index=buses.index)
    p = -buses["gs_mw"].to_numpy(float).copy()
    q = buses["bs_mvar"].to_numpy(float).copy()
    ref_bus = buses.index[buses["bus_type"] == "REF"]
    for table, sign in ((case.gens, 1.0), (case.ders, 1.0), (case.loads, -1.0)):
        t = table[table["in_service"]]
        if table is case.gens:
            t = t[~t["bus"].isin(ref_bus)]
        np.add.at(p, pos[t["bus"]].to_numpy(), sign * t["p_mw"].to_numpy(float))
        np.add.at(q, pos[t["bus"]].to_numpy(), sign * t["q_mvar"].to_numpy(float))
    return p, q


def linearized_powerflow(case, *, loss_q_term: bool = True) -> dict[str, pd.DataFrame]:
    """Solve the linearized power flow of ``case`` at its set-points: ``bus`` (vm_pu, va_deg,
    loss_factor) and ``branch`` (p_mw, q_mvar, loss_mw) tables, ids as in the Case."""
    net = linearized_network(case)
    p, q = bus_injections(case)
    delta, v = net.state(p, q)
    pf, qf = net.flows(delta, v)
    bus = pd.DataFrame(
        {
            "vm_pu": v,
            "va_deg": np.rad2deg(delta),
            "loss_factor": net.loss_factors(pf, qf, v, loss_q_term=loss_q_term),
        },
        index=pd.Index(net.bus_ids, name="bus_id"),
    )
    branch = pd.DataFrame(
        {"p_mw": pf, "q_mvar": qf, "loss_mw": net.losses(pf, qf, v)},
        index=pd.Index(net.branch_ids, name="branch_id"),
    )
    return {"bus": bus, "branch": branch}


# ------------------------------------------------------------------------------- DLMP LP
@dataclass
class DLMPModel:
    """The DLMP LP on a linearized network, with the bus demand as a cvxpy Parameter."""

    case: object
    net: LinearizedPF
    flow_limits: np.ndarray  # MW per branch (inf: unmonitored)
    v_limits: tuple[np.ndarray, np.ndarray]
    loss_q_term: bool = True

    def __post_init__(self) -> None:
        c, n = self.case, self.net.n
        pos = pd.Series(np.arange(n), index=self.net.bus_ids)
        ders = c.ders[c.ders["in_service"] & c.ders["kind"].isin(GENERATING_DERS)]
        self.der_ids = ders.index.to_numpy()
        self.der_bus = pos[ders["bus"]].to_numpy()
        self.der_cost = ders["cost_usd_per_mwh"].to_numpy(float)
        self.der_lim = ders["p_min_mw"].to_numpy(float), ders["p_max_mw"].to_numpy(float)
        self.a_der = np.zeros((n, len(self.der_ids)))
        self.a_der[self.der_bus, np.arange(len(self.der_ids))] = 1.0
        self.x_b, self.q_inj = bus_injections(c)
        # MW withdrawn at each bus besides the dispatched DERs
        self.demand = self.a_der @ ders["p_mw"].to_numpy(float) - self.x_b

    def linearize(self, x_b: np.ndarray) -> dict:
        """F_b, V_b, L_b, LF and the sensitivities at net injections x_b (MW)."""
        delta, v = self.net.state(x_b, self.q_inj)
        pf, qf = self.net.flows(delta, v)
        lf = self.net.loss_factors(pf, qf, v, loss_q_term=self.loss_q_term)
        loss = float(self.net.losses(pf, qf, v).sum())
        return {"x_b": x_b, "F": pf, "V": v, "L": loss, "LF": lf}

    def solve(
        self,
        lam0: float,
        p0_lim: tuple[float, float],
        lin: dict,
        demand=None,
        *,
        backend: str = "highs",
    ) -> dict:
        """Build and solve the LP at linearization ``lin``; primal values and duals.
        ``backend``: "highs" (:mod:`~.dlmp_lp`'s LinearModel, the path every DLMP LP of the
        package takes) or "cvxpy" (the same LP written in cvxpy, kept as a cross-check)."""
        if backend == "cvxpy":
            return self.solve_cvxpy(lam0, p0_lim, lin, demand)
        from dispatchlab.solvers.problems.dlmp_lp import solve_lp

        self.lam0, self.p0_lim = lam0, p0_lim
        return solve_lp(self, lin, demand=demand)

    def solve_cvxpy(self, lam0: float, p0_lim: tuple[float, float], lin: dict, demand=None):
        """:meth:`solve` through cvxpy (HiGHS underneath): the formulation as written first."""
        from dispatchlab.solvers.problems.dlmp_lp import solve_cvxpy

        return solve_cvxpy(self, lam0, p0_lim, lin, demand)

    def components(self, sol: dict) -> pd.DataFrame:
        """DLMP and its energy / loss / congestion / voltage parts ($/MWh) at every bus."""
        sf, sv = self.net.flow_sensitivity[0], self.net.voltage_sensitivity
        lam = sol["lam"]
        parts = {
            "dlmp_energy_usd_per_mwh": np.full(self.net.n, lam),
            "dlmp_loss_usd_per_mwh": -lam * sol["lin"]["LF"],
            "dlmp_congestion_usd_per_mwh": -(sol["mu"] @ sf),
            "dlmp_voltage_usd_per_mwh": -(sol["eta"] @ sv),
        }
        out = pd.DataFrame(parts, index=pd.Index(self.net.bus_ids, name="bus_id"))
        out.insert(0, "dlmp_usd_per_mwh", out.sum(axis=1))
        return out


def dlmp_model(
    case,
    *,
    reference_price: float | None = None,
    flow_limits_mw: dict | None = None,
    rating: str = "rate_a_mva",
    v_limits: tuple[float, float] | None = None,
    loss_q_term: bool = True,
) -> DLMPModel:
    """The DLMP LP of ``case``: ``flow_limits_mw`` ({branch_id: MW}) overrides ``rating``,
    ``v_limits`` the buses' vm_min/vm_max; λ0 = the substation's c1 unless given."""
    net = linearized_network(case)
    limits = case.branches[rating].reindex(net.branch_ids).to_numpy(float).copy()
    for bid, mw in (flow_limits_mw or {}).items():
        limits[np.flatnonzero(net.branch_ids == bid)] = mw
    vmin, vmax = case.buses["vm_min_pu"].to_numpy(float), case.buses["vm_max_pu"].to_numpy(float)
    if v_limits is not None:
        vmin, vmax = np.full(net.n, v_limits[0]), np.full(net.n, v_limits[1])
    model = DLMPModel(case, net, limits, (vmin, vmax), loss_q_term)
    gens = case.gens[case.gens["in_service"]]
    sub = gens[gens["bus"] == net.bus_ids[net.ref]].iloc[0]
    model.lam0 = float(sub["cost_c1_usd_per_mwh"]) if reference_price is None else reference_price
    model.p0_lim = (float(sub["p_min_mw"]), float(sub["p_max_mw"]))
    return model


def solve_dlmp(case, *, backend: str = "auto", iterations: int = 2, **options) -> Result:
    """``solve(case, "dlmp", …)``: DER dispatch and DLMPs on the linearized network, an LP
    solved by HiGHS (``backend`` "auto" / "highs": a LinearModel passed to highspy, the path
    of the der-selection env and of ``drl_lp``; "cvxpy": the same LP through cvxpy); options
    of :func:`dlmp_model`. ``iterations`` LPs, each linearized at the previous dispatch."""
    if backend not in ("auto", "highs", "cvxpy"):
        raise ValueError("the dlmp LP is solved by HiGHS: use backend 'auto', 'highs' or 'cvxpy'")
    t0 = time.perf_counter()
    return dlmp_result(case, dlmp_model(case, **options), iterations, backend, t0)


def dlmp_result(case, model: DLMPModel, iterations: int = 2, backend: str = "auto", t0=None):
    """The Result of ``solve(case, "dlmp")`` for a ``model`` of ``case`` already built (an
    environment keeps one network and builds only the model of each scenario)."""
    path = "cvxpy" if backend == "cvxpy" else "highs"
    t0 = time.perf_counter() if t0 is None else t0
    sol = model.solve(model.lam0, model.p0_lim, model.linearize(model.x_b), backend=path)
    for _ in range(iterations - 1):
        if "lam" not in sol:
            break
        lin = model.linearize(sol["x"])  # re-linearize at the dispatch
        sol = model.solve(model.lam0, model.p0_lim, lin, backend=path)
    ok = "lam" in sol
    res = Result(
        Status.OPTIMAL if ok else Status.INFEASIBLE,
        sol.get("objective", np.nan),
        "dlmp",
        case.name,
        timings={"solve": time.perf_counter() - t0},
    )
    res.info = {"backend": "highs" if path == "highs" else "cvxpy+highs"}
    res.info.update(reference_price_usd_per_mwh=model.lam0, iterations=iterations)
    if ok:
        _dlmp_tables(res, model, sol)
        res.info["solution"] = sol
    return res


def _dlmp_tables(res: Result, model: DLMPModel, sol: dict) -> None:
    """Bus (DLMP and components, vm_pu, loss_factor), DER, branch and system tables."""
    lin, net = sol["lin"], model.net
    x_new = sol["x"]
    delta, v = net.state(x_new, model.q_inj)
    pf, qf = net.flows(delta, v)
    res.bus = model.components(sol).assign(
        vm_pu=lin["V"] + net.voltage_sensitivity @ (x_new - lin["x_b"]), loss_factor=lin["LF"]
    )
    res.der = pd.DataFrame(
        {"p_mw": sol["p_der"], "cost_usd_per_mwh": model.der_cost},
        index=pd.Index(model.der_ids, name="der_id"),
    )
    res.branch = pd.DataFrame(
        {
            "p_mw": pf,
            "q_mvar": qf,
            "loss_mw": net.losses(pf, qf, v),
            "shadow_price_usd_per_mwh": sol["mu"],
        },
        index=pd.Index(net.branch_ids, name="branch_id"),
    )
    res.info.update(
        substation_p_mw=sol["p0"],
        loss_mw=float(res.branch["loss_mw"].sum()),
        energy_price_usd_per_mwh=sol["lam"],
    )


# ------------------------------------------------------------- validation against AC
def ac_finite_differences(case, der_id, delta_mw: float = 0.01) -> dict:
    """∂P_flow/∂P_DER (per branch, sending end), ∂P_loss/∂P_DER (total) and ∂V/∂P_DER (per
    bus) of the AC power flow (pandapower) by a forward difference of ``delta_mw`` in the
    set-point of DER ``der_id``; the reference generator absorbs the change."""
    from dispatchlab.solvers.powerflow import run_ac_powerflow

    base = run_ac_powerflow(case)
    ders = case.ders.copy()
    ders.loc[der_id, "p_mw"] += delta_mw
    pert = run_ac_powerflow(case.replace(ders=ders))
    return {
        "dflow": (pert.branch["p_from_mw"] - base.branch["p_from_mw"]) / delta_mw,
        "dloss": (pert.loss_mw - base.loss_mw) / delta_mw,
        "dv": (pert.bus["vm_pu"] - base.bus["vm_pu"]) / delta_mw,
    }


def linear_sensitivities(case, der_id, *, loss_q_term: bool = True) -> dict:
    """The same three sensitivities from the linearized model at the case's set-points."""
    net = linearized_network(case)
    p, q = bus_injections(case)
    delta, v = net.state(p, q)
    pf, qf = net.flows(delta, v)
    i = int(np.flatnonzero(net.bus_ids == case.ders.loc[der_id, "bus"])[0])
    lf = net.loss_factors(pf, qf, v, loss_q_term=loss_q_term)
    return {
        "dflow": pd.Series(net.flow_sensitivity[0][:, i], index=net.branch_ids),
        "dloss": float(lf[i]),
        "dv": pd.Series(net.voltage_sensitivity[:, i], index=net.bus_ids),
    }


EXTRA_PROBLEMS["dlmp"] = solve_dlmp
