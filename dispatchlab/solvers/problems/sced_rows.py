"""N-1 rows of the security-constrained dispatch (SCED): contingencies, LODF chunks, screening.

With PTDF rows and injections p − d (MW), the base-case flow of branch l is
``f_l = PTDF_l (p − d) + s_l`` (``s``: phase-shifter flows). After the outage of branch k
(line outage distribution factors, Wood & Wollenberg, *Power Generation, Operation and
Control*, §7.3):

    f_l^(k) = f_l + LODF_l,k f_k,   LODF_l,k = PTDF_l a_k / (1 − PTDF_k a_k)                   (1)

with a_k = e_f(k) − e_t(k) the transfer across branch k. So the limit on the pair (l, k) is
one row on the injections

    −rate_l ≤ (PTDF_l + LODF_l,k PTDF_k)(p − d) + s_l + LODF_l,k s_k ≤ rate_l                (2)

whose bus sensitivity ``PTDF_l + LODF_l,k PTDF_k`` is also the row's share of the LMP's
congestion component. The base case is (2) with LODF = 0 and k = −1. LODF columns are computed
chunk by chunk from the sparse LU of the reduced B matrix; the dense branch × contingency LODF
matrix only exists when it fits in the cache budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dispatchlab.solvers.data import DispatchData
from dispatchlab.solvers.model import Block, LinearModel
from dispatchlab.solvers.network import DCNetwork
from dispatchlab.solvers.problems.dispatch import bus_demand_mw, injection_terms
from dispatchlab.solvers.problems.lodf import (  # noqa: F401  (re-exported)
    LodfChunks,
    _position_in,
    lodf_block,
    ptdf_block,
)

FIELDS = ("line", "outage", "lodf", "t", "rate")  # of FlowRows
SKIP_REASONS = ("radial", "gen", "multi_element", "out_of_service", "duplicate")


# ------------------------------------------------------------------------- contingencies
@dataclass(frozen=True)
class ContingencySet:
    """Single-branch outages to secure against, as branch positions of the DCNetwork."""

    outages: np.ndarray  # branch position of each usable contingency
    source: str  # "case", "all" or "list"
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count (SKIP_REASONS)
    ctg_ids: np.ndarray | None = None  # ctg_id per outage when read from the case's table

    def __len__(self) -> int:
        return len(self.outages)


def bridges(net: DCNetwork) -> np.ndarray:
    """Mask of branches whose outage islands the network (1 − PTDF_k a_k = 0 in (1))."""
    import networkx as nx  # imported here: 0.5 s, and only this function needs it

    g = nx.MultiGraph()
    g.add_nodes_from(range(net.n_bus))
    g.add_edges_from(zip(net.f.tolist(), net.t.tolist(), strict=True))
    pairs = {frozenset(e) for e in nx.bridges(g)}
    return np.array(
        [frozenset((a, b)) in pairs for a, b in zip(net.f, net.t, strict=True)], dtype=bool
    )


def select_contingencies(case, net: DCNetwork, spec) -> ContingencySet:
    """Branch outages from ``spec``: ``"auto"`` (the case's table when it has rows, else
    ``"all"``), ``"case"`` (branch rows of the case's table; generator and multi-element
    contingencies are skipped and counted), ``"all"`` (every in-service branch) or a list of
    branch_ids. Bridges are always skipped and counted as ``radial``."""
    if isinstance(spec, str) and spec == "auto":
        spec = "case" if len(case.contingencies) else "all"
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    ctg_ids = None
    if isinstance(spec, str) and spec == "all":
        pos, source = np.arange(net.n_branch), "all"
    elif isinstance(spec, str) and spec == "case":
        pos, ctg_ids = _from_table(case.contingencies, net, skipped)
        source = "case"
    elif isinstance(spec, str):
        raise ValueError(f"contingencies must be 'auto', 'case', 'all' or branch ids, not {spec!r}")
    else:
        ids = np.asarray(list(spec))
        pos = pd.Index(net.branch_ids).get_indexer(ids)
        if (pos < 0).any():
            raise ValueError(
                f"branch ids {ids[pos < 0][:10].tolist()} are not in-service branches of the case"
            )
        pos, source = np.unique(pos), "list"
    radial = bridges(net)[pos] if len(pos) else np.zeros(0, bool)  # lazy dcopf: no outages
    skipped["radial"] = int(radial.sum())
    keep = ~radial
    return ContingencySet(pos[keep], source, skipped, None if ctg_ids is None else ctg_ids[keep])


def _from_table(tab: pd.DataFrame, net: DCNetwork, skipped: dict) -> tuple[np.ndarray, ...]:
    """Usable single-branch outages of a contingencies table, counting the rest by reason."""
    if len(tab) == 0:
        raise ValueError("contingencies='case': the case has no contingencies table")
    per_ctg = tab.groupby("ctg_id")
    n_rows = per_ctg["element"].transform("size").to_numpy()
    has_gen = (tab["element"] != "branch").groupby(tab["ctg_id"]).transform("any").to_numpy()
    first = ~tab["ctg_id"].duplicated().to_numpy()
    skipped["gen"] = int((has_gen & first).sum())
    skipped["multi_element"] = int((~has_gen & (n_rows > 1) & first).sum())
    single = tab[(~has_gen) & (n_rows == 1)]
    pos = pd.Index(net.branch_ids).get_indexer(single["element_id"].to_numpy())
    skipped["out_of_service"] = int((pos < 0).sum())
    ids = single["ctg_id"].to_numpy()[pos >= 0]
    pos = pos[pos >= 0]
    pos, first_at = np.unique(pos, return_index=True)
    skipped["duplicate"] = len(ids) - len(pos)
    return pos, ids[first_at]


# ------------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class FlowRows:
    """Rows of eq. (2): monitored branch l, outaged branch k (−1: base case), LODF_l,k,
    period position t and the limit (MW) — all branch positions of the DCNetwork."""

    line: np.ndarray  # monitored branch l
    outage: np.ndarray  # outaged branch k, −1 in the base case
    lodf: np.ndarray
    t: np.ndarray
    rate: np.ndarray

    def __len__(self) -> int:
        return len(self.line)

    def take(self, idx) -> FlowRows:
        return FlowRows(
            self.line[idx], self.outage[idx], self.lodf[idx], self.t[idx], self.rate[idx]
        )

    def keys(self, n_branch: int, T: int) -> np.ndarray:
        """One integer per (l, k, t), to recognise rows already in the model."""
        return ((self.outage.astype(np.int64) + 1) * n_branch + self.line) * T + self.t

    @staticmethod
    def concat(parts: list[FlowRows]) -> FlowRows:
        return FlowRows(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("line", "outage", "lodf", "t", "rate")
            )
        )


def sensitivity(net: DCNetwork, rows: FlowRows, ptdf: tuple | None = None) -> np.ndarray:
    """(rows × bus) d(flow)/d(injection) = PTDF_l + LODF_l,k PTDF_k of eq. (2). ``ptdf`` may
    give precomputed ``(sorted branch positions, their PTDF rows)``."""
    ctg = rows.outage >= 0
    if ptdf is None:
        need = np.unique(np.concatenate([rows.line, rows.outage[ctg]]))
        ptdf = (need, ptdf_block(net, need))
    need, p = ptdf
    out = p[np.searchsorted(need, rows.line)]
    out[ctg] += rows.lodf[ctg, None] * p[np.searchsorted(need, rows.outage[ctg])]
    return out


def add_flow_rows(
    m: LinearModel,
    d: DispatchData,
    net: DCNetwork,
    name: str,
    rows: FlowRows,
    ptdf: tuple | None = None,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> Block:
    """Add the rows (2) as one block (labels branch_id[, outage_branch_id], period) and
    register their bus sensitivity for the LMP's congestion component. ``bounds`` = (lo, hi)
    per row replaces (−rate, rate): the angle-difference rows of ``angle_rows.py``."""
    sens = sensitivity(net, rows, ptdf)
    bus, period, icols, sign = live_injection_terms(m, d)
    r_parts, c_parts, v_parts = [], [], []
    for t in np.unique(rows.t):
        rr, tt = np.flatnonzero(rows.t == t), np.flatnonzero(period == t)
        coef = sens[rr][:, bus[tt]] * sign[tt]
        li, term = np.nonzero(np.abs(coef) > 1e-10)  # the threshold of add_ptdf_flow_limits
        r_parts.append(rr[li])
        c_parts.append(icols[tt][term])
        v_parts.append(coef[li, term])
    shift = net.base_mva * net.flows_pu(np.zeros(net.n_bus))
    ctg = rows.outage >= 0
    offset = shift[rows.line] + np.where(ctg, rows.lodf * shift[np.where(ctg, rows.outage, 0)], 0.0)
    base = np.einsum("rb,rb->r", sens, bus_demand_mw(d)[rows.t]) - offset
    block = m.add_cons(
        name,
        _labels(net, d, rows),
        np.concatenate(r_parts),
        np.concatenate(c_parts),
        np.concatenate(v_parts),
        lb=base + (-rows.rate if bounds is None else bounds[0]),
        ub=base + (rows.rate if bounds is None else bounds[1]),
    )
    m.row_sensitivity[name] = lambda active, rows=rows: sensitivity(net, rows.take(active))
    return block


def live_injection_terms(m: LinearModel, d: DispatchData):
    """``injection_terms`` without the columns fixed at 0 (load shedding when it is not
    allowed: ub = 0). Their coefficients in a PTDF row are dense and add nothing at any
    feasible point, yet they doubled the nonzeros of each row on case10000_goc (3 984 loads,
    2 016 generators) and the interior point's time per iteration with them (3.4 → 1.0 s)."""
    bus, period, icols, sign = injection_terms(m, d)
    lb, ub = m.lb[icols], m.ub[icols]
    live = (lb != 0.0) | (ub != 0.0)
    return bus[live], period[live], icols[live], sign[live]


