"""seed004's topology-anchored dynamic graph (DGCN, §3.2) on the transmission-dispatch state.

The adjacency of interval t is

    A_t = A_phys + g_t · R,    g_t = σ(wᵀ z_t + b),   R = ½(E₁E₂ᵀ + E₂E₁ᵀ)

* ``A_phys`` (:func:`physical_adjacency`): the in-service branches weighted by electrical
  closeness, exp(−Z_ij / (s · median Z)), with Z_ij = X_ii + X_jj − 2X_ij the Thevenin
  reactance between buses i and j (X = pinv of the branch-reactance Laplacian);
* ``R``: a learned low-rank symmetric residual, switched on by the stress gate g_t whose
  inputs z_t are the three stresses the paper names — the largest line loading, the reserve
  shortage (−min margin, ≥ 0) and the 1-h wind-ramp intensity (MW / 100);
* the plausibility penalty (:meth:`DGCN.plausibility`) is Σ (A − A_phys)² · (1 + Z/median Z)
  over all pairs / N²: learned edges between electrically distant buses cost more, which keeps
  the graph near the physical one.

Per bus, a temporal convolution (kernel 3) runs over the look-back of node features and is
averaged over time; with the last interval's features it feeds two
:class:`~dispatchlab.learning.agents.gcn.GraphConv` layers (64) on ``relu(A_t) + I``, normalized
as in :func:`~dispatchlab.learning.agents.gcn.normalized_adjacency`. The convolution comes
first so that the graph layers run once per sample, not once per interval of the look-back:
a 256-sample batch costs ≈ 0.3 GFLOP instead of ≈ 2 (training time on 2 cores). Dense torch.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from torch import nn

from dispatchlab.learning.agents.gcn import GraphConv
from dispatchlab.learning.envs.transmission.core import TransmissionSystem
from dispatchlab.learning.envs.transmission.obs import STATE_LAYOUT

#: node features per bus, built from the env's global state (STATE_LAYOUT)
NODE_FEATURES = (
    "net_injection_100mw max_incident_loading mean_incident_loading unit_output_pu "
    "wind_realized_pu wind_forecast_pu price_proxy_100usd reserve_margin_up "
    "reserve_margin_down sin_hour cos_hour"
).split()


def regional_areas(case) -> pd.Series:
    """bus id -> area of ieee30's three regions (MATPOWER case30's ``bus_area``: 11, 10 and 9
    buses); the areas of federated training and of the KL task mask's load pockets."""
    if "area" not in case.buses or case.buses["area"].nunique() < 2:
        raise ValueError(f"case '{case.name}' has no area column with ≥ 2 areas")
    return case.buses["area"].astype(int).rename("area")


def electrical_distance(case) -> np.ndarray:
    """(bus, bus) Thevenin reactance distance Z_ij = X_ii + X_jj − 2X_ij (p.u.), Case bus order."""
    pos = {b: i for i, b in enumerate(case.buses.index)}
    n = len(pos)
    lap = np.zeros((n, n))
    br = case.branches[case.branches["in_service"]]
    for f, t, x in zip(br["from_bus"], br["to_bus"], br["x_pu"], strict=True):
        i, j, y = pos[f], pos[t], 1.0 / max(abs(float(x)), 1e-6)
        lap[i, i] += y
        lap[j, j] += y
        lap[i, j] -= y
        lap[j, i] -= y
    x = np.linalg.pinv(lap)
    d = np.diag(x)
    return np.maximum(d[:, None] + d[None, :] - 2.0 * x, 0.0)


def connectivity(case) -> np.ndarray:
    """(bus, bus) 0/1 adjacency of the in-service branches (no self-loops)."""
    pos = {b: i for i, b in enumerate(case.buses.index)}
    a = np.zeros((len(pos), len(pos)))
    br = case.branches[case.branches["in_service"]]
    for f, t in zip(br["from_bus"], br["to_bus"], strict=True):
        a[pos[f], pos[t]] = a[pos[t], pos[f]] = 1.0
    return a


def physical_adjacency(case, scale: float = 1.0) -> np.ndarray:
    """A_phys = connectivity · exp(−Z / (scale · median Z over the branches))."""
    conn, z = connectivity(case), electrical_distance(case)
    ref = np.median(z[conn > 0]) * scale
    return conn * np.exp(-z / ref)


