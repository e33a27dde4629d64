"""Independent verification of a dispatch Result against its Case.

:func:`verify` re-reads the Case (and its time series) and checks the dispatch numbers of a
:class:`~dispatchlab.solvers.result.Result` without using anything of the model that produced
them: branch flows are recomputed from the bus injections by a fresh DC power flow (a new
B-matrix factorisation), never read from the solver's flow variables. Checked: system power
balance, generator / DER / storage limits, branch ratings and angle-difference limits, ramp
limits and state-of-charge dynamics (multi-period), reserve headroom and requirements. With
``ac=True`` every period is also run through pandapower's AC power flow with the dispatch as
set-points, reporting voltage and thermal violations and how much the slack generator has to
deviate from its dispatch (the losses a DC dispatch ignores).

Learned dispatchers use the same check: build a Result-like table set and call :func:`verify`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dispatchlab.solvers.data import GENERATING_DERS
from dispatchlab.solvers.network import dc_network

VIOLATION_COLUMNS = ["element", "id", "period", "quantity", "value", "limit", "amount"]
AC_SUMMARY = ("vm_min_pu", "vm_min_bus", "vm_max_pu", "max_loading_pct", "slack_q_mvar")


@dataclass
class VerificationReport:
    """Violations found by :func:`verify` (one row each, ``amount`` > 0 is by how much)."""

    case_name: str
    problem: str
    violations: pd.DataFrame
    checks: list[str] = field(default_factory=list)
    flows: pd.DataFrame = field(default_factory=pd.DataFrame)  # recomputed DC flows, MW
    ac: pd.DataFrame | None = None  # per period: slack mismatch, losses, voltages

    @property
    def ok(self) -> bool:
        return self.violations.empty

    def summary(self) -> dict:
        v = self.violations
        out = {
            "case": self.case_name,
            "problem": self.problem,
            "ok": self.ok,
            "checks": ", ".join(self.checks),
            "violations": len(v),
            "by_quantity": v.groupby("quantity").size().to_dict() if len(v) else {},
            "max_amount": float(v["amount"].max()) if len(v) else 0.0,
        }
        if self.ac is not None and len(self.ac):
            out["ac_slack_mismatch_mw"] = float(self.ac["slack_mismatch_mw"].abs().max())
            out["ac_loss_mw"] = float(self.ac["loss_mw"].max())
            out["ac_vm_min_pu"] = float(self.ac["vm_min_pu"].min())
            out["ac_vm_max_pu"] = float(self.ac["vm_max_pu"].max())
        return out

    def __repr__(self) -> str:
        return (
            f"VerificationReport({self.case_name}: {'ok' if self.ok else 'VIOLATIONS'}, "
            f"{len(self.violations)} violation(s), checks={self.checks})"
        )


@dataclass
class _Dispatch:
    """The numbers of a Result and the limits of its Case, as (T, n) arrays."""

    times: pd.Index
    multi: bool
    dt_h: float
    gen_ids: np.ndarray
    gen: np.ndarray
    gen_pmax: np.ndarray
    load_ids: np.ndarray
    load: np.ndarray
    der_ids: np.ndarray
    der: np.ndarray
    der_pmax: np.ndarray
    sto_ids: np.ndarray
    charge: np.ndarray
    discharge: np.ndarray
    soc: np.ndarray
    shed_bus: np.ndarray  # (T, bus)
    loss: np.ndarray  # (T, 1) modelled losses (``system.loss_mw``; 0 in a lossless model)


def verify(
    case,
    result,
    *,
    ac: bool = False,
    tol_mw: float = 1e-3,
    network: bool | None = None,
    rating: str = "rate_a_mva",
) -> VerificationReport:
    """Check ``result`` (a dispatch of ``case``) independently; see the module docstring.

    ``network``: check branch ratings (default: unless the result is a copper-plate one).
    Raises ``ValueError`` if the result has no dispatch (not optimal).
    """
    if result.gen is None or result.gen.empty:
        raise ValueError(f"result has no dispatch to verify (status {result.status})")
    x = _read(case, result)
    rows = _Rows(tol_mw)
    checks = ["balance", "limits"]
    _check_balance(case, x, rows)
    _check_limits(case, x, rows)
    flows = pd.DataFrame()
    if network if network is not None else result.info.get("formulation") != "copperplate":
        checks.append("branch_flows")
        flows = _check_flows(case, result, x, rating, rows)
    if len(x.times) > 1:
        checks.append("ramps")
        _check_ramps(case, x, rows)
    if len(x.sto_ids):
        checks.append("soc")
        _check_soc(case, x, rows)
    if "reserve_up_mw" in result.gen and len(case.reserves):
        checks.append("reserves")
        _check_reserves(case, result, x, rows)
    ac_table = None
    if ac:
        checks.append("ac")
        ac_table = _check_ac(case, x, rows)
    violations = pd.DataFrame(rows, columns=VIOLATION_COLUMNS)
    return VerificationReport(case.name, result.problem, violations, checks, flows, ac_table)


# ----------------------------------------------------------------------------- reading
def _matrix(table: pd.DataFrame, column: str, ids: np.ndarray, times: pd.Index) -> np.ndarray:
    """(T, n) values of ``column`` of a Result table (0 where an id is missing)."""
    if table is None or table.empty or column not in table:
        return np.zeros((len(times), len(ids)))
    if isinstance(table.index, pd.MultiIndex):
        wide = table[column].unstack(level="period").reindex(index=ids, columns=times)
        return wide.fillna(0.0).to_numpy(dtype=float).T
    return table[column].reindex(ids).fillna(0.0).to_numpy(dtype=float)[None, :]


def _series(case, key: str, static: pd.Series, times: pd.Index, multi: bool) -> np.ndarray:
    """(T, n) per-period values: the case's time series where it has a column, else static."""
    out = np.tile(static.to_numpy(dtype=float), (len(times), 1))
    ts = case.timeseries
    if multi and ts is not None and key in ts:
        frame = ts[key].loc[times]
        cols = [c for c in frame.columns if c in static.index]
        out[:, static.index.get_indexer(cols)] = frame[cols].to_numpy()
    return out


