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

import hashlib
import time
import weakref
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
from dispatchlab.learning.envs.der_selection.env import DERSelectionEnv
from dispatchlab.learning.methods.seed003.config import Seed003Config
from dispatchlab.learning.methods.seed003.mlfacc import MLFACC, relaxation_at
from dispatchlab.learning.methods.seed003.partition import (
    feeder_tree,
    mcts_partition,
    partition_quality,
)
from dispatchlab.learning.methods.seed003.task import N_FEAT, Seed003Task
from dispatchlab.learning.seeding import seed_everything

METHOD = "seed003"


def partition_hash(labels: np.ndarray) -> str:
    """A short hash of a zone labelling (what a checkpoint was trained on)."""
    return hashlib.sha256(np.asarray(labels, np.int64).tobytes()).hexdigest()[:16]


def bus_load_mw(case) -> np.ndarray:
    """The case's load per bus position (MW): DDMM's nominal peak demand."""
    pos = {b: i for i, b in enumerate(case.buses.index)}
    loads = case.loads[case.loads["in_service"]]
    return np.bincount([pos[b] for b in loads["bus"]], loads["p_mw"], case.n_buses)


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

    def task(self, env: DERSelectionEnv | None = None, kind: str = "normal") -> Seed003Task:
        """Scenario minutes of case ``kind`` on ``env`` (or a fresh one) with this partition."""
        return Seed003Task(self.config, self.labels, env, kind)

    @torch.no_grad()
    def select(self, task: Seed003Task) -> tuple[np.ndarray, np.ndarray]:
        """Greedy leader–follower picks (zones × k DER positions) and the zones' labels."""
        x = torch.as_tensor(task.features())
        out = self.net.forward_picks(x, task.groups, task.dist, greedy=True)
        return out["picks"], out["zones"]

    def save(self, path: str | Path, case_hash: str | None = None) -> Path:
        """Checkpoint: partition, DDMM thresholds, actor and critic weights, metrics, and the
        hash of the case trained on (default: the one ``train`` recorded)."""
        case_hash = case_hash or self.metrics.get("case_hash")
        if not case_hash:
            raise ValueError("no case hash: pass case_hash= (load_case(name).case_hash())")
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
    minute_rng, minutes = np.random.default_rng(config.seed), task.minutes
    curve, n_batches = [], -(-config.episodes // config.batch)
    bar = tqdm(range(n_batches), desc="seed003 A2C", unit="batch", disable=not progress)
    for b in bar:
        rewards, teams, outs, values = [], [], [], []
        psi = relaxation_at(b * config.batch, config)
        for i in range(config.batch):
            # the day seed depends on config.seed (as seed000's): seeds draw other days, seed 0
            # the same ones as before; every training day stays ≥ train_seed_offset
            day = config.train_seed_offset + config.seed * 1_000_003 + b * config.batch + i
            task.reset(day, minute_rng.integers(minutes))
            x = torch.as_tensor(task.features())
            out = net.forward_picks(x, task.groups, task.dist, greedy=False, generator=gen)
            team, _, each = task.reward(out["picks"].ravel())
            rewards.append(each[out["picks"]])
            teams.append(team)
            outs.append(out)
            values.append(net.critic(x))
        loss, _ = net.loss(outs, torch.stack(values), rewards, psi, config)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        curve.append(float(np.mean(teams)))
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
    tasks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # env -> its Seed003Task

    def policy(env, observations):
        if env not in tasks:
            load_method(path, case=env.case)  # a checkpoint of another case: CheckpointError
            tasks[env] = method.task(env)
        task = tasks[env]
        task.follow(env)
        picks, zones = method.select(task)
        return task.actions(picks, zones)

    policy.name = "seed003"
    return policy
