"""seed002 §3.2: the sensitivity-driven regulation of the SVG, ΔQ_SVG = S_VQ⁻¹ ΔV.

S_VQ = ∂|V|/∂Q is the reduced Jacobian of the Newton–Raphson power flow (eq. 7–16),
:func:`dispatchlab.solvers.sensitivity.voltage_q_sensitivity`, evaluated on the Case with the
devices' current tap and capacitor setting (nominal loads) and cached per setting (a power flow
per new setting, not per step). Per step:

1. the voltages the discrete moves will give are predicted to first order from the measured ones:
   ΔV = S_VQ[:, caps] ΔQ_caps for the capacitor stages, V·τ_old/τ_new for the OLTC ratio
   (the ratio sits at the root side, so the feeder sees V_root/τ);
2. every bus i bounds the SVG change through its column entry s_i = S_VQ[i, svg] > 0:
   V_i + s_i ΔQ ∈ [V_lo, V_hi] ⇔ ΔQ ∈ [(V_lo − V_i)/s_i, (V_hi − V_i)/s_i]. On the violating buses
   this is the paper's ΔQ = S_VQ⁻¹ ΔV (one SVG: the inverse is per bus, and the largest
   correction clears every violating bus);
3. the intersection [a, b] of the bounds is where every bus lies in the (margin-narrowed) band;
   the SVG moves to the point of [a, b] nearest its resting output 0 Mvar (the smallest
   correction when a bus violates; a return towards 0, which sheds the SVG's extra losses,
   when none does). If no ΔQ satisfies every bus (a > b), it takes the middle (a + b)/2,
   balancing the over- and under-voltage; the result is clipped to [q_min, q_max].
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_CACHE: dict[tuple, np.ndarray] = {}  #: S_VQ per (case, DG size, key, setting), per process


class SensitivityRegulator:
    """The SVG set-point from measured voltages, positions and the planned discrete moves."""

    def __init__(self, core, margin_pu: float, key: str = "tap"):
        if key not in ("tap", "tap-cap"):
            raise ValueError(f"sensitivity key must be 'tap' or 'tap-cap', got {key!r}")
        if core.n_svg != 1:
            raise ValueError(f"the seed002 regulation drives one SVG; the case has {core.n_svg}")
        self.core, self.margin = core, margin_pu
        ders = core.case.table("ders")
        ders = ders[ders["in_service"]]
        self.cap_ids = ders.index[ders["kind"] == "capacitor"]
        svg = ders[ders["kind"] == "svg"]
        self.svg_bus = int(svg["bus"].iloc[0])
        self.cap_buses = ders.loc[self.cap_ids, "bus"].astype(int).to_numpy()
        self.key = key
        cfg = core.config
        self._case_key = (core.case.name, cfg.dg_p_max_mw, key)
        self.power_flows = 0  #: sensitivity power flows run (cache misses)

    def matrix(self, pos: np.ndarray) -> np.ndarray:
        """(n_bus, n_bus) S_VQ (p.u. per Mvar) in the env's bus order (root row/col 0) at the
        tap / capacitor setting of ``pos`` (cached)."""
        from dispatchlab.solvers.sensitivity import voltage_q_sensitivity

        k = 1 if self.key == "tap" else len(self.core.options) - self.core.n_svg
        key = (*self._case_key, *(int(p) for p in pos[:k]))
        if key not in _CACHE:
            at = pos.copy()
            if self.key == "tap":  # the capacitors off: the column moves 1.1 % with them
                at[1:] = 0
            frame = voltage_q_sensitivity(self._case_at(at))
            ids = pd.Index(self.core.flow.bus_ids)
            _CACHE[key] = frame.reindex(index=ids, columns=ids).fillna(0.0).to_numpy()
            self.power_flows += 1
        return _CACHE[key]

    def _case_at(self, pos: np.ndarray):
        c = self.core
        branches = c.case.table("branches").copy()
        branches.loc[c.flow.head_branch(), "tap_ratio"] = float(c.taps[pos[0]])
        ders = c.case.table("ders").copy()
        for i, der_id in enumerate(self.cap_ids):
            ders.loc[der_id, "q_mvar"] = float(c.cap_q[i][pos[1 + i]])
        return c.case.replace(branches=branches, ders=ders)

    def predict(self, vm: np.ndarray, pos: np.ndarray, new_pos: np.ndarray) -> np.ndarray:
        """(n,) voltages after moving from ``pos`` to ``new_pos`` (first order, step 1)."""
        c = self.core
        s = self.matrix(pos)
        cols = [c.flow.position(b) for b in self.cap_buses]
        dq = np.array(
            [c.cap_q[i][new_pos[1 + i]] - c.cap_q[i][pos[1 + i]] for i in range(len(cols))]
        )
        v = vm + s[:, cols] @ dq
        ratio = c.taps[pos[0]] / c.taps[new_pos[0]]
        nonroot = np.arange(len(vm)) != c.flow.root
        return np.where(nonroot, v * ratio, v)

    def svg_mvar(self, vm: np.ndarray, pos: np.ndarray, new_pos: np.ndarray, q_now: float) -> float:
        """The SVG output (Mvar) of the step (module docstring, steps 1–3)."""
        c, cfg = self.core, self.core.config
        v = self.predict(vm, pos, new_pos)
        col = self.matrix(new_pos)[:, c.flow.position(self.svg_bus)]
        ok = col > 1e-9
        lo, hi = cfg.v_min_pu + self.margin, cfg.v_max_pu - self.margin
        a = float(np.max((lo - v[ok]) / col[ok]))
        b = float(np.min((hi - v[ok]) / col[ok]))
        dq = float(np.clip(-q_now, a, b)) if a <= b else 0.5 * (a + b)
        return float(np.clip(q_now + dq, c.svg_lo[0], c.svg_hi[0]))
