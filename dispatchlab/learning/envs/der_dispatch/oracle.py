"""The exact counterpart of ``der-dispatch``: centralized dispatch of every DER for the state.

seed000 compares its edge controllers with "centralized optimization per decision". Here that
is one mixed-integer LP (HiGHS, through highspy) per call that maximizes the
**same** Σ reward as the environment (eq. 2 − eq. 3 + bonus, see core.py) over
this step's outputs, subject to

* unit ranges: the step's [P_min, P_max] of each unit (PV availability, storage power and
  energy room, flexible-load band);
* storage energy exactly as the env integrates it, ``E' = E − Δt(P_d/η_d − η_c P_c)`` with
  ``P = P_d − P_c`` and a binary per storage unit forbidding simultaneous charge and discharge
  (without it the LP could "burn" energy to dodge the eq.-3 band, which the env cannot do);
  the eq.-3 band excess as two non-negative MWh variables priced at ``w_soc``;
* the network: bus voltages (non-slack), substation import range and branch ratings,
  linearized at a reference dispatch with the seed003 sensitivities (∂V/∂P, loss factors,
  ∂F/∂P) anchored on the AC power flow of that dispatch; the answer is then checked by the AC
  power flow, and while it violates a limit, that limit is tightened by the AC excess and the
  model re-linearized at the new answer (at most ``MAX_ROUNDS`` rounds);
* discrete mode: ``P_i = P_min,i + ℓ_i (P_max,i − P_min,i)/(L − 1)`` with an integer level
  ℓ_i ∈ {0, …, L − 1}: the best feasible levels, not a rounding of the continuous optimum.

It is exact when no network limit binds (the units are then separable and each sits at its
best level); when one binds it is optimal for the linearized limit tightened until the AC
power flow is feasible, i.e. slightly conservative.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp

from dispatchlab.learning.envs.der_dispatch.prices import _linearize
from dispatchlab.solvers.backends.highs import quiet_highs

MAX_ROUNDS = 6  #: linearize → solve → AC check rounds
TOL = 0.0  #: AC violation accepted as zero: none (the env reports any excess)


@dataclass
class OracleSolution:
    p_mw: np.ndarray  # (N,) outputs as the env will apply them
    action: np.ndarray  # (N,) levels (int) or continuous actions in [-1, 1]
    reward_usd: np.ndarray  # (N,) the env's reward for this action
    violations: dict
    info: dict = field(default_factory=dict)


def solve_oracle(core, s: int = 0, *, time_limit: float = 30.0) -> OracleSolution:
    """The centralized dispatch of scenario ``s`` of ``core`` at its current step (no state of
    ``core`` is changed)."""
    g = core.grid
    lo, hi = core.lo[s], core.hi[s]
    load_p, load_q = core.load_p[s : s + 1], core.load_q[s : s + 1]
    p_ref = np.clip(core.p_prev[s], lo, hi)
    margins = {"v_lo": np.zeros(g.n_bus), "v_hi": np.zeros(g.n_bus), "sub": np.zeros(2)}
    margins["line"] = np.zeros(len(g.rated))
    best, last = None, None
    for round_ in range(1, MAX_ROUNDS + 1):
        x, info = _solve_milp(core, s, p_ref, margins, time_limit)
        action = _action(core, x, lo, hi)
        p = core.outputs(np.broadcast_to(action, core.lo.shape))[0][s]
        flow = g.power_flow(load_p, load_q, p[None])
        viol = {k: float(v[0]) for k, v in g.violations(flow).items()}
        rewards, _, outside = core.rewards(p[None], rows=slice(s, s + 1))
        viol["soc_mwh"] = float(outside.sum())
        last = OracleSolution(p, action, rewards[0], viol, dict(info, rounds=round_))
        # re-linearize at each answer; tighten a limit only when that alone did not fix it
        n_bad = tighten_margins(g, flow, margins, apply=round_ > 1)
        if n_bad == 0 and (best is None or last.reward_usd.sum() > best.reward_usd.sum()):
            best = last
        if n_bad == 0 and not info["network_active"]:
            break  # no network row binds: the units' own optimum, exact whatever the point
        if n_bad == 0 and np.max(np.abs(p - p_ref), initial=0.0) < 1e-7:
            break  # feasible and the linearization point is the answer: a fixed point
        p_ref = p
    if best is None:
        last.info["ac_feasible"] = False
        return last
    best.info["ac_feasible"] = True
    return best


def tighten_margins(g, flow: dict, margins: dict, *, apply: bool) -> int:
    """Count the AC violations; with ``apply``, add each excess (+ a small cushion) to its
    limit's margin."""
    vm = flow["vm"][0]
    nr = g.non_ref
    lo_x = np.zeros(g.n_bus)
    hi_x = np.zeros(g.n_bus)
    lo_x[nr] = np.maximum(g.v_min[nr] - vm[nr], 0)
    hi_x[nr] = np.maximum(vm[nr] - g.v_max[nr], 0)
    p = flow["p_sub_mw"][0]
    sub = np.array([max(g.p0_lim[0] - p, 0.0), max(p - g.p0_lim[1], 0.0)])
    line = flow["loading_excess_mva"][0] if len(g.rated) else np.zeros(0)
    count = 0
    for key, ex, cushion in (("v_lo", lo_x, 1e-5), ("v_hi", hi_x, 1e-5), ("sub", sub, 1e-4)):
        bad = ex > TOL
        if apply:
            margins[key][bad] += ex[bad] + cushion
        count += int(bad.sum())
    bad = line > TOL
    if apply:
        margins["line"][bad] += line[bad] + 1e-4
    return count + int(bad.sum()) + int(not flow["converged"][0])


