"""DER selection on ieee123-seed003 as a PettingZoo parallel game (seed003 §III-C, §V).

Every bus but the source has a 0.1 MW DER. Each episode draws random load centroids (a share
``centroid_share`` = 30 % of the load buses, their load × ``centroid_factor`` = 150 %,
seeded), then one agent per microgrid zone (:func:`~.lp.microgrid_zones`)
picks ``k`` of its zone's DERs at once: ``MultiDiscrete([n_zone] * k)``, indices into the
zone's DERs sorted by ``der_id`` (``env.zone_ders[agent]``). The chosen set is dispatched by
the reduced DRL-LP (seed003 eqs. 24–31; :func:`~.lp.solve_selection`) and
scored by its cost, with losses and limits reported. One step per episode: a new scenario at
each reset. A pick repeated by an agent counts once and is reported; an LP that the selection
makes infeasible is reported in ``violations["infeasible_selection"]`` and penalized.

Chosen (the paper does not say): the substation may not export (p0 ≥ 0), so the DERs serve the
feeder rather than sell to the grid at λ0; a centroid scales the load already at its bus.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from dispatchlab.learning.envs.base import Oracle, check_reset_options
from dispatchlab.learning.envs.der_selection.config import DERSelectionConfig
from dispatchlab.learning.envs.der_selection.lp import (
    microgrid_zones,
    network_check,
    solve_selection,
)
from dispatchlab.solvers.problems.linearized import dlmp_model

__all__ = ["DERSelectionConfig", "DERSelectionEnv"]


class DERSelectionEnv(ParallelEnv):
    """seed003's DER selection (see the module docstring and docs/env-der-selection.md)."""

    metadata: ClassVar[dict] = {"name": "der-selection", "render_modes": []}

    def __init__(self, config: DERSelectionConfig | None = None, *, case=None, **options: Any):
        from dispatchlab import load_case

        known = {f.name for f in dataclasses.fields(DERSelectionConfig)}
        if set(options) - known:
            raise TypeError(f"unknown option(s) {sorted(set(options) - known)}; known {known}")
        self.config = dataclasses.replace(config or DERSelectionConfig(), **options)
        base = load_case(self.config.case) if case is None else case
        self.case = base
        gens = base.gens
        if not self.config.substation_export:
            gens["p_min_mw"] = np.maximum(gens["p_min_mw"], 0.0)
        self._base = base.replace(gens=gens)
        self.zone_of_bus = microgrid_zones(
            base, self.config.n_zones, max(self.config.k, base.n_buses // (3 * self.config.n_zones))
        )
        model = dlmp_model(self._base)
        self.der_ids = model.der_ids
        self._der_bus = model.der_bus
        self.possible_agents = [f"mg_{z}" for z in range(self.config.n_zones)]
        zone = self.zone_of_bus[model.der_bus]
        self._zone_pos = {a: np.flatnonzero(zone == z) for z, a in enumerate(self.possible_agents)}
        self.zone_ders = {a: self.der_ids[p] for a, p in self._zone_pos.items()}
        small = {a: len(p) for a, p in self._zone_pos.items() if len(p) < self.config.k}
        if small:
            raise ValueError(f"zones with fewer than k={self.config.k} DERs: {small}")
        self.agents: list[str] = []
        self._rng = np.random.default_rng()
        self._model = None
        self.state_space = spaces.Box(-np.inf, np.inf, (4 * base.n_buses,), np.float32)

    # -------------------------------------------------------------------------- spaces
    @functools.cache  # noqa: B019 - one space object per agent (API test)
    def observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(-np.inf, np.inf, (5 * len(self._zone_pos[agent]) + 3,), np.float32)

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.MultiDiscrete:
        return spaces.MultiDiscrete([len(self._zone_pos[agent])] * self.config.k)

    # --------------------------------------------------------------------------- reset
    def reset(self, seed: int | None = None, options: dict | None = None):
        """Draw a scenario: ``options={"day": d}`` draws scenario ``d`` (the same as
        ``seed=d``: a day is its scenario seed, as in der-dispatch), ``{"centroids": [bus
        ids]}`` fixes the centroid buses; any other key is an error, never ignored."""
        options = options or {}
        check_reset_options("der-selection", options, ("day", "centroids"))
        day = options.get("day")
        if day is not None:
            if isinstance(day, bool) or not float(day).is_integer() or day < 0:
                raise ValueError(f"reset(options={{'day': {day!r}}}): a non-negative integer")
            seed = int(day)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        loads = self._base.loads
        buses = np.unique(loads.loc[loads["in_service"] & (loads["p_mw"] > 0), "bus"])
        chosen = options.get("centroids")
        if chosen is None:
            n = round(self.config.centroid_share * len(buses))
            chosen = np.sort(self._rng.choice(buses, n, replace=False))
        bad = sorted(set(np.asarray(chosen).tolist()) - set(buses.tolist()))
        if bad:
            raise ValueError(f"centroid bus(es) {bad} carry no load")
        self.centroids = np.asarray(chosen)
        at = loads["bus"].isin(self.centroids)
        loads.loc[at, ["p_mw", "q_mvar"]] *= self.config.centroid_factor
        self.scenario = self._base.replace(loads=loads)
        self._model = dlmp_model(self.scenario)
        self._lin = self._model.linearize(self._model.x_b)
        self.agents = list(self.possible_agents)
        info = {"centroid_buses": self.centroids.tolist()}
        return self._observations(), {a: info for a in self.agents}

    def _bus_load(self) -> np.ndarray:
        m = self._model
        return m.a_der @ np.zeros(len(m.der_ids)) - m.x_b  # MW withdrawn at each bus

    def _observations(self) -> dict[str, np.ndarray]:
        m, lin = self._model, self._lin
        load = self._bus_load()
        centroid = np.isin(m.net.bus_ids, self.centroids).astype(float)
        obs = {}
        for a, pos in self._zone_pos.items():
            bus = m.der_bus[pos]
            per_der = np.stack(
                [
                    m.der_cost[pos] / m.lam0,
                    lin["LF"][bus],
                    load[bus] / 0.1,
                    centroid[bus],
                    10.0 * (lin["V"][bus] - 1.0),
                ],
                axis=1,
            )
            zone_load = load[self.zone_of_bus == int(a[3:])].sum()
            cap = m.der_lim[1][pos].sum()
            summary = [zone_load / cap, centroid[bus].mean(), load.sum() / m.der_lim[1].sum()]
            obs[a] = np.r_[per_der.ravel(), summary].astype(np.float32)
        return obs

    def state(self) -> np.ndarray:
        """Per bus: load (MW × 10), centroid flag, loss factor, voltage at the base point."""
        if self._model is None:
            raise RuntimeError("call reset() first")
        m, lin = self._model, self._lin
        centroid = np.isin(m.net.bus_ids, self.centroids).astype(float)
        parts = [10.0 * self._bus_load(), centroid, lin["LF"], lin["V"]]
        return np.concatenate(parts).astype(np.float32)

    # ---------------------------------------------------------------------------- step
    def selection(self, actions: dict[str, Any]) -> tuple[np.ndarray, dict[str, int]]:
        """DER positions picked by the agents, and {agent: repeated picks}; bad actions raise."""
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise KeyError(f"no action for agent(s) {missing}")
        unknown = sorted(set(actions) - set(self.agents))
        if unknown:
            raise KeyError(f"action for unknown or finished agent(s) {unknown}")
        picked, repeats = [], {}
        for a in self.agents:
            raw = np.asarray(actions[a])
            n = len(self._zone_pos[a])
            if raw.shape != (self.config.k,) or not np.issubdtype(raw.dtype, np.integer):
                raise ValueError(f"action for '{a}' must be {self.config.k} integers, got {raw!r}")
            if raw.min() < 0 or raw.max() >= n:
                raise ValueError(
                    f"action for '{a}' picks {raw.tolist()}: indices must be 0…{n - 1}"
                )
            unique = np.unique(raw)
            if len(unique) < len(raw):
                repeats[a] = len(raw) - len(unique)
            picked.append(self._zone_pos[a][unique])
        return np.concatenate(picked), repeats

    def score(self, sel: np.ndarray) -> tuple[float, dict]:
        """(reward, info) of dispatching DER positions ``sel`` with the reduced LP."""
        c = self.config
        out = solve_selection(self._model, sel, c.iterations, self._lin)
        feasible = np.isfinite(out.objective)
        x = (
            out.x_mw
            if feasible
            else self._model.a_der[:, sel] @ self._model.der_lim[1][sel] - (self._model.demand)
        )
        check = network_check(self._model, x)
        violations = {
            "infeasible_selection": 0.0 if feasible else 1.0,
            "voltage_pu": check["voltage_pu"],
            "line_flow_mw": check["line_flow_mw"],
        }
        reward = -out.objective / c.cost_scale_usd_per_h if feasible else -c.penalty_infeasible
        metrics = {
            "cost_usd": out.objective / 60.0,  # one 1-minute market interval (seed003 §IV)
            "cost_usd_per_h": out.objective,
            "loss_mw": check["loss_mw"],
            "selected_ders": len(sel),
            "substation_p_mw": out.p0_mw,
            "lp_variables": out.n_vars,
            "lp_constraints": out.n_cons,
        }
        dispatch = dict(
            zip(self.der_ids[sel].tolist(), np.asarray(out.der_p_mw).tolist(), strict=False)
        )
        return float(reward), {
            "metrics": metrics,
            "violations": violations,
            "dispatch_mw": dispatch,
        }

    def evaluate(self, actions: dict[str, Any]) -> tuple[float, dict]:
        """(reward, info) of ``actions`` for the current scenario, without ending the episode."""
        if not self.agents:
            raise RuntimeError("call reset() first")
        sel, repeats = self.selection(actions)
        reward, info = self.score(sel)
        info["repeated_picks"] = repeats
        return reward, info

    def step(self, actions: dict[str, Any]):
        reward, info = self.evaluate(actions)
        agents = list(self.agents)
        self.agents = []
        obs = {a: np.zeros(self.observation_space(a).shape, np.float32) for a in agents}
        return (
            obs,
            dict.fromkeys(agents, reward),
            dict.fromkeys(agents, True),
            dict.fromkeys(agents, False),
            {a: info for a in agents},
        )

    # -------------------------------------------------------------------------- oracle
    def oracle(self) -> Oracle:
        """The full LP over all DERs (``solve(scenario, "dlmp")``); its action picks, per
        zone, the k DERs with the largest dispatch (ties: the larger DLMP − cost margin).

        The reduced LP over those k-per-zone DERs can still differ from the full optimum (the
        full one may use more than k DERs in a zone): ``info["gap_usd_per_h"]`` reports it.
        """
        from dispatchlab import solve

        if not self.agents:
            raise RuntimeError("call reset() first")
        res = solve(self.scenario, "dlmp", iterations=self.config.iterations)
        p = res.der["p_mw"].reindex(self.der_ids).to_numpy()
        dlmp = res.bus["dlmp_usd_per_mwh"].reindex(self._model.net.bus_ids).to_numpy()
        margin = dlmp[self._der_bus] - self._model.der_cost
        action = {}
        for a, pos in self._zone_pos.items():
            order = np.lexsort((-margin[pos], -np.round(p[pos], 9)))
            action[a] = np.sort(order[: self.config.k]).astype(np.int64)
        reward, info = self.score(self.selection(action)[0])
        full_check = network_check(self._model, self._model.a_der @ p - self._model.demand)
        info.update(
            full_objective_usd_per_h=res.objective,
            reduced_objective_usd_per_h=info["metrics"]["cost_usd_per_h"],
            gap_usd_per_h=info["metrics"]["cost_usd_per_h"] - res.objective,
            full_loss_mw=full_check["loss_mw"],
            full_ders_dispatched=int((p > 1e-6).sum()),
            reward=reward,
        )
        return Oracle(
            action=action, objective=res.objective, unit="usd_per_h", result=res, info=info
        )

    # --------------------------------------------------------------------- zones (DDMM)
    def set_zone_of_bus(self, zone_of_bus) -> None:
        """Re-zone the feeder between steps (seed003's DDMM merges and splits microgrids):
        ``zone_of_bus`` gives every bus a label 0 … n_zones−1; each zone needs ≥ k DERs.
        The agents' DER lists, observation and action spaces follow the new zones."""
        labels = np.asarray(zone_of_bus)
        if labels.shape != self.zone_of_bus.shape or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"zone_of_bus must be {self.zone_of_bus.shape} integers")
        if labels.min() < 0 or labels.max() >= self.config.n_zones:
            raise ValueError(f"zone labels must be 0 … {self.config.n_zones - 1}")
        zone = labels[self._der_bus]
        pos = {a: np.flatnonzero(zone == z) for z, a in enumerate(self.possible_agents)}
        small = {a: len(p) for a, p in pos.items() if len(p) < self.config.k}
        if small:
            raise ValueError(f"zones with fewer than k={self.config.k} DERs: {small}")
        self.zone_of_bus, self._zone_pos = labels.copy(), pos
        self.zone_ders = {a: self.der_ids[p] for a, p in pos.items()}
        type(self).observation_space.cache_clear()  # spaces depend on the zone sizes
        type(self).action_space.cache_clear()
