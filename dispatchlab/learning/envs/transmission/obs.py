"""Observations and the global state of the transmission-dispatch environment (seed004 §2.1).

The global state follows seed004's 125-feature layout where the case provides the data; the
case has no weather series, so the six weather-derived drivers are left out (119 features,
:data:`STATE_LAYOUT`). Agent observations are a 10-feature common block (calendar, system
load / wind / forecast, reserve margins, progress) plus 8–10 local features: 18–20 in all,
inside the paper's 18–32. Values are scaled to O(1); MW quantities by the element's rating.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dispatchlab.learning.envs.transmission.core import (
    TransmissionSystem,
    deliverable_window,
    storage_limits,
)

#: (name, size) of each part of the global state, in order
STATE_LAYOUT: tuple[tuple[str, int], ...] = (
    ("bus_net_injection_100mw", 30),  # wind available − load at each bus, interval t
    ("line_loading", 41),  # |flow| / rating, last interval
    ("unit_output_pu", 6),  # p / p_max, last interval
    ("wind_realized_pu", 3),  # available wind of interval t / capacity
    ("wind_forecast_pu", 3),  # forecast of interval t+1 / capacity
    ("reserve_margin", 2),  # (offered − required) / required, up and down, last interval
    ("price_proxy_100usd", 30),  # see price_proxy
    ("calendar", 4),  # sin/cos hour of day, sin/cos day of week
)

COMMON = (
    "sin_hour, cos_hour, sin_weekday, cos_weekday, load_pu_of_peak, wind_pu_of_capacity, "
    "wind_forecast_pu, reserve_margin_up, reserve_margin_down, episode_progress"
).split(", ")
LOCAL = {
    "gen": (
        "p_prev_pu, p_min_pu, ramp_up_pu, window_hi_pu, window_lo_pu, marginal_cost_100usd, "
        "co2_t_per_mwh, price_proxy_100usd, max_incident_loading, is_slack"
    ).split(", "),
    "wind": (
        "available_pu, forecast_pu, available_prev_pu, output_prev_pu, price_proxy_100usd, "
        "max_incident_loading, mean_incident_loading, curtailment_price_100usd"
    ).split(", "),
    "storage": (
        "soc_pu, soc_band_pu, p_prev_pu, max_discharge_pu, max_charge_pu, price_proxy_100usd, "
        "max_incident_loading, bus_net_injection_100mw"
    ).split(", "),
    "lse": (
        "bus_load_pu, flex_prev_pu, interruption_prev, flex_cost_100usd, "
        "price_proxy_100usd, max_incident_loading, mean_incident_loading, "
        "bus_net_injection_100mw"
    ).split(", "),
}


def obs_size(kind: str) -> int:
    return len(COMMON) + len(LOCAL[kind])


@dataclass
class EnvState:
    """Everything that evolves, for B environments (leading axis B)."""

    t: np.ndarray  # (B,) interval index in the series
    k: int  # interval within the day
    p_prev: np.ndarray  # (B, G)
    soc: np.ndarray  # (B, S)
    flow: np.ndarray  # (B, lines) last settled flows
    lam: np.ndarray  # (B,) slack marginal cost, last interval
    reserve_up: np.ndarray  # (B,)
    reserve_dn: np.ndarray
    wind_p: np.ndarray  # (B, W)
    sto_p: np.ndarray  # (B, S)
    lse_p: np.ndarray  # (B, F)
    lse_cut: np.ndarray  # (B, F)


def marginal_cost(sys: TransmissionSystem, p: np.ndarray, carbon: float) -> np.ndarray:
    return sys.c1 + carbon * sys.co2 + 2.0 * sys.c2 * p


def price_proxy(sys: TransmissionSystem, st: EnvState, carbon: float) -> np.ndarray:
    """(B, bus) locational-price proxy, $/MWh: the slack unit's marginal cost, lowered at
    buses whose injection loads an overloaded line further (PTDF · sign of the flow) by the
    fleet's marginal-cost spread. A heuristic: exact LMPs come from the oracle's LP."""
    hi = marginal_cost(sys, sys.p_max, carbon).max()
    lo = marginal_cost(sys, sys.p_min, carbon).min()
    over = (np.abs(st.flow) > sys.rate) * np.sign(st.flow)  # (B, lines)
    return st.lam[:, None] - (hi - lo) * (over @ sys.ptdf)


def _calendar(sys: TransmissionSystem, t: np.ndarray) -> np.ndarray:
    stamps = sys.times[t]
    hours = (stamps - stamps.astype("datetime64[D]")) / np.timedelta64(1, "h")
    weekday = (stamps.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01: Thursday
    h, w = 2 * np.pi * hours / 24.0, 2 * np.pi * weekday / 7.0
    return np.stack([np.sin(h), np.cos(h), np.sin(w), np.cos(w)], axis=1)


def _bus_net(sys: TransmissionSystem, t: np.ndarray) -> np.ndarray:
    net = np.zeros((len(t), sys.n_bus))
    np.add.at(net.T, sys.wind_bus, sys.wind_mw[t].T)
    np.add.at(net.T, sys.load_bus, -sys.load_mw[t].T)
    return net


def global_state(sys: TransmissionSystem, st: EnvState, forecast: np.ndarray, carbon: float):
    """(B, 119) global state in :data:`STATE_LAYOUT` order."""
    t = np.minimum(st.t, len(sys.times) - 1)  # after the last interval of the series
    margins = _margins(sys, st)
    parts = [
        _bus_net(sys, t) / 100.0,
        np.abs(st.flow) / sys.rate,
        st.p_prev / sys.p_max,
        sys.wind_mw[t] / sys.wind_cap,
        forecast[np.minimum(t + 1, len(forecast) - 1)] / sys.wind_cap,
        margins,
        price_proxy(sys, st, carbon) / 100.0,
        _calendar(sys, t),
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)


def _margins(sys: TransmissionSystem, st: EnvState) -> np.ndarray:
    up = (st.reserve_up - sys.reserve_up) / max(sys.reserve_up, 1.0)
    dn = (st.reserve_dn - sys.reserve_dn) / max(sys.reserve_dn, 1.0)
    return np.stack([up, dn], axis=1)


@dataclass
class _Context:
    """Per-bus quantities every agent kind reads from (B leading)."""

    t: np.ndarray
    nxt: np.ndarray
    price: np.ndarray  # (B, bus) /100 $/MWh
    inc_max: np.ndarray  # (B, bus) largest loading of the lines at the bus
    inc_mean: np.ndarray
    bus_net: np.ndarray  # (B, bus) /100 MW


def _gen_obs(sys, st: EnvState, c: _Context, carbon: float) -> list:
    lo, hi = deliverable_window(sys, st.p_prev)
    gb, shape = sys.gen_bus, st.p_prev.shape
    return [
        st.p_prev / sys.p_max,
        np.broadcast_to(sys.p_min / sys.p_max, shape),
        np.broadcast_to(sys.ramp_up / sys.p_max, shape),
        hi / sys.p_max,
        lo / sys.p_max,
        marginal_cost(sys, st.p_prev, carbon) / 100.0,
        np.broadcast_to(sys.co2, shape),
        c.price[:, gb],
        c.inc_max[:, gb],
        np.broadcast_to(np.arange(len(gb)) == sys.slack, shape),
    ]


def _wind_obs(sys, st: EnvState, c: _Context, forecast, curtail_price: float) -> list:
    wb, cap = sys.wind_bus, sys.wind_cap
    return [
        sys.wind_mw[c.t] / cap,
        forecast[c.nxt] / cap,
        sys.wind_mw[np.maximum(c.t - 1, 0)] / cap,
        st.wind_p / cap,
        c.price[:, wb],
        c.inc_max[:, wb],
        c.inc_mean[:, wb],
        np.full(st.wind_p.shape, curtail_price / 100.0),
    ]


def _storage_obs(sys, st: EnvState, c: _Context) -> list:
    ch, dis = storage_limits(sys, st.soc)
    sb = sys.sto_bus
    return [
        st.soc / sys.sto_e_max,
        (st.soc - sys.sto_e_min) / (sys.sto_e_max - sys.sto_e_min),
        st.sto_p / sys.sto_p_max,
        dis / sys.sto_p_max,
        ch / sys.sto_p_min,
        c.price[:, sb],
        c.inc_max[:, sb],
        c.bus_net[:, sb],
    ]


def _lse_obs(sys, st: EnvState, c: _Context) -> list:
    bus_load = sys.load_mw[c.t] @ sys.lse_loads.T  # (B, F)
    peak = np.maximum((sys.load_mw @ sys.lse_loads.T).max(axis=0), 1e-9)
    fb = sys.lse_bus
    return [
        bus_load / peak,
        st.lse_p / sys.lse_p_max,
        st.lse_cut,
        np.broadcast_to(sys.lse_cost / 100.0, st.lse_p.shape),
        c.price[:, fb],
        c.inc_max[:, fb],
        c.inc_mean[:, fb],
        c.bus_net[:, fb],
    ]


def agent_observations(sys, st: EnvState, forecast, carbon: float, curtail_price: float, steps):
    """{kind: (B, n_kind, obs_size(kind))} float32 observations (:data:`COMMON` + LOCAL)."""
    t, B = np.minimum(st.t, len(sys.times) - 1), len(st.t)
    nxt = np.minimum(t + 1, len(forecast) - 1)
    common = np.concatenate(
        [
            _calendar(sys, t),
            (sys.load_mw[t].sum(axis=1) / sys.load_mw.sum(axis=1).max())[:, None],
            (sys.wind_mw[t].sum(axis=1) / sys.wind_cap.sum())[:, None],
            (forecast[nxt].sum(axis=1) / sys.wind_cap.sum())[:, None],
            _margins(sys, st),
            np.full((B, 1), st.k / steps),
        ],
        axis=1,
    )
    loading = np.abs(st.flow) / sys.rate
    ctx = _Context(
        t=t,
        nxt=nxt,
        price=price_proxy(sys, st, carbon) / 100.0,
        inc_max=np.max(sys.incident[None] * loading[:, None, :], axis=2),
        inc_mean=(loading @ sys.incident.T) / np.maximum(sys.incident.sum(axis=1), 1.0),
        bus_net=_bus_net(sys, t) / 100.0,
    )
    parts = {
        "gen": _gen_obs(sys, st, ctx, carbon),
        "wind": _wind_obs(sys, st, ctx, forecast, curtail_price),
        "storage": _storage_obs(sys, st, ctx),
        "lse": _lse_obs(sys, st, ctx),
    }
    out = {}
    for kind, cols in parts.items():
        local = np.stack(cols, axis=2).astype(float)
        rep = np.broadcast_to(common[:, None, :], (B, local.shape[1], common.shape[1]))
        out[kind] = np.concatenate([rep, local], axis=2).astype(np.float32)
    return out
