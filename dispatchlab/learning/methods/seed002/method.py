"""seed002: PNN-assisted multi-agent actor-critic with prediction–decision–regulation.

Readable top to bottom (docs/methods/seed002.md):

1. **prediction** — one :class:`~.pnn.PNN` per discrete device gives the probabilities of its
   next move from the joint state; agent i's actor gets those of the others (§2.2); a
   :class:`~.pnn.ParzenRegressor` on the same kernel predicts next-step node voltages;
2. **perception** — the env's 7-state observation (``observation="perception"``, §3.1 (1));
3. **action-set reduction** — :func:`~.rules.action_masks` and one device per feeder (§3.1 (2));
4. **decision** — :class:`~.actor_critic.ActorCritic`, CTDE (§2.2, §4.1);
5. **regulation** — :class:`~.regulation.SensitivityRegulator` sets the SVG (§3.2).

The env is ``voltage-control-discrete`` with ``svg_mode="continuous"`` (the SVG is the
regulation's, not an agent's). :func:`train` plays the training days (:data:`~.config.TRAIN_DAYS`,
apart from the stress test days) on the batched env.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from dispatchlab.learning.checkpoint import (
    CheckpointError,
    config_from,
    load_checkpoint,
    save_checkpoint,
)
from dispatchlab.learning.envs.voltage.config import ProfileConfig
from dispatchlab.learning.envs.voltage.stress import STRESS_DG_MW, stress_config
from dispatchlab.learning.methods.seed002.actor_critic import ActorCritic
from dispatchlab.learning.methods.seed002.config import Seed002Config
from dispatchlab.learning.methods.seed002.pnn import PNN, ParzenRegressor
from dispatchlab.learning.methods.seed002.regulation import SensitivityRegulator
from dispatchlab.learning.methods.seed002.rules import (
    HOLD,
    N_MOVES,
    action_masks,
    one_per_feeder,
    position_delta,
)
from dispatchlab.learning.seeding import seed_everything

METHOD = "seed002"
ENV = "voltage-control-discrete"


def env_config(cfg: Seed002Config, train: bool = False):
    """The env options the method plays: the stress set (test) or the training days, with a
    continuous SVG and the 7-state observation."""
    base = stress_config(
        svg_mode="continuous", observation="perception", dt_h=cfg.dt_h, case=cfg.case
    )
    if not train:
        return base
    profiles = ProfileConfig(days=cfg.train_days, peak_scale=cfg.train_peaks)
    return dataclasses.replace(base, profiles=profiles, dg_p_max_mw=STRESS_DG_MW)


def joint_state(core) -> np.ndarray:
    """(S, n + 7) the PNN's joint state: every perception state / 6, device positions scaled
    to [0, 1], the SVG output / its limit and t / T."""
    k = len(core.options) - core.n_svg
    return np.concatenate(
        [
            core.perception() / 6.0,
            core.pos[:, :k] / (core.n_options[:k] - 1),
            core.svg_mvar / np.maximum(core.svg_hi, 1e-9),
            np.full((core.n_scen, 1), min(core.t, core.horizon) / core.horizon),
        ],
        axis=1,
    )


class Seed002Method:
    """The trained actors and critic, the PNNs, the rules and the regulator's settings."""

    def __init__(
        self,
        config: Seed002Config,
        agents: list[str],
        ac: ActorCritic,
        pnns: list[PNN],
        volt: ParzenRegressor,
        metrics: dict | None = None,
    ):
        self.config, self.agents, self.ac = config, list(agents), ac
        self.pnns, self.volt = pnns, volt
        self.metrics = dict(metrics or {})
        self._regulators: dict[int, SensitivityRegulator] = {}

    # --------------------------------------------------------------- the decision pipeline
    def actor_inputs(self, env, joint: np.ndarray) -> np.ndarray:
        """(S, agents, d): own observation (states / 6, position / max, t / T) + the PNN's
        move probabilities of the other agents (zeros when ``use_pnn`` is off)."""
        core, n = env.core, len(self.agents)
        rows = env._observe_rows()[:n]
        own = [
            np.concatenate(
                [r[:, :-2] / 6.0, r[:, [-2]] / (core.n_options[i] - 1), r[:, [-1]] / core.horizon],
                axis=1,
            )
            for i, r in enumerate(rows)
        ]
        probs = np.stack([p.predict_proba(joint) for p in self.pnns], axis=1)  # (S, n, 3)
        if not self.config.use_pnn:
            probs = np.zeros_like(probs)
        others = [np.delete(probs, i, axis=1).reshape(len(joint), -1) for i in range(n)]
        return np.stack(
            [np.concatenate([o, q], axis=1) for o, q in zip(own, others, strict=True)], axis=1
        )

    def decide(self, env, eps: float = 0.0, rng: np.random.Generator | None = None) -> dict:
        """Moves, new positions and SVG outputs for every scenario of ``env`` (its state is
        unchanged). ε-greedy over the allowed moves when ``eps`` > 0."""
        core, cfg = env.core, self.config
        joint = joint_state(core)
        masks = self.masks(core)
        x = self.actor_inputs(env, joint)
        p = self.ac.probs(x, masks)
        moves = p.argmax(axis=2)
        pref = p.max(axis=2)
        if eps > 0:
            explore = rng.random(moves.shape[0]) < eps
            u = rng.random(masks.shape) * masks
            moves = np.where(explore[:, None], u.argmax(axis=2), moves)
            pref = np.where(explore[:, None], rng.random(moves.shape), pref)
        moves = one_per_feeder(moves, pref, self.agents, cfg.feeders)
        k = len(self.agents)
        new_pos = core.pos.copy()
        new_pos[:, :k] += position_delta(moves)
        svg = self.svg_outputs(core, new_pos)
        return {"joint": joint, "masks": masks, "x": x, "moves": moves, "pos": new_pos, "svg": svg}

    def regulator(self, core) -> SensitivityRegulator:
        """The S_VQ regulator of ``core`` (one per env, its matrices cached per setting)."""
        reg = self._regulators.get(id(core))
        if reg is None:
            reg = self._regulators[id(core)] = SensitivityRegulator(
                core, self.config.margin_pu, self.config.sensitivity_key
            )
        return reg

    def masks(self, core) -> np.ndarray:
        """(S, devices, 3) the moves the rules allow at ``core``'s last measurement."""
        last = core.last
        return action_masks(
            core, last["vm"], last["head"], core.pos, self.config, self.regulator(core)
        )

    def svg_outputs(self, core, new_pos: np.ndarray) -> np.ndarray:
        """(S, 1) SVG Mvar from the regulation (0 Mvar with ``use_sensitivity`` off)."""
        if not self.config.use_sensitivity:
            return np.zeros((core.n_scen, 1))
        reg = self.regulator(core)
        return np.array(
            [
                [
                    reg.svg_mvar(
                        core.last["vm"][s], core.pos[s], new_pos[s], float(core.svg_mvar[s, 0])
                    )
                ]
                for s in range(core.n_scen)
            ]
        )

    def env_actions(self, env, d: dict) -> dict:
        """The env's action dict (arrays over scenarios; scalars for a single env)."""
        single = not hasattr(env, "num_envs")
        out = {}
        for i, a in enumerate(self.agents):
            out[a] = int(d["pos"][0, i]) if single else d["pos"][:, i]
        svg_agent = env.possible_agents[-1]
        out[svg_agent] = d["svg"][0] if single else d["svg"]
        return out

    def act(self, env) -> dict:
        """The greedy decision for a single ``DiscreteVoltageControlEnv`` (checked first)."""
        check_env_matches(self, env)
        return self.env_actions(env, self.decide(env))

    # --------------------------------------------------------------- checkpoints
    def save(self, path: str | Path) -> Path:
        """Checkpoint: actors, critic, state scaler, the PNNs' patterns and labels as arrays."""
        arrays = self.ac.arrays()
        for i, p in enumerate(self.pnns):
            arrays |= p.arrays(f"pnn/{self.agents[i]}")
        v = self.volt.patterns
        arrays |= {
            "volt/patterns": v.x,
            "volt/y": self.volt.y,
            "volt/mean": v.mean,
            "volt/std": v.std,
        }
        meta = {
            "agents": self.agents,
            "svg_mode": "continuous",
            "observation": "perception",
            "state_dim": self.ac.state_dim,
            "actor_in": self.ac.actor_in,
        }
        return save_checkpoint(path, METHOD, self.config, arrays, self.metrics, meta)


