"""seed002 §3.1 (2): the rule-based action-set reduction of the discrete devices.

Each discrete device (OLTC, capacitors) is an agent whose action is a *move*: ``LOWER`` (the
move that lowers the voltages: a capacitor stage off, the OLTC ratio one step up), ``HOLD``, or
``RAISE``. The indicator of a voltage is u = (V − V_lo) / (V_hi − V_lo) on the perception band
(the qualification band narrowed by ``margin_pu``, §3.1's "small safety margin"). The paper's
four principles give the allowed moves:

1. a voltage above the band → ``LOWER`` where the device's own bus has u > ``rule_high`` (0.3);
2. a voltage below the band → ``RAISE`` where u < ``rule_low`` (0.7);
3. the head power factor leading beyond its limit (reverse Mvar, sin φ < −√(1 − pf²)) →
   capacitors ``LOWER`` where u > 0.3;
4. the head power factor lagging below its limit (sin φ > √(1 − pf²)) → capacitors ``RAISE``
   where u < 0.7.

"A voltage" is any bus but the source (the slack, 1.05 p.u. on the stress set, which no
device moves: it sat above the narrowed band at every step and admitted ``LOWER`` always).
``HOLD`` is always allowed; devices are dispatched only when an indicator is out of its band
(§3.1: "only regulated and dispatched when an environmental state contains non-compliant
indicators"); a move past a device's range is never allowed. At most one device per feeder
moves in a step (§3.1) — :func:`one_per_feeder` keeps the one its actor prefers most.
``use_rules=False`` (the ablation) allows every in-range move.

``in_band_moves="headroom"`` (ours, not the paper's) also admits, in a scenario whose voltages
are all inside the perception band, every single-device move whose first-order predicted
voltages (:meth:`~.regulation.SensitivityRegulator.predict`: the OLTC ratio, S_VQ times the
capacitor stage) all stay inside that band. The paper's rules never move a device while the
voltages are in band, which freezes the positions a violation left (e.g. taps lowered at noon
stay low all evening) and caps what the actors can do about losses.
"""

from __future__ import annotations

import numpy as np

LOWER, HOLD, RAISE = 0, 1, 2
N_MOVES = 3


def device_buses(core) -> np.ndarray:
    """(devices,) bus positions of the discrete devices: the OLTC's secondary, the capacitors'."""
    flow, case = core.flow, core.case
    br = case.table("branches").loc[flow.head_branch()]
    secondary = br["to_bus"] if flow.position(int(br["from_bus"])) == flow.root else br["from_bus"]
    ders = case.table("ders")
    caps = ders[(ders["kind"] == "capacitor") & ders["in_service"]]
    return np.array([flow.position(int(secondary))] + [flow.position(int(b)) for b in caps["bus"]])


def position_delta(moves: np.ndarray) -> np.ndarray:
    """(…, devices) position changes of moves; the OLTC (column 0) raises voltages by a lower
    ratio, i.e. a lower position, the capacitors by a higher stage."""
    delta = np.asarray(moves) - HOLD
    delta = delta.copy()
    delta[..., 0] *= -1
    return delta


