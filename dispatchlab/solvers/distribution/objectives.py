"""Objectives of the distribution OPF, and seed001's voltage-security cost evaluated exactly.

All objectives are sums over the ``T`` periods of the horizon.

* ``losses``: ``Σ_t Δt Σ_b r_b ℓ_b`` (MWh; MW for one snapshot). LinDistFlow has no ℓ, so it
  uses ``r_b (P_b² + Q_b²)`` (the loss at ``v = 1``), a convex QP.
* ``voltage_deviation``: ``Σ_t Σ_n |V_n − 1|`` with ``V ≈ (1 + v)/2`` (p.u.).
* ``cost``: generator ``c1 P + c2 P²``, DER ``cost_usd_per_mwh``, spilled PV/wind at
  ``curtail_cost_usd_per_mwh`` (the losses are paid through the substation import).
* ``seed001`` (information-fusion MADDPG paper, §4.1.1), band ``[U_min, U_max] = [0.94,
  1.06]`` for every bus and coefficients from :data:`SEED001` (override by ``coefficients``)::

      C = c_loss Σ_t Δt P_loss,t                                                   (loss cost)
        + c_res Σ_t Σ_n ΔU_n,t / (U_max − U_min)                       (over-limit penalty)
        + c_flu Σ_n (1/T) Σ_t (U_n,t − Ū_n)²                  (fluctuation around the mean)
        − c_rew Σ_t Σ_n [1 − ((U_n,t − 1) / (0.5 (U_max − U_min)))²]       (in-band reward)

  with ``ΔU = max(U_min − U, 0) + max(U − U_max, 0)``. The model has ``v = U²``, so it uses
  ``U − 1 ≈ (v − 1)/2`` (first order at 1 p.u.; error ``(1 − U)²/2 ≤ 1.8e-3`` p.u. in the
  band) in the fluctuation and reward terms and ``ΔU ≈ max(U_min² − v, 0)/(2 U_min) + …`` (first
  order at the band edge, so the penalty starts exactly where the band ends). The reward is
  counted for every bus, also outside the band where it turns negative: this keeps it convex
  (the paper's reward restricted to in-band buses is not); out of band the over-limit penalty
  dominates anyway. :func:`seed001_terms` evaluates the paper's cost exactly on given voltages
  (e.g. those of the AC power flow), with the reward only for in-band buses.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

#: seed001's coefficients: c_loss ($/MWh), c_vol_res, c_vol_flu, c_vol_rew
SEED001 = {"c_loss": 44.0, "c_vol_res": 1000.0, "c_vol_flu": 500.0, "c_vol_rew": 5.0}
SEED001 |= {"u_min": 0.94, "u_max": 1.06}  # the paper's band, p.u.
OBJECTIVES = ("losses", "voltage_deviation", "cost", "seed001")
COST_OBJECTIVES = ("cost", "seed001")


def loss_expr(model) -> cp.Expression:
    """Losses in MWh over the horizon (``r ℓ``, or ``r (P² + Q²)`` for LinDistFlow)."""
    fd = model.feeder
    scale = fd.base_mva * fd.dt_h
    if model.formulation == "socp":
        return scale * cp.sum(model.var["l"] @ fd.r)
    keep = fd.r > 0
    r = np.tile(fd.r[keep], (fd.T, 1))
    P, Q = model.var["P"][:, keep], model.var["Q"][:, keep]
    return scale * (cp.sum(cp.multiply(r, cp.square(P))) + cp.sum(cp.multiply(r, cp.square(Q))))


def objective(model, name: str, *, loss_weight: float = 0.0, coefficients=None) -> dict:
    """The objective's terms as cvxpy expressions (their sum is minimised)."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective '{name}'; use one of {OBJECTIVES}")
    terms: dict[str, cp.Expression] = {}
    if name == "losses":
        terms["loss_mwh"] = loss_expr(model)
    elif name == "voltage_deviation":
        terms["voltage_deviation_pu"] = cp.sum(cp.abs(model.var["v"] - 1)) / 2
    elif name == "cost":
        terms.update(_cost_terms(model))
    else:
        terms.update(_seed001_terms(model, {**SEED001, **(coefficients or {})}))
    if loss_weight:
        terms["loss_weight"] = loss_weight * loss_expr(model)
    return terms