def load_method(path: str | Path) -> Seed002Method:
    """Rebuild a :class:`Seed002Method` from :meth:`Seed002Method.save`'s file (no pickle)."""
    header, arrays = load_checkpoint(path, METHOD)
    data = dict(header["config"])
    data["feeders"] = tuple(tuple(f) for f in data.get("feeders", ()))
    cfg = config_from(Seed002Config, {"config": data})
    meta = header["meta"]
    agents = meta["agents"]
    ac = ActorCritic(
        len(agents), meta["actor_in"], meta["state_dim"], cfg, np.random.default_rng(0)
    )
    ac.load_arrays(arrays)
    width = arrays[f"pnn/{agents[0]}/mean"].shape[0]
    pnns = []
    for a in agents:
        p = PNN(width, N_MOVES, cfg.pnn_sigma, cfg.pnn_patterns)
        p.load_arrays(f"pnn/{a}", arrays)
        pnns.append(p)
    volt = ParzenRegressor(width, cfg.pnn_sigma, cfg.pnn_patterns)
    volt.patterns.x, volt.y = arrays["volt/patterns"], arrays["volt/y"]
    volt.patterns.mean, volt.patterns.std = arrays["volt/mean"], arrays["volt/std"]
    volt.patterns.fitted = True
    method = Seed002Method(cfg, agents, ac, pnns, volt, header.get("metrics", {}))
    method.meta = meta
    return method