def _read(case, result) -> _Dispatch:
    multi = isinstance(result.gen.index, pd.MultiIndex)
    times = (
        result.gen.index.get_level_values("period").unique()
        if multi
        else pd.Index([0], name="period")
    )
    dt_h = 1.0
    if len(times) > 1:
        dt_h = (times[1] - times[0]) / pd.Timedelta(hours=1)
    g = case.gens[case.gens["in_service"]]
    ld = case.loads[case.loads["in_service"]]
    ders = case.ders[case.ders["in_service"]]
    der = ders[ders["kind"].isin(GENERATING_DERS)]
    sto = ders[ders["kind"] == "storage"]
    st = result.storage
    return _Dispatch(
        times=times,
        multi=multi,
        dt_h=float(dt_h),
        gen_ids=g.index.to_numpy(),
        gen=_matrix(result.gen, "p_mw", g.index, times),
        gen_pmax=_series(case, "gen_p_max_mw", g["p_max_mw"], times, multi),
        load_ids=ld.index.to_numpy(),
        load=_series(case, "load_p_mw", ld["p_mw"], times, multi),
        der_ids=der.index.to_numpy(),
        der=_matrix(result.der, "p_mw", der.index, times),
        der_pmax=_series(case, "der_p_max_mw", der["p_max_mw"], times, multi),
        sto_ids=sto.index.to_numpy(),
        charge=_matrix(st, "p_charge_mw", sto.index, times),
        discharge=_matrix(st, "p_discharge_mw", sto.index, times),
        soc=_matrix(st, "soc_mwh", sto.index, times),
        shed_bus=_matrix(result.bus, "shed_mw", case.buses.index, times),
        loss=_system_column(result, "loss_mw", len(times)),
    )


def _system_column(result, column: str, T: int) -> np.ndarray:
    """(T, 1) values of a ``Result.system`` column (zeros when absent)."""
    system = result.system
    if system is None or column not in system:
        return np.zeros((T, 1))
    return system[column].to_numpy(dtype=float)[:, None]


