"""``solve(case, "drl_lp", selected=[…])``: seed003's DRL-LP over a DER selection, certified.

seed003 (eqs. 24–31) dispatches only the DERs its agents select. Here the LP is the DLMP LP of
``solve(case, "dlmp")`` (:mod:`~.dlmp_lp`), with every DER left out of ``selected`` fixed —
at 0 (``omitted="zero"``, the paper's LP) or at its set-point ``p_mw`` in the case
(``omitted="setpoint"``: the balancing market, where a base schedule is written into the case
and the selected DERs move from it). The reduced LP is solved with the omitted columns removed
and certified by reduced costs against the full LP at the same linearization
(:mod:`dispatchlab.solvers.certificate`): a DER whose reduced cost says it would lower the
cost is added back and the LP re-solved (:func:`~dispatchlab.solvers.certificate.repair_solve`),
so the result is always the full LP's optimum at that linearization point — a bad selection
costs time, never optimality. ``iterations`` re-linearizes at the dispatch as ``dlmp`` does;
each pass starts from the DERs free in the previous one.

DLMPs (eq. 32) come from the certified duals (:meth:`DLMPModel.components`): the duals of a
certified reduced LP are optimal duals of the full LP, so they equal the full LP's DLMPs where
those are unique. The final dispatch is run through pandapower's AC power flow
(``info["ac_check"]``: voltage and flow-limit violations, AC losses and the slack's P against
the LP's); a violated limit is tightened by the AC − linear mismatch and the LP re-solved
(:func:`drl_lp_ac`, :mod:`~.ac_correction`; ``info["ac_corrections"]``), and a violation left
after the last round is warned of, naming it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dispatchlab.solvers.api import EXTRA_PROBLEMS
from dispatchlab.solvers.certificate import (
    LPArrays,
    ReductionReport,
    RepairOptions,
    reduced_highs,
    repair_solve,
)
from dispatchlab.solvers.problems.ac_correction import (
    TOL_MW,
    TOL_PU,
    Corrections,
    ac_state,
    grow,
    summary,
    violations,
)
from dispatchlab.solvers.problems.dlmp_lp import der_columns, dlmp_lp, lp_outcome
from dispatchlab.solvers.problems.linearized import DLMPModel, _dlmp_tables, dlmp_model
from dispatchlab.solvers.result import Result
from dispatchlab.solvers.status import Status

OMITTED = ("zero", "setpoint")


@dataclass
class DRLLPOutcome:
    """What :func:`drl_lp` returns: the certified LP's solution and how it got there."""

    sol: dict  #: :func:`~.dlmp_lp.lp_outcome` of the last pass (p_der over all DERs, duals)
    reports: list[ReductionReport]  #: the certificate / repair of each linearization pass
    selected: np.ndarray  #: DER positions asked for
    free: np.ndarray  #: DER positions free in the last pass (selected + added back)
    full_columns: int = 0  #: columns of the full LP
    reduced_columns: int = 0  #: columns of the first reduced LP (substation + selected DERs)
    rows: int = 0  #: rows of the LP (the same in the reduced and the full LP)
    timings: dict[str, float] = field(default_factory=dict)  #: build / solve (incl. certify)
    #: :func:`drl_lp_ac` only: the AC check of ``sol`` (original limits) and the corrections
    ac_check: dict | None = None
    ac_corrections: dict | None = None

    @property
    def certified(self) -> bool:
        return bool(self.reports) and all(r.certified for r in self.reports)

    @property
    def added_back(self) -> np.ndarray:
        """DER positions the repair added to the selection (over all passes)."""
        return np.setdiff1d(self.free, self.selected)


