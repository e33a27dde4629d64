"""The physics of the transmission-dispatch environment (seed004), batched over environments.

:class:`TransmissionSystem` reads the arrays of an ``ieee30-seed004``-like Case once (units,
wind, storage, load-serving entities, PTDF, ratings, the reserve requirement);
:func:`settle` turns the agents' set-points of one 15-min interval into the physical dispatch
for B environments at once: the slack unit balances, a DC power flow (PTDF) gives the flows,
and every constraint of seed004 eqs. 5–8 (balance, capacity, ramps, line flows) plus reserves
and storage energy is measured, never enforced silently. :func:`step_cost` prices the result
(the terms of seed004 eq. 4) exactly as the oracle's LP does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dispatchlab.solvers.network import dc_network

#: numerical slack below which a constraint counts as satisfied (MW / MWh)
TOL = 1e-6


@dataclass(frozen=True)
class TransmissionSystem:
    """Static arrays of the case, in positions (unit, load, wind, storage, LSE, bus, line)."""

    dt_h: float
    gen_ids: np.ndarray
    gen_bus: np.ndarray
    p_min: np.ndarray
    p_max: np.ndarray
    ramp_up: np.ndarray  # MW per interval
    ramp_dn: np.ndarray
    c2: np.ndarray
    c1: np.ndarray
    c0: np.ndarray
    co2: np.ndarray  # t CO2 per MWh
    reserve_cost: np.ndarray
    slack: int  # position of the unit at the reference bus
    load_bus: np.ndarray
    voll: np.ndarray
    load_mw: np.ndarray  # (T, loads)
    wind_ids: np.ndarray
    wind_bus: np.ndarray
    wind_cap: np.ndarray
    wind_mw: np.ndarray  # (T, wind) available
    wind_cost: np.ndarray  # $/MWh of wind output (variable O&M)
    sto_ids: np.ndarray
    sto_bus: np.ndarray
    sto_p_min: np.ndarray  # < 0: charging
    sto_p_max: np.ndarray
    sto_e_min: np.ndarray
    sto_e_max: np.ndarray
    sto_e_init: np.ndarray
    eta_c: np.ndarray
    eta_d: np.ndarray
    sto_cost: np.ndarray
    lse_ids: np.ndarray
    lse_bus: np.ndarray
    lse_p_min: np.ndarray
    lse_p_max: np.ndarray
    lse_cost: np.ndarray
    lse_loads: np.ndarray  # (LSE, loads) 1 where the load sits at the LSE's bus
    bus_ids: np.ndarray
    branch_ids: np.ndarray
    ptdf: np.ndarray  # (lines, buses)
    flow_shift: np.ndarray  # MW, phase shifters
    rate: np.ndarray  # MW
    incident: np.ndarray  # (buses, lines) 1 where the line touches the bus
    reserve_up: float
    reserve_dn: float
    times: np.ndarray  # datetime64 of each interval

    @property
    def n_bus(self) -> int:
        return len(self.bus_ids)


def _ders(ders, kind: str):
    d = ders[ders["in_service"] & (ders["kind"] == kind)]
    return d


def _unit_arrays(g, pos, dt_h: float) -> dict:
    col = lambda name: g[name].to_numpy(float)  # noqa: E731
    return {
        "gen_ids": g.index.to_numpy(),
        "gen_bus": np.array([pos[b] for b in g["bus"]], dtype=int),
        "p_min": col("p_min_mw"),
        "p_max": col("p_max_mw"),
        "ramp_up": col("ramp_up_mw_per_h") * dt_h,
        "ramp_dn": col("ramp_down_mw_per_h") * dt_h,
        "c2": col("cost_c2_usd_per_mw2h"),
        "c1": col("cost_c1_usd_per_mwh"),
        "c0": col("cost_c0_usd_per_h"),
        "co2": col("co2_t_per_mwh"),
        "reserve_cost": col("reserve_cost_usd_per_mwh"),
    }


def _der_arrays(case, pos, ts) -> dict:
    wind, sto, lse = (_ders(case.ders, k) for k in ("wind", "storage", "flexible_load"))
    wind_mw = np.tile(wind["p_max_mw"].to_numpy(float), (len(ts), 1))
    series = ts["der_p_max_mw"] if "der_p_max_mw" in ts else None
    for j, did in enumerate(wind.index):
        if series is not None and did in series.columns:
            wind_mw[:, j] = series[did].to_numpy()
    col = lambda t, name: t[name].to_numpy(float)  # noqa: E731
    return {
        "wind_ids": wind.index.to_numpy(),
        "wind_bus": np.array([pos[b] for b in wind["bus"]], dtype=int),
        "wind_cap": col(wind, "p_max_mw"),
        "wind_mw": wind_mw,
        "wind_cost": col(wind, "cost_usd_per_mwh"),
        "sto_ids": sto.index.to_numpy(),
        "sto_bus": np.array([pos[b] for b in sto["bus"]], dtype=int),
        "sto_p_min": col(sto, "p_min_mw"),
        "sto_p_max": col(sto, "p_max_mw"),
        "sto_e_min": col(sto, "e_min_mwh"),
        "sto_e_max": col(sto, "e_max_mwh"),
        "sto_e_init": col(sto, "e_init_mwh"),
        "eta_c": col(sto, "eff_charge"),
        "eta_d": col(sto, "eff_discharge"),
        "sto_cost": col(sto, "cost_usd_per_mwh"),
        "lse_ids": lse.index.to_numpy(),
        "lse_bus": np.array([pos[b] for b in lse["bus"]], dtype=int),
        "lse_p_min": col(lse, "p_min_mw"),
        "lse_p_max": col(lse, "p_max_mw"),
        "lse_cost": col(lse, "cost_usd_per_mwh"),
    }


def _network_arrays(case) -> dict:
    net = dc_network(case)
    incident = np.zeros((net.n_bus, net.n_branch))
    incident[net.f, np.arange(net.n_branch)] = 1.0
    incident[net.t, np.arange(net.n_branch)] = 1.0
    return {
        "bus_ids": net.bus_ids,
        "branch_ids": net.branch_ids,
        "ptdf": net.ptdf(),
        "flow_shift": net.base_mva * net.flows_pu(np.zeros(net.n_bus)),
        "rate": case.branches["rate_a_mva"].reindex(net.branch_ids).to_numpy(float),
        "incident": incident,
    }


def transmission_system(case) -> TransmissionSystem:
    """Read ``case`` (with a time series of loads and wind availability) into arrays."""
    ts = case.timeseries
    if ts is None or "load_p_mw" not in ts:
        raise ValueError(f"case '{case.name}' needs a time series with load_p_mw")
    dt_h = float(ts.step / np.timedelta64(1, "h"))
    buses = case.buses
    pos = {b: i for i, b in enumerate(buses.index)}
    g = case.gens[case.gens["in_service"]]
    at_ref = np.flatnonzero(g["bus"].isin(set(buses.index[buses["bus_type"] == "REF"])))
    if len(at_ref) != 1:
        raise ValueError(f"case '{case.name}': need exactly one unit at the reference bus")
    res = case.reserves
    if len(res) and (res["zone"] != -1).any():
        raise ValueError("transmission env supports one system-wide reserve (zone -1) only")
    ld = case.loads[case.loads["in_service"]]
    load_bus = np.array([pos[b] for b in ld["bus"]], dtype=int)
    ders = _der_arrays(case, pos, ts)
    return TransmissionSystem(
        dt_h=dt_h,
        slack=int(at_ref[0]),
        load_bus=load_bus,
        voll=ld["voll_usd_per_mwh"].to_numpy(float),
        load_mw=ts["load_p_mw"][ld.index].to_numpy(float),
        lse_loads=(ders["lse_bus"][:, None] == load_bus[None, :]).astype(float),
        reserve_up=float(res["up_mw"].sum()) if len(res) else 0.0,
        reserve_dn=float(res["down_mw"].sum()) if len(res) else 0.0,
        times=ts.index.to_numpy(),
        **_unit_arrays(g, pos, dt_h),
        **ders,
        **_network_arrays(case),
    )


@dataclass
class SetPoints:
    """The agents' set-points for B environments (physical units, already in range)."""

    gen_p: np.ndarray  # (B, G) scheduled output, MW
    gen_up: np.ndarray  # (B, G) share of deliverable up-headroom offered as reserve, [0, 1]
    gen_dn: np.ndarray  # (B, G)
    wind_p: np.ndarray  # (B, W) output set-point, MW (≤ available)
    sto_p: np.ndarray  # (B, S) requested discharge (> 0) / charge (< 0), MW
    sto_share: np.ndarray  # (B, S) share of deliverable headroom offered as reserve
    lse_p: np.ndarray  # (B, F) flexible-load injection (> 0: consume less), MW
    lse_cut: np.ndarray  # (B, F) share of the LSE bus load interrupted, [0, 1]


