"""AC-corrected limits for the linearized (DLMP) LP: the flow-limit / voltage correction loop.

The DLMP LP (:mod:`~.dlmp_lp`) holds the *linearized* flow F_lin and voltage V_lin within their
limits; the AC power flow of its dispatch can land slightly outside (seed003's congestion case:
the tie held at exactly 0.3675 MW by the LP carries 1.8 kW more in AC). The standard remedy of
iterative DC / linearized OPF is a limit offset: for every branch whose AC flow exceeds its
limit, the LP's limit is tightened by the measured mismatch m = |F_ac| − |F_lin| at the
dispatch, F̄' = F̄ − m (likewise V̄' = V̄ − (V_ac − V_lin) and V' = V + (V_lin − V_ac) at buses
outside the band), and the LP is solved again. Offsets only grow (a branch once tightened keeps
the largest mismatch seen), so the loop cannot cycle; it stops when the AC check is clean within
``tol_mw`` / ``tol_pu`` or after ``max_corrections`` rounds.

The corrected limits are the model's limits (:class:`DLMPModel` ``flow_limits`` and
``v_limits``): the reduced DRL-LP and the full LP read the same arrays, so the certificate keeps
DRL-LP equal to the full LP on the corrected problem.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np

from dispatchlab.solvers.problems.linearized import DLMPModel

TOL_MW = 1e-5  #: AC flow above its limit by more than this (0.01 kW) counts as a violation
TOL_PU = 1e-6  #: AC voltage outside its band by more than this counts as a violation


@dataclass
class ACState:
    """The AC power flow of one dispatch against the original limits and the LP's
    linearized flows and voltages at that dispatch."""

    flow_ac: np.ndarray  #: |P| at the sending end (MW) per branch of ``model.net``
    flow_lin: np.ndarray  #: |F_lin| (MW) of the LP at the dispatch
    vm_ac: np.ndarray  #: AC voltage (p.u.) per bus of ``model.net``
    vm_lin: np.ndarray  #: V_lin (p.u.)
    check: dict = field(default_factory=dict)  #: the summary of :func:`ac_check`


@dataclass
class Corrections:
    """Offsets of the limits, grown round by round (MW per branch, p.u. per bus)."""

    flow: np.ndarray
    v_hi: np.ndarray
    v_lo: np.ndarray
    rounds: list[dict] = field(default_factory=list)  #: one record per correction round

    @classmethod
    def none(cls, model: DLMPModel) -> Corrections:
        n_br, n_bus = len(model.flow_limits), model.net.n
        return cls(np.zeros(n_br), np.zeros(n_bus), np.zeros(n_bus))

    def model(self, model: DLMPModel) -> DLMPModel:
        """A shallow copy of ``model`` with the corrected limits (everything else shared)."""
        out = copy.copy(model)
        out.flow_limits = model.flow_limits - self.flow
        out.v_limits = (model.v_limits[0] + self.v_lo, model.v_limits[1] - self.v_hi)
        return out


def ac_state(case, model: DLMPModel, sol: dict) -> ACState:
    """Run pandapower's AC power flow of ``sol``'s dispatch (``p_der`` over ``model.der_ids``)
    and the LP's linearized flows / voltages at it; ``check`` holds the violations against
    ``model``'s limits (the original ones: pass the uncorrected model)."""
    from dispatchlab.solvers.powerflow import run_ac_powerflow

    ders = case.ders
    ders.loc[model.der_ids, "p_mw"] = sol["p_der"]
    ac = run_ac_powerflow(case.replace(ders=ders))
    vm = ac.bus["vm_pu"].reindex(model.net.bus_ids).to_numpy()
    flow = ac.branch["p_from_mw"].reindex(model.net.branch_ids).abs().to_numpy()
    lin, net = sol["lin"], model.net
    dx = sol["x"] - lin["x_b"]
    f_lin = np.abs(lin["F"] + net.flow_sensitivity[0] @ dx)
    v_lin = lin["V"] + net.voltage_sensitivity @ dx
    v_lin[net.ref] = lin["V"][net.ref]  # the reference bus is held, not linearized
    lo, hi = model.v_limits
    v_over = np.maximum(vm - hi, 0) + np.maximum(lo - vm, 0)
    lim = model.flow_limits
    f_over = np.where(np.isfinite(lim), np.maximum(flow - lim, 0.0), 0.0)
    check = {
        "vm_min_pu": float(vm.min()),
        "vm_max_pu": float(vm.max()),
        "voltage_violation_pu": float(v_over.max(initial=0.0)),
        "flow_violation_mw": float(f_over.max(initial=0.0)),
        "loss_mw": float(ac.loss_mw),
        "slack_p_mw": float(ac.slack_p_mw),
        "slack_mismatch_mw": float(ac.slack_p_mw - sol["p0"]),
    }
    return ACState(flow, f_lin, vm, v_lin, check)


