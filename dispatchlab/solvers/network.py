"""DC network math on arrays: incidence, susceptances, PTDF and LODF rows.

Functions here take plain arrays (positions, reactances, taps), never a Case, so that the same
math serves solvers, environments and learned methods. :func:`dc_network` is the one bridge
from a Case. Dense PTDF/LODF matrices are never required: rows and columns come from sparse LU
solves of the reduced B matrix, so N-1 screening of ACTIVSg10k fits in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


@dataclass(frozen=True)
class DCNetwork:
    """The DC model of the in-service network of a Case, in positions (0 … n-1)."""

    bus_ids: np.ndarray  # bus_id of each position
    branch_ids: np.ndarray  # branch_id of each in-service branch position
    f: np.ndarray  # from-bus position per branch
    t: np.ndarray  # to-bus position per branch
    b: np.ndarray  # series susceptance 1 / (x · tap), p.u.
    shift_rad: np.ndarray  # phase shift φ, radians
    ref: np.ndarray  # positions of reference buses (one per island)
    base_mva: float
    isolated: np.ndarray  # positions of ISOLATED buses (angle fixed, no injection)
    r: np.ndarray | None = None  # series resistance, p.u. (loss approximation only)
    #: angle-difference limits on θ_f − θ_t (bus angles, the shift not included), radians;
    #: ±inf where the Case gives none (±360° or beyond)
    angmin_rad: np.ndarray | None = None
    angmax_rad: np.ndarray | None = None

    @property
    def n_bus(self) -> int:
        return len(self.bus_ids)

    @property
    def n_branch(self) -> int:
        return len(self.branch_ids)

    @cached_property
    def incidence(self) -> sp.csr_matrix:
        """A (branch × bus): +1 at the from bus, −1 at the to bus."""
        rows = np.concatenate([np.arange(self.n_branch)] * 2)
        cols = np.concatenate([self.f, self.t])
        vals = np.concatenate([np.ones(self.n_branch), -np.ones(self.n_branch)])
        return sp.csr_matrix((vals, (rows, cols)), shape=(self.n_branch, self.n_bus))

    @cached_property
    def bf(self) -> sp.csr_matrix:
        """Bf = diag(b)·A: branch flows (p.u.) from angles, f = Bf θ − b φ."""
        return sp.diags(self.b) @ self.incidence

    @cached_property
    def bbus(self) -> sp.csc_matrix:
        """Bbus = Aᵀ diag(b) A."""
        return (self.incidence.T @ self.bf).tocsc()

    @cached_property
    def nonref(self) -> np.ndarray:
        mask = np.ones(self.n_bus, dtype=bool)
        mask[self.ref] = False
        mask[self.isolated] = False
        return np.flatnonzero(mask)

    @cached_property
    def nonref_position(self) -> np.ndarray:
        """Position of each bus among :attr:`nonref` (−1 for reference/isolated buses)."""
        where = np.full(self.n_bus, -1, dtype=np.int64)
        where[self.nonref] = np.arange(len(self.nonref))
        return where

    @cached_property
    def bf_nonref(self) -> sp.csr_matrix:
        """The columns of :attr:`bf` of the non-reference buses (θ_ref = 0)."""
        return self.bf[:, self.nonref].tocsr()

    @cached_property
    def _lu(self):
        reduced = self.bbus[self.nonref][:, self.nonref].tocsc()
        return spla.splu(reduced)

    def solve_angles(self, p_pu: np.ndarray) -> np.ndarray:
        """θ (rad) with θ_ref = 0 for injections ``p_pu`` (bus × k or bus)."""
        p = np.asarray(p_pu, float)
        theta = np.zeros_like(p, dtype=float)
        theta[self.nonref] = self._lu_solve(p[self.nonref])
        return theta

    def _lu_solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve with the cached LU. Several right-hand sides go in Fortran order: on a quiet
        machine that is the fastest (case2000, 300 PTDF rows: 0.03 s, against 0.07 s C-order
        and 0.09 s one column at a time; benchmarks/bench_qp_backends.py)."""
        if rhs.ndim == 1:
            return self._lu.solve(np.ascontiguousarray(rhs))
        return self._lu.solve(np.asfortranarray(rhs))

    @cached_property
    def shift_injection_pu(self) -> np.ndarray:
        """Bus injections equivalent to the phase shifters: Aᵀ (b φ)."""
        return self.incidence.T @ (self.b * self.shift_rad)

    def flows_pu(self, p_pu: np.ndarray) -> np.ndarray:
        """Branch flows (p.u.) for bus injections ``p_pu`` (bus or bus × k), shifts included."""
        p = np.asarray(p_pu, float)
        shift = self.shift_injection_pu if p.ndim == 1 else self.shift_injection_pu[:, None]
        theta = self.solve_angles(p + shift)
        bphi = self.b * self.shift_rad
        return self.bf @ theta - (bphi if p.ndim == 1 else bphi[:, None])

    def ptdf_rows(self, branches: np.ndarray | None = None) -> np.ndarray:
        """PTDF rows (len(branches) × bus) with the reference buses as slack.

        PTDFᵀ = Bbus_r⁻¹ Bf_rᵀ (Bbus symmetric), computed with the cached LU; only the asked
        rows are formed, so the dense matrix is never needed for large cases.
        """
        rows = np.arange(self.n_branch) if branches is None else np.asarray(branches)
        out = np.zeros((len(rows), self.n_bus))
        if len(rows) == 0:
            return out
        rhs = self.bf[rows][:, self.nonref].toarray().T
        out[:, self.nonref] = self._lu_solve(rhs).T
        return out

    @cached_property
    def angle_limited(self) -> np.ndarray:
        """Positions of the branches with an angle-difference limit (tighter than ±360°)."""
        if self.angmin_rad is None or self.angmax_rad is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(np.isfinite(self.angmin_rad) | np.isfinite(self.angmax_rad))

    def angle_flow_bounds_mw(self, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The angle limits of ``lines`` as bounds on their flow (MW).

        f = base·b·(θ_f − θ_t − φ) holds in every DC formulation, so
        angmin ≤ θ_f − θ_t ≤ angmax is  base·b·(angmin − φ) ≤ f ≤ base·b·(angmax − φ)
        (ends swapped where b < 0, a series capacitor): an angle limit is a flow limit on the
        same branch, and a row on the injections with the branch's PTDF row.
        """
        lines = np.asarray(lines, dtype=np.int64)
        scale = self.base_mva * self.b[lines]
        with np.errstate(invalid="ignore"):  # inf·b with b = 0 cannot occur: x = 0 is mapped
            a = scale * (self.angmin_rad[lines] - self.shift_rad[lines])
            z = scale * (self.angmax_rad[lines] - self.shift_rad[lines])
        return np.minimum(a, z), np.maximum(a, z)

    def angle_rows_needed(self, rate_mw: np.ndarray) -> np.ndarray:
        """Angle-limited branches whose limit is tighter than their rating on some side: an
        angle row is redundant where ``|f| ≤ rate`` implies it (ratings are rows already)."""
        lines = self.angle_limited
        lo, hi = self.angle_flow_bounds_mw(lines)
        rate = np.asarray(rate_mw, float)[lines]
        return lines[(lo > -rate) | (hi < rate)]

    def ptdf(self) -> np.ndarray:
        """The full PTDF matrix (branch × bus); prefer :meth:`ptdf_rows` for large cases."""
        return self.ptdf_rows(None)

    def lodf_columns(self, outages: np.ndarray) -> np.ndarray:
        """LODF columns (branch × len(outages)): flow change on every branch per unit of
        pre-outage flow on the outaged branch. Radial outages (islanding) give NaN columns."""
        k = np.asarray(outages)
        inj = np.zeros((self.n_bus, len(k)))
        inj[self.f[k], np.arange(len(k))] += 1.0
        inj[self.t[k], np.arange(len(k))] -= 1.0
        theta = self.solve_angles(inj)
        ptdf_k = self.bf @ theta  # flow on every branch per unit transfer f_k -> t_k
        denom = 1.0 - ptdf_k[k, np.arange(len(k))]
        with np.errstate(divide="ignore", invalid="ignore"):
            lodf = ptdf_k / denom
        lodf[k, np.arange(len(k))] = -1.0
        bridges = np.abs(denom) < 1e-9
        lodf[:, bridges] = np.nan
        return lodf


#: reactance the DC model gives an in-service x = 0 branch (a closed switch, or a MATPOWER
#: branch with r > 0, x = 0): a stiff tie that holds its two buses at one angle, i.e. merges
#: them (docs/case-model.md, "Out-of-service elements and x = 0 branches"); at most 1/100 of
#: the case's smallest non-zero |x| (pglib case4661_sdet has 1e-5), so that a tie in parallel
#: with the stiffest branch still takes ≥ 99 % of the flow
TIE_X_PU = 1e-6


def dc_network(case) -> DCNetwork:
    """The DC network of the in-service branches of ``case``.

    An x = 0 branch merges its two buses: it becomes a tie of reactance :data:`TIE_X_PU`
    (or 1/100 of the smallest non-zero |x| if that is smaller), so
    that every bus keeps its position (and its LMP) while the tie's flow is set by the balance
    of the buses it joins (θ_f − θ_t = flow · 1e-6 rad: 0.00006° per 100 MW on base 100 MVA).
    A phase shift on such a branch has no DC model (it would drive an unbounded flow round
    any loop): refused, naming the branch.
    """
    buses = case.buses
    br = case.branches
    br = br[br["in_service"]]
    pos = {bid: i for i, bid in enumerate(buses.index)}
    f = br["from_bus"].map(pos).to_numpy()
    t = br["to_bus"].map(pos).to_numpy()
    x = br["x_pu"].to_numpy()
    tie = x == 0
    _refuse_shifted_ties(case.name, br[tie & (br["shift_deg"].to_numpy() != 0)])
    nonzero = np.abs(x[~tie])
    tie_x = min(TIE_X_PU, 0.01 * nonzero.min()) if nonzero.size else TIE_X_PU
    x = np.where(tie, tie_x, x)
    b = 1.0 / (x * br["tap_ratio"].to_numpy())
    ref = np.flatnonzero(buses["bus_type"].to_numpy() == "REF")
    # ±360° (the schema's default, and MATPOWER's 0/0 after reading) means no limit
    angmin = br["angmin_deg"].to_numpy(dtype=float)
    angmax = br["angmax_deg"].to_numpy(dtype=float)
    return DCNetwork(
        bus_ids=buses.index.to_numpy(),
        branch_ids=br.index.to_numpy(),
        f=f,
        t=t,
        b=b,
        shift_rad=np.deg2rad(br["shift_deg"].to_numpy()),
        ref=ref,
        base_mva=case.base_mva,
        isolated=np.flatnonzero(buses["bus_type"].to_numpy() == "ISOLATED"),
        r=br["r_pu"].to_numpy(dtype=float),
        angmin_rad=np.where(angmin > -360.0, np.deg2rad(angmin), -np.inf),
        angmax_rad=np.where(angmax < 360.0, np.deg2rad(angmax), np.inf),
    )


def _refuse_shifted_ties(name: str, rows) -> None:
    """Raise naming the x = 0 branches with a phase shift (``rows``), if any."""
    if len(rows) == 0:
        return
    names = ", ".join(
        f"{r.Index} ({r.from_bus}–{r.to_bus}, shift {r.shift_deg:g}°)"
        for r in rows.head(5).itertuples()
    )
    raise ValueError(
        f"case '{name}': branch(es) {names} have x = 0 and a phase shift; the DC model merges "
        "the buses of an x = 0 branch and cannot shift between them: give the branch its "
        "reactance, or take it out of service for DC problems"
    )
