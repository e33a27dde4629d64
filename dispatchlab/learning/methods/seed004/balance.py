"""Balance completion: the actors' last, deterministic step (seed004, ours).

The actors propose each unit's ramp, each wind plant's output, storage and LSE moves; the
env's slack unit takes whatever the schedule misses (seed004 eq. 5's balance violation). A
proposal that misses the load by a few MW is therefore "repaired" by the safety layer at
almost every interval. :func:`complete_balance` closes that gap before the env sees the
action, from the same quantities the env settles (:func:`~dispatchlab.learning.envs.
transmission.core.settle`: served load, wind ≤ available, storage held in its SOC band):

* **interrupted load first**: load the LSEs' actions interrupt (priced at VOLL, 10 000 $/MWh)
  is served again, in proportion to each LSE's interrupted MW, as far as released wind and the
  units' up-room can cover it (``restore``; the cloned actors' interruption share is rarely
  exactly 0, and on some seeds that alone cost up to 70 % of a day's perfect-foresight cost);
* **deficit** (load > schedule): first release wind the proposal curtailed, in proportion to
  each plant's curtailed MW (wind is the cheapest energy and curtailing it costs 20 $/MWh),
  then raise units inside their one-interval window [max(p_min, p_prev − ramp_dn),
  min(p_max, p_prev + ramp_up)];
* **surplus**: lower units toward that window's bottom, then curtail wind in proportion to
  its output.

Which units move: ``rule="merit"`` (the default of ``Seed004Config.balance_completion``) raises
the unit of lowest marginal cost (fuel + carbon at the proposal's output) first and lowers the
dearest first, as an economic dispatch without the network would; ``"proportional"`` moves
every unit in proportion to its room. On a quick-trained policy (seed 0, test days 75–79)
merit gave 0.46 % gap through the safety layer against 1.55 % for proportional and 3.0 %
without a completion (``benchmarks/bench_seed004_balance.py``). Neither looks at line flows:
an overload it causes is the safety layer's to repair.

Units keep their ramps and capacities (the window), the slack unit included, and wind stays
≤ available; a storage request outside the SOC band is cut back to the band (the env
would clip it and book an SOC violation); reserve offers and LSE actions are untouched. A
mismatch larger than all that room is left (the safety layer then repairs it). No gradient
flows through it: the critic sees the completed (executed) action.
"""

from __future__ import annotations

import numpy as np

from dispatchlab.learning.envs.transmission.core import (
    TOL,
    deliverable_window,
    storage_limits,
)
from dispatchlab.learning.envs.transmission.obs import marginal_cost

_KINDS = (("gen", 3), ("wind", 1), ("storage", 2), ("lse", 2))


def split_actions(engine, actions: np.ndarray) -> dict[str, np.ndarray]:
    """Per-kind (B, n, dim) views of padded (B, agents, act_dim) actions in the env's order
    (units, wind, storage, LSEs)."""
    out, i = {}, 0
    for kind, dim in _KINDS:
        n = len(engine.agents[kind])
        out[kind] = actions[:, i : i + n, :dim]
        i += n
    return out


def schedule_mismatch(engine, acts: dict[str, np.ndarray]) -> np.ndarray:
    """(B,) MW the slack unit would have to absorb: served load − scheduled injections
    (> 0: deficit), as :func:`~dispatchlab.learning.envs.transmission.core.settle` books it."""
    s, st = engine.sys, engine.state
    sp = engine.setpoints(acts, st)
    load = s.load_mw[st.t]
    served = load.sum(1) - (sp.lse_cut[:, :, None] * s.lse_loads[None] * load[:, None]).sum((1, 2))
    lo_ch, hi_dis = storage_limits(s, st.soc)
    sto = np.clip(sp.sto_p, lo_ch, hi_dis).sum(1)
    wind = np.minimum(sp.wind_p, s.wind_mw[st.t]).sum(1)
    return served - (sp.gen_p.sum(1) + wind + sto + sp.lse_p.sum(1))


def _merit(amount: np.ndarray, room: np.ndarray, price: np.ndarray) -> np.ndarray:
    """(B, n) ``amount`` (B,) ≥ 0 taken from ``room`` (B, n) in ascending ``price`` order."""
    order = np.argsort(price, axis=1, kind="stable")
    r = np.take_along_axis(room, order, 1)
    before = np.cumsum(r, 1) - r
    take = np.clip(amount[:, None] - before, 0.0, r)
    out = np.empty_like(room)
    np.put_along_axis(out, order, take, 1)
    return out


