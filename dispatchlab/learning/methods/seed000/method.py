"""seed000: hierarchical dispatch — a GCN regional agent broadcasts LMPs, Dueling-DQN edge
controllers dispatch their DERs from local observations and the price (Yin et al. 2026).

Readable top to bottom:

1. :class:`~.config.Seed000Config` — every hyperparameter, with its source in the paper;
2. :func:`train` — the regional agent by supervised learning on exact DLMPs
   (:mod:`.price_gcn`), then the edge controllers by centralized training with one shared
   experience pool and one network per DER type (:mod:`~dispatchlab.learning.agents.dqn`, §3.4)
   on the ``der-dispatch`` environment's batched engine, with exact prices;
3. :class:`Seed000Method` — decentralized execution (eq. 6): each unit's action depends on its
   own observation (local state + the LMP at its bus) only; ``save`` / :func:`load_method`
   through :mod:`dispatchlab.learning.checkpoint` (no pickle).

The exact counterparts (per-decision centralized dispatch, two-stage SP, MPC) and the metrics
are in :mod:`.compare`; the safety layer in :mod:`dispatchlab.learning.safety.der_dispatch`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from dispatchlab.learning.agents.dqn import DuelingDQNConfig, SharedDuelingDQN
from dispatchlab.learning.checkpoint import config_from, load_checkpoint, save_checkpoint
from dispatchlab.learning.envs.der_dispatch.units import KINDS
from dispatchlab.learning.methods.seed000.config import Seed000Config
from dispatchlab.learning.methods.seed000.price_data import SamplingConfig
from dispatchlab.learning.methods.seed000.price_gcn import (
    GCNPriceModel,
    PriceGCN,
    PriceGCNConfig,
    PricePredictor,
)
from dispatchlab.learning.methods.seed000.price_gcn import fit as fit_gcn
from dispatchlab.learning.seeding import seed_everything

METHOD = "seed000"
OBS_DIM = 8


def _env_options(cfg: Seed000Config) -> dict:
    return {"case": cfg.case, "n_units": cfg.n_units, "n_levels": cfg.n_levels}


class Seed000Method:
    """Trained edge controllers (+ the regional agent's price GCN, if trained)."""

    def __init__(
        self,
        config: Seed000Config,
        dqn: SharedDuelingDQN,
        gcn: PricePredictor | None = None,
        metrics: dict | None = None,
    ):
        self.config, self.dqn, self.gcn = config, dqn, gcn
        self.metrics = dict(metrics or {})

    def act(self, obs: np.ndarray, kinds: np.ndarray) -> np.ndarray:
        """Greedy levels (n_units,) for observations (n_units, 8); ``kinds`` the int kind code
        of each unit. One batched forward pass per type; row i depends on obs[i] only (eq. 6)."""
        out = np.empty(len(obs), np.int64)
        for code in np.unique(kinds):
            idx = np.flatnonzero(kinds == code)
            out[idx] = self.dqn.act(KINDS[int(code)], obs[idx])
        return out

    def price_model(self, case) -> GCNPriceModel:
        """A fresh GCN price hook for one environment (its own angle history)."""
        if self.gcn is None:
            raise ValueError("this seed000 checkpoint has no price GCN (trained with exact prices)")
        return GCNPriceModel(self.gcn, case)

    def save(self, path: str | Path) -> Path:
        """Checkpoint: DQN weights + scalers, GCN weights + scalers, config, metrics."""
        arrays = self.dqn.arrays()
        if self.gcn is not None:
            from dispatchlab.learning.checkpoint import torch_state_arrays

            arrays.update(torch_state_arrays("gcn/net", self.gcn.net.state_dict()))
            for k in ("x_mean", "x_std", "y_mean", "y_std"):
                arrays[f"gcn/{k}"] = getattr(self.gcn, k)
        meta = {"gcn_metrics": self.gcn.metrics if self.gcn else {}}
        return save_checkpoint(path, METHOD, self.config, arrays, self.metrics, meta)


def load_method(path: str | Path) -> Seed000Method:
    """Rebuild a :class:`Seed000Method` from :meth:`Seed000Method.save`'s file (no pickle)."""
    from dispatchlab.learning.checkpoint import torch_state_from

    header, arrays = load_checkpoint(path, METHOD)
    cfg = config_from_header(header["config"])
    present = [k for k in KINDS if f"obs_mean/{k}" in arrays]
    dqn = SharedDuelingDQN(
        dict.fromkeys(present, cfg.n_levels), OBS_DIM, cfg.dqn, np.random.default_rng(cfg.seed)
    )
    dqn.load_arrays(arrays)
    gcn = None
    if "gcn/x_mean" in arrays:
        adj = arrays["gcn/net/adj"]
        net = PriceGCN(adj, arrays["gcn/x_mean"].shape[-1], cfg.gcn.hidden, cfg.gcn.head_hidden)
        net.load_state_dict(torch_state_from("gcn/net", arrays))
        net.eval()
        scal = {k: arrays[f"gcn/{k}"] for k in ("x_mean", "x_std", "y_mean", "y_std")}
        gcn = PricePredictor(cfg.gcn, net, metrics=header["meta"].get("gcn_metrics", {}), **scal)
    return Seed000Method(cfg, dqn, gcn, header.get("metrics", {}))


def config_from_header(data: dict) -> Seed000Config:
    """Seed000Config from a checkpoint header's config dict (nested configs rebuilt)."""
    data = dict(data)
    dqn = config_from(DuelingDQNConfig, {"config": data.pop("dqn")})
    gcn_data = dict(data.pop("gcn"))
    sampling = config_from(SamplingConfig, {"config": gcn_data.pop("sampling")})
    gcn = dataclasses.replace(config_from(PriceGCNConfig, {"config": gcn_data}), sampling=sampling)
    return dataclasses.replace(config_from(Seed000Config, {"config": data}), dqn=dqn, gcn=gcn)


def check_env_matches(method: Seed000Method, env) -> None:
    """The env must use the discrete levels the controllers were trained on and only DER
    kinds they have a network for; raises ValueError naming the mismatch."""
    cfg = env.config
    if cfg.action_mode != "discrete":
        raise ValueError(
            f"the seed000 controllers choose discrete levels; this env has action_mode="
            f"'{cfg.action_mode}' (make it with action_mode='discrete')"
        )
    if cfg.n_levels != method.config.n_levels:
        raise ValueError(
            f"the controllers were trained with n_levels={method.config.n_levels}; "
            f"this env has n_levels={cfg.n_levels}"
        )
    known = set(method.dqn.n_actions)
    missing = sorted({KINDS[int(k)] for k in np.unique(env.core.units.kind)} - known)
    if missing:
        raise ValueError(
            f"no trained controller for DER kind(s) {missing}; trained: {sorted(known)}"
        )


def policy_from_checkpoint(path: str | Path, env_name: str) -> Callable:
    """A ``policy(env, observations) -> actions`` for ``dispatchlab evaluate`` (exact prices
    of the env as given; the GCN is used by ``dispatchlab compare``)."""
    if env_name != "der-dispatch":
        raise ValueError(f"a seed000 checkpoint drives 'der-dispatch', not '{env_name}'")
    method = load_method(path)

    def policy(env, observations):
        check_env_matches(method, env)
        obs = env.observation_array()
        kinds = env.core.units.kind
        levels = method.act(obs, kinds)
        return {a: int(v) for a, v in zip(env.possible_agents, levels, strict=True)}

    policy.name = f"seed000:{Path(path).name}"
    return policy


# ------------------------------------------------------------------------------- training
def train(
    config: Seed000Config, log: Callable | None = print, progress: bool = False
) -> Seed000Method:
    """Train the regional agent (if ``train_gcn``) and the edge controllers; metrics record
    the training reward curve, times and the GCN's LMP errors. ``progress`` shows a bar over
    the training rounds with the time left (tqdm)."""
    torch.set_num_threads(config.torch_threads)
    t0 = time.perf_counter()
    gcn = None
    if config.train_gcn:
        gcn_cfg = dataclasses.replace(
            config.gcn,
            case=config.case,
            n_units=config.n_units,
            n_levels=config.n_levels,
            seed=config.seed,
        )
        gcn = fit_gcn(gcn_cfg, log=log)
        if log:
            log(f"price GCN: {gcn.metrics}")
    t_gcn = time.perf_counter() - t0
    rng = seed_everything(config.seed)  # after the GCN: the same controllers with or without it
    dqn, curve, val_curve = train_controllers(config, rng, log, progress)
    metrics = {
        "gcn_train_s": t_gcn,
        "dqn_train_s": time.perf_counter() - t0 - t_gcn,
        "train_reward_curve_usd": curve,
        "validation_reward_curve_usd": val_curve,
        "torch_threads": config.torch_threads,
    }
    return Seed000Method(config, dqn, gcn, metrics)


def train_controllers(
    config: Seed000Config,
    rng: np.random.Generator,
    log: Callable | None = print,
    progress: bool = False,
) -> tuple[SharedDuelingDQN, list[float], list[tuple[int, float]]]:
    """Centralized training, shared pool per DER type, exact LMPs (§3.4). Every
    ``eval_every`` rounds the greedy policy plays the validation days; the weights with the
    best validation reward are the ones returned (DQN's returns are not monotone in training
    time: without this, one seed in five ended 35 % below the others). Returns the DQN, the
    mean day reward ($, all units, ε-greedy) of every round and the (round, validation mean
    day reward) pairs."""
    from dispatchlab.learning.envs.der_dispatch.env import VectorDERDispatchEnv

    venv = VectorDERDispatchEnv(config.num_envs, **_env_options(config), seed=config.seed)
    val_env = VectorDERDispatchEnv(max(1, config.val_days), **_env_options(config))
    val_seeds = [config.val_seed_offset + i for i in range(max(1, config.val_days))]
    best, best_arrays, val_curve = -np.inf, None, []
    codes = venv.core.units.kind
    groups = {KINDS[int(c)]: np.flatnonzero(codes == c) for c in np.unique(codes)}
    dqn = SharedDuelingDQN(dict.fromkeys(groups, config.n_levels), OBS_DIM, config.dqn, rng)
    curve: list[float] = []
    step = 0
    bar = tqdm(range(config.rounds), desc="seed000 rounds", unit="round", disable=not progress)
    for r in bar:
        base = config.train_seed_offset + config.seed * 1_000_003 + r * config.num_envs
        obs = venv.reset_arrays([base + i for i in range(config.num_envs)])
        if r == 0:  # observation scalers from the first (all-random) round's start states
            for kind, idx in groups.items():
                dqn.set_obs_scale(kind, _initial_obs_sample(venv, idx))
        total = 0.0
        done = False
        while not done:
            eps = dqn.epsilon(step)
            act = np.empty(obs.shape[:2], np.int64)
            for kind, idx in groups.items():
                flat = obs[:, idx].reshape(-1, OBS_DIM)
                act[:, idx] = dqn.act(kind, flat, eps).reshape(len(obs), len(idx))
            nxt, rew, term, _ = venv.step_arrays(act)
            done = bool(term.all())
            for kind, idx in groups.items():
                dqn.replay[kind].add(
                    obs[:, idx].reshape(-1, OBS_DIM),
                    act[:, idx].ravel(),
                    config.reward_scale * rew[:, idx].ravel(),
                    nxt[:, idx].reshape(-1, OBS_DIM),
                    float(done),
                )
                if step % config.dqn.train_every == 0:
                    dqn.update(kind)
            total += float(rew.sum())
            obs = nxt
            step += 1
        curve.append(total / config.num_envs)
        bar.set_postfix(day_reward_usd=f"{curve[-1]:.1f}", eps=f"{eps:.2f}")
        last = r == config.rounds - 1
        if config.val_days > 0 and ((r + 1) % config.eval_every == 0 or last):
            val = greedy_day_reward(dqn, val_env, val_seeds, groups)
            val_curve.append((r + 1, val))
            if val > best:
                best, best_arrays = val, dqn.arrays()
        if log and not progress and (r % max(1, config.rounds // 10) == 0 or last):
            log(f"round {r + 1}/{config.rounds}: day reward {curve[-1]:.2f} $, ε {eps:.3f}")
    if best_arrays is not None:
        dqn.load_arrays(best_arrays)
        if log:
            log(f"kept the weights of round {max(val_curve, key=lambda v: v[1])[0]}: "
                f"validation day reward {best:.2f} $")  # fmt: skip
    return dqn, curve, val_curve


def greedy_day_reward(dqn: SharedDuelingDQN, venv, seeds: list[int], groups: dict) -> float:
    """Mean day reward ($, all units) of the greedy policy on scenario ``seeds``."""
    obs = venv.reset_arrays(seeds)
    total, done = 0.0, False
    while not done:
        act = np.empty(obs.shape[:2], np.int64)
        for kind, idx in groups.items():
            flat = obs[:, idx].reshape(-1, OBS_DIM)
            act[:, idx] = dqn.act(kind, flat).reshape(len(obs), len(idx))
        obs, rew, term, _ = venv.step_arrays(act)
        total += float(rew.sum())
        done = bool(term.all())
    return total / len(seeds)


def _initial_obs_sample(venv, idx: np.ndarray) -> np.ndarray:
    """Observations of units ``idx`` over a day with uniform random levels, on a copy of the
    scenarios (the training episode itself starts unchanged); they fix the input scaling."""
    from dispatchlab.learning.envs.der_dispatch.core import DispatchCore

    core = DispatchCore(venv.core.cfg, venv.core.grid)
    core.scenarios = list(venv.core.scenarios)
    obs = [core.reset_scenarios()]
    rng = np.random.default_rng(0)
    for _ in range(core.n_steps):
        a = rng.integers(0, core.n_levels, size=(len(core.scenarios), core.units.n))
        obs.append(core.step(a)[0])
    return np.concatenate([o[:, idx].reshape(-1, OBS_DIM) for o in obs])