def _labels(net: DCNetwork, d: DispatchData, rows: FlowRows) -> pd.MultiIndex:
    arrays = [net.branch_ids[rows.line], d.times[rows.t]]
    names = ["branch_id", "period"]
    if (rows.outage >= 0).any():
        arrays.insert(1, net.branch_ids[rows.outage])
        names.insert(1, "outage_branch_id")
    return pd.MultiIndex.from_arrays(arrays, names=names)


# -------------------------------------------------------------------------- screening
@dataclass(frozen=True)
class Screening:
    """Violations of (2) at the current flows: the worst ``keep`` rows not yet in the model
    (base case and contingencies apart), their counts and the loadings reached."""

    base: FlowRows
    base_excess: np.ndarray  # MW above the limit, decreasing
    n_base: int  # violated base rows not yet in the model
    ctg: FlowRows
    ctg_excess: np.ndarray
    n_ctg: int
    max_excess_mw: float  # over all rows, those in the model included
    max_base_loading: float  # max |f_l| / rate_l
    ctg_loading: np.ndarray  # (branch × T) max over k of |f_l^(k)| / rate_l
    worst_outage: np.ndarray  # (branch × T) position of that k (−1: none)

    @property
    def max_ctg_loading(self) -> float:
        return float(self.ctg_loading.max()) if self.ctg_loading.size else 0.0


