"""Evaluation, TD errors, the greedy policy and checkpoints of :class:`~.method.Seed004Trainer`.

A mixin, so that the trainer's file holds the learning and this one what is read off it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dispatchlab.learning.agents.torchrl_common import module_arrays
from dispatchlab.learning.checkpoint import save_checkpoint
from dispatchlab.learning.envs.transmission.core import TOL
from dispatchlab.learning.methods.seed004 import graph
from dispatchlab.learning.methods.seed004.balance import complete_balance
from dispatchlab.learning.methods.seed004.buffer import DayBuffer
from dispatchlab.learning.methods.seed004.foresight import perfect_foresight

METHOD = "seed004"


class TrainerEvaluation:
    """What :class:`~.method.Seed004Trainer` offers besides learning (its attributes are used)."""

    def perfect_foresight_cost(self, day: int) -> float:
        """The day's perfect-foresight cost ($, cached): the gap's reference."""
        if day not in self._pf:
            self._pf[day] = perfect_foresight(self._vector(1).engine, int(day))["objective_usd"]
        return self._pf[day]

    def evaluate(self, days, safety: bool = False) -> pd.DataFrame:
        """Per day: cost ($), perfect-foresight cost, gap (%), reward, violation steps and the
        env's rates; ``safety=True`` plays every decision through the safety layer."""
        days = [int(d) for d in days]
        if not days:
            raise ValueError("evaluate: no days given")
        if safety:
            return self._evaluate_safe(days)
        t0 = time.perf_counter()
        out = self._rollout(days, mode="greedy")
        ms = 1e3 * (time.perf_counter() - t0) / (len(days) * self.steps)
        rows = []
        for i, day in enumerate(days):
            rows.append(self._day_row(day, out["cost"][i].sum(), out["reward"][i].sum(),
                                      int(out["viol"]["any"][i].sum()), ms))  # fmt: skip
        return pd.DataFrame(rows)

    def _day_row(self, day: int, cost: float, reward: float, viol: int, ms: float) -> dict:
        pf = self.perfect_foresight_cost(day)
        return {"day": day, "cost_usd": float(cost), "pf_cost_usd": pf,
                "gap_pct": 100.0 * (cost - pf) / abs(pf), "reward": float(reward),
                "violation_steps": viol, "decision_ms": ms}  # fmt: skip

    def _evaluate_safe(self, days: list[int]) -> pd.DataFrame:
        from dispatchlab.learning.evaluate import EvaluationConfig, evaluate

        config = EvaluationConfig(days=tuple(days), progress=False)
        steps = evaluate(self.env, self.policy(), config, safety=True)
        rows = []
        for e, day in enumerate(days):
            g = steps[steps["episode"] == e]
            viol = (g.filter(like="violation_").sum(axis=1) > TOL).sum()
            row = self._day_row(
                day, g["metric_total_cost_usd"].sum(), g["reward"].sum(), int(viol), np.nan
            )
            row["repairs"] = int((g["safety"] == "repair").sum())
            row["fallbacks"] = int(g["safety"].isin(["fallback", "fallback-failed"]).sum())
            rows.append(row)
        return pd.DataFrame(rows)

    def policy(self) -> Seed004Policy:
        """The greedy policy ``(env, observations) -> actions`` for a single env."""
        return Seed004Policy(self)

    def _trajectory_batch(self, day: int) -> dict[str, np.ndarray]:
        out = self._rollout([int(day)], mode="greedy")
        k = np.arange(self.steps)
        buf = DayBuffer(1, self.steps, out["states"].shape[-1], out["obs"].shape[-2:],
                        out["actions"].shape[-2:], self.units)  # fmt: skip
        buf.add(out["states"], out["obs"], out["actions"], out["shaped"], out["masks"])
        z = np.zeros(self.steps, int)
        L = self.config.lookback
        done = (k == self.steps - 1).astype(np.float32)
        return {"hist": buf.windows(z, k, L), "hist_next": buf.windows(z, k + 1, L),
                "obs": buf.obs[0, k], "obs_next": buf.obs[0, k + 1], "action": buf.actions[0],
                "reward": buf.rewards[0], "done": done}  # fmt: skip

    def td_errors(self, day: int) -> np.ndarray:
        """(96,) signed TD errors y − Q₁(s, a) of the day's greedy trajectory (no target noise)."""
        c, m, tg = self.config, self.model, self.target
        b = {k: torch.as_tensor(v) for k, v in self._trajectory_batch(day).items()}
        with torch.no_grad():
            emb2, _ = tg.embed(b["hist_next"])
            q2 = tg.q(b["hist_next"][:, -1], emb2, tg.act(b["obs_next"], emb2)).min(0).values
            y = b["reward"] * c.reward_scale + c.gamma * (1.0 - b["done"]) * q2
            emb, _ = m.embed(b["hist"])
            q = m.q(b["hist"][:, -1], emb, b["action"])[0]
        return (y - q).numpy()

    def critic_losses(self, day: int) -> np.ndarray:
        """(96,) per-sample critic loss (squared TD error) on the day's greedy trajectory."""
        return self.td_errors(day) ** 2

    def graph_report(self, days) -> dict[str, float]:
        """Topology consistency and distance correlation of the learned A_t, averaged over the
        intervals of ``days`` (greedy play), and the mean stress gate."""
        out = self._rollout([int(d) for d in days], mode="greedy")
        L = self.config.lookback
        hist = np.stack(
            [out["states"][:, max(k - L + 1, 0) : k + 1] for k in range(L - 1, self.steps)]
        )
        hist = hist.reshape(-1, L, hist.shape[-1])
        with torch.no_grad():
            adj = self.model.dgcn.adjacency(torch.as_tensor(hist)).numpy()
        mean_adj, phys = adj.mean(0), self.model.dgcn.a_phys.numpy()
        return {
            "topology_consistency": graph.topology_consistency(mean_adj, self.conn),
            "distance_correlation": graph.distance_correlation(mean_adj, self.dist),
            "residual_share": float(np.abs(adj - phys).sum() / max(np.abs(adj).sum(), 1e-12)),
        }

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | Path) -> Path:
        """``.npz`` + JSON header: config, model and target weights, penalty weights, curve."""
        arrays = module_arrays({"model": self.model, "target": self.target})
        meta = {"case": self.case.name, "case_hash": self.case.case_hash(),
                "agents": list(self.spaces.agents), "env": "transmission-dispatch"}  # fmt: skip
        return save_checkpoint(path, METHOD, self.config, arrays, self.summary(), meta)


class Seed004Policy:
    """Greedy decentralized actors + DGCN on a single ``TransmissionDispatchEnv``; keeps the
    state history of the running episode (restarted at its first interval)."""

    def __init__(self, trainer, name: str = "learned"):
        self.trainer, self.name, self._hist = trainer, name, []

    def __call__(self, env, observations) -> dict[str, np.ndarray]:
        t = self.trainer
        state = np.asarray(env.state(), np.float32)
        if env.engine.state.k == 0:
            self._hist = []
        self._hist = [*self._hist, state][-t.config.lookback :]
        hist = np.stack(([self._hist[0]] * t.config.lookback + self._hist)[-t.config.lookback :])
        obs = t._stack({a: np.asarray(observations[a])[None] for a in t.spaces.agents})
        a = t.act_batch(hist[None], obs)
        if t.config.balance_completion != "off":
            a = complete_balance(env.engine, a, t.config.balance_completion)
        a = a[0]
        return {
            n: a[i, :k].astype(float)
            for i, (n, k) in enumerate(zip(t.spaces.agents, t.spaces.act_sizes, strict=True))
        }
