"""The batched engine of ``der-dispatch``: S scenarios of one feeder stepped together.

Both :class:`~dispatchlab.learning.envs.der_dispatch.env.DERDispatchEnv` (S = 1) and
:class:`~dispatchlab.learning.envs.der_dispatch.env.VectorDERDispatchEnv` run this engine, so the
two agree by construction; arrays have a leading scenario axis. What it implements (seed000):

* reward per unit and step (eq. 2 − eq. 3 + ancillary bonus), with Δt = step length in hours:
  ``r_i = (λ_b(i) − c_i)·P_i·Δt − w_soc·e_cap,i·F_i + ρ·(P̄_i − P_i)·Δt``; λ the LMP at the
  unit's bus (eq. 2), c_i a flexible load's bid (0 for PV and storage: eq. 2 net of the value
  the load gives up), F_i = max(0, z_min − z) + max(0, z − z_max) the SOC-band penalty of eq. 3
  (the paper prints the second term with a minus sign; as a penalty it must add), weighted by
  ``w_soc`` $/MWh × the unit's capacity so that splitting a unit does not change the total,
  and ρ the ancillary bonus per MWh of upward headroom P̄_i − P_i kept by storage and
  flexible load (our reading of "an additional reward … for providing ancillary services";
  ρ = 0 by default, the paper gives no number);
* storage energy ``E' = E − Δt·max(P/η_d, η_c·P)`` (P > 0 discharges);
* a real AC power flow (BatchedPowerFlow, radial sweep) of every scenario's injections.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dispatchlab.learning.envs.der_dispatch.config import DERDispatchConfig, Scenario
from dispatchlab.learning.envs.der_dispatch.grid import FeederGrid
from dispatchlab.learning.envs.der_dispatch.oracle import solve_oracle
from dispatchlab.learning.envs.der_dispatch.prices import PriceState, exact_lmps

#: observation fields, the same for every kind (index = position in the vector)
OBS_FIELDS: tuple[str, ...] = (
    "soc",  # storage state of charge, fraction of capacity (0 for PV and flexible load)
    "p_pu",  # output applied at the previous step / rated power
    "p_min_pu",  # lowest output possible this step / rated power
    "p_max_pu",  # highest output possible this step / rated power
    "forecast_pu",  # next-interval forecast of the unit's available maximum / rated power
    "tod_sin",  # sin(2π · hour / 24)
    "tod_cos",  # cos(2π · hour / 24)
    "lmp_pu",  # LMP at the unit's bus / price_scale_usd_per_mwh
)


_STATE_FIELDS = ("load_p_mw", "load_q_mvar", "pv_available_mw", "der_p_mw", "vm_pu", "va_deg")


@dataclass
class StepInfo:
    """What one step reports, per scenario (arrays have a leading scenario axis)."""

    violations: dict[str, np.ndarray]
    metrics: dict[str, np.ndarray]
    clipped: np.ndarray  # (S, N) bool: continuous actions outside [-1, 1], clipped
    clip_excess: np.ndarray  # (S, N) |a| − 1 where clipped, else 0
    p_mw: np.ndarray  # (S, N) applied outputs


class DispatchCore:
    """S scenarios of the same feeder and units; see the module docstring."""

    def __init__(self, config: DERDispatchConfig, grid: FeederGrid | None = None):
        self.cfg = config
        self.grid = grid or FeederGrid(config)
        g = self.grid
        self.units = g.units
        self.dt_h = config.step_minutes / 60.0
        self.n_steps = g.n_steps
        self.n_levels = config.n_levels
        self.k = 0
        self.scenarios: list[Scenario] = []

    # ----------------------------------------------------------------------------- reset
    def reset(self, scenario_seeds: list[int]) -> np.ndarray:
        """Start S = len(scenario_seeds) scenarios at t = 0; returns observations (S, N, 8)."""
        self.scenarios = [self.grid.scenario(int(s)) for s in scenario_seeds]
        return self.reset_scenarios()

    def reset_scenarios(self) -> np.ndarray:
        """Start the scenarios already in ``self.scenarios`` at t = 0."""
        g, u = self.grid, self.units
        n_s = len(self.scenarios)
        self.k = 0
        self.energy = np.broadcast_to(u.e_init_mwh, (n_s, u.n)).copy()
        self.p_prev = np.zeros((n_s, u.n))
        self.vm = np.broadcast_to(g.vm_flat, (n_s, g.n_bus)).copy()
        self.va = np.zeros((n_s, g.n_bus))
        self._broadcast = -1
        self._lmp_table = None
        if self.cfg.price_model is None:
            self._lmp_table = self._exact_price_table()
        self._refresh()
        return self.observation()

    def _exact_price_table(self) -> dict[int, np.ndarray]:
        """Exact DLMPs of every broadcast the episode uses, all scenarios in one call."""
        g = self.grid
        used = sorted({g.broadcast_index(k) for k in range(self.n_steps + 1)})
        states = [self.price_state(b) for b in used]
        stacked = PriceState(
            time_h=np.concatenate([s.time_h for s in states]),
            bus_ids=g.bus_ids,
            **{f: np.concatenate([getattr(s, f) for s in states]) for f in _STATE_FIELDS},
        )
        lam0 = np.concatenate([np.full(len(self.scenarios), g.energy_price(b)) for b in used])
        lmp = exact_lmps(g.price_net, stacked, lam0).reshape(len(used), len(self.scenarios), -1)
        return {b: lmp[i] for i, b in enumerate(used)}

    def price_state(self, broadcast: int) -> PriceState:
        """The price model's input at ``broadcast`` (realized loads and PV at its time)."""
        g = self.grid
        minutes = broadcast * self.cfg.broadcast_minutes
        lp, lq = self._loads_at(minutes)
        pv = self._pv_at(minutes)
        n_s = len(self.scenarios)
        return PriceState(
            time_h=np.full(n_s, (minutes / 60.0) % 24.0),
            bus_ids=g.bus_ids,
            load_p_mw=lp @ g.load_to_bus.T,
            load_q_mvar=lq @ g.load_to_bus.T,
            pv_available_mw=pv @ g.pv_to_bus.T,
            der_p_mw=self.p_prev @ g.unit_to_bus.T,
            vm_pu=self.vm.copy(),
            va_deg=self.va.copy(),
        )

    # ---------------------------------------------------------------------- time series
    def _loads_at(self, minutes: float) -> tuple[np.ndarray, np.ndarray]:
        i0, i1, w = self.grid.interp(minutes)
        p = np.stack([(1 - w) * s.load_p[i0] + w * s.load_p[i1] for s in self.scenarios])
        q = np.stack([(1 - w) * s.load_q[i0] + w * s.load_q[i1] for s in self.scenarios])
        return p, q

    def _pv_at(self, minutes: float) -> np.ndarray:
        i0, i1, w = self.grid.interp(minutes)
        return np.stack([(1 - w) * s.pv[i0] + w * s.pv[i1] for s in self.scenarios])

    def _refresh(self) -> None:
        """Conditions of step k: loads, PV availability, price, unit ranges."""
        g, u = self.grid, self.units
        minutes = self.k * self.cfg.step_minutes  # past the series' end its last point holds
        self.load_p, self.load_q = self._loads_at(minutes)
        self.pv_avail = self._pv_at(minutes)
        b = g.broadcast_index(self.k)
        if b != self._broadcast:
            self.lmp_bus = self._price(b)
            self._broadcast = b
        lo = np.broadcast_to(u.p_min_mw, self.p_prev.shape).copy()
        hi = np.broadcast_to(u.p_max_mw, self.p_prev.shape).copy()
        hi[:, g.pv_idx] = self.pv_avail
        st = g.st_idx
        if len(st):
            e = self.energy[:, st]
            room = (u.e_floor_mwh[st] + u.e_cap_mwh[st] - e) / (u.eff_charge[st] * self.dt_h)
            lo[:, st] = np.minimum(0.0, np.maximum(u.p_min_mw[st], -room))
            head = (e - u.e_floor_mwh[st]) * u.eff_discharge[st] / self.dt_h
            hi[:, st] = np.maximum(0.0, np.minimum(u.p_max_mw[st], head))
        self.lo, self.hi = lo, hi

    def _price(self, b: int) -> np.ndarray:
        if self._lmp_table is not None:
            return self._lmp_table[b]
        state = self.price_state(b)
        lmp = np.asarray(self.cfg.price_model(state), dtype=float)
        n_s, n_b = len(self.scenarios), self.grid.n_bus
        if lmp.shape == (n_b,) and n_s == 1:
            lmp = lmp[None, :]
        if lmp.shape != (n_s, n_b):
            raise ValueError(
                f"price_model returned shape {lmp.shape}; expected ({n_s}, {n_b}) = "
                "(scenarios, buses in env.bus_ids order)"
            )
        if not np.all(np.isfinite(lmp)):
            raise ValueError(f"price_model returned a non-finite LMP at broadcast {b}")
        return lmp

    # ----------------------------------------------------------------------- observation
    def observation(self) -> np.ndarray:
        """(S, N, 8) float32 in :data:`OBS_FIELDS` order."""
        g, u = self.grid, self.units
        n_s = len(self.scenarios)
        obs = np.zeros((n_s, u.n, len(OBS_FIELDS)), np.float32)
        st = g.st_idx
        obs[:, st, 0] = (self.energy[:, st] - u.e_floor_mwh[st]) / u.e_cap_mwh[st]
        obs[:, :, 1] = self.p_prev / u.rated_mw
        obs[:, :, 2] = self.lo / u.rated_mw
        obs[:, :, 3] = self.hi / u.rated_mw
        fc = np.broadcast_to(u.p_max_mw, (n_s, u.n)).copy()
        fc[:, st] = self.hi[:, st]
        fc[:, g.pv_idx] = g.pv_forecast_next(self.k)
        obs[:, :, 4] = fc / u.rated_mw
        hour = (self.k * self.cfg.step_minutes / 60.0) % 24.0
        obs[:, :, 5] = np.sin(2 * np.pi * hour / 24.0)
        obs[:, :, 6] = np.cos(2 * np.pi * hour / 24.0)
        obs[:, :, 7] = self.lmp_bus[:, g.unit_bus_pos] / g.price_scale
        return obs

    # ------------------------------------------------------------------------------ step
    def outputs(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Map validated actions (S, N) to MW; returns (P, clipped mask, clip excess)."""
        span = self.hi - self.lo
        if self.cfg.action_mode == "discrete":
            p = self.lo + span * (actions / (self.n_levels - 1))
            return p, np.zeros(p.shape, bool), np.zeros(p.shape)
        clipped = np.abs(actions) > 1.0
        excess = np.where(clipped, np.abs(actions) - 1.0, 0.0)
        a = np.clip(actions, -1.0, 1.0)
        return self.lo + span * ((a + 1.0) / 2.0), clipped, excess

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, StepInfo]:
        """Apply validated actions (S, N); returns obs, rewards (S, N), terminated, info."""
        if self.k >= self.n_steps:
            raise RuntimeError("episode is over: call reset() before step()")
        p, clipped, excess = self.outputs(actions)
        rewards, energy, soc_mwh = self.rewards(p)
        flow = self.grid.power_flow(self.load_p, self.load_q, p)
        violations = self.grid.violations(flow)
        violations["soc_mwh"] = soc_mwh.sum(axis=1)
        metrics = self._metrics(p, rewards, flow)
        self.energy, self.p_prev = energy, p
        self.vm, self.va = flow["vm"], flow["va"]
        self.k += 1
        self._refresh()
        info = StepInfo(violations, metrics, clipped, excess, p)
        return self.observation(), rewards, self.k >= self.n_steps, info

    def rewards(
        self, p: np.ndarray, rows: slice = slice(None)
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Eq. 2 − eq. 3 + ancillary bonus per unit for outputs ``p`` of the scenarios
        ``rows``: rewards, the next energy and the MWh outside the SOC band (each like p)."""
        g, u, dt, cfg = self.grid, self.units, self.dt_h, self.cfg
        lam = self.lmp_bus[rows][:, g.unit_bus_pos]
        r = (lam - u.cost_usd_per_mwh) * p * dt  # eq. 2 (net of a flexible load's bid)
        energy = np.broadcast_to(self.energy[rows], p.shape).copy()
        outside = np.zeros_like(p)
        st = g.st_idx
        if len(st):
            ps = p[:, st]
            energy[:, st] -= dt * np.maximum(ps / u.eff_discharge[st], u.eff_charge[st] * ps)
            band_lo, band_hi = u.e_min_mwh[st], u.e_max_mwh[st]
            # e_cap·F of eq. 3: the MWh below z_min plus the MWh above z_max
            outside[:, st] = np.maximum(0.0, band_lo - energy[:, st]) + np.maximum(
                0.0, energy[:, st] - band_hi
            )
            r -= cfg.soc_penalty_usd_per_mwh * outside
        if cfg.reserve_bonus_usd_per_mwh:
            r[:, g.reserve_idx] += (
                cfg.reserve_bonus_usd_per_mwh
                * (self.hi[rows][:, g.reserve_idx] - p[:, g.reserve_idx])
                * dt
            )
        return r, energy, outside

    def _metrics(self, p: np.ndarray, rewards: np.ndarray, flow: dict) -> dict[str, np.ndarray]:
        """seed000 §4.1 metrics of this step, per scenario."""
        g = self.grid
        avail = self.pv_avail.sum(axis=1)
        used = p[:, g.pv_idx].sum(axis=1)
        rate = np.where(avail > 1e-9, used / np.maximum(avail, 1e-12), 1.0)
        dev = np.abs(flow["p_sub_mw"] - day_ahead_mw(g, self.k))
        return {
            "reserve_cost_usd_per_h": self.cfg.reserve_price_usd_per_mwh * dev,
            "pv_integration_rate": rate,
            "net_power_deviation_mw": dev,
            "substation_p_mw": flow["p_sub_mw"],
            "day_ahead_substation_p_mw": np.full(len(p), day_ahead_mw(g, self.k)),
            "pv_curtailed_mw": avail - used,
            "reward_usd": rewards.sum(axis=1),
            "time_h": np.full(len(p), self.k * self.dt_h),
        }


# ---------------------------------------------------------------------------- day ahead
# The plan lives here, not in grid.py or oracle.py: computing it steps a DispatchCore with the
# oracle, so beside the core it needs no import back from grid or oracle (no import circle).


def day_ahead_mw(grid: FeederGrid, k: int) -> float:
    """Day-ahead substation import (MW) for step k: the exact per-interval dispatch
    (the oracle) played on the forecast, held over each 15-min interval."""
    if grid._da is None:
        grid._da = _day_ahead(grid)
    i0, _, _ = grid.interp(min(k, grid.n_steps - 1) * grid.cfg.step_minutes)
    return float(grid._da[min(i0, len(grid._da) - 1)])


def _day_ahead(grid: FeederGrid) -> np.ndarray:
    """The plan, cached per process for the options it depends on (it takes one oracle
    solve per 15-min interval: ~0.25 s each with 5 000 units)."""
    c = grid.cfg
    price = c.energy_price_usd_per_mwh
    key = (
        grid.case.case_hash(),
        c.n_units,
        tuple(c.soc_band),
        c.soc_penalty_usd_per_mwh,
        c.reserve_bonus_usd_per_mwh,
        None if c.v_limits is None else tuple(c.v_limits),
        None if price is None else tuple(np.atleast_1d(price).tolist()),
        c.horizon_h,
        c.broadcast_minutes,
        c.step_minutes,
    )
    if key not in _DA_CACHE:
        if len(_DA_CACHE) >= 16:
            _DA_CACHE.pop(next(iter(_DA_CACHE)))
        _DA_CACHE[key] = day_ahead_schedule(grid)
    return _DA_CACHE[key]


#: day-ahead plans already computed in this process (see _day_ahead)
_DA_CACHE: dict[tuple, np.ndarray] = {}


def day_ahead_schedule(grid: FeederGrid) -> np.ndarray:
    """Substation import (MW) per series interval when the oracle dispatches the forecast
    day at the series step (the day-ahead plan against which real time is measured)."""
    cfg = grid.cfg
    hours = min(grid.n_series, int(np.ceil(cfg.horizon_h * 60 / grid.series_minutes - 1e-9)))
    da_cfg = cfg.replace(
        step_minutes=grid.series_minutes,
        horizon_h=hours * grid.series_minutes / 60.0,
        price_model=None,
        action_mode="continuous",
        realized_case=None,  # the day-ahead plan sees the forecast only
    )
    core = DispatchCore(da_cfg, FeederGrid(da_cfg))
    core.grid._da = np.zeros(hours)  # the plan's own metrics are not needed
    core.scenarios = [core.grid.scenario(None)]
    core.reset_scenarios()
    out = np.empty(hours)
    for k in range(hours):
        sol = solve_oracle(core, 0)
        _, _, _, info = core.step(sol.action[None, :])
        out[k] = info.metrics["substation_p_mw"][0]
    return out