def screen(
    net: DCNetwork,
    flows: np.ndarray,
    rate_base: np.ndarray,
    rate_ctg: np.ndarray,
    chunks: LodfChunks,
    tol: float,
    exclude: np.ndarray,
    keep: int,
) -> Screening:
    """Check the base flows ``flows`` (branch × T, MW) and the post-contingency flows (1) of
    every contingency against the limits. A row is violated when |f| − rate > tol·max(rate, 1)
    (``tol`` relative to the rating, 1 MW floor). Candidates are the worst ``keep`` violated
    base rows and, among contingencies, the worst new violated outage *of each monitored
    branch and period* (rows of one branch under different outages are nearly parallel: they
    seldom bind together and they stall HiGHS' QP active-set solver, seen on ACTIVSg2000).
    Memory is O(branch × T) plus one LODF chunk, however many violations there are."""
    nb, T = flows.shape
    absf = np.abs(flows)
    thr_b = rate_base + tol * np.maximum(rate_base, 1.0)
    li, ti = np.nonzero(absf > thr_b[:, None])
    rows = FlowRows(li, np.full(len(li), -1), np.zeros(len(li)), ti, rate_base[li])
    excess = absf[li, ti] - rate_base[li]
    base, base_excess, n_base = _new_worst(rows, excess, exclude, keep, nb, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        load_b = np.where(np.isfinite(rate_base)[:, None], absf / rate_base[:, None], 0.0)
    w = _screen_contingencies(flows, rate_ctg, chunks, tol, exclude)
    li, ti = np.nonzero(np.isfinite(w["excess"]))
    rows = FlowRows(li, w["outage"][li, ti], w["lodf"][li, ti], ti, rate_ctg[li])
    ctg, ctg_excess, _ = _new_worst(rows, w["excess"][li, ti], exclude[:0], keep, nb, T)
    max_excess = max([0.0, w["max_excess"], *excess])
    return Screening(
        base,
        base_excess,
        n_base,
        ctg,
        ctg_excess,
        w["count"],
        max_excess,
        float(load_b.max()) if load_b.size else 0.0,
        w["loading"],
        w["worst"],
    )


def _screen_contingencies(
    flows, rate_ctg, chunks: LodfChunks, tol: float, exclude: np.ndarray
) -> dict:
    """Per monitored branch and period: the largest post-contingency loading (and its
    outage) and the worst violated outage whose row is not in the model yet (excess, outage,
    LODF); plus the count of such new violations and the largest excess overall. Only the
    rows of ``chunks`` (the monitored branches) are screened; the others keep loading 0."""
    nb, T = flows.shape
    mon = chunks.rows
    rate = rate_ctg[mon]
    thr = rate + tol * np.maximum(rate, 1.0)
    chunks.begin_pass(flows, thr)  # sparse cached chunks: exact where a violation could hide
    inv = np.where(np.isfinite(rate), 1.0 / rate, 0.0)
    ex_t = exclude % T
    ex_l = _position_in(mon, nb)[(exclude // T) % nb]
    ex_k = exclude // T // nb - 1
    n = len(mon)
    w = {
        "loading": np.zeros((n, T)),
        "worst": np.full((n, T), -1),
        "count": 0,
        "excess": np.full((n, T), -np.inf),
        "outage": np.full((n, T), -1),
        "lodf": np.zeros((n, T)),
        "max_excess": 0.0,
    }
    rows = np.arange(n)
    for j, lodf in chunks:
        k = chunks.outages[j]
        for t in range(T):
            post = np.abs(flows[mon, t, None] + lodf * flows[k, t][None, :])  # eq. (1)
            load = post * inv[:, None]
            col = load.argmax(axis=1)
            best = load[rows, col]
            better = best > w["loading"][:, t]
            w["loading"][better, t] = best[better]
            w["worst"][better, t] = k[col[better]]
            excess = post - rate[:, None]
            w["max_excess"] = max(w["max_excess"], float(excess.max(initial=0.0)))
            excess[post <= thr[:, None]] = -np.inf
            done = (ex_t == t) & (ex_k >= 0) & np.isin(ex_k, k) & (ex_l >= 0)
            excess[ex_l[done], np.searchsorted(k, ex_k[done])] = -np.inf  # rows in the model
            w["count"] += int(np.isfinite(excess).sum())
            col = excess.argmax(axis=1)
            best = excess[rows, col]
            better = best > w["excess"][:, t]
            w["excess"][better, t] = best[better]
            w["outage"][better, t] = k[col[better]]
            w["lodf"][better, t] = lodf[rows, col][better]
    return _to_all_branches(w, mon, nb, T)


def _to_all_branches(w: dict, mon: np.ndarray, nb: int, T: int) -> dict:
    """The per-row arrays of ``w`` on all ``nb`` branches (unmonitored: no loading, no row)."""
    fill = {"loading": 0.0, "worst": -1, "excess": -np.inf, "outage": -1, "lodf": 0.0}
    for key, value in fill.items():
        full = np.full((nb, T), value, dtype=w[key].dtype)
        full[mon] = w[key]
        w[key] = full
    return w


def _new_worst(
    rows: FlowRows, excess: np.ndarray, exclude: np.ndarray, keep: int, nb: int, T: int
) -> tuple[FlowRows, np.ndarray, int]:
    """Drop rows already in the model; return the ``keep`` largest violations (sorted) and
    how many new violations there were."""
    if len(exclude) and len(rows):
        new = ~np.isin(rows.keys(nb, T), exclude)
        rows, excess = rows.take(new), excess[new]
    n = len(excess)
    idx = np.argpartition(-excess, keep - 1)[:keep] if n > keep else np.arange(n)
    order = idx[np.argsort(-excess[idx], kind="stable")]
    return rows.take(order), excess[order], n
