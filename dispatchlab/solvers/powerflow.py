"""AC power flow of a Case through pandapower's Newton–Raphson (the reference power flow).

This is the independent check every dispatch is verified against; it is deliberately a thin
layer over pandapower (a maintained, validated solver) rather than a power flow of our own.
Result tables use the Case's ids and unit-suffixed columns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


class PowerFlowError(RuntimeError):
    """The power flow did not converge; the message names the case and the iteration limit."""


@dataclass(frozen=True)
class PowerFlowResult:
    """Bus voltages and branch flows of a converged AC power flow."""

    case_name: str
    bus: pd.DataFrame  # vm_pu, va_deg, p_mw, q_mvar (net injection) indexed by bus_id
    branch: pd.DataFrame  # p_from_mw, q_from_mvar, p_to_mw, q_to_mvar, loss_mw, loading_pct
    slack_p_mw: float
    slack_q_mvar: float
    solve_s: float
    iterations: int
    meta: dict = field(default_factory=dict)

    @property
    def loss_mw(self) -> float:
        return float(self.branch["loss_mw"].sum())

    def summary(self) -> dict[str, float]:
        vm = self.bus["vm_pu"]
        return {
            "vm_min_pu": float(vm.min()),
            "vm_min_bus": int(vm.idxmin()),
            "vm_max_pu": float(vm.max()),
            "loss_mw": self.loss_mw,
            "slack_p_mw": self.slack_p_mw,
            "slack_q_mvar": self.slack_q_mvar,
            "max_loading_pct": float(np.nanmax(self.branch["loading_pct"].to_numpy(), initial=0.0)),
            "iterations": self.iterations,
            "solve_s": self.solve_s,
        }


def run_ac_powerflow(
    case, *, tolerance_mva: float = 1e-9, max_iteration: int = 30, init: str = "flat"
):
    """Solve the AC power flow of ``case`` (set-points as given) with pandapower's ``runpp``.

    Raises :class:`PowerFlowError` if Newton–Raphson does not converge.
    """
    import pandapower as pp

    from dispatchlab.cases.pandapower_io import to_pandapower

    net = to_pandapower(case)
    start = time.perf_counter()
    try:
        pp.runpp(
            net,
            calculate_voltage_angles=True,
            init=init,
            tolerance_mva=tolerance_mva,
            max_iteration=max_iteration,
        )
    except pp.powerflow.LoadflowNotConverged as exc:
        raise PowerFlowError(
            f"AC power flow of case '{case.name}' did not converge in {max_iteration} "
            "iterations (overloaded case? check loads and voltage set-points)"
        ) from exc
    solve_s = time.perf_counter() - start
    return _result(case, net, solve_s)


def _result(case, net, solve_s: float) -> PowerFlowResult:
    bus_ids = _ids(net.bus, case.buses.index)
    bus = pd.DataFrame(
        {
            "vm_pu": net.res_bus["vm_pu"].to_numpy(),
            "va_deg": net.res_bus["va_degree"].to_numpy(),
            "p_mw": -net.res_bus["p_mw"].to_numpy(),
            "q_mvar": -net.res_bus["q_mvar"].to_numpy(),
        },
        index=pd.Index(bus_ids, name="bus_id"),
    ).loc[case.buses.index]
    parts = []
    for table, res, f, t in (
        ("line", "res_line", "from", "to"),
        ("trafo", "res_trafo", "hv", "lv"),
    ):
        elements = net[table]
        if len(elements) == 0:
            continue
        r = net[res]
        ids = elements["dl_id"].to_numpy() if "dl_id" in elements else elements.index.to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "p_from_mw": r[f"p_{f}_mw"].to_numpy(),
                    "q_from_mvar": r[f"q_{f}_mvar"].to_numpy(),
                    "p_to_mw": r[f"p_{t}_mw"].to_numpy(),
                    "q_to_mvar": r[f"q_{t}_mvar"].to_numpy(),
                    "loss_mw": r["pl_mw"].to_numpy(),
                    "loading_pct": _loading(case, ids, r, f, t),
                },
                index=pd.Index(ids.astype("int64"), name="branch_id"),
            )
        )
    branch = pd.concat(parts).sort_index() if parts else pd.DataFrame()
    ext = net.res_ext_grid
    iterations = (
        int(net._ppc["iterations"]) if net._ppc is not None and "iterations" in net._ppc else -1
    )
    return PowerFlowResult(
        case_name=case.name,
        bus=bus,
        branch=branch,
        slack_p_mw=float(ext["p_mw"].sum()),
        slack_q_mvar=float(ext["q_mvar"].sum()),
        solve_s=solve_s,
        iterations=iterations,
    )


def _loading(case, ids, res, f: str, t: str) -> np.ndarray:
    """Apparent power over rate_a in percent (NaN where the branch has no rating)."""
    rate = case.branches["rate_a_mva"].reindex(ids).to_numpy()
    s_from = np.hypot(res[f"p_{f}_mw"].to_numpy(), res[f"q_{f}_mvar"].to_numpy())
    s_to = np.hypot(res[f"p_{t}_mw"].to_numpy(), res[f"q_{t}_mvar"].to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * np.maximum(s_from, s_to) / rate
    return np.where(np.isfinite(rate), pct, np.nan)


def _ids(table: pd.DataFrame, fallback: pd.Index) -> np.ndarray:
    if "dl_id" in table:
        return table["dl_id"].to_numpy().astype("int64")
    return np.asarray(fallback)
