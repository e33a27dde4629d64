"""The safety layer of ``voltage-control-discrete`` (seed002): the nearest feasible joint position.

For every decision (OLTC tap, capacitor steps, SVG level — absolute positions),

1. **verify** — the environment's own batched radial power flow of the proposed positions
   (:meth:`~dispatchlab.learning.envs.voltage.discrete_core.DiscreteVoltageCore.evaluate_now`)
   gives the summed excursion of every bus voltage outside ``[v_min_pu, v_max_pu]``, the one
   violation family the environment reports;
2. **repair** — every joint position within L1 distance ``radius`` of the proposal (in
   position steps: one tap, one capacitor stage, one SVG level each count 1) is evaluated in
   ONE batched power flow; of the feasible ones the layer delivers the one with the smallest
   L1 change, ties broken by the fewest devices operated, then by the step cost. Within the
   radius this is exact (an enumeration, no heuristic); ``None`` when no position in the ball
   is feasible;
   With ``neighbourhood="hamming"`` (seed002's layer, issue 17) the repair instead evaluates
   every joint position that differs from the proposal in at most ``radius`` devices (any
   position each; 1 + 34 + 432 = 467 candidates at radius 2 on ieee33-seed002) in one batched
   power flow and delivers the **cheapest** feasible one;
3. **fall back** — the oracle's exhaustive optimum over all joint positions (its cheapest;
   with the band penalty in the cost it is feasible whenever any position is).

With ``svg_mode="continuous"`` the SVG proposal is first clipped to its limits (the env
itself rejects an output outside them) and held there; the repair enumerates the L1 ball over
the discrete devices only (tap, capacitors) with that SVG output, and the fall back is the
oracle with the SVG optimised per position.
"""

from __future__ import annotations

import itertools

import numpy as np

from dispatchlab.learning.safety.base import TOL, SafetyLayer


def l1_ball(n_dims: int, radius: int) -> np.ndarray:
    """(m, n_dims) integer offsets with Σ|d| ≤ ``radius``, sorted by L1 norm (0 first)."""
    if radius < 0:
        raise ValueError(f"radius must be ≥ 0, got {radius}")
    offsets = np.array(list(itertools.product(range(-radius, radius + 1), repeat=n_dims)))
    offsets = offsets[np.abs(offsets).sum(axis=1) <= radius]
    return offsets[np.argsort(np.abs(offsets).sum(axis=1), kind="stable")]


def hamming_ball(pos: np.ndarray, n_options: np.ndarray, radius: int, hold_last: bool = False):
    """(m, devices) every joint position that differs from ``pos`` in ≤ ``radius`` devices
    (``hold_last``: the last device, a continuous SVG, never changes); ``pos`` first."""
    dims = len(pos) - (1 if hold_last else 0)
    rows = [pos[None, :]]
    for k in range(1, radius + 1):
        for devices in itertools.combinations(range(dims), k):
            others = [[v for v in range(int(n_options[d])) if v != pos[d]] for d in devices]
            for values in itertools.product(*others):
                row = pos.copy()
                row[list(devices)] = values
                rows.append(row[None, :])
    return np.concatenate(rows)


