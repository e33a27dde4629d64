"""Branch angle-difference limits in every DC formulation (B-θ, PTDF, lazy PTDF, SCED).

Every DC formulation has f_l = base·b_l·(θ_f − θ_t − φ_l), so the limit
angmin_l ≤ θ_f − θ_t ≤ angmax_l on the *bus* angles (MATPOWER's ``makeAang``, PowerModels'
``constraint_voltage_angle_difference``: the phase shift is not part of it) is the flow bound

    base·b_l·(angmin_l − φ_l) ≤ f_l ≤ base·b_l·(angmax_l − φ_l)                           (3)

(ends swapped where b_l < 0). In B-θ, f_l is the flow variable that the flow definition ties
to the angles, so (3) is a one-coefficient row on it. With PTDF rows, f_l = PTDF_l (p − d) + s_l:
a row (2) of :mod:`.sced_rows` with k = −1 and its own bounds, the same PTDF row from the
sparse LU, the same LMP congestion term; the lazy loops add it when violated, as flow rows.
Rows are in MW of flow in every formulation (one dual convention; 1° = base·b·π/180 MW). Only
branches whose angle bound is tighter than their base-case rating get rows
(``DCNetwork.angle_rows_needed``): elsewhere the rating implies (3). Post-contingency angles
are not limited (neither MATPOWER nor PowerModels has an N-1 angle limit). Blocks are named
``branch_angle_diff*``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatchlab.solvers.data import DispatchData
from dispatchlab.solvers.model import LinearModel
from dispatchlab.solvers.network import DCNetwork
from dispatchlab.solvers.problems.dispatch import ANGLE_BLOCK, add_ptdf_flow_limits, cols_of
from dispatchlab.solvers.problems.sced_rows import FlowRows, add_flow_rows


@dataclass(frozen=True)
class AngleRows:
    """Rows (3) of some (branch, period) pairs with their flow bounds (MW)."""

    rows: FlowRows  # line, outage −1, lodf 0, period, rate = max(|lo|, |hi|) (unused)
    lo: np.ndarray
    hi: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def keys(self, T: int) -> np.ndarray:
        return self.rows.line.astype(np.int64) * T + self.rows.t


def angle_rows(net: DCNetwork, lines: np.ndarray, t: np.ndarray) -> AngleRows:
    """Rows (3) for the pairs (``lines[i]``, ``t[i]``)."""
    lines = np.asarray(lines, dtype=np.int64)
    lo, hi = net.angle_flow_bounds_mw(lines)
    n = len(lines)
    rate = np.maximum(np.abs(lo), np.abs(hi))
    rows = FlowRows(lines, np.full(n, -1), np.zeros(n), np.asarray(t, dtype=np.int64), rate)
    return AngleRows(rows, lo, hi)


def add_btheta_angle_limits(m: LinearModel, d: DispatchData, net: DCNetwork, lines) -> None:
    """angmin ≤ θ_f − θ_t ≤ angmax for ``lines``, written on the flow variable that the flow
    definition ties to the angles: base·b·(angmin − φ) ≤ f ≤ base·b·(angmax − φ)
    (``DCNetwork.angle_flow_bounds_mw``). One coefficient per row, in MW: the same units and
    duals as the PTDF rows of :func:`add_ptdf_angle_limits` (block ``branch_angle_diff``)."""
    T = d.T
    lo, hi = net.angle_flow_bounds_mw(lines)
    cols = cols_of(m.var_blocks["branch_p_mw"].start, net.n_branch, T)[lines].ravel()
    idx = pd.MultiIndex.from_product(
        [net.branch_ids[lines], d.times], names=["branch_id", "period"]
    )
    m.add_cons(ANGLE_BLOCK, idx, np.arange(cols.size), cols, 1.0,
               lb=np.repeat(lo, T), ub=np.repeat(hi, T))  # fmt: skip


def add_ptdf_angle_limits(m: LinearModel, d: DispatchData, net: DCNetwork, lines) -> None:
    """The angle limits of ``lines`` as PTDF rows on the injections (block
    ``branch_angle_diff``): θ_f − θ_t = f/(base·b) + φ is linear in the injections."""
    lo, hi = net.angle_flow_bounds_mw(lines)
    add_ptdf_flow_limits(m, d, net, lines, hi, name=ANGLE_BLOCK, lo=lo)


def add_angle_limits(
    m: LinearModel, d: DispatchData, net: DCNetwork, rate: np.ndarray, network: str
) -> None:
    """The angle rows of every branch whose limit is tighter than its rating ``rate`` (MW,
    inf = unrated), for the ``btheta`` or ``ptdf`` network of ``build_dispatch``."""
    lines = net.angle_rows_needed(rate)
    if len(lines) == 0:
        return
    if network == "btheta":
        add_btheta_angle_limits(m, d, net, lines)
    else:
        add_ptdf_angle_limits(m, d, net, lines)


def all_angle_rows(net: DCNetwork, lines: np.ndarray, T: int) -> AngleRows:
    """Rows (3) of ``lines`` in every period (the full model)."""
    return angle_rows(net, np.repeat(lines, T), np.tile(np.arange(T), len(lines)))


def add_angle_rows(m: LinearModel, d: DispatchData, net: DCNetwork, name: str, rows: AngleRows):
    """Add rows (3) as one block ``name`` (it must start with ``branch_angle_diff``)."""
    assert name.startswith(ANGLE_BLOCK)
    return add_flow_rows(m, d, net, name, rows.rows, bounds=(rows.lo, rows.hi))


def screen_angles(
    net: DCNetwork, flows: np.ndarray, lines: np.ndarray, tol: float, exclude: np.ndarray, keep: int
) -> tuple[AngleRows, int]:
    """The worst ``keep`` rows (3) of ``lines`` violated at ``flows`` (branch × T, MW) by more
    than ``tol``·max(|bound|, 1 MW) and not yet in the model (``exclude``: their keys), and
    how many such violations there were."""
    T = flows.shape[1]
    lo, hi = net.angle_flow_bounds_mw(lines)
    f = flows[lines]
    with np.errstate(invalid="ignore"):  # an infinite bound gives −inf: never violated
        up = f - hi[:, None] - tol * np.maximum(np.abs(hi), 1.0)[:, None]
        dn = lo[:, None] - f - tol * np.maximum(np.abs(lo), 1.0)[:, None]
    over = np.maximum(f - hi[:, None], lo[:, None] - f)  # MW beyond the nearer bound
    li, ti = np.nonzero((up > 0) | (dn > 0))
    new = ~np.isin(lines[li].astype(np.int64) * T + ti, exclude)
    li, ti = li[new], ti[new]
    order = np.argsort(-over[li, ti], kind="stable")[:keep]
    return angle_rows(net, lines[li[order]], ti[order]), len(li)


def max_angle_violation_deg(net: DCNetwork, flows: np.ndarray) -> float:
    """Largest excess of θ_f − θ_t over its limits (degrees, 0 if none) at ``flows``."""
    lines = net.angle_limited
    if len(lines) == 0:
        return 0.0
    scale = net.base_mva * net.b[lines]
    diff = flows[lines] / scale[:, None] + net.shift_rad[lines, None]
    over = np.maximum(diff - net.angmax_rad[lines, None], net.angmin_rad[lines, None] - diff)
    return float(np.rad2deg(max(over.max(), 0.0)))