def bus_injections_mw(case, x: _Dispatch) -> np.ndarray:
    """(T, bus) net injection of the dispatch: supply − (load − shed) − shunt gs."""
    pos = pd.Series(np.arange(case.n_buses), index=case.buses.index)
    inj = x.shed_bus - case.buses["gs_mw"].to_numpy()[None, :]
    for ids, table, values, sign in (
        (x.gen_ids, case.gens, x.gen, 1.0),
        (x.load_ids, case.loads, x.load, -1.0),
        (x.der_ids, case.ders, x.der, 1.0),
        (x.sto_ids, case.ders, x.discharge, 1.0),
        (x.sto_ids, case.ders, x.charge, -1.0),
    ):
        if len(ids):
            np.add.at(inj.T, pos[table.loc[ids, "bus"]].to_numpy(), sign * values.T)
    return inj


# ------------------------------------------------------------------------------ checks
class _Rows(list):
    """Violation rows being collected, with the tolerance they are judged by."""

    def __init__(self, tol: float):
        super().__init__()
        self.tol = tol

    def add(self, element: str, ids, times, quantity: str, value, limit, excess, tol=None):
        """One row per (period t, element k) where ``excess`` (T, n) exceeds the tolerance."""
        value, limit = np.broadcast_to(value, excess.shape), np.broadcast_to(limit, excess.shape)
        tol = self.tol if tol is None else tol
        for t, k in zip(*np.nonzero(excess > tol), strict=True):
            numbers = float(value[t, k]), float(limit[t, k]), float(excess[t, k])
            self.append((element, ids[k], times[t], quantity, *numbers))


def _check_balance(case, x: _Dispatch, rows: _Rows) -> None:
    """Σ supply + shed − Σ load − Σ shunt − modelled losses = 0 in every period (MW)."""
    inj = bus_injections_mw(case, x).sum(axis=1, keepdims=True) - x.loss
    demand = x.load.sum(axis=1, keepdims=True) + case.buses["gs_mw"].sum()
    rows.add("system", [-1], x.times, "power_balance_mw", inj + demand, demand, np.abs(inj))


def _check_limits(case, x: _Dispatch, rows: _Rows) -> None:
    """Generator, DER and storage power ranges, SOC range, exclusive charge/discharge."""
    g = case.gens.loc[x.gen_ids]
    pmin = g["p_min_mw"].to_numpy()[None, :]
    rows.add("gen", x.gen_ids, x.times, "p_max_mw", x.gen, x.gen_pmax, x.gen - x.gen_pmax)
    rows.add("gen", x.gen_ids, x.times, "p_min_mw", x.gen, pmin, pmin - x.gen)
    d = case.ders.loc[x.der_ids]
    dmin = d["p_min_mw"].to_numpy()[None, :]
    rows.add("der", x.der_ids, x.times, "p_max_mw", x.der, x.der_pmax, x.der - x.der_pmax)
    rows.add("der", x.der_ids, x.times, "p_min_mw", x.der, dmin, dmin - x.der)
    s = case.ders.loc[x.sto_ids]
    ch_max, dis_max = -s["p_min_mw"].to_numpy()[None, :], s["p_max_mw"].to_numpy()[None, :]
    e_min, e_max = s["e_min_mwh"].to_numpy()[None, :], s["e_max_mwh"].to_numpy()[None, :]
    for q, val, lim, exc in (
        ("charge_max_mw", x.charge, ch_max, x.charge - ch_max),
        ("discharge_max_mw", x.discharge, dis_max, x.discharge - dis_max),
        ("charge_min_mw", x.charge, 0.0, -x.charge),
        ("discharge_min_mw", x.discharge, 0.0, -x.discharge),
        ("soc_max_mwh", x.soc, e_max, x.soc - e_max),
        ("soc_min_mwh", x.soc, e_min, e_min - x.soc),
        ("simultaneous_charge_discharge_mw", x.discharge, 0.0, np.minimum(x.charge, x.discharge)),
    ):
        rows.add("storage", x.sto_ids, x.times, q, val, lim, exc)


