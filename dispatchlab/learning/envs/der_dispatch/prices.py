"""Nodal prices for ``der-dispatch``: the exact DLMPs of the feeder, many states in one call.

seed000 §3.2: the regional agent broadcasts an LMP per bus every 5 min, the marginal cost of
the economic dispatch of eq. 1 (min Σ C_i(P_i) s.t. Σ P_i = D, F(P) ≤ F_max). The exact
counterpart used here is the DLMP LP of ``solve(case, "dlmp")``
(:mod:`dispatchlab.solvers.problems.linearized`, seed003 eq. 32): the substation at λ0 and the
PV / flexible-load units at their bids clear the demand on the linearized AC network (losses
through loss factors, voltage and flow limits through sensitivities), linearized at the
state's own injections and once more at the LP's dispatch (``iterations=2``), and the price of
a MW withdrawn at bus i is read from the duals. We chose it over LinDistFlow because it prices
losses (a lossless LinDistFlow gives one price at every bus of an unconstrained feeder) and it
is an LP (HiGHS, milliseconds).

Why not call ``solve(case.at(t), "dlmp")`` per broadcast: that builds a cvxpy model each time
(~45 ms) and a Case (~20 ms), 288 broadcasts per day and scenario; here the same LP is written
as sparse arrays, block-diagonal over many broadcasts, and solved by HiGHS through
``scipy.optimize.linprog`` (tested equal to ``solve(case.at(t), "dlmp")``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from dispatchlab.solvers.problems.linearized import LinearizedPF

#: broadcasts per LP: keeps each block-diagonal LP small enough to stay fast
CHUNK = 24


@dataclass(frozen=True)
class PriceState:
    """What a price model sees at a broadcast; arrays are (S, n_bus) in ``bus_ids`` order.

    ``der_p_mw``, ``vm_pu`` and ``va_deg`` are those of the last step's power flow (the
    case's flat start before the first step); ``pv_available_mw`` is the PV the units could
    inject now (realized, not forecast).
    """

    time_h: np.ndarray  # (S,) time of day of the broadcast, hours
    bus_ids: np.ndarray  # (n_bus,)
    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray
    pv_available_mw: np.ndarray
    der_p_mw: np.ndarray
    vm_pu: np.ndarray
    va_deg: np.ndarray


@dataclass(frozen=True)
class PriceNetwork:
    """The static data of the DLMP LP: network, limits, substation and bid groups."""

    net: LinearizedPF
    v_min: np.ndarray  # (n_bus,)
    v_max: np.ndarray
    flow_limit_mw: np.ndarray  # (n_branch,), inf = unmonitored
    p0_lim: tuple[float, float]  # substation MW range
    group_bus: np.ndarray  # (m,) bus position of each bid group
    group_is_pv: np.ndarray  # (m,) bool: upper bound = PV available at that bus
    group_p_min: np.ndarray  # (m,) MW (PV: 0)
    group_p_max: np.ndarray  # (m,) MW (PV: ignored, availability is used)
    group_cost: np.ndarray  # (m,) $/MWh


def exact_lmps(
    pn: PriceNetwork, state: PriceState, lam0: np.ndarray, *, iterations: int = 2
) -> np.ndarray:
    """DLMPs ($/MWh, shape (S, n_bus)) for every state of ``state`` (its leading axis).

    ``lam0`` (S,) is the substation price. Raises ``RuntimeError`` naming the state when the
    LP is infeasible (e.g. voltage limits that no dispatch can meet).
    """
    n_s = state.load_p_mw.shape[0]
    out = np.empty((n_s, pn.net.n))
    for c0 in range(0, n_s, CHUNK):
        sl = slice(c0, min(c0 + CHUNK, n_s))
        d = state.load_p_mw[sl]  # MW withdrawn per bus
        q_inj = -state.load_q_mvar[sl]
        ub = _group_upper(pn, state.pv_available_mw[sl])
        x_lin = -d
        for _ in range(iterations):
            lin = _linearize(pn.net, x_lin, q_inj)
            pk, lmp = _solve_block(pn, d, lin, ub, lam0[sl], c0)
            a = np.zeros_like(d)
            for j, b in enumerate(pn.group_bus):
                a[:, b] += pk[:, j]
            x_lin = a - d  # re-linearize at the LP's dispatch, as solve_dlmp does
        out[sl] = lmp
    return out


def _group_upper(pn: PriceNetwork, pv_avail: np.ndarray) -> np.ndarray:
    ub = np.broadcast_to(pn.group_p_max, (pv_avail.shape[0], len(pn.group_bus))).copy()
    ub[:, pn.group_is_pv] = pv_avail[:, pn.group_bus[pn.group_is_pv]]
    return ub


def _linearize(net: LinearizedPF, x: np.ndarray, q: np.ndarray) -> dict:
    """F, V, total loss L and loss factors LF at injections x (K × n, MW), vectorised."""
    dv = (np.concatenate([x, q], axis=1) / net.base_mva) @ net.sensitivity.T
    delta, v = dv[:, : net.n], net.v0 + dv[:, net.n :]
    dd, dvv = delta[:, net.f] - delta[:, net.t], v[:, net.f] - v[:, net.t]
    pf = net.base_mva * (net.b * dd + net.g * dvv)
    qf = net.base_mva * (-net.g * dd + net.b * dvv)
    vf2 = v[:, net.f] ** 2
    loss = (net.base_mva * ((pf / net.base_mva) ** 2 + (qf / net.base_mva) ** 2) * net.r / vf2).sum(
        axis=1
    )
    w = 2.0 * net.r / vf2 / net.base_mva
    dp, dq = net.flow_sensitivity
    lf = (w * pf) @ dp + (w * qf) @ dq
    return {"x": x, "F": pf, "V": v, "L": loss, "LF": lf}


def _solve_block(pn, d, lin, ub, lam0, offset) -> tuple[np.ndarray, np.ndarray]:
    """One block-diagonal LP over K states; returns dispatch (K, m) and DLMPs (K, n)."""
    k_n, m = d.shape[0], len(pn.group_bus)
    lp, kept, sens = _assemble(pn, d, lin, ub, lam0)
    res = linprog(**lp, method="highs")
    if res.status != 0:
        raise RuntimeError(
            f"exact LMP: the DLMP LP of broadcast states {offset}…{offset + k_n - 1} is "
            f"{res.message!r}; check the voltage limits and the substation range"
        )
    x = res.x.reshape(k_n, m + 1)
    m_eq = res.eqlin.marginals  # ∂objective/∂b_eq
    # DLMP_i = ∂objective/∂d_i = Σ_rows marginal · ∂b/∂d_i (the linearization is held fixed)
    lmp = m_eq[:, None] * (lin["LF"] - 1.0)
    if lp["A_ub"] is not None:
        m_ub = np.zeros((k_n, 2 * len(sens)))
        rows = np.concatenate([np.full(len(x), k) for k, x in enumerate(kept)])
        m_ub[rows, np.concatenate(kept)] = res.ineqlin.marginals
        lmp += (m_ub[:, : len(sens)] - m_ub[:, len(sens) :]) @ sens
    return x[:, 1:], lmp


def _assemble(pn, d, lin, ub, lam0) -> tuple[dict, list, np.ndarray]:
    """linprog arguments of K states (columns [p0, p_1..p_m] per state; the balance row, then
    the ±voltage and ±flow rows some dispatch within the bounds can reach: the others have a
    zero dual, so leaving them out changes neither the optimum nor the prices)."""
    net = pn.net
    k_n = d.shape[0]
    mon = np.flatnonzero(np.isfinite(pn.flow_limit_mw))
    vb = np.setdiff1d(np.arange(net.n), [net.ref])
    sens = np.vstack([net.voltage_sensitivity[vb], net.flow_sensitivity[0][mon]])  # per MW
    lim_hi = np.r_[pn.v_max[vb], pn.flow_limit_mw[mon]]
    lim_lo = np.r_[pn.v_min[vb], -pn.flow_limit_mw[mon]]
    g = sens[:, pn.group_bus]
    g2 = np.vstack([g, -g])
    blocks_eq, blocks_ub, b_eq, b_ub, kept = [], [], [], [], []
    for k in range(k_n):
        lf = lin["LF"][k]
        base = np.r_[lin["V"][k][vb], lin["F"][k][mon]]
        shift = sens @ (d[k] + lin["x"][k])
        blocks_eq.append(np.r_[-1.0, lf[pn.group_bus] - 1.0][None, :])
        b_eq.append(-d[k].sum() - lin["L"][k] + lf @ (d[k] + lin["x"][k]))
        rhs = np.r_[lim_hi - base + shift, -lim_lo + base - shift]
        reach = np.maximum(g2 * pn.group_p_min, g2 * ub[k]).sum(axis=1)
        keep = np.flatnonzero(reach > rhs - 1e-9)
        kept.append(keep)
        blocks_ub.append(np.hstack([np.zeros((len(keep), 1)), g2[keep]]))
        b_ub.append(rhs[keep])
    any_ub = sum(len(x) for x in kept) > 0
    lp = {
        "c": np.concatenate([np.r_[lam0[k], pn.group_cost] for k in range(k_n)]),
        "A_ub": sp.block_diag(blocks_ub, format="csr") if any_ub else None,
        "b_ub": np.concatenate(b_ub) if any_ub else None,
        "A_eq": sp.block_diag(blocks_eq, format="csr"),
        "b_eq": np.asarray(b_eq),
        "bounds": np.c_[
            np.tile(np.r_[pn.p0_lim[0], pn.group_p_min], k_n),
            np.concatenate([np.r_[pn.p0_lim[1], ub[k]] for k in range(k_n)]),
        ],
    }
    return lp, kept, sens


def price_network(case, units, *, v_limits=None, rating: str = "rate_a_mva") -> PriceNetwork:
    """The DLMP LP data of ``case`` with the env's ``units`` as bid groups (one per bus, kind
    and bid): PV at its bid (0 $/MWh) up to its availability, flexible load at its bid."""
    from dispatchlab.learning.envs.der_dispatch.units import FLEX, PV
    from dispatchlab.solvers.problems.linearized import dlmp_model

    model = dlmp_model(case, v_limits=v_limits, rating=rating)
    net = model.net
    pos = {int(b): i for i, b in enumerate(net.bus_ids)}
    keys: dict[tuple, list[int]] = {}
    for i in np.flatnonzero(np.isin(units.kind, (PV, FLEX))):
        key = (pos[int(units.bus_id[i])], int(units.kind[i]), float(units.cost_usd_per_mwh[i]))
        keys.setdefault(key, []).append(int(i))
    groups = sorted(keys)
    idx = [np.asarray(keys[g]) for g in groups]
    return PriceNetwork(
        net=net,
        v_min=model.v_limits[0],
        v_max=model.v_limits[1],
        flow_limit_mw=model.flow_limits,
        p0_lim=model.p0_lim,
        group_bus=np.array([g[0] for g in groups], int),
        group_is_pv=np.array([g[1] == PV for g in groups], bool),
        group_p_min=np.array([units.p_min_mw[i].sum() for i in idx]),
        group_p_max=np.array([units.p_max_mw[i].sum() for i in idx]),
        group_cost=np.array([g[2] for g in groups]),
    )