def _spread(amount: np.ndarray, room: np.ndarray) -> np.ndarray:
    """(B, n) shares of ``amount`` (B,) ≥ 0 in proportion to ``room`` (B, n) ≥ 0, capped by it."""
    total = room.sum(1)
    take = np.minimum(amount, total)
    return room * (take / np.maximum(total, TOL))[:, None]


def _storage_in_band(engine, acts: dict[str, np.ndarray]) -> None:
    """Storage requests held inside the SOC band (the env would clip them and book the rest
    as an SOC violation)."""
    s, st = engine.sys, engine.state
    lo_ch, hi_dis = storage_limits(s, st.soc)
    a = acts["storage"][..., 0]
    req = np.where(a >= 0, a * s.sto_p_max, -a * s.sto_p_min)
    p = np.clip(req, lo_ch, hi_dis)
    back = np.where(p >= 0, p / np.maximum(s.sto_p_max, TOL), -p / np.minimum(s.sto_p_min, -TOL))
    acts["storage"][..., 0] = np.where(req == p, a, back)


def _restore_interruptions(engine, acts: dict[str, np.ndarray], room: np.ndarray) -> np.ndarray:
    """Lower the LSEs' interruption shares so that up to ``room`` (B,) MW of interrupted load
    is served again, in proportion to each LSE's interrupted MW; returns the MW restored."""
    s, st = engine.sys, engine.state
    bus_load = (s.lse_loads[None] * s.load_mw[st.t][:, None]).sum(2)  # (B, F) MW at the LSE
    share = (acts["lse"][..., 1] + 1.0) / 2.0
    cut = share * bus_load
    back = _spread(room, cut)
    left = np.where(bus_load > TOL, (cut - back) / np.maximum(bus_load, TOL), share)
    acts["lse"][..., 1] = 2.0 * left - 1.0
    return back.sum(1)


def complete_balance(
    engine, actions: np.ndarray, rule: str = "merit", restore: bool = True
) -> np.ndarray:
    """Padded (B, agents, act_dim) float64 ``actions`` whose schedule meets the interval's
    served load (module docstring); ``engine.state`` gives p_prev, SOC and the interval.
    ``restore``: first serve load the LSEs' actions interrupt, where the room allows."""
    s, st = engine.sys, engine.state
    a = np.clip(np.asarray(actions, np.float64), -1.0, 1.0)
    acts = split_actions(engine, a)
    _storage_in_band(engine, acts)  # first: the balance counts the storage's final request
    sp = engine.setpoints(acts, st)
    gap = schedule_mismatch(engine, acts)
    avail = s.wind_mw[st.t]
    wind = np.minimum(sp.wind_p, avail)
    lo, hi = deliverable_window(s, st.p_prev)
    p = np.clip(sp.gen_p, lo, hi)
    gap = gap - (p - sp.gen_p).sum(1)  # a proposal outside the window (p_prev off-window)
    if restore:  # interrupted load (VOLL) back first, as far as wind and units can serve it
        up_room = np.maximum(avail - wind, 0.0).sum(1) + np.maximum(hi - p, 0.0).sum(1)
        gap = gap + _restore_interruptions(engine, acts, np.maximum(up_room - gap, 0.0))
    deficit, surplus = np.maximum(gap, 0.0), np.maximum(-gap, 0.0)
    released = _spread(deficit, np.maximum(avail - wind, 0.0))
    if rule == "merit":
        mc = marginal_cost(s, p, engine.config.carbon_price_usd_per_t)
        raised = _merit(deficit - released.sum(1), np.maximum(hi - p, 0.0), mc)
        lowered = _merit(surplus, np.maximum(p - lo, 0.0), -mc)
    else:
        raised = _spread(deficit - released.sum(1), np.maximum(hi - p, 0.0))
        lowered = _spread(surplus, np.maximum(p - lo, 0.0))
    cut = _spread(surplus - lowered.sum(1), wind)
    p = p + raised - lowered
    wind = wind + released - cut
    dp = p - st.p_prev
    ramp = np.where(dp >= 0, s.ramp_up, s.ramp_dn)
    acts["gen"][..., 0] = np.clip(dp / np.maximum(ramp, TOL), -1.0, 1.0)
    has = avail > TOL
    w0 = acts["wind"][..., 0]
    acts["wind"][..., 0] = np.where(has, 2.0 * wind / np.where(has, avail, 1.0) - 1.0, w0)
    return a  # float64: float32 rounding would leave up to ~1e-5 MW of mismatch
