"""A radial Case as the arrays of the branch-flow model (per unit on ``case.base_mva``).

Branches are oriented away from the reference bus (breadth-first from it), so that every
branch ``b = (i → j)`` has a parent ``i`` and a child ``j``. A transformer keeps MATPOWER's
convention: the ideal ratio ``tap`` sits at the from side and the series impedance at the to
side, so the "head" voltage the impedance sees is ``w = v_i / tap²`` (``v = |V|²``).
Line charging ``b_pu`` and bus shunts become constant-admittance shunts ``(g − j b)·v``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

#: DER kinds with an active-power range (P and Q are dispatched)
PQ_KINDS = ("pv", "wind", "microturbine", "dg", "flexible_load", "storage")
#: DER kinds that only inject reactive power
Q_KINDS = ("svc", "svg")


@dataclass(frozen=True)
class Feeder:
    """Arrays of one radial feeder over ``T`` periods (powers in p.u. of ``base_mva``)."""

    name: str
    base_mva: float
    bus_ids: np.ndarray
    ref: int  # position of the reference bus
    v_ref: float  # |V_ref|², p.u.
    v_min: np.ndarray  # |V|² bounds per bus
    v_max: np.ndarray
    branch_ids: np.ndarray
    f: np.ndarray  # parent bus position of each (oriented) branch
    t: np.ndarray  # child bus position
    flipped: np.ndarray  # True where the Case's from bus is the child
    order: np.ndarray  # branch positions in breadth-first order from the source
    r: np.ndarray
    x: np.ndarray
    tap: np.ndarray  # fixed ratio (the Case's tap_ratio)
    oltc: np.ndarray  # True: tap controllable within [tap_min, tap_max]
    tap_min: np.ndarray
    tap_max: np.ndarray
    tap_steps: np.ndarray
    g_sh: np.ndarray  # bus shunt conductance (p.u., consumed at v = 1)
    b_sh: np.ndarray  # bus shunt susceptance incl. line charging (p.u., injected at v = 1)
    times: pd.Index
    from_series: bool  # True: the periods are steps of the Case's time series
    dt_h: float
    load_p: np.ndarray  # (T, N) p.u.
    load_q: np.ndarray
    load_table_p: pd.DataFrame  # (T × n_load) MW per in-service load id
    load_table_q: pd.DataFrame  # (T × n_load) MVAr
    ders: pd.DataFrame  # in-service DERs with a 'pos' column (bus position)
    der_p_max: np.ndarray  # (T, n_der) p.u. available active power
    gens: pd.DataFrame  # in-service gens with 'pos'
    gen_p_max: np.ndarray  # (T, n_gen) p.u.

    @property
    def T(self) -> int:
        return len(self.times)

    @property
    def N(self) -> int:
        return len(self.bus_ids)

    @property
    def L(self) -> int:
        return len(self.branch_ids)

    def incidence(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """``(C_from, C_to)``, each ``L × N`` with one 1 per row at the parent / child bus."""
        rows = np.arange(self.L)
        ones = np.ones(self.L)
        cf = sp.csr_matrix((ones, (rows, self.f)), shape=(self.L, self.N))
        ct = sp.csr_matrix((ones, (rows, self.t)), shape=(self.L, self.N))
        return cf, ct


def feeder_data(case, periods: int | None = None, start: int = 0) -> Feeder:
    """Read ``case`` (one snapshot if ``periods`` is None, else ``periods`` steps of its time
    series from ``start``) into a :class:`Feeder`; raises ``ValueError`` if it is not radial."""
    buses = case.buses
    pos = pd.Series(np.arange(len(buses)), index=buses.index)
    br = case.branches[case.branches["in_service"]]
    ref_ids = buses.index[buses["bus_type"] == "REF"]
    if len(ref_ids) != 1:
        raise ValueError(f"case '{case.name}': DistFlow needs exactly one REF bus")
    ref = int(pos[ref_ids[0]])
    f, t, flipped, order = _orient(
        case.name, pos[br["from_bus"]].to_numpy(), pos[br["to_bus"]], ref
    )
    tapped = (br["tap_ratio"] != 1.0) | (br["tap_steps"] > 0) | (br["shift_deg"] != 0)
    if (tapped.to_numpy() & flipped).any():
        raise ValueError(f"case '{case.name}': a transformer points towards the source")
    times, dt_h, series = _series(case, periods, start)
    base = case.base_mva
    ders = case.ders[case.ders["in_service"]].assign(pos=lambda d: pos[d["bus"]].to_numpy())
    gens = case.gens[case.gens["in_service"]].assign(pos=lambda g: pos[g["bus"]].to_numpy())
    g_sh, b_sh = _shunts(case, pos, br)
    ld = case.loads[case.loads["in_service"]]
    T = len(times)
    lp = pd.DataFrame(_per_period(ld["p_mw"], series, "load_p_mw", T), columns=ld.index)
    lq = pd.DataFrame(_per_period(ld["q_mvar"], series, "load_q_mvar", T), columns=ld.index)
    return Feeder(
        name=case.name,
        base_mva=base,
        bus_ids=buses.index.to_numpy(),
        ref=ref,
        v_ref=float(_v_ref(case, ref_ids[0])) ** 2,
        v_min=buses["vm_min_pu"].to_numpy() ** 2,
        v_max=buses["vm_max_pu"].to_numpy() ** 2,
        branch_ids=br.index.to_numpy(),
        f=f,
        t=t,
        flipped=flipped,
        order=order,
        r=br["r_pu"].to_numpy(),
        x=br["x_pu"].to_numpy(),
        tap=br["tap_ratio"].to_numpy(),
        oltc=((br["tap_steps"] > 0) & (br["tap_max"] > br["tap_min"])).to_numpy(),
        tap_min=br["tap_min"].to_numpy(),
        tap_max=br["tap_max"].to_numpy(),
        tap_steps=br["tap_steps"].to_numpy(),
        g_sh=g_sh,
        b_sh=b_sh,
        times=times,
        from_series=periods is not None,
        dt_h=dt_h,
        load_p=_bus_sum(lp, pos[ld["bus"]].to_numpy(), len(pos)) / base,
        load_q=_bus_sum(lq, pos[ld["bus"]].to_numpy(), len(pos)) / base,
        load_table_p=lp,
        load_table_q=lq,
        ders=ders,
        der_p_max=_per_period(ders["p_max_mw"], series, "der_p_max_mw", len(times)) / base,
        gens=gens,
        gen_p_max=_per_period(gens["p_max_mw"], series, "gen_p_max_mw", len(times)) / base,
    )


def _orient(name: str, fb: np.ndarray, tb, ref: int) -> tuple[np.ndarray, ...]:
    """Parent/child positions by breadth-first search from ``ref``; checks radiality."""
    tb = np.asarray(tb)
    n = max(fb.max(initial=ref), tb.max(initial=ref)) + 1
    adj: dict[int, list[tuple[int, int]]] = {}
    for k, (a, b) in enumerate(zip(fb, tb, strict=True)):
        adj.setdefault(int(a), []).append((k, int(b)))
        adj.setdefault(int(b), []).append((k, int(a)))
    parent, child = np.full(len(fb), -1), np.full(len(fb), -1)
    seen, queue, order = {ref}, [ref], []
    while queue:
        i = queue.pop(0)
        for k, j in adj.get(i, []):
            if parent[k] >= 0:
                continue
            if j in seen:
                raise ValueError(f"case '{name}' is meshed: DistFlow needs a radial feeder")
            parent[k], child[k] = i, j
            order.append(k)
            seen.add(j)
            queue.append(j)
    if len(seen) < n or (parent < 0).any():
        raise ValueError(f"case '{name}': some buses are not connected to the source")
    return parent, child, parent != fb, np.array(order, dtype=int)


def _v_ref(case, ref_id) -> float:
    g = case.gens[(case.gens["bus"] == ref_id) & case.gens["in_service"]]
    return float(g["vm_set_pu"].iloc[0]) if len(g) else float(case.buses.at[ref_id, "vm_pu"])


def _shunts(case, pos: pd.Series, br: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Bus shunts plus half of each branch's charging at both ends (π-model), in p.u."""
    g = case.buses["gs_mw"].to_numpy() / case.base_mva
    b = case.buses["bs_mvar"].to_numpy() / case.base_mva
    half = br["b_pu"].to_numpy() / 2
    np.add.at(b, pos[br["from_bus"]].to_numpy(), half / br["tap_ratio"].to_numpy() ** 2)
    np.add.at(b, pos[br["to_bus"]].to_numpy(), half)
    return g, b


