"""The batched engine of ``voltage-control-discrete`` (seed002): OLTC, capacitors, SVG, DGs.

Devices (seed002 §4, sizes from ``ieee33-seed002``): the OLTC on the feeder-head branch (11
positions from ``tap_min`` to ``tap_max``, ratio at the root side), capacitor banks switched in
``q_step_mvar`` steps (0 … ``n_steps``), the SVG discretised into ``svg_levels`` evenly spaced
set-points over ``[q_min, q_max]`` (so the whole action space is finite and the oracle can be
exact), and DGs that follow an availability profile at unity power factor (disturbances, not
agents). Every action is an absolute position.

The OLTC is modelled exactly through :class:`~.pf.RadialFlow`: a ratio τ at the root
side of the root's only branch is the feeder seen from a root at V_root/τ (so a ratio below 1
raises the downstream voltages); the capacitors are constant susceptances q·|V|² like the
Case's capacitor DERs.

Per step cost (seed002 §2.1 (3) prints only "weighted loss + voltage terms + a penalty over the
violating nodes"; the weights are ours): ``w_loss·P_loss[p.u.] + w_dev·mean_n |V_n − 1| +
w_viol·Σ_n ΔU_n``; every agent gets ``−cost`` (a shared, cooperative reward).
"""

from __future__ import annotations

import numpy as np

from dispatchlab.cases.case import Case
from dispatchlab.cases.timeseries import profile
from dispatchlab.learning.envs.voltage.common import build_profiles, incidence
from dispatchlab.learning.envs.voltage.config import DiscreteVoltageConfig
from dispatchlab.learning.envs.voltage.pf import RadialFlow


