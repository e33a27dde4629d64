"""MCTS-RL microgrid partitioning (seed003 §III-A, eqs. 11–14) and the checks of a partition.

The search starts at the substation. A radial feeder cut at ``n_zones − 1`` branches of its
impedance-shortest-path tree falls into ``n_zones`` connected pieces, so a partition is a set
of cuts and the search tree's levels are successive cuts (taken in the order the branches
appear from the substation outwards, so each set is reached once). Every rollout walks the
tree by UCT over the tried cuts, expands an untried cut ε-greedily (eq. 12: the cut under the
strongest power centroid with probability 1 − ε, a random one otherwise), completes the
partition at random and backs the terminal reward up the path with the Q-learning rule of
eq. 11, Q(s,a) ← Q(s,a) + α (r + γ max_a' Q(s',a') − Q(s,a)). The best partition seen is kept.

The reward of a partition (all weights in :class:`~.config.Seed003Config`):

* power centroids (eq. 13), P_c,j = P_j / Z_ij with P_j the bus's DER capacity plus peak load
  and Z_ij the |Z| of the path from its zone's root i (the bus nearest the substation):
  ``w_centroid · log(Σ_j P_c,j / Σ_j P_j / Z_0j)`` — high when power sits electrically close
  to the root of its microgrid (Z is floored at the median branch |Z|, so a root's own
  power counts, finitely);
* load centroids (eq. 14) per zone, Lc_z = P_L,z / max_z' P_L,z' (zone peak load over the
  largest zone's): ``w_balance · mean_z Lc_z``, 1 when the zones carry equal load;
* the capacity rule of §III-A, −``w_capacity`` per MW of zone peak load its DERs cannot cover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
from scipy.sparse.csgraph import connected_components

from dispatchlab.learning.envs.der_selection.lp import electrical_distance
from dispatchlab.learning.methods.seed003.config import Seed003Config


@dataclass
class FeederTree:
    """The case as the search sees it: buses in positions 0 … n−1, the shortest-|Z| tree from
    the substation, per-bus power and capacity, electrical distances."""

    bus_ids: np.ndarray
    parent: np.ndarray  # position of the parent bus in the tree (−1 at the substation)
    order: np.ndarray  # positions in breadth-first order from the substation
    dist: np.ndarray  # bus × bus |Z| of the shortest path, p.u.
    adjacency: object  # scipy sparse bus adjacency (all in-service branches)
    peak_mw: np.ndarray  # peak load per bus
    cap_mw: np.ndarray  # DER capacity per bus
    candidates: np.ndarray = field(default=None)  # child positions whose parent edge may be cut
    prior: np.ndarray = field(default=None)  # power centroid below each candidate cut

    @property
    def n(self) -> int:
        return len(self.bus_ids)


def feeder_tree(case, peak_mw: np.ndarray, min_buses: int) -> FeederTree:
    """The search's view of ``case``; ``peak_mw`` the peak load of every bus (positions)."""
    dist, adjacency = electrical_distance(case)
    if not np.all(np.isfinite(dist)):
        raise ValueError(f"case '{case.name}' is not connected: partitioning needs one network")
    bus_ids = case.buses.index.to_numpy()
    pos = {b: i for i, b in enumerate(bus_ids)}
    gens = case.gens[case.gens["in_service"]]
    root = pos[int(gens["bus"].iloc[0])]
    graph = nx.Graph()
    coo = adjacency.tocoo()
    graph.add_weighted_edges_from(
        (int(i), int(j), float(dist[i, j])) for i, j in zip(coo.row, coo.col, strict=True) if i < j
    )
    preds, _ = nx.dijkstra_predecessor_and_distance(graph, root)
    parent = np.full(len(bus_ids), -1)
    for child, p in preds.items():
        if p:
            parent[child] = p[0]
    order = np.array([root, *(v for _, v in nx.bfs_edges(nx.DiGraph(_edges(parent)), root))])
    ders = case.ders[case.ders["in_service"] & (case.ders["p_max_mw"] > 0)]
    cap = np.bincount([pos[b] for b in ders["bus"]], ders["p_max_mw"], len(bus_ids))
    tree = FeederTree(bus_ids, parent, order, dist, adjacency, np.asarray(peak_mw, float), cap)
    size = _subtree_sums(tree, np.ones(tree.n))
    power = _subtree_sums(tree, tree.peak_mw + tree.cap_mw)
    ok = [v for v in order[1:] if min_buses <= size[v] <= tree.n - min_buses]
    tree.candidates = np.array(ok, dtype=int)
    tree.prior = power[tree.candidates] / np.maximum(dist[root, tree.candidates], _floor(tree))
    return tree