def check_env_matches(method: Seed002Method, env) -> None:
    """The env must have a continuous SVG and the 7-state observation the actors were trained
    on; otherwise a CheckpointError naming the mismatch."""
    for name, want in (("svg_mode", "continuous"), ("observation", "perception")):
        got = getattr(env.config, name)
        if got != want:
            raise CheckpointError(
                f"this seed002 checkpoint was trained with {name}='{want}'; the env has "
                f"{name}='{got}' (make it with {name}='{want}')"
            )
    if list(env.possible_agents[: len(method.agents)]) != method.agents:
        raise CheckpointError(f"seed002 agents {method.agents} ≠ env agents {env.possible_agents}")


def policy_from_checkpoint(path: str | Path, env_name: str) -> Callable:
    """A ``policy(env, observations) -> actions`` for ``dispatchlab evaluate``."""
    if env_name != ENV:
        raise ValueError(f"a seed002 checkpoint drives '{ENV}', not '{env_name}'")
    method = load_method(path)

    def policy(env, observations):
        return method.act(env)

    policy.name = f"seed002:{Path(path).name}"
    return policy


# ------------------------------------------------------------------------------- training
def epsilon(cfg: Seed002Config, episode: int) -> float:
    """ε decays exponentially from eps_start to eps_end over eps_episodes episodes (§4.1)."""
    frac = min(1.0, episode / cfg.eps_episodes)
    return float(cfg.eps_start * (cfg.eps_end / cfg.eps_start) ** frac)


def new_method(cfg: Seed002Config, venv, rng: np.random.Generator) -> Seed002Method:
    core = venv.core
    agents = list(venv.possible_agents[: len(core.options) - core.n_svg])
    width = joint_state(core).shape[1]
    pnns = [PNN(width, N_MOVES, cfg.pnn_sigma, cfg.pnn_patterns) for _ in agents]
    volt = ParzenRegressor(width, cfg.pnn_sigma, cfg.pnn_patterns)
    actor_in = venv._observe_rows()[0].shape[1] + (len(agents) - 1) * N_MOVES
    ac = ActorCritic(len(agents), actor_in, core.features().shape[1], cfg, rng)
    ac.fit_state_scale(core.features())
    return Seed002Method(cfg, agents, ac, pnns, volt)


def train(
    config: Seed002Config, log: Callable | None = print, progress: bool = False
) -> Seed002Method:
    """Train on the training days; metrics hold the reward curve and the time."""
    from dispatchlab.learning.envs.voltage.discrete import VectorDiscreteVoltageControlEnv

    torch.set_num_threads(config.torch_threads)
    rng = seed_everything(config.seed)
    t0 = time.perf_counter()
    venv = VectorDiscreteVoltageControlEnv(config.num_envs, config=env_config(config, train=True))
    n_days = len(config.train_days)
    rounds = -(-config.episodes // config.num_envs)
    method, curve = None, []
    bar = tqdm(range(rounds), desc="seed002 rounds", unit="round", disable=not progress)
    for r in bar:
        days = [int(rng.integers(n_days)) for _ in range(config.num_envs)]
        venv.reset(
            seed=10_000 + config.seed * 100_003 + r * config.num_envs, options={"days": days}
        )
        method = method or new_method(config, venv, rng)
        eps = epsilon(config, r * config.num_envs)
        curve.append(_train_round(method, venv, eps, rng))
        bar.set_postfix(day_reward=f"{curve[-1]:.2f}", eps=f"{eps:.2f}")
        if log and not progress and (r % max(1, rounds // 10) == 0 or r == rounds - 1):
            log(f"round {r + 1}/{rounds}: mean day reward {curve[-1]:.3f}, ε {eps:.3f}")
    method.metrics = {
        "train_s": time.perf_counter() - t0,
        "train_reward_curve": curve,
        "episodes": rounds * config.num_envs,
        "updates": method.ac.updates,
    }
    return method


def _train_round(method: Seed002Method, venv, eps: float, rng: np.random.Generator) -> float:
    """One day on every scenario of ``venv``: act, store, learn; the mean day reward."""
    core, ac, total = venv.core, method.ac, 0.0
    while not core.done:
        d = method.decide(venv, eps, rng)
        state = core.features()
        _, rew, _, _, _ = venv.step(method.env_actions(venv, d))
        r = np.asarray(next(iter(rew.values())), float)
        total += float(r.mean())
        done = core.done
        joint2 = joint_state(core)
        for i, p in enumerate(method.pnns):
            p.add(d["joint"], d["moves"][:, i])
        method.volt.add(d["joint"], core.last["vm"])
        masks2 = method.masks(core)
        x2 = method.actor_inputs(venv, joint2)
        ac.store(state, d["x"], d["masks"], d["moves"], r, core.features(), x2, masks2, float(done))
        for _ in range(method.config.updates_per_step):
            ac.update()
    return total


__all__ = ["HOLD", "Seed002Method", "load_method", "policy_from_checkpoint", "train"]