def _check_flows(case, result, x: _Dispatch, rating: str, rows: _Rows) -> pd.DataFrame:
    """Flows from a fresh DC power flow of the injections vs ratings and the reported flows."""
    net = dc_network(case)
    inj = bus_injections_mw(case, x)  # (T, bus)
    flows = (net.base_mva * net.flows_pu(inj.T / net.base_mva)).T  # (T, branch)
    rate = case.branches.loc[net.branch_ids, rating].to_numpy()[None, :]
    excess = np.where(np.isfinite(rate), np.abs(flows) - rate, -np.inf)
    rows.add("branch", net.branch_ids, x.times, "flow_mw", flows, rate, excess)
    _check_angles(net, flows, x.times, rows)
    if "p_mw" in result.branch:
        reported = _matrix(result.branch, "p_mw", net.branch_ids, x.times)
        mismatch = np.abs(reported - flows)
        rows.add("branch", net.branch_ids, x.times, "reported_flow_mw", reported, flows, mismatch)
    if len(x.times) == 1:
        return pd.DataFrame({"p_mw": flows[0]}, index=pd.Index(net.branch_ids, name="branch_id"))
    idx = pd.MultiIndex.from_product([net.branch_ids, x.times], names=["branch_id", "period"])
    return pd.DataFrame({"p_mw": flows.T.ravel()}, index=idx)


def _check_angles(net, flows: np.ndarray, times, rows: _Rows) -> None:
    """angmin ≤ θ_f − θ_t ≤ angmax (degrees) on the recomputed flows: θ_f − θ_t = f/(base·b)
    + φ. Tolerance: ``tol_mw`` of flow on the branch, expressed in degrees."""
    k = net.angle_limited
    if len(k) == 0:
        return
    scale = net.base_mva * np.abs(net.b[k])  # MW per radian
    diff = np.rad2deg(flows[:, k] / (net.base_mva * net.b[k]) + net.shift_rad[k])
    lo, hi = np.rad2deg(net.angmin_rad[k]), np.rad2deg(net.angmax_rad[k])
    tol = np.rad2deg(rows.tol / scale)
    rows.add("branch", net.branch_ids[k], times, "angle_diff_max_deg", diff, hi, diff - hi, tol)
    rows.add("branch", net.branch_ids[k], times, "angle_diff_min_deg", diff, lo, lo - diff, tol)


def _check_ramps(case, x: _Dispatch, rows: _Rows) -> None:
    """−ramp_down·dt ≤ p_t − p_t−1 ≤ ramp_up·dt for every generator."""
    g = case.gens.loc[x.gen_ids]
    step = np.diff(x.gen, axis=0)
    up = g["ramp_up_mw_per_h"].to_numpy()[None, :] * x.dt_h
    dn = g["ramp_down_mw_per_h"].to_numpy()[None, :] * x.dt_h
    rows.add("gen", x.gen_ids, x.times[1:], "ramp_up_mw", step, up, step - up)
    rows.add("gen", x.gen_ids, x.times[1:], "ramp_down_mw", -step, dn, -step - dn)


def _check_soc(case, x: _Dispatch, rows: _Rows) -> None:
    """e_t = e_t−1 + η_c·ch·dt − dis·dt/η_d with e_−1 = e_init (MWh)."""
    s = case.ders.loc[x.sto_ids]
    prev = np.vstack([s["e_init_mwh"].to_numpy()[None, :], x.soc[:-1]])
    expected = (
        prev
        + s["eff_charge"].to_numpy() * x.charge * x.dt_h
        - x.discharge * x.dt_h / s["eff_discharge"].to_numpy()
    )
    error = np.abs(x.soc - expected)
    rows.add("storage", x.sto_ids, x.times, "soc_dynamics_mwh", x.soc, expected, error)


def _check_reserves(case, result, x: _Dispatch, rows: _Rows) -> None:
    """Headroom behind each reserve offer, offer caps, and zone / system requirements."""
    g = case.gens.loc[x.gen_ids]
    up = _matrix(result.gen, "reserve_up_mw", x.gen_ids, x.times)
    dn = _matrix(result.gen, "reserve_down_mw", x.gen_ids, x.times)
    pmin = g["p_min_mw"].to_numpy()[None, :]
    ids, times = x.gen_ids, x.times
    high, low = x.gen + up, x.gen - dn
    rows.add("gen", ids, times, "reserve_up_headroom_mw", high, x.gen_pmax, high - x.gen_pmax)
    rows.add("gen", ids, times, "reserve_down_headroom_mw", low, pmin, pmin - low)
    for q, r, cap in (
        ("reserve_up_max_mw", up, g["reserve_up_max_mw"]),
        ("reserve_down_max_mw", dn, g["reserve_down_max_mw"]),
    ):
        cap = cap.to_numpy()[None, :]
        rows.add("gen", x.gen_ids, x.times, q, r, cap, r - cap)
    zone = case.buses.loc[g["bus"], "zone"].to_numpy()
    for req_id, q in case.reserves.iterrows():
        members = (zone == q["zone"]) | (q["zone"] == -1)
        for kind, r in (("up_mw", up), ("down_mw", dn)):
            have = r[:, members].sum(axis=1, keepdims=True)
            need = np.full_like(have, q[kind])
            rows.add("reserve", [req_id], x.times, f"reserve_{kind}", have, need, need - have)