def deliverable_window(sys: TransmissionSystem, p_prev: np.ndarray):
    """(lo, hi): the output range reachable within one interval from ``p_prev`` (eq. 6–7)."""
    lo = np.maximum(sys.p_min, p_prev - sys.ramp_dn)
    hi = np.minimum(sys.p_max, p_prev + sys.ramp_up)
    return lo, hi


def storage_limits(sys: TransmissionSystem, soc: np.ndarray):
    """(most charge < 0, most discharge > 0) in MW that keep the SOC within its band."""
    dis = np.minimum(sys.sto_p_max, (soc - sys.sto_e_min) * sys.eta_d / sys.dt_h)
    ch = np.maximum(sys.sto_p_min, -(sys.sto_e_max - soc) / (sys.eta_c * sys.dt_h))
    return np.minimum(ch, 0.0), np.maximum(dis, 0.0)


def storage_reserve_room(sys: TransmissionSystem, sto_p: np.ndarray, soc_next: np.ndarray):
    """Up / down reserve a storage can still deliver after dispatch ``sto_p``: power room to
    its limits and energy room in its SOC band at the end of the interval."""
    up = np.minimum(sys.sto_p_max - sto_p, (soc_next - sys.sto_e_min) * sys.eta_d / sys.dt_h)
    dn = np.minimum(sto_p - sys.sto_p_min, (sys.sto_e_max - soc_next) / (sys.eta_c * sys.dt_h))
    return np.maximum(up, 0.0), np.maximum(dn, 0.0)


