"""seed004's trainer: DGCN + MASRL on ``transmission-dispatch`` (docs/methods/seed004.md).

Stable API (used by the federated / privacy work built on it):

* :class:`Seed004Trainer` ``(config=None, case=None)``
  - ``.model`` — one ``torch.nn.Module`` (:class:`~.masrl.Seed004Model`) holding every
    trainable parameter: DGCN, the 13 actors, the 2 centralized critics (and the fixed
    observation / state scalers as buffers). Targets live outside it: after loading new
    weights into ``.model`` call ``.sync_targets()``.
  - ``.train_days(days, episodes) -> dict`` — train for ``episodes`` days drawn from ``days``
    (series day numbers; training continues across calls);
  - ``.critic_losses(day) -> np.ndarray`` (96,) — per-sample squared TD error of critic 1 on
    the day's greedy trajectory (loss-threshold membership inference); ``.td_errors(day)`` the
    signed errors;
  - ``.evaluate(days, safety=False) -> DataFrame`` — per day: ``day, cost_usd, pf_cost_usd,
    gap_pct, reward, violation_steps, …``;
  - ``.policy()`` — ``(env, observations) -> actions`` for :func:`dispatchlab.learning.evaluate.
    evaluate`; ``.graph_report(days)``; ``.save(path)`` / :func:`load_trainer`.
* :func:`~.graph.regional_areas` ``(case) -> Series`` bus → area (ieee30's three regions).
* :data:`TRAIN_DAYS` / :data:`TEST_DAYS` — the env's chronological 60 / 15 / 15 split.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from dispatchlab.learning.agents.torchrl_common import (
    AgentSpaces,
    load_module_arrays,
)
from dispatchlab.learning.checkpoint import (
    CheckpointError,
    config_from,
    load_checkpoint,
)
from dispatchlab.learning.envs.transmission.config import TransmissionConfig
from dispatchlab.learning.envs.transmission.core import TOL
from dispatchlab.learning.envs.transmission.env import (
    TransmissionDispatchEnv,
    VectorTransmissionDispatchEnv,
)
from dispatchlab.learning.methods.seed004 import graph
from dispatchlab.learning.methods.seed004.balance import complete_balance
from dispatchlab.learning.methods.seed004.buffer import DayBuffer
from dispatchlab.learning.methods.seed004.config import Seed004Config
from dispatchlab.learning.methods.seed004.evaluation import TrainerEvaluation
from dispatchlab.learning.methods.seed004.masrl import (
    ADAPTIVE,
    RESERVE_DIMS,
    AdaptivePenalties,
    Seed004Model,
    TaskMask,
    masked_kl,
)

METHOD = "seed004"
TRAIN_DAYS = tuple(range(60))
VALIDATION_DAYS = tuple(range(60, 75))
TEST_DAYS = tuple(range(75, 90))


class Seed004Trainer(TrainerEvaluation):
    """DGCN + MASRL (see the module docstring); evaluation, TD errors, the policy and
    checkpoints come from :class:`~.evaluation.TrainerEvaluation`."""

    def __init__(self, config: Seed004Config | None = None, case=None):
        torch.set_num_threads(1)
        self.config = c = config or Seed004Config()
        self.env_config = TransmissionConfig(case=c.case, split="all")
        self.env = TransmissionDispatchEnv(self.env_config, case=case)
        eng = self.env.engine
        self.case, self.sys, self.steps = eng.case, eng.sys, eng.steps
        self.spaces = AgentSpaces.from_env(self.env)
        self.units = len(self.sys.gen_ids)
        areas = graph.regional_areas(self.case).reindex(self.case.buses.index).to_numpy()
        self.dist = graph.electrical_distance(self.case)
        self.conn = graph.connectivity(self.case)
        a_phys = graph.physical_adjacency(self.case, c.distance_scale)
        self.model = Seed004Model(self.sys, self.spaces, a_phys, self.dist, c)
        self.target = copy.deepcopy(self.model).requires_grad_(False)
        critic_params = [*self.model.dgcn.parameters(), *self.model.critics.parameters()]
        self.critic_opt = torch.optim.Adam(critic_params, lr=c.lr)
        self.actor_opt = torch.optim.Adam(self.model.actors.parameters(), lr=c.actor_lr or c.lr)
        self.penalties = AdaptivePenalties(self.env.config.penalties(), c)
        self.task_mask = TaskMask(self.sys, areas, c)
        n, d, k = self.spaces.n_agents, self.spaces.obs_dim, self.spaces.act_dim
        state_dim = self.env.state_size
        self.buffer = DayBuffer(c.buffer_days, self.steps, state_dim, (n, d), (n, k), self.units)
        self.rng = np.random.default_rng(c.seed)
        keys = ("episode_cost_usd episode_reward critic_loss actor_loss kl plausibility "
                "demo_cost_usd bc_loss").split()  # fmt: skip
        self.history: dict[str, list] = {k: [] for k in keys}
        self.episodes_done, self.updates, self.train_s = 0, 0, 0.0
        self.stopped_early: int | None = None
        self.scaled = False
        self._vec: dict[int, VectorTransmissionDispatchEnv] = {}
        self._pf: dict[int, float] = {}

    # ------------------------------------------------------------------ environments
    def _vector(self, n: int) -> VectorTransmissionDispatchEnv:
        if n not in self._vec:
            vec = VectorTransmissionDispatchEnv(n, self.env_config, case=self.case)
            if self._vec:  # one engine (and its start-output cache) for every batch size
                vec.engine = next(iter(self._vec.values())).engine
            self._vec[n] = vec
        return self._vec[n]

    def _stack(self, obs: dict) -> np.ndarray:
        """(B, agents, obs_dim) zero-padded observations of a vector step."""
        names = self.spaces.agents
        first = np.asarray(obs[names[0]])
        out = np.zeros((len(first), len(names), self.spaces.obs_dim), np.float32)
        for i, a in enumerate(names):
            o = np.asarray(obs[a], np.float32)
            out[:, i, : o.shape[-1]] = o
        return out

    def _to_env(self, a: np.ndarray) -> dict[str, np.ndarray]:
        return {
            name: a[:, i, :n].astype(float)
            for i, (name, n) in enumerate(
                zip(self.spaces.agents, self.spaces.act_sizes, strict=True)
            )
        }

    def _events(self, vec, state: np.ndarray) -> np.ndarray:
        """(B, units, units) task masks of the current interval (event-triggered)."""
        loading = state[:, 30:71]
        margin = state[:, 83:85]
        t = vec.engine.state.t
        wind = self.sys.wind_mw.sum(axis=1)
        ramp = np.abs(wind[t] - wind[np.maximum(t - 4, 0)])
        return self.task_mask(loading, margin, ramp)

    # ------------------------------------------------------------------ acting
    def act_batch(self, hist: np.ndarray, obs: np.ndarray, noise: float = 0.0) -> np.ndarray:
        """(B, agents, act_dim) actions for state histories (B, L, 119) and padded obs."""
        with torch.no_grad():
            emb, _ = self.model.embed(torch.as_tensor(hist))
            return self.model.act(torch.as_tensor(obs), emb, noise).numpy().astype(np.float32)

    def _rollout(self, days, mode: str = "greedy", learn: bool = False) -> dict:
        """Play ``days`` at once; mode greedy / explore / random. Returns stacked arrays."""
        c, L = self.config, self.config.lookback
        vec = self._vector(len(days))
        obs, _ = vec.reset(options={"days": np.asarray(days, int)})
        self.task_mask.reset()
        states, obs_s = [vec.state()], [self._stack(obs)]
        acts, rew, shaped, cost, masks = [], [], [], [], []
        viol = {k: [] for k in (*ADAPTIVE, "any")}
        for _ in range(self.steps):
            hist = np.stack(([states[0]] * L + states)[-L:], axis=1)
            if mode == "oracle":
                a = self._oracle_actions(vec)
            elif mode == "random":
                a = self.rng.uniform(-1, 1, (len(days), *self.model.act_mask.shape))
                a = (a * self.model.act_mask.numpy()).astype(np.float32)
            else:
                a = self.act_batch(hist, obs_s[-1], c.exploration_noise if mode == "explore" else 0)
                if c.balance_completion != "off":
                    a = complete_balance(vec.engine, a, c.balance_completion)
            masks.append(self._events(vec, states[-1]))
            obs, r, _, _, info = vec.step(self._to_env(a))
            reward = np.asarray(r[self.spaces.agents[0]], float)
            v = info["violations"]
            rew.append(reward)
            shaped.append(self.penalties.shaped(reward, v))
            cost.append(info["metrics"]["total_cost_usd"])
            for k in ADAPTIVE:
                viol[k].append(np.asarray(v[k]) > TOL)
            viol["any"].append(sum(np.asarray(x) for x in v.values()) > TOL)
            acts.append(a)
            states.append(vec.state())
            obs_s.append(self._stack(obs))
            if learn:
                self._learn_due(len(days))
        ax = lambda x: np.stack(x, axis=1)  # noqa: E731 - (B, steps, …)
        return {"days": np.asarray(days), "states": ax(states), "obs": ax(obs_s),
                "actions": ax(acts), "reward": ax(rew), "shaped": ax(shaped),
                "cost": ax(cost), "masks": ax(masks),
                "viol": {k: ax(x) for k, x in viol.items()}}  # fmt: skip

    def _oracle_actions(self, vec) -> np.ndarray:
        """(B, agents, act_dim) the exact oracle's actions (hold where its QP fails)."""
        from dispatchlab.learning.envs.transmission.engine import KINDS
        from dispatchlab.learning.methods.seed004.masrl import hold_actions

        out = np.tile(hold_actions(self.spaces), (vec.num_envs, 1, 1)).astype(np.float32)
        for b in range(vec.num_envs):
            acts, *_ = vec.engine.oracle(b)
            if acts is None:
                continue
            rows = [r for k in KINDS for r in np.asarray(acts[k], np.float32)]
            for i, n in enumerate(self.spaces.act_sizes):
                out[b, i, :n] = rows[i][:n]
        return out

    def demonstrate(self, days) -> None:
        """Play ``config.demo_days`` of ``days`` with the exact oracle into the replay, then
        clone its actions into the actors (and the DGCN) for ``config.bc_steps`` steps."""
        c = self.config
        n = min(c.demo_days, len(days))
        if n == 0:
            return
        for start in range(0, n, c.parallel_days):
            pick = self.rng.choice(np.asarray(days), min(c.parallel_days, n - start), replace=False)
            out = self._rollout(pick, mode="oracle")
            self.buffer.add(
                out["states"], out["obs"], out["actions"], out["shaped"], out["masks"], True
            )
            self.history["demo_cost_usd"] += out["cost"].sum(1).tolist()
        params = [*self.model.actors.parameters(), *self.model.dgcn.parameters()]
        opt = torch.optim.Adam(params, lr=c.bc_lr)
        mask = self.model.act_mask
        for _ in range(c.bc_steps):
            b = self.buffer.sample(c.batch_size, c.lookback, self.rng)
            emb, _ = self.model.embed(torch.as_tensor(b["hist"]))
            a = self.model.act(torch.as_tensor(b["obs"]), emb)
            loss = (((a - torch.as_tensor(b["action"])) * mask) ** 2).sum() / (mask.sum() * len(a))
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.history["bc_loss"].append(float(loss.detach()))
        self.sync_targets(1.0)

    # ------------------------------------------------------------------ learning
    def _learn_due(self, batch_days: int) -> None:
        c = self.config
        if self.buffer.size < max(c.learning_starts, 1):
            return
        self._credit = getattr(self, "_credit", 0.0) + c.updates_per_step * batch_days
        while self._credit >= 1.0:
            self._credit -= 1.0
            self.update(self.buffer.sample(c.batch_size, c.lookback, self.rng))

    def update(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """One TD3 step on ``batch`` (critics + DGCN every step, actors every second)."""
        c, m, tg = self.config, self.model, self.target
        b = {k: torch.as_tensor(v) for k, v in batch.items()}
        mask = m.act_mask
        b["reward"] = b["reward"].float()
        # one window of L + 1 states gives both histories; its node features are computed once
        window = torch.cat([b["hist"], b["hist_next"][:, -1:]], 1)
        feats = m.dgcn.features(window)
        with torch.no_grad():
            emb2, _ = tg.dgcn(b["hist_next"], feats[:, 1:])
            z2 = tg.logits(b["obs_next"], emb2)
            z2 = z2 + (c.exploration_noise * torch.randn_like(z2)).clamp(-0.5, 0.5)
            a2 = torch.tanh(z2) * mask  # TD3's target smoothing, in the pre-tanh space
            q2 = tg.q(b["hist_next"][:, -1], emb2, a2).min(0).values
            y = b["reward"] * c.reward_scale + c.gamma * (1.0 - b["done"]) * q2
        emb, adj = m.dgcn(b["hist"], feats[:, :-1])
        q = m.q(b["hist"][:, -1], emb, b["action"])
        plaus = m.dgcn.plausibility(adj)
        critic_loss = ((q - y) ** 2).mean(1).sum() + c.plausibility_weight * plaus
        self.critic_opt.zero_grad()
        critic_loss.backward()
        torch.nn.utils.clip_grad_norm_([*m.dgcn.parameters(), *m.critics.parameters()], c.grad_clip)
        self.critic_opt.step()
        out = {"critic_loss": float(critic_loss.detach()), "plausibility": float(plaus.detach())}
        self.updates += 1
        if self.updates > c.actor_delay and self.updates % c.policy_delay == 0:
            out.update(self._actor_step(b, emb.detach()))
            self.sync_targets(c.tau)
        for k, v in out.items():
            self.history[k].append(v)
        return out

    def _actor_step(self, b: dict, emb: torch.Tensor) -> dict[str, float]:
        c, m = self.config, self.model
        z = m.logits(b["obs"], emb)
        a = torch.tanh(z) * m.act_mask
        q = m.q(b["hist"][:, -1], emb, a)[0]
        # TD3+BC (Fujimoto & Gu 2021): Q normalized by its mean magnitude, plus the squared
        # distance (summed over the agents' action dimensions) to the oracle's joint action on
        # the batch's demonstration samples
        loss = -q.mean() / q.abs().mean().detach().clamp(min=1e-6)
        demo = b["demo"]
        if c.bc_weight > 0 and bool(demo.any()):
            err = ((a[demo] - b["action"][demo]) * m.act_mask) ** 2
            loss = loss + c.bc_weight * err.sum() / int(demo.sum())
        kl = masked_kl(z[:, : self.units, RESERVE_DIMS], b["mask"], c.exploration_noise)
        if c.kl_mask:
            loss = loss + c.kl_weight * kl
        self.actor_opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.actors.parameters(), c.grad_clip)
        self.actor_opt.step()
        return {"actor_loss": float(loss.detach()), "kl": float(kl.detach())}

    def sync_targets(self, tau: float = 1.0) -> None:
        """target ← τ·model + (1 − τ)·target (τ = 1: copy, e.g. after federated averaging)."""
        with torch.no_grad():
            pairs = zip(
                self.model.state_dict().items(), self.target.state_dict().values(), strict=True
            )
            for (_, p), q in pairs:
                if not isinstance(q, torch.Tensor):
                    continue  # TorchRL's parameter containers keep their batch size here
                if q.dtype.is_floating_point:
                    q.mul_(1.0 - tau).add_(p, alpha=tau)
                else:
                    q.copy_(p)

    def fit_scalers(self, days) -> None:
        """Fix the observation / state scalers from one random-play batch of ``days``."""
        pick = self.rng.choice(np.asarray(days), min(self.config.parallel_days, len(days)))
        out = self._rollout(pick, mode="random")
        n = out["obs"].shape[-2:]
        self.model.obs_scaler.fit(out["obs"].reshape(-1, *n))
        self.model.state_scaler.fit(out["states"].reshape(-1, 1, out["states"].shape[-1]))
        self.sync_targets(1.0)
        self.scaled = True

    def train_days(self, days, episodes: int, log: Callable | None = None) -> dict:
        """Train on ``episodes`` days drawn from ``days`` (batches of ``parallel_days``);
        stops early, and says so in ``stopped_early``, when the curve is flat."""
        days = np.asarray(days, int)
        if len(days) == 0:
            raise ValueError("train_days: no days to train on")
        t0 = time.perf_counter()
        if not self.scaled:
            self.fit_scalers(days)
            self.demonstrate(days)
        left = int(episodes)
        # a bar with the time left when the run logs (the CLI); silent in library use
        bar = tqdm(total=left, desc="seed004 train", unit="day", disable=log is None)
        while left > 0:
            n = min(self.config.parallel_days, left)
            pick = self.rng.choice(days, n, replace=n > len(days))
            out = self._rollout(pick, mode="explore", learn=True)
            self._record(out)
            left -= n
            bar.update(n)
            if log:
                mean = out["cost"].sum(1).mean()
                log(f"episode {self.episodes_done}: mean day cost {mean:,.0f} $")
            if self._flat():
                self.stopped_early = self.episodes_done
                break
        bar.close()
        self.train_s += time.perf_counter() - t0
        return self.summary()

    def _record(self, out: dict) -> None:
        self.buffer.add(out["states"], out["obs"], out["actions"], out["shaped"], out["masks"])
        rates = {k: float(out["viol"][k].mean()) for k in ADAPTIVE}
        self.penalties.update(rates)
        self.history["episode_cost_usd"] += out["cost"].sum(1).tolist()
        self.history["episode_reward"] += out["reward"].sum(1).tolist()
        self.episodes_done += len(out["days"])

    def _flat(self) -> bool:
        c, curve = self.config, np.asarray(self.history["episode_cost_usd"])
        if len(curve) < 100 + c.flat_patience:
            return False
        roll = pd.Series(curve).rolling(100).mean().to_numpy()
        best_before = np.nanmin(roll[: -c.flat_patience])
        return roll[-1] > best_before * (1.0 - c.flat_tolerance)

    def summary(self) -> dict:
        """Training metrics for the checkpoint header and the benchmark."""
        curve = self.history["episode_cost_usd"]
        return {
            "episodes": self.episodes_done,
            "updates": self.updates,
            "train_s": self.train_s,
            "stopped_early_at": self.stopped_early,
            "mask_updates": self.task_mask.updates,
            "penalty_weights": self.penalties.weights,
            "train_cost_curve_usd": [float(x) for x in curve],
        }


