"""The optimisation counterparts of seed002 that decide from a model, not by enumeration.

* ``opf-round`` — the paper's "OPF": per step, ``solve(case, "distflow", discrete="round")``
  (DistFlow SOCP, losses, band [0.95, 1.05] hard) on the step's loads; the taps and capacitor
  stages are rounded (relax, round, re-solve) and the SVG output is the re-solve's. The
  rounding gap is the solver's ``info["integer_gap_rel"]``.
* ``mpc`` — two-layer MPC: every hour, taps and capacitor stages from ``distflow`` (rounded)
  over a 4-h window; every step the SVG output from ``lindistflow`` with those positions fixed.
  The forecast is the realised day (a perfect forecast: an upper bound on MPC's quality).

Both see the step's loads and DG output, as the exact oracle does. The DGs are not dispatched
(the env's DGs follow ``pv_1``): their output is netted into the load at their bus.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dispatchlab.cases.case import Case, TimeSeries


def step_case(core, t0: int, periods: int = 1, pos: np.ndarray | None = None) -> Case:
    """The env's case at steps ``t0 … t0 + periods − 1`` of scenario 0: loads minus DG output,
    the band as bus limits, taps / capacitors fixed at ``pos`` (for ``discrete="fixed"``)."""
    case, s = core.case, 0
    loads = case.table("loads").copy()
    ids = loads.index[loads["in_service"]]
    p = core.load_p[s, t0 : t0 + periods].copy()
    q = core.load_q[s, t0 : t0 + periods].copy()
    for j, bus in enumerate(core.dgs["bus"]):
        col = int(np.flatnonzero(loads.loc[ids, "bus"].to_numpy() == bus)[0])
        p[:, col] -= core.dg_p[s, t0 : t0 + periods, j]
    loads.loc[ids, "p_mw"], loads.loc[ids, "q_mvar"] = p[0], q[0]
    ders = case.table("ders").copy()
    ders.loc[ders["kind"] == "dg", "in_service"] = False
    buses = case.buses.copy()
    ref = buses["bus_type"] == "REF"
    buses.loc[~ref, "vm_min_pu"] = core.config.v_min_pu
    buses.loc[~ref, "vm_max_pu"] = core.config.v_max_pu
    branches = case.table("branches").copy()
    if pos is not None:
        branches.loc[core.flow.head_branch(), "tap_ratio"] = float(core.taps[pos[0]])
        caps = ders.index[(ders["kind"] == "capacitor") & ders["in_service"]]
        for i, der_id in enumerate(caps):
            ders.loc[der_id, "q_mvar"] = float(core.cap_q[i][pos[1 + i]])
    ts = None
    if periods > 1:
        start = case.timeseries.index[0] if case.timeseries is not None else "2016-01-01"
        index = pd.date_range(start, periods=periods, freq=f"{round(core.config.dt_h * 60)}min")
        ts = TimeSeries(
            {"load_p_mw": pd.DataFrame(p, index=index, columns=ids),
             "load_q_mvar": pd.DataFrame(q, index=index, columns=ids)}
        )  # fmt: skip
    return case.replace(loads=loads, ders=ders, buses=buses, timeseries=ts)


def _positions(core, result) -> tuple[np.ndarray, float]:
    """(tap and capacitor positions, SVG Mvar) of the first period of a distflow result."""
    der = result.der
    if isinstance(der.index, pd.MultiIndex):
        der = der.xs(der.index.levels[1][0], level="period")
    ders = core.case.table("ders")
    caps = ders.index[(ders["kind"] == "capacitor") & ders["in_service"]]
    svg = ders.index[(ders["kind"] == "svg") & ders["in_service"]][0]
    tap = float(np.ravel(result.info["tap_ratio"][0])[0])
    pos = [int(np.abs(core.taps - tap).argmin())]
    pos += [int(np.abs(core.cap_q[i] - der.loc[c, "q_mvar"]).argmin()) for i, c in enumerate(caps)]
    return np.array(pos), float(np.clip(der.loc[svg, "q_mvar"], core.svg_lo[0], core.svg_hi[0]))


def _action(env, pos: np.ndarray, svg: float) -> dict:
    out = {a: int(p) for a, p in zip(env.possible_agents, pos, strict=False)}
    out[env.possible_agents[-1]] = np.array([svg])
    return out


def _solve(case, **kw):
    import dispatchlab

    res = dispatchlab.solve(case, "distflow", verify=False, **kw)
    if res.status.name != "OPTIMAL":  # the hard band is infeasible: price it instead
        res = dispatchlab.solve(case, "distflow", verify=False, voltage_limits="soft", **kw)
    return res


class OPFRound:
    """``opf-round``: per-step DistFlow, rounded; ``gaps`` collects the rounding gaps."""

    def __init__(self):
        self.gaps: list[float] = []

    def __call__(self, env) -> dict:
        core = env.core
        res = _solve(step_case(core, core.t), discrete="round")
        if res.status.name != "OPTIMAL":
            from dispatchlab.learning.envs.voltage.stress import hold_policy

            return hold_policy(env)
        self.gaps.append(float(res.info.get("integer_gap_rel", 0.0)))
        return _action(env, *_positions(core, res))


class TwoLayerMPC:
    """``mpc``: hourly rounded distflow over ``window_h``; per-step lindistflow SVG."""

    def __init__(self, window_h: float = 4.0):
        self.window_h, self.pos = window_h, None

    def __call__(self, env) -> dict:
        import dispatchlab

        core = env.core
        per_hour = max(1, round(1.0 / core.config.dt_h))
        if core.t % per_hour == 0 or self.pos is None:
            n = min(max(1, round(self.window_h / core.config.dt_h)), core.horizon - core.t)
            res = _solve(step_case(core, core.t, n), discrete="round", periods=n if n > 1 else None)
            if res.status.name == "OPTIMAL":
                self.pos = _positions(core, res)[0]
            elif self.pos is None:
                self.pos = core.init_pos[:-1].copy()
        fixed = step_case(core, core.t, 1, pos=self.pos)
        res = dispatchlab.solve(fixed, "lindistflow", discrete="fixed", verify=False)
        if res.status.name != "OPTIMAL":
            res = dispatchlab.solve(
                fixed, "lindistflow", discrete="fixed", verify=False, voltage_limits="soft"
            )
        svg = _positions(core, res)[1] if res.status.name == "OPTIMAL" else 0.0
        return _action(env, self.pos, svg)
