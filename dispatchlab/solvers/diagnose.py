"""Why is a dispatch infeasible? A slack-relaxed re-solve that names the rows to relax.

:func:`diagnose` takes the (infeasible) dispatch LinearModel, loads it into a fresh HiGHS
instance and adds non-negative, heavily penalised slack columns to every row that can make the
problem infeasible: power balance (per bus for B-θ; per bus through the PTDF for the PTDF
formulation; per period on a copper plate), branch and angle-difference limits, ramps,
reserve requirements and the storage terminal condition. It is solved twice:

* stage ``shortfall``: balance slack is cheap, the others ten times dearer: *where* is power
  missing (or in surplus), bus by bus, period by period;
* stage ``limits``: balance slack is dear, the others cheap: *which* limit (line, ramp,
  reserve …) would have to give, and by how much.

Rows with a positive slack make the diagnosis table (``kind``, ``element_id``, ``period``,
``slack_mw``, ``direction``, ``stage``). The model itself is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from dispatchlab.solvers.backends.highs import HighsModel
from dispatchlab.solvers.data import DispatchData
from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.network import DCNetwork
from dispatchlab.solvers.status import Status

#: constraint block -> (kind, label of a +1 slack column, label of a −1 slack column or None)
RELAXABLE: dict[str, tuple[str, str, str | None]] = {
    "power_balance": ("balance", "shortfall", "surplus"),
    "branch_flow_limit": ("branch limit", "over to→from", "over from→to"),
    # angle-difference rows are in MW of flow on the branch (dispatch.add_*_angle_limits)
    "branch_angle_diff": ("angle limit", "over to→from", "over from→to"),
    "gen_ramp": ("ramp", "down too fast", "up too fast"),
    "reserve_requirement_up": ("reserve up", "shortfall", None),
    "reserve_requirement_down": ("reserve down", "shortfall", None),
    "storage_terminal_soc": ("storage terminal", "soc short (MWh)", "soc over (MWh)"),
}
#: blocks named with these prefixes (SCED's chunks of base / post-contingency PTDF rows)
RELAXABLE_PREFIXES: dict[str, tuple[str, str, str | None]] = {
    "sced_flow_limit": ("branch limit", "over to→from", "over from→to"),
    "sced_contingency_limit": ("post-contingency limit", "over to→from", "over from→to"),
}
#: rows written with PTDF rows on the injections (bus slacks enter them through PTDF columns)
PTDF_BLOCKS = ("branch_flow_limit", "branch_angle_diff")
COLUMNS = ["stage", "kind", "element_id", "period", "slack_mw", "direction"]
TOL = 1e-6


@dataclass
class _Slacks:
    """Slack columns being assembled: their rows/values (CSC) and what each one means."""

    indptr: list[int] = field(default_factory=lambda: [0])
    rows: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)
    labels: list[tuple] = field(default_factory=list)  # (kind, element_id, period, direction)

    def add(self, rows: np.ndarray, vals: np.ndarray, label: tuple) -> None:
        self.rows.append(np.asarray(rows, np.int32))
        self.vals.append(np.asarray(vals, float))
        self.indptr.append(self.indptr[-1] + len(self.rows[-1]))
        self.labels.append(label)


def diagnose(
    model: LinearModel,
    d: DispatchData,
    net: DCNetwork | None = None,
    *,
    penalty: float = 1e5,
    time_limit: float | None = None,
) -> pd.DataFrame:
    """The slack needed to make ``model`` feasible, in the two stages of the module docstring.

    ``net`` is needed for the PTDF formulation (bus balance slacks enter the flow rows through
    PTDF rows computed from ``net``). Returns an empty table (with the columns) if even the
    relaxed problem fails, with ``attrs['status']`` saying why.
    """
    slacks = _collect(model, d, net)
    hm = HighsModel(model, time_limit=time_limit)
    n0 = hm.h.getNumCol()
    k = len(slacks.labels)
    is_balance = np.array([lab[0] == "balance" for lab in slacks.labels], bool)
    cheap, dear = penalty * d.dt_h, 10.0 * penalty * d.dt_h
    first = np.where(is_balance, cheap, dear)
    hm.h.addCols(
        k,
        first,
        np.zeros(k),
        np.full(k, np.inf),
        int(slacks.indptr[-1]),
        np.asarray(slacks.indptr[:-1], np.int32),
        np.concatenate(slacks.rows),
        np.concatenate(slacks.vals),
    )
    pos = np.arange(n0, n0 + k, dtype=np.int32)
    frames, statuses = [], []
    for stage, cost in (("shortfall", first), ("limits", np.where(is_balance, dear, cheap))):
        hm.h.changeColsCost(k, pos, cost)
        sol = hm.solve()
        statuses.append(str(sol.status))
        if sol.status is Status.OPTIMAL:
            frames.append(_table(stage, sol.x[n0:], slacks.labels))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    out.attrs["status"] = statuses
    return out


def _table(stage: str, x: np.ndarray, labels: list[tuple]) -> pd.DataFrame:
    used = np.flatnonzero(x > TOL)
    rows = [(stage, *labels[i][:3], float(x[i]), labels[i][3]) for i in used]
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.sort_values("slack_mw", ascending=False, kind="stable").reset_index(drop=True)


def _collect(model: LinearModel, d: DispatchData, net: DCNetwork | None) -> _Slacks:
    """One slack column per relaxable row and direction (per-bus columns for PTDF balance)."""
    slacks = _Slacks()
    ptdf_balance = (
        any(n in model.con_blocks for n in PTDF_BLOCKS)
        and net is not None
        and not _bus_level(model.con_blocks["power_balance"].index)
    )
    for name, (kind, plus, minus) in _relaxable_blocks(model):
        if name == "power_balance" and ptdf_balance:
            continue
        block = model.con_blocks[name]
        names = block.index.names if isinstance(block.index, pd.MultiIndex) else []
        for local, label in enumerate(block.index):
            element, period = _element_period(block.index, label, d)
            after = (
                f" after outage of branch {label[names.index('outage_branch_id')]}"
                if "outage_branch_id" in names
                else ""
            )
            for sign, direction in ((1.0, plus), (-1.0, minus)):
                if direction is not None:
                    label_ = (kind, element, period, direction + after)
                    slacks.add([block.start + local], [sign], label_)
    if ptdf_balance:
        _add_ptdf_bus_slacks(model, d, net, slacks)
    if "branch_p_mw" in model.var_blocks:
        _add_btheta_flow_slacks(model, slacks)
    return slacks


def _relaxable_blocks(model: LinearModel) -> list[tuple[str, tuple]]:
    """(block name, (kind, +label, −label)) of every relaxable constraint block of ``model``."""
    out = [(name, spec) for name, spec in RELAXABLE.items() if name in model.con_blocks]
    for name in model.con_blocks:
        spec = next((v for k, v in RELAXABLE_PREFIXES.items() if name.startswith(k)), None)
        if spec is not None:
            out.append((name, spec))
    return out


def _add_btheta_flow_slacks(model: LinearModel, slacks: _Slacks) -> None:
    """Flow beyond the rating of each rated B-θ branch: copies (±) of the bounded flow
    column, so that the physical flow is f + e⁺ − e⁻ with |f| ≤ rating."""
    block = model.var_blocks["branch_p_mw"]
    rated = np.flatnonzero(np.isfinite(model.ub[block.positions]))
    a = model.matrix().tocsc()
    for k in rated:
        col = block.start + k
        span = slice(a.indptr[col], a.indptr[col + 1])
        rows, vals = a.indices[span], a.data[span]
        branch, period = block.index[k]
        slacks.add(rows, vals, ("branch limit", branch, period, "over from→to"))
        slacks.add(rows, -vals, ("branch limit", branch, period, "over to→from"))


def _add_ptdf_bus_slacks(
    model: LinearModel, d: DispatchData, net: DCNetwork, slacks: _Slacks
) -> None:
    """Virtual injections at each bus and period: +1 in the period's balance row and the
    bus's PTDF column in the period's flow-limit rows (a generator or load at that bus)."""
    bal = model.con_blocks["power_balance"]
    blocks = [model.con_blocks[n] for n in PTDF_BLOCKS if n in model.con_blocks]
    index = blocks[0].index.append([b.index for b in blocks[1:]])
    row_of = np.concatenate([b.positions for b in blocks])  # model row of each PTDF row
    branch = index.get_level_values("branch_id")
    period = d.times.get_indexer(index.get_level_values("period"))
    ptdf = net.ptdf_rows(pd.Index(net.branch_ids).get_indexer(branch))  # (limit rows, bus)
    col = sp.csc_matrix(ptdf)
    for b, bus_id in enumerate(d.bus_ids):
        span = slice(col.indptr[b], col.indptr[b + 1])
        rows_b, coef_b = col.indices[span], col.data[span]
        for t in range(d.T):
            at_t = period[rows_b] == t
            rows = np.r_[bal.start + t, row_of[rows_b[at_t]]]
            coef = np.r_[1.0, coef_b[at_t]]
            for sign, direction in ((1.0, "shortfall"), (-1.0, "surplus")):
                slacks.add(rows, sign * coef, ("balance", int(bus_id), d.times[t], direction))


def _bus_level(index: pd.Index) -> bool:
    return isinstance(index, pd.MultiIndex) and "bus_id" in index.names


def _element_period(index: pd.Index, label, d: DispatchData) -> tuple:
    """(element id, period) of a constraint label: (id, period), a period alone, or an id
    alone (a row for the whole horizon, e.g. the storage terminal: the last period)."""
    if isinstance(index, pd.MultiIndex):
        return label[0], label[index.names.index("period")]
    if index.name == "period":
        return -1, label
    return label, d.times[-1]
