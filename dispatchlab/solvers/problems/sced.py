"""Security-constrained economic dispatch (SCED) with N-1 branch outages, PTDF formulation.

    minimize    the dispatch cost of :mod:`~dispatchlab.solvers.problems.dispatch`
    subject to  Σ_i p_i = Σ_i d_i                                   (balance, dual λ)
                |f_l| ≤ rate_l                       monitored l      (base case)
                |f_l + LODF_l,k f_k| ≤ rate_c,l      monitored l, contingency k ≠ l   (N-1)

with ``f = PTDF (p − d) + s`` (rows (2) of :mod:`.sced_rows`). ``rate_l`` is the base rating
(``rating`` option, ``rate_a_mva``); ``rate_c,l`` the emergency rating (``ctg_rating``,
``rate_c_mva``) and, where that is inf (unlimited, as MATPOWER's RATE_C = 0 reads), the base
rating, so a branch limited in the base case stays limited after an outage.

Two methods, one optimum:

* ``method="full"``: every base and (l, k) row at once, coefficients PTDF_l + LODF_l,k PTDF_k
  on the injections, built in chunks of contingencies to bound memory;
* ``method="lazy"``: constraint generation. Solve without flow limits, screen base and
  post-contingency flows (LODF columns chunk by chunk, never the dense matrix unless it fits
  ``lodf_cache_mb``), add the worst ``k_per_round`` violated rows — base case first — as blocks
  ``sced_flow_limit_r{n}`` / ``sced_contingency_limit_r{n}``, re-solve warm, repeat until no row
  is violated by more than ``tol``·max(rate, 1 MW).

Rows in blocks named ``sced_flow_limit*`` / ``sced_contingency_limit*`` give the LMP's
congestion component through ``LinearModel.row_sensitivity`` (see ``extract.lmp_tables``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatchlab.solvers.api import EXTRA_PROBLEMS, _periods, _rates, resolve_backend
from dispatchlab.solvers.backends.highs import HighsModel
from dispatchlab.solvers.data import DispatchData, dispatch_data
from dispatchlab.solvers.diagnose import diagnose
from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.network import DCNetwork, dc_network
from dispatchlab.solvers.problems.angle_rows import (
    add_angle_rows,
    all_angle_rows,
    max_angle_violation_deg,
    screen_angles,
)
from dispatchlab.solvers.problems.dispatch import (
    ANGLE_BLOCK,
    DispatchOptions,
    build_dispatch,
    injection_terms,
)
from dispatchlab.solvers.problems.extract import build_result_tables, injections_mw, row_duals
from dispatchlab.solvers.problems.sced_rows import (
    ContingencySet,
    FlowRows,
    LodfChunks,
    Screening,
    add_flow_rows,
    ptdf_block,
    screen,
    select_contingencies,
)
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Solution, Status

LOG = logging.getLogger(__name__)
METHODS = ("full", "lazy")
SCED_BACKENDS = ("auto", "highs", "clarabel")
BASE, CTG = "sced_flow_limit", "sced_contingency_limit"
K_PER_ROUND = {"highs": 50, "clarabel": 10}  #: default rows per lazy round, by backend


@dataclass(frozen=True)
class SCEDSettings:
    """Options of :func:`solve_sced` beyond those of :class:`DispatchOptions`."""

    method: str = "lazy"  #: full (all rows at once) or lazy (constraint generation)
    contingencies: object = "auto"  #: auto, case, all, or a list of branch_ids
    #: lazy: most rows added per round (base-case rows first); None: 50 with HiGHS (warm
    #: re-solves: few rounds pay), 10 with Clarabel (cold re-solves whose time per
    #: iteration grows with the square of the number of dense PTDF rows: case10000_goc adds
    #: 39 violated rows at once with 50, of which 3 bind — 1.2 s of solve against 0.45 s)
    k_per_round: int | None = None
    tol: float = 1e-6  #: violated when |f| − rate > tol·max(rate, 1 MW)
    max_rounds: int = 100  #: lazy: stop (status time_limit) after this many re-solves
    chunk: int = 256  #: contingencies per LODF chunk
    lodf_cache_mb: float = 256.0  #: LODF chunks kept between passes up to this size
    #: lazy: beyond the dense cache, keep LODF chunks as their entries ≥ this (exact where it
    #: matters: lodf.py); 0 = recompute them every pass
    lodf_sparse_tol: float = 1e-3
    ctg_rating: str = "rate_c_mva"  #: post-contingency rating (inf -> the base rating)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown SCED method '{self.method}'; use one of {METHODS}")
        if (
            (self.k_per_round is not None and self.k_per_round < 1)
            or self.max_rounds < 0
            or self.tol < 0
        ):
            raise ValueError("k_per_round ≥ 1, max_rounds ≥ 0 and tol ≥ 0 are required")


@dataclass
class _Setup:
    d: DispatchData
    opts: DispatchOptions
    net: DCNetwork
    rate_base: np.ndarray
    rate_ctg: np.ndarray
    ctgs: ContingencySet
    settings: SCEDSettings
    #: branches whose angle limit needs rows (3) of angle_rows.py (None: from the options)
    angles: np.ndarray | None = None

    def __post_init__(self):
        if self.angles is None:
            need = self.opts.angle_limits
            self.angles = self.net.angle_rows_needed(self.rate_base) if need else np.zeros(0, int)


def solve_sced(
    case,
    *,
    backend: str = "auto",
    periods: int | str | None = None,
    start: int = 0,
    time_limit: float | None = None,
    formulation: str | None = None,
    **options,
) -> Result:
    """N-1 SCED of ``case`` (one snapshot unless ``periods``); ``options`` are the fields of
    :class:`SCEDSettings` and :class:`DispatchOptions` (``losses`` is not supported and
    ``storage_exclusive`` is not enforced). ``backend``: ``highs`` (warm re-solves),
    ``clarabel`` (cold interior-point re-solves) or ``auto`` (clarabel for quadratic costs).
    ``Result.info`` holds the method, rounds, rows added per round, contingencies used and
    skipped, and the loadings reached."""
    if backend not in SCED_BACKENDS:
        raise ValueError(f"sced backends are {SCED_BACKENDS}, not '{backend}'")
    if formulation not in (None, "auto", "ptdf"):
        raise ValueError("sced is formulated on PTDF rows; formulation must be 'ptdf' or 'auto'")
    names = {f.name for f in dataclasses.fields(SCEDSettings)}
    settings = SCEDSettings(**{k: v for k, v in options.items() if k in names})
    opts = DispatchOptions(network="ptdf", **{k: v for k, v in options.items() if k not in names})
    if opts.losses:
        raise NotImplementedError("sced does not model losses; use losses=False")
    t0 = time.perf_counter()
    s = _setup(case, settings, opts, _periods(case, periods, False, start), start)
    m = build_dispatch(s.d, dataclasses.replace(opts, network="copperplate"))
    m.name = f"sced:{s.d.case_name}:{settings.method}"
    monitored = np.flatnonzero(np.isfinite(s.rate_ctg))
    chunks = LodfChunks(s.net, s.ctgs.outages, settings.chunk, settings.lodf_cache_mb, monitored,
                        settings.lodf_sparse_tol)  # fmt: skip
    timings = {"build": 0.0, "solve": 0.0, "screen": 0.0}
    if settings.method == "full":
        chunks = _build_full(m, s, chunks)
    hm = Resolver(m, resolve_backend(m, backend), time_limit)
    if settings.k_per_round is None:
        settings = dataclasses.replace(settings, k_per_round=K_PER_ROUND[hm.backend])
        s.settings = settings
    timings["build"] = time.perf_counter() - t0
    sol, scr, info = _run(m, hm, s, chunks, timings)
    t2 = time.perf_counter()
    result = _result(case, m, sol, s, scr, info | {"backend": hm.backend}, chunks)
    if sol.status is Status.INFEASIBLE:  # which balance or (post-contingency) limit must give
        result.diagnosis = diagnose(m, s.d, time_limit=time_limit)
    timings["extract"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    result.timings = timings
    return result


def _result(
    case,
    m: LinearModel,
    sol: Solution,
    s: _Setup,
    scr: Screening | None,
    info: dict,
    chunks: LodfChunks,
) -> Result:
    """The Result; status ``time_limit`` (with a warning) when ``max_rounds`` left
    violations, as HiGHS reports an iteration limit."""
    status = sol.status
    if status is Status.OPTIMAL and not info["converged"]:
        warnings.warn(f"sced: violations remain after max_rounds={s.settings.max_rounds}",
                      RuntimeWarning, stacklevel=4)  # fmt: skip
        status = Status.TIME_LIMIT
    result = Result(status=status, objective=sol.objective, problem="sced",
                    case_name=case.name, info=info | _info(m, s, chunks, scr))  # fmt: skip
    if sol.status is Status.OPTIMAL:
        _fill_tables(result, m, sol, s, scr)
    return result


def sced_ratings(case, net, settings: SCEDSettings, opts: DispatchOptions) -> tuple:
    """(base-case, post-contingency) branch ratings in MW; a missing contingency rating falls
    back to the base one, and ``line_limits=False`` makes both infinite."""
    rate_base = _rates(case, net, opts.rating)
    rate_ctg = _rates(case, net, settings.ctg_rating)
    rate_ctg = np.where(np.isfinite(rate_ctg), rate_ctg, rate_base)
    if not opts.line_limits:
        rate_base = rate_ctg = np.full(net.n_branch, np.inf)
    return rate_base, rate_ctg


def _setup(case, settings: SCEDSettings, opts: DispatchOptions, n_periods, start) -> _Setup:
    d = dispatch_data(case, n_periods, start)
    net = dc_network(case)
    rate_base, rate_ctg = sced_ratings(case, net, settings, opts)
    ctgs = select_contingencies(case, net, settings.contingencies)
    return _Setup(d, opts, net, rate_base, rate_ctg, ctgs, settings)


def _build_full(m: LinearModel, s: _Setup, chunks: LodfChunks) -> LodfChunks:
    """Add every base row and every (l, k ≠ l) row, one block per chunk of contingencies
    sized so that the dense (rows × bus) coefficients of a block stay near 64 MB."""
    T, net = s.d.T, s.net
    mon_b, mon_c = np.flatnonzero(np.isfinite(s.rate_base)), np.flatnonzero(np.isfinite(s.rate_ctg))
    need = np.unique(np.concatenate([mon_b, mon_c, s.ctgs.outages]))
    ptdf = (need, ptdf_block(net, need))
    tt = np.tile(np.arange(T), len(mon_b))
    base = FlowRows(
        np.repeat(mon_b, T),
        np.full(len(tt), -1),
        np.zeros(len(tt)),
        tt,
        np.repeat(s.rate_base[mon_b], T),
    )
    if len(base):
        add_flow_rows(m, s.d, net, BASE, base, ptdf)
    if len(s.angles):
        add_angle_rows(m, s.d, net, ANGLE_BLOCK, all_angle_rows(net, s.angles, T))
    width = max(net.n_bus, len(injection_terms(m, s.d)[0]) // T)
    per_block = max(1, int(8e6 // (width * max(len(mon_c), 1) * T)))
    chunks = LodfChunks(net, s.ctgs.outages, min(chunks.chunk, per_block), chunks.budget / 2**20)
    for n, (j, lodf) in enumerate(chunks):
        k = s.ctgs.outages[j]
        jj, li, ti = (
            a.ravel() for a in np.meshgrid(np.arange(len(k)), mon_c, np.arange(T), indexing="ij")
        )
        keep = li != k[jj]  # the outaged branch itself carries nothing
        jj, li, ti = jj[keep], li[keep], ti[keep]
        rows = FlowRows(li, k[jj], lodf[li, jj], ti, s.rate_ctg[li])
        if len(rows):
            add_flow_rows(m, s.d, net, f"{CTG}_c{n}", rows, ptdf)
    return chunks


class Resolver:
    """Re-solves the growing LinearModel: HiGHS keeps its instance and continues from the
    last basis after new rows are pushed; Clarabel (interior point, for QPs: ``auto`` picks it
    when the costs are quadratic, as ``api.resolve_backend`` does) solves from scratch, except
    the first solve of a single-period model with only its balance row, which the merit
    order solves exactly (``ed_merit.py``: case10000_goc 2 ms against 0.15 s of Clarabel)."""

    def __init__(self, m: LinearModel, backend: str, time_limit: float | None):
        self.m, self.backend, self.time_limit = m, backend, time_limit
        self.hm = HighsModel(m, time_limit=time_limit) if backend == "highs" else None

    def solve(self) -> Solution:
        if self.hm is not None:
            self.hm.add_new_rows()
            return self.hm.solve()
        from dispatchlab.solvers.backends.clarabel import solve_clarabel
        from dispatchlab.solvers.problems.ed_merit import merit_structure, solve_merit

        if self.m.n_rows == 1 and merit_structure(self.m) is None:
            t = time.perf_counter()
            sol = solve_merit(self.m)
            if sol.status is Status.OPTIMAL:  # else Clarabel says why (infeasible, ...)
                return dataclasses.replace(sol, solve_s=time.perf_counter() - t)

        return solve_clarabel(self.m, time_limit=self.time_limit)


def _run(m: LinearModel, hm: Resolver, s: _Setup, chunks: LodfChunks, timings: dict):
    """Solve; for ``lazy``, screen, add the worst violated rows and re-solve until none is
    left (or ``max_rounds``). Returns the last solution, its screening and the log."""
    st = s.settings
    log = {"rounds": 0, "converged": False, "iterations": 0, "per_round": [],
           "constraints_added": 0}  # fmt: skip
    exclude = np.zeros(0, np.int64)  # keys of the rows added so far
    added_ang = np.zeros(0, np.int64)  # keys of the angle rows added so far
    sol, scr = hm.solve(), None
    while True:
        timings["solve"] += sol.solve_s
        log["iterations"] += sol.iterations
        if sol.status is not Status.OPTIMAL:
            log["constraints_added"] = len(exclude) + len(added_ang)
            return sol, None, log
        t = time.perf_counter()
        flows = s.net.base_mva * s.net.flows_pu(injections_mw(m, sol, s.d) / s.d.base_mva)
        scr = screen(s.net, flows, s.rate_base, s.rate_ctg, chunks, st.tol, exclude,
                     st.k_per_round)  # fmt: skip
        ang, n_ang = screen_angles(s.net, flows, s.angles, st.tol, added_ang, st.k_per_round)
        log["max_angle_violation_deg"] = max_angle_violation_deg(s.net, flows)
        timings["screen"] += time.perf_counter() - t
        entry = {
            "round": log["rounds"],
            "base_violations": scr.n_base,
            "contingency_violations": scr.n_ctg,
            "angle_violations": n_ang,
            "max_violation_mw": scr.max_excess_mw,
        }
        log["per_round"].append(entry)
        LOG.info("sced round %d: objective %.6g, %d base + %d contingency violations, "
                 "solve %.2fs", log["rounds"], sol.objective, scr.n_base, scr.n_ctg,
                 sol.solve_s)  # fmt: skip
        log["converged"] = scr.n_base + scr.n_ctg + n_ang == 0 or st.method == "full"
        if log["converged"] or log["rounds"] >= st.max_rounds:
            break
        log["rounds"] += 1
        exclude = _add_round(m, s, scr, log["rounds"], exclude, entry)
        if len(ang):
            add_angle_rows(m, s.d, s.net, f"{ANGLE_BLOCK}_r{log['rounds']}", ang)
            added_ang = np.concatenate([added_ang, ang.keys(s.d.T)])
        entry["added_angle"] = len(ang)
        sol = hm.solve()
    full = st.method == "full"  # every row was in the model from the start
    log["constraints_added"] = _flow_rows(m) if full else len(exclude) + len(added_ang)
    return sol, scr, log


def _add_round(
    m: LinearModel, s: _Setup, scr: Screening, n: int, exclude: np.ndarray, entry: dict
) -> np.ndarray:
    """Add the worst ``k_per_round`` violated rows, base case first, as blocks
    ``sced_flow_limit_r{n}`` / ``sced_contingency_limit_r{n}``; return the updated keys."""
    k = s.settings.k_per_round
    new_b = scr.base.take(slice(0, k))
    new_c = scr.ctg.take(slice(0, k - len(new_b)))
    for name, rows in ((f"{BASE}_r{n}", new_b), (f"{CTG}_r{n}", new_c)):
        if len(rows):
            add_flow_rows(m, s.d, s.net, name, rows)
            exclude = np.concatenate([exclude, rows.keys(s.net.n_branch, s.d.T)])
    entry["added_base"], entry["added_contingency"] = len(new_b), len(new_c)
    return exclude


def _flow_rows(m: LinearModel, prefixes=(BASE, CTG, ANGLE_BLOCK)) -> int:
    return sum(b.size for n, b in m.con_blocks.items() if n.startswith(prefixes))


def _info(m: LinearModel, s: _Setup, chunks: LodfChunks, scr: Screening | None) -> dict:
    info = {
        "method": s.settings.method,
        "contingency_source": s.ctgs.source,
        "contingencies_used": len(s.ctgs),
        "periods": s.d.T,
        "columns": m.n_cols,
        "rows": m.n_rows,
        "flow_rows": _flow_rows(m, (BASE, CTG)),
        "angle_rows": _flow_rows(m, (ANGLE_BLOCK,)),
        "lodf_columns_computed": chunks.columns_computed,
        "lodf_cached_mb": round(chunks.cached_mb, 1),
        "lodf_exact_rows": chunks.exact_rows,
        "lodf_sparse_uses": chunks.sparse_uses,
    }
    info |= {f"skipped_{k}": v for k, v in s.ctgs.skipped.items()}
    if scr is not None:
        info["max_base_loading_pct"] = 100 * scr.max_base_loading
        info["max_post_contingency_loading_pct"] = 100 * scr.max_ctg_loading
        info["max_violation_mw"] = scr.max_excess_mw
    return info


def _fill_tables(result: Result, m: LinearModel, sol: Solution, s: _Setup, scr: Screening) -> None:
    """Result tables of the dispatch, plus base-row shadow prices, the worst post-contingency
    loading per branch, and ``info['binding_contingencies']``."""
    d, net = s.d, s.net
    for key, table in build_result_tables(m, sol, d, s.opts, net, s.rate_base).items():
        setattr(result, key, table)
    shadow = np.zeros((net.n_branch, d.T))
    binding = []
    branch_pos = pd.Index(net.branch_ids)
    for name, block in m.con_blocks.items():
        if not name.startswith((BASE, CTG)):
            continue
        y = -row_duals(m, sol, name) / d.dt_h
        if name.startswith(BASE):
            per = d.times.get_indexer(block.index.get_level_values("period"))
            pos = branch_pos.get_indexer(block.index.get_level_values("branch_id"))
            np.add.at(shadow, (pos, per), y)
        elif (active := np.abs(y) > 1e-9).any():
            binding.append(
                block.index[active].to_frame(index=False).assign(shadow_price_usd_per_mwh=y[active])
            )
    worst = np.where(scr.worst_outage >= 0, net.branch_ids[np.maximum(scr.worst_outage, 0)], -1)
    result.branch = result.branch.assign(
        shadow_price_usd_per_mwh=_col(shadow),
        ctg_loading_pct=_col(100 * scr.ctg_loading),
        ctg_worst_outage_branch_id=_col(worst),
    )
    result.info["binding_contingencies"] = (
        pd.concat(binding, ignore_index=True) if binding else pd.DataFrame()
    )


def _col(a: np.ndarray) -> np.ndarray:
    """(branch × T) -> the row order of the branch table (branch-major, periods inside)."""
    return a[:, 0] if a.shape[1] == 1 else a.ravel()


def full_model_size(
    case,
    contingencies="auto",
    rating: str = "rate_a_mva",
    ctg_rating: str = "rate_c_mva",
    allow_shedding: bool = False,
) -> dict:
    """Rows and an upper bound on the nonzeros of ``method="full"`` for one snapshot, without
    building it (nonzeros ≤ rows × injection columns: PTDF rows are dense)."""
    net = dc_network(case)
    ctgs = select_contingencies(case, net, contingencies)
    rate_b = _rates(case, net, rating)
    rate_c = _rates(case, net, ctg_rating)
    rate_c = np.where(np.isfinite(rate_c), rate_c, rate_b)
    mon_b, mon_c = np.isfinite(rate_b), np.isfinite(rate_c)
    rows = int(mon_b.sum() + mon_c.sum() * len(ctgs) - mon_c[ctgs.outages].sum())
    gens, loads = case.gens, case.loads
    terms = int(gens["in_service"].sum() + (loads["in_service"].sum() if allow_shedding else 0))
    return {
        "rows": rows,
        "injection_columns": terms,
        "nnz_upper": rows * terms,
        "contingencies_used": len(ctgs),
        "skipped_radial": ctgs.skipped["radial"],
    }


EXTRA_PROBLEMS["sced"] = solve_sced