def _series(case, periods: int | None, start: int) -> tuple[pd.Index, float, dict | None]:
    if periods is None:
        return pd.Index([0], name="period"), 1.0, None
    ts = case.timeseries
    if ts is None:
        raise ValueError(f"case '{case.name}' has no time series for a multi-period problem")
    if start < 0 or start + periods > len(ts):
        raise ValueError(f"periods {start}…{start + periods - 1} outside the series ({len(ts)})")
    times = pd.Index(ts.index[start : start + periods], name="period")
    dt_h = ts.step / pd.Timedelta(hours=1) if len(ts) > 1 else 1.0
    return times, float(dt_h), {k: ts[k].iloc[start : start + periods] for k in ts.keys()}


def _per_period(static: pd.Series, series: dict | None, key: str, T: int) -> np.ndarray:
    """(T, n): the series where it has a column for the element, else the static value."""
    out = np.tile(static.to_numpy(dtype=float), (T, 1))
    if series is not None and key in series:
        frame = series[key]
        cols = [c for c in frame.columns if c in static.index]
        out[:, static.index.get_indexer(cols)] = frame[cols].to_numpy()
    return out


def _bus_sum(table: pd.DataFrame, bus: np.ndarray, n: int) -> np.ndarray:
    """(T × n_bus) sums of the (T × n_element) ``table`` whose elements sit at ``bus``."""
    out = np.zeros((len(table), n))
    np.add.at(out.T, bus, table.to_numpy().T)
    return out