def _balance(sys: TransmissionSystem, t: np.ndarray, soc, sp: SetPoints) -> dict:
    """Storage inside its SOC band, LSE interruptions, and the slack unit's balancing:
    deficit beyond its p_max shed from all loads pro rata, surplus below its p_min spilled
    from wind; what is left over is dumped (the slack stays at p_min) and reported."""
    load = sys.load_mw[t]  # (B, L)
    avail = sys.wind_mw[t]
    lo_ch, hi_dis = storage_limits(sys, soc)
    sto_p = np.clip(sp.sto_p, lo_ch, hi_dis)
    interrupt = sp.lse_cut[:, :, None] * sys.lse_loads[None] * load[:, None, :]  # (B, F, L)
    served = load - interrupt.sum(axis=1)
    wind_p = np.minimum(sp.wind_p, avail)
    gen_p = sp.gen_p.copy()
    others = gen_p.sum(axis=1) - gen_p[:, sys.slack]
    injected = others + wind_p.sum(axis=1) + sto_p.sum(axis=1) + sp.lse_p.sum(axis=1)
    slack_need = served.sum(axis=1) - injected
    slack_max, slack_min = sys.p_max[sys.slack], sys.p_min[sys.slack]
    deficit = np.maximum(slack_need - slack_max, 0.0)
    surplus = np.maximum(slack_min - slack_need, 0.0)
    total = np.maximum(served.sum(axis=1, keepdims=True), TOL)
    shed = served * (np.minimum(deficit[:, None], total) / total)
    spill = np.minimum(surplus, wind_p.sum(axis=1))
    wind_p = wind_p - wind_p * (spill[:, None] / np.maximum(wind_p.sum(axis=1, keepdims=True), TOL))
    # over-generation nothing could absorb: dumped at the slack unit's bus (it keeps the
    # flows balanced) but never booked as negative output, which would earn fuel and CO2
    unresolved = surplus - spill
    gen_p[:, sys.slack] = np.clip(slack_need, slack_min, slack_max)
    return {
        "gen_p": gen_p,
        "wind_p": wind_p,
        "wind_avail": avail,
        "sto_p": sto_p,
        "lse_p": sp.lse_p,
        "load": load,
        "interrupt": interrupt.sum(axis=2),
        "interrupt_by_load": interrupt.sum(axis=1),
        "shed": shed,
        "served": served - shed,
        "mismatch": slack_need - sp.gen_p[:, sys.slack],
        "unresolved": unresolved,
        "soc_violation": np.abs(sp.sto_p - sto_p).sum(axis=1) * sys.dt_h,
    }


def _flows(sys: TransmissionSystem, out: dict) -> np.ndarray:
    """(B, lines) DC flows, MW: PTDF · net bus injections (+ phase-shifter flows)."""
    inj = np.zeros((len(out["gen_p"]), sys.n_bus))
    for pos, p in (
        (sys.gen_bus, out["gen_p"]),
        (sys.wind_bus, out["wind_p"]),
        (sys.sto_bus, out["sto_p"]),
        (sys.lse_bus, out["lse_p"]),
    ):
        np.add.at(inj.T, pos, p.T)
    np.add.at(inj.T, sys.load_bus, -out["served"].T)
    inj[:, sys.gen_bus[sys.slack]] -= out["unresolved"]  # the dumped over-generation
    out["inj"] = inj
    return inj @ sys.ptdf.T + sys.flow_shift


