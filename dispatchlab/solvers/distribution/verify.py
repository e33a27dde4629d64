"""Discrete settings (OLTC taps, capacitor steps) and the AC power-flow check of a solution.

A relaxed solution gives each OLTC a continuous ratio ``tap = sqrt(v_i / w)`` and each
capacitor a continuous susceptance ``B = q_c / v``; :func:`round_settings` moves them to the
nearest position (``tap_min + k (tap_max − tap_min)/(tap_steps − 1)``, ``B = k·q_step``).
:func:`ac_check` writes a solution into the Case (``case.replace``), runs pandapower's
Newton–Raphson per period (:func:`~dispatchlab.solvers.powerflow.run_ac_powerflow`) and returns
the AC voltages and losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatchlab.solvers.distribution.feeder import Feeder
from dispatchlab.solvers.powerflow import PowerFlowError, run_ac_powerflow


@dataclass
class Settings:
    """Per-period OLTC ratios (T × n_oltc) and capacitor susceptances (T × n_cap, p.u.)."""

    taps: np.ndarray
    caps: np.ndarray

    @property
    def tap_a(self) -> np.ndarray:
        return 1.0 / self.taps**2


def relaxed_settings(model) -> Settings:
    """The continuous taps and capacitor susceptances of a solved model."""
    fd, var = model.feeder, model.var
    v = var["v"].value
    if model.discrete == "fixed":
        a = model.params["tap_a"].value
        return Settings(1.0 / np.sqrt(a), model.params["cap_b"].value.copy())
    taps = np.sqrt(v[:, fd.f[fd.oltc]] / np.maximum(var["w_oltc"].value, 1e-9))
    taps = np.clip(taps, fd.tap_min[fd.oltc], fd.tap_max[fd.oltc])
    cap_pos = fd.ders["pos"].to_numpy()[model.dev.cap]
    caps = var["q_cap"].value / v[:, cap_pos] if len(cap_pos) else np.zeros((fd.T, 0))
    return Settings(taps, caps)


def has_discrete(model) -> bool:
    """Whether the feeder has OLTCs or stepped capacitors (integer settings)."""
    caps = model.feeder.ders.iloc[model.dev.cap]
    return bool(model.feeder.oltc.any() or (caps["n_steps"] > 0).any())


def round_settings(model, s: Settings, rule: str = "nearest") -> Settings:
    """Integer tap positions and capacitor steps: ``nearest`` or ``towards_neutral`` (the
    position on the side of tap 1.0 / the step on the side of 0); continuous capacitors
    (``n_steps == 0``) keep their value."""
    fd = model.feeder
    lo, hi, n = fd.tap_min[fd.oltc], fd.tap_max[fd.oltc], fd.tap_steps[fd.oltc]
    step = (hi - lo) / np.maximum(n - 1, 1)
    pos = (s.taps - lo) / step
    if rule == "nearest":
        k_tap = np.round(pos)
    else:
        neutral = (1.0 - lo) / step
        k_tap = np.where(pos > neutral, np.floor(pos + 1e-3), np.ceil(pos - 1e-3))
    taps = lo + np.clip(k_tap, 0, n - 1) * step
    caps_t = fd.ders.iloc[model.dev.cap]
    q_step = caps_t["q_step_mvar"].to_numpy() / fd.base_mva
    n_steps = caps_t["n_steps"].to_numpy()
    stepped = n_steps > 0
    ratio = s.caps / np.where(stepped, q_step, 1.0)
    k = np.round(ratio) if rule == "nearest" else np.floor(ratio + 1e-3)
    caps = np.where(stepped, np.clip(k, 0, n_steps) * q_step, s.caps)
    return Settings(taps, caps)


def period_case(case, fd: Feeder, t: int, tables: dict):
    """The Case of period ``t`` with the solution's DER/gen set-points, capacitors and taps.

    ``tables``: ``der_p``, ``der_q`` (T × n_der, MW/MVAr, rows of ``fd.ders``), ``gen_p``
    (T × n_gen, MW) and :class:`Settings` under ``settings``.
    """
    snap = case.at(fd.times[t]) if fd.from_series else case
    ders = snap.ders
    ids = fd.ders.index
    ders.loc[ids, "p_mw"] = tables["der_p"][t]
    ders.loc[ids, "q_mvar"] = tables["der_q"][t]
    gens = snap.gens
    gens.loc[fd.gens.index, "p_mw"] = tables["gen_p"][t]
    br = snap.branches
    s: Settings = tables["settings"]
    br.loc[fd.branch_ids[fd.oltc], "tap_ratio"] = s.taps[t]
    return snap.replace(ders=ders, gens=gens, branches=br)


def ac_check(case, fd: Feeder, tables: dict, *, fast: bool = True) -> dict[str, np.ndarray]:
    """AC power flow of every period: ``vm`` (T × N, p.u.), ``loss_mw`` (T,), ``slack_p_mw``,
    ``branch_loss_mw`` (T × L).

    ``fast=False`` builds each period's Case (:func:`period_case`) and calls
    :func:`run_ac_powerflow`. ``fast=True`` (default) converts the first period's Case to
    pandapower once and only updates loads, DER/gen set-points, capacitor shunts and OLTC
    ratios in that net before each ``runpp`` (same solver settings); the conversion costs ~1 s
    per call, the power flow itself milliseconds. Both give the same voltages (tested).
    """
    if not fast:
        pfs = [run_ac_powerflow(period_case(case, fd, t, tables)) for t in range(fd.T)]
        return _collect(fd, [(pf.bus["vm_pu"], pf.branch["loss_mw"], pf.slack_p_mw) for pf in pfs])

    from dispatchlab.cases.pandapower_io import to_pandapower

    net = to_pandapower(period_case(case, fd, 0, tables))
    out, how = [], []
    for t in range(fd.T):
        _update_net(net, fd, t, tables)
        start = None
        if "vm_model" in tables:
            start = pd.DataFrame(
                {"vm_pu": tables["vm_model"][t], "va_degree": tables["va_model"][t]},
                index=fd.bus_ids,
            )
        how.append(_runpp(net, f"AC check of '{case.name}', period {t}", start))
        vm = pd.Series(net.res_bus["vm_pu"].to_numpy(), index=net.bus["dl_id"].astype("int64"))
        loss = pd.concat(
            [
                pd.Series(net[r]["pl_mw"].to_numpy(), index=net[e]["dl_id"].astype("int64"))
                for e, r in (("line", "res_line"), ("trafo", "res_trafo"))
                if len(net[e])
            ]
        )
        out.append((vm, loss, float(net.res_ext_grid["p_mw"].sum())))
    return {**_collect(fd, out), "algorithm": how}


def _runpp(net, label: str, start: pd.DataFrame | None = None) -> str:
    """pandapower Newton–Raphson from a flat start (as ``run_ac_powerflow``); if it diverges,
    from the model's own voltages (``start``: ``vm_pu``, ``va_degree`` by bus), plain and
    with Iwamoto's step control. Plain NR can overshoot from a flat start when an off-nominal
    tap sits on a near-zero impedance (ieee123's regulators, x = 1.7e-4 p.u.). Returns how it
    converged (``nr/flat`` …)."""
    import pandapower as pp

    tries = [("nr", "flat")]
    if start is not None:
        tries += [("nr", "results"), ("iwamoto_nr", "results")]
    for algorithm, init in tries:
        if init == "results":
            net.res_bus = start.reindex(net.bus.index).copy()
        try:
            pp.runpp(
                net,
                algorithm=algorithm,
                calculate_voltage_angles=True,
                init=init,
                tolerance_mva=1e-9,
                max_iteration=30,
            )
            return f"{algorithm}/{init}"
        except pp.powerflow.LoadflowNotConverged:
            continue
    raise PowerFlowError(f"{label}: Newton–Raphson did not converge")


def model_angles(fd: Feeder, P: np.ndarray, Q: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Bus angles (T × N, degrees) of a branch-flow solution: along each branch
    ``θ_i − θ_j = atan((x P − r Q) / (w − r P − x Q))`` (Farivar & Low 2013, angle recovery)."""
    beta = np.arctan2(fd.x * P - fd.r * Q, w - fd.r * P - fd.x * Q)
    va = np.zeros((fd.T, fd.N))
    for b in fd.order:
        va[:, fd.t[b]] = va[:, fd.f[b]] - beta[:, b]
    return np.degrees(va)


def _collect(fd: Feeder, rows: list) -> dict[str, np.ndarray]:
    vm = np.array([v.reindex(fd.bus_ids).to_numpy() for v, _, _ in rows])
    branch_loss = np.array([b.reindex(fd.branch_ids).fillna(0.0).to_numpy() for _, b, _ in rows])
    loss = np.array([b.sum() for _, b, _ in rows])
    return {
        "vm": vm,
        "loss_mw": loss,
        "slack_p_mw": np.array([s for _, _, s in rows]),
        "branch_loss_mw": branch_loss,
    }


def _update_net(net, fd: Feeder, t: int, tables: dict) -> None:
    """Period ``t``'s loads, set-points, capacitors and taps written into the tagged net."""
    kind = fd.ders["kind"]
    der_p = pd.Series(tables["der_p"][t], index=fd.ders.index)
    der_q = pd.Series(tables["der_q"][t], index=fd.ders.index)
    loads = pd.Series(fd_loads(fd, t), dtype=float)
    for element, table, values, sign, col in (
        ("load", "loads", loads, 1.0, "p_mw"),
        ("load", "loads", pd.Series(fd_loads(fd, t, "q")), 1.0, "q_mvar"),
        ("sgen", "ders", der_p, 1.0, "p_mw"),
        ("sgen", "ders", der_q, 1.0, "q_mvar"),
        ("load", "ders", der_p[kind == "flexible_load"], -1.0, "p_mw"),
        ("shunt", "ders", der_q[kind == "capacitor"], -1.0, "q_mvar"),
        ("sgen", "gens", pd.Series(tables["gen_p"][t], index=fd.gens.index), 1.0, "p_mw"),
    ):
        df = net[element]
        if not len(df) or "dl_table" not in df:
            continue
        rows = df.index[(df["dl_table"] == table) & df["dl_id"].isin(values.index)]
        ids = df.loc[rows, "dl_id"].astype("int64")
        net[element].loc[rows, col] = sign * values.reindex(ids).to_numpy()
    if fd.oltc.any():
        taps = pd.Series(tables["settings"].taps[t], index=fd.branch_ids[fd.oltc])
        tr = net.trafo
        rows = tr.index[tr["dl_id"].isin(taps.index)]
        ratio = taps.reindex(tr.loc[rows, "dl_id"].astype("int64")).to_numpy()
        net.trafo.loc[rows, "tap_step_percent"] = (ratio - 1.0) * 100


def fd_loads(fd: Feeder, t: int, which: str = "p") -> dict:
    """Load id -> MW (or MVAr) in period ``t`` (kept on the Feeder as ``load_table``)."""
    table = fd.load_table_p if which == "p" else fd.load_table_q
    return dict(zip(table.columns, table.iloc[t].to_numpy(), strict=True))


def as_frame(cols: dict[str, np.ndarray], ids, times: pd.Index, name: str) -> pd.DataFrame:
    """(T × n) arrays as a table indexed by id (one period) or by ``(id, period)``."""
    if len(times) == 1:
        return pd.DataFrame(
            {k: np.asarray(v)[0] for k, v in cols.items()}, index=pd.Index(ids, name=name)
        )
    idx = pd.MultiIndex.from_product([ids, times], names=[name, "period"])
    return pd.DataFrame({k: np.asarray(v).T.reshape(-1) for k, v in cols.items()}, index=idx)