def violations(model: DLMPModel, st: ACState, tol_mw: float, tol_pu: float) -> dict:
    """Branch / bus positions whose AC value is outside ``model``'s (original) limits."""
    lim = model.flow_limits
    lo, hi = model.v_limits
    return {
        "flow": np.flatnonzero(np.isfinite(lim) & (st.flow_ac > lim + tol_mw)),
        "v_hi": np.flatnonzero(st.vm_ac > hi + tol_pu),
        "v_lo": np.flatnonzero(st.vm_ac < lo - tol_pu),
    }


def grow(corr: Corrections, model: DLMPModel, st: ACState, bad: dict) -> None:
    """Tighten the violated limits by the AC − linear mismatch (offsets never shrink) and
    record the round."""
    lo, hi = model.v_limits
    f, vh, vl = bad["flow"], bad["v_hi"], bad["v_lo"]
    corr.flow[f] = np.maximum(corr.flow[f], st.flow_ac[f] - st.flow_lin[f])
    corr.v_hi[vh] = np.maximum(corr.v_hi[vh], st.vm_ac[vh] - st.vm_lin[vh])
    corr.v_lo[vl] = np.maximum(corr.v_lo[vl], st.vm_lin[vl] - st.vm_ac[vl])
    net = model.net
    corr.rounds.append(
        {
            "round": len(corr.rounds) + 1,
            "branches": [
                {
                    "branch_id": int(net.branch_ids[i]),
                    "limit_mw": float(model.flow_limits[i]),
                    "ac_flow_mw": float(st.flow_ac[i]),
                    "linear_flow_mw": float(st.flow_lin[i]),
                    "corrected_limit_mw": float(model.flow_limits[i] - corr.flow[i]),
                }
                for i in f
            ],
            "buses": [
                {
                    "bus_id": int(net.bus_ids[i]),
                    "vm_ac_pu": float(st.vm_ac[i]),
                    "vm_linear_pu": float(st.vm_lin[i]),
                    "corrected_band_pu": [
                        float(lo[i] + corr.v_lo[i]),
                        float(hi[i] - corr.v_hi[i]),
                    ],
                }
                for i in np.union1d(vh, vl)
            ],
        }
    )


def summary(model: DLMPModel, corr: Corrections, st: ACState, bad: dict) -> dict:
    """``info["ac_corrections"]``: the rounds, the corrected limits, and what is still violated
    (with a loud warning naming the branches / buses when anything is)."""
    net = model.net
    left = [
        f"branch {int(net.branch_ids[i])}: AC {st.flow_ac[i]:.6f} MW over its limit "
        f"{model.flow_limits[i]:.6f} MW by {1e3 * (st.flow_ac[i] - model.flow_limits[i]):.3f} kW"
        for i in bad["flow"]
    ] + [
        f"bus {int(net.bus_ids[i])}: AC {st.vm_ac[i]:.6f} p.u. outside "
        f"[{model.v_limits[0][i]:.4f}, {model.v_limits[1][i]:.4f}]"
        for i in np.union1d(bad["v_hi"], bad["v_lo"])
    ]
    if left:
        warnings.warn(
            f"the linearized LP's dispatch still violates the AC check after "
            f"{len(corr.rounds)} limit correction(s): " + "; ".join(left),
            RuntimeWarning,
            stacklevel=3,
        )
    tight = np.flatnonzero(corr.flow > 0)
    band = np.flatnonzero((corr.v_lo > 0) | (corr.v_hi > 0))
    lo, hi = model.v_limits
    return {
        "rounds": corr.rounds,
        "n_corrections": len(corr.rounds),
        "corrected_flow_limits_mw": {
            int(net.branch_ids[i]): float(model.flow_limits[i] - corr.flow[i]) for i in tight
        },
        "corrected_v_limits_pu": {
            int(net.bus_ids[i]): (float(lo[i] + corr.v_lo[i]), float(hi[i] - corr.v_hi[i]))
            for i in band
        },
        "ac_violated": bool(left),
        "violations": left,
    }
