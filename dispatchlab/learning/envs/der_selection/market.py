"""seed003's 1-minute balancing market on ``der-selection``: the day profile, tie lines and the
congestion limit of the paper's tie "120–36".

* :func:`centroid_profile`: the case's 1-minute load series for the requested minutes (an error
  naming both lengths when the profile is shorter).
* :func:`tie_lines`, :func:`check_tie_limits`, :func:`paper_tie`: the branches between two zones;
  a limit on a branch that is not one is an error naming it; the paper's tie "120–36" is the
  tie between the zones of its MG2 and MG3 centroids (buses 23 and 43): line 135–35 on
  ieee123-seed003 (bus 120 is not in our numbering).
* :func:`tie_peak_flow`: the tie's unconstrained peak |flow| over the day, which the congestion
  case limits to 98 % of (the paper's 755 → 740 kW).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from dispatchlab.learning.envs.der_selection.lp import solve_selection

#: seed003 §V-A: one load centroid per microgrid at buses 9, 23, 43, 58, 76 and 108. Buses 23
#: and 108 carry no load on ieee123-seed003 (a centroid scales a bus's own load), so their
#: neighbours 24 and 109 (0.04 MW each) stand in
PAPER_CENTROIDS = (9, 24, 43, 58, 76, 109)
#: seed003 §V-B: the extra centroid Lc2−3 at bus 19, on the MG2–MG3 coupling
PAPER_TIE_CENTROID = 19
#: the buses of the paper's MG2 and MG3 centroids: the tie "120–36" joins their zones
PAPER_TIE_ZONES_OF = (23, 43)


def centroid_profile(case, minutes: int | Iterable[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(load_p_mw, load_q_mvar) of ``case``'s time series at ``minutes`` (a count from minute
    0, or the minutes themselves), one row per minute. The series must have 1-minute steps
    and cover every minute asked for; otherwise an error names both lengths."""
    ts = case.timeseries
    if ts is None or "load_p_mw" not in ts:
        raise ValueError(
            f"case '{case.name}' has no load time series: the market needs a 1-minute profile "
            "(ieee123-seed003 carries one; see dispatchlab.cases.timeseries.attach_profiles)"
        )
    if len(ts) > 1 and ts.step != pd.Timedelta("1min"):
        raise ValueError(f"case '{case.name}': the profile steps by {ts.step}, the market by 1 min")
    wanted = np.arange(minutes) if np.isscalar(minutes) else np.asarray(list(minutes), int)
    if len(wanted) and wanted.min() < 0:
        raise ValueError(f"minutes must be ≥ 0, got {int(wanted.min())}")
    if len(wanted) and wanted.max() >= len(ts):
        raise ValueError(
            f"case '{case.name}': the profile has {len(ts)} minutes, shorter than the "
            f"{int(wanted.max()) + 1} minutes requested (minutes 0 … {int(wanted.max())})"
        )
    return ts["load_p_mw"].iloc[wanted], ts["load_q_mvar"].iloc[wanted]


def tie_lines(case, zone_of_bus: np.ndarray) -> pd.DataFrame:
    """In-service branches whose ends lie in different zones: ``from_zone``, ``to_zone``."""
    br = case.branches[case.branches["in_service"]]
    zone = pd.Series(np.asarray(zone_of_bus), index=case.buses.index)
    f, t = zone[br["from_bus"]].to_numpy(), zone[br["to_bus"]].to_numpy()
    cut = f != t
    out = br.loc[cut, ["from_bus", "to_bus"]].copy()
    out["from_zone"], out["to_zone"] = f[cut], t[cut]
    return out


def check_tie_limits(case, zone_of_bus: np.ndarray, limits: Mapping[int, float]) -> None:
    """A limit must sit on a tie line and be a positive number of MW; else an error naming
    the branch (and its ends and zones, and the ties there are)."""
    ties = tie_lines(case, zone_of_bus)
    zone = pd.Series(np.asarray(zone_of_bus), index=case.buses.index)
    for branch, mw in limits.items():
        if branch not in case.branches.index:
            raise ValueError(f"tie limit on branch {branch!r}: the case has no such branch")
        if branch not in ties.index:
            row = case.branches.loc[branch]
            raise ValueError(
                f"tie limit on branch {branch} ({row['name']}, {row['from_bus']}–{row['to_bus']})"
                f": not a tie line, both ends are in zone {zone[row['from_bus']]}; the ties are "
                f"branches {ties.index.tolist()}"
            )
        if not np.isfinite(mw) or mw <= 0:
            raise ValueError(f"tie limit on branch {branch}: {mw!r} MW is not a positive number")