def _edges(parent: np.ndarray) -> list[tuple[int, int]]:
    return [(int(p), int(c)) for c, p in enumerate(parent) if p >= 0]


def _floor(tree: FeederTree) -> float:
    """Median branch |Z|: the floor on Z_ij in eq. 13 (a root's own power counts finitely)."""
    return float(np.median(tree.dist[np.arange(tree.n), np.maximum(tree.parent, 0)][1:]))


def _subtree_sums(tree: FeederTree, values: np.ndarray) -> np.ndarray:
    out = np.asarray(values, float).copy()
    for v in tree.order[::-1][:-1]:
        out[tree.parent[v]] += out[v]
    return out


def labels_from_cuts(tree: FeederTree, cuts) -> np.ndarray:
    """Zone label of every bus for the tree cut above the candidate positions ``cuts``
    (zones numbered in breadth-first order from the substation)."""
    cut = set(int(c) for c in cuts)
    labels = np.zeros(tree.n, dtype=int)
    next_label = 1
    for v in tree.order[1:]:
        if v in cut:
            labels[v], next_label = next_label, next_label + 1
        else:
            labels[v] = labels[tree.parent[v]]
    return labels


def reward(tree: FeederTree, labels: np.ndarray, cfg: Seed003Config) -> float:
    """The search's reward of a partition (module docstring)."""
    n_z = labels.max() + 1
    sizes = np.bincount(labels, minlength=n_z)
    if sizes.min() < cfg.min_zone_buses:
        return -10.0 * (cfg.min_zone_buses - sizes.min())
    power = tree.peak_mw + tree.cap_mw
    floor = _floor(tree)
    roots = np.array([tree.order[np.argmax(labels[tree.order] == z)] for z in range(n_z)])
    z_root = np.maximum(tree.dist[roots[labels], np.arange(tree.n)], floor)
    z_sub = np.maximum(tree.dist[tree.order[0]], floor)
    cohesion = np.log((power / z_root).sum() / (power / z_sub).sum())
    load = np.bincount(labels, tree.peak_mw, n_z)
    short = np.maximum(load - np.bincount(labels, tree.cap_mw, n_z), 0.0).sum()
    lc = load / load.max()  # load centroids per zone (eq. 14)
    return float(cfg.w_centroid * cohesion + cfg.w_balance * lc.mean() - cfg.w_capacity * short)


@dataclass
class _Node:
    n: int = 0
    q: dict = field(default_factory=dict)  # action -> Q(s, a)
    na: dict = field(default_factory=dict)  # action -> N(s, a)


def mcts_partition(tree: FeederTree, cfg: Seed003Config, rng: np.random.Generator) -> dict:
    """UCT search with Q-learning backups (module docstring); the best partition seen and a
    trace of the incumbent reward (``curve``: one value per rollout)."""
    n_cand, depth = len(tree.candidates), cfg.n_zones - 1
    if n_cand < depth:
        raise ValueError(f"only {n_cand} cuttable branches for {cfg.n_zones} zones")
    nodes: dict[tuple, _Node] = {}
    best, best_r, curve = None, -math.inf, []
    for _ in range(cfg.mcts_rollouts):
        state, path = (), []
        while len(state) < depth:  # selection / expansion
            node = nodes.setdefault(state, _Node())
            start = state[-1] + 1 if state else 0
            legal = range(start, n_cand - (depth - len(state) - 1))
            untried = [a for a in legal if a not in node.q]
            if untried:
                a = _expand(untried, tree.prior, cfg.mcts_epsilon, rng)
                path.append((state, a))
                state = (*state, a)
                break
            a = max(node.q, key=lambda b, nd=node: nd.q[b] + cfg.mcts_c * _ucb(nd, b))
            path.append((state, a))
            state = (*state, a)
        full = state
        while len(full) < depth:  # random rollout
            start = full[-1] + 1 if full else 0
            full = (*full, int(rng.integers(start, n_cand - (depth - len(full) - 1))))
        r = reward(tree, labels_from_cuts(tree, tree.candidates[list(full)]), cfg)
        if r > best_r:
            best, best_r = full, r
        curve.append(best_r)
        _backup(nodes, path, r, cfg)
    labels = labels_from_cuts(tree, tree.candidates[list(best)])
    return {"labels": labels, "reward": best_r, "curve": np.array(curve), "nodes": len(nodes)}


