"""seed003: MCTS-RL partitioning, DDMM merge/split and MLFACC DER selection, end to end.

Readable top to bottom:

1. :class:`~.config.Seed003Config` — every hyperparameter, with its source in the paper;
2. :func:`train` — the MCTS-RL partition of the feeder (:mod:`.partition`), then the k
   leader–follower actors and the attention critic (:mod:`.mlfacc`) by A2C on
   ``der-selection`` scenarios, re-zoned every minute by DDMM (:mod:`.ddmm`);
3. :class:`Seed003Method` — greedy selection, ``save`` / :func:`load_method` through
   :mod:`dispatchlab.learning.checkpoint` (no pickle; the case hash and the partition's hash
   are checked on load).

The counterparts (full LP, loss-adjusted ranking, random, oracle top-k) and the certificate
are in :mod:`.compare`.

The team reward (eq. 22) of a selection is the value of its dispatch against running no DER:
with D the demand, L the losses and p0 = D + L − Σ p_k the substation's import at λ0,

    r = [λ0 (D + L_0) − (λ0 p0 + Σ c_k p_k)] / scale = [λ0 (L_0 − L) − Σ (c_k − λ0) p_k] / scale,

the loss reduction minus the DERs' cost (over the substation's), in units of
``reward_scale_usd_per_h``.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from dispatchlab.learning.checkpoint import (
    CheckpointError,
    config_from,
    load_checkpoint,
    save_checkpoint,
    torch_state_arrays,
    torch_state_from,
)
from dispatchlab.learning.envs.der_selection.env import DERSelectionConfig, DERSelectionEnv
from dispatchlab.learning.envs.der_selection.lp import electrical_distance, solve_selection
from dispatchlab.learning.methods.seed003.config import Seed003Config
from dispatchlab.learning.methods.seed003.ddmm import DDMM
from dispatchlab.learning.methods.seed003.mlfacc import MLFACC, relaxation_at
from dispatchlab.learning.methods.seed003.partition import (
    feeder_tree,
    mcts_partition,
    partition_quality,
    validate_partition,
)
from dispatchlab.learning.seeding import seed_everything
from dispatchlab.solvers.problems.linearized import dlmp_model

METHOD = "seed003"
N_FEAT = 8


def partition_hash(labels: np.ndarray) -> str:
    """A short hash of a zone labelling (what a checkpoint was trained on)."""
    return hashlib.sha256(np.asarray(labels, np.int64).tobytes()).hexdigest()[:16]


class Seed003Task:
    """The scenarios MLFACC sees: a minute's loads on the fixed network (one linearized model
    whose demand changes, so the network's sensitivities are computed once), DDMM re-zoning,
    DER features, and the reward of a selection (module docstring).

    ``reset(seed)`` draws the load centroids exactly as ``DERSelectionEnv.reset(seed=…)`` does
    (same share, factor and RNG calls), without rebuilding the case; :meth:`follow` reads the
    scenario of a live env instead (the ``evaluate`` policy)."""

    def __init__(self, cfg: Seed003Config, labels: np.ndarray, env: DERSelectionEnv | None = None):
        self.cfg = cfg
        self.env = env or DERSelectionEnv(_env_config(cfg))
        env = self.env
        validate_partition(env.case, labels, cfg.n_zones)
        env.set_zone_of_bus(np.asarray(labels, np.int64))
        self.base = dlmp_model(env._base)
        self.nominal_mw = bus_load_mw(env._base)
        self.ddmm = DDMM(env._base, labels, nominal_peak_mw(env), cfg)
        dist, _ = electrical_distance(env.case)
        sub = dist[np.ix_(env._der_bus, env._der_bus)]
        self.dist = torch.as_tensor(sub / sub.max(), dtype=torch.float32)
        self.root_dist = dist[0, env._der_bus] / dist[0].max()
        loads = env._base.loads
        self.load_buses = np.unique(loads.loc[loads["in_service"] & (loads["p_mw"] > 0), "bus"])
        pos = {b: i for i, b in enumerate(env._base.buses.index)}
        lq = loads[loads["in_service"]]
        self.q_load = np.bincount([pos[b] for b in lq["bus"]], lq["q_mvar"], len(pos))
        self.model, self.lin, self.centroids = self.base, None, np.array([], int)
        self.labels = np.asarray(labels, np.int64)

    def reset(self, seed: int) -> None:
        """A new scenario minute (the env's seeded centroid draw), re-zoned by DDMM."""
        c = self.env.config
        rng = np.random.default_rng(seed)
        n = round(c.centroid_share * len(self.load_buses))
        self.set_centroids(np.sort(rng.choice(self.load_buses, n, replace=False)))

    def set_centroids(self, buses) -> None:
        """Scale the loads at ``buses`` by the centroid factor and re-linearize."""
        m = copy.copy(self.base)
        at = np.isin(m.net.bus_ids, buses)
        extra = self.env.config.centroid_factor - 1.0
        m.demand = self.base.demand + extra * np.where(at, self.nominal_mw, 0.0)
        m.x_b = self.base.x_b - (m.demand - self.base.demand)
        m.q_inj = self.base.q_inj - extra * np.where(at, self.q_load, 0.0)
        self.model, self.centroids = m, np.asarray(buses)
        self.lin = m.linearize(m.x_b)
        self.rezone()

    def follow(self, env: DERSelectionEnv) -> None:
        """Use the live env's scenario (after its reset) and re-zone it by DDMM."""
        self.model, self.lin, self.centroids = env._model, env._lin, env.centroids
        self.rezone()
        env.set_zone_of_bus(self.labels)

    def rezone(self) -> None:
        """DDMM on the current scenario's bus loads (MW withdrawn at each bus)."""
        self.labels = self.ddmm.step(self.model.demand).astype(np.int64)

    @property
    def groups(self) -> np.ndarray:
        """Zone of every DER position."""
        return self.labels[self.env._der_bus]

    def features(self) -> np.ndarray:
        """(DERs × 8): cost/λ0, loss factor, bus load (×10 MW), centroid flag, 10(V − 1),
        loss-adjusted cost c/(1 − LF)/λ0 (eq. 9), zone load / zone capacity, distance from the
        substation (|Z| / max)."""
        m, lin = self.model, self.lin
        bus = self.env._der_bus
        centroid = np.isin(m.net.bus_ids, self.centroids).astype(float)
        zone = self.groups
        zload = np.bincount(self.labels, m.demand, self.cfg.n_zones)
        zcap = np.bincount(zone, m.der_lim[1], self.cfg.n_zones)
        lf = lin["LF"][bus]
        cols = [
            m.der_cost / m.lam0,
            lf,
            10.0 * m.demand[bus],
            centroid[bus],
            10.0 * (lin["V"][bus] - 1.0),
            m.der_cost / (1.0 - lf) / m.lam0,
            zload[zone] / zcap[zone],
            self.root_dist,
        ]
        return np.stack(cols, axis=1).astype(np.float32)

    def reward(self, sel: np.ndarray) -> tuple[float, float]:
        """(eq. 22 reward, reduced-LP cost $/h) of DER positions ``sel`` at the scenario's
        first linearization (one LP; infeasible: −penalty and NaN)."""
        m, lin = self.model, self.lin
        out = solve_selection(m, np.asarray(sel), 1, lin)
        if not np.isfinite(out.objective):
            return -self.env.config.penalty_infeasible, float("nan")
        ref = m.lam0 * (m.demand.sum() + lin["L"])
        return (ref - out.objective) / self.cfg.reward_scale_usd_per_h, float(out.objective)

    def actions(self, picks: np.ndarray, zones: np.ndarray) -> dict[str, np.ndarray]:
        """The env's action dict from picks (zones × k DER positions); the env must carry
        this task's zones (:meth:`follow`)."""
        out = {}
        for z, row in zip(zones, picks, strict=True):
            agent = f"mg_{int(z)}"
            out[agent] = np.searchsorted(self.env._zone_pos[agent], row).astype(np.int64)
        return out


def _env_config(cfg: Seed003Config) -> DERSelectionConfig:
    return DERSelectionConfig(case=cfg.case, n_zones=cfg.n_zones, k=cfg.k, iterations=1)


def bus_load_mw(case) -> np.ndarray:
    """The case's load per bus position (MW): DDMM's nominal peak demand."""
    pos = {b: i for i, b in enumerate(case.buses.index)}
    loads = case.loads[case.loads["in_service"]]
    return np.bincount([pos[b] for b in loads["bus"]], loads["p_mw"], case.n_buses)


def nominal_peak_mw(env: DERSelectionEnv, profile_peak: float = 1.0) -> np.ndarray:
    """DDMM's nominal peak demand per bus position (MW): the bus loads at the profile's peak
    with the average centroid uplift, 1 + (factor − 1) × share (see :mod:`.ddmm`)."""
    c = env.config
    return bus_load_mw(env._base) * profile_peak * (1 + (c.centroid_factor - 1) * c.centroid_share)


def partition_case(case, cfg: Seed003Config, rng: np.random.Generator) -> dict:
    """MCTS-RL partition of ``case`` (peak load: every bus at the centroid factor 1.5, so
    the capacity rule holds for any centroid draw) with its quality numbers."""
    peak = 1.5 * bus_load_mw(case)
    tree = feeder_tree(case, peak, cfg.min_zone_buses)
    out = mcts_partition(tree, cfg, rng)
    out["quality"] = partition_quality(tree, out["labels"], cfg)
    out["tree"] = tree
    return out


class Seed003Method:
    """A trained partition + DDMM thresholds + MLFACC actors and critic."""

    def __init__(self, config: Seed003Config, labels: np.ndarray, net: MLFACC, metrics=None):
        self.config, self.labels, self.net = config, np.asarray(labels, np.int64), net
        self.metrics = dict(metrics or {})

    def task(self, env: DERSelectionEnv | None = None) -> Seed003Task:
        """A task on ``env`` (or a fresh env) with this method's partition."""
        return Seed003Task(self.config, self.labels, env)

    @torch.no_grad()
    def select(self, task: Seed003Task) -> tuple[np.ndarray, np.ndarray]:
        """Greedy leader–follower picks (zones × k DER positions) and the zones' labels."""
        x = torch.as_tensor(task.features())
        out = self.net.forward_picks(x, task.groups, task.dist, greedy=True)
        return out["picks"], out["zones"]

    def save(self, path: str | Path, case_hash: str) -> Path:
        """Checkpoint: partition, DDMM thresholds, actor and critic weights, metrics."""
        arrays = {
            "partition/zone_of_bus": self.labels,
            "ddmm/thresholds": np.array([self.config.lc_merge, self.config.lc_split]),
            **torch_state_arrays("mlfacc", self.net.state_dict()),
        }
        meta = {"case_hash": case_hash, "partition_hash": partition_hash(self.labels)}
        return save_checkpoint(path, METHOD, self.config, arrays, self.metrics, meta)


def load_method(path: str | Path, case=None, zone_of_bus=None) -> Seed003Method:
    """Rebuild :class:`Seed003Method`; ``case`` / ``zone_of_bus`` given: a checkpoint trained
    on another case or partition raises CheckpointError naming both hashes."""
    header, arrays = load_checkpoint(path, METHOD)
    cfg = config_from(Seed003Config, header)
    labels = arrays["partition/zone_of_bus"].astype(np.int64)
    meta = header.get("meta", {})
    if meta.get("partition_hash") != partition_hash(labels):
        raise CheckpointError(f"{path}: stored partition does not match its hash (corrupt)")
    if case is not None and meta.get("case_hash") != case.case_hash():
        raise CheckpointError(
            f"{path}: trained on case hash {meta.get('case_hash')}, "
            f"not '{case.name}' ({case.case_hash()})"
        )
    if zone_of_bus is not None and partition_hash(zone_of_bus) != meta["partition_hash"]:
        raise CheckpointError(
            f"{path}: trained on partition {meta['partition_hash']}, "
            f"not {partition_hash(zone_of_bus)}"
        )
    net = MLFACC(N_FEAT, cfg.k, cfg.hidden)
    net.load_state_dict(torch_state_from("mlfacc", arrays))
    return Seed003Method(cfg, labels, net.eval(), header.get("metrics", {}))


def train(config: Seed003Config, log: Callable | None = None, progress: bool = False):
    """Partition, then A2C over ``episodes`` scenario minutes; a :class:`Seed003Method`."""

    torch.set_num_threads(config.torch_threads)
    with threadpool_limits(config.torch_threads):  # numpy's BLAS too: 10x faster inverses here
        return _train(config, log, progress)


def _train(config: Seed003Config, log: Callable | None, progress: bool) -> Seed003Method:
    from dispatchlab import load_case

    rng = seed_everything(config.seed)
    t0 = time.perf_counter()
    case = load_case(config.case)
    part = partition_case(case, config, rng)
    mcts_s = time.perf_counter() - t0
    task = Seed003Task(config, part["labels"])
    net = MLFACC(N_FEAT, config.k, config.hidden)
    opt = torch.optim.Adam(
        [
            {"params": net.actors.parameters(), "lr": config.lr_actor},
            {"params": net.critic.parameters(), "lr": config.lr_critic},
        ]
    )
    gen = torch.Generator().manual_seed(config.seed)
    curve, n_batches = [], -(-config.episodes // config.batch)
    bar = tqdm(range(n_batches), desc="seed003 A2C", unit="batch", disable=not progress)
    for b in bar:
        rewards, outs, values = [], [], []
        psi = relaxation_at(b * config.batch, config)
        for i in range(config.batch):
            task.reset(config.train_seed_offset + b * config.batch + i)
            x = torch.as_tensor(task.features())
            out = net.forward_picks(x, task.groups, task.dist, greedy=False, generator=gen)
            rewards.append(task.reward(out["picks"].ravel())[0])
            outs.append(out)
            values.append(net.critic(x))
        loss, _ = net.loss(outs, torch.stack(values), rewards, psi, config)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        curve.append(float(np.mean(rewards)))
        bar.set_postfix(reward=f"{curve[-1]:.3f}", psi=f"{psi:.2f}")
    metrics = {
        "train_s": time.perf_counter() - t0,
        "mcts_s": mcts_s,
        "train_reward_curve": curve,
        "partition": part["quality"],
        "case_hash": case.case_hash(),
    }
    if log:
        log(f"seed003: partition {part['quality']}, {metrics['train_s']:.1f} s")
    return Seed003Method(config, part["labels"], net.eval(), metrics)


def policy_from_checkpoint(path: str | Path, env_name: str) -> Callable:
    """A ``policy(env, observations) -> actions`` for ``dispatchlab evaluate der-selection``:
    re-zones the env by DDMM with the checkpoint's partition, then picks greedily."""
    if env_name != "der-selection":
        raise CheckpointError(f"{path}: a seed003 policy drives 'der-selection', not '{env_name}'")
    method = load_method(path)
    tasks: dict[int, Seed003Task] = {}

    def policy(env, observations):
        if id(env) not in tasks:
            load_method(path, case=env.case)  # a checkpoint of another case: CheckpointError
            tasks[id(env)] = method.task(env)
        task = tasks[id(env)]
        task.follow(env)
        picks, zones = method.select(task)
        return task.actions(picks, zones)

    policy.name = "seed003"
    return policy
