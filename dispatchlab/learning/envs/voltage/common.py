"""Parts the two voltage-control environments share: scenarios, regions and the step layout.

A *scenario* is one episode's profiles: load P/Q per load and available power per DER, one row
per step. The base profiles come from the Case's time series (resampled linearly when the
environment's step is finer) or, with ``days``, from the case's year pool
(:func:`dispatchlab.cases.scenarios.year_pool`: the case's own profile options, so a date
carries the same loads in the case, the pool and an episode). Each ``reset`` draws a day
and multiplies every series by seeded noise ``max(0, 1 + σ·N(0, 1))`` (per element and step),
so different seeds give different days and noise while one seed always gives the same
episode.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from dispatchlab.cases.case import Case
from dispatchlab.learning.envs.base import check_reset_options
from dispatchlab.learning.envs.voltage.config import ProfileConfig
from dispatchlab.learning.envs.voltage.costs import CostWeights
from dispatchlab.learning.envs.voltage.pf import MatOp


@dataclass
class Profiles:
    """Base profiles of every candidate day: arrays (day, step, element)."""

    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray
    avail_mw: np.ndarray  # available power of the DERs in ``der_ids`` order
    cap_mw: np.ndarray  # (element,) installed power: noise never lifts availability above it
    noisy: np.ndarray  # (element,) bool: availability from a series (PV, wind), so it gets noise
    labels: tuple[str, ...] = ()  # the date of each candidate day (YYYY-MM-DD)

    @property
    def n_steps(self) -> int:
        return self.load_p_mw.shape[1]

    def draw(
        self, rng: np.random.Generator, config: ProfileConfig, day: int | None = None
    ) -> tuple[np.ndarray, ...]:
        """One episode: (load_p, load_q, avail), each (step, element), from ``rng``; ``day``
        (an index into the candidate days) fixes the base day, the noise still comes from rng."""
        n_days = self.load_p_mw.shape[0]
        drawn = int(rng.integers(n_days))  # drawn even when fixed: the noise stream stays put
        day = drawn if day is None else check_day(day, n_days, self.labels)
        shape = self.load_p_mw.shape[1:]
        f_load = np.maximum(0.0, 1.0 + config.load_noise * rng.standard_normal(shape))
        res_shape = self.avail_mw.shape[1:]
        f_res = np.maximum(0.0, 1.0 + config.renewable_noise * rng.standard_normal(res_shape))
        f_res = np.where(self.noisy, f_res, 1.0)
        avail = np.minimum(self.avail_mw[day] * f_res, self.cap_mw)
        return self.load_p_mw[day] * f_load, self.load_q_mvar[day] * f_load, avail


def build_profiles(
    case: Case, der_ids: Sequence[int], dt_h: float, config: ProfileConfig
) -> Profiles:
    """Profiles on steps of ``dt_h`` hours for the loads and the DERs ``der_ids``.

    Without ``days`` the case's own series; with ``days`` those days of the case's year pool
    (:func:`~dispatchlab.cases.scenarios.year_pool` at the case's step: the same profile
    options, seed and annual scale, so a day carries the loads the case's series or the pool
    has on that date; ``load_profile`` … override the case's). DERs without a series keep
    their installed ``p_max_mw`` as available power. Loads are multiplied by ``load_scale``.
    Raises ValueError when the case has no time series and no ``days`` are given.
    """
    if dt_h <= 0:
        raise ValueError(f"dt_h must be positive, got {dt_h}")
    if config.load_scale <= 0:
        raise ValueError(f"ProfileConfig.load_scale must be positive, got {config.load_scale}")
    cases = [case] if config.days is None else _day_cases(case, config)
    parts = [_arrays(c, list(der_ids), dt_h) for c in cases]
    cap = case.table("ders").loc[list(der_ids), "p_max_mw"].to_numpy(float)
    ts = cases[0].timeseries
    cols = ts["der_p_max_mw"].columns if "der_p_max_mw" in ts else []
    noisy = np.isin(np.asarray(der_ids), np.asarray(cols, dtype=np.int64))
    load_p, load_q, avail = (np.stack([p[i] for p in parts]) for i in range(3))
    scale = _day_scales(case, load_p, config)[:, None, None]
    labels = tuple(str(c.timeseries.index[0].date()) for c in cases)
    return Profiles(load_p * scale, load_q * scale, avail, cap, noisy, labels)


def _day_scales(case: Case, load_p: np.ndarray, config: ProfileConfig) -> np.ndarray:
    """(day,) load factors: ``load_scale``, or each day's ``peak_scale`` × nominal / peak."""
    n_days = load_p.shape[0]
    if config.peak_scale is None:
        return np.full(n_days, float(config.load_scale))
    if config.days is None or len(config.peak_scale) != n_days:
        raise ValueError(
            f"ProfileConfig.peak_scale needs one value per day of ProfileConfig.days "
            f"({n_days if config.days else 'no days given'}), got {len(config.peak_scale)}"
        )
    loads = case.table("loads")
    nominal = loads.loc[loads["in_service"], "p_mw"].sum()
    peaks = load_p.sum(axis=2).max(axis=1)
    return np.asarray(config.peak_scale, float) * nominal / peaks * config.load_scale


def _day_cases(case: Case, config: ProfileConfig) -> list[Case]:
    """The case once per ``config.days``, each day sliced from the case's year pool."""
    from dispatchlab.cases.scenarios import select_days, year_pool

    ts = case.timeseries
    step = ts.step if ts is not None and len(ts) > 1 else pd.Timedelta("15min")
    names = ("load_profile", "pv_profile", "wind_profile")
    overrides = {n: getattr(config, n) for n in names if getattr(config, n) is not None}
    pool = year_pool(case, step=step, **overrides)
    out = []
    for day in config.days:
        try:
            out.append(select_days(pool, [day]))
        except (KeyError, ValueError) as err:
            raise ValueError(f"ProfileConfig.days: {day!r} is not a day of 2016 ({err})") from None
    return out


def _arrays(case: Case, der_ids: list[int], dt_h: float) -> tuple[np.ndarray, ...]:
    ts = case.timeseries
    if ts is None:
        raise ValueError(f"case '{case.name}' has no time series; attach profiles or give days")
    step_h = ts.step / pd.Timedelta(hours=1)
    n_steps = round(len(ts) * step_h / dt_h)
    if n_steps < 1 or abs(n_steps * dt_h - len(ts) * step_h) > 1e-9:
        raise ValueError(f"dt_h={dt_h} does not divide the case's horizon of {len(ts) * step_h} h")
    times = np.arange(n_steps) * dt_h / step_h  # positions on the series' step grid
    loads = case.table("loads")
    loads = loads[loads["in_service"]]
    ders = case.table("ders")

    def series(key: str, ids, fallback: np.ndarray) -> np.ndarray:
        frame = ts[key] if key in ts else pd.DataFrame(index=ts.index)
        cols = [
            frame[i].to_numpy() if i in frame.columns else np.full(len(ts), f)
            for i, f in zip(ids, fallback, strict=True)
        ]
        grid = np.arange(len(ts))
        return np.stack([np.interp(times, grid, c) for c in cols], axis=1).reshape(n_steps, -1)

    load_p = series("load_p_mw", loads.index, loads["p_mw"].to_numpy())
    load_q = series("load_q_mvar", loads.index, loads["q_mvar"].to_numpy())
    avail = series("der_p_max_mw", der_ids, ders.loc[der_ids, "p_max_mw"].to_numpy())
    return load_p, load_q, avail


def hop_regions(case: Case, buses: Sequence[int], hops: int) -> list[list[int]]:
    """For each bus: itself then every in-service-connected bus within ``hops`` branches."""
    br = case.table("branches")
    br = br[br["in_service"]]
    adj: dict[int, list[int]] = {}
    for f, t in zip(br["from_bus"], br["to_bus"], strict=True):
        adj.setdefault(int(f), []).append(int(t))
        adj.setdefault(int(t), []).append(int(f))
    out = []
    for bus in buses:
        seen, queue = {int(bus): 0}, deque([int(bus)])
        while queue:
            b = queue.popleft()
            if seen[b] < hops:
                for nb in adj.get(b, []):
                    if nb not in seen:
                        seen[nb] = seen[b] + 1
                        queue.append(nb)
        out.append(sorted(seen, key=lambda b: (seen[b], b)))
    return out


def incidence(positions: np.ndarray, n: int, scale: float = 1.0) -> MatOp:
    """(element × bus) matrix with ``scale`` at each element's bus: ``.right(rows)`` sums
    element values (rows = scenarios) onto buses."""
    k = len(positions)
    return MatOp(sp.csr_matrix((np.full(k, scale), (np.arange(k), positions)), shape=(k, n)))


def check_day(day, n_days: int, labels: Sequence[str] = ()) -> int:
    """``day`` (an index into the ``n_days`` candidate days, or one of their dates
    ``labels``) as an index, or a clear error."""
    if isinstance(day, str | pd.Timestamp) and labels:
        date = str(pd.Timestamp(day).date())
        if date not in labels:
            raise ValueError(
                f"reset(options={{'day': {day!r}}}): not one of the env's profile days "
                f"{list(labels)}"
            )
        return list(labels).index(date)
    if (
        isinstance(day, bool | str | pd.Timestamp)
        or not float(day).is_integer()
        or not 0 <= int(day) < n_days
    ):
        raise ValueError(
            f"reset(options={{'day': {day!r}}}): the day must be an integer in 0…{n_days - 1} "
            f"or one of the dates {list(labels)} "
            f"(the env's profile days: ProfileConfig.days, or the case's one series)"
        )
    return int(day)


def days_option(options: dict | None, n: int) -> list[int | None]:
    """Per-scenario base days from reset ``options``: ``{"day": d}`` (every scenario) or
    ``{"days": [d0, …]}`` (one per scenario); None where not given."""
    check_reset_options("a voltage env", options, ("day", "days"))
    options = options or {}
    if "days" in options:
        days = list(options["days"])
        if len(days) != n:
            raise ValueError(f"reset(options={{'days': …}}) needs {n} entries, got {len(days)}")
        return days
    return [options.get("day")] * n


def seeds_for(seed: int | Sequence[int] | None, n: int) -> list[int | None]:
    """Per-scenario seeds of a vectorised reset: an int s gives s, s+1, …, s+n−1."""
    if seed is None:
        return [None] * n
    if isinstance(seed, int | np.integer):
        return [int(seed) + i for i in range(n)]
    seeds = [int(s) for s in seed]
    if len(seeds) != n:
        raise ValueError(f"reset: got {len(seeds)} seeds for {n} environments")
    return seeds


def scenario_rngs(
    rngs: list[np.random.Generator], seed: int | Sequence[int] | None, n: int, default: int
) -> list[np.random.Generator]:
    """The n scenario RNGs after a reset with ``seed``: re-seeded where a seed is given, kept
    (or, on first use, seeded ``default + i``) where it is None."""
    if not rngs:
        rngs = [np.random.default_rng(default + i) for i in range(n)]
    return [
        np.random.default_rng(s) if s is not None else r
        for s, r in zip(seeds_for(seed, n), rngs, strict=True)
    ]


def check_agents(actions: dict, agents: Sequence[str]) -> None:
    """Every live agent must act and no unknown agent may: a clear error otherwise."""
    if not isinstance(actions, dict):
        raise TypeError(f"actions must be a dict agent -> action, got {type(actions).__name__}")
    missing = [a for a in agents if a not in actions]
    unknown = [a for a in actions if a not in agents]
    if missing or unknown:
        raise KeyError(
            f"actions: missing agent(s) {missing}, unknown agent(s) {unknown}; "
            f"expected exactly {list(agents)}"
        )


def numeric_action(actions: dict, agent: str) -> np.ndarray:
    """``actions[agent]`` as a float array; anything not numeric is an error naming the agent."""
    try:
        return np.asarray(actions[agent], dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"action for '{agent}' is not numeric: {actions[agent]!r}") from None


class SingleScenario:
    """``__init__`` / ``reset`` of the one-scenario voltage envs (mixed in before ``_Base``)."""

    def __init__(self, case=None, config=None, **options):
        self._setup(case, config, options, 1)

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode; ``options={"day": d}`` plays base day ``d`` of the profiles."""
        self.core.reset(self._rngs_for(seed, 1), days_option(options, 1))
        self.agents = list(self.possible_agents)
        info = {"time_step": 0}
        return self._observe(), {a: info for a in self.agents}


class VectorScenarios:
    """``__init__`` / ``reset`` / scenario-index check of the vectorized voltage envs (mixed in
    before the module's ``_Base``, which provides ``_setup``, ``_rngs_for`` and ``_observe``)."""

    def __init__(self, num_envs: int, case=None, config=None, **options):
        if not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.num_envs = int(num_envs)
        self._setup(case, config, options, self.num_envs)

    def reset(self, seed: int | list[int] | None = None, options: dict | None = None):
        """Start the episodes; ``options``: ``{"day": d}`` or ``{"days": [d0, …]}``."""
        self.core.reset(self._rngs_for(seed, self.num_envs), days_option(options, self.num_envs))
        self.agents = list(self.possible_agents)
        return self._observe(), {"time_step": 0}

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.num_envs:
            raise IndexError(f"index {index} outside 0…{self.num_envs - 1}")


def make_config(config: Any, options: dict, cls: type) -> Any:
    """A ``cls`` config from an optional base plus keyword overrides (dicts allowed for its
    ``weights`` / ``profiles``); an unknown option is an error listing the valid ones."""
    base = config if config is not None else cls()
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; valid: {sorted(names)}")
    subs = {"weights": CostWeights, "profiles": ProfileConfig}
    for key, sub in subs.items():
        if isinstance(options.get(key), dict):
            options[key] = sub(**options[key])
    if isinstance(options.get("profiles"), ProfileConfig) and options["profiles"].days:
        options["profiles"] = dataclasses.replace(
            options["profiles"], days=tuple(options["profiles"].days)
        )
    return dataclasses.replace(base, **options)


def load_env_case(case: Case | str | None, default: str) -> Case:
    """``case`` itself, the library case it names, or ``default`` when None."""
    from dispatchlab.cases.library import load_case

    if case is None:
        return load_case(default)
    return case if isinstance(case, Case) else load_case(case)


class VoltageEnvBase:
    """Construction and spaces shared by both voltage families' single and vector forms; a
    subclass names its ``config_cls`` and ``core_cls`` and builds its spaces (and the rest of
    its per-env state) in ``_make_spaces``."""

    config_cls: ClassVar[type]
    core_cls: ClassVar[type]
    _obs_spaces: dict
    _act_spaces: dict

    def _setup(self, case, config, options: dict, n_scen: int) -> None:
        self.config = make_config(config, options, self.config_cls)
        self.case = load_env_case(case, self.config.case)
        self.core = self.core_cls(self.case, self.config, n_scen)
        self.possible_agents = list(self.core.agents)
        self.agents: list[str] = []
        self._rngs: list[np.random.Generator] = []
        self._make_spaces()

    def _make_spaces(self) -> None:
        raise NotImplementedError

    def observation_space(self, agent: str) -> Any:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> Any:
        return self._act_spaces[agent]

    def _rngs_for(self, seed, n: int) -> list[np.random.Generator]:
        self._rngs = scenario_rngs(self._rngs, seed, n, self.config.seed)
        return self._rngs
