"""The DER units of the ``der-dispatch`` environment: the case's aggregators, or N units split
from them (seed000 §4.3 grows the feeder from 50 to 500 aggregation units; we go to 5 000).

Scaling choice (documented in docs/env-der-dispatch.md): with ``n_units = N`` the unit counts
per kind are in proportion to the case's counts (largest remainder, at least one of each kind),
the units of one kind are spread evenly over the feeder's non-slack buses in bus order, and every
capacity (power, energy) of a kind is the case's total for that kind divided by its unit count,
so the feeder totals stay those of the case. A PV unit takes the availability profile (fraction
of installed power) of the case PV unit ``j mod n_pv_case``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dispatchlab.cases.case import Case

#: DER kinds the environment controls, the agent-name prefix of each and its integer code
KINDS: tuple[str, ...] = ("pv", "storage", "flexible_load")
PREFIX: dict[str, str] = {"pv": "pv", "storage": "storage", "flexible_load": "flex"}
PV, STORAGE, FLEX = 0, 1, 2


@dataclass(frozen=True)
class Units:
    """Per-unit arrays (length N, env order: all PV, then storage, then flexible load).

    Powers in MW (``p_min_mw`` < 0 = charging / consuming more), energies in MWh. Storage SOC
    fraction is ``z = (E − e_floor)/e_cap``: the eq.-3 band ``[z_min, z_max]`` maps onto the
    case's ``[e_min_mwh, e_max_mwh]`` and ``[0, 1]`` onto the physical range
    ``[e_floor, e_floor + e_cap]``.
    """

    names: tuple[str, ...]
    kind: np.ndarray  # int code PV / STORAGE / FLEX
    bus_id: np.ndarray  # case bus id
    p_min_mw: np.ndarray  # rated lower limit (PV: 0)
    p_max_mw: np.ndarray  # installed / rated upper limit
    rated_mw: np.ndarray  # max(|p_min|, p_max): the per-unit base of the observation
    cost_usd_per_mwh: np.ndarray  # flexible-load bid (0 for PV and storage)
    e_min_mwh: np.ndarray  # eq.-3 band lower edge (storage; 0 otherwise)
    e_max_mwh: np.ndarray  # eq.-3 band upper edge
    e_init_mwh: np.ndarray
    e_floor_mwh: np.ndarray  # physical empty level
    e_cap_mwh: np.ndarray  # physical capacity (1 for non-storage, to keep divisions safe)
    eff_charge: np.ndarray
    eff_discharge: np.ndarray
    pv_profile_col: np.ndarray  # PV: column of the case's der_p_max_mw series it follows (-1)
    pv_profile_scale: np.ndarray  # PV: unit installed / parent installed
    table: pd.DataFrame  # the units as a DER table (der_id 0 … N−1), for a validated Case

    @property
    def n(self) -> int:
        return len(self.names)

    def index(self, kind: int) -> np.ndarray:
        return np.flatnonzero(self.kind == kind)


def _counts(case_counts: dict[str, int], n_units: int) -> dict[str, int]:
    """Largest-remainder split of ``n_units`` in proportion to the case's counts (≥ 1 each)."""
    kinds = [k for k in KINDS if case_counts.get(k, 0) > 0]
    if n_units < len(kinds):
        raise ValueError(f"n_units={n_units} is below the number of DER kinds {kinds}")
    total = sum(case_counts[k] for k in kinds)
    share = np.array([case_counts[k] * (n_units - len(kinds)) / total for k in kinds])
    base = np.floor(share).astype(int)
    order = np.argsort(-(share - base), kind="stable")
    base[order[: n_units - len(kinds) - base.sum()]] += 1
    return {k: int(b) + 1 for k, b in zip(kinds, base, strict=True)}


