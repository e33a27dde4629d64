"""Chance-constrained economic dispatch and SCED-lite (DC-OPF with PTDF line limits).

Wind/PV forecast errors ω ∈ Rⁿ are Gaussian, ω ~ N(0, Σ); their sum Ω = 1ᵀω is balanced by
the generators through affine participation factors α (α ≥ 0, Σα = 1):

    p_g(ω) = p_g − α_g Ω,        f(ω) = f + (PTDF_w − (PTDF_g α) 1ᵀ) ω  =: f + M(α) ω.

Each limit holds with probability ≥ 1 − ε (individual chance constraints, one per side), whose
exact deterministic equivalents for Gaussian ω are, with z = Φ⁻¹(1 − ε) and s = √(1ᵀΣ1):

    p_g + z·s·α_g ≤ p_max,g,      p_g − z·s·α_g ≥ p_min,g,
    |f_l| + z·‖Lᵀ M(α)_l‖₂ ≤ rate_l,   Σ = L Lᵀ   (second-order cones in α).

Since Ω is a scalar the generator std is linear in α (α_g·s); only the line rows are cones.
With ``alpha="optimize"`` the problem is an SOCP (Clarabel); with fixed α (``"proportional"``
to p_max or an array) every margin is a number and the problem is an LP (HiGHS). The cost is
E[Σ c1 p_g(ω) + c2 p_g(ω)²] = Σ c1 p_g + c2 (p_g² + α_g² s²). Storage is held at 0; other
DERs (flexible loads, DG) are dispatchable but do not respond to ω. No load shedding.

Problems are built once with cvxpy Parameters (DPP: ``problem.is_dpp()``) and re-solved
through :meth:`ChanceDispatch.solve` without recompiling. :meth:`ChanceDispatch.monte_carlo`
draws 10 000 seeded samples (``forecast_error_samples``) and reports the empirical violation
probability of every limit next to ε.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np
import pandas as pd
from scipy.stats import norm

from dispatchlab.cases.timeseries import forecast_error_samples
from dispatchlab.solvers.api import EXTRA_PROBLEMS
from dispatchlab.solvers.data import RENEWABLE_DERS, dispatch_data
from dispatchlab.solvers.network import dc_network
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Status

_STATUS = {"optimal": Status.OPTIMAL, "optimal_inaccurate": Status.OPTIMAL}


@dataclass(frozen=True)
class ChanceOptions:
    """Options of the chance-constrained dispatch (one-line meaning each)."""

    epsilon: float = 0.05  #: allowed violation probability of each limit (each side)
    network: str = "copperplate"  #: copperplate (ED) or ptdf (SCED-lite with line limits)
    alpha: str | tuple = "optimize"  #: optimize, proportional (to p_max) or fixed values
    sigma_rel: float = 0.1  #: default σ of each wind/PV error, relative to its forecast
    correlation: float = 0.3  #: default correlation between the DERs' errors
    cov: np.ndarray | None = field(default=None, compare=False)  #: Σ (MW²), overrides the two above
    period: int | None = None  #: time-series step to dispatch (None: the case as it is)
    n_samples: int = 10_000  #: Monte Carlo samples of the out-of-sample check
    seed: int = 0  #: seed of the Monte Carlo samples
    #: the chance constraints do not model branch angle-difference limits: with ``ptdf``, a
    #: case whose angle limits are tighter than its ratings is refused unless this is False
    angle_limits: bool = True


def default_cov(forecast: np.ndarray, sigma_rel: float, correlation: float) -> np.ndarray:
    """Σ_ij = ρ_ij σ_i σ_j with σ_i = sigma_rel·forecast_i, ρ_ii = 1, ρ_ij = correlation."""
    sig = sigma_rel * np.asarray(forecast, float)
    rho = np.full((len(sig), len(sig)), correlation)
    np.fill_diagonal(rho, 1.0)
    return rho * np.outer(sig, sig)


def _factor(cov: np.ndarray) -> np.ndarray:
    """L with Σ = L Lᵀ (eigen-decomposition: Σ may be singular)."""
    w, v = np.linalg.eigh(cov)
    return v * np.sqrt(np.clip(w, 0.0, None))


class ChanceDispatch:
    """A chance-constrained ED / SCED-lite, compiled once and re-solved with new data."""

    def __init__(self, case, options: ChanceOptions | None = None, **kw):
        self.case, self.o = case, options or ChanceOptions(**kw)
        if self.o.network not in ("copperplate", "ptdf"):
            raise ValueError("network must be 'copperplate' or 'ptdf'")
        periods = None if self.o.period is None else 1
        self.d = d = dispatch_data(case, periods, self.o.period or 0)
        renew = np.isin(d.ders["kind"], RENEWABLE_DERS)
        self.w_idx, self.x_idx = np.flatnonzero(renew), np.flatnonzero(~renew)
        self.forecast = d.ders["p_max_mw"][0][self.w_idx]
        self.demand = np.zeros(len(d.bus_ids))
        np.add.at(self.demand, d.loads.bus, d.loads["p_mw"][0])
        self.demand += d.bus_shunt_mw
        self.z = float(norm.ppf(1.0 - self.o.epsilon))
        self._network()
        self.optimize_alpha = isinstance(self.o.alpha, str) and self.o.alpha == "optimize"
        self._build()
        cov = self.o.cov
        self.set_uncertainty(
            default_cov(self.forecast, self.o.sigma_rel, self.o.correlation) if cov is None else cov
        )

    # ------------------------------------------------------------------------ building
    def _network(self) -> None:
        d = self.d
        self.lines = np.zeros(0, int)
        if self.o.network == "ptdf":
            net = dc_network(self.case)
            rate = self.case.branches["rate_a_mva"].reindex(net.branch_ids).to_numpy()
            self._refuse_angle_limits(net, rate)
            self.lines = np.flatnonzero(np.isfinite(rate))
            self.net, self.rate = net, rate[self.lines]
            self.ptdf = net.ptdf_rows(self.lines)
            self.shift = net.base_mva * net.flows_pu(np.zeros(net.n_bus))[self.lines]
        ng = len(d.gens)
        self.ptdf_g = self.ptdf[:, d.gens.bus] if len(self.lines) else np.zeros((0, ng))
        self.ptdf_w = self.ptdf[:, d.ders.bus[self.w_idx]] if len(self.lines) else None
        self.ptdf_x = self.ptdf[:, d.ders.bus[self.x_idx]] if len(self.lines) else None

    def _refuse_angle_limits(self, net, rate: np.ndarray) -> None:
        """A limit in the case is never dropped silently: the SOCP has no angle rows, so angle
        limits that bind before the ratings do are refused, naming the branches."""
        needed = net.angle_rows_needed(np.nan_to_num(rate, nan=np.inf))
        if self.o.angle_limits and len(needed):
            ids = [int(net.branch_ids[k]) for k in needed[:5]]
            more = f" and {len(needed) - 5} more" if len(needed) > 5 else ""
            raise ValueError(
                f"chance-constrained dispatch with network='ptdf' does not model branch "
                f"angle-difference limits, and branch(es) {ids}{more} have angle limits tighter "
                "than their ratings; pass angle_limits=False to solve without them (as "
                "MATPOWER's opf.ignore_angle_lim), or use solve(case, 'sced'/'dcopf')"
            )

    def _build(self) -> None:
        """Variables, parameters, constraints and objective (see the module docstring)."""
        d, ng, nw, nl = self.d, len(self.d.gens), len(self.w_idx), len(self.lines)
        g, xd = d.gens, d.ders
        self.p = cp.Variable(ng, name="p_gen")
        self.x = cp.Variable(len(self.x_idx), name="p_der")
        self.w = cp.Parameter(nw, name="forecast")
        self.dem = cp.Parameter(len(d.bus_ids), name="demand")
        self.zs = cp.Parameter(nonneg=True, name="z_sigma_total")  # z·s
        self.s2 = cp.Parameter(nonneg=True, name="sigma_total_sq")  # s²
        if self.optimize_alpha:
            self.alpha = cp.Variable(ng, nonneg=True, name="alpha")
            self.zL = cp.Parameter((nw, nw), name="z_cov_factor")  # z·L, Σ = L Lᵀ
            margin = self.zs * self.alpha
        else:
            self.alpha = cp.Parameter(ng, nonneg=True, name="alpha")
            self.gen_margin = cp.Parameter(ng, nonneg=True, name="gen_margin")
            self.line_margin = cp.Parameter(nl, nonneg=True, name="line_margin")
            margin = self.gen_margin
        cons = [
            cp.sum(self.p) + cp.sum(self.x) + cp.sum(self.w) == cp.sum(self.dem),
            self.x >= xd["p_min_mw"][self.x_idx],
            self.x <= xd["p_max_mw"][0][self.x_idx],
            self.p + margin <= g["p_max_mw"][0],
            self.p - margin >= g["p_min_mw"],
        ]
        if self.optimize_alpha:
            cons.append(cp.sum(self.alpha) == 1.0)
        if nl:
            cons += self._line_constraints()
        self.c1 = np.where(g["pwl"], 0.0, g["cost_c1_usd_per_mwh"])
        self.c2 = np.where(g["pwl"], 0.0, g["cost_c2_usd_per_mw2h"])
        cost = self.c1 @ self.p + xd["cost_usd_per_mwh"][self.x_idx] @ self.x
        if self.c2.any():
            cost += cp.sum(cp.multiply(self.c2, cp.square(self.p)))
            if self.optimize_alpha:  # E[c2 (α_g Ω)²] = c2 α_g² s²
                cost += self.s2 * cp.sum(cp.multiply(self.c2, cp.square(self.alpha)))
        self.problem = cp.Problem(cp.Minimize(cost), cons)

    def _flow(self) -> cp.Expression:
        """f = PTDF·(injection − demand) − f_shift for the monitored lines."""
        f = self.ptdf_g @ self.p + self.ptdf_w @ self.w - self.ptdf @ self.dem - self.shift
        return f + self.ptdf_x @ self.x if len(self.x_idx) else f

    def _line_constraints(self) -> list:
        """|f| + z·std ≤ rate; std = ‖Lᵀ M(α)_l‖ (cone) or a fixed margin parameter."""
        self.f = self._flow()
        if self.optimize_alpha:
            share = cp.reshape(self.ptdf_g @ self.alpha, (len(self.lines), 1), order="C")
            m_alpha = self.ptdf_w - share @ np.ones((1, len(self.w_idx)))
            zstd = cp.norm(m_alpha @ self.zL, 2, axis=1)  # z·‖Lᵀ M(α)_l‖ (one cone per line)
            return [self.f + zstd <= self.rate, -self.f + zstd <= self.rate]
        return [self.f + self.line_margin <= self.rate, -self.f + self.line_margin <= self.rate]

    # ------------------------------------------------------------------- data updates
    def set_uncertainty(self, cov) -> None:
        """New Σ (MW², order of the wind/PV DERs): new parameter values, no recompilation."""
        self.cov = np.asarray(cov, float)
        s = float(np.sqrt(max(self.cov.sum(), 0.0)))
        self.s_total = s
        self.zs.value, self.s2.value = self.z * s, s * s
        self._Lnp = _factor(self.cov)
        if self.optimize_alpha:
            self.zL.value = self.z * self._Lnp
            return
        a = self._fixed_alpha()
        self.alpha.value = a
        self.gen_margin.value = self.z * s * a
        if len(self.lines):
            self.line_margin.value = self.z * self._line_std(a)

    def _fixed_alpha(self) -> np.ndarray:
        if isinstance(self.o.alpha, str):
            if self.o.alpha != "proportional":
                raise ValueError("alpha must be 'optimize', 'proportional' or values per gen")
            pmax = self.d.gens["p_max_mw"][0]
            return pmax / pmax.sum()
        a = np.asarray(self.o.alpha, float)
        if a.shape != (len(self.d.gens),) or (a < 0).any() or not np.isclose(a.sum(), 1.0):
            raise ValueError("fixed alpha needs one value ≥ 0 per generator, summing to 1")
        return a

    def m_matrix(self, alpha: np.ndarray) -> np.ndarray:
        """M(α) = PTDF_w − (PTDF_g α) 1ᵀ: flow change per MW of each DER's error."""
        return self.ptdf_w - np.outer(self.ptdf_g @ alpha, np.ones(len(self.w_idx)))

    def _line_std(self, alpha: np.ndarray) -> np.ndarray:
        """std of each monitored flow, ‖Lᵀ M(α)_l‖ (MW)."""
        return np.linalg.norm(self.m_matrix(alpha) @ self._Lnp, axis=1)

    # ------------------------------------------------------------------------- solving
    @property
    def is_lp(self) -> bool:
        """True when no quadratic cost and no cone: fixed α (or no lines) and linear costs."""
        return not self.c2.any() and not (self.optimize_alpha and len(self.lines))

    def solve(self, forecast=None, demand=None, backend: str = "auto") -> Result:
        """Solve with new forecasts / bus demands (MW) if given; the problem is not rebuilt."""
        self.w.value = self.forecast if forecast is None else np.asarray(forecast, float)
        self.dem.value = self.demand if demand is None else np.asarray(demand, float)
        solver = {"auto": "HIGHS" if self.is_lp else "CLARABEL", "highs": "HIGHS"}.get(
            backend, backend.upper()
        )
        t0 = time.perf_counter()
        self.problem.solve(solver=solver)
        status = _STATUS.get(self.problem.status, Status.ERROR)
        res = Result(status, float(self.problem.value or np.nan), "chance", self.case.name)
        res.timings = {"solve": time.perf_counter() - t0}
        res.info = {
            "backend": solver.lower(),
            "network": self.o.network,
            "epsilon": self.o.epsilon,
            "z": self.z,
            "sigma_total_mw": self.s_total,
            "alpha_mode": self.o.alpha if isinstance(self.o.alpha, str) else "fixed",
            "is_dpp": self.problem.is_dpp(),
        }
        if status is Status.OPTIMAL:
            self._tables(res)
        return res

    def _tables(self, res: Result) -> None:
        d = self.d
        a = np.asarray(self.alpha.value, float).clip(0.0)
        p = np.asarray(self.p.value, float)
        res.gen = pd.DataFrame(
            {
                "p_mw": p,
                "alpha": a,
                "margin_mw": self.z * self.s_total * a,
                "cost_usd_per_h": self.c1 * p + self.c2 * (p**2 + a**2 * self.s_total**2),
            },
            index=pd.Index(d.gens.ids, name="gen_id"),
        )
        der = np.zeros(len(d.ders))
        der[self.w_idx] = self.w.value
        if len(self.x_idx):
            der[self.x_idx] = self.x.value
        res.der = pd.DataFrame({"p_mw": der}, index=pd.Index(d.ders.ids, name="der_id"))
        if not self.optimize_alpha and self.c2.any():  # E[c2 α² Ω²] is a constant here
            res.objective += float((self.c2 * a**2).sum() * self.s_total**2)
        if len(self.lines):
            std = self._line_std(a)
            res.branch = pd.DataFrame(
                {
                    "p_mw": np.asarray(self.f.value, float),
                    "std_mw": std,
                    "margin_mw": self.z * std,
                    "rate_mva": self.rate,
                },
                index=pd.Index(self.net.branch_ids[self.lines], name="branch_id"),
            )

    def monte_carlo(self, res: Result, n: int | None = None, seed: int | None = None) -> dict:
        """Out-of-sample check: draw ω ~ N(0, Σ), apply p_g(ω), f(ω) and count violations
        of each limit (each side). Returns the per-limit table and its max next to ε."""
        n = self.o.n_samples if n is None else n
        omega = forecast_error_samples(n, self.cov, self.o.seed if seed is None else seed)
        omega = np.asarray(omega).reshape(n, len(self.w_idx))
        g, tol = res.gen, 1e-6
        pg = g["p_mw"].to_numpy() - np.outer(omega.sum(axis=1), g["alpha"].to_numpy())
        gmax, gmin = self.d.gens["p_max_mw"][0] + tol, self.d.gens["p_min_mw"] - tol
        parts = [
            _violations("gen", g.index, "max", pg > gmax),
            _violations("gen", g.index, "min", pg < gmin),
        ]
        if len(self.lines):
            f = res.branch["p_mw"].to_numpy() + omega @ self.m_matrix(g["alpha"].to_numpy()).T
            parts += [
                _violations("branch", res.branch.index, "max", f > self.rate + tol),
                _violations("branch", res.branch.index, "min", f < -self.rate - tol),
            ]
        table = pd.concat(parts, ignore_index=True)
        joint = np.any((pg > gmax) | (pg < gmin), axis=1).mean()
        eps = self.o.epsilon
        return {
            "table": table,
            "max_violation": float(table["violation_prob"].max()),
            "gen_joint_violation": float(joint),
            "standard_error": float(np.sqrt(eps * (1 - eps) / n)),
            "n_samples": n,
        }


def _violations(element: str, ids, side: str, mask: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"element": element, "id": np.asarray(ids), "side": side, "violation_prob": mask.mean(0)}
    )


def solve_chance(case, *, backend: str = "auto", monte_carlo: bool = True, **options) -> Result:
    """``solve(case, "chance", epsilon=0.05, network="ptdf", alpha="optimize", …)``: build,
    solve and (by default) check out of sample; ``info`` gets ``mc_max_violation`` (the
    largest empirical violation probability of any single limit) and the per-limit table."""
    t0 = time.perf_counter()
    model = ChanceDispatch(case, ChanceOptions(**options))
    t1 = time.perf_counter()
    res = model.solve(backend=backend)
    res.timings = {"build": t1 - t0, **res.timings}
    if monte_carlo and res.optimal:
        mc = model.monte_carlo(res)
        res.info.update(
            mc_max_violation=mc["max_violation"],
            mc_standard_error=mc["standard_error"],
            mc_samples=mc["n_samples"],
            monte_carlo=mc["table"],
        )
    return res


EXTRA_PROBLEMS["chance"] = solve_chance