def settle(sys: TransmissionSystem, t: np.ndarray, p_prev, soc, sp: SetPoints) -> dict:
    """The physical outcome of one interval for B environments (arrays with leading B).

    Order: storage is held inside its SOC band (the energy it could not deliver is the SOC
    violation); the slack unit takes the schedule mismatch (eq. 5's violation); beyond its
    capacity the deficit is shed from all loads pro rata or the surplus curtailed from wind;
    flows follow from the PTDF (eq. 8); ramps of the slack unit (eq. 7) and reserves are
    checked against the window reachable from ``p_prev``.
    """
    out = _balance(sys, t, soc, sp)
    gen_p, sto_p = out["gen_p"], out["sto_p"]
    out["flow"] = flow = _flows(sys, out)
    over = np.maximum(np.abs(flow) - sys.rate, 0.0)
    lo, hi = deliverable_window(sys, p_prev)
    ramp = np.maximum(gen_p - p_prev - sys.ramp_up, 0.0) + np.maximum(
        p_prev - sys.ramp_dn - gen_p, 0.0
    )
    out["gen_up"] = sp.gen_up * np.maximum(hi - gen_p, 0.0)
    out["gen_dn"] = sp.gen_dn * np.maximum(gen_p - lo, 0.0)
    discharged = np.maximum(sto_p, 0.0) / sys.eta_d + np.minimum(sto_p, 0.0) * sys.eta_c
    out["soc"] = soc - discharged * sys.dt_h
    up_room, dn_room = storage_reserve_room(sys, sto_p, out["soc"])
    out["sto_up"], out["sto_dn"] = sp.sto_share * up_room, sp.sto_share * dn_room
    up = out["gen_up"].sum(axis=1) + out["sto_up"].sum(axis=1)
    dn = out["gen_dn"].sum(axis=1) + out["sto_dn"].sum(axis=1)
    out.update(reserve_up=up, reserve_dn=dn)
    out["violations"] = {
        "line_overload_mw": over.sum(axis=1),
        "ramp_mw": ramp.sum(axis=1),
        "reserve_shortfall_mw": np.maximum(sys.reserve_up - up, 0.0)
        + np.maximum(sys.reserve_dn - dn, 0.0),
        "balance_mw": np.abs(out.pop("mismatch")),
        "soc_mwh": out.pop("soc_violation"),
        "slack_capacity_mw": out["unresolved"],
    }
    out["overgeneration_mwh"] = out.pop("unresolved") * sys.dt_h
    out["overloaded"] = (over > TOL).sum(axis=1)
    out["ramp_count"] = (ramp > TOL).sum(axis=1)
    return out


@dataclass(frozen=True)
class Prices:
    """What the reward prices beyond the case's own costs (seed004 eq. 4's C_curt, C_co2)."""

    carbon_usd_per_t: float
    curtailment_usd_per_mwh: float


def step_cost(sys: TransmissionSystem, out: dict, prices: Prices) -> dict:
    """The cost terms of seed004 eq. 4 for one interval, $ (arrays over B).

    ``operating`` = Σ_g (c2 p² + c1 p + c0)·dt + reserve offers at the units' reserve cost +
    storage discharge at its cost + flexible-load moves at the LSE's price + wind output at
    its variable cost; ``shedding`` =
    VOLL × (interrupted + shed) MWh; ``curtailment`` = price × spilled wind MWh; ``carbon`` =
    price × Σ co2·p·dt. The oracle's LP has the same objective, term by term.
    """
    dt = sys.dt_h
    p = out["gen_p"]
    gen = ((sys.c2 * p**2 + sys.c1 * p + sys.c0) * dt).sum(axis=1)
    reserve = ((out["gen_up"] + out["gen_dn"]) * sys.reserve_cost * dt).sum(axis=1)
    storage = (np.maximum(out["sto_p"], 0.0) * sys.sto_cost * dt).sum(axis=1)
    flexible = (out["lse_p"] * sys.lse_cost * dt).sum(axis=1)
    wind = (out["wind_p"] * sys.wind_cost * dt).sum(axis=1)
    shed_mwh = (out["interrupt_by_load"] + out["shed"]) * dt
    spilled = (out["wind_avail"] - out["wind_p"]).sum(axis=1) * dt
    # a unit whose case data allow p < 0 (a pump, a condenser's draw) burns nothing then
    emissions = (np.maximum(p, 0.0) * sys.co2 * dt).sum(axis=1)
    terms = {
        "operating": gen + reserve + storage + flexible + wind,
        "shedding": (shed_mwh * sys.voll).sum(axis=1),
        "curtailment": spilled * prices.curtailment_usd_per_mwh,
        "carbon": emissions * prices.carbon_usd_per_t,
    }
    terms["total"] = sum(terms.values())
    terms["emissions_t"] = emissions
    terms["spilled_mwh"] = spilled
    terms["shed_mwh"] = shed_mwh.sum(axis=1)
    return terms