def build_units(case: Case, n_units: int | None, soc_band: tuple[float, float]) -> Units:
    """The env's units from ``case`` (one per in-service DER when ``n_units`` is None)."""
    ders = case.ders
    ders = ders[ders["in_service"]]
    other = sorted(set(ders["kind"]) - set(KINDS))
    if other:
        raise ValueError(
            f"case '{case.name}': der-dispatch controls {list(KINDS)}, not DER kind(s) {other}"
        )
    if ders.empty:
        raise ValueError(f"case '{case.name}' has no in-service PV, storage or flexible load")
    z_min, z_max = soc_band
    if not 0.0 <= z_min < z_max <= 1.0:
        raise ValueError(f"soc_band must satisfy 0 <= z_min < z_max <= 1, got {soc_band}")
    rows = _split(case, ders, n_units)
    table = pd.DataFrame(rows)
    table.index = pd.RangeIndex(len(table), name="der_id")
    st = (table["kind"] == "storage").to_numpy()
    e_min, e_max = table["e_min_mwh"].to_numpy(float), table["e_max_mwh"].to_numpy(float)
    e_cap = np.where(st, (e_max - e_min) / (z_max - z_min), 1.0)
    e_floor = np.where(st, e_min - z_min * e_cap, 0.0)
    if (e_floor < -1e-9).any():
        bad = table.loc[e_floor < -1e-9, "name"].tolist()[:3]
        raise ValueError(f"soc_band {soc_band} puts the empty level below 0 MWh for {bad}")
    code = table["kind"].map({k: i for i, k in enumerate(KINDS)}).to_numpy()
    p_min, p_max = table["p_min_mw"].to_numpy(float), table["p_max_mw"].to_numpy(float)
    return Units(
        names=tuple(table["name"]),
        kind=code,
        bus_id=table["bus"].to_numpy(int),
        p_min_mw=p_min,
        p_max_mw=p_max,
        rated_mw=np.maximum(np.abs(p_min), p_max),
        cost_usd_per_mwh=np.where(code == FLEX, table["cost_usd_per_mwh"].to_numpy(float), 0.0),
        e_min_mwh=np.where(st, e_min, 0.0),
        e_max_mwh=np.where(st, e_max, 0.0),
        e_init_mwh=np.where(st, table["e_init_mwh"].to_numpy(float), 0.0),
        e_floor_mwh=e_floor,
        e_cap_mwh=e_cap,
        eff_charge=table["eff_charge"].to_numpy(float),
        eff_discharge=table["eff_discharge"].to_numpy(float),
        pv_profile_col=table.pop("_col").to_numpy(int),
        pv_profile_scale=table.pop("_scale").to_numpy(float),
        table=table,
    )


_COPY = ("p_min_mw", "p_max_mw", "e_min_mwh", "e_max_mwh", "e_init_mwh", "s_max_mva")


def _split(case: Case, ders: pd.DataFrame, n_units: int | None) -> list[dict]:
    """One row per unit with the DER-table columns plus its PV profile column and scale."""
    rows: list[dict] = []
    if n_units is None:
        for kind in KINDS:
            for j, (der_id, d) in enumerate(ders[ders["kind"] == kind].iterrows()):
                row = {c: float(d[c]) for c in _COPY}
                row.update(_common(kind, j, int(d["bus"]), d))
                row.update(_col=int(der_id) if kind == "pv" else -1, _scale=1.0)
                rows.append(row)
        return rows
    counts = _counts(ders["kind"].value_counts().to_dict(), int(n_units))
    buses = case.table("buses")
    feeder = buses.index[buses["bus_type"].to_numpy() != "REF"].to_numpy()
    for kind, n_k in counts.items():
        group = ders[ders["kind"] == kind]
        totals = {c: float(group[c].sum()) / n_k for c in _COPY}
        weight = group["p_max_mw"].abs() + group["p_min_mw"].abs()
        mean = group.iloc[0].copy()
        for c in ("cost_usd_per_mwh", "eff_charge", "eff_discharge"):
            mean[c] = float(np.average(group[c], weights=weight)) if weight.sum() else 0.0
        spread = np.floor((np.arange(n_k) + 0.5) * len(feeder) / n_k).astype(int) % len(feeder)
        parents = group.index.to_numpy()
        for j in range(n_k):
            row = dict(totals)
            row.update(_common(kind, j, int(feeder[spread[j]]), mean))
            parent = parents[j % len(parents)]
            scale = totals["p_max_mw"] / float(group.loc[parent, "p_max_mw"] or 1.0)
            row.update(_col=int(parent) if kind == "pv" else -1, _scale=scale)
            rows.append(row)
    return rows


def _common(kind: str, j: int, bus: int, d: pd.Series) -> dict:
    return {
        "name": f"{PREFIX[kind]}_{j}",
        "bus": bus,
        "kind": kind,
        "cost_usd_per_mwh": float(d["cost_usd_per_mwh"]),
        "eff_charge": float(d["eff_charge"]),
        "eff_discharge": float(d["eff_discharge"]),
    }