def normalize(a: torch.Tensor) -> torch.Tensor:
    """D̃^{-1/2}(relu(A) + I)D̃^{-1/2} over the last two axes (batched)."""
    a = torch.relu(a) + torch.eye(a.shape[-1])
    d = a.sum(-1).rsqrt()
    return a * d[..., :, None] * d[..., None, :]


class NodeFeatures(nn.Module):
    """(…, 119) global states → (…, bus, 11) node features (:data:`NODE_FEATURES`)."""

    def __init__(self, sys: TransmissionSystem):
        super().__init__()
        sl, start = {}, 0
        for name, size in STATE_LAYOUT:
            sl[name] = slice(start, start + size)
            start += size
        self.sl = sl
        n = sys.n_bus
        inc = torch.as_tensor(sys.incident, dtype=torch.float32)
        self.register_buffer("incident", inc)
        # the lines at each bus as a padded index (→ a zero column): a max over ≤ 7 lines, not 41
        lines = [np.flatnonzero(row) for row in sys.incident]
        width = max(len(x) for x in lines)
        pad = np.full((n, width), sys.incident.shape[1])
        for i, x in enumerate(lines):
            pad[i, : len(x)] = x
        self.register_buffer("bus_lines", torch.as_tensor(pad, dtype=torch.long))
        self.register_buffer("inc_mean", inc / inc.sum(1, keepdim=True).clamp(min=1.0))
        self.register_buffer("gen_map", _scatter(sys.gen_bus, n))
        self.register_buffer("wind_map", _scatter(sys.wind_bus, n))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        sl, n = self.sl, self.incident.shape[0]
        load = s[..., sl["line_loading"]]
        padded = torch.cat([load, torch.zeros_like(load[..., :1])], -1)
        per_bus = [
            s[..., sl["bus_net_injection_100mw"]],
            padded[..., self.bus_lines].amax(-1),
            load @ self.inc_mean.T,
            s[..., sl["unit_output_pu"]] @ self.gen_map,
            s[..., sl["wind_realized_pu"]] @ self.wind_map,
            s[..., sl["wind_forecast_pu"]] @ self.wind_map,
            s[..., sl["price_proxy_100usd"]],
        ]
        glob = torch.cat([s[..., sl["reserve_margin"]], s[..., sl["calendar"]][..., :2]], -1)
        shape = (*glob.shape[:-1], n, glob.shape[-1])
        return torch.cat([torch.stack(per_bus, -1), glob[..., None, :].expand(shape)], -1)


def _scatter(bus: np.ndarray, n: int) -> torch.Tensor:
    m = torch.zeros(len(bus), n)
    m[torch.arange(len(bus)), torch.as_tensor(bus)] = 1.0
    return m


