"""The static side of ``der-dispatch``: feeder, units, series, scenarios, AC power flow.

Built once per environment (shared by every scenario of a vector env). Series: the case's
15-min profiles are the **forecast**; a scenario's realized series are the forecast plus the
AR(1) errors of :func:`dispatchlab.cases.timeseries.forecast_errors` (one forecast issued for
the whole day, so the error grows with lead time), drawn from the scenario's seed. Between the
15-min points, loads and PV are **linearly interpolated** (the last point is held).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from dispatchlab.cases.case import Case
from dispatchlab.cases.timeseries import forecast_errors
from dispatchlab.learning.envs.der_dispatch.config import DERDispatchConfig, Scenario
from dispatchlab.learning.envs.der_dispatch.prices import price_network
from dispatchlab.learning.envs.der_dispatch.units import FLEX, PV, STORAGE, build_units
from dispatchlab.learning.seeding import child_rngs
from dispatchlab.solvers.batched_pf import BatchedPowerFlow


def _load(case: str | Case) -> Case:
    if isinstance(case, Case):
        return case
    from dispatchlab.cases.library import load_case

    return load_case(case)


class FeederGrid:
    """Units, maps (unit/load → bus), series, scenarios and the power flow of one config."""

    def __init__(self, config: DERDispatchConfig):
        self.cfg = config
        case = _load(config.case)
        if case.timeseries is None or "load_p_mw" not in case.timeseries:
            raise ValueError(f"case '{case.name}' needs a time series with load_p_mw")
        self.case = case
        self.units = u = build_units(case, config.n_units, config.soc_band)
        ts = case.timeseries
        self.series_minutes = ts.step.total_seconds() / 60.0 if len(ts) > 1 else 15.0
        if config.horizon_h * 60.0 > len(ts) * self.series_minutes + 1e-9:
            raise ValueError(
                f"horizon_h={config.horizon_h} exceeds the case's time series "
                f"({len(ts)} × {self.series_minutes} min)"
            )
        self.n_steps = round(config.horizon_h * 60.0 / config.step_minutes)
        self.unit_case = case.replace(timeseries=None).with_ders(u.table, replace=True)
        self.pf = BatchedPowerFlow(self.unit_case)
        if not np.array_equal(self.pf.net.der_ids, np.arange(u.n)):
            raise RuntimeError("power flow DER order differs from the env's unit order")
        self._maps(case)
        self._forecast(case)
        self.price_net = price_network(case, u, v_limits=config.v_limits)
        self._price_profile(case)
        self._da: np.ndarray | None = None  #: the day-ahead plan (core.day_ahead_mw fills it)

    # ------------------------------------------------------------------------- structure
    def _maps(self, case: Case) -> None:
        u, net = self.units, self.pf.net
        buses = case.table("buses")
        self.bus_ids = buses.index.to_numpy()
        self.n_bus = len(self.bus_ids)
        pos = pd.Series(np.arange(self.n_bus), index=self.bus_ids)
        self.unit_bus_pos = pos[u.bus_id].to_numpy()
        self.pv_idx, self.st_idx = u.index(PV), u.index(STORAGE)
        self.reserve_idx = np.flatnonzero(np.isin(u.kind, (STORAGE, FLEX)))
        self.unit_to_bus = _incidence(self.unit_bus_pos, self.n_bus)
        self.pv_to_bus = _incidence(self.unit_bus_pos[self.pv_idx], self.n_bus)
        self.load_ids = net.load_ids
        loads = case.table("loads").loc[self.load_ids]
        self.load_to_bus = _incidence(pos[loads["bus"]].to_numpy(), self.n_bus)
        # power-flow positions of the case's buses (switch-fused buses share one position)
        self.pf_pos = net.bus_pos.loc[self.bus_ids].to_numpy()
        self.ref_pos = int(net.ref[0])
        self.ybus_ref = np.asarray(net.ybus[self.ref_pos].todense()).ravel()
        res_order = pd.Series(np.arange(len(net.bus_pos)), index=net.bus_pos.index)
        self.res_cols = res_order.loc[self.bus_ids].to_numpy()
        self.vm_flat = np.ones(self.n_bus)
        if self.cfg.v_limits is None:
            self.v_min = buses["vm_min_pu"].to_numpy(float)
            self.v_max = buses["vm_max_pu"].to_numpy(float)
        else:
            self.v_min = np.full(self.n_bus, self.cfg.v_limits[0])
            self.v_max = np.full(self.n_bus, self.cfg.v_limits[1])
        self.non_ref = np.flatnonzero(buses["bus_type"].to_numpy() != "REF")
        gens = case.table("gens")
        ref_bus = self.bus_ids[np.setdiff1d(np.arange(self.n_bus), self.non_ref)[0]]
        sub = gens[gens["in_service"] & (gens["bus"] == ref_bus)]
        self.p0_lim = (float(sub["p_min_mw"].sum()), float(sub["p_max_mw"].sum()))
        self.c1_ref = float(sub["cost_c1_usd_per_mwh"].iloc[0])
        self.rated = np.flatnonzero(np.isfinite(net.rate_pu))

    def _forecast(self, case: Case) -> None:
        """Forecast series on the 15-min grid: loads (T, n_load) and PV per unit (T, n_pv);
        the realized scenarios are drawn around ``realized_case``'s series when it is set
        (a stress test the forecast does not know about), else around the forecast."""
        self.fc_load_p, self.fc_load_q, self.fc_pv = self._series(case)
        self.n_series = len(case.timeseries)
        self.rt_load_p, self.rt_load_q, self.rt_pv = self.fc_load_p, self.fc_load_q, self.fc_pv
        if self.cfg.realized_case is not None:
            real = _load(self.cfg.realized_case)
            ts = real.timeseries
            if ts is None or len(ts) != self.n_series or "load_p_mw" not in ts:
                raise ValueError(
                    f"realized_case '{real.name}' needs a load_p_mw time series of "
                    f"{self.n_series} steps like '{case.name}'"
                )
            missing = [i for i in self.load_ids if i not in ts["load_p_mw"].columns]
            if missing:
                raise ValueError(f"realized_case '{real.name}' lacks load(s) {missing[:5]}")
            self.rt_load_p, self.rt_load_q, self.rt_pv = self._series(real)

    def _series(self, case: Case) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ts, u = case.timeseries, self.units
        load_p = ts["load_p_mw"][self.load_ids].to_numpy()
        if "load_q_mvar" in ts:
            load_q = ts["load_q_mvar"][self.load_ids].to_numpy()
        else:
            q0 = case.table("loads").loc[self.load_ids, "q_mvar"].to_numpy()
            load_q = np.broadcast_to(q0, load_p.shape).copy()
        avail = ts["der_p_max_mw"] if "der_p_max_mw" in ts else pd.DataFrame(index=ts.index)
        cols = []
        for i in self.pv_idx:
            col = int(u.pv_profile_col[i])
            if col in avail.columns:
                cols.append(avail[col].to_numpy() * u.pv_profile_scale[i])
            else:
                cols.append(np.full(len(ts), u.p_max_mw[i]))
        pv = np.stack(cols, axis=1) if cols else np.zeros((len(ts), 0))
        return load_p, load_q, pv

    def _price_profile(self, case: Case) -> None:
        price = self.cfg.energy_price_usd_per_mwh
        if price is None:
            self.lam0 = np.full(self.n_series, self.c1_ref)
        else:
            arr = np.asarray(price, dtype=float)
            self.lam0 = np.full(self.n_series, float(arr)) if arr.ndim == 0 else arr
            if self.lam0.shape != (self.n_series,) or not np.all(np.isfinite(self.lam0)):
                raise ValueError(
                    f"energy_price_usd_per_mwh: one number or {self.n_series} finite values "
                    f"(one per {self.series_minutes}-min interval), got shape {arr.shape}"
                )
        self.price_scale = float(np.mean(np.abs(self.lam0))) or 1.0

    # ------------------------------------------------------------------------------ time
    def interp(self, minutes: float) -> tuple[int, int, float]:
        """Rows and weight of the linear interpolation at ``minutes`` (the last row held)."""
        x = minutes / self.series_minutes
        i0 = min(int(np.floor(x + 1e-9)), self.n_series - 1)
        i1 = min(i0 + 1, self.n_series - 1)
        return i0, i1, float(min(max(x - i0, 0.0), 1.0)) if i1 > i0 else 0.0

    def broadcast_index(self, k: int) -> int:
        """The last LMP broadcast at or before the start of step k."""
        return int(np.floor(k * self.cfg.step_minutes / self.cfg.broadcast_minutes + 1e-9))

    def energy_price(self, broadcast: int) -> float:
        minutes = broadcast * self.cfg.broadcast_minutes
        return float(self.lam0[min(int(minutes // self.series_minutes), self.n_series - 1)])

    def pv_forecast_next(self, k: int) -> np.ndarray:
        """Forecast PV availability (MW per PV unit) at the next 15-min point after step k."""
        i0, _, _ = self.interp(k * self.cfg.step_minutes)
        return self.fc_pv[min(i0 + 1, self.n_series - 1)]

    # ------------------------------------------------------------------------- scenarios
    def scenario(self, seed: int | None) -> Scenario:
        """Realized series of the scenario ``seed``: the realized centre (the forecast unless
        ``realized_case`` is set) with seeded errors; None: the centre itself."""
        if seed is None:
            return Scenario(None, self.rt_load_p, self.rt_load_q, self.rt_pv)
        s_load, s_pv = (int(r.integers(2**31 - 1)) for r in child_rngs(int(seed), 2))
        cfg = self.cfg
        p = _perturb(self.rt_load_p, cfg.load_error_std, cfg.error_rho, s_load, None)
        ratio = np.divide(p, self.rt_load_p, out=np.ones_like(p), where=self.rt_load_p > 0)
        upper = self.units.p_max_mw[self.pv_idx]
        pv = _perturb(self.rt_pv, cfg.pv_error_std, cfg.error_rho, s_pv, upper)
        return Scenario(int(seed), p, self.rt_load_q * ratio, pv)

    # ---------------------------------------------------------------------- power flow
    def power_flow(self, load_p: np.ndarray, load_q: np.ndarray, p: np.ndarray) -> dict:
        """AC power flow of S scenarios: voltages (case bus order) and substation P, line S."""
        res = self.pf.run(load_p, load_q, der_p_mw=p, der_q_mvar=np.zeros_like(p))
        vpos = np.zeros((len(p), self.pf.net.n_bus), complex)
        v_case = (res.vm * np.exp(1j * np.deg2rad(res.va_deg)))[:, self.res_cols]
        vpos[:, self.pf_pos] = v_case
        s_ref = vpos[:, self.ref_pos] * np.conj(vpos @ self.ybus_ref)
        out = {
            "vm": np.abs(v_case),
            "va": np.rad2deg(np.angle(v_case)),
            "p_sub_mw": s_ref.real * self.pf.net.base_mva,
            "converged": res.converged,
        }
        if len(self.rated):
            net = self.pf.net
            f, t = net.f[self.rated], net.t[self.rated]
            i_f = net.yff[self.rated] * vpos[:, f] + net.yft[self.rated] * vpos[:, t]
            i_t = net.ytf[self.rated] * vpos[:, f] + net.ytt[self.rated] * vpos[:, t]
            s = np.maximum(np.abs(vpos[:, f] * np.conj(i_f)), np.abs(vpos[:, t] * np.conj(i_t)))
            out["loading_excess_mva"] = np.maximum(s - net.rate_pu[self.rated], 0) * net.base_mva
        return out

    def violations(self, flow: dict) -> dict[str, np.ndarray]:
        """Per constraint family, per scenario, magnitude ≥ 0 (0 = satisfied)."""
        vm = flow["vm"][:, self.non_ref]
        volt = np.maximum(self.v_min[self.non_ref] - vm, 0) + np.maximum(
            vm - self.v_max[self.non_ref], 0
        )
        p = flow["p_sub_mw"]
        sub = np.maximum(p - self.p0_lim[1], 0) + np.maximum(self.p0_lim[0] - p, 0)
        line = flow.get("loading_excess_mva", np.zeros((len(p), 0))).sum(axis=1)
        return {
            "voltage_pu": volt.sum(axis=1),
            "line_mva": line,
            "substation_mw": sub,
            "power_flow": (~flow["converged"]).astype(float),
        }


def _incidence(pos: np.ndarray, n: int) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(len(pos)), (pos, np.arange(len(pos)))), shape=(n, len(pos)))


def _perturb(fc: np.ndarray, sigma: float, rho: float, seed: int, upper) -> np.ndarray:
    """Forecast + AR(1) error (relative to the value), clipped to [0, upper]."""
    if fc.shape[1] == 0 or sigma == 0:
        return fc.copy()
    frame = pd.DataFrame(fc, columns=pd.RangeIndex(fc.shape[1]))
    up = None if upper is None else dict(enumerate(upper))
    out = forecast_errors(frame, horizon_steps=len(fc), sigma=sigma, rho=rho, seed=seed, upper=up)
    return out.to_numpy()