def perception_state(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """seed002 §3.1 (1): normalise into [0, 1] between the limits and bin into 7 states.

    Returned 0-based (state k of the paper is k − 1): 0 at or below ``lo``, 6 at or above
    ``hi``, 1…5 for the five equal bins in between; 3 (the paper's 4) is the middle bin.
    """
    u = (x - lo) / (hi - lo)
    inner = np.clip(1 + np.floor(u * 5).astype(np.int64), 1, 5)
    return np.where(u <= 0, 0, np.where(u >= 1, 6, inner))


def _with_dg_size(case: Case, p_max_mw: float | None) -> Case:
    """``case`` with every DG's installed power set to ``p_max_mw`` (None: unchanged)."""
    if p_max_mw is None:
        return case
    if p_max_mw < 0:
        raise ValueError(f"dg_p_max_mw must be ≥ 0, got {p_max_mw}")
    ders = case.table("ders").copy()
    ders["p_max_mw"] = np.where(ders["kind"] == "dg", float(p_max_mw), ders["p_max_mw"])
    return case.replace(ders=ders)


class DiscreteVoltageCore:
    """Devices, scenarios and the per-scenario state of S episodes."""

    def __init__(self, case: Case, config: DiscreteVoltageConfig, n_scen: int):
        if config.observation not in ("perception", "continuous"):
            raise ValueError(
                f"observation must be 'perception' or 'continuous', got {config.observation!r}"
            )
        if config.svg_levels < 2:
            raise ValueError(f"svg_levels must be ≥ 2, got {config.svg_levels}")
        if config.svg_mode not in ("discrete", "continuous"):
            raise ValueError(
                f"svg_mode must be 'discrete' or 'continuous', got {config.svg_mode!r}"
            )
        case = _with_dg_size(case, config.dg_p_max_mw)
        self.case, self.config, self.n_scen = case, config, n_scen
        self.flow = RadialFlow(case, tol_pu=config.tol_pu)
        n, base = self.flow.n_bus, case.base_mva
        br = case.table("branches").loc[self.flow.head_branch()]
        if br["tap_steps"] < 2:
            raise ValueError(f"case '{case.name}': the head branch has no OLTC (tap_steps < 2)")
        self.taps = np.linspace(br["tap_min"], br["tap_max"], int(br["tap_steps"]))
        self.tap0 = float(br["tap_ratio"])
        ders = case.table("ders")
        ders = ders[ders["in_service"]]
        caps, svgs = ders[ders["kind"] == "capacitor"], ders[ders["kind"] == "svg"]
        self.dgs = ders[ders["kind"] == "dg"]
        if (caps["n_steps"] < 1).any():
            raise ValueError(f"capacitors {caps['name'].tolist()} need n_steps ≥ 1")
        pos = self.flow.net.bus_pos
        self.cap_q = [
            np.arange(k + 1) * s for k, s in zip(caps["n_steps"], caps["q_step_mvar"], strict=True)
        ]
        self.svg_q = [
            np.linspace(lo, hi, config.svg_levels)
            for lo, hi in zip(svgs["q_min_mvar"], svgs["q_max_mvar"], strict=True)
        ]
        self.m_cap = incidence(pos.loc[caps["bus"]].to_numpy(), n, 1.0 / base)
        self.m_svg = incidence(pos.loc[svgs["bus"]].to_numpy(), n, 1.0 / base)
        self.m_dg = incidence(pos.loc[self.dgs["bus"]].to_numpy(), n, 1.0 / base)
        loads = case.table("loads")
        self.m_load = incidence(
            pos.loc[loads.loc[loads["in_service"], "bus"]].to_numpy(), n, 1.0 / base
        )
        self.agents = [
            "oltc",
            *(str(x).lower() for x in caps["name"]),
            *(str(x).lower() for x in svgs["name"]),
        ]
        self.options = [self.taps, *self.cap_q, *self.svg_q]  # the setting of each position
        self.n_options = np.array([len(o) for o in self.options])
        self.n_svg = len(self.svg_q)
        self.svg_lo = svgs["q_min_mvar"].to_numpy(float)
        self.svg_hi = svgs["q_max_mvar"].to_numpy(float)
        self.init_pos = np.array(
            [np.abs(self.taps - self.tap0).argmin()]
            + [
                int(np.abs(o - q).argmin())
                for o, q in zip(
                    self.cap_q + self.svg_q, np.r_[caps["q_mvar"], svgs["q_mvar"]], strict=True
                )
            ]
        )
        self.profiles = build_profiles(case, self.dgs.index, config.dt_h, config.profiles)
        self._dg_shapes()
        self.horizon = self.profiles.n_steps

    def _dg_shapes(self) -> None:
        """DG availability = p_max × ``dg_profile`` over each candidate day (noisy like PV)."""
        name = self.config.dg_profile
        if not name or len(self.dgs) == 0:
            return
        ts = self.case.timeseries
        has_ts = ts is not None and len(ts) > 0
        if not has_ts and not self.config.profiles.days:
            raise ValueError(
                f"case '{self.case.name}' has no time series: dg_profile='{name}' needs "
                "profiles.days (or a case time series) to place its days"
            )
        days = self.config.profiles.days or (str(ts.index[0].date()),)
        start_time = ts.index[0].time() if has_ts else "00:00:00"
        shapes = [
            profile(
                name,
                start=f"{d} {start_time}",
                periods=self.profiles.n_steps,
                step=f"{round(self.config.dt_h * 60)}min",
            ).to_numpy()
            for d in days
        ]
        self.profiles.avail_mw = self.profiles.avail_mw * np.stack(shapes)[:, :, None]
        self.profiles.noisy = np.ones(len(self.dgs), bool)

    # ------------------------------------------------------------------------- stepping
    def reset(self, rngs: list[np.random.Generator], days: list | None = None) -> None:
        days = days or [None] * len(rngs)
        draws = [
            self.profiles.draw(rng, self.config.profiles, day)
            for rng, day in zip(rngs, days, strict=True)
        ]
        self.load_p, self.load_q, self.dg_p = (np.stack(x) for x in zip(*draws, strict=True))
        self.t = 0
        self.pos = np.tile(self.init_pos, (self.n_scen, 1))
        self.svg_mvar = self.svg_setting(self.pos)
        self.last = self.evaluate(self.pos, self._loads(0))

    @property
    def done(self) -> bool:
        return self.t >= self.horizon

    def _loads(self, t: int) -> tuple[np.ndarray, ...]:
        """(bus injections of loads and DGs (S, n), ) for step ``t``."""
        s = self.m_dg.right(self.dg_p[:, t] + 0j) - self.m_load.right(
            self.load_p[:, t] + 1j * self.load_q[:, t]
        )
        return (s,)

    def svg_setting(self, pos: np.ndarray) -> np.ndarray:
        """(rows, n_svg) SVG Mvar of the SVG level positions in ``pos`` (the last columns)."""
        first = len(self.options) - self.n_svg
        cols = [o[pos[:, first + i]] for i, o in enumerate(self.svg_q)]
        return np.stack(cols, axis=1) if cols else np.zeros((len(pos), 0))

    def svg_level(self, svg: np.ndarray) -> np.ndarray:
        """(rows, n_svg) the nearest SVG level of each Mvar value (for observations)."""
        levels = [np.abs(o[None, :] - svg[:, [i]]).argmin(axis=1) for i, o in enumerate(self.svg_q)]
        return np.stack(levels, axis=1) if levels else np.zeros((len(svg), 0), np.int64)

    def evaluate(
        self, pos: np.ndarray, loads: tuple, svg: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Power flow, cost, metrics and violations of positions ``pos`` (rows = scenarios;
        ``loads[0]`` has one row per scenario or one row for all); ``svg`` (rows, n_svg) Mvar
        replaces the SVG levels of ``pos`` (continuous SVG)."""
        c = self.config
        n_cap = len(self.cap_q)
        tap = self.taps[pos[:, 0]]
        cap = np.stack([self.cap_q[i][pos[:, 1 + i]] for i in range(n_cap)], axis=1)
        svg = self.svg_setting(pos) if svg is None else svg
        s_bus = loads[0] + self.m_svg.right(1j * svg)
        if s_bus.shape[0] != len(pos):
            s_bus = np.broadcast_to(s_bus, (len(pos), s_bus.shape[1]))
        res = self.flow.solve(s_bus, self.m_cap.right(1j * cap), tap / self.tap0)
        vm = res.vm
        excursion = np.maximum(c.v_min_pu - vm, 0) + np.maximum(vm - c.v_max_pu, 0)
        n = vm.shape[1]
        dev = np.abs(vm - 1.0).sum(axis=1) / n
        viol = excursion.sum(axis=1)
        pf = np.abs(res.head_pu.real) / np.maximum(np.abs(res.head_pu), 1e-12)
        return {
            "vm": vm,
            "head": res.head_pu,
            "cost": c.w_loss * res.loss_pu + c.w_dev * dev + c.w_viol * viol,
            "loss_mw": res.loss_pu * self.case.base_mva,
            "loss_pu": res.loss_pu,
            "voltage_deviation_pu": dev,
            "compliance_rate": ((vm >= c.v_min_pu) & (vm <= c.v_max_pu)).sum(axis=1) / n,
            "head_power_factor": pf,
            "voltage_band_pu": viol,
        }

    def evaluate_now(
        self, pos: np.ndarray, scen: int = 0, svg: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """:meth:`evaluate` of candidate positions ``pos`` (rows = candidates; ``svg`` their
        SVG Mvar, None = the levels of ``pos``) in scenario ``scen`` at the current step: one
        batched power flow, the state unchanged (the oracle and the safety layer use it)."""
        pos = np.atleast_2d(pos)
        svg = None if svg is None else np.broadcast_to(svg, (len(pos), self.n_svg))
        return self.evaluate(pos, (self._loads(self.t)[0][scen : scen + 1],), svg)

    def step(self, pos: np.ndarray, svg: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Apply positions ``pos`` (and, for a continuous SVG, its Mvar ``svg``)."""
        if self.done:
            raise RuntimeError("the episode is over: call reset() before step()")
        svg = self.svg_setting(pos) if svg is None else svg
        out = self.evaluate(pos, self._loads(self.t), svg)
        k = len(self.options) - self.n_svg
        moved = (pos[:, :k] != self.pos[:, :k]).sum(axis=1)
        out["device_operations"] = (moved + (np.abs(svg - self.svg_mvar) > 1e-9).sum(axis=1)) * 1.0
        self.t += 1
        self.pos, self.svg_mvar, self.last = pos, svg, out
        return out

    def features(self) -> np.ndarray:
        """(S, F) global state: [t/T, tap ratio, capacitor Mvar…, SVG Mvar…, |V| (bus),
        head P, head Q (MW, Mvar), bus P load, bus Q load (MW, Mvar), DG P (MW)]."""
        t = min(self.t, self.horizon - 1)
        base = self.case.base_mva
        k = len(self.options) - self.n_svg
        discrete = [o[self.pos[:, i]] for i, o in enumerate(self.options[:k])]
        settings = np.concatenate([np.stack(discrete, axis=1), self.svg_mvar], axis=1)
        load = -self.m_load.right(self.load_p[:, t] + 1j * self.load_q[:, t]) * base
        head = self.last["head"] * base
        return np.concatenate(
            [
                np.full((self.n_scen, 1), self.t / self.horizon),
                settings,
                self.last["vm"],
                head.real[:, None],
                head.imag[:, None],
                -load.real,
                -load.imag,
                self.dg_p[:, t],
            ],
            axis=1,
        )

    def perception(self) -> np.ndarray:
        """(S, bus + 1) seed002 states of every bus voltage and of the head power factor."""
        c = self.config
        v = perception_state(self.last["vm"], c.v_min_pu, c.v_max_pu)
        head = self.last["head"]
        sin_phi = head.imag / np.maximum(np.abs(head), 1e-12)
        lim = np.sqrt(1 - c.pf_min**2)  # pf ≥ pf_min ⇔ |sin φ| ≤ lim; state 4 = unity
        return np.concatenate([v, perception_state(sin_phi, -lim, lim)[:, None]], axis=1)
