"""DER selection on ieee123-seed003 as a PettingZoo parallel game (seed003 §III-C, §IV, §V).

Every bus but the source has a 0.1 MW DER. Each episode draws random load centroids (a share
``centroid_share`` = 30 % of the load buses get an extra ``centroid_factor`` − 1 = 50 % of
their load, seeded; at ``reset(options={"minute": t})`` the extra load follows the case's
1-minute profile at minute t), then one agent per microgrid zone
(:func:`~.lp.microgrid_zones`) picks ``k`` of its zone's DERs at once:
``MultiDiscrete([n_zone] * k)``, indices into the zone's DERs sorted by ``der_id``
(``env.zone_ders[agent]``). The chosen set is dispatched by the reduced DRL-LP (seed003 eqs.
24–31; :func:`~.lp.solve_selection`) and scored by its cost, with losses and limits reported.
One step per episode: a new scenario at each reset.

Market (``market``): "balancing" (default, seed003 §IV's 1-minute balancing market): the
full LP over all DERs sets a base schedule for the static loads (``env.base_mw``); each step
only the selected DERs (and the substation) move, to balance the centroids' real-time
deviation, every other DER stays at its base. "dispatch": the selected DERs carry the whole
load and the others are off (with every DER cheaper than λ0 and no export, the full LP runs
40–42 DERs, so k = 3 per zone cannot reach it: 62 % gap on seed 0). A pick repeated by an
agent counts once and is reported; an LP that the selection makes infeasible is reported in
``violations["infeasible_selection"]`` and penalized.

Chosen (the paper does not say): the substation may not export (p0 ≥ 0), so the DERs serve the
feeder rather than sell to the grid at λ0; a centroid scales the load already at its bus.
Tie lines (:mod:`~.market`): ``tie_limits_mw`` limits branches between zones; ``congestion``
limits the paper's tie "120–36" (line 135–35) to ≈ 98 % of its unconstrained peak flow.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from gymnasium import spaces
from pettingzoo import ParallelEnv

from dispatchlab.learning.envs.base import Oracle, check_reset_options
from dispatchlab.learning.envs.der_selection.config import DERSelectionConfig
from dispatchlab.learning.envs.der_selection.lp import (
    microgrid_zones,
    network_check,
    solve_selection,
)
from dispatchlab.learning.envs.der_selection.market import (
    centroid_profile,
    check_tie_limits,
    paper_tie,
    tie_peak_flow,
)
from dispatchlab.solvers.certificate import RepairOptions
from dispatchlab.solvers.problems.drl_lp import DRLLPOutcome, drl_lp, drl_lp_ac
from dispatchlab.solvers.problems.linearized import DLMPModel, dlmp_model, dlmp_result

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
        self._net, self._rating = model.net, model.flow_limits.copy()
        self._prices = (model.lam0, model.p0_lim, model.v_limits)
        self.der_ids = model.der_ids
        self._der_bus = model.der_bus
        self._der_max = model.der_lim[1]
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
        self.tie_limits_mw = dict(self.config.tie_limits_mw or {})
        check_tie_limits(base, self.zone_of_bus, self.tie_limits_mw)
        self.tie_peak: dict[int, tuple[float, int]] = {}  #: tie -> (unconstrained peak MW, minute)
        self._set_base()
        if self.config.congestion:  # seed003 §V-C: the tie "120–36" at 98 % of its peak
            tie = paper_tie(base, self.zone_of_bus)
            self.tie_peak[tie] = tie_peak_flow(self, tie)
            self.tie_limits_mw[tie] = self.config.tie_limit_share * self.tie_peak[tie][0]
            self._set_base()

    # ------------------------------------------------------------------- market set-up
    @property
    def balancing(self) -> bool:
        return self.config.market == "balancing"

    @property
    def lp_base(self) -> np.ndarray | None:
        """What the DERs left out are fixed at in the LP: the base schedule (balancing) or
        None (dispatch: at 0)."""
        return self.base_mw if self.balancing else None

    def model_for(self, case) -> DLMPModel:
        """The DLMP LP data of ``case`` (a scenario of this env) on the env's network and
        limits (the tie limits included), without re-inverting the network."""
        limits = self._rating.copy()
        for branch, mw in self.tie_limits_mw.items():
            limits[np.flatnonzero(self._net.branch_ids == branch)] = mw
        m = DLMPModel(case, self._net, limits, self._prices[2])
        m.lam0, m.p0_lim = self._prices[0], self._prices[1]
        return m

    def _set_base(self) -> None:
        """The base schedule: the full LP over all DERs at the static loads (balancing)."""
        self.base_mw = np.zeros(len(self.der_ids))
        self.base_objective = np.nan
        if not self.balancing:
            return
        model = self.model_for(self._base)
        out = solve_selection(model, np.arange(len(self.der_ids)), self.config.iterations)
        if not np.isfinite(out.objective):
            raise ValueError(
                f"case '{self.case.name}': the base schedule (the full LP at the static loads) "
                f"is {out.status.value}; the balancing market needs a feasible base"
            )
        self.base_mw, self.base_objective = out.der_p_mw, out.objective

    def scenario_case(self, centroids, minute: int | None = None):
        """The case of one step: the centroids' loads raised by ``centroid_factor`` − 1 times
        their load (at ``minute`` of the profile, else their static load), the DERs' set-points
        at the base schedule (balancing)."""
        loads, ders = self._base.loads, self._base.ders
        at = loads.index[loads["bus"].isin(np.asarray(centroids)) & loads["in_service"]]
        extra = loads.loc[at, ["p_mw", "q_mvar"]]
        if minute is not None:
            p, q = centroid_profile(self.case, [minute])
            extra = pd.DataFrame({"p_mw": p.iloc[0], "q_mvar": q.iloc[0]}).reindex(at)
            extra = extra.fillna(loads.loc[at, ["p_mw", "q_mvar"]])  # loads without a series
        loads.loc[at, ["p_mw", "q_mvar"]] += (self.config.centroid_factor - 1.0) * extra
        ders.loc[self.der_ids, "p_mw"] = self.base_mw
        return self._base.replace(loads=loads, ders=ders)

    def drl_lp(
        self,
        sel: np.ndarray,
        options: RepairOptions | None = None,
        *,
        ac: bool = False,
        ac_corrections: int = 3,
    ) -> DRLLPOutcome:
        """seed003's certified DRL-LP over DER positions ``sel`` for the current scenario,
        the others at their base (balancing) or 0 (dispatch): the core of
        ``solve(scenario, "drl_lp")`` — the reduced LP, its reduced-cost certificate and the
        repair, so the answer is the full LP's optimum at the env's linearization. ``sel`` =
        every DER gives the full LP on the same path. DLMPs: ``env.dlmp(outcome)``.

        ``ac=True`` (off by default: an AC power flow costs ~0.5 s, training steps call this
        thousands of times) checks the dispatch by AC power flow and corrects the violated
        flow / voltage limits as ``solve(scenario, "drl_lp")`` does (:func:`drl_lp_ac`):
        ``outcome.ac_check`` and ``outcome.ac_corrections`` (a violation left is warned of)."""
        if self._model is None:
            raise RuntimeError("call reset() first")
        kw = {"base_mw": self.lp_base, "iterations": self.config.iterations, "options": options}
        if not ac:
            return drl_lp(self._model, self._lin, sel, **kw)
        out, _, _ = drl_lp_ac(
            self.scenario, self._model, self._lin, sel, max_corrections=ac_corrections, **kw
        )
        return out

    def dlmp(self, outcome: DRLLPOutcome) -> pd.DataFrame:
        """DLMP and its energy / loss / congestion / voltage parts (seed003 eq. 32) at every bus
        from the certified duals of :meth:`drl_lp`."""
        return self._model.components(outcome.sol)

    # -------------------------------------------------------------------------- spaces
    @functools.cache  # noqa: B019 - one space object per agent (API test)
    def observation_space(self, agent: str) -> spaces.Box:
        per_der = 6 if self.balancing else 5  # balancing: + the DER's base / p_max
        return spaces.Box(-np.inf, np.inf, (per_der * len(self._zone_pos[agent]) + 3,), np.float32)

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.MultiDiscrete:
        return spaces.MultiDiscrete([len(self._zone_pos[agent])] * self.config.k)

    # --------------------------------------------------------------------------- reset
    def reset(self, seed: int | None = None, options: dict | None = None):
        """Draw a scenario: ``options={"day": d}`` draws scenario ``d`` (the same as
        ``seed=d``: a day is its scenario seed, as in der-dispatch), ``{"centroids": [bus
        ids]}`` fixes the centroid buses, ``{"minute": t}`` takes the centroids' extra load
        from minute t of the case's 1-minute profile; any other key is warned about."""
        options = options or {}
        check_reset_options("der-selection", options, ("day", "centroids", "minute"))
        day, minute = options.get("day"), options.get("minute")
        if day is not None:
            if isinstance(day, bool) or not float(day).is_integer() or day < 0:
                raise ValueError(f"reset(options={{'day': {day!r}}}): a non-negative integer")
            seed = int(day)
        if minute is not None and (isinstance(minute, bool) or not float(minute).is_integer()):
            raise ValueError(f"reset(options={{'minute': {minute!r}}}): a whole minute ≥ 0")
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
        self.minute = None if minute is None else int(minute)
        self.scenario = self.scenario_case(self.centroids, self.minute)
        self._model = self.model_for(self.scenario)
        self._lin = self._model.linearize(self._model.x_b)
        self.agents = list(self.possible_agents)
        info = {"centroid_buses": self.centroids.tolist(), "minute": self.minute}
        return self._observations(), {a: info for a in self.agents}

    def _bus_load(self) -> np.ndarray:
        return self._model.demand  # MW withdrawn at each bus besides the DERs

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
                    *([self.base_mw[pos] / self._der_max[pos]] if self.balancing else []),
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
        c, m = self.config, self._model
        out = solve_selection(m, sel, c.iterations, self._lin, self.lp_base)
        feasible = np.isfinite(out.objective)
        if feasible:
            x = out.x_mw
        else:  # report the limits with the selected DERs at full output
            p = self.base_mw.copy()
            p[sel] = m.der_lim[1][sel]
            x = m.a_der @ p - m.demand
        check = network_check(m, x)
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
            "redispatch_mw": float(np.abs(out.der_p_mw - self.base_mw[sel]).sum()),
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
        """The full LP over all DERs (``solve(scenario, "dlmp")``'s, linearized at the
        scenario's set-points: the base schedule in the balancing market); its action picks,
        per zone, the k DERs that move most from their base (dispatch: the largest outputs;
        ties: the larger DLMP − cost margin).

        The reduced LP over those k-per-zone DERs can still differ from the full optimum (the
        full one may move more than k DERs in a zone): ``info["gap_usd_per_h"]`` reports it.
        """
        if not self.agents:
            raise RuntimeError("call reset() first")
        # solve(scenario, "dlmp", flow_limits_mw=ties) on the env's model: no network rebuild
        res = dlmp_result(self.scenario, self._model, self.config.iterations)
        if not res.optimal:  # no dispatch of all DERs meets the limits: no pick can
            return self._infeasible_oracle(res)
        p = res.der["p_mw"].reindex(self.der_ids).to_numpy()
        dlmp = res.bus["dlmp_usd_per_mwh"].reindex(self._model.net.bus_ids).to_numpy()
        margin = dlmp[self._der_bus] - self._model.der_cost
        move = np.abs(p - self.base_mw)
        action = {}
        for a, pos in self._zone_pos.items():
            order = np.lexsort((-margin[pos], -np.round(move[pos], 9)))
            action[a] = np.sort(order[: self.config.k]).astype(np.int64)
        reward, info = self.score(self.selection(action)[0])
        full_check = network_check(self._model, self._model.a_der @ p - self._model.demand)
        info.update(
            full_objective_usd_per_h=res.objective,
            reduced_objective_usd_per_h=info["metrics"]["cost_usd_per_h"],
            gap_usd_per_h=info["metrics"]["cost_usd_per_h"] - res.objective,
            full_loss_mw=full_check["loss_mw"],
            full_ders_dispatched=int((p > 1e-6).sum()),
            full_ders_moved=int((move > 1e-6).sum()),
            reward=reward,
        )
        return Oracle(
            action=action, objective=res.objective, unit="usd_per_h", result=res, info=info
        )

    def _infeasible_oracle(self, res) -> Oracle:
        """The full LP is infeasible: the k DERs with the most headroom per zone, scored (and
        reported as violating) so that a fallback to it is delivered and counted."""
        room = self._der_max - self.base_mw
        action = {
            a: np.sort(np.argsort(-room[pos], kind="stable")[: self.config.k]).astype(np.int64)
            for a, pos in self._zone_pos.items()
        }
        reward, info = self.score(self.selection(action)[0])
        info.update(full_status=res.status.value, full_objective_usd_per_h=np.nan, reward=reward)
        return Oracle(action=action, objective=np.nan, unit="usd_per_h", result=res, info=info)

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
