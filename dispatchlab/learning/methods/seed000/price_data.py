"""Feeder states labelled by exact nodal prices: the training set of seed000's price GCN.

States are what the ``der-dispatch`` environment hands its ``price_model`` at every LMP
broadcast (:class:`~dispatchlab.learning.envs.der_dispatch.prices.PriceState`): realized loads
and PV availability per bus, the DER outputs, voltage magnitudes and angles of the last AC power
flow. They are sampled by playing the environment's batched engine with uniformly random unit
actions over many scenario seeds (load / PV forecast errors drawn by the environment) and
stress settings (PV error σ up to 40 %, load error up to 15 %: seed000 §4.2). Labels are the
exact DLMPs the environment itself uses (``der_dispatch_prices.exact_lmps``, the
``solve(case, "dlmp")`` LP in array form, tested equal to it by the environment's tests), so the
GCN learns the very price function it replaces.

Why DLMP (measured on ieee33-seed000): the feeder has no branch ratings and DC-OPF is lossless,
so ``solve(case, "dcopf")`` gives a flat 20 $/MWh at every bus; ``lindistflow`` refuses storage
(``NotImplementedError``); the DLMP LP prices losses (20 → 22.5 $/MWh along the feeder at peak),
the 0.9 p.u. voltage limit under heavy load, and falls to 0 $/MWh when PV exceeds the feeder's
load (the substation cannot export: PV curtailment becomes the marginal unit).

Bus features (seed000 §3.2: net injection, voltage magnitude, angle history, line impedance):
:data:`FEATURE_NAMES`. The angle history is kept by :class:`PriceFeaturizer` across the
broadcasts of an episode. Collection runs in worker processes (``spawn``; one per worker, each
builds the engine once): the exact labels are the expensive part.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

FEATURE_NAMES: tuple[str, ...] = (
    "net_injection_mw",  # DER output (last step) − load, per bus
    "load_p_mw",
    "load_q_mvar",
    "pv_available_mw",
    "vm_pu",
    "va_deg",  # last power flow
    "va_prev1_deg",  # one broadcast earlier
    "va_prev2_deg",  # two broadcasts earlier
    "r_parent_pu",  # resistance of the branch feeding the bus
    "x_parent_pu",  # reactance of the branch feeding the bus
)
N_FEATURES = len(FEATURE_NAMES)


@dataclass(frozen=True)
class SamplingConfig:
    """How training states are collected (one line each)."""

    episodes_per_setting: int = 4  #: scenario seeds per (load σ, PV σ) setting
    pv_error_std: tuple[float, ...] = (0.15, 0.4)  #: PV forecast-error σ settings (§4.2: ±40 %)
    load_error_std: tuple[float, ...] = (0.05, 0.15)  #: load forecast-error σ settings
    scenarios_per_run: int = 8  #: scenarios stepped together by the batched engine


@dataclass
class PriceDataset:
    """Features X (S, bus, F), exact LMPs Y (S, bus) in $/MWh, the episode of each row."""

    x: np.ndarray
    y: np.ndarray
    episode: np.ndarray
    bus_ids: np.ndarray
    meta: dict = field(default_factory=dict)


def parent_impedance(case) -> tuple[np.ndarray, np.ndarray]:
    """r and x (p.u.) of the in-service branch feeding each bus from the source (0 at the REF
    bus), Case bus order; breadth-first from the REF bus (a meshed case takes its BFS tree)."""
    import networkx as nx

    buses = case.table("buses")
    br = case.table("branches")
    br = br[br["in_service"]]
    graph = nx.Graph()
    graph.add_nodes_from(buses.index)
    for f, t, r, x in zip(br["from_bus"], br["to_bus"], br["r_pu"], br["x_pu"], strict=True):
        graph.add_edge(f, t, r=r, x=x)
    ref = buses.index[buses["bus_type"] == "REF"][0]
    r = pd.Series(0.0, index=buses.index)
    x = pd.Series(0.0, index=buses.index)
    for parent, child in nx.bfs_edges(graph, ref):
        r[child], x[child] = graph[parent][child]["r"], graph[parent][child]["x"]
    return r.to_numpy(), x.to_numpy()


class PriceFeaturizer:
    """PriceState → (S, bus, F) features; remembers the last two angle vectors.

    The history restarts (filled with the current angles) when the scenario count changes or
    the broadcast time goes backwards (a new episode).
    """

    def __init__(self, case):
        self.r_parent, self.x_parent = parent_impedance(case)
        self.reset()

    def reset(self) -> None:
        self._hist: list[np.ndarray] = []
        self._last_time: np.ndarray | None = None

    def __call__(self, state) -> np.ndarray:
        va = np.asarray(state.va_deg, float)
        t = np.asarray(state.time_h, float)
        new_episode = (
            self._last_time is None
            or self._last_time.shape != t.shape
            or np.any(t < self._last_time - 1e-9)
        )
        if new_episode:
            self._hist = [va, va]
        prev1, prev2 = self._hist[-1], self._hist[-2]
        self._hist = [prev1, va]
        self._last_time = t
        n_s, n_b = va.shape
        x = np.empty((n_s, n_b, N_FEATURES))
        x[..., 0] = state.der_p_mw - state.load_p_mw
        x[..., 1], x[..., 2] = state.load_p_mw, state.load_q_mvar
        x[..., 3], x[..., 4] = state.pv_available_mw, state.vm_pu
        x[..., 5], x[..., 6], x[..., 7] = va, prev1, prev2
        x[..., 8], x[..., 9] = self.r_parent, self.x_parent
        return x


class _Recorder:
    """A ``price_model`` that answers with the exact DLMPs and records (features, LMPs)."""

    def __init__(self, grid, featurizer: PriceFeaturizer):
        self.grid, self.featurizer = grid, featurizer
        self.x: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.episode: list[np.ndarray] = []
        self.seeds = np.zeros(0, int)  # scenario seeds of the run being played

    def __call__(self, state) -> np.ndarray:
        from dispatchlab.learning.envs.der_dispatch.prices import exact_lmps

        g = self.grid
        b = np.rint(np.asarray(state.time_h) * 60.0 / g.cfg.broadcast_minutes).astype(int)
        lam0 = np.array([g.energy_price(int(i)) for i in b])
        lmp = exact_lmps(g.price_net, state, lam0)
        self.x.append(self.featurizer(state))
        self.y.append(lmp)
        self.episode.append(self.seeds[: len(lmp)])
        return lmp


def _collect(args: tuple[dict, list[int], int, int]) -> tuple[np.ndarray, ...]:
    """Worker: play random actions on the batched engine for ``seeds``; (X, Y, scenario seed)
    of every broadcast, rows ordered (broadcast, scenario)."""
    from dispatchlab.learning.envs.der_dispatch.config import DERDispatchConfig
    from dispatchlab.learning.envs.der_dispatch.core import DispatchCore
    from dispatchlab.learning.envs.der_dispatch.grid import FeederGrid

    options, seeds, per_run, rng_seed = args
    base = DERDispatchConfig(**options)
    grid = FeederGrid(base)
    featurizer = PriceFeaturizer(grid.case)
    recorder = _Recorder(grid, featurizer)
    core = DispatchCore(base.replace(price_model=recorder), grid)
    rng = np.random.default_rng(rng_seed)
    for c0 in range(0, len(seeds), per_run):
        featurizer.reset()
        recorder.seeds = np.asarray(seeds[c0 : c0 + per_run])
        core.reset(list(recorder.seeds))
        done = False
        while not done:
            n_s = len(core.scenarios)
            a = rng.integers(0, base.n_levels, size=(n_s, grid.units.n))
            _, _, done, _ = core.step(a)
    return tuple(np.concatenate(a) for a in (recorder.x, recorder.y, recorder.episode))


#: scenario seeds of the GCN's training states start here: apart from seed000's test days
#: (0 …), validation days (5 000 …) and controller training days (10 000 + seed·1 000 003 …)
GCN_SEED_OFFSET = 1_000_000_000


def collection_tasks(
    env_options: dict, cfg: SamplingConfig, seed: int
) -> list[tuple[dict, list[int], int, int]]:
    """One task per (load σ, PV σ) setting with its scenario seeds (distinct per setting)."""
    tasks = []
    k = 0
    for load_sd in cfg.load_error_std:
        for pv_sd in cfg.pv_error_std:
            opts = {**env_options, "load_error_std": load_sd, "pv_error_std": pv_sd}
            base = GCN_SEED_OFFSET + seed * 100_000 + k * 1_000
            seeds = [base + e for e in range(cfg.episodes_per_setting)]
            tasks.append((opts, seeds, cfg.scenarios_per_run, seed * 7 + k))
            k += 1
    return tasks


def build_dataset(
    env_options: dict, cfg: SamplingConfig, seed: int, workers: int = 2
) -> PriceDataset:
    """Collect and label states for every setting of ``cfg`` in ``workers`` processes."""
    tasks = collection_tasks(env_options, cfg, seed)
    if workers <= 1:
        parts = [_collect(t) for t in tasks]
    else:  # spawn: torch in the parent is not fork-safe
        from dispatchlab.sweep.local import main_hidden

        with ProcessPoolExecutor(workers, mp.get_context("spawn")) as pool:
            with main_hidden():  # workers start from the package, not a re-run of the script
                futures = [pool.submit(_collect, t) for t in tasks]
            parts = [f.result() for f in futures]
    x, y, episode = (np.concatenate([p[i] for p in parts]) for i in range(3))
    from dispatchlab.learning.envs.der_dispatch.config import DERDispatchConfig
    from dispatchlab.learning.envs.der_dispatch.grid import FeederGrid

    grid = FeederGrid(DERDispatchConfig(**env_options))
    meta = {"n_states": len(y), "settings": len(tasks), "workers": workers}
    return PriceDataset(x, y, episode, grid.bus_ids, meta)
