"""The scenario minutes seed003 is trained and compared on: the ``der-selection`` balancing market.

The env's base schedule (the full LP over all DERs at the static loads, ``env.base_mw``) stays;
each minute the load centroids draw ``centroid_factor`` − 1 = 50 % of their load's value at that
minute of the case's 1-minute profile on top, and the selected DERs (with the substation)
balance that deviation while every other DER stays at its base (seed003 §IV). A scenario is
(day seed, minute): the seed draws the centroids exactly as ``DERSelectionEnv.reset(seed=…)``
does; the minute picks the profile row. Cases (seed003 §V):

* ``normal`` — random centroids (30 % of the load buses);
* ``dynamic`` — the same plus a centroid on the MG2–MG3 coupling (bus 19, §V-B), which DDMM
  may answer by merging;
* ``congestion`` — the paper's centroids (buses 9, 24, 43, 58, 76, 109 and 19) with the tie
  "120–36" (line 135–35) limited to 740/755 of its unconstrained peak (§V-C).

The network is linearized once; a minute changes only the demand vector, so a scenario costs a
linearization, not a case rebuild (``env.reset`` rebuilds the case: ~0.1 s).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch

from dispatchlab.learning.envs.der_selection.env import DERSelectionConfig, DERSelectionEnv
from dispatchlab.learning.envs.der_selection.lp import electrical_distance
from dispatchlab.learning.envs.der_selection.market import (
    PAPER_CENTROIDS,
    PAPER_TIE_CENTROID,
    centroid_profile,
)
from dispatchlab.learning.methods.seed003.config import Seed003Config
from dispatchlab.learning.methods.seed003.ddmm import DDMM
from dispatchlab.learning.methods.seed003.partition import validate_partition
from dispatchlab.solvers.problems.dlmp_lp import solve_lp

CASES = ("normal", "dynamic", "congestion")
N_FEAT = 9


def env_for(cfg: Seed003Config, kind: str = "normal") -> DERSelectionEnv:
    """The balancing-market env of case ``kind`` (congestion: the paper's tie limit)."""
    if kind not in CASES:
        raise ValueError(f"unknown case '{kind}'; use one of {', '.join(CASES)}")
    c = DERSelectionConfig(
        case=cfg.case, n_zones=cfg.n_zones, k=cfg.k, congestion=kind == "congestion"
    )
    return DERSelectionEnv(c)


class Seed003Task:
    """Scenario minutes, DDMM re-zoning, DER features and the eq. 22 reward of a selection."""

    def __init__(
        self,
        cfg: Seed003Config,
        labels: np.ndarray,
        env: DERSelectionEnv | None = None,
        kind: str = "normal",
    ):
        self.cfg, self.kind = cfg, kind
        self.env = env = env or env_for(cfg, kind)
        validate_partition(env.case, labels, cfg.n_zones)
        env.set_zone_of_bus(np.asarray(labels, np.int64))
        self.labels = np.asarray(labels, np.int64)
        self.base = env.model_for(env.scenario_case([]))  # static loads, DERs at their base
        self.base_mw = env.base_mw
        self._profile(env)
        self.ddmm = DDMM(env._base, labels, self.nominal_mw, cfg)
        dist, _ = electrical_distance(env.case)
        sub = dist[np.ix_(env._der_bus, env._der_bus)]
        self.dist = torch.as_tensor(sub / sub.max(), dtype=torch.float32)
        self.root_dist = dist[0, env._der_bus] / dist[0].max()
        self.model, self.lin, self.centroids, self.minute = self.base, None, np.array([], int), 0

    def _profile(self, env: DERSelectionEnv) -> None:
        """Per-minute extra load of every load bus if it were a centroid (MW, Mvar)."""
        case, loads = env.case, env._base.loads[env._base.loads["in_service"]]
        minutes = len(case.timeseries)
        p, q = centroid_profile(case, minutes)
        p = p.reindex(columns=loads.index).fillna(loads["p_mw"])  # loads without a series
        q = q.reindex(columns=loads.index).fillna(loads["q_mvar"])
        pos = pd.Index(self.base.net.bus_ids).get_indexer(loads["bus"])
        to_bus = np.zeros((len(loads), self.base.net.n))
        to_bus[np.arange(len(loads)), pos] = 1.0
        extra = env.config.centroid_factor - 1.0
        self.extra_p = extra * p.to_numpy() @ to_bus  # minute × bus
        self.extra_q = extra * q.to_numpy() @ to_bus
        self.minutes = minutes
        share = env.config.centroid_share
        self.load_buses = np.unique(loads.loc[loads["p_mw"] > 0, "bus"])
        #: DDMM's expected peak demand per bus: static load + the average centroid extra at
        #: the profile's peak (docs of :mod:`.ddmm`)
        self.nominal_mw = self.base.demand + share * self.extra_p.max(axis=0)

    def draw_centroids(self, seed: int) -> np.ndarray:
        """The centroid buses of day ``seed`` for this case."""
        if self.kind == "congestion":
            return np.array(sorted({*PAPER_CENTROIDS, PAPER_TIE_CENTROID}))
        c = self.env.config
        rng = np.random.default_rng(seed)
        n = round(c.centroid_share * len(self.load_buses))
        chosen = np.sort(rng.choice(self.load_buses, n, replace=False))
        if self.kind == "dynamic":
            chosen = np.union1d(chosen, [PAPER_TIE_CENTROID])
        return chosen

    def reset(self, seed: int, minute: int) -> None:
        """Scenario (day ``seed``, ``minute``): the day's centroids at that minute, re-zoned."""
        if not 0 <= minute < self.minutes:
            raise ValueError(
                f"minute {minute} outside the profile's {self.minutes} minutes (0 … "
                f"{self.minutes - 1})"
            )
        self.set_scenario(self.draw_centroids(seed), minute)

    def set_scenario(self, buses, minute: int) -> None:
        """Centroids at ``buses`` drawing their extra load of ``minute``; re-linearize."""
        m = copy.copy(self.base)
        at = np.isin(m.net.bus_ids, buses)
        dp = np.where(at, self.extra_p[minute], 0.0)
        m.demand = self.base.demand + dp
        m.x_b = self.base.x_b - dp
        m.q_inj = self.base.q_inj - np.where(at, self.extra_q[minute], 0.0)
        self.model, self.centroids, self.minute = m, np.asarray(buses), minute
        self.lin = m.linearize(m.x_b)
        self.labels = self.ddmm.step(m.demand).astype(np.int64)

    def follow(self, env: DERSelectionEnv) -> None:
        """Use a live env's scenario (after its reset), re-zone it and the env by DDMM."""
        self.model, self.lin, self.centroids = env._model, env._lin, env.centroids
        self.labels = self.ddmm.step(self.model.demand).astype(np.int64)
        env.set_zone_of_bus(self.labels)

    def boundary(self) -> pd.DataFrame:
        """DDMM's boundary buses now: PQ / PV / coupled flag, Lc, and V, θ of the linearized
        power flow at the minute's operating point (the DERs at base)."""
        delta, v = self.model.net.state(self.model.x_b, self.model.q_inj)
        return self.ddmm.boundary(v, delta)

    @property
    def groups(self) -> np.ndarray:
        """Zone of every DER position."""
        return self.labels[self.env._der_bus]

    def features(self) -> np.ndarray:
        """(DERs × 9): cost/λ0, loss factor, bus load (×10 MW), centroid flag, 10(V − 1),
        loss-adjusted cost c/(1 − LF)/λ0 (eq. 9), zone deviation / zone headroom, distance
        from the substation (|Z| / max), up-headroom (p_max − base)/p_max."""
        m, lin = self.model, self.lin
        bus = self.env._der_bus
        centroid = np.isin(m.net.bus_ids, self.centroids).astype(float)
        zone, n_z = self.groups, self.cfg.n_zones
        head = m.der_lim[1] - self.base_mw
        dev = np.bincount(self.labels, m.demand - self.base.demand, n_z)
        room = np.maximum(np.bincount(zone, head, n_z), 1e-6)
        lf = lin["LF"][bus]
        cols = [
            m.der_cost / m.lam0,
            lf,
            10.0 * m.demand[bus],
            centroid[bus],
            10.0 * (lin["V"][bus] - 1.0),
            m.der_cost / (1.0 - lf) / m.lam0,
            dev[zone] / room[zone],
            self.root_dist,
            head / m.der_lim[1],
        ]
        return np.stack(cols, axis=1).astype(np.float32)

    def reward(self, sel: np.ndarray) -> tuple[float, float, np.ndarray]:
        """Eq. 22 for DER positions ``sel`` moving from their base, by one LP at the minute's
        linearization: (team reward, the LP's cost $/h, each DER's term). A DER's term is its
        loss-adjusted value λ0 (1 − LF_i) Δp_i − c_i Δp_i (loss reduction minus cost of its
        move Δp_i, / scale); the team reward is the cost with nobody moving minus the LP's
        (/ scale). Infeasible: −penalty for the team and every pick, cost NaN."""
        m, lin, scale = self.model, self.lin, self.cfg.reward_scale_usd_per_h
        out = solve_lp(m, lin, np.asarray(sel, int), base_mw=self.base_mw)
        if out.get("status") != "optimal":
            pen = -self.env.config.penalty_infeasible
            return pen, float("nan"), np.full(len(m.der_ids), pen)
        ref = m.lam0 * (m.demand.sum() + lin["L"] - self.base_mw.sum()) + m.der_cost @ self.base_mw
        move = out["p_der"] - self.base_mw
        lf = lin["LF"][self.env._der_bus]
        each = (m.lam0 * (1.0 - lf) - m.der_cost) * move / scale
        return (ref - out["objective"]) / scale, out["objective"], each

    def actions(self, picks: np.ndarray, zones: np.ndarray) -> dict[str, np.ndarray]:
        """The env's action dict from picks (zones × k DER positions); the env must carry
        this task's zones (:meth:`follow`)."""
        out = {}
        for z, row in zip(zones, picks, strict=True):
            agent = f"mg_{int(z)}"
            out[agent] = np.searchsorted(self.env._zone_pos[agent], row).astype(np.int64)
        return out