def _action(core, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The env action that reproduces the MILP's outputs."""
    n = core.units.n
    if core.cfg.action_mode == "discrete":
        n_bus = core.grid.n_bus
        return np.rint(x[len(x) - n_bus - n : len(x) - n_bus]).astype(np.int64)
    span = hi - lo
    a = np.where(span > 0, 2.0 * (x[:n] - lo) / np.where(span > 0, span, 1.0) - 1.0, 0.0)
    return np.clip(a, -1.0, 1.0)


def network_rows(core, s: int, p_ref: np.ndarray, margins: dict) -> tuple:
    """Linearized voltage / substation / flow rows over the bus injections y = Σ_{i at b} P_i
    (rows × n_bus: dense over buses, not over units, so the LP stays sparse at 5 000 units)."""
    g, net = core.grid, core.grid.price_net.net
    flow = g.power_flow(core.load_p[s : s + 1], core.load_q[s : s + 1], p_ref[None])
    y_ref = g.unit_to_bus @ p_ref
    x_bus = y_ref - g.load_to_bus @ core.load_p[s]
    q_bus = -(g.load_to_bus @ core.load_q[s])
    lin = _linearize(net, x_bus[None], q_bus[None])
    nr = g.non_ref
    sv = net.voltage_sensitivity[nr]
    v0 = flow["vm"][0][nr] - sv @ y_ref
    gsub = -(1.0 - lin["LF"][0])  # ∂P_sub/∂y_b: the substation supplies what DERs don't
    s0 = flow["p_sub_mw"][0] - gsub @ y_ref
    rows = [sv, gsub[None, :]]
    lb = [g.v_min[nr] + margins["v_lo"][nr] - v0, [g.p0_lim[0] + margins["sub"][0] - s0]]
    ub = [g.v_max[nr] - margins["v_hi"][nr] - v0, [g.p0_lim[1] - margins["sub"][1] - s0]]
    if len(g.rated):
        where = {int(b): i for i, b in enumerate(net.branch_ids)}
        br = np.array([where[int(b)] for b in g.pf.net.branch_ids[g.rated]])
        sf = net.flow_sensitivity[0][br]
        f0 = lin["F"][0][br] - sf @ y_ref
        rate = g.pf.net.rate_pu[g.rated] * g.pf.net.base_mva - margins["line"]
        rows.append(sf)
        lb.append(-rate - f0)
        ub.append(rate - f0)
    return np.vstack(rows), np.concatenate(lb), np.concatenate(ub)


class _Rows:
    """Constraint rows as COO triplets (one sparse matrix at the end: far cheaper than
    stacking many small scipy.sparse blocks)."""

    def __init__(self) -> None:
        self.r, self.c, self.v, self.lo, self.hi = [], [], [], [], []
        self.n = 0

    def add(self, terms: list[tuple[np.ndarray, np.ndarray]], lo, hi) -> None:
        """Rows ``lo ≤ Σ coef · x[col] ≤ hi``: ``terms`` = [(cols, coefs)], each (rows,)."""
        k = len(terms[0][0])
        for cols, coef in terms:
            self.r.append(self.n + np.arange(k))
            self.c.append(np.asarray(cols))
            self.v.append(np.broadcast_to(coef, (k,)))
        self.lo.append(np.broadcast_to(lo, (k,)))
        self.hi.append(np.broadcast_to(hi, (k,)))
        self.n += k

    def coo(self, r, c, v, lo, hi) -> None:
        """Rows given as triplets (local row numbers ``r``)."""
        self.r.append(self.n + np.asarray(r))
        self.c.append(np.asarray(c))
        self.v.append(np.asarray(v, float))
        self.lo.append(lo)
        self.hi.append(hi)
        self.n += len(lo)

    def dense(self, cols: np.ndarray, block: np.ndarray, lo, hi) -> None:
        """Rows ``lo ≤ block @ x[cols] ≤ hi`` with a dense ``block`` (rows × len(cols))."""
        k = block.shape[0]
        rr, cc = np.nonzero(block)
        self.r.append(self.n + rr)
        self.c.append(cols[cc])
        self.v.append(block[rr, cc])
        self.lo.append(lo)
        self.hi.append(hi)
        self.n += k

    def matrix(self, n_var: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        a = sp.csr_matrix(
            (np.concatenate(self.v), (np.concatenate(self.r), np.concatenate(self.c))),
            shape=(self.n, n_var),
        )
        return a, np.concatenate(self.lo).astype(float), np.concatenate(self.hi).astype(float)


def _solve_milp(core, s, p_ref, margins, time_limit) -> tuple[np.ndarray, dict]:
    """Solve without storage binaries; give a binary to each unit that charges and
    discharges at once, and solve again, until none does (the optimum only does that where
    it pays: a unit above its band burning energy, or paid to charge)."""
    n, m = core.units.n, len(core.grid.st_idx)
    binary = np.zeros(m, bool)
    while True:
        x, info = _solve(core, s, p_ref, margins, time_limit, binary=binary)
        both = np.minimum(x[n : n + m], x[n + m : n + 2 * m]) > 1e-9
        if not (both & ~binary).any():
            info["storage_binaries"] = int(binary.sum())
            return x, info
        binary |= both


def _solve(core, s, p_ref, margins, time_limit, *, binary: np.ndarray) -> tuple[np.ndarray, dict]:
    """Variables [P (N) | P_d, P_c, u, x_lo, x_hi (per storage) | ℓ (N, discrete only)]."""
    g, u, cfg, dt = core.grid, core.units, core.cfg, core.dt_h
    n, st = u.n, g.st_idx
    m = len(st)
    disc = cfg.action_mode == "discrete"
    n_bus = g.n_bus
    n_var = n + 5 * m + (n if disc else 0) + n_bus
    y = n_var - n_bus + np.arange(n_bus)  # bus injection columns
    lo, hi = core.lo[s], core.hi[s]
    lam = core.lmp_bus[s, g.unit_bus_pos]
    c = np.zeros(n_var)
    c[:n] = -(lam - u.cost_usd_per_mwh) * dt
    c[g.reserve_idx] += cfg.reserve_bonus_usd_per_mwh * dt
    c[n + 3 * m : n + 5 * m] = cfg.soc_penalty_usd_per_mwh
    vlo, vhi = np.zeros(n_var), np.zeros(n_var)
    vlo[:n], vhi[:n] = lo, hi
    vhi[n : n + m] = np.maximum(hi[st], 0)
    vhi[n + m : n + 2 * m] = np.maximum(-lo[st], 0)
    vhi[n + 2 * m : n + 3 * m] = binary
    vhi[n + 3 * m : n + 5 * m] = np.inf
    vlo[y], vhi[y] = -np.inf, np.inf
    integrality = np.zeros(n_var)
    integrality[n + 2 * m : n + 3 * m] = binary
    rows = _Rows()
    _storage_rows(core, s, rows, binary)
    if disc:
        vhi[n + 5 * m : n + 5 * m + n] = np.where(hi > lo, core.n_levels - 1, 0)
        integrality[n + 5 * m : n + 5 * m + n] = 1
        step = (hi - lo) / (core.n_levels - 1)
        rows.add([(np.arange(n), 1.0), (n + 5 * m + np.arange(n), -step)], lo, lo)
    net_a, net_lo, net_hi = network_rows(core, s, p_ref, margins)
    # y_b − Σ_{i at b} P_i = 0, then the network rows over y
    rows.coo(
        np.r_[np.arange(n_bus), g.unit_bus_pos],
        np.r_[y, np.arange(n)],
        np.r_[np.ones(n_bus), -np.ones(n)],
        np.zeros(n_bus),
        np.zeros(n_bus),
    )
    rows.dense(y, net_a, net_lo, net_hi)
    x, info = _highs(c, integrality, vlo, vhi, rows.matrix(n_var), time_limit)
    act = net_a @ x[y]
    info["network_active"] = bool(np.any((act - net_lo < 1e-9) | (net_hi - act < 1e-9)))
    return x, info


def _highs(c, integrality, vlo, vhi, rows: tuple, time_limit: float) -> tuple[np.ndarray, dict]:
    """Solve with highspy directly (scipy's milp wrapper costs more than HiGHS here)."""
    a, r_lo, r_hi = rows
    h = quiet_highs()
    h.setOptionValue("time_limit", float(time_limit))
    big = h.getInfinity()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(c), a.shape[0]
    lp.col_cost_ = c
    lp.col_lower_, lp.col_upper_ = np.clip(vlo, -big, big), np.clip(vhi, -big, big)
    lp.row_lower_, lp.row_upper_ = np.clip(r_lo, -big, big), np.clip(r_hi, -big, big)
    csc = a.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data
    if integrality.any():
        kinds = [highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger]
        lp.integrality_ = [kinds[int(i)] for i in integrality]
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    sol = h.getSolution()
    timed_out = status == highspy.HighsModelStatus.kTimeLimit and sol.value_valid
    if status != highspy.HighsModelStatus.kOptimal and not timed_out:
        raise RuntimeError(
            f"der-dispatch oracle: HiGHS ended with '{h.modelStatusToString(status)}': no "
            "dispatch of the units keeps the (linearized) voltage band, substation range and "
            "branch ratings at this state; widen v_limits or check the loads"
        )
    gap = float(h.getInfo().mip_gap) if integrality.any() else 0.0
    info = {"status": "time_limit" if timed_out else "optimal", "mip_gap": gap}
    return np.asarray(sol.col_value), info


def _storage_rows(core, s: int, rows: _Rows, binary: np.ndarray) -> None:
    """P = P_d − P_c, exclusivity (binary), and the eq.-3 band excess in MWh:
    x_lo ≥ e_min − E', x_hi ≥ E' − e_max with E' = E − Δt(P_d/η_d − η_c P_c)."""
    g, u, dt = core.grid, core.units, core.dt_h
    n, st = u.n, g.st_idx
    m = len(st)
    if m == 0:
        return
    e = core.energy[s, st]
    lo, hi = core.lo[s, st], core.hi[s, st]
    i = np.arange(m)
    pd_, pc, uu, xlo, xhi = (n + k * m + i for k in range(5))
    d_e = dt / u.eff_discharge[st]  # MWh drawn per MW discharged
    c_e = dt * u.eff_charge[st]  # MWh stored per MW charged
    rows.add([(st, 1.0), (pd_, -1.0), (pc, 1.0)], 0.0, 0.0)
    b = np.flatnonzero(binary)  # exclusivity rows only where the LP needed them
    if len(b):
        rows.add([(pd_[b], 1.0), (uu[b], -np.maximum(hi[b], 0))], -np.inf, 0.0)
        rows.add([(pc[b], 1.0), (uu[b], np.maximum(-lo[b], 0))], -np.inf, np.maximum(-lo[b], 0))
    rows.add([(xlo, 1.0), (pd_, -d_e), (pc, c_e)], u.e_min_mwh[st] - e, np.inf)
    rows.add([(xhi, 1.0), (pd_, d_e), (pc, -c_e)], e - u.e_max_mwh[st], np.inf)