def _cost_terms(model) -> dict:
    fd, var, dev = model.feeder, model.var, model.dev
    base, dt, T = fd.base_mva, fd.dt_h, fd.T
    g = fd.gens
    c1 = np.tile(g["cost_c1_usd_per_mwh"].to_numpy() * base * dt, (T, 1))
    c2 = np.tile(g["cost_c2_usd_per_mw2h"].to_numpy() * base**2 * dt, (T, 1))
    terms = {"gen_cost": cp.sum(cp.multiply(c1, var["p_gen"]))}
    if (c2 > 0).any():
        terms["gen_cost"] += cp.sum(cp.multiply(c2, cp.square(var["p_gen"])))
    pq = fd.ders.iloc[dev.pq]
    cost = np.tile(pq["cost_usd_per_mwh"].to_numpy() * base * dt, (T, 1))
    terms["der_cost"] = cp.sum(cp.multiply(cost, var["p_der"]))
    spill = np.tile(pq["curtail_cost_usd_per_mwh"].to_numpy() * base * dt, (T, 1))
    spilled = model.params["der_p_max"] - var["p_der"]
    terms["curtail_cost"] = cp.sum(cp.multiply(spill, spilled))
    return terms


def _seed001_terms(model, c: dict) -> dict:
    fd, v = model.feeder, model.var["v"]
    T = fd.T
    u_min, u_max = c["u_min"], c["u_max"]
    width = u_max - u_min
    below = cp.pos(u_min**2 - v) / (2 * u_min * width)
    above = cp.pos(v - u_max**2) / (2 * u_max * width)
    du = (v - 1) / 2  # U − 1
    # U − Ū with the mean as its own variable: each entry then has two non-zeros (sparse KKT)
    mean = cp.Variable((1, fd.N), name="u_mean")
    model.cons.append(mean == cp.sum(du, axis=0, keepdims=True) / T)
    dev_mean = du - np.ones((T, 1)) @ mean
    scaled = du * (2 / width)  # (U − 1)/(0.5 (U_max − U_min))
    return {
        "loss_cost": c["c_loss"] * loss_expr(model),
        "vol_res": c["c_vol_res"] * (cp.sum(below) + cp.sum(above)),
        "vol_flu": c["c_vol_flu"] * cp.sum_squares(dev_mean) / T,
        "vol_rew": -c["c_vol_rew"] * (T * fd.N - cp.sum_squares(scaled)),
    }


def seed001_terms(
    vm: np.ndarray, loss_mw: np.ndarray, *, dt_h: float = 1.0, coefficients: dict | None = None
) -> dict[str, float]:
    """seed001's cost terms, exactly as in the paper, for voltages ``vm`` (T × N, p.u.) and
    losses ``loss_mw`` (T,). ``vol_rew`` is returned with its sign in the objective (−)."""
    c = {**SEED001, **(coefficients or {})}
    vm = np.atleast_2d(vm)
    vm_min, vm_max = c["u_min"], c["u_max"]
    width = vm_max - vm_min
    du = np.maximum(vm_min - vm, 0) + np.maximum(vm - vm_max, 0)
    inband = du == 0
    reward = np.where(inband, 1 - ((vm - 1) / (0.5 * width)) ** 2, 0.0)
    terms = {
        "loss_cost": c["c_loss"] * float(np.sum(loss_mw) * dt_h),
        "vol_res": c["c_vol_res"] * float(np.sum(du / width)),
        "vol_flu": c["c_vol_flu"] * float(np.sum((vm - vm.mean(axis=0)) ** 2) / len(vm)),
        "vol_rew": -c["c_vol_rew"] * float(np.sum(reward)),
    }
    terms["total"] = sum(terms.values())
    return terms
