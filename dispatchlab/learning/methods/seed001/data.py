"""seed001's days: the extreme-scenario set of the case's year pool, split as the paper does.

§5.1 builds seasonal extreme-scenario sets by time-series K-means (silhouette k) and takes "the
summer cluster centre extreme scenario set" — seven JJA clusters — as its 7-day data set: six
random days train, one tests. We read it as:

* **paper days** — the centres of ``extreme_scenarios`` on the JJA days of
  ``year_pool(case, seed=1)`` with ``k_range=(7, 7)`` (the paper's seven summer clusters);
  ``n_train`` of them (seeded) train, the rest are the paper's test day(s);
* **coach days** — :attr:`ExtremeScenarios.coach_days` of the all-season set (silhouette k per
  season), less the test day(s): the cluster centres the reference policy is trained on;
* **held-out days** — the ``role == "extreme"`` days of the all-season set with
  ``heldout_per_cluster`` extremes per cluster, minus any day used in training: ≥ 20 days of
  every season the method never saw (the paper tests "all four seasons" without listing days).

Every day is a date string; environments get them as ``ProfileConfig.days`` and play one by
``reset(options={"day": date})``. A day outside these sets is a ``KeyError`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from dispatchlab.cases.case import Case
from dispatchlab.learning.checkpoint import CheckpointError
from dispatchlab.learning.methods.seed001.config import Seed001Config

JJA = ("2016-06-01", "2016-08-31")


@dataclass(frozen=True)
class DaySets:
    """The dates (YYYY-MM-DD) of every role; ``all`` is their union, the env's profile days."""

    train: tuple[str, ...]
    test: tuple[str, ...]
    coach: tuple[str, ...]
    heldout: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(sorted({*self.train, *self.test, *self.coach, *self.heldout}))

    def named(self, which: str | list[str]) -> tuple[str, ...]:
        """``"test"``, ``"heldout"``, ``"train"``, ``"coach"``, ``"all"`` or explicit dates; a
        date outside the sets is a KeyError naming it and the valid sets."""
        if isinstance(which, str) and which in ("train", "test", "coach", "heldout", "all"):
            return getattr(self, which)
        dates = which.split(",") if isinstance(which, str) else list(which)
        out = []
        for d in dates:
            try:
                date = str(pd.Timestamp(d.strip()).date())
            except ValueError:
                date = d.strip()
            if date not in self.all:
                raise KeyError(
                    f"day {d!r} is not in seed001's day pool (train, test, coach, held-out: "
                    f"{len(self.all)} dates); use one of train, test, coach, heldout, all or "
                    f"dates such as {self.heldout[:3]}"
                )
            out.append(date)
        return tuple(out)


def _dates(index) -> tuple[str, ...]:
    return tuple(str(pd.Timestamp(d).date()) for d in index)


@lru_cache(maxsize=8)
def _pool(case_name: str, pool_seed: int) -> Case:
    from dispatchlab.cases.library import load_case
    from dispatchlab.cases.scenarios import year_pool

    return year_pool(load_case(case_name), seed=pool_seed)


def pool_case(case_name: str, pool_seed: int = 1) -> Case:
    """``year_pool(load_case(case_name), seed=pool_seed)`` (cached: it is built once)."""
    return _pool(case_name, pool_seed)


@lru_cache(maxsize=8)
def day_sets(
    case_name: str,
    pool_seed: int = 1,
    n_train: int = 6,
    heldout_per_cluster: int = 3,
    seed: int = 0,
) -> DaySets:
    """The :class:`DaySets` of ``case_name`` (see the module docstring); ``seed`` picks the
    training days among the seven JJA centres."""
    from dispatchlab.cases.scenarios import extreme_scenarios, select_days

    pool = pool_case(case_name, pool_seed)
    summer = pd.date_range(*JJA, freq="D")
    jja = extreme_scenarios(select_days(pool, summer), n_per_cluster=2, k_range=(7, 7))
    paper = _dates(jja.coach_days)
    if not 0 < n_train < len(paper):
        raise ValueError(f"n_train must be in 1 … {len(paper) - 1}, got {n_train}")
    pick = np.random.default_rng(seed).permutation(len(paper))
    train = tuple(sorted(paper[i] for i in pick[:n_train]))
    test = tuple(sorted(paper[i] for i in pick[n_train:]))
    coach = tuple(sorted(set(_dates(extreme_scenarios(pool).coach_days)) - set(test)))
    wide = extreme_scenarios(pool, n_per_cluster=heldout_per_cluster)
    extreme = _dates(wide.table.loc[wide.table["role"] == "extreme", "day"])
    heldout = tuple(sorted(set(extreme) - set(train) - set(coach)))
    return DaySets(train, test, coach, heldout)


def make_day_env(config, days: tuple[str, ...], *, noise: bool = True, vector: int = 0):
    """``voltage-control`` on ``config.case`` with ``days`` as its profile days (pool seed
    ``config.pool_seed``). ``noise=False``: the days exactly as the pool has them (what the
    24-h optimum solves), else the env's default load / renewable noise. ``vector`` > 0: the
    vector env with that many scenarios."""
    from dispatchlab.learning.envs.voltage.env import VectorVoltageControlEnv, VoltageControlEnv

    profiles = {"days": tuple(days)}
    # the sweep stalls near 1e-9 p.u. (0.01 W) when DERs push reverse flow into the head; the
    # env's default 1e-9 then reports a diverged flow that is converged to every printed digit
    tol = {"tol_pu": 1e-7}
    if not noise:
        profiles |= {"load_noise": 0.0, "renewable_noise": 0.0}
    case = pool_case(config.case, config.pool_seed)
    if vector:
        return VectorVoltageControlEnv(vector, case=_one_day(case), profiles=profiles, **tol)
    return VoltageControlEnv(case=_one_day(case), profiles=profiles, **tol)


def _one_day(pool: Case) -> Case:
    """The pool case with its first day only (the env re-slices ``days`` from the pool the
    case's profile options give; a 366-day series would only slow its construction)."""
    from dispatchlab.cases.scenarios import select_days

    return select_days(pool, [pool.timeseries.index[0]])


def check_agents(header: dict, agents: list[str], path: Any) -> None:
    """The checkpoint's agent set must be the env's: a CheckpointError naming both."""
    saved = list(header.get("meta", {}).get("agents", []))
    if saved != list(agents):
        raise CheckpointError(
            f"{path}: checkpoint agents {saved} (case '{header['config'].get('case')}') differ "
            f"from this environment's agents {list(agents)}"
        )


def diverged_step(env, actions: dict, config: Seed001Config) -> tuple:
    """``env.step(actions)``; in training a power flow that does not converge (a set-point far
    outside what the feeder can take) ends the day with ``diverged_cost`` per agent instead of
    stopping the run: the learner must see that such actions are the worst it can do."""
    try:
        return env.step(actions)
    except RuntimeError as err:
        if "power flow" not in str(err):
            raise
    agents = list(env.possible_agents)
    env.agents = []
    cost = config.diverged_cost
    info = {"metrics": {"cost": cost}, "diverged": True}
    return {}, dict.fromkeys(agents, -cost), dict.fromkeys(agents, True), \
        dict.fromkeys(agents, True), dict.fromkeys(agents, info)  # fmt: skip
