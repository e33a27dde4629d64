"""The exact per-step optimum of ``voltage-control-discrete``, for a discrete or continuous SVG.

* ``svg_mode="discrete"``: every joint position (11 · 5³ · 13 = 17 875 on ieee33-seed002) in
  one batched power flow; the cheapest is the exact optimum of the discrete problem.
* ``svg_mode="continuous"``: every tap × capacitor position (1 375) with the SVG Mvar optimised
  per position. The SVG levels of the discrete grid are evaluated first (one batched power
  flow, the same 17 875 rows); each position's best level brackets its continuous optimum
  (± one level), and a golden-section search runs on all 1 375 brackets at once — one
  batched power flow per iteration, ``GOLDEN_ITERATIONS`` of them (bracket 0.1 Mvar → below
  1e-5 Mvar). For a fixed position the step cost is convex in the SVG output to first order
  (losses quadratic, |V − 1| and the band excursion convex in V, V nearly linear in Q), so the
  search finds the position's minimum; the grid's best level is kept where it is cheaper, so
  the continuous optimum is never worse than the discrete one.
"""

from __future__ import annotations

import itertools

import numpy as np

GOLDEN_ITERATIONS = 24
_INVPHI = (np.sqrt(5.0) - 1.0) / 2.0


def all_positions(n_options: np.ndarray) -> np.ndarray:
    """(m, devices) every joint position, in product order (lowest first)."""
    return np.array(list(itertools.product(*(range(int(k)) for k in n_options))), np.int64)


def optimum(core, scen: int) -> tuple[np.ndarray, np.ndarray, dict, int]:
    """(positions, SVG Mvar (n_svg,), evaluation of the optimum, rows evaluated) at the
    current step of scenario ``scen``: the first of equals in product order."""
    grid = all_positions(core.n_options)
    out = core.evaluate_now(grid, scen)
    if core.config.svg_mode == "discrete":
        best = int(np.argmin(out["cost"]))
        return grid[best], core.svg_setting(grid[best : best + 1])[0], _row(out, best), len(grid)
    if core.n_svg != 1:
        raise ValueError(
            f"svg_mode='continuous': the oracle optimises one SVG, the case has {core.n_svg}"
        )
    levels = core.svg_q[0]
    n_lev = len(levels)
    cost = out["cost"].reshape(-1, n_lev)  # the SVG is the last (fastest) product axis
    positions = grid[::n_lev]
    j = cost.argmin(axis=1)
    lo = levels[np.maximum(j - 1, 0)]
    hi = levels[np.minimum(j + 1, n_lev - 1)]
    q, q_cost, rows = _golden(core, positions, scen, lo, hi)
    grid_best = cost[np.arange(len(j)), j]
    q = np.where(q_cost < grid_best, q, levels[j])
    final = core.evaluate_now(positions, scen, q[:, None])
    best = int(np.argmin(final["cost"]))
    pos = positions[best].copy()
    pos[-1] = core.svg_level(q[best : best + 1, None])[0, 0]
    return pos, q[best : best + 1], _row(final, best), len(grid) + rows + len(positions)


def _golden(core, positions, scen, lo, hi) -> tuple[np.ndarray, np.ndarray, int]:
    """Vectorised golden-section minimisation of the step cost over the SVG Mvar in
    ``[lo, hi]`` for every row of ``positions`` at once; (argmin, its cost, rows evaluated)."""

    def cost(q: np.ndarray) -> np.ndarray:
        return core.evaluate_now(positions, scen, q[:, None])["cost"]

    a, b = lo.astype(float), hi.astype(float)
    c, d = b - _INVPHI * (b - a), a + _INVPHI * (b - a)
    fc, fd = cost(c), cost(d)
    for _ in range(GOLDEN_ITERATIONS):
        left = fc < fd  # the minimum lies in [a, d]
        a, b = np.where(left, a, c), np.where(left, d, b)
        new = np.where(left, b - _INVPHI * (b - a), a + _INVPHI * (b - a))
        f_new = cost(new)
        c, d = np.where(left, new, d), np.where(left, c, new)
        fc, fd = np.where(left, f_new, fd), np.where(left, fc, f_new)
    q = np.where(fc < fd, c, d)
    return q, np.minimum(fc, fd), len(positions) * (GOLDEN_ITERATIONS + 2)


def _row(out: dict, i: int) -> dict:
    return {k: v[i] for k, v in out.items()}
