"""DDMM: dynamic merge / split of neighbouring microgrids (seed003 §III-B, eq. 14).

**The load centroid and its unit.** For each tie branch between microgrids a and b, each side
has a *boundary region*: the tie bus and the buses of its microgrid within ``boundary_hops``
hops of it. Eq. 14 sums demand over max demand; over that region,

    Lc = Σ_{j ∈ region} P_L,j(t) / Σ_{j ∈ region} P_L,j^max,

so Lc is dimensionless: the region's demand **in per unit of its expected peak demand**
``nominal_mw`` — the bus loads at the load profile's peak with the average centroid uplift
(1 + (1.5 − 1) × 30 % for seed003's centroids, :func:`~.method.nominal_peak_mw`). The paper's
"Lc ≥ 1" then reads "the boundary region draws more than it is expected to at peak": it
carries more than its share of the minute's load centroids, or the whole feeder is near peak.
(Normalizing by the plain bus loads instead would put every region of a static scenario at
Lc ≥ 1, merging every tie all the time.)

**Merge and split, with hysteresis.** A tie merges when the larger of its two sides' Lc
reaches ``lc_merge`` and splits again only when it falls below ``lc_split`` < ``lc_merge``, so
a centroid hovering at the threshold does not flap. Merging lets the loaded microgrid use the
DERs across the tie (the paper: "it may be better to use the DERs of both microgrids"). The
environment has one agent per microgrid picking k DERs, so a merge is expressed as a relabelling
the env accepts (``DERSelectionEnv.set_zone_of_bus``): the loaded side annexes the
neighbour's boundary region (and any piece of the neighbour that the annexed region alone
connects to the tie), while the neighbour keeps the rest, which stays connected and keeps its
agent. A merge that would leave the neighbour fewer than ``k`` DERs is not made (reported).

**Boundary buses.** While a tie is split, its upstream end (nearer the substation) is flagged
PQ and its downstream end PV (the decoupled pair of §III-B: the upstream microgrid sees the tie
as a load, the downstream one holds the voltage); both are "coupled" while merged. Their
voltage magnitude and angle are tracked each step from the linearized power flow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import breadth_first_order, connected_components

from dispatchlab.learning.envs.der_selection.lp import electrical_distance
from dispatchlab.learning.methods.seed003.config import Seed003Config


class DDMM:
    """Tracks the ties of a base partition and relabels buses as centroids come and go."""

    def __init__(self, case, base_labels: np.ndarray, nominal_mw: np.ndarray, cfg: Seed003Config):
        self.cfg, self.base = cfg, np.asarray(base_labels, int).copy()
        self.bus_ids = case.buses.index.to_numpy()
        dist, self.adjacency = electrical_distance(case)
        self.nominal = np.asarray(nominal_mw, float)
        pos = {b: i for i, b in enumerate(self.bus_ids)}
        ders = case.ders[case.ders["in_service"] & (case.ders["p_max_mw"] > 0)]
        self.der_count = np.bincount([pos[b] for b in ders["bus"]], minlength=len(self.bus_ids))
        root = pos[int(case.gens.loc[case.gens["in_service"], "bus"].iloc[0])]
        coo = self.adjacency.tocoo()
        ties = [
            (int(i), int(j))
            for i, j in zip(coo.row, coo.col, strict=True)
            if i < j and self.base[i] != self.base[j]
        ]
        # upstream end first: the end electrically nearer the substation
        self.ties = [(i, j) if dist[root, i] <= dist[root, j] else (j, i) for i, j in ties]
        self.regions = [(self._region(i), self._region(j)) for i, j in self.ties]
        self.merged = np.zeros(len(self.ties), bool)
        self.lc = np.zeros((len(self.ties), 2))
        self.skipped: list[int] = []  #: ties whose merge was refused in the last step
        self.labels = self.base.copy()

    def _region(self, bus: int) -> np.ndarray:
        """Buses of ``bus``'s base microgrid within ``boundary_hops`` hops of it."""
        members = np.flatnonzero(self.base == self.base[bus])
        sub = self.adjacency[members][:, members]
        start = int(np.flatnonzero(members == bus)[0])
        depth = {start: 0}
        for v in breadth_first_order(sub, start, directed=False, return_predecessors=False):
            for w in sub[v].indices:
                depth.setdefault(int(w), depth[int(v)] + 1)
        return members[[v for v, d in depth.items() if d <= self.cfg.boundary_hops]]

    def load_centroids(self, load_mw: np.ndarray) -> np.ndarray:
        """(ties × 2) Lc of eq. 14 for the upstream and downstream boundary regions."""
        load_mw = np.asarray(load_mw, float)
        out = np.zeros((len(self.ties), 2))
        for t, regions in enumerate(self.regions):
            for s, reg in enumerate(regions):
                nominal = self.nominal[reg].sum()
                out[t, s] = load_mw[reg].sum() / nominal if nominal > 0 else 0.0
        return out

    def step(self, load_mw: np.ndarray) -> np.ndarray:
        """Update merges from the bus loads (MW, bus positions); the zone label of every bus."""
        self.lc = self.load_centroids(load_mw)
        peak = self.lc.max(axis=1)
        self.merged = np.where(self.merged, peak >= self.cfg.lc_split, peak >= self.cfg.lc_merge)
        labels, self.skipped = self.base.copy(), []
        for t in np.flatnonzero(self.merged):
            heavy = int(np.argmax(self.lc[t]))
            taken = self._annex(labels, t, heavy)
            if taken is None:
                self.skipped.append(int(t))
                self.merged[t] = False
                continue
            labels[taken] = labels[self.ties[t][heavy]]
        self.labels = labels
        return labels

    def _annex(self, labels: np.ndarray, t: int, heavy: int) -> np.ndarray | None:
        """Buses the heavy side of tie ``t`` takes from its neighbour, or None if the
        neighbour would keep fewer than k DERs."""
        other = self.ties[t][1 - heavy]
        zone = labels[other]
        members = np.flatnonzero(labels == zone)
        rest = np.setdiff1d(members, self.regions[t][1 - heavy])
        if len(rest) == 0:
            return None
        _, piece = connected_components(self.adjacency[rest][:, rest], directed=False)
        keep = rest[piece == np.argmax(np.bincount(piece, self.der_count[rest] + 1e-3))]
        if self.der_count[keep].sum() < self.cfg.k:
            return None
        return np.setdiff1d(members, keep)

    def boundary(self, v_pu: np.ndarray, theta_rad: np.ndarray) -> pd.DataFrame:
        """Per tie end: its bus, PQ / PV / coupled flag, Lc, V (p.u.) and θ (deg)."""
        rows = []
        for t, ends in enumerate(self.ties):
            for s, bus in enumerate(ends):
                flag = "coupled" if self.merged[t] else ("PQ", "PV")[s]
                rows.append(
                    {
                        "tie": t,
                        "bus_id": int(self.bus_ids[bus]),
                        "flag": flag,
                        "lc_pu": float(self.lc[t, s]),
                        "vm_pu": float(v_pu[bus]),
                        "va_deg": float(np.degrees(theta_rad[bus])),
                    }
                )
        return pd.DataFrame(rows)

    def thresholds(self) -> dict[str, float]:
        """What a checkpoint stores of DDMM besides the base partition."""
        c = self.cfg
        return {"lc_merge": c.lc_merge, "lc_split": c.lc_split, "boundary_hops": c.boundary_hops}