def drl_lp(
    model: DLMPModel,
    lin: dict,
    selected: np.ndarray,
    *,
    base_mw: np.ndarray | None = None,
    iterations: int = 2,
    options: RepairOptions | None = None,
) -> DRLLPOutcome:
    """The certified DRL-LP at linearization ``lin`` (re-linearized ``iterations`` − 1 times)
    over DER positions ``selected``, the others fixed at ``base_mw`` (None: their lower
    bounds). The array-level core of ``solve(case, "drl_lp")`` for loops over many minutes."""
    options = options or RepairOptions()
    h = reduced_highs(options)
    sel = np.unique(np.asarray(selected, dtype=int))
    if len(sel) and (sel[0] < 0 or sel[-1] >= len(model.der_ids)):
        raise ValueError(
            f"selected DER positions must be 0 … {len(model.der_ids) - 1} (into der_ids), "
            f"got {sel[0] if sel[0] < 0 else sel[-1]}"
        )
    if isinstance(iterations, bool) or not isinstance(iterations, int | np.integer):
        raise ValueError(f"iterations must be a whole number ≥ 1, got {iterations!r}")
    if iterations < 1:
        raise ValueError(f"iterations must be a whole number ≥ 1, got {iterations!r}")
    free, reports, sol = sel, [], {"status": "not solved"}
    out = DRLLPOutcome(sol, reports, sel, free)
    build = solve = 0.0
    for _ in range(iterations):
        t0 = time.perf_counter()
        m = dlmp_lp(model, lin, base_mw=base_mw)
        lp = LPArrays(m)
        omitted = np.setdiff1d(np.arange(len(model.der_ids)), free)
        fixed = der_columns(m, omitted, model)
        if not reports:
            out.reduced_columns = m.n_cols - len(fixed)
        t1 = time.perf_counter()
        raw, report = repair_solve(
            lp, fixed, np.zeros(len(fixed), bool), options, h, method="drl_lp"
        )
        solve += time.perf_counter() - t1
        build += t1 - t0
        reports.append(report)
        sol = lp_outcome(model, m, raw, lin, base_mw=base_mw)
        out.full_columns, out.rows = m.n_cols, m.n_rows
        if raw.status is not Status.OPTIMAL:
            break
        back = np.asarray(report.extra["unfixed_columns"], dtype=int)
        free = np.union1d(free, _der_positions(m, back, model))
        lin = model.linearize(sol["x"])
    out.sol, out.free = sol, free
    out.timings = {"build": build, "solve": solve}
    return out


def _der_positions(m, columns: np.ndarray, model: DLMPModel) -> np.ndarray:
    """DER positions of ``columns`` of :func:`dlmp_lp` (Δ⁺ or Δ⁻)."""
    ids = []
    for name in ("der_p_mw", "der_down_mw"):
        if name in m.var_blocks:
            b = m.var_blocks[name]
            hit = columns[(columns >= b.start) & (columns < b.start + b.size)]
            ids.append(b.index[hit - b.start].to_numpy())
    return pd.Index(model.der_ids).get_indexer(np.concatenate(ids)) if ids else np.zeros(0, int)


def selected_positions(model: DLMPModel, selected: Iterable) -> np.ndarray:
    """Positions in ``model.der_ids`` of the DER ids ``selected``; an id that is not a
    dispatchable, in-service DER of the case is an error naming it."""
    ids = np.asarray(list(selected))
    pos = pd.Index(model.der_ids).get_indexer(ids)
    if (pos < 0).any():
        bad = ids[pos < 0].tolist()
        raise ValueError(
            f"selected DER id(s) {bad[:10]} are not in-service dispatchable DERs of the case "
            f"(ids {model.der_ids.min()} … {model.der_ids.max()}, {len(model.der_ids)} DERs)"
        )
    return pos


def _base(case, model: DLMPModel, omitted: str) -> np.ndarray | None:
    if omitted not in OMITTED:
        raise ValueError(f"omitted must be one of {OMITTED}, got {omitted!r}")
    if omitted == "zero":
        return None
    base = case.ders["p_mw"].reindex(model.der_ids).to_numpy(float)
    lo, hi = model.der_lim
    bad = (base < lo - 1e-9) | (base > hi + 1e-9)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"DER {model.der_ids[i]}: set-point p_mw = {base[i]} outside its limits "
            f"[{lo[i]}, {hi[i]}] (omitted='setpoint' fixes the DERs left out at p_mw)"
        )
    return np.clip(base, lo, hi)


def ac_check(case, model: DLMPModel, sol: dict) -> dict:
    """The LP's dispatch through pandapower's AC power flow: voltage violations of the band,
    flow-limit violations (|P| at the sending end against the LP's MW limits), AC against
    linearized losses, and the slack's P against the LP's substation p0."""
    return ac_state(case, model, sol).check