# -------------------------------------------------------------------------------- AC
def _check_ac(case, x: _Dispatch, rows: _Rows) -> pd.DataFrame:
    """AC power flow per period with the dispatch as set-points: voltage-range and thermal
    (``loading_pct`` > 100 on rate_a) violations; the slack's deviation from its dispatch."""
    from dispatchlab.solvers.powerflow import run_ac_powerflow

    records = []
    buses = case.buses
    for t, when in enumerate(x.times):
        pf = run_ac_powerflow(_with_setpoints(case, x, t))
        vm = pf.bus["vm_pu"].reindex(buses.index).to_numpy()[None, :]
        lo, hi = buses["vm_min_pu"].to_numpy()[None, :], buses["vm_max_pu"].to_numpy()[None, :]
        times = x.times[t : t + 1]
        rows.add("bus", buses.index, times, "vm_max_pu", vm, hi, vm - hi, 1e-6)
        rows.add("bus", buses.index, times, "vm_min_pu", vm, lo, lo - vm, 1e-6)
        loading = pf.branch["loading_pct"].to_numpy(dtype=float)[None, :]
        over = np.nan_to_num(loading - 100.0, nan=-1.0)
        rows.add("branch", pf.branch.index, times, "ac_loading_pct", loading, 100.0, over, 1e-6)
        slack_dispatch = float(x.gen[t, np.isin(x.gen_ids, _slack_gens(case))].sum())
        summary = pf.summary()
        records.append({
            "period": when, "slack_dispatch_mw": slack_dispatch, "slack_ac_mw": pf.slack_p_mw,
            "slack_mismatch_mw": pf.slack_p_mw - slack_dispatch, "loss_mw": pf.loss_mw,
            **{k: summary[k] for k in AC_SUMMARY},
        })  # fmt: skip
    return pd.DataFrame(records).set_index("period")


def _slack_gens(case) -> np.ndarray:
    """Gens that become pandapower's ext_grid: the first in-service gen at each REF bus."""
    g = case.gens
    ref = case.buses.index[case.buses["bus_type"] == "REF"]
    on = g[g["in_service"] & g["bus"].isin(ref)]
    return on.index[~on["bus"].duplicated()].to_numpy()


def _with_setpoints(case, x: _Dispatch, t: int):
    """The Case of period ``t`` with gens, DERs, storage and served loads at the dispatch."""
    base = case.at(x.times[t]) if x.multi else case
    gens, ders, loads = base.gens, base.ders, base.loads
    gens.loc[x.gen_ids, "p_mw"] = x.gen[t]
    ders.loc[x.der_ids, "p_mw"] = x.der[t]
    ders.loc[x.sto_ids, "p_mw"] = x.discharge[t] - x.charge[t]
    on = loads["in_service"] & (loads["p_mw"] > 0)
    bus_load = loads.loc[on].groupby("bus")["p_mw"].sum()
    shed = pd.Series(x.shed_bus[t], index=case.buses.index)
    served = 1.0 - (
        shed.reindex(loads["bus"]).to_numpy()
        / bus_load.reindex(loads["bus"]).fillna(np.inf).to_numpy()
    )
    factor = np.where(on, np.clip(served, 0.0, 1.0), 1.0)
    loads["p_mw"] = loads["p_mw"] * factor
    loads["q_mvar"] = loads["q_mvar"] * factor
    return base.replace(gens=gens, ders=ders, loads=loads)
