"""The safety layer of ``voltage-control`` (seed001): project onto the step's feasible set.

For every decision (P/Q set-points of the MT, PV, wind and SVC agents),

1. **verify** — :meth:`~dispatchlab.learning.envs.voltage.core.VoltageCore.check`, the
   environment's own step without advancing: what its projection would remove (P bounds and
   availability, ramp window, Q bounds, S-limit) and the AC power flow's excursion of every bus
   voltage outside the band, the five families the environment reports;
2. **clip** — a proposal that only leaves the device box (P above the availability or below
   its minimum, outside the ramp window, Q or S beyond the rating) while the power flow of the
   environment's own projection onto that box is in band: that projection, exactly what the
   environment would apply (for P and Q bounds the Euclidean projection onto the box). Counted
   as a clip, not a repair: an actor at full PV output on a cloudy hour asks for more than is
   available every hour, which says nothing about the voltages;
3. **repair** — the step AC-OPF of the oracle (:class:`~dispatchlab.learning.envs.voltage.
   oracle.StepOPF`) with the distance objective: min Σ_k (P_k − P̂_k)² + (Q_k − Q̂_k)² (MW,
   Mvar) over the same AC power balance, device limits, ramp window, S-limits and the hard
   voltage band (tightened by the oracle's ``margin_pu``) — the Euclidean projection of the
   proposal onto the step's feasible set (Ipopt; a local optimum of a non-convex problem, so it
   is verified again by the power flow like every repair). A proposal that only leaves the
   device box is projected onto the box exactly by this (the band is then inactive);
4. **fall back** — the oracle's per-step AC-OPF optimum.
"""

from __future__ import annotations

import numpy as np

from dispatchlab.learning.safety.base import SafetyLayer


class VoltageSafetyLayer(SafetyLayer):
    """Verify / repair / fall back for a single-scenario ``VoltageControlEnv``; actions are the
    env's dict agent -> ``[p_mw, q_mvar]`` (an SVC: ``[q_mvar]``)."""

    env_name = "voltage-control"

    def __init__(self, env, *, time_limit: float = 10.0):
        super().__init__(env, time_limit=time_limit)
        self.core = env.core
        self._projection = None  # the distance NLP, built on the first repair

    def setpoints(self, actions: dict) -> tuple[np.ndarray, np.ndarray]:
        """(agents,) requested P (MW) and Q (Mvar) of ``actions`` (the env's parser)."""
        p, q = self.env._parse(actions, 1)
        return p[0], q[0]

    def action(self, p: np.ndarray, q: np.ndarray) -> dict[str, np.ndarray]:
        """The env's action dict for set-points ``p``, ``q``."""
        c = self.core
        return {
            a: np.array([p[k], q[k]]) if c.has_p[k] else np.array([q[k]])
            for k, a in enumerate(self.env.possible_agents)
        }

    def verify(self, actions: dict) -> dict[str, float]:
        """Violations by family if ``actions`` were applied now (the env's own check); a
        proposal whose power flow does not converge (far beyond what the feeder can take) is
        one violation of infinite size, so it is repaired, never delivered."""
        p, q = self.setpoints(actions)
        try:
            *_, viol = self.core.check(p[None], q[None])
        except RuntimeError as err:
            if "power flow" not in str(err):
                raise
            return {"power_flow_diverged": float("inf")}
        return {k: float(v[0]) for k, v in viol.items()}

    def clip_to_box(self, actions: dict, violations: dict[str, float]) -> dict | None:
        """The env's own box projection of ``actions`` when the band holds after it (``verify``
        already ran the power flow of that projection), else ``None``."""
        if violations.get("voltage_band_pu", np.inf) > 0.0:
            return None
        p, q, _ = self.core.project(*(x[None] for x in self.setpoints(actions)))
        return self.action(p[0], q[0])

    def project(self, p_req: np.ndarray, q_req: np.ndarray) -> dict:
        """The distance NLP's answer for proposal (``p_req``, ``q_req``) (see StepOPF.solve)."""
        from dispatchlab.learning.envs.voltage.oracle import StepOPF

        if self._projection is None:
            self._projection = StepOPF(self.core, objective="distance")
        return self._projection.solve(0, proposal=(p_req, q_req))

    def repair(self, actions: dict, violations: dict[str, float]) -> dict | None:
        """The projection of ``actions`` onto the step's feasible set, or ``None``."""
        sol = self.project(*self.setpoints(actions))
        if not sol["success"]:
            return None
        c = self.core
        b = {k: v[0] for k, v in c.bounds().items()}
        # Ipopt stays inside the bounds up to its tolerance: clip so the env's projection is idle
        p = np.clip(sol["p_mw"], b["p_lo"], b["p_hi"])
        q = np.clip(sol["q_mvar"], c.q_min, c.q_max)
        cap = np.sqrt(np.maximum(c.s_max**2 - p**2, 0.0))
        return self.action(p, np.clip(q, -cap, cap))

    def fallback(self) -> dict:
        """The oracle's per-step AC-OPF action."""
        return self.env.oracle().action
