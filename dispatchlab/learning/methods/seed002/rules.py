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

``HOLD`` is always allowed; devices are dispatched only when an indicator is out of its band
(§3.1: "only regulated and dispatched when an environmental state contains non-compliant
indicators"); a move past a device's range is never allowed. At most one device per feeder
moves in a step (§3.1) — :func:`one_per_feeder` keeps the one its actor prefers most.
``use_rules=False`` (the ablation) allows every in-range move.
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


def action_masks(core, vm: np.ndarray, head: np.ndarray, pos: np.ndarray, cfg) -> np.ndarray:
    """(S, devices, 3) allowed moves for voltages ``vm`` (S, n), head power ``head`` (S,) and
    positions ``pos`` (S, ≥ devices) under the rules above (``cfg``: a Seed002Config)."""
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
    high, low = (vm > hi).any(axis=1), (vm < lo).any(axis=1)
    sin_phi = head.imag / np.maximum(np.abs(head), 1e-12)
    lim = np.sqrt(1 - env_cfg.pf_min**2)
    is_cap = np.arange(k) > 0
    mask = np.zeros(in_range.shape, bool)
    mask[:, :, HOLD] = True
    mask[:, :, LOWER] = (high[:, None] | ((sin_phi < -lim)[:, None] & is_cap)) & (u > cfg.rule_high)
    mask[:, :, RAISE] = (low[:, None] | ((sin_phi > lim)[:, None] & is_cap)) & (u < cfg.rule_low)
    return mask & in_range


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
