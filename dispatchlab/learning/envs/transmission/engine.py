"""The batched engine behind both transmission-dispatch environments (seed004).

One :class:`TransmissionEngine` holds B environments as arrays; the PettingZoo environment is
B = 1, the vector form B = ``num_envs``. Agents' normalized actions in [−1, 1] map to physical
set-points (:meth:`TransmissionEngine.setpoints`), :func:`~.core.settle` plays
them, the reward is seed004 eq. 4 and the oracle is :mod:`.oracle`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from dispatchlab.cases.timeseries import forecast_errors
from dispatchlab.learning.envs.transmission.config import TransmissionConfig
from dispatchlab.learning.envs.transmission.core import (
    Prices,
    SetPoints,
    TransmissionSystem,
    settle,
    step_cost,
    transmission_system,
)
from dispatchlab.learning.envs.transmission.obs import (
    EnvState,
    agent_observations,
    global_state,
    marginal_cost,
)
from dispatchlab.learning.envs.transmission.oracle import (
    IntervalProblem,
    actions_from_solution,
    build_interval_model,
    network_of,
    priced_case,
    solve_interval,
)

KINDS = ("gen", "wind", "storage", "lse")
ACTION_DIMS = {"gen": 3, "wind": 1, "storage": 2, "lse": 2}


def reward_from(cost_total: np.ndarray, violations: dict, config: TransmissionConfig):
    """seed004 eq. 4: r = −(C_op + C_shed + C_curt + C_co2)/scale − Σ_k w_k·V_k."""
    w = config.penalties()
    penalty = sum(w[k] * np.asarray(v) for k, v in violations.items())
    return -np.asarray(cost_total) / config.cost_scale_usd - penalty


class TransmissionEngine:
    """B transmission-dispatch environments advanced together."""

    def __init__(self, config: TransmissionConfig, case=None):
        from dispatchlab import load_case

        self.config = config
        self.case = load_case(config.case) if case is None else case
        self.sys: TransmissionSystem = transmission_system(self.case)
        self.prices = Prices(config.carbon_price_usd_per_t, config.curtailment_price_usd_per_mwh)
        self.priced = priced_case(self.case, self.prices)
        net, rate = network_of(self.case)
        shortfall = config.penalty_reserve_shortfall * config.cost_scale_usd
        self.problem = IntervalProblem(self.priced, self.sys, net, rate, shortfall)
        self.steps = round(24.0 / self.sys.dt_h)
        self.days = self._split_days()
        wind = pd.DataFrame(self.sys.wind_mw)
        fc = forecast_errors(
            wind,
            horizon_steps=4,
            sigma=config.forecast_sigma,
            seed=config.forecast_seed,
            relative_to="capacity",
            capacity=dict(enumerate(self.sys.wind_cap)),
            upper=dict(enumerate(self.sys.wind_cap)),
        )
        self.forecast = fc.to_numpy()
        self.agents = {k: self._names(k) for k in KINDS}
        self._start_cache: dict[int, np.ndarray] = {}
        self.state: EnvState | None = None

    def _names(self, kind: str) -> list[str]:
        s = self.sys
        ids = {"gen": s.gen_ids, "wind": s.wind_ids, "storage": s.sto_ids, "lse": s.lse_ids}[kind]
        return [f"{kind}_{i}" for i in ids]

    def _split_days(self) -> np.ndarray:
        total = len(self.sys.times) // self.steps
        a, b, c = self.config.split_days
        if a + b + c > total:
            raise ValueError(f"split_days {self.config.split_days} exceed the {total} days")
        bounds = {"train": (0, a), "validation": (a, a + b), "test": (a + b, a + b + c)}
        lo, hi = bounds.get(self.config.split, (0, total))
        return np.arange(lo, hi)

    # ---------------------------------------------------------------------------- state
    def start_output(self, t: int) -> np.ndarray:
        """Unit outputs before the day: the exact dispatch of its first interval without ramp
        limits (cached per interval; the storage at its initial SOC)."""
        if t not in self._start_cache:
            s = self.sys
            wide = s.p_max + np.maximum(s.ramp_dn, s.p_max)  # window = [p_min, p_max]
            free = dataclasses.replace(s, ramp_up=wide, ramp_dn=wide)
            prob = dataclasses.replace(self.problem, sys=free)
            m, _ = build_interval_model(prob, t, s.p_min, s.sto_e_init)
            sol = solve_interval(m)
            p = sol.x[m.var_blocks["gen_p_mw"].positions]
            self._start_cache[t] = np.clip(np.nan_to_num(p, nan=0.0), s.p_min, s.p_max)
        return self._start_cache[t]

    def reset(self, days: np.ndarray) -> None:
        s, B = self.sys, len(days)
        bad = [int(d) for d in days if d not in set(self.days.tolist())]
        if bad:
            raise ValueError(
                f"day(s) {bad} not in the '{self.config.split}' split "
                f"(days {self.days[0]}…{self.days[-1]})"
            )
        t = np.asarray(days, dtype=int) * self.steps
        p = np.stack([self.start_output(int(x)) for x in t])
        z = np.zeros
        self.state = EnvState(
            t=t,
            k=0,
            p_prev=p,
            soc=np.tile(s.sto_e_init, (B, 1)),
            flow=z((B, len(s.rate))),
            lam=marginal_cost(s, p, self.config.carbon_price_usd_per_t)[:, s.slack],
            reserve_up=np.full(B, s.reserve_up),
            reserve_dn=np.full(B, s.reserve_dn),
            wind_p=s.wind_mw[np.maximum(t - 1, 0)],
            sto_p=z((B, len(s.sto_ids))),
            lse_p=z((B, len(s.lse_ids))),
            lse_cut=z((B, len(s.lse_ids))),
        )

    # -------------------------------------------------------------------------- actions
    def setpoints(self, acts: dict[str, np.ndarray], st: EnvState) -> SetPoints:
        """Normalized actions (B, n, dim) in [−1, 1] -> physical set-points.

        unit: ΔP = a0·ramp (ramp_up for a0 ≥ 0, ramp_down below), kept inside [p_min, p_max];
        reserve offers = (a+1)/2 of the deliverable head-/footroom; wind: output = (a+1)/2 ×
        available; storage: P = a0·p_max (discharge) or −a0·p_min (charge), reserve share
        (a1+1)/2; LSE: flexible P = p_min + (a0+1)/2·(p_max − p_min), interruption share
        (a1+1)/2 of the load at its bus.
        """
        s = self.sys
        g, w, o, f = (acts[k] for k in KINDS)
        dp = np.where(g[..., 0] >= 0, g[..., 0] * s.ramp_up, g[..., 0] * s.ramp_dn)
        share = lambda a: (a + 1.0) / 2.0  # noqa: E731
        so = o[..., 0]
        return SetPoints(
            gen_p=np.clip(st.p_prev + dp, s.p_min, s.p_max),
            gen_up=share(g[..., 1]),
            gen_dn=share(g[..., 2]),
            wind_p=share(w[..., 0]) * s.wind_mw[st.t],
            sto_p=np.where(so >= 0, so * s.sto_p_max, -so * s.sto_p_min),
            sto_share=share(o[..., 1]),
            lse_p=s.lse_p_min + share(f[..., 0]) * (s.lse_p_max - s.lse_p_min),
            lse_cut=share(f[..., 1]),
        )

    def unit_clipping(self, acts: dict[str, np.ndarray], st: EnvState) -> np.ndarray:
        """(B, G) MW by which a unit's ΔP would leave [p_min, p_max] (reported, not hidden)."""
        s, g = self.sys, acts["gen"][..., 0]
        dp = np.where(g >= 0, g * s.ramp_up, g * s.ramp_dn)
        want = st.p_prev + dp
        return np.abs(want - np.clip(want, s.p_min, s.p_max))

    # ----------------------------------------------------------------------------- step
    def evaluate(self, acts: dict[str, np.ndarray]) -> tuple[np.ndarray, dict, dict]:
        """(reward (B,), outcome, metrics) of playing ``acts`` now, without advancing."""
        st = self.state
        out = settle(self.sys, st.t, st.p_prev, st.soc, self.setpoints(acts, st))
        cost = step_cost(self.sys, out, self.prices)
        reward = reward_from(cost["total"], out["violations"], self.config)
        return reward, out, self._metrics(out, cost)

    def advance(self, out: dict, acts: dict[str, np.ndarray]) -> None:
        st, s = self.state, self.sys
        st.p_prev = out["gen_p"]
        st.soc = out["soc"]
        st.flow = out["flow"]
        st.lam = marginal_cost(s, out["gen_p"], self.config.carbon_price_usd_per_t)[:, s.slack]
        st.reserve_up, st.reserve_dn = out["reserve_up"], out["reserve_dn"]
        st.wind_p, st.sto_p, st.lse_p = out["wind_p"], out["sto_p"], out["lse_p"]
        st.lse_cut = (acts["lse"][..., 1] + 1.0) / 2.0
        st.t = st.t + 1
        st.k += 1

    def _metrics(self, out: dict, cost: dict) -> dict[str, np.ndarray]:
        s, dt = self.sys, self.sys.dt_h
        avail = out["wind_avail"].sum(axis=1) * dt
        load = out["load"].sum(axis=1) * dt
        served = np.maximum(load - cost["shed_mwh"], 1e-9)
        return {
            "cost_usd": cost["operating"],
            "total_cost_usd": cost["total"],
            "shedding_cost_usd": cost["shedding"],
            "curtailment_cost_usd": cost["curtailment"],
            "carbon_cost_usd": cost["carbon"],
            "curtailment_rate": np.where(
                avail > 1e-9, cost["spilled_mwh"] / np.maximum(avail, 1e-9), 0.0
            ),
            "load_shedding_rate": cost["shed_mwh"] / load,
            "overload_rate": out["overloaded"] / len(s.rate),
            "ramp_violation_rate": out["ramp_count"] / len(s.gen_ids),
            "carbon_intensity_t_per_mwh": cost["emissions_t"] / served,
            "emissions_t": cost["emissions_t"],
            "curtailed_mwh": cost["spilled_mwh"],
            "shed_mwh": cost["shed_mwh"],
            "overgeneration_mwh": out["overgeneration_mwh"],
        }

    # ---------------------------------------------------------------------- observation
    def observations(self) -> dict[str, np.ndarray]:
        c = self.config
        return agent_observations(
            self.sys,
            self.state,
            self.forecast,
            c.carbon_price_usd_per_t,
            c.curtailment_price_usd_per_mwh,
            self.steps,
        )

    def global_state(self) -> np.ndarray:
        return global_state(self.sys, self.state, self.forecast, self.config.carbon_price_usd_per_t)

    # --------------------------------------------------------------------------- oracle
    def oracle(self, b: int = 0):
        """(actions by kind, objective $, Solution, info) of environment ``b``'s interval."""
        st = self.state
        m, d = build_interval_model(self.problem, int(st.t[b]), st.p_prev[b], st.soc[b])
        sol = solve_interval(m)
        if sol.x is None or not np.all(np.isfinite(sol.x)):
            return None, float("nan"), sol, {"lp_status": str(sol.status), "model": m, "data": d}
        acts, info = actions_from_solution(m, sol, d, self.sys, st.p_prev[b], st.soc[b])
        info.update(model=m, data=d)
        return acts, float(sol.objective), sol, info