def action_masks(
    core, vm: np.ndarray, head: np.ndarray, pos: np.ndarray, cfg, regulator=None
) -> np.ndarray:
    """(S, devices, 3) allowed moves for voltages ``vm`` (S, n), head power ``head`` (S,) and
    positions ``pos`` (S, ≥ devices) under the rules above (``cfg``: a Seed002Config;
    ``regulator``: the SensitivityRegulator that predicts the headroom moves, built if None)."""
    env_cfg = core.config
    k = len(core.options) - core.n_svg
    lo, hi = env_cfg.v_min_pu + cfg.margin_pu, env_cfg.v_max_pu - cfg.margin_pu
    delta_pos = np.stack([position_delta(np.full(k, m)) for m in range(N_MOVES)])
    new = pos[:, None, :k] + delta_pos[None, :, :]  # (S, 3, devices)
    in_range = (new >= 0) & (new < core.n_options[None, None, :k])
    in_range = np.transpose(in_range, (0, 2, 1))  # (S, devices, 3)
    if not cfg.use_rules:
        return in_range
    u = (vm[:, device_buses(core)] - lo) / (hi - lo)  # (S, devices)
    # the source bus (1.05 p.u. on the stress set) is no device's to move: were it perceived,
    # it would sit above the margin-narrowed band at every step and always admit LOWER
    fed = np.arange(vm.shape[1]) != core.flow.root
    high, low = (vm[:, fed] > hi).any(axis=1), (vm[:, fed] < lo).any(axis=1)
    sin_phi = head.imag / np.maximum(np.abs(head), 1e-12)
    lim = np.sqrt(1 - env_cfg.pf_min**2)
    is_cap = np.arange(k) > 0
    mask = np.zeros(in_range.shape, bool)
    mask[:, :, HOLD] = True
    mask[:, :, LOWER] = (high[:, None] | ((sin_phi < -lim)[:, None] & is_cap)) & (u > cfg.rule_high)
    mask[:, :, RAISE] = (low[:, None] | ((sin_phi > lim)[:, None] & is_cap)) & (u < cfg.rule_low)
    if cfg.in_band_moves == "headroom":
        mask |= headroom_moves(core, vm, pos, ~(high | low), in_range, (lo, hi), regulator, cfg)
    return mask & in_range


def headroom_moves(core, vm, pos, in_band, in_range, band, regulator, cfg) -> np.ndarray:
    """(S, devices, 3) the in-band moves of ``in_band_moves="headroom"``: in the scenarios
    ``in_band``, the in-range single-device moves whose predicted voltages of the fed buses
    (not the source) lie in ``band`` = (lo, hi)."""
    if regulator is None:
        from dispatchlab.learning.methods.seed002.regulation import SensitivityRegulator

        regulator = SensitivityRegulator(core, cfg.margin_pu, cfg.sensitivity_key)
    k, (lo, hi) = in_range.shape[1], band
    fed = np.arange(vm.shape[1]) != core.flow.root
    out = np.zeros(in_range.shape, bool)
    for s in np.flatnonzero(in_band):
        for i in range(k):
            for move in (LOWER, RAISE):
                if not in_range[s, i, move]:
                    continue
                new = pos[s].copy()
                new[i] += position_delta(np.full(k, move))[i]
                v = regulator.predict(vm[s], pos[s], new)[fed]
                out[s, i, move] = bool((v >= lo).all() and (v <= hi).all())
    return out


def one_per_feeder(
    moves: np.ndarray, preference: np.ndarray, agents: list[str], feeders
) -> np.ndarray:
    """``moves`` (S, devices) with all but the most preferred mover of each feeder set to HOLD
    (``preference`` (S, devices): larger wins, e.g. the actor's probability of its move)."""
    out = moves.copy()
    for group in feeders:
        idx = np.array([agents.index(a) for a in group if a in agents])
        if len(idx) < 2:
            continue
        moving = out[:, idx] != HOLD
        score = np.where(moving, preference[:, idx], -np.inf)
        keep = score.argmax(axis=1)
        drop = moving & (np.arange(len(idx))[None, :] != keep[:, None])
        sub = out[:, idx]
        sub[drop] = HOLD
        out[:, idx] = sub
    return out


def joint_size(masks: np.ndarray, agents: list[str], feeders=None) -> np.ndarray:
    """(S,) joint moves allowed by ``masks`` (S, devices, 3): every combination (``feeders``
    None) or at most one mover per feeder."""
    if feeders is None:
        return masks.sum(axis=2).prod(axis=1)
    per_group = []
    for group in feeders:
        idx = [agents.index(a) for a in group if a in agents]
        movers = masks[:, idx].sum(axis=2) - masks[:, idx, HOLD]  # non-hold moves per device
        per_group.append(1 + movers.sum(axis=1))  # hold all, or exactly one device moves
    return np.prod(per_group, axis=0)