def _ucb(node: _Node, a: int) -> float:
    return math.sqrt(math.log(max(node.n, 1)) / node.na[a])


def _expand(untried: list[int], prior: np.ndarray, eps: float, rng) -> int:
    """ε-greedy expansion (eq. 12): the untried cut under the strongest power centroid."""
    if rng.random() < eps:
        return int(untried[rng.integers(len(untried))])
    return int(untried[int(np.argmax(prior[untried]))])


def _backup(nodes: dict, path: list, r: float, cfg: Seed003Config) -> None:
    """Q-learning backups (eq. 11) from the leaf up; the target of a non-terminal step is
    γ max_a' Q(s', a') over the child's tried cuts (r where it has none yet)."""
    target = r
    for state, a in reversed(path):
        node = nodes[state]
        node.n += 1
        node.na[a] = node.na.get(a, 0) + 1
        old = node.q.get(a)
        node.q[a] = target if old is None else old + cfg.mcts_alpha * (target - old)
        target = cfg.mcts_gamma * max(node.q.values())


def validate_partition(case, zone_of_bus, n_zones: int | None = None) -> np.ndarray:
    """``zone_of_bus`` as an int array after checking it: one label per bus, every bus
    assigned (a label in 0 … n_zones−1) and every zone connected; a ValueError names the
    unassigned buses or a disconnected zone's pieces."""
    labels = np.asarray(zone_of_bus, dtype=float)
    bus_ids = case.buses.index.to_numpy()
    if labels.shape != (len(bus_ids),):
        raise ValueError(f"partition has {labels.size} labels for {len(bus_ids)} buses")
    n_zones = int(np.nanmax(labels)) + 1 if n_zones is None else n_zones
    bad = ~np.isfinite(labels) | (labels < 0) | (labels >= n_zones) | (labels % 1 != 0)
    if bad.any():
        raise ValueError(f"partition leaves bus(es) {bus_ids[bad].tolist()} unassigned")
    labels = labels.astype(int)
    _, adjacency = electrical_distance(case)
    for z in range(n_zones):
        members = np.flatnonzero(labels == z)
        if len(members) == 0:
            raise ValueError(f"partition zone {z} has no bus")
        k, piece = connected_components(adjacency[members][:, members], directed=False)
        if k > 1:
            parts = [bus_ids[members[piece == i]].tolist() for i in range(k)]
            raise ValueError(f"partition zone {z} is disconnected: pieces {parts}")
    return labels


def partition_quality(tree: FeederTree, labels: np.ndarray, cfg: Seed003Config) -> dict:
    """Numbers to compare partitions: capacity cover, electrical compactness, balance, ties."""
    n_z = labels.max() + 1
    load = np.bincount(labels, tree.peak_mw, n_z)
    cap = np.bincount(labels, tree.cap_mw, n_z)
    intra = [tree.dist[np.ix_(labels == z, labels == z)].mean() for z in range(n_z)]
    coo = tree.adjacency.tocoo()
    ties = int(((labels[coo.row] != labels[coo.col]) & (coo.row < coo.col)).sum())
    return {
        "zones": int(n_z),
        "buses_min": int(np.bincount(labels).min()),
        "buses_max": int(np.bincount(labels).max()),
        "capacity_over_peak_min": float((cap / np.maximum(load, 1e-12)).min()),
        "zones_covered": int((cap >= load).sum()),
        "intra_distance_pu_mean": float(np.mean(intra)),
        "load_imbalance_cv": float(load.std() / load.mean()),
        "tie_branches": ties,
        "mcts_reward": reward(tree, labels, cfg),
    }
