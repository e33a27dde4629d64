"""The safety layer between a learned DER-dispatch policy and the feeder: verify, repair, fall back.

For every decision of a ``der-dispatch`` environment (seed000), the proposed actions are

1. **verified** — mapped to MW as the environment will apply them, then checked by the AC power
   flow the environment itself runs (bus voltages, substation import range, branch ratings,
   convergence) and by the storage energy after the step against the eq.-3 SOC band;
2. **repaired** when any check fails — projected onto the feasible set by an exact solver: the
   mixed-integer LP (HiGHS via ``scipy.optimize.milp``) that minimizes Σ|P − P_proposed| / rated
   over the env's action set (integer levels in discrete mode) subject to the unit ranges, the
   SOC band (as bounds on P, exact because the energy update is monotone in P) and the network
   rows of the environment's oracle (voltages, substation, ratings linearized at the AC power
   flow of the proposal; from the second round on at the previous repair, tightened by its AC
   excess, as the oracle does), re-verified by the AC power flow;
3. **fallen back** to the exact centralized dispatch (``env.oracle()``) when the repair is
   still infeasible after ``max_rounds`` AC checks.

The shared protocol and its counting are in :mod:`dispatchlab.learning.safety.base`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from dispatchlab.learning.envs.der_dispatch.oracle import network_rows, tighten_margins
from dispatchlab.learning.safety.base import TOL, SafetyLayer, total


class DERDispatchSafetyLayer(SafetyLayer):
    """Verify / repair / fall back for a single-scenario ``DERDispatchEnv``; actions are the
    env's action array (n_units,)."""

    env_name = "der-dispatch"

    def __init__(self, env, *, max_rounds: int = 4, time_limit: float = 10.0):
        super().__init__(env, time_limit=time_limit)
        self.core = env.core
        self.max_rounds = max_rounds  #: AC checks of successive projections before falling back

    def filter(self, actions):
        """:meth:`SafetyLayer.filter` on the action array (n_units,) or on the PettingZoo
        dict agent -> action; the safe actions come back in the form they were given."""
        if not isinstance(actions, Mapping):
            return super().filter(np.asarray(actions))
        agents = self.env.possible_agents
        safe, outcome = super().filter(np.array([float(actions[a]) for a in agents]))
        as_int = self.core.cfg.action_mode == "discrete"
        return {
            a: int(v) if as_int else float(v) for a, v in zip(agents, safe, strict=True)
        }, outcome

    # --------------------------------------------------------------------------- checks
    def band_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per unit, the P range (MW) that keeps storage inside its SOC band this step."""
        c, u, g = self.core, self.core.units, self.core.grid
        lo, hi = c.lo[0].copy(), c.hi[0].copy()
        st = g.st_idx
        if len(st):
            e, dt = c.energy[0, st], c.dt_h
            up = (e - u.e_min_mwh[st]) * u.eff_discharge[st] / dt  # discharge down to e_min
            down = -(u.e_max_mwh[st] - e) / (u.eff_charge[st] * dt)  # charge up to e_max
            hi[st] = np.minimum(hi[st], np.maximum(up, 0.0))
            lo[st] = np.maximum(lo[st], np.minimum(down, 0.0))
        return lo, hi

    def verify_mw(self, p_mw: np.ndarray) -> tuple[dict, dict]:
        """AC power flow of outputs ``p_mw``: (violations by family, the flow)."""
        c, g = self.core, self.core.grid
        flow = g.power_flow(c.load_p[:1], c.load_q[:1], p_mw[None])
        viol = {k: float(v[0]) for k, v in g.violations(flow).items()}
        _, _, outside = c.rewards(p_mw[None], rows=slice(0, 1))
        viol["soc_mwh"] = float(outside.sum())
        return viol, flow

    def verify(self, actions: np.ndarray) -> dict[str, float]:
        """Violations by family if ``actions`` were applied now."""
        return self.verify_mw(self.outputs(actions))[0]

    def outputs(self, actions: np.ndarray) -> np.ndarray:
        """MW the env applies for ``actions`` (n_units,)."""
        return self.core.outputs(np.asarray(actions, float)[None])[0][0]

    # --------------------------------------------------------------------------- repair
    def repair(self, actions: np.ndarray, violations: dict[str, float]) -> np.ndarray | None:
        """Project onto the feasible set, re-checking by AC power flow up to ``max_rounds``."""
        g = self.core.grid
        margins = {
            "v_lo": np.zeros(g.n_bus),
            "v_hi": np.zeros(g.n_bus),
            "sub": np.zeros(2),
            "line": np.zeros(len(g.rated)),
        }
        p_prop = self.outputs(actions)
        p_ref = p_prop  # the rows are anchored at the AC flow of p_ref: no margin in round 1
        for _ in range(self.max_rounds):
            fixed = self._project(p_prop, p_ref, margins)
            if fixed is None:
                return None
            viol, flow = self.verify_mw(self.outputs(fixed))
            if total(viol) <= TOL:
                return fixed
            tighten_margins(g, flow, margins, apply=True)
            p_ref = self.outputs(fixed)
        return None

    def fallback(self) -> np.ndarray:
        """The oracle's action array for the current state."""
        oracle = self.env.oracle(time_limit=self.time_limit)
        return np.asarray(oracle.info["action_array"])

    def _project(self, p_prop, p_ref, margins) -> np.ndarray | None:
        """min Σ|P − P_prop|/rated over the action set, band and network rows (MILP)."""
        c = self.core
        n = c.units.n
        lo, hi = c.lo[0], c.hi[0]
        b_lo, b_hi = self.band_bounds()
        disc = c.cfg.action_mode == "discrete"
        # variables [P (n) | d (n) | level (n, discrete)]
        n_var = 3 * n if disc else 2 * n
        cost = np.zeros(n_var)
        cost[n : 2 * n] = 1.0 / np.maximum(c.units.rated_mw, 1e-9)
        vlo = np.r_[b_lo, np.zeros(n)]
        vhi = np.r_[b_hi, np.full(n, np.inf)]
        if np.any(vlo[:n] > vhi[:n] + 1e-12):
            return None
        eye = sp.identity(n, format="csr")
        rows = [sp.hstack([eye, eye]), sp.hstack([-eye, eye])]  # d ≥ |P − P_prop|
        r_lo, r_hi = [p_prop, -p_prop], [np.full(n, np.inf), np.full(n, np.inf)]
        net_a, net_lo, net_hi = network_rows(c, 0, p_ref, margins)
        # the oracle's rows are over bus injections; units map onto buses by incidence
        net_u = sp.csr_matrix(net_a) @ c.grid.unit_to_bus
        rows.append(sp.hstack([net_u, sp.csr_matrix((net_u.shape[0], n))]))
        r_lo.append(net_lo)
        r_hi.append(net_hi)
        integrality = np.zeros(n_var)
        if disc:
            step = (hi - lo) / (c.n_levels - 1)
            rows = [sp.hstack([r, sp.csr_matrix((r.shape[0], n))]) for r in rows]
            rows.append(sp.hstack([eye, sp.csr_matrix((n, n)), -sp.diags(step)]))
            r_lo.append(lo)
            r_hi.append(lo)
            vlo = np.r_[vlo, np.zeros(n)]
            vhi = np.r_[vhi, np.where(hi > lo, c.n_levels - 1, 0)]
            integrality[2 * n :] = 1
        res = milp(
            cost,
            integrality=integrality,
            bounds=Bounds(vlo, vhi),
            constraints=LinearConstraint(
                sp.vstack(rows).tocsr(), np.concatenate(r_lo), np.concatenate(r_hi)
            ),
            options={"time_limit": self.time_limit},
        )
        if res.x is None:
            return None
        if disc:
            return np.rint(res.x[2 * n :]).astype(np.int64)
        span = np.where(hi > lo, hi - lo, 1.0)
        return np.clip(2.0 * (res.x[:n] - lo) / span - 1.0, -1.0, 1.0)