class DiscreteVoltageSafetyLayer(SafetyLayer):
    """Verify / repair / fall back for a single-scenario ``DiscreteVoltageControlEnv``;
    actions are the env's dict agent -> integer position."""

    env_name = "voltage-control-discrete"

    def __init__(
        self, env, *, radius: int = 4, time_limit: float = 10.0, neighbourhood: str = "l1"
    ):
        super().__init__(env, time_limit=time_limit)
        if neighbourhood not in ("l1", "hamming"):
            raise ValueError(f"neighbourhood must be 'l1' or 'hamming', got {neighbourhood!r}")
        self.neighbourhood = neighbourhood
        self.core = env.core
        self.radius = radius  #: L1 distance (position steps) the repair searches
        self.continuous = env.config.svg_mode == "continuous"
        dims = len(self.core.n_options)
        self._ball = l1_ball(dims, radius)
        if self.continuous:  # the SVG column stays put: it is held at the clipped proposal
            self._ball = l1_ball(dims - self.core.n_svg, radius)
            self._ball = np.c_[self._ball, np.zeros((len(self._ball), self.core.n_svg), int)]

    def clip(self, actions: dict) -> dict:
        """``actions`` with a continuous SVG output clipped to its limits (others unchanged)."""
        if not self.continuous:
            return actions
        out = dict(actions)
        for i, agent in enumerate(self.env._svg_agents):
            if agent in out:
                q = np.asarray(out[agent], dtype=float).reshape(-1)
                out[agent] = np.clip(q, self.core.svg_lo[i], self.core.svg_hi[i])
        return out

    def positions(self, actions: dict) -> np.ndarray:
        """(agents,) positions of ``actions`` (the env's parser: bad actions raise; a
        continuous SVG counts as its nearest level)."""
        return self.parsed(actions)[0]

    def parsed(self, actions: dict) -> tuple[np.ndarray, np.ndarray]:
        """((agents,) positions, (n_svg,) SVG Mvar) of ``actions`` after :meth:`clip`."""
        pos, svg = self.env._parse(self.clip(actions), 1)
        return pos[0], svg[0]

    def action(self, pos: np.ndarray, svg: np.ndarray | None = None) -> dict:
        """The env's action dict for positions ``pos`` (and continuous SVG Mvar ``svg``)."""
        out = {a: int(p) for a, p in zip(self.env.possible_agents, pos, strict=True)}
        if self.continuous:
            svg = self.core.svg_setting(pos[None, :])[0] if svg is None else svg
            for i, agent in enumerate(self.env._svg_agents):
                out[agent] = np.array([float(svg[i])])
        return out

    def verify(self, actions: dict) -> dict[str, float]:
        """The voltage-band excursion (p.u., summed over buses) of ``actions`` now (a
        continuous SVG output is clipped to its limits first)."""
        pos, svg = self.parsed(actions)
        out = self.core.evaluate_now(pos, svg=svg[None, :])
        return {"voltage_band_pu": float(out["voltage_band_pu"][0])}

    def candidates(self, pos: np.ndarray) -> np.ndarray:
        """The joint positions within the L1 ball (or Hamming ball) around ``pos`` (inside
        every device range)."""
        if self.neighbourhood == "hamming":
            return hamming_ball(pos, self.core.n_options, self.radius, self.continuous)
        grid = pos[None, :] + self._ball
        inside = ((grid >= 0) & (grid < self.core.n_options[None, :])).all(axis=1)
        return grid[inside]

    def nearest_feasible(
        self, pos: np.ndarray, svg: np.ndarray | None = None
    ) -> tuple[np.ndarray | None, int]:
        """(the nearest feasible position, how many were evaluated); ``None`` if none is.
        ``svg``: the held continuous SVG Mvar (None: the SVG levels of the positions)."""
        grid = self.candidates(pos)
        held = None if svg is None else np.broadcast_to(svg, (len(grid), len(svg)))
        out = self.core.evaluate_now(grid, svg=held)  # one batched power flow for the ball
        ok = np.flatnonzero(out["voltage_band_pu"] <= TOL)
        if len(ok) == 0:
            return None, len(grid)
        if self.neighbourhood == "hamming":  # the cheapest feasible position of the ball
            return grid[ok[np.argmin(out["cost"][ok])]], len(grid)
        delta = grid[ok] - pos
        order = np.lexsort((out["cost"][ok], (delta != 0).sum(axis=1), np.abs(delta).sum(axis=1)))
        return grid[ok[order[0]]], len(grid)

    def repair(self, actions: dict, violations: dict[str, float]) -> dict | None:
        """The feasible joint position nearest the proposal (module docstring), or ``None``."""
        pos, svg = self.parsed(actions)
        held = svg if self.continuous else None
        best, _ = self.nearest_feasible(pos, held)
        return None if best is None else self.action(best, held)

    def fallback(self) -> dict:
        """The oracle's exhaustive optimum for the current state."""
        return self.env.oracle().action