def drl_lp_ac(
    case,
    model: DLMPModel,
    lin: dict,
    selected: np.ndarray,
    *,
    max_corrections: int = 3,
    tol_mw: float = TOL_MW,
    tol_pu: float = TOL_PU,
    **kw,
) -> tuple[DRLLPOutcome, dict, dict]:
    """:func:`drl_lp` (``kw``: its options), then the AC check of its dispatch on ``case``;
    while a flow or voltage limit is violated, the violated limits are tightened by the AC −
    linear mismatch and the certified LP re-solved (:mod:`~.ac_correction`), at most
    ``max_corrections`` times. Returns the last outcome, its AC check (against the original
    limits) and ``info["ac_corrections"]``; a violation left is warned about, naming it."""
    if isinstance(max_corrections, bool) or not isinstance(max_corrections, int | np.integer):
        raise ValueError(f"max_corrections must be a whole number ≥ 0, got {max_corrections!r}")
    if max_corrections < 0:
        raise ValueError(f"max_corrections must be a whole number ≥ 0, got {max_corrections!r}")
    out = drl_lp(model, lin, selected, **kw)
    corr = Corrections.none(model)
    st, bad = None, {"flow": [], "v_hi": [], "v_lo": []}
    while out.sol.get("status") == "optimal":
        st = ac_state(case, model, out.sol)
        bad = violations(model, st, tol_mw, tol_pu)
        if not any(len(b) for b in bad.values()) or len(corr.rounds) >= max_corrections:
            break
        grow(corr, model, st, bad)
        out = drl_lp(corr.model(model), lin, selected, **kw)
    if st is None:  # the uncorrected LP is infeasible: nothing to check
        out.ac_check, out.ac_corrections = {}, {"rounds": [], "n_corrections": 0}
        out.ac_corrections["ac_violated"] = False
        return out, out.ac_check, out.ac_corrections
    info = summary(model, corr, st, bad)
    if out.sol.get("status") != "optimal":  # a correction made the LP infeasible
        info["ac_violated"] = True
        warnings.warn(
            f"the LP with AC-corrected limits {info['corrected_flow_limits_mw']} is "
            f"{out.sol.get('status')}: no dispatch meets the AC limits",
            RuntimeWarning,
            stacklevel=2,
        )
    out.ac_check, out.ac_corrections = st.check, info
    return out, st.check, info


def solve_drl_lp(
    case,
    *,
    selected: Iterable | None = None,
    omitted: str = "zero",
    iterations: int = 2,
    ac: bool = True,
    ac_corrections: int = 3,
    backend: str = "auto",
    repair: RepairOptions | None = None,
    **options,
) -> Result:
    """``solve(case, "drl_lp", selected=[der ids], …)``: the module docstring. ``omitted``:
    "zero" or "setpoint"; ``ac``: run the AC check and correct the LP's limits by it
    (:func:`drl_lp_ac`, at most ``ac_corrections`` rounds; 0: check only); ``repair``:
    certificate tolerance and repair rule (:class:`RepairOptions`); other options:
    :func:`dlmp_model`'s."""
    if backend not in ("auto", "highs"):
        raise ValueError("the drl_lp LP is solved by HiGHS: use backend 'auto' or 'highs'")
    if selected is None:
        raise ValueError("drl_lp needs selected=[DER ids] (the DERs the LP may dispatch)")
    t0 = time.perf_counter()
    model = dlmp_model(case, **options)
    pos = selected_positions(model, selected)
    base = _base(case, model, omitted)
    kw = {"base_mw": base, "iterations": iterations, "options": repair}
    lin = model.linearize(model.x_b)
    if ac:
        t1 = time.perf_counter()
        out, check, corrections = drl_lp_ac(
            case, model, lin, pos, max_corrections=ac_corrections, **kw
        )
        t_ac = time.perf_counter() - t1 - sum(out.timings.values())  # checks + earlier LPs
    else:
        out = drl_lp(model, lin, pos, **kw)
    ok = out.sol.get("status") == "optimal"
    res = Result(
        Status.OPTIMAL if ok else Status.INFEASIBLE,
        out.sol.get("objective", np.nan),
        "drl_lp",
        case.name,
        timings=dict(out.timings),
    )
    res.info = {"backend": "highs", "reference_price_usd_per_mwh": model.lam0}
    res.info.update(iterations=iterations, omitted=omitted, certificate=_certificate(out, model))
    if ok:
        _dlmp_tables(res, model, out.sol)
        res.der["selected"] = np.isin(np.arange(len(model.der_ids)), out.selected)
        res.der["added_back"] = np.isin(np.arange(len(model.der_ids)), out.added_back)
        res.info["solution"] = out.sol
    if ac:  # the AC check of the returned dispatch, against the original limits
        res.info.update(ac_check=check, ac_corrections=corrections)
        res.timings["ac_check"] = t_ac
    res.timings["total"] = time.perf_counter() - t0
    return res


def _certificate(out: DRLLPOutcome, model: DLMPModel) -> dict:
    """``info["certificate"]``: the summary, then one report per linearization pass."""
    first = out.reports[0] if out.reports else None
    return {
        "certified": out.certified,
        "certified_without_repair": bool(first and first.certified and first.rounds == 0),
        "selected_ders": model.der_ids[out.selected].tolist(),
        "added_back_ders": model.der_ids[out.added_back].tolist(),
        "rounds": sum(r.rounds for r in out.reports),
        "fallback": any(r.fallback for r in out.reports),
        "objective_before_certification": float(first.extra["first_objective"])
        if first
        else np.nan,
        "full_columns": out.full_columns,
        "reduced_columns": out.reduced_columns,
        "rows": out.rows,
        "passes": [r.as_dict() for r in out.reports],
    }


EXTRA_PROBLEMS["drl_lp"] = solve_drl_lp