def load_trainer(path: str | Path, case=None) -> Seed004Trainer:
    """A trainer with the weights of checkpoint ``path``; a checkpoint of another case or
    agent set is a :class:`CheckpointError` naming both."""
    header, arrays = load_checkpoint(path, METHOD)
    config = config_from(Seed004Config, header)
    trainer = Seed004Trainer(config, case)
    meta = header.get("meta", {})
    have, want = meta.get("case_hash"), trainer.case.case_hash()
    if have != want:
        raise CheckpointError(
            f"{path}: trained on case '{meta.get('case')}' (hash {have}), "
            f"but the env's case '{trainer.case.name}' has hash {want}"
        )
    agents = list(trainer.spaces.agents)
    if meta.get("agents") != agents:
        raise CheckpointError(f"{path}: agents {meta.get('agents')} differ from the env's {agents}")
    try:
        load_module_arrays({"model": trainer.model, "target": trainer.target}, arrays)
    except KeyError as err:
        raise CheckpointError(f"{path}: {err.args[0]}") from None
    metrics = header.get("metrics", {})
    trainer.penalties.weights.update(metrics.get("penalty_weights", {}))
    trainer.history["episode_cost_usd"] = list(metrics.get("train_cost_curve_usd", []))
    trainer.episodes_done = int(metrics.get("episodes", 0))
    trainer.train_s = float(metrics.get("train_s", 0.0))
    trainer.scaled = True
    return trainer


def policy_from_checkpoint(path: str | Path, env_name: str):
    """The registry's loader: the greedy policy of checkpoint ``path`` for ``env_name``."""
    if env_name != "transmission-dispatch":
        raise CheckpointError(
            f"{path}: a seed004 policy drives transmission-dispatch, not '{env_name}'"
        )
    return load_trainer(path).policy()