class DGCN(nn.Module):
    """Stress-gated residual graph + 2 graph layers + temporal conv (see the module docstring).

    Input: (B, L, 119) global-state histories; output: (B, bus, hidden) embeddings of the last
    interval and the adjacency A_t (B, bus, bus) it used."""

    def __init__(self, sys: TransmissionSystem, a_phys: np.ndarray, dist: np.ndarray, config):
        super().__init__()
        n, h = sys.n_bus, config.graph_hidden
        self.features = NodeFeatures(sys)
        self.register_buffer("wind_cap", torch.as_tensor(sys.wind_cap, dtype=torch.float32))
        self.register_buffer("a_phys", torch.as_tensor(a_phys, dtype=torch.float32))
        z = torch.as_tensor(dist / np.median(dist[a_phys > 0]), dtype=torch.float32)
        self.register_buffer("dist_weight", 1.0 + z)
        self.residual = bool(config.residual_graph)
        gen = torch.Generator().manual_seed(config.seed)
        r = config.residual_rank
        self.e1 = nn.Parameter(0.1 * torch.randn(n, r, generator=gen))
        self.e2 = nn.Parameter(0.1 * torch.randn(n, r, generator=gen))
        self.gate = nn.Linear(3, 1)
        f, c, k = len(NODE_FEATURES), config.temporal_channels, config.temporal_kernel
        # a kernel-k temporal convolution (zero padding, stride 1) as one Linear over the k
        # time-shifted copies: the same map as Conv1d(f, c, k, padding=k // 2), but a single
        # matmul instead of a conv over B × bus short sequences (5× faster backward on CPU)
        self.kernel = k
        self.temporal = nn.Linear(k * f, c)
        dims = [f + c] + [h] * config.graph_layers
        self.layers = nn.ModuleList(GraphConv(a, b) for a, b in itertools.pairwise(dims))

    def stresses(self, hist: torch.Tensor) -> torch.Tensor:
        """(B, 3): max line loading, reserve shortage, 1-h wind ramp (100 MW) at the last step."""
        sl = self.features.sl
        last = hist[:, -1]
        loading = last[:, sl["line_loading"]].amax(-1)
        shortage = torch.relu(-last[:, sl["reserve_margin"]].amin(-1))
        back = hist[:, max(hist.shape[1] - 5, 0)]
        wind = sl["wind_realized_pu"]
        ramp = ((last[:, wind] - back[:, wind]) * self.wind_cap).sum(-1).abs() / 100.0
        return torch.stack([loading, shortage, ramp], -1)

    def residual_matrix(self) -> torch.Tensor:
        r = self.e1 @ self.e2.T
        return 0.5 * (r + r.T) * (1.0 - torch.eye(r.shape[0]))

    def adjacency(self, hist: torch.Tensor) -> torch.Tensor:
        """(B, bus, bus) A_t = A_phys + g_t · R (A_phys alone without the residual graph)."""
        base = self.a_phys.expand(hist.shape[0], -1, -1)
        if not self.residual:
            return base
        g = torch.sigmoid(self.gate(self.stresses(hist)))[..., None]  # (B, 1, 1)
        return base + g * self.residual_matrix()

    def plausibility(self, adj: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of Σ (A − A_phys)² (1 + Z/median Z) / N²."""
        return (((adj - self.a_phys) ** 2) * self.dist_weight).mean()

    def forward(self, hist: torch.Tensor, x: torch.Tensor | None = None):
        """(embeddings, A_t) of histories ``hist``; ``x``: their node features if computed."""
        adj = self.adjacency(hist)
        x = self.features(hist) if x is None else x  # (B, L, N, F)
        L, k = x.shape[1], self.kernel
        xp = torch.nn.functional.pad(x, (0, 0, 0, 0, k // 2, k // 2))
        shifted = torch.cat([xp[:, i : i + L] for i in range(k)], -1)  # (B, L, N, k·F)
        temporal = torch.relu(self.temporal(shifted)).mean(1)  # (B, N, C): mean over time
        h = torch.cat([x[:, -1], temporal], -1)
        a_hat = normalize(adj)
        for layer in self.layers:
            h = torch.relu(layer(h, a_hat))
        return h, adj


def topology_consistency(adj: np.ndarray, conn: np.ndarray) -> float:
    """Share of the learned off-diagonal edge weight (relu A) that lies on physical branches."""
    a = np.maximum(np.asarray(adj), 0.0) * (1.0 - np.eye(conn.shape[0]))
    return float((a * conn).sum() / max(a.sum(), 1e-12))


def distance_correlation(adj: np.ndarray, dist: np.ndarray) -> float:
    """Spearman ρ between the learned edge weights and the electrical distance, over the bus
    pairs i < j (negative: nearer buses get heavier edges)."""
    iu = np.triu_indices(dist.shape[0], 1)
    return float(spearmanr(np.asarray(adj)[iu], dist[iu]).statistic)


def congestion_edge_recall(delta: np.ndarray, binding: list[tuple[int, int]], k: int = 5) -> float:
    """Of the oracle's binding lines (bus-position pairs), the share among the ``k`` bus pairs
    whose learned weight rose most over A_phys (``delta`` = A_t − A_phys); NaN with none."""
    if not binding:
        return float("nan")
    iu = np.triu_indices(delta.shape[0], 1)
    top = np.argsort(-delta[iu])[:k]
    chosen = {(int(iu[0][i]), int(iu[1][i])) for i in top}
    hits = sum((min(f, t), max(f, t)) in chosen for f, t in binding)
    return hits / len(binding)