def paper_tie(case, zone_of_bus: np.ndarray) -> int:
    """The branch id of seed003's tie "120–36": the tie between the zones of buses 23 and 43
    (the paper's MG2 and MG3 centroids); line 135–35 on ieee123-seed003."""
    zone = pd.Series(np.asarray(zone_of_bus), index=case.buses.index)
    a, b = (int(zone[bus]) for bus in PAPER_TIE_ZONES_OF)
    ties = tie_lines(case, zone_of_bus)
    pair = ties[
        ((ties["from_zone"] == a) & (ties["to_zone"] == b))
        | ((ties["from_zone"] == b) & (ties["to_zone"] == a))
    ]
    if len(pair) != 1:
        raise ValueError(
            f"the paper's tie 120–36 needs exactly one branch between zones {a} and {b} (of "
            f"buses {PAPER_TIE_ZONES_OF}); this zoning has {pair.index.tolist()}"
        )
    return int(pair.index[0])


def tie_peak_flow(env, branch: int, *, screen: int = 5) -> tuple[float, int]:
    """(peak |P| in MW, minute) on ``branch`` over the case's day with the paper's centroids
    (:data:`PAPER_CENTROIDS` and :data:`PAPER_TIE_CENTROID`) and no limit on it: the full
    real-time LP of ``env`` (all DERs free). Every minute is screened with the linearized
    flow of the base schedule plus the centroids' deviation; the ``screen`` minutes with the
    largest |flow| are solved exactly and the largest LP flow is the peak."""
    centroids = [*PAPER_CENTROIDS, PAPER_TIE_CENTROID]
    minutes = len(env.case.timeseries)
    flows = deviation_flows(env, branch, centroids, np.arange(minutes))
    best = np.argsort(-np.abs(flows), kind="stable")[:screen]
    exact = [abs(full_flow(env, branch, centroids, int(t))) for t in best]
    k = int(np.argmax(exact))
    return float(exact[k]), int(best[k])


def deviation_flows(env, branch: int, centroids, minutes: np.ndarray) -> np.ndarray:
    """Linearized P flow (MW) on ``branch`` at each of ``minutes`` with every DER at its
    base and the substation taking the centroids' deviation: a screen for the peak."""
    net, f = env._net, env.config.centroid_factor - 1.0
    model = env.model_for(env.scenario_case([]))
    loads = env._base.loads
    at = loads.index[loads["bus"].isin(np.asarray(centroids)) & loads["in_service"]]
    p, q = centroid_profile(env.case, minutes)
    pos = pd.Index(net.bus_ids).get_indexer(loads.loc[at, "bus"])
    to_bus = np.zeros((net.n, len(at)))
    to_bus[pos, np.arange(len(at))] = 1.0
    dp, dq = to_bus @ p[at].to_numpy().T, to_bus @ q[at].to_numpy().T  # bus × minute
    inj = np.r_[model.x_b[:, None] - f * dp, model.q_inj[:, None] - f * dq] / net.base_mva
    dv = net.sensitivity @ inj
    ln = int(np.flatnonzero(net.branch_ids == branch)[0])
    i, j = net.f[ln], net.t[ln]
    flow = net.b[ln] * (dv[i] - dv[j]) + net.g[ln] * (dv[net.n + i] - dv[net.n + j])
    return net.base_mva * flow


def full_flow(env, branch: int, centroids, minute: int) -> float:
    """P flow (MW) on ``branch`` at the full real-time LP's dispatch (all DERs free)."""
    model = env.model_for(env.scenario_case(centroids, minute))
    n = len(env.der_ids)
    out = solve_selection(model, np.arange(n), env.config.iterations, None, env.lp_base)
    pf, _ = env._net.flows(*env._net.state(out.x_mw, model.q_inj))
    return float(pf[np.flatnonzero(env._net.branch_ids == branch)[0]])
